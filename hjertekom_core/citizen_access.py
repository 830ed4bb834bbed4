"""The citizen's right of access (GDPR art. 15): everything HjerteKom holds about one citizen.

``hjertekom citizen export --cpr X --out DIR`` (cli/citizen_access.py) calls ``write_export``: the
citizen is found by CPR number, and a new 0700 folder ``indsigt-<date>-borger<id>`` under DIR gets

* ``indsigt.json``: complete and machine-readable: every column of the citizen's row, every course
  (any municipality, unless the acting user is limited to some), every revision of every form with
  who saved it, when, why, the values with Danish labels of fields and codes and the derived scores
  (HADS, HeartQoL, EQ-5D, WHO-5, BMI, ... as stored by the validation through ``scoring``), unsaved
  drafts (autosaves), the DHRD transfers whose month held a course, and the audit log's entries
  about the citizen and the courses: who (name and role), when, what, in Danish words;
* ``indsigt.html``: the same for the citizen to read, in plain Danish;
* ``indsigt.pdf``: that page printed by the project's ``PdfPrinter`` (chromium);
* ``manifest.json``: the files' SHA-256.

Files are 0600, written under a temporary name and renamed when complete; an existing export is
never overwritten. Needs ``citizen.access_export`` (a refusal is audited and writes nothing); the
export is audited as ``citizen.export`` with the citizen id, the number of courses and the JSON's
checksum, never the CPR number or the name.

The citizen's row is included column by column, whatever the columns are: a column added later is
in the JSON without a change here (and in the page under its own name until CITIZEN_LABELS names
it). Restriction (GDPR art. 18, ``restricted_at``) is said in plain words as well.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import logging
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, or_, select

from hjertekom_core import __version__, audit
from hjertekom_core.access import ROLE_LABELS, User
from hjertekom_core.audit_report import DANISH_ZONE, audit_safe_hex
from hjertekom_core.contract import Contract, ContractRegistry, Field
from hjertekom_core.cpr import normalise_cpr
from hjertekom_core.errors import ExportError, NotFound
from hjertekom_core.formatting import format_number
from hjertekom_core.revisions import changed_fields
from hjertekom_core.store import Store
from hjertekom_core.store.schema import (
    audit_log,
    autosaves,
    citizens,
    courses,
    municipalities,
    registrations,
    transfer_log,
    users,
)

log = logging.getLogger(__name__)

#: The permission to export what is held about a citizen (access.py, administrators).
PERMISSION = "citizen.access_export"
#: The audit action of a written export (also in the yearly audit report's exports section).
EXPORT_ACTION = "citizen.export"
FORMAT = "hjertekom-indsigt"
FORMAT_VERSION = 1
JSON_NAME, HTML_NAME, PDF_NAME, MANIFEST_NAME = "indsigt.json", "indsigt.html", "indsigt.pdf", "manifest.json"
FOLDER_PREFIX = "indsigt"

NO_CITIZEN_MESSAGE = ("Der er ingen borger med dette CPR-nummer i HjerteKom (eller ingen i dine kommuner). "
                      "Kontrollér nummeret. Intet er skrevet. / There is no citizen with this CPR number in "
                      "HjerteKom (or none in your municipalities). Check the number. Nothing was written.")


class UnknownCitizen(NotFound):
    """No citizen with the CPR number given (or none the acting user may see). The message never
    holds the number."""

    def __init__(self) -> None:
        super().__init__("citizen", None)
        self.args = (NO_CITIZEN_MESSAGE,)


class ExportExists(ExportError):
    """The export folder exists already: it is never overwritten, and nothing was written."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        super().__init__(f"Der findes allerede en indsigt i {folder}; den overskrives ikke. Flyt den væk, eller "
                         f"vælg en anden mappe med --out. Intet er skrevet. / An export already exists at {folder}; "
                         "it is not overwritten. Move it away or choose another folder with --out. Nothing was "
                         "written.")


# --- Danish words --------------------------------------------------------------------------------------------

#: Labels of the citizens table's columns; a column not named here is shown by its own name.
CITIZEN_LABELS = {
    "id": "Borger-id i HjerteKom", "cpr": "CPR-nummer", "name": "Navn", "birth_date": "Fødselsdato",
    "sex": "Køn", "municipality_code": "Kommune", "created_at": "Registreret i HjerteKom",
    "created_by": "Registreret af",
    # Restriction and anonymisation (migration 0009, citizen_erasure.py); shown only when set.
    "restricted_at": "Behandlingen begrænset siden (art. 18)", "restricted_by": "Begrænset af",
    "restriction_reason": "Begrundelse for begrænsningen", "anonymised_at": "Anonymiseret",
}
#: Columns always shown on the page; any other column of the citizen's row only when it holds a value.
CITIZEN_CORE = ("id", "cpr", "name", "birth_date", "sex", "municipality_code", "created_at", "created_by")
SEX_LABELS = {"M": "Mand", "F": "Kvinde"}
STATUS_LABELS = {"draft": "kladde (ikke færdig)", "complete": "færdig"}
YES_NO = {True: "Ja", False: "Nej"}
NOT_FILLED = "ikke udfyldt"
SYSTEM_NAME = "HjerteKom (systemet, kørt af driftsleverandøren)"
ANONYMOUS_NAME = "Ukendt (ikke logget ind)"

