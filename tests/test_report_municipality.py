"""The municipality report (ledelsesinformation): real papermill runs on the demo snapshot, the
figures in the HTML against the indicator engine and against plain SQL on the snapshot, small-number
suppression in every view of another unit, the no-data report, bad parameters, and a small
hand-made snapshot (indicator_fixtures) where the suppression cases are known by heart.

Demo dates are relative to today, so the period and the municipality are chosen from the snapshot
(the year with most finished courses, its busiest municipality) and every expectation is computed.
"""
from __future__ import annotations

import gc
import random
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from hjertekom_core.config import Config
from hjertekom_core.contract import ContractRegistry
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.errors import ReportFailed
from hjertekom_core.disclosure import WITHHELD, Hierarchy
from hjertekom_core.indicators import INDICATORS, compute, settings_from_config
from hjertekom_core.reports import html_parts
from hjertekom_core.reports.municipality import (
    MunicipalityReport,
    ReportInputError,
    UnknownMunicipality,
    build_municipality_report,
    quarters_ending,
    shown_to,
)
from hjertekom_core.reports.runner import KernelSession, execute, to_html
from hjertekom_core.snapshot import create_snapshot

import nbformat
from bs4 import BeautifulSoup

from factories import course_data
from indicator_fixtures import (
    CAPITAL,
    OWN,
    add_course,
    add_indicator_courses,
    per_cell_suppression,
    service,
    sqlite_store_at,
)
from paths import CONTRACTS_DIR

NOTEBOOK = "reports/municipality"
THRESHOLD = 5  # the default suppress_below; the notebook runs with the default configuration
SMALL = {str(n) for n in range(1, THRESHOLD)}


# --- reading the HTML back ---------------------------------------------------------------------------

class Cells(HTMLParser):
    """Every element with a data-field attribute: (attributes, text)."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[tuple[dict[str, str], str]] = []
        self._open: list[tuple[dict[str, str], list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if "data-field" in found:
            self._open.append((found, []))

    def handle_data(self, data: str) -> None:
        if self._open:
            self._open[-1][1].append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._open:
            attrs, text = self._open.pop()
            self.cells.append((attrs, "".join(text).strip()))


def cells(page: str, **match: str) -> list[tuple[dict[str, str], str]]:
    parser = Cells()
    parser.feed(page)
    return [(a, t) for a, t in parser.cells if all(a.get(f"data-{k}") == v for k, v in match.items())]


def cell(page: str, **match: str) -> str:
    found = cells(page, **match)
    assert len(found) == 1, (match, found)
    return found[0][1]


def danish_int(text: str) -> int:
    return int(text.replace(".", ""))


# --- the demo snapshot, its busiest year and municipality ---------------------------------------------

@pytest.fixture(scope="module")
def chosen(demo_snapshot: Path) -> tuple[str, int, str]:
    """(period, municipality code, name): the year with most finished courses and its busiest municipality."""
    with duckdb.connect(str(demo_snapshot), read_only=True) as con:
        year, code, name = con.execute("""
            WITH ended AS (
                SELECT year(e.meeting_date) AS y, c.municipality_code AS code
                FROM courses c
                JOIN hjertekom_start s ON s.course_id = c.course_id AND s.status = 'complete'
                JOIN hjertekom_end e ON e.course_id = c.course_id AND e.status = 'complete'),
            best_year AS (SELECT y FROM ended GROUP BY y ORDER BY count(*) DESC, y DESC LIMIT 1)
            SELECT e.y, e.code, m.name FROM ended e JOIN best_year USING (y) JOIN municipalities m ON m.code = e.code
            GROUP BY e.y, e.code, m.name ORDER BY count(*) DESC, e.code LIMIT 1""").fetchone()  # type: ignore[misc]
    return str(year), int(code), str(name)


def run(kernel: KernelSession, snapshot: Path, municipality: int, period: str, **more: str) -> nbformat.NotebookNode:
    """The notebook on the module's shared kernel; a socket left open would fail the test (its
    ResourceWarning is an error), hence the collection."""
    try:
        return execute(NOTEBOOK, {"snapshot": str(snapshot), "municipality": municipality, "period": period,
                                  **more}, session=kernel)
    finally:
        gc.collect()


@pytest.fixture(scope="module")
def kernel() -> Iterator[KernelSession]:
    with KernelSession() as session:
        yield session


@pytest.fixture(scope="module")
def page(kernel: KernelSession, demo_snapshot: Path, chosen: tuple[str, int, str]) -> str:
    period, code, name = chosen
    return to_html(run(kernel, demo_snapshot, code, period), f"Ledelsesinformation {name} {period}")


@pytest.fixture(scope="module")
def engine(demo_snapshot: Path) -> pd.DataFrame:
    """The indicator engine's own, unsuppressed yearly results on the demo snapshot."""
    settings = settings_from_config(Config(contracts_dir=CONTRACTS_DIR))
    with duckdb.connect(str(demo_snapshot), read_only=True) as con:
        return compute(con, settings, period="year")


