"""Retention (GDPR art. 5(1)(e), storage limitation): citizens past ``retention_years``.

The rule (docs/citizens-rights.md, "Retention"):

* A course ends on its end form's date (the programme's last form, e.g. ``end.meeting_date``: the
  end meeting or the day the citizen dropped out) once that form is complete. A course that never
  ended (no end form, a draft, or the date recorded as unknown) counts from its last activity: the
  newest of its revisions' save times and its creation.
* A citizen is due when every one of their courses ended ``retention_years`` or more ago (a
  citizen without a course: from their registration). One recent course keeps all of them.
* Restricted citizens (art. 18) are listed but held back: a restriction may be for a legal claim.
  Anonymised rows are not personal data any more and are never due.

``dry_run`` lists who is due (internal ids, municipality, dates, never a CPR number or a name);
``apply`` erases them (as ``citizen_erasure.erase``, category ``retention``) or anonymises them:
the courses and their latest registrations are kept for statistics under new ids, without the CPR
number, the name, the exact birth date (the year is kept, as 1 July), free text, earlier
revisions, unsaved drafts and who saved what; the old rows go, and a tombstone without the old id
is left. Each citizen is handled in a transaction of its own, checked again inside it; both runs
are audited (``retention.dry_run``, ``retention.apply`` with counts; per citizen ``citizen.erase``
or ``retention.anonymise`` with the old id only).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import random
import secrets
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select

from hjertekom_core import audit
from hjertekom_core.access import User
from hjertekom_core.citizen_erasure import ERASE, delete_citizen_rows, insert_tombstone, tombstone_key
from hjertekom_core.contract import ContractRegistry
from hjertekom_core.errors import RightRefused
from hjertekom_core.service import dump_data
from hjertekom_core.store import Store
from hjertekom_core.store.schema import autosaves, citizens, courses, registrations

log = logging.getLogger(__name__)

MODES = ("erase", "anonymise")
#: The name an anonymised citizen's row carries (the CPR column holds ``~<new id>``).
ANONYMOUS_NAME = "(anonymiseret)"


def add_years(day: dt.date, years: int) -> dt.date:
    """The same day ``years`` later (29 February: 28 February in a year without it)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def _day(value: dt.datetime) -> dt.date:
    aware = value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value
    return aware.astimezone(dt.timezone.utc).date()


@dataclass(frozen=True)
class CourseEnd:
    course_id: int
    municipality_code: int
    end: dt.date
    basis: str          # "end": the end form's date; "activity": never ended, its last activity


@dataclass(frozen=True)
class DueCitizen:
    citizen_id: int
    municipality_code: int
    courses: tuple[CourseEnd, ...]
    last_end: dt.date   # the latest end of their courses (or their registration, without one)
    due_since: dt.date
    restricted: bool

    @property
    def basis(self) -> str:
        if not self.courses:
            return "created"
        return "end" if all(c.basis == "end" for c in self.courses) else "activity"


@dataclass(frozen=True)
class RetentionPlan:
    today: dt.date
    years: int
    due: tuple[DueCitizen, ...]

    @property
    def ready(self) -> list[DueCitizen]:
        return [d for d in self.due if not d.restricted]

    @property
    def held(self) -> list[DueCitizen]:
        return [d for d in self.due if d.restricted]

    def counts(self) -> dict[str, Any]:
        per_municipality: dict[str, int] = {}
        for d in self.ready:
            per_municipality[str(d.municipality_code)] = per_municipality.get(str(d.municipality_code), 0) + 1
        return {"years": self.years, "cutoff": (add_years(self.today, -self.years)).isoformat(),
                "due": len(self.ready), "held_restricted": len(self.held),
                "courses": sum(len(d.courses) for d in self.ready),
                "municipalities": dict(sorted(per_municipality.items()))}


@dataclass(frozen=True)
class RetentionResult:
    mode: str
    plan: RetentionPlan
    done: tuple[int, ...]          # the citizens' (old) ids
    skipped: tuple[int, ...]       # changed since the plan (a new registration, restricted, gone)

    def describe(self) -> str:
        verb = "slettet" if self.mode == "erase" else "anonymiseret"
        text = (f"Opbevaring ({self.plan.years} år): {len(self.done)} borgere {verb}; "
                f"{len(self.plan.held)} holdt tilbage, fordi de er begrænset")
        if self.skipped:
            text += f"; {len(self.skipped)} sprunget over, fordi de er ændret siden listen blev lavet"
        return text + ". / Retention applied."


