"""Small, hand-made course data for the snapshot, indicator and completeness tests.

Every course goes through the real Service (validation, derived scores, revisions), as the
system identity so that no password has to be hashed. Dates are given as ISO text; the referral
and index event are placed two and three weeks before the start meeting so that the cross-field
date rules hold for any start date.
"""
from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from hjertekom_core.access import SYSTEM
from hjertekom_core.contract import ContractRegistry
from hjertekom_core.cpr import generate_cpr, parse_cpr
from hjertekom_core.service import Service
from hjertekom_core.snapshot.writer import build_tables, read_store
from hjertekom_core.store import Store

from factories import course_data, end_data, start_data

#: "Today" for validation: after every date used in the fixtures (dates may not be in the future).
TODAY = dt.date(2026, 6, 30)

#: Municipalities used in the fixtures: Aarhus (751) and Silkeborg (740) in Region Midtjylland
#: (1082), Copenhagen (101) in Region Hovedstaden (1084).
OWN, OTHER, CAPITAL = 740, 751, 101


def service(store: Store, contracts: ContractRegistry) -> Service:
    return Service(store, contracts, SYSTEM, today=TODAY)


@dataclass(frozen=True)
class Made:
    course_id: int
    citizen_id: int
    cpr: str
    name: str
    birth_date: dt.date


def _iso(day: str | dt.date) -> dt.date:
    return day if isinstance(day, dt.date) else dt.date.fromisoformat(day)


def add_course(svc: Service, seed: int, *, start: str | dt.date | None = "2025-02-17",
               end: str | dt.date | None = "2025-05-19", municipality: int = OWN,
               start_changes: Mapping[str, Any] | None = None, end_changes: Mapping[str, Any] | None = None,
               course_changes: Mapping[str, Any] | None = None,
               start_complete: bool = True, end_complete: bool = True,
               birth_date: dt.date | None = None, name: str | None = None) -> Made:
    """One synthetic citizen with one course; ``start``/``end`` None leaves that form out.

    ``*_changes`` are applied on top of the factories' complete, valid data; a value of None
    removes the key. Hidden fields (e.g. smoking_cessation_received for a non-smoker) are
    dropped by the validator itself.
    """
    rng = random.Random(seed)
    cpr = generate_cpr(rng, birth_date=birth_date)
    name = name or f"Test Borger {seed}"
    citizen = svc.create_citizen(cpr, name, municipality)
    first = _iso(start) if start is not None else dt.date(2025, 2, 17)
    course = course_data(municipality, referral_date=(first - dt.timedelta(days=14)).isoformat(),
                         index_event_date=(first - dt.timedelta(days=21)).isoformat())
    course_id = svc.open_course(citizen.id, apply_changes(course, course_changes), complete=True, confirm=True).course_id
    if start is not None:
        data = apply_changes(start_data(meeting_date=_iso(start).isoformat()), start_changes)
        svc.save(course_id, "start", data, 0, complete=start_complete, confirm=True)
    if end is not None:
        data = apply_changes(end_data(meeting_date=_iso(end).isoformat()), end_changes)
        svc.save(course_id, "end", data, 0, complete=end_complete, confirm=True)
    return Made(course_id, citizen.id, cpr, name, _birth(cpr))


def apply_changes(data: dict[str, Any], changes: Mapping[str, Any] | None) -> dict[str, Any]:
    """``data`` with ``changes`` applied; a change to None removes the key."""
    for key, value in (changes or {}).items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def _birth(cpr: str) -> dt.date:
    return parse_cpr(cpr).birth_date


def memory_snapshot(store: Store, contracts: ContractRegistry, key: bytes | None = None) -> duckdb.DuckDBPyConnection:
    """The snapshot tables of ``store`` in an in-memory DuckDB (what create_snapshot writes, without
    the codebook and metadata); pseudonymised when a ``key`` is given."""
    con = duckdb.connect()
    build_tables(con, read_store(store), contracts, pseudonymised=key is not None, key=key)
    return con


# --- the indicator data set -------------------------------------------------------------------------
# Base course (factories): start 2025-02-17, end 2025-05-19, completed, 21 of 24 sessions, training
# offered, 6-minute walk 420 -> 483 m (+15 %), daily smoker -> former, dietitian yes, HADS done.
# Each course below changes only what its comment says; the expected counts in test_indicators.py
# are worked out by hand from these comments.

def _dropped(**extra: Any) -> dict[str, Any]:
    return {"course_status": "dropped_out", "dropout_reason": "illness", **extra}


