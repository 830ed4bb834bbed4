"""Disclosure control (``hjertekom_core.disclosure``): no small count can be worked out from a table.

Hand-made tables first, where the attack is known by heart (a region with one suppressed member,
two equal suppressed members, a region and a cluster that overlap, a year and its quarters and
months, the viewer's own exact numbers, four "< 5" members of a "< 5" region); then a brute-force
reader over small random tables (every integer solution consistent with what is shown); then
every product that shows another unit, on demo data of three seeds, read back as published and
audited: the ``indicators`` command, an aggregate extract, the municipality report (the
municipality's edition and the one for publication) and the entry app's municipality feedback.
"""
from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
import os
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from hjertekom_core import disclosure
from hjertekom_core.access import SYSTEM
from hjertekom_core.bootstrap import Workspace, initialise, open_workspace
from hjertekom_core.cli import main
from hjertekom_core.config import Config
from hjertekom_core.demo import generate_demo
from hjertekom_core.disclosure import WITHHELD, Hierarchy, audit, protect
from hjertekom_core.export.extract import ExtractRequest, create_extract
from hjertekom_core.indicators import compute, settings_from_config
from indicator_fixtures import per_cell_suppression
from hjertekom_core.reports import html_parts
from hjertekom_core.reports.municipality import MunicipalityReport, build_municipality_report
from hjertekom_core.snapshot import create_snapshot
from hjertekom_widgets.feedback import municipality_feedback_html

from paths import CONTRACTS_DIR

SMALL = "< 5"
HJERTEKOM = str(Path(sys.executable).with_name("hjertekom"))
COUNTS = ("numerator", "denominator", "unknown")

#: Regions 1081 (101, 147, 151, 153) and 1082 (740, 751, 756, 760); cluster Vest overlaps both.
REGIONS = {101: 1081, 147: 1081, 151: 1081, 153: 1081, 740: 1082, 751: 1082, 756: 1082, 760: 1082}
HIERARCHY = Hierarchy.of(REGIONS, {"Vest": [151, 153, 740]})
ALL_LEVELS = ("municipality", "cluster", "region", "national")


def table(rows: list[tuple[str, str, str, int, int]], indicator: str = "K1", unknown: int = 0) -> pd.DataFrame:
    """An indicator result from (level, unit, period, numerator, denominator) rows."""
    df = pd.DataFrame(rows, columns=["level", "unit", "period", "numerator", "denominator"])
    df.insert(0, "indicator", indicator)
    df["unit_name"] = df["unit"]
    df["unknown"] = unknown
    with np.errstate(invalid="ignore", divide="ignore"):
        df["proportion"] = np.where(df["denominator"] > 0, df["numerator"] / df["denominator"], np.nan)
    df["ci_low"], df["ci_high"] = df["proportion"] - 0.1, df["proportion"] + 0.1
    df["standard"] = 0.5
    df["status"] = np.where(df["denominator"] == 0, "no_data", "met")
    return df


def rollup(members: dict[int, tuple[int, int]], period: str = "2025", hierarchy: Hierarchy = HIERARCHY,
           levels: tuple[str, ...] = ALL_LEVELS) -> pd.DataFrame:
    """Municipality rows and every aggregate of them, as compute() would give."""
    rows = [("municipality", str(m), period, n, d) for m, (n, d) in members.items()]
    for level in levels[1:]:
        units = sorted({u for m in members if (u := hierarchy.unit_of(m, level)) is not None})
        for unit in units:
            inside = [members[m] for m in members if hierarchy.unit_of(m, level) == unit]
            rows.append((level, unit, period, sum(n for n, _ in inside), sum(d for _, d in inside)))
    return table([r for r in rows if r[0] in levels])


def masked(df: pd.DataFrame, threshold: int = 5) -> pd.DataFrame:
    """The old rule: every count 1-4 of every unit as '< 5', nothing else hidden."""
    out = df.copy()
    for column in COUNTS:
        out[column] = [SMALL if 0 < v < threshold else v for v in df[column]]
    return out


