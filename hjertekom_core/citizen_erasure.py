"""Restriction (GDPR art. 18) and erasure (art. 17) of one citizen, found by CPR number.

``restrict`` marks the citizen: from then on the entry app, reports, indicators, extracts, the DHRD
transfer and new snapshots leave them out (service.py and snapshot/writer.read_store use
``citizen_state.not_restricted``), and nothing can be saved or added for them; ``lift`` undoes it.

``erase`` removes, in one transaction, every revision of every registration, the unsaved drafts,
the courses and the citizen's row, and leaves a tombstone: a keyed hash of the CPR number (so that
a later registration or import of the number is flagged), who erased, when, the category and the
reason. The audit log keeps its entries (it is append-only, and never held a CPR number or a name);
their ids stay the erased citizen's (migration 0009: ids are never reused). What the DHRD received
before, and older snapshots and backups, are outside this transaction: ``erase`` names the
transfers that held the citizen, and docs/citizens-rights.md says what to do about the rest.

Every action needs ``citizen.restrict`` or ``citizen.erase`` (administrators, and the command
line's system identity); a refusal is audited. The audit entries hold ids, counts and the reason's
length, never the CPR number, the name or the reason's text (free text may name someone, and the
audit log can never be cleaned). A reason holding anything CPR-shaped or the citizen's name is
refused: it is kept, on the citizen's row or in the tombstone.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, insert, select

from hjertekom_core import audit
from hjertekom_core.access import User
from hjertekom_core.citizen_state import read_tombstone_key, tombstone_hash, tombstones_of
from hjertekom_core.contract import ContractRegistry
from hjertekom_core.cpr import CPR_PATTERN, normalise_cpr
from hjertekom_core.errors import CitizenNotFound, RightRefused
from hjertekom_core.store import Store
from hjertekom_core.store.schema import (
    audit_log,
    autosaves,
    citizens,
    courses,
    registrations,
    tombstones,
)

log = logging.getLogger(__name__)

RESTRICT = "citizen.restrict"
ERASE = "citizen.erase"
#: The longest reason accepted (free text).
REASON_MAX_LENGTH = 1000
#: Audit actions that change who may be seen (snapshots made before one of them are out of date).
RIGHTS_ACTIONS = ("citizen.restrict", "citizen.restrict.lift", "citizen.erase", "retention.apply")

#: Why a citizen is erased: the tombstone's and the audit entry's category (schema.TOMBSTONE_CATEGORIES).
CATEGORY_LABELS: dict[str, dict[str, str]] = {
    "citizen_request": {"da": "Borgerens anmodning (GDPR art. 17)", "en": "The citizen's request (GDPR art. 17)"},
    "registered_in_error": {"da": "Registreret ved en fejl", "en": "Registered in error"},
    "unlawful": {"da": "Ulovlig behandling", "en": "Unlawful processing"},
    "retention": {"da": "Opbevaringsperioden er udløbet", "en": "The retention period has ended"},
    "other": {"da": "Andet (se begrundelsen)", "en": "Other (see the reason)"},
}


# --- reasons ------------------------------------------------------------------------------------------
def _refuse(code: str, da: str, en: str) -> RightRefused:
    return RightRefused(code, {"da": da, "en": en})


def clean_reason(reason: str | None) -> str:
    """The reason, spaces tidied. Blank, too long or holding anything CPR-shaped: RightRefused."""
    text = " ".join((reason or "").split())
    if not text:
        raise _refuse("reason_required",
                      "Skriv en begrundelse (--reason), fx sagens nummer og hvem der har anmodet.",
                      "Give a reason (--reason), e.g. the case number and who asked.")
    if len(text) > REASON_MAX_LENGTH:
        raise _refuse("reason_too_long", f"Begrundelsen er for lang (højst {REASON_MAX_LENGTH} tegn). Gør den kortere.",
                      f"The reason is too long (at most {REASON_MAX_LENGTH} characters). Shorten it.")
    if CPR_PATTERN.search(text):
        raise _refuse("reason_holds_cpr",
                      "Begrundelsen må ikke indeholde et CPR-nummer: den gemmes. Skriv fx sagens nummer i stedet.",
                      "The reason must not hold a CPR number: it is kept. Write e.g. the case number instead.")
    return text


def _holds_name(text: str, name: str) -> bool:
    """The citizen's name, or one of its parts of three letters or more, as a word of ``text``."""
    folded = " ".join(text.split()).casefold()
    full = " ".join(name.split()).casefold()
    if full and full in folded:
        return True
    words = set(re.findall(r"\w+", folded))
    return any(len(part) >= 3 and part in words for part in re.findall(r"\w+", full))


