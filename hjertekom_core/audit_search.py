"""Reading the audit log for an administrator: filters, pages, CSV export (``audit.read``).

Filters: the acting user (username), a citizen (by citizen id: the citizen's own entries and those
of the citizen's courses), an action (exact, or a family such as ``login`` for ``login.*``), a
municipality and a period (Danish dates, inclusive). A CPR number is never a filter value: the
caller looks it up to the citizen id first (``citizen_id_for_cpr``), so that the number is neither
shown back, nor put in an address, nor written to the log or the audit log. Every search and every
export is itself audited (``audit.read``, ``audit.export``) with the filters used.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, String, and_, cast, func, or_, select

from hjertekom_core import audit
from hjertekom_core.access import User
from hjertekom_core.cpr import normalise_cpr
from hjertekom_core.errors import HjerteKomError
from hjertekom_core.store import Store
from hjertekom_core.store.schema import audit_log, citizens, courses

DANISH_ZONE = ZoneInfo("Europe/Copenhagen")
PER_PAGE = 50
#: Rows written by one CSV export at most (a year of a busy registry fits).
EXPORT_LIMIT = 1_000_000
COLUMNS = ("id", "at", "user_id", "username", "action", "entity", "entity_id", "municipality_code", "detail")


class BadFilter(HjerteKomError, ValueError):
    """A filter value that cannot be used; ``messages`` says in Danish and English what to fix."""

    def __init__(self, da: str, en: str) -> None:
        self.messages = {"da": da, "en": en}
        super().__init__(f"{da} / {en}")


@dataclass(frozen=True)
class AuditFilter:
    username: str = ""
    citizen_id: int | None = None
    action: str = ""
    municipality: int | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    def query_params(self) -> dict[str, str]:
        """The filter as URL parameters (never holds a CPR number: only the citizen id)."""
        values = {"user": self.username, "citizen": self.citizen_id, "action": self.action,
                  "municipality": self.municipality, "from": self.date_from, "to": self.date_to}
        return {k: (v.strftime("%d-%m-%Y") if isinstance(v, dt.date) else str(v))
                for k, v in values.items() if v not in (None, "")}

    def for_audit(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in asdict(self).items()
                if v not in (None, "")}


def _date(value: str, label_da: str, label_en: str) -> dt.date | None:
    value = value.strip()
    if not value:
        return None
    for fmt in ("%d-%m-%Y", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise BadFilter(f"{label_da} skal være en dato som 31-12-2025.", f"{label_en} must be a date such as 31-12-2025.")


def _integer(value: str, label_da: str, label_en: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not value.isdigit() or len(value) > 12:
        raise BadFilter(f"{label_da} skal være et helt tal.", f"{label_en} must be a whole number.")
    return int(value)


def parse_filter(params: Mapping[str, str]) -> AuditFilter:
    """The filter from request or command-line values (``user``, ``citizen``, ``action``,
    ``municipality``, ``from``, ``to``); BadFilter says what to fix."""
    flt = AuditFilter(
        username=params.get("user", "").strip()[:80], citizen_id=_integer(params.get("citizen", ""), "Borger-id",
                                                                           "The citizen id"),
        action=params.get("action", "").strip()[:40],
        municipality=_integer(params.get("municipality", ""), "Kommunekoden", "The municipality code"),
        date_from=_date(params.get("from", ""), "Fra-datoen", "The from date"),
        date_to=_date(params.get("to", ""), "Til-datoen", "The to date"))
    if flt.date_from and flt.date_to and flt.date_from > flt.date_to:
        raise BadFilter("Fra-datoen ligger efter til-datoen.", "The from date is after the to date.")
    return flt


def local_day_start(day: dt.date) -> dt.datetime:
    """Midnight of a Danish date, in UTC (as the store keeps times)."""
    return dt.datetime.combine(day, dt.time(), DANISH_ZONE).astimezone(dt.timezone.utc)


def citizen_id_for_cpr(store: Store, cpr: str) -> int | None:
    """The id of the citizen with this CPR number, or None. The number is checked (InvalidCpr, whose
    message never holds it) and goes nowhere else: not into a log, an address or the audit log."""
    digits = normalise_cpr(cpr)
    with store.read() as conn:
        return conn.execute(select(citizens.c.id).where(citizens.c.cpr == digits)).scalar()


def _where(flt: AuditFilter) -> list[Any]:
    conditions: list[Any] = []
    if flt.username:
        conditions.append(audit_log.c.username == flt.username)
    if flt.citizen_id is not None:
        course_ids = select(cast(courses.c.id, String)).where(
            courses.c.citizen_id == flt.citizen_id)
        conditions.append(or_(and_(audit_log.c.entity == "citizen", audit_log.c.entity_id == str(flt.citizen_id)),
                              and_(audit_log.c.entity == "course", audit_log.c.entity_id.in_(course_ids))))
    if flt.action:
        conditions.append(or_(audit_log.c.action == flt.action, audit_log.c.action.startswith(flt.action + ".",
                                                                                              autoescape=True)))
    if flt.municipality is not None:
        conditions.append(audit_log.c.municipality_code == flt.municipality)
    if flt.date_from:
        conditions.append(audit_log.c.at >= local_day_start(flt.date_from))
    if flt.date_to:
        conditions.append(audit_log.c.at < local_day_start(flt.date_to + dt.timedelta(days=1)))
    return conditions


def _query(flt: AuditFilter) -> Select[Any]:
    return select(audit_log).where(*_where(flt)).order_by(audit_log.c.id.desc())


@dataclass(frozen=True)
class AuditPage:
    rows: list[dict[str, Any]]
    total: int
    page: int
    pages: int


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)


def _row(row: Any) -> dict[str, Any]:  # noqa: ANN401 - a SQLAlchemy row
    found = dict(row._mapping)
    found["at"] = _aware(found["at"])
    return found


def search(store: Store, actor: User, flt: AuditFilter, *, page: int = 1, per_page: int = PER_PAGE,
           detail: Mapping[str, Any] | None = None) -> AuditPage:
    """One page of matching entries, newest first; audited as ``audit.read`` (filters, page, hits).
    ``detail`` adds to the audit entry (e.g. that the citizen was looked up by CPR number)."""
    audit.require(store, actor, "audit.read", "audit_log")
    with store.read() as conn:
        total = conn.execute(select(func.count()).select_from(audit_log).where(*_where(flt))).scalar_one()
        pages = max(1, math.ceil(total / per_page))
        page = min(max(1, page), pages)
        rows = [_row(r) for r in conn.execute(_query(flt).limit(per_page).offset((page - 1) * per_page))]
    with store.write() as conn:
        audit.record(conn, actor, "audit.read", "audit_log", None, flt.municipality,
                     {**flt.for_audit(), "page": page, "hits": total, **dict(detail or {})})
    return AuditPage(rows, total, page, pages)


def _lines(rows: Iterator[dict[str, Any]]) -> Iterator[list[Any]]:
    from hjertekom_core.export.formulas import csv_cell

    for row in rows:
        at = row["at"].astimezone(DANISH_ZONE).isoformat(timespec="seconds")
        yield [csv_cell(v) for v in (row["id"], at, row["user_id"], row["username"], row["action"], row["entity"],
                                     row["entity_id"], row["municipality_code"], row["detail"])]


def export_rows(store: Store, actor: User, flt: AuditFilter, *, detail: Mapping[str, Any] | None = None,
                limit: int = EXPORT_LIMIT) -> list[list[Any]]:
    """Every matching entry as CSV rows (header first, formula-quoted); audited as ``audit.export``."""
    audit.require(store, actor, "audit.read", "audit_log")
    with store.read() as conn:
        rows = list(_lines(_row(r) for r in conn.execute(_query(flt).limit(limit))))
    with store.write() as conn:
        audit.record(conn, actor, "audit.export", "audit_log", None, flt.municipality,
                     {**flt.for_audit(), "rows": len(rows), **dict(detail or {})})
    return [list(COLUMNS), *rows]


def csv_text(rows: list[list[Any]]) -> str:
    """Rows as CSV text (semicolons, as Danish spreadsheets read them)."""
    import io

    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def write_export(rows: list[list[Any]], path: Path) -> Path:
    """The export as a 0600 CSV file (UTF-8 with BOM, for Excel)."""
    from hjertekom_core.private_files import write_private_text

    write_private_text(path, csv_text(rows), encoding="utf-8-sig")
    return path


def describe_detail(detail: str) -> str:
    """An entry's detail as short text for a page: ``key: value`` pairs."""
    try:
        values = json.loads(detail or "{}")
    except ValueError:
        return detail
    if not isinstance(values, dict):
        return str(values)
    return ", ".join(f"{k}: {v}" for k, v in values.items())