#: What each audit action means, as the citizen reads it ("<who> <text>").
ACTION_TEXTS = {
    "citizen.create": "registrerede dig i HjerteKom",
    "citizen.find": "fandt dig ved at slå dit CPR-nummer op",
    "citizen.read": "så dine personoplysninger",
    "course.create": "oprettede forløbet",
    "course.read": "så forløbet",
    "registration.save": "gemte skemaet{form}",
    "registration.autosave": "mellemgemte skemaet{form} under indtastning",
    "registration.history": "så ændringshistorikken for skemaet{form}",
    "registration.conflict": "sammenlignede to samtidige ændringer af skemaet{form}",
    "report.citizen": "udskrev dit resultatark",
    "report.summary": "udskrev forløbsopsummeringen (til sygehus og egen læge)",
    "import.course": "indlæste forløbet fra en fil",
    EXPORT_ACTION: "udleverede en kopi af alle dine oplysninger (indsigt)",
    audit.DENIED: "forsøgte at se eller ændre oplysningerne, men fik ikke adgang",
}
#: Families of actions other parts of HjerteKom may add (restriction, erasure), by prefix.
ACTION_PREFIX_TEXTS = (
    ("citizen.restrict", "ændrede begrænsningen af behandlingen af dine oplysninger"),
    ("citizen.lift", "ophævede begrænsningen af behandlingen af dine oplysninger"),
    ("citizen.erase", "slettede oplysninger om dig"),
    ("retention.", "slettede oplysninger, fordi opbevaringsperioden var udløbet"),
)
READ_KINDS = frozenset({"citizen.find", "citizen.read", "course.read", "registration.history",
                        "registration.conflict", "report.citizen", "report.summary", EXPORT_ACTION})


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


def _iso(value: dt.datetime | None) -> str | None:
    moment = _utc(value)
    return moment.astimezone(DANISH_ZONE).isoformat(timespec="seconds") if moment else None


_MONTHS = ("januar", "februar", "marts", "april", "maj", "juni", "juli", "august", "september", "oktober",
           "november", "december")


def danish_date(value: dt.date | str | None) -> str:
    """17. februar 2025; '' for None; text that is not a date is returned as it is."""
    if value is None:
        return ""
    try:
        day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return f"{day.day}. {_MONTHS[day.month - 1]} {day.year}"


def danish_time(value: dt.datetime | None) -> str:
    """17. februar 2025 kl. 14.05 (Danish local time); '' for None."""
    moment = _utc(value)
    if moment is None:
        return ""
    local = moment.astimezone(DANISH_ZONE)
    return f"{danish_date(local.date())} kl. {local:%H.%M}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return _iso(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return value


def _blank(value: Any) -> bool:
    return value is None or value == "" or value == []


def value_text(contract: Contract | None, f: Field | None, value: Any) -> str:
    """A stored value as a person reads it: code labels, Danish numbers with their unit, dates."""
    if _blank(value):
        return NOT_FILLED
    if f is None:
        return ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    reason = f.missing_reason(value)
    if reason is None and isinstance(value, str) and contract is not None and contract.missing_reasons is not None \
            and value in contract.missing_reasons and f.type != "text":
        reason = contract.missing_reasons.get(value)
    if reason is not None:
        return reason.label.da
    if f.codelist is not None:
        values = value if isinstance(value, list) else [value]
        return ", ".join(f.codelist.label_of(v, "da") for v in values)
    if f.type == "bool":
        return YES_NO.get(bool(value), str(value))
    if f.type == "date":
        return danish_date(value)
    if f.type in ("int", "decimal") and isinstance(value, (int, float)) and not isinstance(value, bool):
        number = format_number(value, f.decimals if f.type == "decimal" else 0)
        if not f.unit:
            return number
        return f"{number}{f.unit}" if f.unit.startswith("/") else f"{number} {f.unit}"
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


