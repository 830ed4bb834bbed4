"""The quality indicators K1-K6 against counts worked out by hand, the confidence intervals against
published reference values, small-number suppression, the live-store path and the CLI.

The data set is ``indicator_fixtures.INDICATOR_COURSES``: every course is described there by what
it changes from an ordinary completed course, and the expected numerators, denominators and
unknowns below follow from those comments and the definitions in domain.md / definitions.py:

Silkeborg (740), courses ending in 2025 (finished = start AND end complete: A B C D E F G M;
H has only a draft end, I no end, J only a draft start: none of them counts anywhere; "-" = not in
the denominator):

    course    K1 completed  K2 >=80 % of   K3 +10 %, same      K4 ex-smoker   K5 dietitian  K6 HADS
              < 180 days    planned (> 0)  test (if offered)   (if smoker)
    A base    yes           yes 21/24      yes walk +15 %      yes            yes           yes
    B drop    no (dropped)  no 5/24        unknown: no test    unknown (UNK)  unknown (UNK) yes (start)
    C 179 d   yes           yes 8/10       yes watt +10 %      - never        no            yes
    D 180 d   no (180 d)    no 7/10        unknown: walk/watt  no (occas.)    yes           no (declined)
    E Dec-Jan yes           - 0 planned    unknown: start 0 m  yes            yes           yes (end only)
    F         yes           - planned UNK  - not offered       - start UNK    yes           yes
    G         yes           unknown (UNK)  no walk +7.5 %      no (daily)     no            yes
    M         yes           yes            unknown: chair      yes            yes           yes
    =>        6/8, 0 unk.   3/6, 1 unk.    2/7, 4 unk.         3/6, 1 unk.    5/8, 1 unk.   7/8, 0 unk.

Silkeborg, ending in 2026: N (never smoker): K1-K3, K5, K6 1/1; K4 0/0 ("no data").
Aarhus (751), 2025: O1 never smoker without dietitian, O2-O4 ordinary, O5 dropped out:
K1 4/5, K2 5/5, K3 5/5, K4 4/4, K5 4/5, K6 5/5. København (101), 2025: P ordinary, 1/1 everywhere.
"""
from __future__ import annotations

import csv
import io
import math
import os
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from hjertekom_core.contract import ContractRegistry
from hjertekom_core.errors import ConfigError
from hjertekom_core.indicators import (
    INDICATORS,
    RESULT_COLUMNS,
    Indicator,
    IndicatorSettings,
    clopper_pearson,
    compute,
    create_fact_views,
    load_clusters,
    suppress,
    wilson,
)
from hjertekom_core.indicators.live import live_indicators
from hjertekom_core.snapshot import create_snapshot
from hjertekom_core.store import Store

from indicator_fixtures import (
    CAPITAL,
    OTHER,
    OWN,
    Made,
    add_course,
    add_indicator_courses,
    memory_snapshot,
    service,
    sqlite_store_at,
)

HJERTEKOM = str(Path(sys.executable).with_name("hjertekom"))
STANDARDS = {"K1": 0.75, "K2": 0.90, "K3": 0.50, "K5": 0.50, "K6": 0.90}  # K4: no standard
CLUSTERS = {"Blandet": [OWN, CAPITAL]}  # Aarhus in no cluster
SETTINGS = IndicatorSettings(standards=STANDARDS, completion_limit_days=180, clusters=CLUSTERS)
IDS = ("K1", "K2", "K3", "K4", "K5", "K6")

# (numerator, denominator, unknown) per municipality and year, worked out by hand (module docstring).
BY_HAND: dict[tuple[int, str], dict[str, tuple[int, int, int]]] = {
    (OWN, "2025"): {"K1": (6, 8, 0), "K2": (3, 6, 1), "K3": (2, 7, 4), "K4": (3, 6, 1), "K5": (5, 8, 1),
                    "K6": (7, 8, 0)},
    (OWN, "2026"): {"K1": (1, 1, 0), "K2": (1, 1, 0), "K3": (1, 1, 0), "K4": (0, 0, 0), "K5": (1, 1, 0),
                    "K6": (1, 1, 0)},
    (OTHER, "2025"): {"K1": (4, 5, 0), "K2": (5, 5, 0), "K3": (5, 5, 0), "K4": (4, 4, 0), "K5": (4, 5, 0),
                      "K6": (5, 5, 0)},
    (CAPITAL, "2025"): {k: (1, 1, 0) for k in IDS},
}
REGION = {OWN: "1082", OTHER: "1082", CAPITAL: "1084"}


