"""The quality indicators K1-K6 against counts worked out by hand, the confidence intervals against
published reference values, small-number suppression, the live-store path and the CLI.

The data set is ``indicator_fixtures.INDICATOR_COURSES``: every course is described there by what
it changes from an ordinary completed course, and the expected numerators, denominators, unknowns
and exclusions below follow from those comments and the definitions in docs/indicators.md
(data_contracts/hjertekom/indicators.yaml). The reference date is TODAY (30 June 2026): every
course started 180 days or more before it.

Silkeborg (740), courses ending in 2025 (finished = start AND end complete: A B C D E F G M;
H has only a draft end and I no end: both started on 17 Feb 2025 and reached the 180-day limit on
16 Aug 2025, so they are in K1's denominator as not completed, in 2025, and nowhere else;
J has only a draft start: it counts nowhere; "-" = not in the denominator, "excl." = left out of
it because a value it depends on is "uoplyst"):

    course    K1 completed  K2 >=80 % of   K3 +10 %, same      K4 ex-smoker   K5 dietitian  K6 HADS-D
              < 180 days    planned (> 0)  test (if offered)   (if smoker)                  score
    A base    yes           yes 21/24      yes walk +15 %      yes            yes           yes
    B drop    no (dropped)  no 5/24        unknown: no test    unknown (UNK)  unknown (UNK) yes (start)
    C 179 d   yes           yes 8/10       yes watt +10 %      - never        no            yes
    D 180 d   no (180 d)    no 7/10        unknown: walk/watt  no (occas.)    yes           no (declined)
    E Dec-Jan yes           - 0 planned    unknown: start 0 m  yes            yes           yes (end only)
    F         yes           excl. (UNK)    - not offered       excl. (UNK)    yes           yes
    G         yes           unknown (UNK)  no walk +7.5 %      no (daily)     no            yes
    M         yes           yes            unknown: chair      yes            yes           yes
    H, I      no (open)     -              -                   -              -             -
    =>        6/10, 0 unk.  3/6, 1 unk.    2/7, 4 unk.         3/6, 1 unk.    5/8, 1 unk.   7/8, 0 unk.
                            1 excl.                            1 excl.

Silkeborg, ending in 2026: N (never smoker): K1-K3, K5, K6 1/1; K4 0/0 ("no data").
Aarhus (751), 2025: O1 never smoker without dietitian, O2-O4 ordinary, O5 dropped out:
K1 4/5, K2 5/5, K3 5/5, K4 4/4, K5 4/5, K6 5/5. København (101), 2025: P ordinary, P2 with HADS
"completed" but every depression item "uoplyst" (no HADS-D: not screened): 2/2 everywhere, K6 1/2.
Aarhus and København have nothing in 2026: every indicator 0/0 ("ingen data") there, not missing.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
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
from hjertekom_core.errors import ConfigError, ContractError
from hjertekom_core.indicators import (
    INDICATORS,
    RESULT_COLUMNS,
    Indicator,
    IndicatorSettings,
    clopper_pearson,
    compute,
    create_fact_views,
    load_clusters,
    reference_date,
    wilson,
)
from hjertekom_core.disclosure import Hierarchy, protect
from hjertekom_core.indicators.live import live_indicators
from hjertekom_core.snapshot import create_snapshot
from hjertekom_core.store import Store

from indicator_fixtures import (
    CAPITAL,
    OTHER,
    OWN,
    TODAY,
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

# (numerator, denominator, unknown, excluded) per municipality and year, by hand (module docstring).
BY_HAND: dict[tuple[int, str], dict[str, tuple[int, int, int, int]]] = {
    (OWN, "2025"): {"K1": (6, 10, 0, 0), "K2": (3, 6, 1, 1), "K3": (2, 7, 4, 0), "K4": (3, 6, 1, 1),
                    "K5": (5, 8, 1, 0), "K6": (7, 8, 0, 0)},
    (OWN, "2026"): {"K1": (1, 1, 0, 0), "K2": (1, 1, 0, 0), "K3": (1, 1, 0, 0), "K4": (0, 0, 0, 0),
                    "K5": (1, 1, 0, 0), "K6": (1, 1, 0, 0)},
    (OTHER, "2025"): {"K1": (4, 5, 0, 0), "K2": (5, 5, 0, 0), "K3": (5, 5, 0, 0), "K4": (4, 4, 0, 0),
                      "K5": (4, 5, 0, 0), "K6": (5, 5, 0, 0)},
    (OTHER, "2026"): {k: (0, 0, 0, 0) for k in IDS},
    (CAPITAL, "2025"): {**{k: (2, 2, 0, 0) for k in IDS}, "K6": (1, 2, 0, 0)},
    (CAPITAL, "2026"): {k: (0, 0, 0, 0) for k in IDS},
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
    return compute(snap, SETTINGS, reference=TODAY)


def row(df: pd.DataFrame, indicator: str, unit: object, period: str = "2025", level: str | None = None) -> pd.Series:
    mask = (df["indicator"] == indicator) & (df["unit"] == str(unit)) & (df["period"] == period)
    if level is not None:
        mask &= df["level"] == level
    found = df[mask]
    assert len(found) == 1, f"{indicator} {unit} {period}: {len(found)} rows"
    return found.iloc[0]


# --- each indicator by hand ----------------------------------------------------------------------------

@pytest.mark.parametrize(("indicator", "expected", "status"), [
    ("K1", (6, 10, 0, 0), "not_met"),  # 60 %, Wilson upper limit 83.2 % > 75 %
    ("K2", (3, 6, 1, 1), "below"),     # 50 %, Wilson upper limit 81.2 % < 90 %
    ("K3", (2, 7, 4, 0), "not_met"),   # 28.6 %, upper limit 64.1 % > 50 %
    ("K4", (3, 6, 1, 1), "no_standard"),
    ("K5", (5, 8, 1, 0), "met"),
    ("K6", (7, 8, 0, 0), "not_met"),   # 87.5 %, upper limit 97.8 % > 90 %
])
def test_each_indicator_against_hand_counts(result: pd.DataFrame, indicator: str,
                                            expected: tuple[int, int, int, int], status: str) -> None:
    r = row(result, indicator, OWN)
    assert (r["numerator"], r["denominator"], r["unknown"], r["excluded"]) == expected
    x, n, _, _ = expected
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
    expected: dict[tuple[str, str, str, str], tuple[int, ...]] = {}

    def add(key: tuple[str, str, str, str], counts: tuple[int, ...]) -> None:
        old = expected.get(key, (0, 0, 0, 0))
        expected[key] = tuple(a + b for a, b in zip(old, counts))

    for (code, period), by_indicator in BY_HAND.items():
        for ind, counts in by_indicator.items():
            add((ind, "municipality", str(code), period), counts)
            if code in CLUSTERS["Blandet"]:
                add((ind, "cluster", "Blandet", period), counts)
            add((ind, "region", REGION[code], period), counts)
            add((ind, "national", "DK", period), counts)
    got = {(r.indicator, r.level, r.unit, r.period): (r.numerator, r.denominator, r.unknown, r.excluded)
           for r in result.itertuples()}
    assert got == expected
    # Spot checks of the sums, written out: national K1 2025 = 6 + 4 + 2 of 10 + 5 + 2.
    assert got[("K1", "national", "DK", "2025")] == (12, 17, 0, 0)
    assert got[("K3", "region", "1082", "2025")] == (7, 12, 4, 0)
    assert got[("K2", "cluster", "Blandet", "2025")] == (5, 8, 1, 1)
    assert list(result.columns) == RESULT_COLUMNS
    names = dict(zip(result["unit"], result["unit_name"]))
    assert names["751"] == "Aarhus" and names["1084"] == "Hovedstaden" and names["DK"] == "Hele landet"


def test_courses_that_never_ended_count_in_k1_once_the_limit_has_passed(
        snap: duckdb.DuckDBPyConnection, result: pd.DataFrame, built: tuple[Store, dict[str, Made]]) -> None:
    """A citizen who stopped coming and was never closed off lowers K1 once the course can no longer
    count as completed (start + 180 days), in the period of that day, and counts nowhere else."""
    made = built[1]
    facts = snap.execute("SELECT course_id, started, ended FROM course_facts").df().set_index("course_id")
    assert tuple(facts.loc[made["H_end_draft"].course_id]) == (True, False)   # a draft end is no end
    assert tuple(facts.loc[made["I_no_end"].course_id]) == (True, False)
    assert tuple(facts.loc[made["J_start_draft"].course_id]) == (False, True)  # a draft start: not started

    def k1(reference: dt.date, period: str = "year") -> dict[str, tuple[int, int]]:
        df = compute(snap, SETTINGS, levels=["municipality"], indicators=["K1"], reference=reference, period=period)
        return {r.period: (r.numerator, r.denominator) for r in df.itertuples() if r.unit == str(OWN)}

    # H and I started on 17 Feb 2025: 180 days later is 16 Aug 2025.
    assert k1(dt.date(2025, 8, 15))["2025"] == (6, 8)     # 179 days: they may still complete
    assert k1(dt.date(2025, 8, 16))["2025"] == (6, 10)    # 180 days: counted as not completed
    assert k1(dt.date(2025, 8, 16), "month")["2025-08"] == (0, 2)  # in the month the limit is reached
    assert row(result, "K1", OWN)["denominator"] == 10
    for other in ("K2", "K3", "K4", "K5", "K6"):              # they never ended: in no other indicator
        assert row(result, other, OWN)["denominator"] + row(result, other, OWN)["excluded"] <= 8


def test_the_reference_date_is_the_snapshots_creation_date_in_danish_time(
        built: tuple[Store, dict[str, Made]], contracts: ContractRegistry, tmp_path: Path) -> None:
    """The same snapshot always gives the same figures: the date is read from snapshot_info, as a
    Danish date (22:30 UTC on 15 August is 16 August in Copenhagen)."""
    made_at = dt.datetime(2025, 8, 15, 22, 30, tzinfo=dt.timezone.utc)
    info = create_snapshot(built[0], contracts, tmp_path / "snapshots", now=lambda: made_at)
    with duckdb.connect(str(info.path), read_only=True) as con:
        assert reference_date(con) == dt.date(2025, 8, 16)
        r = row(compute(con, SETTINGS, levels=["municipality"], indicators=["K1"]), "K1", OWN)
        assert (r["numerator"], r["denominator"]) == (6, 10)
    before = dt.datetime(2025, 8, 15, 21, 30, tzinfo=dt.timezone.utc)  # 23:30 on 15 August in Denmark
    info = create_snapshot(built[0], contracts, tmp_path / "earlier", now=lambda: before)
    with duckdb.connect(str(info.path), read_only=True) as con:
        assert reference_date(con) == dt.date(2025, 8, 15)
        r = row(compute(con, SETTINGS, levels=["municipality"], indicators=["K1"]), "K1", OWN)
        assert (r["numerator"], r["denominator"]) == (6, 8)


def test_the_180_day_limit_is_179_in_and_180_out(snap: duckdb.DuckDBPyConnection,
                                                 built: tuple[Store, dict[str, Made]]) -> None:
    made = built[1]
    facts = snap.execute("SELECT course_id, days_in_course FROM course_facts").df().set_index("course_id")
    assert facts.loc[made["C_179_days"].course_id, "days_in_course"] == 179
    assert facts.loc[made["D_180_days"].course_id, "days_in_course"] == 180

    def k1(limit: int) -> tuple[int, int]:
        r = row(compute(snap, IndicatorSettings(completion_limit_days=limit), levels=["municipality"],
                        indicators=["K1"], reference=TODAY), "K1", OWN)
        return r["numerator"], r["denominator"]

    assert k1(180) == (6, 10)   # C (179 days) counts, D (180 days) does not
    assert k1(181) == (7, 10)   # the limit is configurable: now D counts too
    assert k1(179) == (5, 10)   # and now C does not


def test_a_course_spanning_new_year_belongs_to_the_year_of_its_end(snap: duckdb.DuckDBPyConnection,
                                                                  result: pd.DataFrame) -> None:
    assert "2024" not in set(result["period"])  # E starts 10 Dec 2024, ends 20 Jan 2025
    assert set(result["period"]) == {"2025", "2026"}
    quarters = compute(snap, SETTINGS, period="quarter", levels=["municipality"], indicators=["K1"], reference=TODAY)
    own = {r.period: (r.numerator, r.denominator) for r in quarters.itertuples() if r.unit == str(OWN)}
    # Q1: E; Q2: A B F G M (B dropped out); Q3: C (179 days), D (180 days), H and I (limit on 16 Aug);
    # 2026-Q1: N.
    assert own == {"2025-Q1": (1, 1), "2025-Q2": (4, 5), "2025-Q3": (1, 4), "2026-Q1": (1, 1)}
    months = compute(snap, SETTINGS, period="month", levels=["municipality"], indicators=["K1"], reference=TODAY)
    own = {r.period: (r.numerator, r.denominator) for r in months.itertuples() if r.unit == str(OWN)}
    assert own == {"2025-01": (1, 1), "2025-04": (0, 1), "2025-05": (4, 4), "2025-07": (1, 2), "2025-08": (0, 2),
                   "2026-02": (1, 1)}
    with pytest.raises(ValueError):
        compute(snap, SETTINGS, period="week")


def test_zero_over_zero_is_no_data(result: pd.DataFrame) -> None:
    for level, unit in (("municipality", OWN), ("cluster", "Blandet"), ("region", "1082"), ("national", "DK")):
        r = row(result, "K4", unit, "2026", level)
        assert (r["numerator"], r["denominator"], r["unknown"], r["excluded"]) == (0, 0, 0, 0)
        assert math.isnan(r["proportion"]) and math.isnan(r["ci_low"]) and math.isnan(r["ci_high"])
        assert r["status"] == "no_data"
    shown = protect(result, Hierarchy.of({OWN: "1082", OTHER: "1082", CAPITAL: "1084"}, CLUSTERS), own=[OTHER])
    r = row(shown, "K4", OWN, "2026")
    assert (r["numerator"], r["denominator"], r["unknown"], r["status"]) == (0, 0, 0, "no_data")


def test_levels_and_indicators_can_be_chosen(snap: duckdb.DuckDBPyConnection) -> None:
    df = compute(snap, SETTINGS, levels=["region", "national"], indicators=["K5"], reference=TODAY)
    assert set(df["level"]) == {"region", "national"} and set(df["indicator"]) == {"K5"}
    assert {(r.unit, r.period) for r in df.itertuples()} == {("1082", "2025"), ("1084", "2025"), ("DK", "2025"),
                                                             ("1082", "2026"), ("1084", "2026"), ("DK", "2026")}


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


# The small-number rules (primary and complementary suppression) are tested in test_disclosure.py.


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
        assert (r["numerator"], r["denominator"], r["unknown"], r["excluded"]) == counts


def test_a_pseudonymised_snapshot_gives_the_same_numbers(built: tuple[Store, dict[str, Made]],
                                                         contracts: ContractRegistry, result: pd.DataFrame) -> None:
    with memory_snapshot(built[0], contracts, key=b"research key") as con:
        assert "cpr" not in [r[0] for r in con.execute("DESCRIBE citizens").fetchall()]
        pd.testing.assert_frame_equal(compute(con, SETTINGS, reference=TODAY), result)


# --- the command line ---------------------------------------------------------------------------------

CSV_COLUMNS = ["indicator", "unit", "period", "numerator", "denominator", "unknown", "excluded", "proportion",
               "ci_low", "ci_high", "standard", "status"]


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
    # One row per unit, period and indicator: exactly what compute + disclosure.protect give for
    # Silkeborg (every level listed in full; tests/test_disclosure.py audits such tables).
    with duckdb.connect(str(info.path), read_only=True) as con:
        hierarchy = Hierarchy.from_snapshot(con, {"Blandet": [740, 101]})
    expected = protect(result, hierarchy, own=[OWN], complete=("municipality", "cluster", "region", "national"))
    assert len(rows) == len(expected) == 6 * (7 + 7)  # every unit in both years
    assert [{c: r[c] for c in CSV_COLUMNS} for r in rows] == [
        {c: _text(getattr(e, c)) for c in CSV_COLUMNS} for e in expected.itertuples()]
    by = {(r["indicator"], r["unit"], r["period"]): r for r in rows}
    assert by[("K1", "740", "2025")] == {
        "indicator": "K1", "unit": "740", "period": "2025", "numerator": "6", "denominator": "10", "unknown": "0",
        "excluded": "0", "proportion": "0.6000", "ci_low": "0.3127", "ci_high": "0.8318", "standard": "0.7500",
        "status": "not_met"}
    k2 = by[("K2", "740", "2025")]
    assert (k2["denominator"], k2["unknown"], k2["excluded"]) == ("6", "1", "1")
    assert (by[("K4", "740", "2025")]["standard"], by[("K4", "740", "2025")]["status"]) == ("", "no_standard")
    # Own municipality exact, even below 5; 0/0 is no data.
    assert (by[("K1", "740", "2026")]["numerator"], by[("K1", "740", "2026")]["proportion"]) == ("1", "1.0000")
    k4 = by[("K4", "740", "2026")]
    assert (k4["numerator"], k4["denominator"], k4["proportion"], k4["status"]) == ("0", "0", "", "no_data")
    # Everybody else suppressed: counts 1-4 as "< 5", no proportion with a denominator below 5; and
    # Aarhus's denominator 5 withheld ("..": the nation minus Silkeborg and Aarhus is København's 2).
    assert (by[("K1", "751", "2025")]["numerator"], by[("K1", "751", "2025")]["denominator"]) == ("< 5", "..")
    small = by[("K5", "101", "2025")]
    assert (small["numerator"], small["denominator"], small["proportion"], small["status"]) == \
        ("< 5", "< 5", "", "suppressed")
    assert (by[("K1", "DK", "2025")]["numerator"], by[("K1", "DK", "2025")]["denominator"]) == ("12", "17")
    assert info.path.read_bytes() == before  # reading never changes the snapshot


# --- unknown, excluded, K6, every municipality ------------------------------------------------------------

def _altered(store: Store, contracts: ContractRegistry, *updates: str) -> duckdb.DuckDBPyConnection:
    """A snapshot of ``store`` in memory with ``updates`` (SQL) applied: data the forms would not
    accept today (an older contract, an import), laid out as a snapshot holds them."""
    con = memory_snapshot(store, contracts)
    for sql in updates:
        con.execute(sql)
    return con


def test_every_missing_reason_code_is_unknown_in_every_indicator(built: tuple[Store, dict[str, Made]],
                                                                 contracts: ContractRegistry,
                                                                 result: pd.DataFrame) -> None:
    """UNK, NA and DECL (the missing-reason code list) and a blank mean the same everywhere: a
    course status "UNK" is unknown in K1 (it was counted as known), a start smoking "DECL" leaves
    the course out of K4's denominator (excluded), an end smoking "NA" is unknown in K4."""
    made = built[1]
    a, g, m = (made[k].course_id for k in ("A_base", "G_unknown_attendance", "M_chair_stand"))
    con = _altered(built[0], contracts,
                   f"UPDATE hjertekom_end SET course_status = 'UNK' WHERE course_id = {a}",
                   f"UPDATE hjertekom_start SET smoking = 'DECL' WHERE course_id = {g}",
                   f"UPDATE hjertekom_end SET smoking = 'NA' WHERE course_id = {m}")
    df = compute(con, SETTINGS, levels=["municipality"], reference=TODAY)
    k1, k4 = row(df, "K1", OWN), row(df, "K4", OWN)
    assert (k1["numerator"], k1["denominator"], k1["unknown"]) == (5, 10, 1)      # A: status unknown
    # K4 was 3/6, 1 unknown, 1 excluded: G (daily, not met) is excluded now, M (met) unknown.
    assert (k4["numerator"], k4["denominator"], k4["unknown"], k4["excluded"]) == (2, 5, 2, 2)
    assert set(SETTINGS_DECLARATIONS().unknown_codes) == {"UNK", "NA", "DECL"}