# --- who is due --------------------------------------------------------------------------------------
def _end_forms(contracts: ContractRegistry) -> dict[str, tuple[str, str | None]]:
    """programme -> (its last form, that form's date field)."""
    out = {}
    for contract in contracts:
        last = list(contract.forms.values())[-1]
        out[contract.programme] = (last.name, last.date_field)
    return out


def course_ends(conn: Connection, contracts: ContractRegistry,
                citizen_ids: Collection[int] | None = None) -> dict[int, list[CourseEnd]]:
    """citizen id -> the end of each of their courses (see the module's rule)."""
    course_q = select(courses.c.id, courses.c.citizen_id, courses.c.programme, courses.c.municipality_code,
                      courses.c.created_at)
    activity_q = (select(registrations.c.course_id, func.max(registrations.c.saved_at).label("last"))
                  .group_by(registrations.c.course_id))
    if citizen_ids is not None:
        ids = sorted(citizen_ids)
        course_q = course_q.where(courses.c.citizen_id.in_(ids))
        activity_q = activity_q.where(registrations.c.course_id.in_(
            select(courses.c.id).where(courses.c.citizen_id.in_(ids))))
    rows = conn.execute(course_q).all()
    activity = {r.course_id: r.last for r in conn.execute(activity_q)}
    ends: dict[int, tuple[str, str]] = {}   # course id -> (status, data) of its end form's latest revision
    for programme, (form, _date) in _end_forms(contracts).items():
        latest = (select(registrations.c.course_id, func.max(registrations.c.revision).label("rev"))
                  .where(registrations.c.form == form).group_by(registrations.c.course_id).subquery())
        q = (select(registrations.c.course_id, registrations.c.status, registrations.c.data)
             .join(latest, and_(registrations.c.course_id == latest.c.course_id,
                                registrations.c.revision == latest.c.rev))
             .join(courses, courses.c.id == registrations.c.course_id)
             .where(registrations.c.form == form, courses.c.programme == programme))
        if citizen_ids is not None:
            q = q.where(courses.c.citizen_id.in_(sorted(citizen_ids)))
        ends.update({r.course_id: (r.status, r.data) for r in conn.execute(q)})
    forms = _end_forms(contracts)
    out: dict[int, list[CourseEnd]] = {}
    for row in rows:
        end = None
        found = ends.get(row.id)
        date_field = forms.get(row.programme, ("", None))[1]
        if found is not None and found[0] == "complete" and date_field:
            raw = json.loads(found[1]).get(date_field)
            try:
                end = dt.date.fromisoformat(raw) if isinstance(raw, str) else None
            except ValueError:   # a missing reason ("UNK") instead of a date
                end = None
        if end is not None:
            item = CourseEnd(row.id, row.municipality_code, end, "end")
        else:
            last = max(filter(None, (activity.get(row.id), row.created_at)), key=_day)
            item = CourseEnd(row.id, row.municipality_code, _day(last), "activity")
        out.setdefault(row.citizen_id, []).append(item)
    return out


def _due(citizen: Any, ends: list[CourseEnd], years: int, today: dt.date) -> DueCitizen | None:
    last = max((c.end for c in ends), default=_day(citizen.created_at))
    due_since = add_years(last, years)
    if due_since > today:
        return None
    return DueCitizen(citizen.id, citizen.municipality_code, tuple(sorted(ends, key=lambda c: c.course_id)), last,
                      due_since, citizen.restricted_at is not None)


def plan(store: Store, contracts: ContractRegistry, years: int, today: dt.date | None = None) -> RetentionPlan:
    """Who is due today (no audit: ``dry_run`` and ``apply`` record their use)."""
    if years < 1:
        raise RightRefused("years", {"da": "retention_years skal være 1 eller mere.",
                                     "en": "retention_years must be 1 or more."})
    today = today or dt.date.today()
    with store.read() as conn:
        people = conn.execute(select(citizens.c.id, citizens.c.municipality_code, citizens.c.created_at,
                                     citizens.c.restricted_at)
                              .where(citizens.c.anonymised_at.is_(None)).order_by(citizens.c.id)).all()
        ends = course_ends(conn, contracts)
    due = [d for p in people if (d := _due(p, ends.get(p.id, []), years, today)) is not None]
    return RetentionPlan(today, years, tuple(due))


