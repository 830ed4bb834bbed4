"""Data completeness per field and municipality, and the courses with a start but no end.

Four courses, counted by hand:

* P1 (Silkeborg 740): heart failure with NYHA "uoplyst"; start and end complete; employed daily smoker.
* P2 (740): start only a DRAFT without smoking and employment, weight "uoplyst"; no end.
* P3 (740): start complete, smoking "uoplyst", on sick leave of unknown extent; no end.
* Q1 (Aarhus 751): start complete; end a DRAFT: dropped out without a reason, attended "uoplyst".
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from hjertekom_core.contract import Contract, ContractRegistry
from hjertekom_core.contract.model import UNKNOWN
from hjertekom_core.indicators.completeness import COMPLETENESS_COLUMNS, field_completeness, open_courses
from hjertekom_core.indicators.live import live_connection
from hjertekom_core.snapshot import create_snapshot
from hjertekom_core.store import Store

from indicator_fixtures import OTHER, OWN, add_course, service, sqlite_store_at


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, contracts: ContractRegistry) -> Iterator[tuple[Store, Path]]:
    folder = tmp_path_factory.mktemp("completeness")
    store = sqlite_store_at(folder / "store.sqlite", contracts)
    svc = service(store, contracts)
    add_course(svc, 1, course_changes={"diagnosis_groups": ["heart_failure"], "nyha_class": UNKNOWN})  # P1
    add_course(svc, 2, end=None, start_complete=False,                                                 # P2
               start_changes={"smoking": None, "employment": None, "weight_kg": UNKNOWN})
    add_course(svc, 3, end=None, start_changes={"smoking": UNKNOWN, "employment": "sick_leave",          # P3
                                                "sick_leave_extent": UNKNOWN})
    add_course(svc, 4, municipality=OTHER, end_complete=False,                                           # Q1
               end_changes={"course_status": "dropped_out", "training_sessions_attended": UNKNOWN})
    yield store, create_snapshot(store, contracts, folder / "snapshots").path
    store.dispose()


@pytest.fixture(scope="module")
def snapshot_file(built: tuple[Store, Path]) -> Path:
    return built[1]


@pytest.fixture(scope="module")
def completeness(snapshot_file: Path, contracts: ContractRegistry) -> pd.DataFrame:
    """field_completeness of the snapshot file, opened read-only (nothing is written to it)."""
    with duckdb.connect(str(snapshot_file), read_only=True) as con:
        return field_completeness(con, contracts)


@pytest.mark.parametrize(("municipality", "form", "field", "expected"), [
    (OWN, "start", "smoking", (3, 2, 1)),                    # P2 left it open, P3 "uoplyst"
    (OWN, "start", "weight_kg", (3, 3, 1)),                  # "uoplyst" is an answer (P2)
    (OWN, "start", "employment", (3, 2, 0)),
    (OWN, "start", "sick_leave_extent", (1, 1, 1)),          # shown only for P3 (sick leave)
    (OWN, "start", "smoking_cessation_offered", (1, 1, 0)),  # shown only for the smoker P1
    (OWN, "start", "work_retention_offered", (2, 2, 0)),     # employed P1, sick leave P3; hidden for P2
    (OWN, "start", "hads_01", (3, 3, 0)),
    (OWN, "course", "nyha_class", (1, 1, 1)),                # heart failure only (multi-choice show-if)
    (OWN, "course", "diagnosis_groups", (3, 3, 0)),
    (OWN, "end", "course_status", (1, 1, 0)),
    (OWN, "end", "dropout_reason", (0, 0, 0)),
    (OWN, "end", "smoking_cessation_received", (1, 1, 0)),   # shown by the START form's smoking
    (OTHER, "end", "dropout_reason", (1, 0, 0)),             # dropped out, reason left open (draft)
    (OTHER, "end", "training_sessions_attended", (1, 1, 1)),
    (OTHER, "start", "smoking", (1, 1, 0)),
])
def test_field_completeness_by_hand(completeness: pd.DataFrame, contracts: ContractRegistry, municipality: int,
                                    form: str, field: str, expected: tuple[int, int, int]) -> None:
    df = completeness
    assert list(df.columns) == COMPLETENESS_COLUMNS
    r = df[(df["municipality_code"] == municipality) & (df["form"] == form) & (df["field"] == field)]
    assert len(r) == 1
    r = r.iloc[0]
    assert (r["shown"], r["answered"], r["unknown"]) == expected
    shown, answered, unknown = expected
    if shown:
        assert r["share_answered"] == pytest.approx(answered / shown)
        assert r["share_unknown"] == pytest.approx(unknown / shown)
    else:  # never shown: no share, not 0 %
        assert math.isnan(r["share_answered"]) and math.isnan(r["share_unknown"])
    assert r["label"] == contracts["hjertekom"].form(form).field(field).label.da


def test_completeness_covers_every_required_input_field(completeness: pd.DataFrame,
                                                        contracts: ContractRegistry) -> None:
    contract = contracts["hjertekom"]
    df = completeness
    required = {(form.name, f.name) for form in contract.forms.values() for f in form.input_fields() if f.required}
    for code in (OWN, OTHER):
        assert {(r.form, r.field) for r in df[df["municipality_code"] == code].itertuples()} == required
    assert ("course", "note") not in required and ("start", "bmi") not in required  # optional / derived
    assert set(df["municipality_code"]) == {OWN, OTHER}


def test_courses_with_a_start_but_no_end(snapshot_file: Path, contract: Contract) -> None:
    assert contract.start_and_end() == ("start", "end")
    with duckdb.connect(str(snapshot_file), read_only=True) as con:
        df = open_courses(con, contract)
    own = df[df["municipality_code"] == OWN].iloc[0]
    # Started = a complete start: P1 and P3 (P2 is a draft). Without end: P3.
    assert (own["started"], own["without_end"], own["share_without_end"]) == (2, 1, 0.5)
    assert df[df["municipality_code"] == OTHER].iloc[0]["started"] == 1


def test_completeness_is_the_same_on_the_live_store(built: tuple[Store, Path], contracts: ContractRegistry,
                                                    completeness: pd.DataFrame) -> None:
    store = built[0]
    expected = completeness
    with live_connection(store, contracts, [OWN]) as con:
        live = field_completeness(con, contracts)
    pd.testing.assert_frame_equal(live, expected[expected["municipality_code"] == OWN].reset_index(drop=True))