def SETTINGS_DECLARATIONS():  # noqa: N802 - reads as the constant it stands for
    from hjertekom_core.indicators.counting import declarations_of

    return declarations_of(SETTINGS)


def test_k6_counts_a_hads_depression_score_not_a_status(result: pd.DataFrame,
                                                        built: tuple[Store, dict[str, Made]],
                                                        snap: duckdb.DuckDBPyConnection) -> None:
    p2 = built[1]["P2_no_hads_depression"].course_id
    status, score = snap.execute("SELECT start_hads_status, start_hads_depression FROM course_facts "
                                 f"WHERE course_id = {p2}").fetchone()
    assert (status, score) == ("completed", None)   # completed, but seven depression items "uoplyst"
    r = row(result, "K6", CAPITAL)
    assert (r["numerator"], r["denominator"], r["unknown"]) == (1, 2, 0)


def test_every_participating_municipality_is_in_every_table(result: pd.DataFrame, sqlite_store: Store,
                                                             contracts: ContractRegistry) -> None:
    """Aarhus and København have nothing to count in 2026: they still have a row, 0/0, no data."""
    for unit in (OTHER, CAPITAL):
        for ind in IDS:
            r = row(result, ind, unit, "2026")
            assert (r["numerator"], r["denominator"], r["status"]) == (0, 0, "no_data")
    # A municipality whose only course never started takes part (it has a course) with 0/0.
    svc = service(sqlite_store, contracts)
    add_course(svc, 1)
    add_course(svc, 2, municipality=OTHER, start=None, end=None)
    with memory_snapshot(sqlite_store, contracts) as con:
        df = compute(con, SETTINGS, levels=["municipality"], reference=TODAY)
    assert {(r.unit, r.period) for r in df.itertuples()} == {("740", "2025"), ("751", "2025")}
    r = row(df, "K1", OTHER)
    assert (r["denominator"], r["status"]) == (0, "no_data")