def dry_run(store: Store, contracts: ContractRegistry, user: User, years: int,
            today: dt.date | None = None) -> RetentionPlan:
    """Who is due (``plan``), audited as ``retention.dry_run`` with the counts. Needs citizen.erase."""
    audit.require(store, user, ERASE, "retention")
    result = plan(store, contracts, years, today)
    with store.write() as conn:
        audit.record(conn, user, "retention.dry_run", "retention", None, None, result.counts())
    return result


# --- carrying it out ----------------------------------------------------------------------------------
def apply(store: Store, contracts: ContractRegistry, user: User, years: int, mode: str, *,
          today: dt.date | None = None, key_file: Path | None = None,
          rng: random.Random | None = None) -> RetentionResult:
    """Erase or anonymise every citizen due (``plan``) who is not restricted, one transaction per
    citizen, each checked again inside its transaction. Audited per citizen and as
    ``retention.apply`` with the counts. Needs citizen.erase."""
    audit.require(store, user, ERASE, "retention")
    if mode not in MODES:
        raise RightRefused("mode", {"da": f"Vælg --mode erase (slet) eller --mode anonymise (anonymisér), ikke {mode!r}.",
                                    "en": f"Choose --mode erase or --mode anonymise, not {mode!r}."})
    key = tombstone_key(store, key_file)
    result = plan(store, contracts, years, today)
    order = list(result.ready)
    (rng or random.SystemRandom()).shuffle(order)  # new ids in no order an old one could be read from
    done: list[int] = []
    skipped: list[int] = []
    reason = f"Opbevaringsperioden ({years} år efter forløbets afslutning) er udløbet"
    for due in order:
        with store.write() as conn:
            now = audit.now()
            row = conn.execute(select(citizens).where(citizens.c.id == due.citizen_id)).first()
            again = None
            if row is not None and row.anonymised_at is None:
                again = _due(row, course_ends(conn, contracts, [row.id]).get(row.id, []), years, result.today)
            if again is None or again.restricted or again.courses != due.courses:
                skipped.append(due.citizen_id)
                continue
            if mode == "erase":
                _erase(conn, user, row, again, key, now, reason)
            else:
                _anonymise(conn, contracts, user, row, again, key, now, reason, rng)
            done.append(row.id)
    with store.write() as conn:
        audit.record(conn, user, "retention.apply", "retention", None, None,
                     {**result.counts(), "mode": mode, "done": len(done), "skipped": len(skipped)})
    log.info("retention %s: %d done, %d held (restricted), %d skipped", mode, len(done), len(result.held),
             len(skipped))
    return RetentionResult(mode, result, tuple(sorted(done)), tuple(sorted(skipped)))


def _codes(row: Any, due: DueCitizen) -> list[int]:
    return sorted({row.municipality_code, *(c.municipality_code for c in due.courses)})


def _counts(conn: Connection, course_ids: list[int]) -> tuple[int, int]:
    if not course_ids:
        return 0, 0
    regs = conn.execute(select(func.count()).select_from(registrations)
                        .where(registrations.c.course_id.in_(course_ids))).scalar_one()
    drafts = conn.execute(select(func.count()).select_from(autosaves)
                          .where(autosaves.c.course_id.in_(course_ids))).scalar_one()
    return regs, drafts


def _erase(conn: Connection, user: User, row: Any, due: DueCitizen, key: bytes, now: dt.datetime,
           reason: str) -> None:
    course_ids = [c.course_id for c in due.courses]
    regs, drafts = _counts(conn, course_ids)
    codes = _codes(row, due)
    delete_citizen_rows(conn, row.id)
    insert_tombstone(conn, key, row.cpr, "erased", user, now, row.id, "retention", reason, codes)
    audit.record(conn, user, "citizen.erase", "citizen", row.id, row.municipality_code, {
        "category": "retention", "reason_length": len(reason), "courses": len(course_ids), "registrations": regs,
        "autosaves": drafts, "was_restricted": False, "municipalities": codes,
        "last_end": due.last_end.isoformat()})


def _midnight(value: dt.datetime) -> dt.datetime:
    """The start of the value's day (UTC): the anonymous copy keeps the day, not the moment."""
    day = _day(value)
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)


def _identifying(contracts: ContractRegistry, programme: str, form: str) -> set[str]:
    try:
        return {name for name, f in contracts[programme].form(form).fields.items() if f.identifying}
    except KeyError:  # a programme or form no longer in the contracts: keep what is there
        return set()