def cell(df: pd.DataFrame, level: str, unit: str, column: str = "numerator", period: str = "2025") -> Any:
    found = df[(df["level"] == level) & (df["unit"] == unit) & (df["period"] == period)]
    assert len(found) == 1, (level, unit, period)
    return found.iloc[0][column]


# --- hand-made tables: each attack found, and closed ---------------------------------------------------------

def test_a_region_minus_its_shown_members_gives_the_suppressed_one_back() -> None:
    """The finding of issue 14: region 11 minus the shown members' 10 is the suppressed member's 1."""
    df = rollup({101: (1, 6), 147: (5, 5), 151: (5, 9), 153: (0, 0)}, levels=("municipality", "region"))
    leaks = audit(masked(df), HIERARCHY, complete=["municipality", "region"])
    assert [(lk.cell, lk.value, lk.method) for lk in leaks] == [(("municipality", "101", "2025"), 1, "difference")]
    assert {unit for _, (_, unit, _) in leaks[0].equation} == {"1081", "147", "151", "153"}
    assert "= 1 (difference" in leaks[0].describe()

    shown = protect(df, HIERARCHY, complete=["municipality", "region"])
    assert audit(shown, HIERARCHY, complete=["municipality", "region"]) == []
    assert cell(shown, "municipality", "101") == SMALL
    # The complement: the smallest shown count of at least 5 among the members, not the region.
    assert cell(shown, "municipality", "147") == WITHHELD and cell(shown, "region", "1081") == 11
    withheld = shown[shown["unit"] == "147"].iloc[0]
    assert withheld["status"] == disclosure.STATUS_WITHHELD and np.isnan(withheld["proportion"])
    assert withheld["denominator"] == 5  # only the count that gives the small one away is withheld
    assert np.isnan(withheld["ci_low"]) and np.isnan(withheld["ci_high"])
    assert cell(shown, "municipality", "151") == 5 and cell(shown, "municipality", "151", "status") == "met"


@pytest.mark.parametrize(("value", "shown_sum"), [(1, 2), (4, 8)])
def test_two_equal_suppressed_members_are_both_pinned_by_their_bounds(value: int, shown_sum: int) -> None:
    """Region minus the shown members is 2 (or 8): two cells of 1-4 can only be 1 and 1 (4 and 4)."""
    df = rollup({101: (value, 9), 147: (value, 9), 151: (6, 9), 153: (7, 9)}, levels=("municipality", "region"))
    leaks = audit(masked(df), HIERARCHY, complete=["municipality", "region"])
    assert {(lk.cell[1], lk.value, lk.method) for lk in leaks if lk.cell} == {("101", value, "bounds"),
                                                                             ("147", value, "bounds")}
    shown = protect(df, HIERARCHY, complete=["municipality", "region"])
    assert audit(shown, HIERARCHY, complete=["municipality", "region"]) == []
    assert cell(shown, "municipality", "151") == WITHHELD  # 6: the smallest shown member


def test_unequal_suppressed_members_need_no_complement() -> None:
    df = rollup({101: (1, 9), 147: (3, 9), 151: (6, 9), 153: (7, 9)}, levels=("municipality", "region"))
    assert audit(masked(df), HIERARCHY, complete=["municipality", "region"]) == []  # 1 + 3 = 4: 1-3 each
    shown = protect(df, HIERARCHY, complete=["municipality", "region"])
    assert WITHHELD not in set(shown["numerator"])