# --- texts and declarations --------------------------------------------------------------------------------

def _labels(conditions: object, lang: str) -> list[str]:
    out = []
    for cond in conditions:  # type: ignore[attr-defined]
        out += [cond.label.get(lang)] if cond.label is not None else _labels(cond.children, lang)
    return out


@pytest.mark.parametrize("indicator", INDICATORS, ids=lambda i: i.id)
def test_the_texts_say_what_is_computed(indicator: Indicator) -> None:
    """Numerator and denominator texts are made of the labels of the very conditions the engine
    computes, in both languages: no text can claim what the computation does not do."""
    decl = indicator.declaration
    for lang in ("da", "en"):
        numerator, denominator = indicator.numerator_text.get(lang), indicator.denominator_text.get(lang)
        for label in _labels((*decl.determinable_when, *decl.numerator), lang):
            assert label in numerator
        for label in _labels(decl.denominator, lang):
            assert label in denominator
        assert indicator.population_label.get(lang) in denominator
    assert "{limit}" not in indicator.describe("da", SETTINGS)


def test_k1_says_what_k1_counts() -> None:
    k1 = INDICATORS[0]
    assert k1.id == "K1" and "startede forløbet" not in k1.denominator_text.da
    assert k1.describe("da", IndicatorSettings(completion_limit_days=150)) == (
        "K1 Vedholdenhed: afsluttet, med forløbsstatus gennemført, under 150 dage efter den afklarende samtale / "
        "Forløb med færdigregistreret afklarende samtale, som er færdigregistreret afsluttet, eller hvor der er "
        "gået mindst 150 dage siden den afklarende samtale")


