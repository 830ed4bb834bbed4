"""Which DHRD transfers carried which courses.

``transfer_log`` records each transfer (target, month, folder, checksum) but not its course list,
so the courses are worked out as the transfer chose them: from each course's revisions saved before
the transfer was made, its period date (e.g. the end meeting) in the transfer's month, and whether
every form the export needs was complete then. Both the citizen's access export (what was sent
about me?) and erasure/restriction (whom must we tell, GDPR art. 19) ask this question.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from hjertekom_core.contract import ContractRegistry
from hjertekom_core.store.schema import courses, registrations, transfer_log

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Placement:
    """One course inside one transfer's month. ``complete``: every form the export needs was
    complete when the transfer was made, so the course was sent (or, with a value outside the
    export's rules, listed in its rejects report); otherwise it was left out."""

    transfer: Any          # the transfer_log row
    contract: Any          # its export contract (hjertekom_core.export.contract)
    course_id: int
    complete: bool


def _aware(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value


def _period_day(revision: Any, column: str) -> dt.date | None:
    when = json.loads(revision.data).get(column) if revision is not None else None
    try:
        return dt.date.fromisoformat(when) if isinstance(when, str) else None
    except ValueError:
        return None


def placements(conn: Connection, contracts: ContractRegistry, course_ids: Sequence[int]) -> Iterator[Placement]:
    """Every (transfer, course) whose transfer month held the course, in transfer order."""
    from hjertekom_core.export.contract import load_named
    from hjertekom_core.export.dhrd import Month, PeriodError

    if not course_ids:
        return
    transfers = conn.execute(select(transfer_log).order_by(transfer_log.c.created_at, transfer_log.c.id)).all()
    if not transfers:
        return
    ids = sorted(set(course_ids))
    revisions_of: dict[int, list[Any]] = {}
    for rev in conn.execute(select(registrations.c.course_id, registrations.c.form, registrations.c.status,
                                   registrations.c.data, registrations.c.saved_at)
                            .where(registrations.c.course_id.in_(ids))
                            .order_by(registrations.c.course_id, registrations.c.revision)):
        revisions_of.setdefault(rev.course_id, []).append(rev)
    programmes = dict(conn.execute(select(courses.c.id, courses.c.programme).where(courses.c.id.in_(ids))).all())
    loaded: dict[str, Any] = {}
    for t in transfers:
        if t.target not in loaded:
            try:
                loaded[t.target] = load_named(contracts, t.target)
            except Exception:  # noqa: BLE001 - a contract gone since: that transfer cannot be judged
                log.warning("export contract %s cannot be loaded; its transfers are not checked", t.target)
                loaded[t.target] = None
        contract = loaded[t.target]
        if contract is None or contract.period is None:
            continue
        try:
            month = Month.parse(t.period)
        except PeriodError:
            log.info("transfer %s has no monthly period; not checked", t.id)
            continue
        source = contract.column(contract.period).source
        made = _aware(t.created_at)
        for course_id in ids:
            if programmes.get(course_id) != contract.programme:
                continue
            latest: dict[str, Any] = {}
            for rev in revisions_of.get(course_id, ()):
                if _aware(rev.saved_at) <= made:
                    latest[rev.form] = rev  # ordered by revision: the last one before the transfer wins
            day = _period_day(latest.get(source.relation), source.column)
            if day is None or not month.first <= day < month.next_first:
                continue
            complete = all(f in latest and latest[f].status == "complete" for f in contract.complete_forms)
            yield Placement(t, contract, course_id, complete)