def test_an_overlapping_cluster_gives_away_what_the_region_protects() -> None:
    """Region 1081 has two suppressed members, but cluster Vest (151, 153 and 740 of the other region)
    minus its shown members leaves one: 153's 2."""
    df = rollup({101: (3, 9), 147: (9, 9), 151: (8, 9), 153: (2, 9), 740: (6, 9), 751: (7, 9), 756: (5, 9),
                 760: (9, 9)})
    leaks = audit(masked(df), HIERARCHY, complete=ALL_LEVELS)
    assert {(lk.cell[1], lk.value) for lk in leaks if lk.cell} == {("153", 2), ("101", 3)}
    via_cluster = next(lk for lk in leaks if lk.cell and lk.cell[1] == "153")
    assert ("cluster", "Vest", "2025") in [key for _, key in via_cluster.equation]
    shown = protect(df, HIERARCHY, complete=ALL_LEVELS)
    assert audit(shown, HIERARCHY, complete=ALL_LEVELS) == []
    # Withheld: 740's 6, the smallest count of at least 5 in the cluster, and then 756's 5,
    # since region 1082 minus its shown members would give Silkeborg's 6 back. 101 is safe with 153.
    hidden = {u for u, v in zip(shown["unit"], shown["numerator"], strict=True) if v == WITHHELD}
    assert hidden == {"740", "756"}


def test_the_region_minus_the_cluster_is_a_group_that_may_not_be_small() -> None:
    """An extract: the own municipality exactly, its cluster and its region, no other municipality.
    Region 1082 minus cluster Vest's part in it (740) is the other three members together: 3."""
    df = rollup({740: (6, 8), 751: (1, 5), 756: (2, 5), 760: (0, 5), 151: (9, 9), 153: (7, 9)})
    extract = (df["level"] != "municipality") | (df["unit"] == "740")
    leaks = audit(masked(df)[extract], HIERARCHY, own=[740])
    assert [(lk.cell, sorted(lk.group), lk.value) for lk in leaks] == [
        (None, [(751, "2025"), (756, "2025"), (760, "2025")], 3)]
    assert "unpublished group" in leaks[0].describe()
    shown = protect(df, HIERARCHY, own=[740], published=extract)
    assert len(shown) == extract.sum() and audit(shown, HIERARCHY, own=[740]) == []
    assert cell(shown, "municipality", "740") == 6  # the own municipality stays exact
    assert WITHHELD in {cell(shown, "region", "1082"), cell(shown, "cluster", "Vest"), cell(shown, "national", "DK")}


def test_the_own_exact_number_is_an_equation_too() -> None:
    """Region 1082 = Silkeborg (own, exact 3) + Aarhus (4): 7 - 3 would be Aarhus's 4. To anyone
    else both are '< 5', and 7 = 3 + 4 = 4 + 3 leaves each open."""
    df = rollup({740: (3, 8), 751: (4, 5)}, levels=("municipality", "region"))
    assert audit(masked(df), HIERARCHY, complete=["municipality", "region"]) == []
    seen_from_silkeborg = masked(df).assign(numerator=[3, SMALL, 7])
    leaks = audit(seen_from_silkeborg, HIERARCHY, own=[740], complete=["municipality", "region"])
    assert [(lk.cell, lk.value) for lk in leaks] == [(("municipality", "751", "2025"), 4)]
    shown = protect(df, HIERARCHY, own=[740], complete=["municipality", "region"])
    assert [cell(shown, "municipality", "740"), cell(shown, "municipality", "751"), cell(shown, "region", "1082")] \
        == [3, SMALL, WITHHELD]
    assert audit(shown, HIERARCHY, own=[740], complete=["municipality", "region"]) == []
    assert cell(protect(df, HIERARCHY, complete=["municipality", "region"]), "region", "1082") == 7


def test_a_municipality_of_only_own_courses_is_no_secret_to_its_viewer() -> None:
    """Region = own + nothing: the region's '< 5' is the own count, known to the viewer anyway."""
    df = rollup({740: (3, 8)}, levels=("municipality", "region"))
    shown = protect(df, HIERARCHY, own=[740], complete=["municipality", "region"])
    assert [cell(shown, "municipality", "740"), cell(shown, "region", "1082")] == [3, SMALL]
    assert audit(shown, HIERARCHY, own=[740], complete=["municipality", "region"]) == []