def test_k3s_test_types_are_declared_data(tmp_path: Path, snap: duckdb.DuckDBPyConnection) -> None:
    """K3's tests are in the YAML: declaring the chair-stand test too makes course M count."""
    from hjertekom_core.indicators.declarations import load

    folder = _contracts_copy(tmp_path)
    path = folder / "hjertekom" / "indicators.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("results: {six_minute_walk: walk_6min_m, watt: ergometer_watt}",
                        "results: {six_minute_walk: walk_6min_m, watt: ergometer_watt, chair_stand_30s: chair_stand_30s}")
    text = text.replace("codes: [watt, six_minute_walk]", "codes: [watt, six_minute_walk, chair_stand_30s]")
    path.write_text(text, encoding="utf-8")
    settings = IndicatorSettings(standards=STANDARDS, clusters=CLUSTERS, declarations=load(path))
    r = row(compute(snap, settings, levels=["municipality"], indicators=["K3"], reference=TODAY), "K3", OWN)
    assert (r["numerator"], r["denominator"], r["unknown"]) == (3, 7, 3)  # M: 10 -> 14 chair stands, +40 %


def _contracts_copy(tmp_path: Path) -> Path:
    from hjertekom_core.indicators.declarations import DEFAULT_CONTRACTS_DIR

    folder = tmp_path / "data_contracts"
    shutil.copytree(DEFAULT_CONTRACTS_DIR, folder)
    return folder