def _check_name(text: str, name: str) -> None:
    if _holds_name(text, name):
        raise _refuse("reason_holds_name",
                      "Begrundelsen må ikke indeholde borgerens navn: den gemmes. Skriv fx sagens nummer i stedet.",
                      "The reason must not hold the citizen's name: it is kept. Write e.g. the case number instead.")


def _category(category: str) -> str:
    if category not in CATEGORY_LABELS:
        raise _refuse("category", f"Ukendt kategori {category!r}; vælg en af {', '.join(CATEGORY_LABELS)}.",
                      f"Unknown category {category!r}; choose one of {', '.join(CATEGORY_LABELS)}.")
    return category


# --- finding the citizen ------------------------------------------------------------------------------
def _find(conn: Connection, digits: str) -> Any:
    """The citizen with these CPR digits, restricted or not (an anonymised row has no CPR number)."""
    return conn.execute(select(citizens).where(citizens.c.cpr == digits)).first()


def _not_found(store: Store, user: User, action: str, digits: str) -> CitizenNotFound:
    """Audit the attempt (the request was handled: nothing is held) and say so; the message tells
    whether the number was erased before, when a tombstone shows it."""
    with store.write() as conn:
        earlier = tombstones_of(conn, store, [digits]).get(digits, [])
        audit.record(conn, user, f"{action}.not_found", "citizen", None, None,
                     {"erased_before": bool(earlier)})
    if earlier:
        when = _local_date(earlier[-1].erased_at)
        return CitizenNotFound("erased", {
            "da": f"CPR-nummeret findes ikke i HjerteKom: borgeren blev slettet {when:%d-%m-%Y}. Intet er ændret.",
            "en": f"No citizen has this CPR number: the citizen was erased on {when:%Y-%m-%d}. Nothing was changed."})
    return CitizenNotFound("not_found", {
        "da": "Ingen borger i HjerteKom har dette CPR-nummer. Kontrollér nummeret. Intet er ændret.",
        "en": "No citizen in HjerteKom has this CPR number. Check the number. Nothing was changed."})


def _local_date(value: dt.datetime) -> dt.date:
    aware = value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value
    return aware.astimezone().date()


def _require(store: Store, user: User, permission: str, citizen_id: int | None = None,
             municipality: int | None = None) -> None:
    """The role (and, given one, the municipality); a refusal is audited before it is raised."""
    audit.require(store, user, permission, "citizen", citizen_id, municipality)


# --- restriction -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RestrictionResult:
    citizen_id: int
    municipality_code: int
    restricted: bool                   # the state afterwards
    courses: int
    restricted_since: dt.datetime | None = None   # lift: since when the restriction had held
    transfers: tuple[TransferHeld, ...] = ()      # recipients to tell (art. 19), when contracts were given

    def describe(self) -> str:
        if self.restricted:
            text = (f"Borger {self.citizen_id} (kommune {self.municipality_code}) er nu begrænset: {self.courses} "
                    "forløb er ude af indtastning, rapporter, udtræk, DHRD-overførsel og nye snapshots, til "
                    "begrænsningen ophæves. / Citizen restricted.")
            if self.transfers:
                text += ("\nBorgeren var med i disse overførsler; giv kommunen besked, så den kan underrette "
                         "modtageren (GDPR art. 19): " + "; ".join(t.describe() for t in self.transfers))
            return text
        return (f"Begrænsningen af borger {self.citizen_id} (kommune {self.municipality_code}) er ophævet; "
                f"{self.courses} forløb er med igen. / Restriction lifted.")


def restrict(store: Store, user: User, cpr: str, reason: str, *,
             contracts: ContractRegistry | None = None) -> RestrictionResult:
    """Restrict the processing of the citizen with this CPR number (GDPR art. 18) until lifted.
    With ``contracts`` the result names the transfers that held the citizen (their recipients are
    to be told, art. 19)."""
    return _set_restriction(store, user, cpr, reason, restricted=True, contracts=contracts)