# --- gathering ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _People:
    """Users by id, for 'who': display name, username and role."""

    rows: Mapping[int, Any]

    def describe(self, user_id: int | None, username: str | None = None) -> dict[str, Any]:
        row = self.rows.get(user_id) if user_id is not None else None
        if row is not None:
            return {"user_id": row.id, "username": row.username, "name": row.display_name, "role": row.role,
                    "role_label": ROLE_LABELS.get(row.role, {}).get("da", row.role)}
        if user_id is None and username in (None, "system"):
            return {"user_id": None, "username": "system", "name": SYSTEM_NAME, "role": "system",
                    "role_label": "Drift"}
        if user_id is None and username == audit.ANONYMOUS.username:
            return {"user_id": None, "username": username, "name": ANONYMOUS_NAME, "role": "", "role_label": ""}
        return {"user_id": user_id, "username": username, "name": username or f"bruger {user_id}", "role": "",
                "role_label": ""}


def _form_order(contract: Contract | None, names: Iterable[str]) -> list[str]:
    known = list(contract.forms) if contract is not None else []
    return [n for n in known if n in names] + sorted(set(names) - set(known))


def _field(contract: Contract | None, form: str, name: str) -> Field | None:
    if contract is None or form not in contract.forms:
        return None
    return contract.forms[form].fields.get(name)


def _fields(contract: Contract | None, form: str, data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every value of a registration, in the contract's order, then keys the contract does not know."""
    found = []
    order: list[str] = []
    if contract is not None and form in contract.forms:
        order = [f.name for s in contract.forms[form].sections for f in s.fields]
    for name in order + sorted(set(data) - set(order)):
        if name not in data:
            continue
        f = _field(contract, form, name)
        section = None
        if f is not None and contract is not None:
            section = next((s for s in contract.forms[form].sections if s.name == f.section), None)
        found.append({"field": name, "label": f.label.da if f else name,
                      "section": f.section if f else None, "section_label": section.label.da if section else None,
                      "derived": bool(f and f.is_derived), "value": data[name],
                      "text": value_text(contract, f, data[name])})
    return found


def _contract(contracts: ContractRegistry, programme: str) -> Contract | None:
    try:
        return contracts[programme]
    except KeyError:
        return None


def _revision(contract: Contract | None, row: Any, people: _People, previous: Mapping[str, Any] | None,
              order: Sequence[str]) -> dict[str, Any]:
    data = json.loads(row.data)
    fields = _fields(contract, row.form, data)
    changes = []
    if previous is not None:
        for change in changed_fields(previous, data, order):
            f = _field(contract, row.form, change.field)
            changes.append({"field": change.field, "label": f.label.da if f else change.field,
                            "old": change.old, "new": change.new, "old_text": value_text(contract, f, change.old),
                            "new_text": value_text(contract, f, change.new)})
    return {"revision": row.revision, "status": row.status, "status_label": STATUS_LABELS.get(row.status, row.status),
            "saved_at": _iso(row.saved_at), "saved_by": people.describe(row.user_id),
            "reason": row.reason, "contract_version": row.contract_version, "data": data, "fields": fields,
            "scores": [{k: v for k, v in f.items() if k != "derived"} for f in fields if f["derived"]],
            "changes": changes}


def _transfers(conn: Connection, contracts: ContractRegistry, course_rows: Sequence[Any],
               people: _People) -> dict[int, list[dict[str, Any]]]:
    """Per course: the transfers whose month held it, sent or not (export/transfers_held.py)."""
    from hjertekom_core.export.transfers_held import placements

    found: dict[int, list[dict[str, Any]]] = {c.id: [] for c in course_rows}
    for placed in placements(conn, contracts, [c.id for c in course_rows]):
        t, contract = placed.transfer, placed.contract
        found[placed.course_id].append({
            "transfer_id": t.id, "target": t.target,
            "recipient": contract.recipient.da if contract.recipient else t.target,
            "period": t.period, "made_at": _iso(t.created_at), "made_by": people.describe(t.user_id, t.username),
            "sent": placed.complete,
            "text": ("sendt med (forløbet var afsluttet i måneden og færdigregistreret)" if placed.complete else
                     "ikke sendt: forløbet var afsluttet i måneden, men ikke færdigregistreret"),
            "basis": "udledt af forløbets registreringer på overførselstidspunktet; en overført værdi uden for "
                     "overførslens regler kan have afvist forløbet alligevel (overførslens afvisningsliste)"})
    return found


def _action_text(action: str, detail: Mapping[str, Any], form_labels: Mapping[str, str]) -> str:
    text = ACTION_TEXTS.get(action)
    if text is None:
        text = next((t for prefix, t in ACTION_PREFIX_TEXTS if action.startswith(prefix)), None)
    if text is None:
        return f"en handling i systemet ({action})"
    form = detail.get("form")
    text = text.replace("{form}", f" »{form_labels.get(form, form)}«" if isinstance(form, str) else "")
    if action == "registration.save":
        text += " som færdigt" if detail.get("status") == "complete" else " som kladde"
        if detail.get("reopened"):
            text += " (genåbnet)"
        if detail.get("reason_length"):
            text += " med en begrundelse for rettelsen"
    return text


def _kind(action: str) -> str:
    if action == audit.DENIED:
        return "refused"
    return "read" if action in READ_KINDS else "change"


def gather(store: Store, contracts: ContractRegistry, actor: User, cpr: str,
           now: dt.datetime | None = None) -> dict[str, Any]:
    """Everything held about the citizen with this CPR number, as the JSON of the export.

    Needs ``citizen.access_export`` (a refusal is audited). An actor limited to municipalities gets
    the citizen only if the citizen belongs to one of them, and only those municipalities' courses
    (the export then says it is partial). UnknownCitizen when nobody matches; InvalidCpr for a
    number that cannot be one. Reads only: the caller audits the export.
    """
    audit.require(store, actor, PERMISSION, "citizen")
    digits = normalise_cpr(cpr)
    made = _utc(now) or audit.now()
    scope = actor.scope()
    with store.read() as conn:
        citizen = conn.execute(select(citizens).where(citizens.c.cpr == digits)).first()
        hidden = citizen is not None and scope is not None and citizen.municipality_code not in scope
        if citizen is None or hidden:
            found = None
        else:
            found = _collect(conn, contracts, citizen, actor)
    if found is None:
        if hidden:  # the auditor sees where; the operator only that there is none for them
            audit.deny(store, actor, PERMISSION, "citizen", citizen.id, citizen.municipality_code,  # type: ignore[union-attr]
                       "not in the user's municipalities")
        raise UnknownCitizen()
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "made_at": _iso(made),
            "made_by": {"username": actor.username, "name": actor.display_name, "role": actor.role},
            "hjertekom_version": __version__,
            "scope": {"complete": scope is None, "municipalities": None if scope is None else sorted(scope)},
            **found}