def test_the_declarations_agree_with_the_contract(contracts: ContractRegistry) -> None:
    from hjertekom_core.indicators.declarations import load_registry_declarations

    decl = load_registry_declarations(contracts)["hjertekom"]
    assert [i.id for i in decl.indicators] == list(IDS)


@pytest.mark.parametrize(("change", "where", "reason"), [
    (("field: smoking\n    type: code", "field: smokes\n    type: code"), "facts, start_smoking", "no field"),
    (("population: finished\n    period_date: outcome_date\n    denominator:\n      - {fact: sessions_planned",
      "population: finishd\n    period_date: outcome_date\n    denominator:\n      - {fact: sessions_planned"),
     "indicator K2", "unknown population"),
    (("{fact: end_smoking, equals: former,", "{fact: end_smoking, equal: former,"), "indicator K4", ""),
    (("ge: {setting: completion_limit_days}}", "ge: {setting: completion_limit}}"), "indicator K1", "unknown setting"),
])
def test_a_broken_declaration_says_where_and_why(tmp_path: Path, contracts: ContractRegistry,
                                                 change: tuple[str, str], where: str, reason: str) -> None:
    from hjertekom_core.indicators.declarations import load

    folder = _contracts_copy(tmp_path)
    path = folder / "hjertekom" / "indicators.yaml"
    text = path.read_text(encoding="utf-8")
    old, new = (c.replace("\\n", "\n") for c in change)
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ContractError) as caught:
        load(path, contracts["hjertekom"])
    message = str(caught.value)
    assert str(path) in message and reason in message
    assert where.split(",")[0] in message or "indicators" in message