def lift(store: Store, user: User, cpr: str, reason: str) -> RestrictionResult:
    """Lift the citizen's restriction: everything is as before it."""
    return _set_restriction(store, user, cpr, reason, restricted=False)


def _set_restriction(store: Store, user: User, cpr: str, reason: str, *, restricted: bool,
                     contracts: ContractRegistry | None = None) -> RestrictionResult:
    action = "citizen.restrict" if restricted else "citizen.restrict.lift"
    _require(store, user, RESTRICT)
    digits = normalise_cpr(cpr)
    text = clean_reason(reason)
    with store.read() as conn:
        row = _find(conn, digits)
    if row is None:
        raise _not_found(store, user, action, digits)
    _require(store, user, RESTRICT, row.id, row.municipality_code)
    _check_name(text, row.name)
    with store.write() as conn:
        row = conn.execute(select(citizens).where(citizens.c.id == row.id)).first()
        if row is None:  # erased meanwhile
            raise _refuse("gone", "Borgeren er slettet imens. Intet er ændret.",
                          "The citizen was erased meanwhile. Nothing was changed.")
        if restricted and row.restricted_at is not None:
            since = _local_date(row.restricted_at)
            raise _refuse("already_restricted",
                          f"Borgeren er allerede begrænset (siden {since:%d-%m-%Y}). Intet er ændret.",
                          f"The citizen is restricted already (since {since:%Y-%m-%d}). Nothing was changed.")
        if not restricted and row.restricted_at is None:
            raise _refuse("not_restricted", "Borgeren er ikke begrænset. Intet er ændret.",
                          "The citizen is not restricted. Nothing was changed.")
        course_ids = conn.execute(select(courses.c.id).where(courses.c.citizen_id == row.id)
                                  .order_by(courses.c.id)).scalars().all()
        n_courses = len(course_ids)
        held = tuple(transfers_holding(conn, contracts, course_ids)) if restricted and contracts is not None else ()
        now = audit.now()
        # The reason of the latest change is kept on the row (lifted: why it was lifted); the audit
        # entry says that one was given and its length.
        conn.execute(citizens.update().where(citizens.c.id == row.id).values(
            restricted_at=now if restricted else None, restricted_by=user.id if restricted else None,
            restriction_reason=text))
        detail: dict[str, Any] = {"courses": n_courses, "reason_length": len(text)}
        if not restricted:
            detail["restricted_days"] = (now - _aware(row.restricted_at)).days
        if held:
            detail["transfers"] = [t.transfer_id for t in held]
        audit.record(conn, user, action, "citizen", row.id, row.municipality_code, detail)
    log.info("%s: citizen %s", action, row.id)
    return RestrictionResult(row.id, row.municipality_code, restricted, n_courses,
                             None if restricted else _aware(row.restricted_at), held)