def _anonymise(conn: Connection, contracts: ContractRegistry, user: User, row: Any, due: DueCitizen, key: bytes,
               now: dt.datetime, reason: str, rng: random.Random | None) -> None:
    """Copy the citizen's statistics to a new, anonymous citizen with new course ids, then delete
    every old row. Nothing written links the new ids to the old ones."""
    day = _midnight(now)
    # The CPR column is unique and required: a random placeholder first, then ``~<new id>`` (never
    # CPR-shaped: at most nine digits).
    new_id = conn.execute(insert(citizens).values(
        cpr=f"~t{secrets.token_hex(4)}", name=ANONYMOUS_NAME, birth_date=dt.date(row.birth_date.year, 7, 1), sex=row.sex,
        municipality_code=row.municipality_code, created_at=day, created_by=None, anonymised_at=day,
    )).inserted_primary_key[0]
    conn.execute(citizens.update().where(citizens.c.id == new_id).values(cpr=f"~{new_id}"))
    old_courses = conn.execute(select(courses).where(courses.c.citizen_id == row.id)).all()
    (rng or random.SystemRandom()).shuffle(old_courses)
    kept = 0
    for course in old_courses:
        new_course = conn.execute(insert(courses).values(
            citizen_id=new_id, programme=course.programme, municipality_code=course.municipality_code,
            created_at=_midnight(course.created_at), created_by=None)).inserted_primary_key[0]
        latest = (select(registrations.c.form, func.max(registrations.c.revision).label("rev"))
                  .where(registrations.c.course_id == course.id).group_by(registrations.c.form).subquery())
        current = conn.execute(select(registrations).join(latest, and_(
            registrations.c.form == latest.c.form, registrations.c.revision == latest.c.rev))
            .where(registrations.c.course_id == course.id)).all()
        copies = []
        for reg in current:
            data = {k: v for k, v in json.loads(reg.data).items()
                    if k not in _identifying(contracts, course.programme, reg.form)}
            copies.append({"course_id": new_course, "form": reg.form, "revision": 1, "status": reg.status,
                           "data": dump_data(data), "contract_version": reg.contract_version, "user_id": None,
                           "saved_at": _midnight(reg.saved_at), "reason": None})
        if copies:
            conn.execute(insert(registrations), copies)
        kept += len(copies)
    course_ids = [c.course_id for c in due.courses]
    regs, drafts = _counts(conn, course_ids)
    codes = _codes(row, due)
    delete_citizen_rows(conn, row.id)
    insert_tombstone(conn, key, row.cpr, "anonymised", user, now, None, "retention", reason, codes)
    # The old id only: the entry must not lead to the anonymous rows.
    audit.record(conn, user, "retention.anonymise", "citizen", row.id, row.municipality_code, {
        "courses": len(course_ids), "registrations_kept": kept, "revisions_removed": regs - kept,
        "autosaves": drafts, "municipalities": codes, "last_end": due.last_end.isoformat()})


def describe_plan(result: RetentionPlan, limit: int | None = None) -> Iterable[str]:
    """The dry run's lines for the operator: ids, municipality, dates; never a CPR number or a name."""
    yield (f"Opbevaringsperiode: {result.years} år efter forløbets afslutning (i dag {result.today:%d-%m-%Y}; "
           f"forløb afsluttet senest {add_years(result.today, -result.years):%d-%m-%Y}).")
    if not result.due:
        yield "Ingen borgere har passeret opbevaringsperioden. / Nobody is due."
        return
    yield f"{'borger':>8} {'kommune':>7} {'forløb':>6} {'afsluttet':>10} {'grundlag':9} {'forfalden':>10}  status"
    shown = result.due if limit is None else result.due[:limit]
    for d in shown:
        status = "begrænset: holdes tilbage" if d.restricted else "klar"
        yield (f"{d.citizen_id:>8} {d.municipality_code:>7} {len(d.courses):>6} {d.last_end:%d-%m-%Y} "
               f"{d.basis:9} {d.due_since:%d-%m-%Y}  {status}")
    if limit is not None and len(result.due) > limit:
        yield f"... og {len(result.due) - limit} mere"
    counts = result.counts()
    per = ", ".join(f"{code}: {n}" for code, n in counts["municipalities"].items())
    yield (f"I alt {counts['due']} borgere ({counts['courses']} forløb) klar; {counts['held_restricted']} holdes "
           f"tilbage (begrænset). Pr. kommune: {per or '-'}.")