MADE_UP = """
programme: moeva
version: "0.1.0"
facts:
  started: {label: {da: "start færdig", en: "start complete"}, complete: begin}
  ended: {label: {da: "slut færdig", en: "end complete"}, complete: finish}
  end_date: {label: {da: "slutdato", en: "end date"}, form: finish, field: visit_date, type: date}
  walked: {label: {da: "gik dagligt", en: "walked daily"}, form: finish, field: walks, type: code}
  steps: {label: {da: "skridt", en: "steps"}, form: begin, field: steps, type: number}
populations:
  finished:
    label: {da: "Afsluttede forløb", en: "Finished courses"}
    when: [{fact: started, is: true}, {fact: ended, is: true}]
indicators:
  - id: M1
    name: {da: "Daglig gang", en: "Daily walks"}
    population: finished
    period_date: end_date
    denominator:
      - {fact: steps, lt: 5000, label: {da: "med under 5000 skridt ved start", en: "below 5000 steps at the start"}}
    numerator:
      - {fact: walked, equals: "yes", label: {da: "gik dagligt ved slut", en: "walked daily at the end"}}
"""


def test_a_second_programme_declares_its_own_indicator_without_code(tmp_path: Path) -> None:
    """A made-up programme: its indicator YAML in a folder of its own, computed on a small fixture
    laid out like a snapshot (courses, municipalities and one table per form)."""
    from hjertekom_core.indicators.declarations import load

    root = tmp_path / "contracts"
    (root / "moeva").mkdir(parents=True)
    (root / "codelists").mkdir()
    shutil.copy(Path(__file__).parents[1] / "data_contracts" / "indicators.schema.yaml", root)
    (root / "codelists" / "missing_reason.yaml").write_text(
        "name: missing_reason\ncodes:\n  - {code: UNK}\n  - {code: NOPE}\n", encoding="utf-8")
    (root / "moeva" / "indicators.yaml").write_text(MADE_UP, encoding="utf-8")
    decl = load(root / "moeva" / "indicators.yaml")
    assert decl.unknown_codes == ("UNK", "NOPE")
    con = duckdb.connect()
    con.execute("CREATE TABLE courses (course_id BIGINT, programme VARCHAR, municipality_code INTEGER)")
    con.execute("CREATE TABLE municipalities (code INTEGER, name VARCHAR, region_code INTEGER, region VARCHAR)")
    con.execute("INSERT INTO municipalities VALUES (740, 'Silkeborg', 1082, 'Midtjylland')")
    con.execute("CREATE TABLE moeva_begin (course_id BIGINT, status VARCHAR, steps INTEGER)")
    con.execute("CREATE TABLE moeva_finish (course_id BIGINT, status VARCHAR, visit_date DATE, walks VARCHAR)")
    rows = [  # course: steps at the start, end status, end date, walks daily
        (1, 3000, "complete", "2024-03-01", "yes"), (2, 4000, "complete", "2024-05-01", "no"),
        (3, 4500, "complete", "2024-06-01", "NOPE"), (4, 8000, "complete", "2024-06-01", "yes"),
        (5, None, "complete", "2024-06-01", "yes"), (6, 1000, "draft", "2024-06-01", "yes")]
    for cid, steps, status, date, walks in rows:
        con.execute("INSERT INTO courses VALUES (?, 'moeva', 740)", [cid])
        con.execute("INSERT INTO moeva_begin VALUES (?, 'complete', ?)", [cid, steps])
        con.execute("INSERT INTO moeva_finish VALUES (?, ?, ?, ?)", [cid, status, date, walks])
    settings = IndicatorSettings(standards={"M1": 0.5}, declarations=decl)
    df = compute(con, settings, levels=["municipality"], reference=dt.date(2025, 1, 1))
    r = row(df, "M1", 740, "2024")
    # 1-3 below 5000 steps (3 walks "NOPE": unknown), 4 not, 5 steps blank (excluded), 6 a draft end.
    assert (r["numerator"], r["denominator"], r["unknown"], r["excluded"], r["status"]) == (1, 3, 1, 1, "not_met")
    assert INDICATORS[0].id == "K1"  # hjertekom's declarations are untouched