# --- the data, built once for the module (SQLite) ------------------------------------------------------

@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory,
          contracts: ContractRegistry) -> Iterator[tuple[Store, dict[str, Made]]]:
    store = sqlite_store_at(tmp_path_factory.mktemp("indicators") / "store.sqlite", contracts)
    made = add_indicator_courses(service(store, contracts))
    yield store, made
    store.dispose()


@pytest.fixture(scope="module")
def snap(built: tuple[Store, dict[str, Made]], contracts: ContractRegistry) -> Iterator[duckdb.DuckDBPyConnection]:
    con = memory_snapshot(built[0], contracts)
    create_fact_views(con)  # to look at the facts the indicators count
    yield con
    con.close()


@pytest.fixture(scope="module")
def result(snap: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return compute(snap, SETTINGS)


def row(df: pd.DataFrame, indicator: str, unit: object, period: str = "2025", level: str | None = None) -> pd.Series:
    mask = (df["indicator"] == indicator) & (df["unit"] == str(unit)) & (df["period"] == period)
    if level is not None:
        mask &= df["level"] == level
    found = df[mask]
    assert len(found) == 1, f"{indicator} {unit} {period}: {len(found)} rows"
    return found.iloc[0]


# --- each indicator by hand ----------------------------------------------------------------------------

@pytest.mark.parametrize(("indicator", "expected", "status"), [
    ("K1", (6, 8, 0), "met"),        # 6/8 = 75 % meets a 75 % standard exactly
    ("K2", (3, 6, 1), "below"),      # 50 %, Wilson upper limit 81.2 % < 90 %
    ("K3", (2, 7, 4), "not_met"),    # 28.6 %, upper limit 64.1 % > 50 %
    ("K4", (3, 6, 1), "no_standard"),
    ("K5", (5, 8, 1), "met"),
    ("K6", (7, 8, 0), "not_met"),    # 87.5 %, upper limit 97.8 % > 90 %
])
def test_each_indicator_against_hand_counts(result: pd.DataFrame, indicator: str, expected: tuple[int, int, int],
                                            status: str) -> None:
    r = row(result, indicator, OWN)
    assert (r["numerator"], r["denominator"], r["unknown"]) == expected
    x, n, _ = expected
    assert r["proportion"] == pytest.approx(x / n)
    low, high = wilson(np.array([x]), np.array([n]))
    assert (r["ci_low"], r["ci_high"]) == (pytest.approx(low[0]), pytest.approx(high[0]))
    assert r["ci_low"] <= r["proportion"] <= r["ci_high"]
    assert r["status"] == status
    assert r["unit_name"] == "Silkeborg" and r["level"] == "municipality"
    expected_standard = STANDARDS.get(indicator)
    assert (math.isnan(r["standard"]) if expected_standard is None else r["standard"] == expected_standard)


def test_every_unit_level_and_period_by_hand(result: pd.DataFrame) -> None:
    """Municipalities, the cluster (740 + 101), the regions and the nation, per year: nothing more."""
    expected: dict[tuple[str, str, str, str], tuple[int, int, int]] = {}

    def add(key: tuple[str, str, str, str], counts: tuple[int, int, int]) -> None:
        old = expected.get(key, (0, 0, 0))
        expected[key] = (old[0] + counts[0], old[1] + counts[1], old[2] + counts[2])

    for (code, period), by_indicator in BY_HAND.items():
        for ind, counts in by_indicator.items():
            add((ind, "municipality", str(code), period), counts)
            if code in CLUSTERS["Blandet"]:
                add((ind, "cluster", "Blandet", period), counts)
            add((ind, "region", REGION[code], period), counts)
            add((ind, "national", "DK", period), counts)
    got = {(r.indicator, r.level, r.unit, r.period): (r.numerator, r.denominator, r.unknown)
           for r in result.itertuples()}
    assert got == expected
    # Spot checks of the sums, written out: national K1 2025 = 6 + 4 + 1 of 8 + 5 + 1.
    assert got[("K1", "national", "DK", "2025")] == (11, 14, 0)
    assert got[("K3", "region", "1082", "2025")] == (7, 12, 4)
    assert got[("K2", "cluster", "Blandet", "2025")] == (4, 7, 1)
    assert list(result.columns) == RESULT_COLUMNS
    names = dict(zip(result["unit"], result["unit_name"]))
    assert names["751"] == "Aarhus" and names["1084"] == "Hovedstaden" and names["DK"] == "Hele landet"


def test_unfinished_courses_count_nowhere(snap: duckdb.DuckDBPyConnection, result: pd.DataFrame,
                                          built: tuple[Store, dict[str, Made]]) -> None:
    made = built[1]
    facts = snap.execute("SELECT course_id, started, ended FROM course_facts").df().set_index("course_id")
    assert tuple(facts.loc[made["H_end_draft"].course_id]) == (True, False)
    assert tuple(facts.loc[made["I_no_end"].course_id]) == (True, False)
    assert tuple(facts.loc[made["J_start_draft"].course_id]) == (False, True)
    # 11 courses of Silkeborg end in 2025 (incl. the drafts), 8 of them count.
    assert row(result, "K1", OWN)["denominator"] == 8


def test_the_180_day_limit_is_179_in_and_180_out(snap: duckdb.DuckDBPyConnection,
                                                 built: tuple[Store, dict[str, Made]]) -> None:
    made = built[1]
    facts = snap.execute("SELECT course_id, days_in_course FROM course_facts").df().set_index("course_id")
    assert facts.loc[made["C_179_days"].course_id, "days_in_course"] == 179
    assert facts.loc[made["D_180_days"].course_id, "days_in_course"] == 180

    def k1(limit: int) -> tuple[int, int]:
        r = row(compute(snap, IndicatorSettings(completion_limit_days=limit), levels=["municipality"],
                        indicators=["K1"]), "K1", OWN)
        return r["numerator"], r["denominator"]

    assert k1(180) == (6, 8)   # C (179 days) counts, D (180 days) does not
    assert k1(181) == (7, 8)   # the limit is configurable: now D counts too
    assert k1(179) == (5, 8)   # and now C does not


def test_a_course_spanning_new_year_belongs_to_the_year_of_its_end(snap: duckdb.DuckDBPyConnection,
                                                                  result: pd.DataFrame) -> None:
    assert "2024" not in set(result["period"])  # E starts 10 Dec 2024, ends 20 Jan 2025
    assert set(result["period"]) == {"2025", "2026"}
    quarters = compute(snap, SETTINGS, period="quarter", levels=["municipality"], indicators=["K1"])
    own = {r.period: (r.numerator, r.denominator) for r in quarters.itertuples() if r.unit == str(OWN)}
    # Q1: E; Q2: A B F G M (B dropped out); Q3: C (179 days) and D (180 days); 2026-Q1: N.
    assert own == {"2025-Q1": (1, 1), "2025-Q2": (4, 5), "2025-Q3": (1, 2), "2026-Q1": (1, 1)}
    months = compute(snap, SETTINGS, period="month", levels=["municipality"], indicators=["K1"])
    own = {r.period: (r.numerator, r.denominator) for r in months.itertuples() if r.unit == str(OWN)}
    assert own == {"2025-01": (1, 1), "2025-04": (0, 1), "2025-05": (4, 4), "2025-07": (1, 2), "2026-02": (1, 1)}
    with pytest.raises(ValueError):
        compute(snap, SETTINGS, period="week")


def test_zero_over_zero_is_no_data(result: pd.DataFrame) -> None:
    for level, unit in (("municipality", OWN), ("cluster", "Blandet"), ("region", "1082"), ("national", "DK")):
        r = row(result, "K4", unit, "2026", level)
        assert (r["numerator"], r["denominator"], r["unknown"]) == (0, 0, 0)
        assert math.isnan(r["proportion"]) and math.isnan(r["ci_low"]) and math.isnan(r["ci_high"])
        assert r["status"] == "no_data"
    shown = suppress(result, own=[OTHER])
    r = row(shown, "K4", OWN, "2026")
    assert (r["numerator"], r["denominator"], r["unknown"], r["status"]) == (0, 0, 0, "no_data")


def test_levels_and_indicators_can_be_chosen(snap: duckdb.DuckDBPyConnection) -> None:
    df = compute(snap, SETTINGS, levels=["region", "national"], indicators=["K5"])
    assert set(df["level"]) == {"region", "national"} and set(df["indicator"]) == {"K5"}
    assert {(r.unit, r.period) for r in df.itertuples()} == {("1082", "2025"), ("1084", "2025"), ("DK", "2025"),
                                                             ("1082", "2026"), ("DK", "2026")}


def test_an_empty_store_gives_an_empty_table(sqlite_store: Store, contracts: ContractRegistry) -> None:
    with memory_snapshot(sqlite_store, contracts) as con:
        df = compute(con, SETTINGS)
    assert df.empty and list(df.columns) == RESULT_COLUMNS


def test_a_unit_where_every_criterion_is_unknown_counts_zero(sqlite_store: Store, contracts: ContractRegistry) -> None:
    """Training sessions planned "uoplyst" in the municipality's only finished course: K2's
    denominator condition is NULL for every course there, which must count as 0, not as missing."""
    add_course(service(sqlite_store, contracts), 1, end_changes={"training_sessions_planned": "UNK"})
    with memory_snapshot(sqlite_store, contracts) as con:
        df = compute(con, SETTINGS, levels=["municipality"])
    k2, k1 = row(df, "K2", "740"), row(df, "K1", "740")
    assert (k2["denominator"], k2["numerator"], k2["status"]) == (0, 0, "no_data")
    assert k1["denominator"] == 1


# --- suppression ---------------------------------------------------------------------------------------

def test_suppression_as_seen_from_silkeborg(result: pd.DataFrame) -> None:
    shown = suppress(result, own=[OWN])
    # Own municipality: exact, even a denominator below 5 (2026: 1/1).
    r = row(shown, "K2", OWN)
    assert (r["numerator"], r["denominator"], r["unknown"], r["status"]) == (3, 6, 1, "below")
    r = row(shown, "K1", OWN, "2026")
    assert (r["numerator"], r["denominator"], r["proportion"], r["status"]) == (1, 1, 1.0, "met")
    # Aarhus K1 4/5: the numerator 4 becomes "< 5"; the denominator 5 stays, the unknown 0 stays 0.
    r = row(shown, "K1", OTHER)
    assert (r["numerator"], r["denominator"], r["unknown"]) == ("< 5", 5, 0)
    # Aarhus K4 4/4: both counts hidden, no proportion, no CI, status "suppressed".
    r = row(shown, "K4", OTHER)
    assert (r["numerator"], r["denominator"], r["unknown"], r["status"]) == ("< 5", "< 5", 0, "suppressed")
    assert math.isnan(r["proportion"]) and math.isnan(r["ci_low"]) and math.isnan(r["ci_high"])
    # Aarhus K6 5/5: shown exactly.
    r = row(shown, "K6", OTHER)
    assert (r["numerator"], r["denominator"], r["proportion"]) == (5, 5, 1.0)
    # København 1/1 and region Hovedstaden 1/1: suppressed.
    for unit in (CAPITAL, "1084"):
        r = row(shown, "K5", unit)
        assert (r["numerator"], r["denominator"], r["status"]) == ("< 5", "< 5", "suppressed")
    # Aggregates that include Silkeborg are not "own": K2 cluster 4/7 -> "< 5" of 7, unknown 1 -> "< 5".
    r = row(shown, "K2", "Blandet", level="cluster")
    assert (r["numerator"], r["denominator"], r["unknown"]) == ("< 5", 7, "< 5")
    r = row(shown, "K1", "DK", level="national")
    assert (r["numerator"], r["denominator"]) == (11, 14)
    # The input is not changed.
    assert row(result, "K4", OTHER)["numerator"] == 4


def test_suppression_as_seen_from_aarhus_and_from_outside(result: pd.DataFrame) -> None:
    r = row(suppress(result, own=[OTHER]), "K4", OTHER)
    assert (r["numerator"], r["denominator"], r["proportion"], r["status"]) == (4, 4, 1.0, "no_standard")
    r = row(suppress(result, own=[OTHER]), "K2", OWN)
    assert (r["numerator"], r["denominator"], r["unknown"]) == ("< 5", 6, "< 5")
    r = row(suppress(result), "K1", OWN, "2026")  # nobody's own: every unit suppressed
    assert (r["numerator"], r["denominator"], r["status"]) == ("< 5", "< 5", "suppressed")


def _frame(rows: list[tuple[str, str, int, int, int]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["level", "unit", "numerator", "denominator", "unknown"])
    df["proportion"] = df["numerator"] / df["denominator"].where(df["denominator"] > 0)
    df["ci_low"], df["ci_high"] = wilson(df["numerator"].to_numpy(), df["denominator"].to_numpy())
    df["status"] = np.where(df["denominator"] == 0, "no_data", "met")
    return df


def test_suppression_thresholds_four_and_five() -> None:
    df = _frame([
        ("municipality", "751", 4, 4, 1),   # every count 1-4, denominator 4
        ("municipality", "751", 5, 5, 0),   # 5: shown
        ("municipality", "751", 0, 5, 5),   # 0 stays 0
        ("municipality", "751", 0, 0, 0),   # no data stays no data
        ("municipality", "740", 1, 4, 4),   # own: exact
        ("region", "740", 1, 4, 4),         # a region coded like the own municipality is not "own"
    ])
    out = suppress(df, own=[740])
    assert out[["numerator", "denominator", "unknown"]].values.tolist() == [
        ["< 5", "< 5", "< 5"], [5, 5, 0], [0, 5, 5], [0, 0, 0], [1, 4, 4], ["< 5", "< 5", "< 5"]]
    assert out["status"].tolist() == ["suppressed", "met", "met", "no_data", "met", "suppressed"]
    assert out["proportion"].isna().tolist() == [True, False, False, True, False, True]
    assert out["ci_low"].isna().tolist() == [True, False, False, True, False, True]
    assert out.loc[2, "proportion"] == 0.0
    # Another threshold from configuration.
    three = suppress(df, own=[], threshold=3)
    assert three["numerator"].tolist() == [4, 5, 0, 0, "< 3", "< 3"]
    assert three["denominator"].tolist() == [4, 5, 5, 0, 4, 4]


def test_a_proportion_never_gives_a_suppressed_count_back() -> None:
    # 4 of 9: the count is shown as "< 5", so 44 % (which gives 4 back) must be hidden too.
    out = suppress(_frame([("municipality", "751", 4, 9, 0), ("municipality", "751", 5, 9, 0)]), own=[740])
    assert out["numerator"].tolist() == ["< 5", 5]
    assert out["proportion"].isna().tolist() == [True, False]
    assert out["status"].tolist()[0] == "suppressed"


# --- confidence intervals --------------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "x", "n", "low", "high"), [
    (wilson, 8, 10, 0.4902, 0.9433),
    (wilson, 0, 5, 0.0000, 0.4345),
    (clopper_pearson, 8, 10, 0.4439, 0.9748),
    (clopper_pearson, 0, 5, 0.0000, 0.5218),
])
def test_confidence_intervals_match_published_values(method: Callable[..., tuple[np.ndarray, np.ndarray]], x: int,
                                                     n: int, low: float, high: float) -> None:
    lo, hi = method(np.array([x]), np.array([n]))
    assert (round(float(lo[0]), 4), round(float(hi[0]), 4)) == (low, high)
    assert 0.0 <= lo[0] <= hi[0] <= 1.0