def test_four_small_members_of_a_small_region_are_all_one() -> None:
    """Four counts of at least 1 in a region of at most 4: all are 1. No shown count helps; the
    region's '< 5' itself must go, withheld as '..' (which says nothing of its size)."""
    df = rollup({101: (1, 9), 147: (1, 9), 151: (1, 9), 153: (1, 9)}, levels=("municipality", "region"))
    leaks = audit(masked(df), HIERARCHY, complete=["municipality", "region"])
    assert {lk.cell[1] for lk in leaks if lk.cell} == {"101", "147", "151", "153", "1081"}
    shown = protect(df, HIERARCHY, complete=["municipality", "region"])
    assert cell(shown, "region", "1081") == WITHHELD
    assert audit(shown, HIERARCHY, complete=["municipality", "region"]) == []


def test_a_year_minus_its_quarters_and_months() -> None:
    """One municipality's year with its quarters, and a quarter with its months, in one table."""
    rows = [("municipality", "740", "2025", 20, 30), ("municipality", "740", "2025-Q1", 2, 6),
            ("municipality", "740", "2025-Q2", 6, 8), ("municipality", "740", "2025-Q3", 5, 8),
            ("municipality", "740", "2025-Q4", 7, 8),
            ("municipality", "740", "2025-04", 0, 2), ("municipality", "740", "2025-05", 6, 6),
            ("municipality", "740", "2025-06", 0, 0)]
    df = table(rows)
    leaks = audit(masked(df), HIERARCHY)
    # Q1's numerator: the year minus the other quarters; April's denominator: Q2 minus May and June.
    assert sorted((lk.column, lk.cell[2], lk.value, lk.method) for lk in leaks if lk.cell) == [
        ("denominator", "2025-04", 2, "difference"), ("numerator", "2025-Q1", 2, "difference")]
    shown = protect(df, HIERARCHY)
    assert audit(shown, HIERARCHY) == []
    assert cell(shown, "municipality", "740", period="2025-Q1") == SMALL
    # The smallest other quarter of at least 5 is withheld; then Q2 = the shown months gives it back,
    # so a month goes as well.
    assert cell(shown, "municipality", "740", period="2025-Q3") == WITHHELD
    # A year with its months (no quarters): several small months protect each other, one alone does not.
    months = [("municipality", "740", f"2025-{m:02d}", n, 8) for m, n in
              ((1, 1), (2, 0), (3, 1), (4, 0), (5, 6), (6, 0), (7, 2), (8, 0), (9, 3), (10, 0), (11, 7), (12, 0))]
    by_month = table([("municipality", "740", "2025", 20, 96), *months])
    assert [lk for lk in audit(masked(by_month), HIERARCHY) if lk.column == "numerator"] == []  # 1 + 1 + 2 + 3
    one_small = by_month.assign(numerator=[20, 0, 0, 2, 0, 6, 0, 5, 0, 0, 0, 7, 0])
    leaks = audit(masked(one_small), HIERARCHY)
    assert [(lk.cell[2], lk.value) for lk in leaks if lk.column == "numerator"] == [("2025-03", 2)]
    assert audit(protect(one_small, HIERARCHY), HIERARCHY) == []


def test_a_linked_row_hides_numerator_and_denominator_together() -> None:
    """A funnel plot point shows both counts or neither."""
    df = rollup({101: (1, 6), 147: (5, 5), 151: (5, 9), 153: (0, 0)}, levels=("municipality", "region"))
    shown = protect(df, HIERARCHY, complete=["municipality", "region"], linked=["municipality"])
    for unit in ("101", "147"):
        assert {cell(shown, "municipality", unit), cell(shown, "municipality", unit, "denominator")} <= {SMALL, WITHHELD}
    assert audit(shown, HIERARCHY, complete=["municipality", "region"]) == []


def test_a_cell_that_is_not_published_is_none_and_not_protected() -> None:
    df = rollup({101: (1, 6), 147: (5, 5)}, levels=("municipality", "region"))
    published = pd.DataFrame({"numerator": True, "denominator": True, "unknown": df["level"] == "region"},
                             index=df.index)
    shown = protect(df, HIERARCHY, complete=["municipality"], published=published)
    assert shown["unknown"].tolist() == [None, None, 0]