def demo_config() -> Config:
    return Config(contracts_dir=CONTRACTS_DIR)


# --- the numbers in the HTML -------------------------------------------------------------------------

def test_own_indicators_equal_the_engine_exactly(page: str, engine: pd.DataFrame,
                                                 chosen: tuple[str, int, str]) -> None:
    period, code, _ = chosen
    mine = engine[(engine["level"] == "municipality") & (engine["unit"] == str(code)) & (engine["period"] == period)]
    assert len(mine) == len(INDICATORS)
    for row in mine.itertuples():
        for field in ("numerator", "denominator", "unknown"):
            # once in the indicator table, once in the comparison table: the same exact number
            shown = [t for _, t in cells(page, indicator=row.indicator, unit=str(code), field=field)]
            assert shown == [str(getattr(row, field))] * 2, (row.indicator, field, shown)
        expected = html_parts.fmt_pct(row.proportion)
        assert {t for _, t in cells(page, indicator=row.indicator, unit=str(code), field="proportion")} == {expected}
        assert {t for _, t in cells(page, indicator=row.indicator, unit=str(code), field="ci")} == {
            html_parts.fmt_ci(row.ci_low, row.ci_high)}


def test_other_units_show_the_engine_numbers_suppressed(page: str, engine: pd.DataFrame,
                                                        chosen: tuple[str, int, str]) -> None:
    """Cluster, region and nation: the engine's number where it may be shown, '< 5' where it is
    small, '..' where it would give a hidden count away (disclosure.protect; tests/test_disclosure.py
    audits the page's numbers)."""
    period, code, _ = chosen
    rows = engine[engine["period"] == period]
    others = [(a, t) for a, t in cells(page) if "data-indicator" in a and a["data-unit"] != str(code)]
    assert {a["data-unit"] for a, _ in others} >= {"DK"}
    checked = 0
    for attrs, text in others:
        field = attrs["data-field"]
        if field not in ("numerator", "denominator", "unknown"):
            continue
        unit_rows = rows[(rows["indicator"] == attrs["data-indicator"]) & (rows["unit"] == attrs["data-unit"])]
        true = int(unit_rows[field].iloc[0]) if len(unit_rows) else 0
        if text == WITHHELD:
            continue
        if 0 < true < THRESHOLD:
            assert text == "< 5"
        else:
            assert danish_int(text) == true, (attrs, text)
            checked += 1
    assert checked, "no exact number of another unit was compared"


def test_no_small_count_of_another_unit_appears(page: str, chosen: tuple[str, int, str]) -> None:
    _, code, _ = chosen
    others = [(a, t) for a, t in cells(page) if a.get("data-unit") not in (None, str(code))]
    assert others
    for attrs, text in others:
        if attrs["data-field"] in ("numerator", "denominator", "unknown"):
            assert text not in SMALL, (attrs, text)
    # a share of another unit is visible only where its denominator is shown and at least the threshold
    for attrs, text in others:
        if attrs["data-field"] == "proportion" and text != "–":
            den = cell(page, indicator=attrs["data-indicator"], unit=attrs["data-unit"], field="denominator")
            assert den not in ("< 5", "–") and danish_int(den) >= THRESHOLD