def test_confidence_interval_edges_are_quiet_and_vectorised() -> None:
    x, n = np.array([0, 5, 0, 3]), np.array([0, 5, 5, 7])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for method in (wilson, clopper_pearson):
            lo, hi = method(x, n)
            assert math.isnan(lo[0]) and math.isnan(hi[0])        # 0/0: no interval
            assert hi[1] == pytest.approx(1.0) and lo[2] == pytest.approx(0.0, abs=1e-12)
            assert np.all((lo[1:] >= 0) & (hi[1:] <= 1) & (lo[1:] <= hi[1:]))
    lo, _ = clopper_pearson(np.array([5]), np.array([5]))
    assert lo[0] == pytest.approx(0.025 ** (1 / 5))                # exact lower limit for x = n


def test_clopper_pearson_is_an_option_of_compute(snap: duckdb.DuckDBPyConnection) -> None:
    settings = IndicatorSettings(standards=STANDARDS, clusters=CLUSTERS, ci_method="clopper-pearson")
    df = compute(snap, settings, levels=["municipality"])
    r = row(df, "K1", OTHER)  # 4/5
    lo, hi = clopper_pearson(np.array([4]), np.array([5]))
    assert (r["ci_low"], r["ci_high"]) == (pytest.approx(lo[0]), pytest.approx(hi[0]))
    assert (round(r["ci_low"], 4), round(r["ci_high"], 4)) == (0.2836, 0.9949)