# --- the snapshot's facts table ---------------------------------------------------------------------------

def test_the_snapshots_facts_table_gives_the_same_numbers_as_the_raw_tables(
        built: tuple[Store, dict[str, Made]], contracts: ContractRegistry, tmp_path: Path) -> None:
    """Snapshots hold each course's facts, written from the declarations when the snapshot is made;
    recomputing everything from the raw tables (the same file without that table) gives identical
    results, and a facts table from other declarations is not used."""
    from hjertekom_core.indicators.facts import facts_relation, facts_select, facts_table

    info = create_snapshot(built[0], contracts, tmp_path / "snapshots")
    table = facts_table("hjertekom")
    with duckdb.connect(str(info.path), read_only=True) as con:
        decl = SETTINGS_DECLARATIONS()
        assert facts_relation(con, decl) == f'"{table}"'
        stored = con.execute(f'SELECT * FROM "{table}" ORDER BY course_id').df()
        raw = con.execute(f"SELECT * FROM ({facts_select(decl)}) ORDER BY course_id").df()
        pd.testing.assert_frame_equal(stored, raw)
        assert str(stored["start_smoking"].dtype) == "category"  # the ENUM columns stay ENUMs
        with_table = {p: compute(con, SETTINGS, period=p) for p in ("year", "quarter", "month")}
    copy = tmp_path / "copy.duckdb"
    shutil.copy(info.path, copy)
    with duckdb.connect(str(copy)) as con:
        # Another declaration's table: wrong numbers in it, and not used.
        con.execute(f'UPDATE "{table}" SET started = false')
        con.execute(f"COMMENT ON TABLE \"{table}\" IS 'hjertekom indicator facts 0000'")
        assert facts_relation(con, SETTINGS_DECLARATIONS()).startswith("(SELECT")
        for p, expected in with_table.items():
            pd.testing.assert_frame_equal(compute(con, SETTINGS, period=p), expected)
        con.execute(f'DROP TABLE "{table}"')
        for p, expected in with_table.items():
            pd.testing.assert_frame_equal(compute(con, SETTINGS, period=p), expected)