def _collect(conn: Connection, contracts: ContractRegistry, citizen: Any, actor: User) -> dict[str, Any]:
    from hjertekom_core.service import course_condition  # the service imports much; only this is needed

    course_query = select(courses).where(courses.c.citizen_id == citizen.id).order_by(courses.c.id)
    if actor.scope() is not None:  # courses of the actor's municipalities and programmes there
        course_query = course_query.where(course_condition(actor, courses.c.municipality_code, courses.c.programme))
    course_rows = conn.execute(course_query).all()
    course_ids = [c.id for c in course_rows]
    revision_rows = conn.execute(select(registrations).where(registrations.c.course_id.in_(course_ids))
                                 .order_by(registrations.c.course_id, registrations.c.form,
                                           registrations.c.revision)).all() if course_ids else []
    draft_rows = conn.execute(select(autosaves).where(autosaves.c.course_id.in_(course_ids))
                              .order_by(autosaves.c.course_id, autosaves.c.form, autosaves.c.saved_at)
                              ).all() if course_ids else []
    ids = [str(i) for i in course_ids]
    about = [and_(audit_log.c.entity == "citizen", audit_log.c.entity_id == str(citizen.id))]
    if ids:
        about.append(and_(audit_log.c.entity.in_(("course", "registration")), audit_log.c.entity_id.in_(ids)))
    audit_rows = conn.execute(select(audit_log).where(or_(*about)).order_by(audit_log.c.id)).all()
    row = dict(citizen._mapping)
    user_ids = ({v for k, v in row.items() if k.endswith("_by") and isinstance(v, int)}
                | {c.created_by for c in course_rows} | {r.user_id for r in revision_rows}
                | {a.user_id for a in draft_rows} | {a.user_id for a in audit_rows}) - {None}
    transfer_users = conn.execute(select(transfer_log.c.user_id)).scalars().all()
    user_ids |= set(transfer_users) - {None}
    people = _People({r.id: r for r in conn.execute(select(users.c.id, users.c.username, users.c.display_name,
                                                           users.c.role).where(users.c.id.in_(sorted(user_ids))))}
                     if user_ids else {})
    places = dict(conn.execute(select(municipalities.c.code, municipalities.c.name)).all())
    revisions_of: dict[int, list[Any]] = {}
    for r in revision_rows:
        revisions_of.setdefault(r.course_id, []).append(r)
    transfers = _transfers(conn, contracts, course_rows, people)

    citizen_doc = {k: _jsonable(v) for k, v in row.items()}
    readable = []
    for column, value in row.items():
        if column == "sex":
            text = SEX_LABELS.get(value, str(value))
        elif column.endswith("municipality_code") and value in places:
            text = f"{places[value]} ({value})"
        elif column.endswith("_by") and (value is not None or column == "created_by"):
            text = people.describe(value)["name"] if value is not None else SYSTEM_NAME
        elif isinstance(value, dt.datetime):
            text = danish_time(value)
        elif isinstance(value, dt.date):
            text = danish_date(value)
        elif isinstance(value, bool):
            text = YES_NO[value]
        elif column == "cpr" and isinstance(value, str) and len(value) == 10:
            text = f"{value[:6]}-{value[6:]}"
        else:
            text = NOT_FILLED if value is None else str(value)
        if value is None and column not in CITIZEN_CORE:
            continue
        readable.append({"column": column, "label": CITIZEN_LABELS.get(column, column), "value": citizen_doc[column],
                         "text": text})

    form_labels: dict[str, str] = {}
    course_docs = []
    for course in course_rows:
        contract = _contract(contracts, course.programme)
        revs = revisions_of.get(course.id, [])
        forms = []
        for form in _form_order(contract, {r.form for r in revs}):
            label = contract.forms[form].label.da if contract is not None and form in contract.forms else form
            form_labels[form] = label
            order = [f.name for s in contract.forms[form].sections for f in s.fields] \
                if contract is not None and form in contract.forms else []
            previous: Mapping[str, Any] | None = None
            docs = []
            for r in (r for r in revs if r.form == form):
                doc = _revision(contract, r, people, previous, order)
                docs.append(doc)
                previous = doc["data"]
            forms.append({"form": form, "label": label, "revisions": docs})
        drafts = []
        for a in (a for a in draft_rows if a.course_id == course.id):
            try:
                data = json.loads(a.data)
            except ValueError:
                data = {"raw": a.data}
            label = contract.forms[a.form].label.da if contract is not None and a.form in contract.forms else a.form
            drafts.append({"form": a.form, "label": label, "base_revision": a.base_revision,
                           "saved_at": _iso(a.saved_at), "saved_by": people.describe(a.user_id), "data": data,
                           "fields": [{"field": k, "label": (f.label.da if (f := _field(contract, a.form, k)) else k),
                                       "value": v, "text": "" if _blank(v) else str(v)} for k, v in data.items()]})
        course_doc = {
            "id": course.id, "programme": course.programme,
            "programme_label": contract.label.da if contract is not None else course.programme,
            "municipality_code": course.municipality_code,
            "municipality_name": places.get(course.municipality_code, str(course.municipality_code)),
            "created_at": _iso(course.created_at),
            "created_by": people.describe(course.created_by) if course.created_by is not None else
            people.describe(None, "system"),
            "forms": forms, "drafts": drafts, "transfers": transfers.get(course.id, [])}
        for column, value in course._mapping.items():  # columns added later are in the JSON as they are
            course_doc.setdefault(column, _jsonable(value))
        course_docs.append(course_doc)

    course_of = {str(c.id) for c in course_rows}
    log_docs = []
    for a in audit_rows:
        try:
            detail = json.loads(a.detail or "{}")
        except ValueError:
            detail = {"raw": a.detail}
        log_docs.append({"at": _iso(a.at), "who": people.describe(a.user_id, a.username), "action": a.action,
                         "kind": _kind(a.action), "text": _action_text(a.action, detail, form_labels),
                         "entity": a.entity, "entity_id": a.entity_id,
                         "course_id": int(a.entity_id) if a.entity in ("course", "registration")
                         and a.entity_id in course_of else None,
                         "municipality_code": a.municipality_code, "detail": detail})
    return {"citizen": citizen_doc, "citizen_readable": readable,
            "restricted": _restricted(row),
            "courses": course_docs, "access_log": log_docs,
            "counts": {"courses": len(course_docs), "revisions": len(revision_rows), "drafts": len(draft_rows),
                       "access_log": len(log_docs),
                       "transfers": sum(len(c["transfers"]) for c in course_docs)}}