# --- settings ----------------------------------------------------------------------------------------

def test_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        IndicatorSettings(ci_method="bayes")
    with pytest.raises(ConfigError, match="two clusters"):
        IndicatorSettings(clusters={"a": [740], "b": [740]})
    assert load_clusters(tmp_path / "missing.yaml") == {}
    good = tmp_path / "clusters.yaml"
    good.write_text("clusters:\n  Vest: [740, '751']\n", encoding="utf-8")
    assert load_clusters(good) == {"Vest": [740, 751]}
    bad = tmp_path / "bad.yaml"
    bad.write_text("clusters:\n  Vest: 740\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        load_clusters(bad)


# --- the live store gives the same numbers --------------------------------------------------------------

def test_live_store_gives_the_same_numbers_as_a_snapshot(store: Store, contracts: ContractRegistry,
                                                         tmp_path: Path) -> None:
    add_indicator_courses(service(store, contracts))
    info = create_snapshot(store, contracts, tmp_path / "snapshots")
    with duckdb.connect(str(info.path), read_only=True) as con:
        from_snapshot = compute(con, SETTINGS, levels=["municipality"])
    for scope in ([OWN], [OWN, OTHER]):
        live = live_indicators(store, contracts, SETTINGS, scope)
        expected = from_snapshot[from_snapshot["unit"].isin([str(c) for c in scope])].reset_index(drop=True)
        pd.testing.assert_frame_equal(live.reset_index(drop=True), expected)
    live = live_indicators(store, contracts, SETTINGS, [OWN], period="quarter")
    assert set(live["unit"]) == {str(OWN)}
    q2 = row(live, "K1", OWN, "2025-Q2")
    assert (q2["numerator"], q2["denominator"]) == (4, 5)
    # And the hand counts hold on this backend too.
    for ind, counts in BY_HAND[(OWN, "2025")].items():
        r = row(from_snapshot, ind, OWN)
        assert (r["numerator"], r["denominator"], r["unknown"]) == counts


def test_a_pseudonymised_snapshot_gives_the_same_numbers(built: tuple[Store, dict[str, Made]],
                                                         contracts: ContractRegistry, result: pd.DataFrame) -> None:
    with memory_snapshot(built[0], contracts, key=b"research key") as con:
        assert "cpr" not in [r[0] for r in con.execute("DESCRIBE citizens").fetchall()]
        pd.testing.assert_frame_equal(compute(con, SETTINGS), result)


# --- the command line ---------------------------------------------------------------------------------

CSV_COLUMNS = ["indicator", "unit", "period", "numerator", "denominator", "unknown", "proportion", "ci_low",
               "ci_high", "standard", "status"]


def _cli(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> str:
    environ = {**os.environ, "HJERTEKOM_DATA_DIR": str(tmp_path / "var"), **(env or {})}
    environ.pop("HJERTEKOM_DATABASE_URL", None)
    done = subprocess.run([HJERTEKOM, *args], capture_output=True, text=True, env=environ, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _text(value: object) -> str:
    """A value as the CSV writes it: counts as they are, shares with 4 decimals, NaN empty."""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def test_cli_indicators_csv(built: tuple[Store, dict[str, Made]], contracts: ContractRegistry, result: pd.DataFrame,
                            tmp_path: Path) -> None:
    info = create_snapshot(built[0], contracts, tmp_path / "snapshots")
    before = info.path.read_bytes()
    clusters = tmp_path / "clusters.yaml"
    clusters.write_text("clusters:\n  Blandet: [740, 101]\n", encoding="utf-8")
    env = {"HJERTEKOM_CLUSTERS_FILE": str(clusters), "HJERTEKOM_STANDARDS": "K1=0.75,K2=0.9,K3=0.5,K5=0.5,K6=0.9"}
    out = _cli(tmp_path, "indicators", "--snapshot", str(info.path), "--format", "csv", "--for-municipality", "740",
               env=env)
    assert out.splitlines()[0].split(",") == CSV_COLUMNS
    rows = list(csv.DictReader(io.StringIO(out)))
    # One row per unit, period and indicator: exactly what compute + suppress give for Silkeborg.
    expected = suppress(result, own=[OWN])
    assert len(rows) == len(expected) == 6 * (7 + 4)
    assert [{c: r[c] for c in CSV_COLUMNS} for r in rows] == [
        {c: _text(getattr(e, c)) for c in CSV_COLUMNS} for e in expected.itertuples()]
    by = {(r["indicator"], r["unit"], r["period"]): r for r in rows}
    assert by[("K1", "740", "2025")] == {
        "indicator": "K1", "unit": "740", "period": "2025", "numerator": "6", "denominator": "8", "unknown": "0",
        "proportion": "0.7500", "ci_low": "0.4093", "ci_high": "0.9285", "standard": "0.7500", "status": "met"}
    assert (by[("K4", "740", "2025")]["standard"], by[("K4", "740", "2025")]["status"]) == ("", "no_standard")
    # Own municipality exact, even below 5; 0/0 is no data.
    assert (by[("K1", "740", "2026")]["numerator"], by[("K1", "740", "2026")]["proportion"]) == ("1", "1.0000")
    k4 = by[("K4", "740", "2026")]
    assert (k4["numerator"], k4["denominator"], k4["proportion"], k4["status"]) == ("0", "0", "", "no_data")
    # Everybody else suppressed: counts 1-4 as "< 5", no proportion with a denominator below 5.
    assert (by[("K1", "751", "2025")]["numerator"], by[("K1", "751", "2025")]["denominator"]) == ("< 5", "5")
    small = by[("K5", "101", "2025")]
    assert (small["numerator"], small["denominator"], small["proportion"], small["status"]) == \
        ("< 5", "< 5", "", "suppressed")
    assert (by[("K1", "DK", "2025")]["numerator"], by[("K1", "DK", "2025")]["denominator"]) == ("11", "14")
    assert info.path.read_bytes() == before  # reading never changes the snapshot


@pytest.mark.parametrize("indicator", INDICATORS, ids=lambda i: i.id)
def test_an_indicators_population_holds_its_whole_denominator(snap: duckdb.DuckDBPyConnection,
                                                             indicator: Indicator) -> None:
    """Computed over its declared population (e.g. finished courses only) an indicator counts what it
    counts over every course: the population is an optimisation, never a change of definition."""
    from hjertekom_core.indicators.engine import _flags_sql

    counts = {}
    for relation in ("course_facts", indicator.population):
        counts[relation] = snap.execute(
            f"SELECT count_if(d_{indicator.id}), count_if(n_{indicator.id}), count_if(u_{indicator.id}) "
            f"FROM (SELECT {_flags_sql([indicator], 180)} FROM {relation})").fetchone()
    assert counts["course_facts"] == counts[indicator.population]
    assert counts["course_facts"][0] > 0  # the fixture has courses in every denominator


@pytest.mark.parametrize("parts", [2, 3, 7])
def test_joining_in_course_id_ranges_changes_no_number(snap: duckdb.DuckDBPyConnection, result: pd.DataFrame,
                                                       monkeypatch: pytest.MonkeyPatch, parts: int) -> None:
    """Large snapshots join their facts in ranges of course ids (engine.JOIN_PARTS); every course
    must land in exactly one range, whatever the number of ranges."""
    from hjertekom_core.indicators import engine

    monkeypatch.setattr(engine, "MIN_PARTITIONED_IDS", 1)
    monkeypatch.setattr(engine, "JOIN_PARTS", parts)
    ranges = engine._facts_from(snap, "finished_facts").count("UNION ALL") + 1
    assert 2 <= ranges <= parts  # ceiling-sized ranges: 18 ids in 7 parts make 6 ranges of 3
    pd.testing.assert_frame_equal(compute(snap, SETTINGS), result)