def test_key_figures_equal_sql_on_the_snapshot(page: str, demo_snapshot: Path, chosen: tuple[str, int, str]) -> None:
    period, code, _ = chosen
    with duckdb.connect(str(demo_snapshot), read_only=True) as con:
        referred, started, completed = con.execute("""
            SELECT count(*) FILTER (WHERE year(k.referral_date) = $y),
                   count(*) FILTER (WHERE s.status = 'complete' AND year(s.meeting_date) = $y),
                   count(*) FILTER (WHERE e.status = 'complete' AND e.course_status = 'completed'
                                    AND year(e.meeting_date) = $y)
            FROM courses c LEFT JOIN hjertekom_course k USING (course_id) LEFT JOIN hjertekom_start s USING (course_id)
            LEFT JOIN hjertekom_end e USING (course_id) WHERE c.municipality_code = $m""",
                                                  {"y": int(period), "m": code}).fetchone()  # type: ignore[misc]
        women = con.execute("""
            SELECT count(*) FROM courses c JOIN citizens p USING (citizen_id) JOIN hjertekom_course k USING (course_id)
            WHERE c.municipality_code = $m AND p.sex = 'F' AND year(k.referral_date) = $y""",
                            {"y": int(period), "m": code}).fetchone()[0]  # type: ignore[index]
    assert referred > 0
    assert danish_int(cell(page, dimension="total", key="total", field="referred")) == referred
    assert danish_int(cell(page, dimension="total", key="total", field="started")) == started
    assert danish_int(cell(page, dimension="total", key="total", field="completed")) == completed
    assert danish_int(cell(page, dimension="sex", key="F", field="referred")) == women
    by_age = sum(danish_int(t) for _, t in cells(page, dimension="age", field="started"))
    assert by_age == started  # every started course in exactly one age band (or "unknown")


def test_paired_changes_equal_sql(page: str, demo_snapshot: Path, chosen: tuple[str, int, str]) -> None:
    period, code, _ = chosen
    with duckdb.connect(str(demo_snapshot), read_only=True) as con:
        pairs = con.execute("""
            SELECT s.walk_6min_m AS s_walk, e.walk_6min_m AS e_walk, s.bp_systolic AS s_bp, e.bp_systolic AS e_bp
            FROM courses c JOIN hjertekom_start s USING (course_id) JOIN hjertekom_end e USING (course_id)
            WHERE c.municipality_code = $m AND s.status = 'complete' AND e.status = 'complete'
              AND year(e.meeting_date) = $y""", {"y": int(period), "m": code}).df()
    for measure, start, end, decimals in (("walk_6min_m", "s_walk", "e_walk", 0), ("bp_systolic", "s_bp", "e_bp", 0)):
        both = pairs.dropna(subset=[start, end])
        assert danish_int(cell(page, measure=measure, field="n")) == len(both)
        if len(both):
            change = float((both[end] - both[start]).mean())
            assert cell(page, measure=measure, field="mean_change") == html_parts.fmt_number(change, decimals,
                                                                                            signed=True)


def test_dropout_reasons_equal_sql(page: str, demo_snapshot: Path, chosen: tuple[str, int, str]) -> None:
    period, code, _ = chosen
    with duckdb.connect(str(demo_snapshot), read_only=True) as con:
        counts = dict(con.execute("""
            SELECT e.dropout_reason, count(*) FROM courses c JOIN hjertekom_end e USING (course_id)
            WHERE c.municipality_code = $m AND e.status = 'complete' AND e.course_status = 'dropped_out'
              AND year(e.meeting_date) = $y GROUP BY 1""", {"y": int(period), "m": code}).fetchall())
    if not counts:
        assert "Ingen forløb er ophørt før tid" in page
        return
    for reason, count in counts.items():
        assert danish_int(cell(page, dimension="dropout", key=reason, field="count")) == count
    assert danish_int(cell(page, dimension="dropout", key="total", field="count")) == sum(counts.values())


# --- the funnel plot -----------------------------------------------------------------------------------

def _svg_group(page: str, gid: str) -> str:
    start = page.find(f'<g id="{gid}">')
    if start < 0:
        return ""
    following = page.find("<g id=", start + 1 + len(gid))
    return page[start:following if following > 0 else None]