def test_audit_reads_only_published_marks() -> None:
    with pytest.raises(ValueError, match="not a count"):
        audit(table([("municipality", "740", "2025", 1, 5)]).assign(numerator="x"), HIERARCHY)
    with pytest.raises(ValueError, match="not in the hierarchy"):
        protect(table([("region", "9999", "2025", 1, 5)]), HIERARCHY, complete=["region"])


# --- a brute-force reader on small random tables ---------------------------------------------------------------

SMALL_REGIONS = {1: 10, 2: 10, 3: 20, 4: 20}
SMALL_HIERARCHY = Hierarchy.of(SMALL_REGIONS, {"C": [2, 3]})


def _solutions(shown: pd.DataFrame, column: str, cap: int) -> dict[str, set[int]]:
    """Every value each hidden municipality count takes among the integer tables (0..cap per
    municipality) that agree with everything shown: counts, '< 5' = 1-4, '..' = any."""
    rows = {(r.level, r.unit): getattr(r, column) for r in shown.itertuples()}
    codes = sorted(SMALL_REGIONS)
    ranges = []
    for m in codes:
        v = rows.get(("municipality", str(m)), 0)
        ranges.append(range(1, 5) if v == SMALL else range(cap + 1) if v == WITHHELD else [int(v)])
    parents = [(key, v, [m for m in codes if SMALL_HIERARCHY.unit_of(m, key[0]) == key[1]])
               for key, v in rows.items() if key[0] != "municipality"]
    found: dict[str, set[int]] = {str(m): set() for m in codes}
    for combo in itertools.product(*ranges):
        values = dict(zip(codes, combo, strict=True))
        ok = True
        for _, v, members in parents:
            total = sum(values[m] for m in members)
            if (v == SMALL and not 0 < total < 5) or (not isinstance(v, str) and total != v):
                ok = False
                break
        if ok:
            for m in codes:
                found[str(m)].add(values[m])
    return found


@pytest.mark.parametrize("seed", range(40))
def test_no_suppressed_count_has_a_single_solution(seed: int) -> None:
    """Whatever protect() shows, a reader who tries every table that fits it finds at least two
    values for each suppressed municipality count; and what audit() reports on the unprotected
    table is what that reader finds."""
    rng = random.Random(seed)
    members = {m: (n, n + rng.choice([0, 0, 1, 4, 6])) for m in SMALL_REGIONS
               for n in [rng.choice([0, 1, 1, 2, 3, 4, 5, 6, 8, 11])]}
    df = rollup(members, hierarchy=SMALL_HIERARCHY)
    cap = 16
    for column in ("numerator", "denominator"):
        naive = masked(df)
        pinned = {m for m, values in _solutions(naive, column, cap).items()
                  if len(values) == 1 and naive.set_index("unit").loc[m, column] == SMALL}
        reported = {lk.cell[1] for lk in audit(naive, SMALL_HIERARCHY, complete=ALL_LEVELS)
                    if lk.column == column and lk.cell and lk.cell[0] == "municipality"}
        assert reported == pinned, (seed, column, members)
    shown = protect(df, SMALL_HIERARCHY, complete=ALL_LEVELS)
    assert audit(shown, SMALL_HIERARCHY, complete=ALL_LEVELS) == []
    for column in ("numerator", "denominator"):
        solutions = _solutions(shown, column, cap)
        by_unit = shown[shown["level"] == "municipality"].set_index("unit")[column]
        for unit, value in by_unit.items():
            if value == SMALL:
                assert len(solutions[unit]) > 1, (seed, column, unit, members)


# --- the products, on demo data of three seeds ------------------------------------------------------------------

CLUSTERS = "clusters:\n  Vest: [657, 661, 665, 671, 756, 760, 779]\n  Trekant: [607, 621, 630, 540]\n"