INDICATOR_COURSES: dict[str, dict[str, Any]] = {
    # --- Silkeborg (740), ends in 2025 ------------------------------------------------------------
    "A_base": {},
    # dropped out: 5/24 sessions, no end test, end smoking and dietitian "uoplyst", no end HADS
    "B_dropout": {"end": "2025-04-01", "end_changes": _dropped(
        training_sessions_attended=5, fitness_test_type="not_done", smoking="UNK",
        diet_dietitian_received="UNK", hads_status="not_done")},
    # 179 days; exactly 80 % (8/10); watt 100 -> 110 (exactly +10 %); never smoker; no dietitian
    "C_179_days": {"start": "2025-01-06", "end": "2025-07-04",
                   "start_changes": {"smoking": "never", "fitness_test_type": "watt", "ergometer_watt": 100},
                   "end_changes": {"training_sessions_planned": 10, "training_sessions_attended": 8,
                                   "fitness_test_type": "watt", "ergometer_watt": 110, "smoking": "never",
                                   "diet_dietitian_received": "no"}},
    # 180 days; 7/10 = 70 %; walk at start, watt at end; occasional smoker still smoking; HADS declined
    "D_180_days": {"start": "2025-01-06", "end": "2025-07-05",
                   "start_changes": {"smoking": "occasional", "hads_status": "declined"},
                   "end_changes": {"training_sessions_planned": 10, "training_sessions_attended": 7,
                                   "fitness_test_type": "watt", "ergometer_watt": 120, "smoking": "occasional",
                                   "hads_status": "declined"}},
    # start in December 2024, end in January 2025 (41 days); no sessions planned; start walk 0 m;
    # HADS only at the end
    "E_new_year": {"start": "2024-12-10", "end": "2025-01-20",
                   "start_changes": {"walk_6min_m": 0, "hads_status": "not_done"},
                   "end_changes": {"training_sessions_planned": 0, "training_sessions_attended": 0,
                                   "walk_6min_m": 300}},
    # training not offered; planned and attended "uoplyst"; start smoking "uoplyst"
    "F_no_training": {"start_changes": {"training_offered": "no", "smoking": "UNK"},
                      "end_changes": {"training_sessions_planned": "UNK", "training_sessions_attended": "UNK",
                                      "smoking": "UNK"}},
    # attended "uoplyst" of 20; walk 400 -> 430 (+7.5 %); still a daily smoker; no dietitian
    "G_unknown_attendance": {"start_changes": {"walk_6min_m": 400},
                             "end_changes": {"training_sessions_planned": 20, "training_sessions_attended": "UNK",
                                             "walk_6min_m": 430, "smoking": "daily",
                                             "diet_dietitian_received": "no"}},
    # chair stands 10 -> 14 at both meetings: not a K3 test
    "M_chair_stand": {"start_changes": {"fitness_test_type": "chair_stand_30s", "chair_stand_30s": 10},
                      "end_changes": {"fitness_test_type": "chair_stand_30s", "chair_stand_30s": 14}},
    # not finished: end only a draft / no end / start only a draft
    "H_end_draft": {"end_complete": False},
    "I_no_end": {"end": None},
    "J_start_draft": {"start_complete": False},
    # --- Silkeborg (740), ends in 2026: a never smoker (K4 0/0) ----------------------------------
    "N_2026": {"start": "2025-11-03", "end": "2026-02-02",
               "start_changes": {"smoking": "never"}, "end_changes": {"smoking": "never"}},
    # --- Aarhus (751), ends in 2025 -----------------------------------------------------------------
    "O1_never_smoker_no_diet": {"municipality": OTHER, "start_changes": {"smoking": "never"},
                                "end_changes": {"smoking": "never", "diet_dietitian_received": "no"}},
    "O2": {"municipality": OTHER},
    "O3": {"municipality": OTHER},
    "O4": {"municipality": OTHER},
    "O5_dropout": {"municipality": OTHER, "end_changes": _dropped()},
    # --- København (101), ends in 2025 --------------------------------------------------------------
    "P_capital": {"municipality": CAPITAL},
    # HADS "completed" at both meetings, but all seven depression items "uoplyst": no HADS-D score,
    # so not screened (K6 not met); otherwise ordinary.
    "P2_no_hads_depression": {"municipality": CAPITAL,
                              "start_changes": {f"hads_{i:02d}": "UNK" for i in range(2, 15, 2)},
                              "end_changes": {f"hads_{i:02d}": "UNK" for i in range(2, 15, 2)}},
}


def add_indicator_courses(svc: Service) -> dict[str, Made]:
    return {label: add_course(svc, 1000 + i, **spec) for i, (label, spec) in enumerate(INDICATOR_COURSES.items())}


def sqlite_store_at(path: Path, contracts: ContractRegistry) -> Store:
    """An initialised SQLite store at ``path`` (for module-scoped fixtures)."""
    from hjertekom_core.bootstrap import sync_municipalities

    store = Store(f"sqlite:///{path}")
    store.migrate()
    sync_municipalities(store, contracts)
    return store


def per_cell_suppression(result: pd.DataFrame, own: Iterable[int] = (), threshold: int = 5) -> pd.DataFrame:
    """The rule before complementary suppression (issue 14), kept for the tests that show what it gave
    away and for tables of made-up numbers: counts 1..threshold-1 become '< threshold', and
    proportion, CI and status are hidden where the denominator is below the threshold.

    A proportion is also hidden where the numerator was suppressed, since it would reveal it.
    Rows of the viewer's ``own`` municipalities keep their exact numbers; every other row
    (other municipalities, clusters, regions, the nation) is suppressed.
    """
    out = result.copy()
    own_units = {str(c) for c in own}
    exact = (out["level"] == "municipality") & out["unit"].isin(own_units)
    # A visible proportion would give a suppressed numerator back (4 of 5 = 80 %): hide it too.
    small_num = (out["numerator"] > 0) & (out["numerator"] < threshold)
    small_den = ~exact & ((out["denominator"] < threshold) | small_num)
    for column in ("numerator", "denominator", "unknown"):
        values = out[column].astype(object)
        hide = ~exact & (out[column] > 0) & (out[column] < threshold)
        values[hide] = f"< {threshold}"
        out[column] = values
    for column in ("proportion", "ci_low", "ci_high"):
        out.loc[small_den, column] = np.nan
    status = out["status"].astype(object)
    status[small_den & (out["status"] != "no_data")] = "suppressed"
    out["status"] = status
    return out