def test_funnel_draws_only_what_may_be_shown(page: str, engine: pd.DataFrame, chosen: tuple[str, int, str],
                                             demo_snapshot: Path) -> None:
    period, code, name = chosen
    rows = engine[(engine["level"] == "municipality") & (engine["period"] == period)]
    report = build_municipality_report(demo_snapshot, code, period, config=demo_config())
    suppressed_somewhere = False
    for ind in INDICATORS:
        data = report.funnels[ind.id]
        others = data.points[~data.points["own"]]
        truth = rows[rows["indicator"] == ind.id].set_index("unit")
        for point in others.itertuples():
            assert point.denominator >= THRESHOLD
            assert point.numerator == 0 or point.numerator >= THRESHOLD
            assert point.numerator == truth.loc[point.unit, "numerator"]  # drawn where it truly is
        with_data = int(((truth["denominator"] > 0) & (truth.index != str(code))).sum())
        assert len(others) + data.hidden == with_data
        suppressed_somewhere |= data.hidden > 0
        # the SVG has exactly these points: one marker per other municipality, the own one labelled
        assert _svg_group(page, f"hk-funnel-{ind.id}-others").count("<use") == len(others)
        own_den = int(truth.loc[str(code), "denominator"]) if str(code) in truth.index else 0
        assert _svg_group(page, f"hk-funnel-{ind.id}-own").count("<use") == (1 if own_den else 0)
    assert suppressed_somewhere, "the demo data should have small municipalities to hide"
    assert re.search(r"Antal ikke viste kommuner: K1 \d+", page)


def test_funnel_centre_is_the_national_share(engine: pd.DataFrame, chosen: tuple[str, int, str],
                                             demo_snapshot: Path) -> None:
    period, code, _ = chosen
    national = engine[(engine["level"] == "national") & (engine["period"] == period)].set_index("indicator")
    report = build_municipality_report(demo_snapshot, code, period, config=demo_config())
    shown = report.comparison[report.comparison["level"] == "national"].set_index("indicator")
    centred = 0
    for ind in INDICATORS:
        data = report.funnels[ind.id]
        if np.isnan(shown.loc[ind.id, "proportion"]):  # withheld (it would give a small count away)
            assert data.centre is None
            continue
        centred += 1
        assert data.centre == pytest.approx(national.loc[ind.id, "proportion"])
        low95, high95 = data.limits(np.array([20.0]), 0.95)
        low998, high998 = data.limits(np.array([20.0]), 0.998)
        assert low998[0] <= low95[0] <= data.centre <= high95[0] <= high998[0]
    assert centred


# --- run charts -------------------------------------------------------------------------------------------

def test_run_charts_cover_twenty_quarters_of_exact_own_numbers(demo_snapshot: Path,
                                                              chosen: tuple[str, int, str]) -> None:
    period, code, _ = chosen
    assert quarters_ending(2025) == [f"{y}-Q{q}" for y in range(2021, 2026) for q in (1, 2, 3, 4)]
    report = build_municipality_report(demo_snapshot, code, period, config=demo_config())
    settings = settings_from_config(demo_config())
    with duckdb.connect(str(demo_snapshot), read_only=True) as con:
        quarterly = compute(con, settings, period="quarter")
        yearly = compute(con, settings, period="year")
        hierarchy = Hierarchy.from_snapshot(con, settings.clusters)
    _, shown = shown_to(yearly, quarterly, hierarchy, code, period, quarters_ending(int(period)), report.cluster,
                        str(report.region_code), THRESHOLD)
    for ind in INDICATORS:
        chart = report.run_charts[ind.id]
        assert chart.quarters == quarters_ending(int(period))
        truth = quarterly[(quarterly["indicator"] == ind.id) & (quarterly["level"] == "municipality")
                          & (quarterly["unit"] == str(code))].set_index("period")
        for q, den in zip(chart.own["period"], chart.own["denominator"], strict=True):
            assert den == (truth.loc[q, "denominator"] if q in truth.index else 0)
        national = shown[(shown["indicator"] == ind.id) & (shown["level"] == "national")].set_index("period")
        for q, p in zip(chart.national["period"], chart.national["proportion"], strict=True):
            expected = national.loc[q, "proportion"] if q in national.index else np.nan
            assert (np.isnan(p) and np.isnan(expected)) or p == pytest.approx(expected)