@dataclass
class Demo:
    ws: Workspace
    snapshot: Path
    env: dict[str, str]
    hierarchy: Hierarchy
    yearly: pd.DataFrame

    @property
    def settings(self) -> Any:
        return settings_from_config(self.ws.config)


@pytest.fixture(scope="module", params=[1, 2, 3], ids=lambda s: f"seed{s}")
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """A small demo store (1,500 citizens) of one seed, its snapshot, and two clusters (one across
    two regions)."""
    folder = tmp_path_factory.mktemp(f"disclosure-{request.param}")
    clusters = folder / "clusters.yaml"
    clusters.write_text(CLUSTERS, encoding="utf-8")
    ws = open_workspace(Config(data_dir=folder, contracts_dir=CONTRACTS_DIR, clusters_file=clusters))
    initialise(ws)
    generate_demo(ws, 1500, seed=request.param)
    snapshot = create_snapshot(ws.store, ws.contracts, folder / "snapshots").path
    env = {"HJERTEKOM_DATA_DIR": str(folder), "HJERTEKOM_CLUSTERS_FILE": str(clusters),
           "HJERTEKOM_CONTRACTS_DIR": str(CONTRACTS_DIR), "HJERTEKOM_LOG_FILE": str(folder / "log.txt"),
           "HJERTEKOM_REPORTS_DIR": str(folder / "reports")}
    settings = settings_from_config(ws.config)
    with duckdb.connect(str(snapshot), read_only=True) as con:
        hierarchy = Hierarchy.from_snapshot(con, settings.clusters)
        yearly = compute(con, settings, period="year")
    yield Demo(ws, snapshot, env, hierarchy, yearly)
    ws.store.dispose()


def _levels(frame: pd.DataFrame, hierarchy: Hierarchy) -> pd.Series:
    """The level of each unit of a CLI row (the command prints the unit, not the level)."""
    regions = set(hierarchy.regions.values())
    clusters = set(hierarchy.clusters.values())
    return frame["unit"].astype(str).map(lambda u: "national" if u == "DK" else "cluster" if u in clusters
                                         else "region" if u in regions else "municipality")


def _cli_json(demo: Demo, *args: str) -> pd.DataFrame:
    environ = {**os.environ, **demo.env}
    environ.pop("HJERTEKOM_DATABASE_URL", None)
    done = subprocess.run([HJERTEKOM, "indicators", "--snapshot", str(demo.snapshot), "--format", "json", *args],
                          capture_output=True, text=True, env=environ, timeout=300)
    assert done.returncode == 0, done.stderr
    frame = pd.DataFrame(json.loads(done.stdout))
    frame["unit"] = frame["unit"].astype(str)
    frame["period"] = frame["period"].astype(str)
    return frame.assign(level=_levels(frame, demo.hierarchy))


def test_old_per_cell_suppression_could_be_undone(demo: Demo) -> None:
    """Counts 1-4 as '< 5' and nothing more: the audit works many of them out (issue 14's finding)."""
    leaks = audit(per_cell_suppression(demo.yearly), demo.hierarchy, complete=ALL_LEVELS)
    assert any(lk.method == "difference" for lk in leaks)
    assert len({(lk.indicator, lk.cell) for lk in leaks if lk.cell}) > 10


@pytest.mark.parametrize(("period", "own"), [("year", None), ("year", "own"), ("quarter", None)])
def test_the_indicators_command_gives_nothing_away(demo: Demo, period: str, own: str | None) -> None:
    code = _busiest(demo)
    args = ["--period", period] + (["--for-municipality", str(code)] if own else [])
    shown = _cli_json(demo, *args)
    assert set(shown["numerator"].map(str)) >= {SMALL, WITHHELD}
    leaks = audit(shown, demo.hierarchy, own=[code] if own else (), complete=ALL_LEVELS)
    assert leaks == [], [lk.describe() for lk in leaks[:5]]
    if own:  # the own municipality exact, small counts included
        mine = shown[(shown["level"] == "municipality") & (shown["unit"] == str(code))]
        assert all(isinstance(v, int) for c in COUNTS for v in mine[c])