def test_in_the_demo_every_course_past_the_limit_is_in_k1(demo_snapshot: Path) -> None:
    """The demo has citizens who stopped coming and were never closed off: every course with a
    complete start 180 days or more before the snapshot's date is in K1's denominator, ended or not."""
    with duckdb.connect(str(demo_snapshot), read_only=True) as con:
        create_fact_views(con)
        reference = reference_date(con)
        open_past_limit, ended = con.execute(
            "SELECT count_if(NOT ended AND start_date + 180 <= ?::DATE), count_if(ended) FROM course_facts "
            "WHERE started AND NOT impossible", [reference]).fetchone()
        df = compute(con, IndicatorSettings(), levels=["national"], indicators=["K1"])
    assert open_past_limit > 0, "the demo has courses that never ended"
    assert int(df["denominator"].sum()) == ended + open_past_limit


# --- what the report's data-completeness section shows -------------------------------------------------

def test_impossible_data_is_counted_nowhere_and_listed(built: tuple[Store, dict[str, Made]],
                                                        contracts: ContractRegistry) -> None:
    """An end meeting before the start meeting, and a complete end registration without a date
    (data the forms refuse today, but an import or an older contract may hold)."""
    from hjertekom_core.indicators.data_quality import IMPOSSIBLE_COLUMNS, impossible_courses

    made = built[1]
    a, c = made["A_base"].course_id, made["C_179_days"].course_id
    con = _altered(built[0], contracts,
                   f"UPDATE hjertekom_end SET meeting_date = DATE '2025-01-01' WHERE course_id = {a}",
                   f"UPDATE hjertekom_end SET meeting_date = NULL WHERE course_id = {c}")
    listed = impossible_courses(con)
    assert list(listed.columns) == IMPOSSIBLE_COLUMNS
    assert [(r.course_id, r.municipality_code, r.rule) for r in listed.itertuples()] == [
        (a, OWN, "end_before_start"), (c, OWN, "end_without_date")]
    assert listed["label_da"].iloc[0] == "Afslutningen er dateret før den afklarende samtale"
    df = compute(con, SETTINGS, levels=["municipality"], reference=TODAY)
    assert (row(df, "K1", OWN)["numerator"], row(df, "K1", OWN)["denominator"]) == (4, 8)  # A and C were met
    assert row(df, "K5", OWN)["denominator"] == 6
    assert impossible_courses(memory_snapshot(built[0], contracts)).empty


def test_k3_courses_with_another_test_at_both_meetings_are_reported(snap: duckdb.DuckDBPyConnection) -> None:
    from hjertekom_core.indicators.data_quality import NOTE_COLUMNS, indicator_notes

    notes = indicator_notes(snap, SETTINGS, reference=TODAY)
    assert list(notes.columns) == NOTE_COLUMNS
    assert [(r.indicator, r.note, r.municipality_code, r.period, r.courses) for r in notes.itertuples()] == [
        ("K3", "other_test", OWN, "2025", 1)]  # M: chair stands at both meetings


def test_what_excluded_counts_is_said_per_indicator() -> None:
    from hjertekom_core.indicators.data_quality import exclusion_reasons

    reasons = exclusion_reasons()
    assert reasons["K2"].da == "planlagte træningsgange uoplyst"
    assert reasons["K4"].en == "smoking at the start meeting unknown"
    assert reasons["K3"].da == "fysisk træning tilbudt uoplyst"
    assert reasons["K1"].da == reasons["K5"].da == reasons["K6"].da == ""


def test_one_course_that_never_ended_counts_in_k1_once_the_limit_has_passed(contracts: ContractRegistry) -> None:
    """The entry app's view of one course: a start without an end is "not applicable" until 180
    days after the start meeting, then K1 "not met"; nothing else."""
    from hjertekom_core.indicators.course import course_criteria

    from factories import start_data

    contract = contracts["hjertekom"]
    forms = {"start": contract_clean(contract, start_data(meeting_date="17-02-2025"))}
    before = course_criteria(contract, forms, reference=dt.date(2025, 8, 15))
    after = course_criteria(contract, forms, reference=dt.date(2025, 8, 16))
    assert set(before.values()) == {"not_applicable"}
    assert after == {**before, "K1": "not_met"}


def contract_clean(contract: object, data: dict[str, object]) -> dict[str, object]:
    """The form's data as the service stores them (validated and typed)."""
    from hjertekom_core.validation import validate_form

    return validate_form(contract, "start", data, complete=True, today=TODAY).cleaned  # type: ignore[arg-type]