# --- no data, bad parameters, self-contained ---------------------------------------------------------------

def test_a_municipality_without_data_gets_the_no_data_report(kernel: KernelSession, demo_snapshot: Path,
                                                           chosen: tuple[str, int, str]) -> None:
    period = chosen[0]
    with duckdb.connect(str(demo_snapshot), read_only=True) as con:
        code, name = con.execute("""
            SELECT code, name FROM municipalities WHERE code NOT IN (SELECT municipality_code FROM courses)
            ORDER BY code LIMIT 1""").fetchone()  # type: ignore[misc]
    page = to_html(run(kernel, demo_snapshot, code, period), "x")
    assert f"Ingen data for {name} i {period}" in page
    assert 'data-section="comparison"' in page and "Hele landet" in page  # the nation for comparison
    assert 'data-section="funnels"' not in page and 'data-section="key_figures"' not in page
    assert {t for _, t in cells(page, unit=str(code), field="denominator")} == {"0"}


def test_an_unknown_municipality_is_a_clear_error(kernel: KernelSession, demo_snapshot: Path) -> None:
    with pytest.raises(ReportFailed) as failed:
        run(kernel, demo_snapshot, 9999, "2025")
    assert failed.value.cause.startswith("UnknownMunicipality") and "9999" in failed.value.cause
    with pytest.raises(UnknownMunicipality):
        build_municipality_report(demo_snapshot, 9999, "2025", config=demo_config())


@pytest.mark.parametrize("period", ["2025-Q5", "25", "", "år", "2025-H2"])
def test_a_period_that_is_not_a_year_or_a_quarter_is_refused(demo_snapshot: Path, period: str) -> None:
    with pytest.raises(ReportInputError, match="Perioden skal være et år .*the period must be"):
        build_municipality_report(demo_snapshot, 740, period, config=demo_config())


def test_a_missing_snapshot_or_language_is_refused(demo_snapshot: Path, tmp_path: Path) -> None:
    with pytest.raises(ReportInputError, match="not found"):
        build_municipality_report(tmp_path / "none.duckdb", 740, "2025", config=demo_config())
    with pytest.raises(ReportInputError, match="lang"):
        build_municipality_report(demo_snapshot, 740, "2025", lang="de", config=demo_config())