def _restricted(row: Mapping[str, Any]) -> bool | None:
    """Whether the citizen's data is restricted (GDPR art. 18: ``restricted_at`` set); None for a
    store without the column (before migration 0009)."""
    return row["restricted_at"] is not None if "restricted_at" in row else None


# --- the readable page -------------------------------------------------------------------------------------

_CSS = """
@page { size: A4; }
body { font-family: 'DejaVu Sans', Arial, sans-serif; font-size: 10pt; color: #222; line-height: 1.35; }
h1 { color: #8b1e2d; font-size: 18pt; margin-bottom: 4pt; }
h2 { color: #8b1e2d; font-size: 14pt; margin-top: 20pt; border-bottom: 1px solid #8b1e2d; page-break-after: avoid; }
h3 { font-size: 12pt; margin-top: 14pt; page-break-after: avoid; }
h4 { font-size: 10.5pt; margin: 10pt 0 2pt; page-break-after: avoid; }
.intro { background: #f4f6f8; border-left: 3px solid #8b1e2d; padding: 6pt 10pt; }
.note { color: #555; font-size: 9pt; }
table { border-collapse: collapse; width: 100%; margin-top: 4pt; }
th, td { border-bottom: 1px solid #ddd; padding: 2pt 5pt; text-align: left; vertical-align: top;
  overflow-wrap: break-word; }
th { background: #eee; } th.section { background: #f7eef0; }
td.label { width: 45%; }
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _table(head: Sequence[str], rows: Iterable[Sequence[Any]], *, label_first: bool = False) -> str:
    body = "".join("<tr>" + "".join(
        f'<td class="label">{_e(v)}</td>' if label_first and i == 0 else f"<td>{_e(v)}</td>"
        for i, v in enumerate(row)) + "</tr>" for row in rows)
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def _who(person: Mapping[str, Any]) -> str:
    role = person.get("role_label")
    return f"{person['name']} ({role})" if role else str(person["name"])


def _time_text(iso: str | None) -> str:
    return danish_time(dt.datetime.fromisoformat(iso)) if iso else ""


def _values_table(fields: Sequence[Mapping[str, Any]]) -> str:
    shown = [f for f in fields if not _blank(f["value"]) and not f["derived"]]
    if not shown:
        return '<p class="note">Ingen udfyldte felter.</p>'
    rows = []
    section = object()
    for f in shown:
        if f["section_label"] != section:
            section = f["section_label"]
            if section:
                rows.append(f'<tr><th class="section" colspan="2">{_e(section)}</th></tr>')
        rows.append(f'<tr><td class="label">{_e(f["label"])}</td><td>{_e(f["text"])}</td></tr>')
    return f"<table><tbody>{''.join(rows)}</tbody></table>"


def _form_html(form: Mapping[str, Any]) -> str:
    revs = form["revisions"]
    latest = revs[-1]
    parts = [f"<h3>{_e(form['label'])}</h3>",
             f"<p>Status: <b>{_e(latest['status_label'])}</b>. Senest gemt {_e(_time_text(latest['saved_at']))} af "
             f"{_e(_who(latest['saved_by']))}. Skemaet er gemt i {len(revs)} "
             f"{'version' if len(revs) == 1 else 'versioner'}.</p>"]
    scores = [s for s in latest["scores"]]
    if scores:
        parts.append("<h4>Beregnede resultater</h4>")
        parts.append('<p class="note">Beregnet af HjerteKom ud fra dine svar og målinger; »ikke udfyldt« betyder, '
                     "at der var for få svar til at beregne resultatet.</p>")
        parts.append(_table(("Resultat", "Værdi"), [(s["label"], s["text"]) for s in scores], label_first=True))
    parts.append("<h4>Oplysninger i den seneste version</h4>")
    parts.append(_values_table(latest["fields"]))
    parts.append("<h4>Alle versioner af skemaet</h4>")
    rows = []
    for r in revs:
        if r["revision"] == 1:
            changes = "Første version"
        else:
            changes = "; ".join(f"{c['label']}: {c['old_text']} → {c['new_text']}" for c in r["changes"]) \
                or "Ingen ændrede værdier (kun status)"
        rows.append((r["revision"], _time_text(r["saved_at"]), _who(r["saved_by"]), r["status_label"],
                     r["reason"] or "", changes))
    parts.append(_table(("Version", "Gemt", "Af", "Status", "Begrundelse for rettelse", "Ændringer"), rows))
    return "".join(parts)


def html_page(doc: Mapping[str, Any]) -> str:
    """The export as a page for the citizen: plain Danish, one heading per course and form."""
    citizen = doc["citizen"]
    name = citizen.get("name", "")
    made = _time_text(doc["made_at"])
    parts = [f"<h1>Dine oplysninger i HjerteKom</h1><p><b>{_e(name)}</b></p>",
             '<div class="intro"><p>Du har bedt om at se de oplysninger, der er registreret om dig i HjerteKom, '
             "kommunernes register for hjerterehabilitering. Her er en kopi af det hele, som det så ud "
             f"{_e(made)}: oplysningerne om dig, dine forløb med alt, hvad der er skrevet i skemaerne (også "
             "tidligere versioner), og en liste over, hvem der har set eller ændret oplysningerne og hvornår.</p>"
             "<p>Hvis noget er forkert, kan du bede kommunen om at rette det. Spørgsmål om oplysningerne stilles til "
             "den kommune, der har haft dit forløb, eller til kommunens databeskyttelsesrådgiver.</p></div>"]
    if not doc["scope"]["complete"]:
        codes = ", ".join(map(str, doc["scope"]["municipalities"]))
        parts.append(f'<p class="intro"><b>Bemærk:</b> Denne kopi viser kun forløb i kommunerne {_e(codes)}.</p>')
    parts.append("<h2>Om dig</h2>")
    parts.append(_table(("Oplysning", "Registreret"), [(r["label"], r["text"]) for r in doc["citizen_readable"]],
                        label_first=True))
    if doc.get("restricted"):
        parts.append("<p><b>Behandlingen af dine oplysninger er begrænset</b> (databeskyttelsesforordningens "
                     "artikel 18): de bruges kun, som begrænsningen tillader.</p>")
    count = len(doc["courses"])
    parts.append(f"<p>Du har {count} forløb i HjerteKom.</p>" if count else
                 "<h2>Dine forløb</h2><p>Der er ikke registreret nogen forløb.</p>")
    for number, course in enumerate(doc["courses"], start=1):
        parts.append(f"<h2>Forløb {number}: {_e(course['programme_label'])}, {_e(course['municipality_name'])}</h2>")
        parts.append(f"<p>Oprettet {_e(_time_text(course['created_at']))} af {_e(_who(course['created_by']))}. "
                     f"Forløbets nummer i HjerteKom: {course['id']}.</p>")
        if not course["forms"]:
            parts.append("<p>Der er ikke gemt nogen skemaer i forløbet.</p>")
        parts.extend(_form_html(form) for form in course["forms"])
        if course["drafts"]:
            parts.append("<h3>Indtastninger, der ikke er gemt endnu</h3>")
            parts.append('<p class="note">HjerteKom gemmer det, en medarbejder er i gang med at skrive, så det ikke '
                         "går tabt. Det er ikke en del af skemaet, før det gemmes.</p>")
            for d in course["drafts"]:
                parts.append(f"<h4>{_e(d['label'])}: {_e(_time_text(d['saved_at']))}, {_e(_who(d['saved_by']))}</h4>")
                parts.append(_table(("Felt", "Indtastet"), [(f["label"], f["text"]) for f in d["fields"]
                                                             if f["text"]], label_first=True))
        if course["transfers"]:
            parts.append("<h3>Sendt til landsdækkende kvalitetsdatabase</h3>")
            parts.append(_table(("Modtager", "Måned", "Sendt", "Forløbet"),
                                [(t["recipient"], t["period"], _time_text(t["made_at"]), t["text"])
                                 for t in course["transfers"]]))
    parts.append("<h2>Hvem har set eller ændret dine oplysninger</h2>")
    parts.append("<p>HjerteKom skriver ned, hver gang en medarbejder ser eller ændrer oplysninger om dig eller dine "
                 "forløb. Her er alle gangene, ældste først.</p>")
    if doc["access_log"]:
        numbers = {c["id"]: i for i, c in enumerate(doc["courses"], start=1)}
        parts.append(_table(("Tidspunkt", "Hvem", "Rolle", "Hvad", "Forløb"), [
            (_time_text(a["at"]), a["who"]["name"], a["who"]["role_label"], a["text"],
             f"Forløb {numbers[a['course_id']]}" if a["course_id"] in numbers else "")
            for a in doc["access_log"]]))
    else:
        parts.append("<p>Ingen.</p>")
    parts.append('<p class="note">Listen viser ikke søgninger på navn og arbejdslister, hvor mange borgere vises '
                 "på én gang, og heller ikke statistik og udtræk til kvalitetsudvikling, hvor du ikke er nævnt "
                 "enkeltvis. Disse handlinger er også logget, men uden at nævne dig.</p>")
    parts.append("<h2>Hvorfor oplysningerne er registreret, og dine rettigheder</h2>"
                 "<p>Oplysningerne bruges til at planlægge og dokumentere din hjerterehabilitering i kommunen og til "
                 "at følge kvaliteten af kommunernes hjerterehabilitering. Afsluttede forløb sendes til Dansk "
                 "Hjerterehabiliteringsdatabase (RKKP) som led i den landsdækkende kvalitetsovervågning. Forskere "
                 "får kun oplysninger uden navn og CPR-nummer.</p>"
                 "<p>Kommunen er dataansvarlig. Du har ret til at få forkerte oplysninger rettet, og i visse "
                 "tilfælde til at få oplysninger slettet eller behandlingen begrænset. Du kan klage til "
                 "Datatilsynet (www.datatilsynet.dk).</p>")
    parts.append(f'<p class="note">Udarbejdet {_e(made)} af {_e(doc["made_by"]["name"])} med HjerteKom '
                 f"{_e(doc['hjertekom_version'])}. Den samme kopi findes som {JSON_NAME} (til it-systemer); "
                 f"{MANIFEST_NAME} har filernes kontrolsummer (SHA-256).</p>")
    return (f'<!DOCTYPE html><html lang="da"><head><meta charset="utf-8"><title>Dine oplysninger i HjerteKom'
            f"</title><style>{_CSS}</style></head><body>{''.join(parts)}</body></html>")


# --- writing -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AccessExport:
    """A written export: the folder, its files and what it holds."""

    folder: Path
    files: tuple[Path, ...]
    citizen_id: int
    courses: int
    revisions: int
    access_log: int
    json_sha256: str

    def describe(self) -> str:
        return (f"Indsigt skrevet til / access export written to {self.folder}: {self.courses} forløb / course(s), "
                f"{self.revisions} version(er) af skemaer / form revision(s), {self.access_log} linje(r) i "
                f"adgangsloggen / access-log entries; {', '.join(p.name for p in self.files)}")


def folder_name(citizen_id: int, made: dt.datetime) -> str:
    """``indsigt-<YYYYMMDD>-borger<id>``: one export a citizen a day (never a CPR number or a name)."""
    return f"{FOLDER_PREFIX}-{made.astimezone(DANISH_ZONE):%Y%m%d}-borger{citizen_id}"


def write_export(store: Store, contracts: ContractRegistry, actor: User, cpr: str, out_dir: Path, *,
                 chromium: Path = Path("/usr/bin/chromium"), now: dt.datetime | None = None) -> AccessExport:
    """Gather (``gather``), render and write the export into a new folder under ``out_dir``;
    audited as ``citizen.export``. Nothing is written when anything fails first: a refusal, an
    unknown CPR number, an existing export of the day, a missing chromium."""
    from hjertekom_core.private_files import private_temp_dir, remove_stale_temporaries, write_private_bytes
    from hjertekom_core.reports.pdf import PdfPrinter

    made = _utc(now) or audit.now()
    doc = gather(store, contracts, actor, cpr, made)
    citizen_id = int(doc["citizen"]["id"])
    name = folder_name(citizen_id, made)
    final = Path(out_dir) / name
    if os.path.lexists(final):
        raise ExportExists(final)
    page = html_page(doc)
    with PdfPrinter(chromium) as printer:
        pdf = printer.pdf(page, "Dine oplysninger i HjerteKom")
    contents = {JSON_NAME: (json.dumps(doc, ensure_ascii=False, indent=2, default=_jsonable) + "\n").encode("utf-8"),
                HTML_NAME: page.encode("utf-8"), PDF_NAME: pdf}
    digests = {n: hashlib.sha256(b).hexdigest() for n, b in contents.items()}
    manifest = {"format": FORMAT, "made": doc["made_at"], "made_by": actor.username, "version": __version__,
                "citizen_id": citizen_id, "files": digests}
    contents[MANIFEST_NAME] = (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    if Path(out_dir).is_dir():
        remove_stale_temporaries(out_dir, f".{FOLDER_PREFIX}-*.tmp")
    detail = {"courses": doc["counts"]["courses"], "revisions": doc["counts"]["revisions"],
              "access_log": doc["counts"]["access_log"], "sha256": audit_safe_hex(digests[JSON_NAME]),
              "file": name, "partial": not doc["scope"]["complete"]}
    placed = False
    with private_temp_dir(out_dir, name) as tmp:
        for file_name, data in contents.items():
            write_private_bytes(tmp / file_name, data)  # 0600 and synced, in the private temp folder
        try:
            with store.write() as conn:
                # Renamed inside the transaction: if the rename fails nothing is audited, and if the
                # commit fails the folder is taken away again (below).
                if os.path.lexists(final):
                    raise ExportExists(final)
                os.rename(tmp, final)
                placed = True
                audit.record(conn, actor, EXPORT_ACTION, "citizen", citizen_id,
                             doc["citizen"].get("municipality_code"), detail)
        except BaseException:
            if placed:
                shutil.rmtree(final, ignore_errors=True)
            raise
    log.info("access export written for citizen %s: %d course(s)", citizen_id, doc["counts"]["courses"])
    return AccessExport(final, tuple(sorted(final.iterdir())), citizen_id, doc["counts"]["courses"],
                        doc["counts"]["revisions"], doc["counts"]["access_log"], digests[JSON_NAME])