def _busiest(demo: Demo) -> int:
    with duckdb.connect(str(demo.snapshot), read_only=True) as con:
        return int(con.execute("SELECT municipality_code FROM courses GROUP BY 1 ORDER BY count(*) DESC, 1 "
                               "LIMIT 1").fetchone()[0])  # type: ignore[index]


def _small_municipality(demo: Demo, year: int, courses: int = 2) -> int:
    """A municipality with exactly ``courses`` finished courses in the year (the smallest count found)."""
    with duckdb.connect(str(demo.snapshot), read_only=True) as con:
        found = con.execute("""
            SELECT c.municipality_code, count(*) AS n FROM courses c
            JOIN hjertekom_start s ON s.course_id = c.course_id AND s.status = 'complete'
            JOIN hjertekom_end e ON e.course_id = c.course_id AND e.status = 'complete'
            WHERE year(e.meeting_date) = ? GROUP BY 1 HAVING count(*) >= ? ORDER BY n, 1 LIMIT 1""",
                            [year, courses]).fetchone()
    assert found is not None
    return int(found[0])


def _year(demo: Demo) -> str:
    """The last full year of the demo data."""
    return str(dt.date.today().year - 1)


def _read_extract_csv(path: Path) -> pd.DataFrame:
    with open(path / "indicators.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    frame = pd.DataFrame(rows)
    for column in COUNTS:
        frame[column] = frame[column].map(lambda v: v if v in (SMALL, WITHHELD) else None if v == "" else int(v))
    return frame


def test_an_aggregate_extract_gives_nothing_away(demo: Demo, tmp_path: Path) -> None:
    code = _busiest(demo)
    result = create_extract(demo.ws, SYSTEM, ExtractRequest(municipality=code, fmt="csv", snapshot=demo.snapshot,
                                                             out_dir=tmp_path))
    shown = _read_extract_csv(result.path)
    assert set(shown["level"]) == set(ALL_LEVELS) - ({"cluster"} if code not in demo.hierarchy.clusters else set())
    leaks = audit(shown, demo.hierarchy, own=[code])
    assert leaks == [], [lk.describe() for lk in leaks[:5]]
    # The marks of hidden counts are kept beside them, for Parquet readers.
    marks = shown[[f"{c}_mark" for c in COUNTS]].stack()
    assert set(marks[marks != ""]) <= {SMALL, WITHHELD}


def _report_table(report: MunicipalityReport, yearly: pd.DataFrame) -> pd.DataFrame:
    """What the report's year shows, as one indicator table: the own row, the comparison's units
    and every funnel point (a municipality not drawn is a hidden count, '..': the reader is not told
    why)."""
    rows = [report.indicators.assign(level="municipality", unit=str(report.municipality))]
    rows.append(report.comparison[~report.comparison["own"]])
    others = yearly[(yearly["level"] == "municipality") & (yearly["period"] == report.period)
                    & (yearly["unit"] != str(report.municipality))]
    for ind, funnel in report.funnels.items():
        points = funnel.points.set_index("unit")
        part = others[others["indicator"] == ind].copy()
        drawn = part["unit"].isin(points.index)
        part["numerator"] = [points.loc[u, "numerator"] if d else WITHHELD for u, d in zip(part["unit"], drawn)]
        part["denominator"] = [points.loc[u, "denominator"] if d else WITHHELD
                               for u, d in zip(part["unit"], drawn)]
        part["unknown"] = None
        rows.append(part)
    frame = pd.concat(rows, ignore_index=True)
    frame["unit"] = frame["unit"].astype(str)
    return frame[["indicator", "level", "unit", "period", *COUNTS]]


@pytest.mark.parametrize("publish", [False, True], ids=["own-edition", "publication"])
def test_the_municipality_report_gives_nothing_away(demo: Demo, publish: bool) -> None:
    year = _year(demo)
    for code in (_busiest(demo), _small_municipality(demo, int(year))):
        report = build_municipality_report(demo.snapshot, code, year, config=demo.ws.config, publish=publish)
        shown = _report_table(report, demo.yearly)
        own = () if publish else (code,)
        leaks = audit(shown, demo.hierarchy, own=own, complete=[("municipality", "year")])
        assert leaks == [], [lk.describe() for lk in leaks[:5]]


def test_a_published_report_of_a_small_municipality_shows_no_small_count(demo: Demo) -> None:
    """Two finished courses: the municipality's own edition shows 2 and a status; the edition for
    publication shows no count from 1 to 4 anywhere, and no status, share or change for them."""
    year = _year(demo)
    code = _small_municipality(demo, int(year))
    own_edition = build_municipality_report(demo.snapshot, code, year, config=demo.ws.config)
    k1 = own_edition.indicators.set_index("indicator").loc["K1"]
    assert 0 < k1["denominator"] < 5 and k1["status"] not in ("suppressed", "no_data")

    published = build_municipality_report(demo.snapshot, code, year, config=demo.ws.config, publish=True)
    page = "".join(html_parts.render(published))
    numbers = re.findall(r'<td class="num"[^>]*data-field="(\w+)"[^>]*>([^<]*)</td>', page)
    assert numbers and not [(f, v) for f, v in numbers if v in {"1", "2", "3", "4"}]
    own = published.indicators.set_index("indicator")
    assert (own["status"].isin(["suppressed", disclosure.STATUS_WITHHELD, "no_data"])).all()
    assert own["proportion"].isna().all()
    assert "Udgave til offentliggørelse" in page
    changes = published.changes
    assert changes["mean_change"].isna().all() and set(changes["n"].map(str)) <= {SMALL, "0"}
    for total in published.key_figures.total.values():
        assert total in (0, SMALL, WITHHELD) or total >= 5
    # The funnel plot does not draw the municipality, and the run charts have no point of fewer than 5.
    assert not published.funnels["K1"].points["own"].any()
    assert published.run_charts["K1"].own["proportion"].isna().all()


def test_the_report_command_makes_the_edition_for_publication(demo: Demo, tmp_path: Path) -> None:
    year = _year(demo)
    code = _small_municipality(demo, int(year))
    env = {**demo.env, "HJERTEKOM_REPORTS_DIR": str(tmp_path)}
    result = CliRunner().invoke(main, ["report", "municipality", "--municipality", str(code), "--period", year,
                                       "--snapshot", str(demo.snapshot), "--format", "html", "--publish"], env=env)
    assert result.exit_code == 0, result.output
    (page_file,) = (tmp_path / year).glob(f"{code}-*-offentlig.html")
    page = page_file.read_text(encoding="utf-8")
    assert "Udgave til offentliggørelse" in page
    numbers = re.findall(r'<td class="num"[^>]*data-field="(\w+)"[^>]*>([^<]*)</td>', page)
    assert numbers and not [(f, v) for f, v in numbers if v in {"1", "2", "3", "4"}]
    # The municipality's own edition is neither replaced nor made.
    assert [p.name for p in (tmp_path / year).glob(f"{code}-*.html") if not p.stem.endswith("-offentlig")] == []


def test_the_municipality_feedback_protects_another_unit() -> None:
    """The entry app shows the user's own municipality; given another unit, it is protected."""
    df = rollup({740: (6, 8), 751: (4, 5)}, levels=("municipality", "region"))
    two = Hierarchy.of({740: 1082, 751: 1082})  # the region is these two: 10 - 6 would be Aarhus's 4
    page = municipality_feedback_html(df, own=[740], hierarchy=two)
    assert "&lt; 5 / 5" in page and f"{WITHHELD} / 13" in page and "6 / 8" in page
    assert disclosure.STATUS_LABELS[disclosure.STATUS_WITHHELD].da in page
    only_own = municipality_feedback_html(df[df["unit"] == "740"], own=[740])
    assert "6 / 8" in only_own and WITHHELD not in only_own