def test_the_page_is_self_contained_and_names_its_snapshot(page: str, demo_snapshot: Path,
                                                           chosen: tuple[str, int, str]) -> None:
    period, _, name = chosen
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, re.I)
    assert not re.search(r"""\b(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert not re.search(r"""url\(\s*["']?\s*(https?:)?//""", page, re.I)
    assert "<link" not in page.lower() and "@import" not in page and "<!DOCTYPE svg" not in page
    assert f"Ledelsesinformation: {name} {period}" in page
    with duckdb.connect(str(demo_snapshot), read_only=True) as con:
        digest = con.execute("SELECT content_hash FROM snapshot_info").fetchone()[0]  # type: ignore[index]
    assert demo_snapshot.name in page and digest[:9] in page
    for section in ("key_figures", "indicators", "comparison", "funnels", "run_charts", "changes", "completeness",
                    "dropouts", "how_to_read"):
        assert f'data-section="{section}"' in page
    assert "Sådan læser du rapporten" in page and "under 180 dage" in page


def test_english_report(demo_snapshot: Path, chosen: tuple[str, int, str]) -> None:
    period, code, name = chosen
    report = build_municipality_report(demo_snapshot, code, period, lang="en", config=demo_config())
    text = "".join(html_parts.render(report))
    assert f"Management report: {name} {period}" in text
    assert "Quality indicators K1-K6" in text and "How to read this report" in text
    assert "Nøgletal" not in text and "Sådan læser" not in text


def test_danish_number_formats() -> None:
    assert html_parts.fmt_pct(0.832) == "83,2 %"
    assert html_parts.fmt_count(12345) == "12.345"
    assert html_parts.fmt_count("< 5") == "< 5"
    assert html_parts.fmt_count(None) == "–"
    assert html_parts.fmt_ci(0.721, 0.903) == "72,1–90,3 %"
    assert html_parts.fmt_number(-0.04, 1) == "0,0"
    assert html_parts.fmt_number(1234.56, 1) == "1.234,6"
    assert html_parts.fmt_number(2.5, 1, signed=True) == "+2,5"
    assert html_parts.fmt_standard(0.75) == "≥ 75 %"


# --- the hand-made snapshot: suppression cases known by heart ------------------------------------------------

@pytest.fixture(scope="module")
def fixture_report(tmp_path_factory: pytest.TempPathFactory) -> MunicipalityReport:
    """indicator_fixtures' courses (Silkeborg 740: K1 6/10 in 2025; Aarhus 751: K1 4/5, K2 5/5; København
    101: 1/1 everywhere) with Silkeborg and København in one cluster."""
    folder = tmp_path_factory.mktemp("report-fixture")
    contracts = ContractRegistry(CONTRACTS_DIR, programmes=["hjertekom"])
    store = sqlite_store_at(folder / "store.sqlite", contracts)
    add_indicator_courses(service(store, contracts))
    snapshot = create_snapshot(store, contracts, folder / "snapshots").path
    store.dispose()
    clusters = folder / "clusters.yaml"
    clusters.write_text(f"clusters:\n  Blandet: [{OWN}, {CAPITAL}]\n", encoding="utf-8")
    config = Config(contracts_dir=CONTRACTS_DIR, clusters_file=clusters)
    return build_municipality_report(snapshot, OWN, "2025", config=config)


def _row(report: MunicipalityReport, indicator: str, level: str) -> pd.Series:
    rows = report.comparison[(report.comparison["indicator"] == indicator) & (report.comparison["level"] == level)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_fixture_own_numbers_are_exact(fixture_report: MunicipalityReport) -> None:
    own = fixture_report.indicators.set_index("indicator")
    # K1: H (end only a draft) and I (no end) started more than completion_limit_days before the
    # snapshot, so they count as not completed (issue 14: no course leaves K1 by never ending).
    assert (own.loc["K1", "numerator"], own.loc["K1", "denominator"]) == (6, 10)
    assert (own.loc["K2", "numerator"], own.loc["K2", "denominator"], own.loc["K2", "unknown"]) == (3, 6, 1)
    # completed in 2025: A C D E F G M, and J (its start only a draft, but the end complete); not B (dropped
    # out), H (end a draft), I (no end), N (2026)
    assert fixture_report.key_figures.total["completed"] == 8


def test_fixture_cluster_minus_own_would_reveal_copenhagen(fixture_report: MunicipalityReport) -> None:
    """Cluster Blandet = Silkeborg + København (1-4 courses): the cluster minus Silkeborg's exact
    numbers would be København's, so the cluster's figures are withheld; so is the region's
    numerator (Midtjylland = Silkeborg + Aarhus, whose numerator is 1-4). The nation minus
    Silkeborg leaves two hidden municipalities of 1-4 each: it is shown."""
    cluster = _row(fixture_report, "K1", "cluster")
    assert (cluster["numerator"], cluster["denominator"], cluster["status"]) == (WITHHELD, WITHHELD, "withheld")
    assert np.isnan(cluster["proportion"])
    nation = _row(fixture_report, "K1", "national")
    assert not isinstance(nation["numerator"], str) and not isinstance(nation["denominator"], str)
    assert _row(fixture_report, "K1", "region")["numerator"] == WITHHELD
    page = "".join(html_parts.render(fixture_report))
    others = [(a, t) for a, t in cells(page) if a.get("data-unit") not in (None, str(OWN))]
    assert others and not [(a, t) for a, t in others if t in SMALL and a["data-field"] != "status"]


def test_fixture_funnel_hides_small_municipalities(fixture_report: MunicipalityReport) -> None:
    k1 = fixture_report.funnels["K1"]  # Aarhus 4/5 (numerator below 5), København 1/1: both hidden
    assert list(k1.points["unit"]) == [str(OWN)] and k1.hidden == 2
    # K2: Aarhus 5/5 is not small, but the nation minus Silkeborg and Aarhus would be København's
    # 1-4: the smallest count that closes that equation, Aarhus's, is withheld.
    k2 = fixture_report.funnels["K2"]
    assert list(k2.points["unit"]) == [str(OWN)] and k2.hidden == 2


def test_suppress_is_what_other_rows_go_through(engine: pd.DataFrame, demo_snapshot: Path,
                                                chosen: tuple[str, int, str]) -> None:
    """shown_to never shows more than indicators.suppress: every visible figure of another unit is
    also visible in per_cell_suppression()'s table (complementary suppression only hides more)."""
    period, code, _ = chosen
    settings = settings_from_config(demo_config())
    with duckdb.connect(str(demo_snapshot), read_only=True) as con:
        quarterly = compute(con, settings, period="quarter", levels=("municipality", "national"))
        hierarchy = Hierarchy.from_snapshot(con, settings.clusters)
    region = hierarchy.unit_of(code, "region")
    guarded, _ = shown_to(engine, quarterly, hierarchy, code, period, quarters_ending(int(period)), None,
                          str(region), THRESHOLD)
    plain = per_cell_suppression(engine, own=[code], threshold=THRESHOLD).loc[guarded.index]
    for column in ("numerator", "denominator", "unknown"):
        visible = guarded[column].map(lambda v: v is not None and not isinstance(v, str))
        assert (plain.loc[visible, column].map(lambda v: not isinstance(v, str))).all()
    assert (guarded["numerator"] == WITHHELD).any()  # and it does hide more


def test_completeness_covers_the_periods_courses_of_the_municipality(demo_snapshot: Path,
                                                                     chosen: tuple[str, int, str]) -> None:
    """The referral date is required and always shown: it is counted once per course of the municipality
    with a referral, start or end date in the period; open courses are those started in the period."""
    period, code, _ = chosen
    report = build_municipality_report(demo_snapshot, code, period, config=demo_config())
    with duckdb.connect(str(demo_snapshot), read_only=True) as con:
        active, started, without_end = con.execute("""
            SELECT count(*) FILTER (WHERE year(k.referral_date) = $y OR year(s.meeting_date) = $y
                                    OR year(e.meeting_date) = $y),
                   count(*) FILTER (WHERE s.status = 'complete' AND year(s.meeting_date) = $y),
                   count(*) FILTER (WHERE s.status = 'complete' AND year(s.meeting_date) = $y
                                    AND coalesce(e.status, '') <> 'complete')
            FROM courses c JOIN hjertekom_course k USING (course_id) LEFT JOIN hjertekom_start s USING (course_id)
            LEFT JOIN hjertekom_end e USING (course_id) WHERE c.municipality_code = $m""",
                                                   {"y": int(period), "m": code}).fetchone()  # type: ignore[misc]
        everything = int(con.execute("SELECT count(*) FROM courses").fetchone()[0])  # type: ignore[index]
    fields = report.completeness.set_index(["form", "field"])
    assert fields.loc[("course", "referral_date"), "shown"] == active
    assert report.open_courses["started"] == started and report.open_courses["without_end"] == without_end
    assert active < everything  # scoped, not the whole snapshot


def test_a_course_without_diagnosis_groups_counts_as_unknown(tmp_path: Path) -> None:
    """A course registration kept as a draft before the diagnosis was chosen (NULL in the snapshot)."""
    contracts = ContractRegistry(CONTRACTS_DIR, programmes=["hjertekom"])
    store = sqlite_store_at(tmp_path / "store.sqlite", contracts)
    svc = service(store, contracts)
    add_course(svc, 1)
    citizen = svc.create_citizen(generate_cpr(random.Random(2)), "Test Borger 2", OWN)
    data = {k: v for k, v in course_data(OWN, referral_date="2025-03-03").items() if k != "diagnosis_groups"}
    svc.open_course(citizen.id, data, complete=False, confirm=True)
    snapshot = create_snapshot(store, contracts, tmp_path / "snapshots").path
    store.dispose()
    report = build_municipality_report(snapshot, OWN, "2025", config=Config(contracts_dir=CONTRACTS_DIR))
    by_diagnosis = report.key_figures.by_diagnosis.set_index("key")
    assert by_diagnosis.loc["UNK", "referred"] == 1
    assert by_diagnosis["referred"].sum() >= 2
    assert report.key_figures.total["referred"] == 2


def test_the_completeness_section_names_what_the_indicators_leave_out(demo_snapshot: Path,
                                                                      chosen: tuple[str, int, str]) -> None:
    """Issue 14: no silent exits. Courses left out of a denominator because a deciding value is unknown
    are counted per indicator, and impossible data is listed by course id, in the municipality's own
    edition; the edition for publication shows neither."""
    from hjertekom_core.indicators import data_quality

    period, code, _ = chosen
    report = build_municipality_report(demo_snapshot, code, period, config=demo_config())
    own = report.indicators.set_index("indicator")["excluded"]
    assert report.exclusions is not None and len(report.exclusions) > 0  # the demo leaves some out
    assert dict(zip(report.exclusions["indicator"], report.exclusions["excluded"], strict=True)) == \
        {k: int(v) for k, v in own.items() if int(v) > 0}
    page = "".join(html_parts.render(report))
    section = BeautifulSoup(page, "html.parser").select_one('section[data-section="completeness"]')
    for _, row in report.exclusions.iterrows():
        cell = section.select_one(f'td[data-indicator="{row["indicator"]}"][data-field="excluded"]')
        assert cell is not None and cell.get_text() == str(row["excluded"])
    settings = settings_from_config(demo_config())
    with duckdb.connect(str(demo_snapshot), read_only=True) as con:
        impossible = data_quality.impossible_courses(con, settings)
    mine = sorted(impossible.loc[impossible["municipality_code"] == code, "course_id"].astype(int))
    shown = sorted(int(td.get_text()) for td in section.select('td[data-field="impossible_course"]'))
    assert shown == mine
    # Hand-made impossible data of this municipality reaches the list too (the demo may have none).
    assert not mine or section.select_one("h3", string="Data, der ikke kan passe") is not None
    published = build_municipality_report(demo_snapshot, code, period, config=demo_config(), publish=True)
    assert published.exclusions is None and published.impossible is None


def test_impossible_data_is_listed_by_course_id(tmp_path: Path) -> None:
    """Data the forms refuse today can still be in the store (an older contract, an import of
    legacy data): an end meeting before the start meeting is counted nowhere and listed."""
    import json as jsonlib

    from sqlalchemy import update

    from hjertekom_core.store.schema import registrations

    contracts = ContractRegistry(CONTRACTS_DIR, programmes=["hjertekom"])
    store = sqlite_store_at(tmp_path / "store.sqlite", contracts)
    svc = service(store, contracts)
    made = [add_course(svc, 7700 + i) for i in range(6)]
    broken = made[0].course_id
    with store.write() as conn:  # legacy data: the end meeting a month before the start meeting
        row = conn.execute(registrations.select().where(registrations.c.course_id == broken,
                                                        registrations.c.form == "end")).first()
        data = jsonlib.loads(row.data) | {"meeting_date": "2025-01-15"}
        conn.execute(update(registrations).where(registrations.c.id == row.id).values(data=jsonlib.dumps(data)))
    snapshot = create_snapshot(store, contracts, tmp_path / "snapshots").path
    store.dispose()
    report = build_municipality_report(snapshot, OWN, "2025", config=Config(contracts_dir=CONTRACTS_DIR))
    assert report.impossible is not None and report.impossible["course_id"].astype(int).tolist() == [broken]
    assert _row_of(report.indicators, "K1")["denominator"] == 5  # counted nowhere
    section = BeautifulSoup("".join(html_parts.render(report)), "html.parser").select_one(
        'section[data-section="completeness"]')
    assert [td.get_text() for td in section.select('td[data-field="impossible_course"]')] == [str(broken)]


def _row_of(frame: pd.DataFrame, indicator: str) -> pd.Series:
    return frame[frame["indicator"] == indicator].iloc[0]
