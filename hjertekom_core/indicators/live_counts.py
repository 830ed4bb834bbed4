"""K1-K6 of a municipality from the live store, kept current course by course.

The entry app shows the municipality's indicators after every save. Laying the municipality out
in DuckDB for each save (``live.py``) costs a quarter of a second of fixed per-statement cost,
mostly spent recounting courses that did not change. Here every course is counted once by the
Python evaluator of the same declarations (``evaluate.py``, proven equal to the SQL by tests) and
remembered with a stamp of its registrations (their count and highest id: a save, a reopening and
a move each add a registration). A look at the municipality asks the store for the stamps of its
courses (one indexed query), counts again only the courses whose stamp changed, forgets those
that left (moved, restricted, erased), and sums. The sums are laid out exactly as
``engine.compute(levels=("municipality",))`` lays out the same data, which a test checks.
"""
from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pandas as pd
from typing import Any

from sqlalchemy import Connection, func, select

from hjertekom_core.citizen_state import not_restricted
from hjertekom_core.contract import ContractRegistry
from hjertekom_core.indicators.counting import (
    COUNT_COLUMNS,
    DANISH_TIME,
    PERIODS,
    declarations_of,
    with_statistics,
)
from hjertekom_core.indicators.evaluate import CourseCount, course_counts
from hjertekom_core.indicators.settings import IndicatorSettings
from hjertekom_core.snapshot.writer import latest_registrations
from hjertekom_core.store import Store
from hjertekom_core.store.schema import courses, municipalities, registrations

#: Courses fetched by id at once; beyond this the municipality's registrations are read whole.
_BY_ID_LIMIT = 500


@dataclass(frozen=True)
class _Counted:
    stamp: tuple[int, int]                  # (registrations, highest registration id)
    counts: tuple[CourseCount, ...]


@dataclass
class _Municipality:
    lock: threading.Lock = field(default_factory=threading.Lock)
    courses: dict[int, _Counted] = field(default_factory=dict)
    key: tuple[dt.date, str] | None = None  # what ``courses`` were counted for: reference date, period


class LiveCounts:
    """The indicators of one municipality at a time over the live store (identified; in memory only).

    Thread-safe: the server's feedback requests run in a thread pool; one municipality is brought
    up to date by one thread at a time, others wait and then find it current.
    """

    def __init__(self, store: Store, contracts: ContractRegistry, settings: IndicatorSettings) -> None:
        self._store = store
        self._settings = settings
        self._decl = declarations_of(settings)
        self._contract = contracts[self._decl.programme]  # types the stored values, as the snapshot does
        self._guard = threading.Lock()
        self._places: dict[int, _Municipality] = {}

    def _place(self, municipality: int) -> _Municipality:
        with self._guard:
            return self._places.setdefault(municipality, _Municipality())

    def indicators(self, municipality: int, *, reference: dt.date | None = None,
                   period: str = "year") -> pd.DataFrame:
        """K1-K6 of ``municipality`` per period, exact, in ``engine.RESULT_COLUMNS`` (not suppressed)."""
        if period not in PERIODS:
            raise ValueError(f"period must be one of {sorted(PERIODS)}")
        reference = reference or dt.datetime.now(DANISH_TIME).date()
        place = self._place(municipality)
        with place.lock:
            name = self._refresh(place, municipality, reference, period)
            counted = [c.counts for c in place.courses.values()]
        return with_statistics(self._layout(municipality, name, counted), self._settings, self._decl)

    def _refresh(self, place: _Municipality, municipality: int, reference: dt.date, period: str) -> str:
        """Bring ``place`` up to date with the store; returns the municipality's name."""
        if place.key != (reference, period):  # another day or granularity: every course again
            place.courses.clear()
            place.key = (reference, period)
        programme = self._decl.programme
        stamps_query = (
            select(courses.c.id, func.count(registrations.c.id), func.coalesce(func.max(registrations.c.id), 0))
            .select_from(courses.outerjoin(registrations, registrations.c.course_id == courses.c.id))
            .where(courses.c.municipality_code == municipality, courses.c.programme == programme,
                   not_restricted(courses.c.citizen_id))
            .group_by(courses.c.id))
        with self._store.read() as conn:  # one transaction: stamps and rows of the same moment
            name = conn.execute(select(municipalities.c.name)
                                .where(municipalities.c.code == municipality)).scalar_one_or_none() or ""
            stamps = {int(cid): (int(n), int(top)) for cid, n, top in conn.execute(stamps_query)}
            changed = [cid for cid, stamp in stamps.items()
                       if (done := place.courses.get(cid)) is None or done.stamp != stamp]
            rows = self._rows(conn, municipality, changed) if changed else []
        for gone in set(place.courses) - set(stamps):
            del place.courses[gone]
        forms: dict[int, dict[str, dict[str, object]]] = {cid: {} for cid in changed}
        statuses: dict[int, dict[str, str]] = {cid: {} for cid in changed}
        for row in rows:
            if row.course_id in forms:
                forms[row.course_id][row.form] = json.loads(row.data)
                statuses[row.course_id][row.form] = row.status
        for cid in changed:
            counts = course_counts(self._decl, forms[cid], statuses[cid], self._settings, reference, period,
                                   contract=self._contract)
            place.courses[cid] = _Counted(stamps[cid], tuple(counts))
        return str(name)

    @staticmethod
    def _rows(conn: Connection, municipality: int, changed: Sequence[int]) -> list[Any]:
        """The latest registration of every form of the ``changed`` courses."""
        query = latest_registrations()
        if len(changed) <= _BY_ID_LIMIT:
            query = query.where(registrations.c.course_id.in_(sorted(changed)))
        else:
            query = query.where(courses.c.municipality_code == municipality)
        return list(conn.execute(query))

    def _layout(self, municipality: int, name: str, counted: Iterable[Sequence[CourseCount]]) -> pd.DataFrame:
        """The summed counts as compute() lays them out for one municipality: a row per indicator
        and per period that has a course in a denominator (or excluded from one), 0/0 included."""
        sums: dict[tuple[str, str], list[int]] = {}
        periods: set[str] = set()
        for counts in counted:
            for c in counts:
                if c.period is None:
                    continue
                if c.denominator or c.excluded:
                    periods.add(c.period)
                total = sums.setdefault((c.indicator, c.period), [0, 0, 0, 0])
                for i, value in enumerate((c.numerator, c.denominator, c.unknown, c.excluded)):
                    total[i] += value
        rows = [(ind.id, "municipality", str(municipality), name, p, *sums.get((ind.id, p), (0, 0, 0, 0)))
                for ind in sorted(self._decl.indicators, key=lambda i: i.id) for p in sorted(periods)]
        frame = pd.DataFrame(rows, columns=["indicator", "level", "unit", "unit_name", "period", *COUNT_COLUMNS])
        return frame.astype({c: "int64" for c in COUNT_COLUMNS})