def _aware(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value


# --- what the DHRD received -----------------------------------------------------------------------------
@dataclass(frozen=True)
class TransferHeld:
    """A transfer (transfer_log) whose file held one of the citizen's courses."""

    transfer_id: int
    target: str
    period: str
    created_at: dt.datetime
    location: str
    course_ids: tuple[int, ...]

    def describe(self) -> str:
        return (f"overførsel {self.transfer_id} til {self.target} for {self.period} (lavet "
                f"{_local_date(self.created_at):%d-%m-%Y}, mappe {self.location}; forløb "
                f"{', '.join(map(str, self.course_ids))})")


def transfers_holding(conn: Connection, contracts: ContractRegistry, course_ids: Sequence[int]) -> list[TransferHeld]:
    """The transfers that sent one of these courses (export/transfers_held.py). A course with a
    value outside the export's rules went to the rejects report instead; it is named all the same:
    better one request to the recipient too many than one too few."""
    from hjertekom_core.export.transfers_held import placements

    sent: dict[int, list[int]] = {}
    rows: dict[int, Any] = {}
    for placed in placements(conn, contracts, course_ids):
        if placed.complete:
            sent.setdefault(placed.transfer.id, []).append(placed.course_id)
            rows[placed.transfer.id] = placed.transfer
    return [TransferHeld(t.id, t.target, t.period, _aware(t.created_at), t.location, tuple(sent[t.id]))
            for t in (rows[i] for i in sent)]


# --- erasure -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ErasurePlan:
    """What ``erase`` would remove (shown before the operator confirms)."""

    citizen_id: int
    municipality_codes: tuple[int, ...]
    courses: int
    registrations: int
    autosaves: int
    restricted: bool
    transfers: tuple[TransferHeld, ...]

    def describe(self) -> str:
        lines = [f"Borger {self.citizen_id} (kommune {', '.join(map(str, self.municipality_codes))}"
                 f"{', begrænset' if self.restricted else ''}): {self.courses} forløb, {self.registrations} "
                 f"registreringer (alle revisioner), {self.autosaves} ikke-gemte kladder."]
        if self.transfers:
            lines.append("Sendt til DHRD i: " + "; ".join(t.describe() for t in self.transfers))
        return "\n".join(lines)


@dataclass(frozen=True)
class ErasureResult:
    plan: ErasurePlan
    category: str
    erased_at: dt.datetime

    def describe(self) -> str:
        p = self.plan
        lines = [f"Borger {p.citizen_id} er slettet: {p.courses} forløb, {p.registrations} registreringer og "
                 f"{p.autosaves} kladder fjernet; en gravsten (nøglet hash af CPR-nummeret, ingen navn) og "
                 "revisionssporet er tilbage. / Citizen erased; a tombstone and the audit trail remain."]
        if p.transfers:
            lines.append("Borgeren var med i disse overførsler, som modtageren selv har ansvaret for. Giv kommunen "
                         "besked, så den kan bede DHRD om sletning: " + "; ".join(t.describe() for t in p.transfers))
        else:
            lines.append("Borgeren var ikke med i nogen registreret DHRD-overførsel.")
        lines.append("Snapshots og sikkerhedskopier lavet før nu indeholder stadig borgeren, til de slettes eller "
                     "udløber (docs/citizens-rights.md).")
        return "\n".join(lines)


def _plan(conn: Connection, contracts: ContractRegistry, row: Any) -> ErasurePlan:
    course_rows = conn.execute(select(courses.c.id, courses.c.municipality_code)
                               .where(courses.c.citizen_id == row.id).order_by(courses.c.id)).all()
    ids = [c.id for c in course_rows]
    n_regs = n_auto = 0
    if ids:
        n_regs = conn.execute(select(func.count()).select_from(registrations)
                              .where(registrations.c.course_id.in_(ids))).scalar_one()
        n_auto = conn.execute(select(func.count()).select_from(autosaves)
                              .where(autosaves.c.course_id.in_(ids))).scalar_one()
    codes = tuple(sorted({row.municipality_code, *(c.municipality_code for c in course_rows)}))
    return ErasurePlan(row.id, codes, len(ids), n_regs, n_auto, row.restricted_at is not None,
                       tuple(transfers_holding(conn, contracts, ids)))


def delete_citizen_rows(conn: Connection, citizen_id: int) -> None:
    """Delete the citizen and everything registered for them, children first, in the caller's
    transaction (erasure, and retention's anonymise mode once the statistics are copied)."""
    course_ids = select(courses.c.id).where(courses.c.citizen_id == citizen_id).scalar_subquery()
    conn.execute(autosaves.delete().where(autosaves.c.course_id.in_(course_ids)))
    conn.execute(registrations.delete().where(registrations.c.course_id.in_(course_ids)))
    conn.execute(courses.delete().where(courses.c.citizen_id == citizen_id))
    conn.execute(citizens.delete().where(citizens.c.id == citizen_id))


def insert_tombstone(conn: Connection, key: bytes, cpr_digits: str, kind: str, user: User, now: dt.datetime,
                     citizen_id: int | None, category: str, reason: str | None,
                     municipality_codes: Sequence[int]) -> None:
    conn.execute(insert(tombstones).values(
        cpr_hash=tombstone_hash(key, cpr_digits), kind=kind, erased_at=now, erased_by=user.id,
        citizen_id=citizen_id, reason_category=category, reason=reason,
        municipality_codes=",".join(str(c) for c in sorted(set(municipality_codes)))))


def tombstone_key(store: Store, key_file: Path | None = None) -> bytes:
    """The key tombstones are hashed with (the pseudonymisation key); missing: RightRefused, before
    anything is changed (a tombstone without it could never be recognised)."""
    path = key_file or store.key_file
    key = read_tombstone_key(path)
    if key is None:
        raise _refuse("no_key", f"Nøglefilen {path} mangler; kør `hjertekom init`. Intet er ændret.",
                      f"The key file {path} is missing; run `hjertekom init`. Nothing was changed.")
    return key


def preview_erasure(store: Store, contracts: ContractRegistry, user: User, cpr: str,
                    reason: str | None = None) -> ErasurePlan:
    """What erasing this CPR number would remove, for the operator to confirm (audited as
    ``citizen.erase.preview``: the citizen was looked up by CPR number). A ``reason`` given is
    checked as ``erase`` will, so that it is refused before the operator confirms."""
    _require(store, user, ERASE)
    digits = normalise_cpr(cpr)
    text = clean_reason(reason) if reason is not None else None
    with store.read() as conn:
        row = _find(conn, digits)
        plan = _plan(conn, contracts, row) if row is not None else None
    if row is None or plan is None:
        raise _not_found(store, user, "citizen.erase", digits)
    _require(store, user, ERASE, row.id, row.municipality_code)
    if text is not None:
        _check_name(text, row.name)
    with store.write() as conn:
        audit.record(conn, user, "citizen.erase.preview", "citizen", row.id, row.municipality_code,
                     {"courses": plan.courses, "transfers": [t.transfer_id for t in plan.transfers]})
    return plan


def erase(store: Store, contracts: ContractRegistry, user: User, cpr: str, reason: str, *,
          category: str = "citizen_request", key_file: Path | None = None) -> ErasureResult:
    """Erase the citizen with this CPR number (GDPR art. 17), restricted or not, in one
    transaction; a tombstone and the audit entry ``citizen.erase`` remain. See the module's text."""
    _require(store, user, ERASE)
    digits = normalise_cpr(cpr)
    text = clean_reason(reason)
    category = _category(category)
    key = tombstone_key(store, key_file)
    with store.read() as conn:
        row = _find(conn, digits)
    if row is None:
        raise _not_found(store, user, "citizen.erase", digits)
    _require(store, user, ERASE, row.id, row.municipality_code)
    _check_name(text, row.name)
    with store.write() as conn:
        row = conn.execute(select(citizens).where(citizens.c.id == row.id)).first()
        if row is None:
            raise _refuse("gone", "Borgeren er slettet imens. Intet er ændret.",
                          "The citizen was erased meanwhile. Nothing was changed.")
        plan = _plan(conn, contracts, row)
        now = audit.now()
        delete_citizen_rows(conn, row.id)
        insert_tombstone(conn, key, digits, "erased", user, now, row.id, category, text, plan.municipality_codes)
        audit.record(conn, user, "citizen.erase", "citizen", row.id, row.municipality_code, {
            "category": category, "reason_length": len(text), "courses": plan.courses,
            "registrations": plan.registrations, "autosaves": plan.autosaves, "was_restricted": plan.restricted,
            "municipalities": list(plan.municipality_codes),
            "transfers": [t.transfer_id for t in plan.transfers]})
    log.info("citizen %s erased (%d courses)", row.id, plan.courses)
    return ErasureResult(plan, category, now)


# --- snapshots made before a change -------------------------------------------------------------------
def last_rights_change(store: Store) -> dt.datetime | None:
    """When a citizen was last restricted, lifted, erased or retention applied (UTC), or None."""
    with store.read() as conn:
        at = conn.execute(select(func.max(audit_log.c.at)).where(audit_log.c.action.in_(RIGHTS_ACTIONS))).scalar()
    return _aware(at) if at is not None else None


def predates_rights_change(store: Store, snapshot: Path) -> bool:
    """The snapshot file was written before the last restriction, lift, erasure or retention run:
    it may show a citizen who must not be shown (or lack one lifted since). Made anew by whoever
    picks "the newest snapshot" for the user (reports, extracts, the researchers' lab)."""
    changed = last_rights_change(store)
    return changed is not None and snapshot.stat().st_mtime < changed.timestamp()


@dataclass(frozen=True)
class OlderCopies:
    """Snapshot files made before an erasure: they still hold the citizen."""

    folder: Path
    files: list[Path] = field(default_factory=list)


def snapshots_before(folder: Path, when: dt.datetime) -> OlderCopies:
    """The snapshot files in ``folder`` (not its sub-folders) last written before ``when``."""
    if not folder.is_dir():
        return OlderCopies(folder)
    stamp = when.timestamp()
    return OlderCopies(folder, sorted(p for p in folder.glob("snapshot-*.duckdb") if p.stat().st_mtime < stamp))
