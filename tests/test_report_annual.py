"""The municipality report read as a quality database's annual report (issue 18): page 1 with three
years and the nation, key messages, the indicator pages with their texts and the coordinator's
comment, run charts with Anhøj's signals, zoomed funnel plots, the quarterly edition, the edition
for publication of a small municipality, and the period's index page.

Real papermill runs where a reader sees the page; pure functions with hand-made data where a rule
is checked (a run chart with a long run must show its signal).
"""
from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from bs4 import BeautifulSoup

from hjertekom_core.config import Config
from hjertekom_core.contract import ContractRegistry
from hjertekom_core.indicators import INDICATORS, compute, settings_from_config
from hjertekom_core.reports import charts, html_parts
from hjertekom_core.reports.batch import index_figures, render_one
from hjertekom_core.reports.guidance import PARTS, CommentsError, load_comments, load_guidance
from hjertekom_core.reports.municipality import (
    FunnelData,
    RunChartData,
    key_messages,
)
from hjertekom_core.reports.runner import KernelSession, execute, to_html
from hjertekom_core.snapshot import create_snapshot

from indicator_fixtures import OTHER, OWN, add_course, service, sqlite_store_at
from paths import CONTRACTS_DIR

NOTEBOOK = "reports/municipality"


def demo_config() -> Config:
    return Config(contracts_dir=CONTRACTS_DIR)


@pytest.fixture(scope="module")
def kernel() -> Iterator[KernelSession]:
    with KernelSession() as session:
        yield session


def run(kernel: KernelSession, snapshot: Path, code: int, period: str, **more: object) -> str:
    try:
        nb = execute(NOTEBOOK, {"snapshot": str(snapshot), "municipality": code, "period": period, **more},
                     session=kernel)
        return to_html(nb, "x")
    finally:
        gc.collect()  # a socket left open would fail the test (its ResourceWarning is an error)


@pytest.fixture(scope="module")
def chosen(demo_snapshot: Path) -> tuple[str, int, str]:
    """The year with most ended courses and its busiest municipality (demo dates follow today)."""
    with duckdb.connect(str(demo_snapshot), read_only=True) as con:
        year, code, name = con.execute("""
            WITH ended AS (SELECT year(e.meeting_date) AS y, c.municipality_code AS code FROM courses c
                           JOIN hjertekom_end e ON e.course_id = c.course_id AND e.status = 'complete'),
                 best AS (SELECT y FROM ended GROUP BY y ORDER BY count(*) DESC, y DESC LIMIT 1)
            SELECT e.y, e.code, m.name FROM ended e JOIN best USING (y) JOIN municipalities m ON m.code = e.code
            GROUP BY ALL ORDER BY count(*) DESC, e.code LIMIT 1""").fetchone()  # type: ignore[misc]
    return str(year), int(code), str(name)


@pytest.fixture(scope="module")
def comments(tmp_path_factory: pytest.TempPathFactory, chosen: tuple[str, int, str]) -> Path:
    period, code, _ = chosen
    path = tmp_path_factory.mktemp("comments") / f"{code}.yaml"
    path.write_text(f'kommune: {code}\nperiode: "{period}"\n'
                    'samlet: "Ny diætist fra marts. <script>alert(1)</script> & mere"\n'
                    'K5: "K5 faldt, fordi diætisten var på barsel."\n', encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def page(kernel: KernelSession, demo_snapshot: Path, chosen: tuple[str, int, str], comments: Path) -> str:
    period, code, _ = chosen
    return run(kernel, demo_snapshot, code, period, comments_file=str(comments))


@pytest.fixture(scope="module")
def yearly(demo_snapshot: Path) -> pd.DataFrame:
    with duckdb.connect(str(demo_snapshot), read_only=True) as con:
        return compute(con, settings_from_config(demo_config()), period="year")


def _text(soup: BeautifulSoup, **attrs: str) -> str:
    found = soup.select(",".join(["[" + "][".join(f'data-{k}="{v}"' for k, v in attrs.items()) + "]"]))
    assert len(found) == 1, (attrs, found)
    return " ".join(found[0].get_text().split())


# --- page 1 ----------------------------------------------------------------------------------------------

def test_page_one_shows_three_years_with_the_national_value_beside_each(page: str, yearly: pd.DataFrame,
                                                                         chosen: tuple[str, int, str]) -> None:
    period, code, _ = chosen
    soup = BeautifulSoup(page, "html.parser")
    overview = soup.select_one('section[data-section="overview"]')
    assert overview is not None
    years = [str(int(period) - 2), str(int(period) - 1), period]
    headings = [" ".join(th.get_text().split()) for th in overview.select("thead th")]
    assert [h for h in headings if h in years] == years
    compared = 0
    for ind in INDICATORS:
        for year in years:
            rows = yearly[(yearly["indicator"] == ind.id) & (yearly["period"] == year)]
            own = rows[(rows["level"] == "municipality") & (rows["unit"] == str(code))]
            own_text = _text(overview, indicator=ind.id, period=year, item="own_proportion")
            if len(own) and own["denominator"].iloc[0] > 0:  # the own edition: exact, with its symbol
                assert own_text.endswith(html_parts.fmt_pct(own["proportion"].iloc[0])), (ind.id, year, own_text)
                assert _text(overview, indicator=ind.id, period=year, item="own_n") == \
                    f"(n = {int(own['denominator'].iloc[0])})"
            national = rows[rows["level"] == "national"]
            shown = _text(overview, indicator=ind.id, period=year, item="national_proportion")
            if shown != "landet ..":  # withheld where it would give a small count away
                assert shown == f"landet {html_parts.fmt_pct(national['proportion'].iloc[0])}"
                compared += 1
    assert compared >= 12
    statuses = [_text(overview, indicator=i.id, period=period, field="overview_status") for i in INDICATORS]
    # each status starts with a shape, not a colour: ✓ met, ! not met, ✗ below, · no standard, – no data
    assert all(s[0] in "✓!✗·–." for s in statuses), statuses


def test_page_one_has_key_messages_and_the_escaped_general_comment(page: str) -> None:
    soup = BeautifulSoup(page, "html.parser")
    overview = soup.select_one('section[data-section="overview"]')
    messages = overview.select("ul.hk-messages li")
    assert 1 <= len(messages) <= 4
    assert {li["data-message"] for li in messages} <= {"below", "improved", "worsened", "below_national",
                                                       "run_signal", "all_met"}
    box = overview.select_one('[data-comment="samlet"]')
    assert box is not None and "Ny diætist fra marts. <script>alert(1)</script> & mere" in box.get_text()
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; mere" in page


def test_key_messages_name_an_indicator_below_its_standard_and_the_largest_changes() -> None:
    periods = ["2023", "2024", "2025"]
    rows = []
    for period, k1, k3 in (("2023", 0.70, 0.40), ("2024", 0.72, 0.55), ("2025", 0.50, 0.60)):
        for ind, share, status in (("K1", k1, "below" if period == "2025" else "not_met"), ("K3", k3, "met")):
            rows.append({"indicator": ind, "period": period, "standard": 0.75 if ind == "K1" else 0.5,
                         "own_proportion": share, "own_ci_low": share - 0.1, "own_ci_high": share + 0.1,
                         "own_status": status, "national_proportion": 0.65})
    messages = key_messages(pd.DataFrame(rows), periods, {})
    assert [(m.kind, m.indicator) for m in messages] == [("below", "K1"), ("improved", "K3"), ("worsened", "K1"),
                                                        ("below_national", "K1")]
    assert messages[2].values["before"] == 0.72 and messages[2].values["now"] == 0.50
    words = html_parts.message_text(messages[2], "da")
    assert words == "Største tilbagegang siden 2024: K1 Vedholdenhed faldt fra 72,0 % til 50,0 % (-22,0 procentpoint)."


# --- the indicator pages ---------------------------------------------------------------------------------

def test_every_indicator_has_its_texts_in_data_and_a_comment_box(page: str) -> None:
    guidance = load_guidance(CONTRACTS_DIR)
    soup = BeautifulSoup(page, "html.parser")
    for ind in INDICATORS:
        section = soup.select_one(f'section[data-section="indicator-{ind.id}"]')
        assert section is not None, ind.id
        text = " ".join(section.get_text().split())
        for part in PARTS:
            assert guidance.get(ind.id, part, "da") in text and guidance.get(ind.id, part, "en")
        box = section.select_one(f'[data-comment="{ind.id}"]')
        assert box is not None
        expected = "K5 faldt, fordi diætisten var på barsel." if ind.id == "K5" else \
            "Kommunen har ikke kommenteret indikatoren."
        assert expected in box.get_text()


def test_an_indicator_without_its_texts_is_refused(tmp_path: Path) -> None:
    import yaml

    from hjertekom_core.errors import ReportError

    texts = yaml.safe_load((CONTRACTS_DIR / "hjertekom" / "indicator_texts.yaml").read_text(encoding="utf-8"))
    del texts["K6"]["what_to_do"]["en"]
    (tmp_path / "hjertekom").mkdir()
    (tmp_path / "hjertekom" / "indicator_texts.yaml").write_text(yaml.safe_dump(texts, allow_unicode=True),
                                                                  encoding="utf-8")
    with pytest.raises(ReportError, match=r"K6\.what_to_do needs a Danish \(da\) and an English \(en\) text"):
        load_guidance(tmp_path)


@pytest.mark.parametrize(("content", "message"), [
    ("K9: tekst\n", "Ukendt nøgle i kommentarfilen"),
    ("kommune: 101\nK1: tekst\n", "er til en anden kommune end 740"),
    ('periode: "2024"\nK1: tekst\n', "er til en anden periode end 2025"),
    ("K1: [1, 2]\n", "skal være en tekst"),
    ("K1: " + "x" * 2001 + "\n", "længere end 2000 tegn"),
    ("K1: 'uafsluttet\n", "kan ikke læses som YAML"),
    ("- K1\n", "skal være en liste af nøgle: tekst"),
])
def test_a_bad_comments_file_is_a_clear_danish_message(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "740.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CommentsError, match=re.escape(message)):
        load_comments(path, municipality=740, period="2025")
    with pytest.raises(CommentsError, match="findes ikke"):
        load_comments(tmp_path / "none.yaml")


# --- run charts ------------------------------------------------------------------------------------------

QUARTERS = [f"{y}-Q{q}" for y in (2021, 2022, 2023, 2024, 2025) for q in (1, 2, 3, 4)]


def _chart(shares: list[float], marks: tuple[str, ...] = ()) -> RunChartData:
    own = pd.DataFrame({"period": QUARTERS, "numerator": [0 if np.isnan(s) else round(s * 40) for s in shares],
                        "denominator": [0 if np.isnan(s) else 40 for s in shares], "proportion": shares})
    national = pd.DataFrame({"period": QUARTERS, "proportion": [0.6] * 20})
    return RunChartData("K1", QUARTERS, own, national, 0.75, marks or ("",) * 20)


TEXT = {"own": "Silkeborg", "national": "Hele landet", "median": "Median", "standard": "Standard",
        "unfinished": "Uafsluttet kvartal", "startup": "Opstartskvartal", "shift": "Signal: usædvanligt lang serie",
        "crossings": "Signal: for få krydsninger"}


def test_a_long_run_is_a_signal_drawn_on_the_run_chart() -> None:
    # a step: nine quarters around 50 %, then a better routine: eleven around 70 %. Median 0.7 (the
    # middle two of the twenty are 0.70 and 0.70): the three quarters at exactly 70 % are on the median
    # and not useful; the nine below it are one run, 9 > round(log2(17) + 3) = 7, ringed on the chart.
    chart = _chart([0.50, 0.52, 0.48, 0.51, 0.55, 0.49, 0.53, 0.50, 0.47,
                    0.70, 0.72, 0.70, 0.74, 0.71, 0.73, 0.75, 0.70, 0.76, 0.72, 0.78])
    result = chart.runs
    assert result is not None and result.n == 17 and result.longest_run == 9 and result.shift
    assert result.run == tuple(range(9))
    svg = charts.run_charts([(chart, "K1 Vedholdenhed")], TEXT, QUARTERS)
    assert 'id="hk-run-K1-signal"' in svg and "Signal: usædvanligt lang serie" in svg
    assert ">40<" in svg  # n beside the points
    calm = _chart([0.6, 0.7, 0.55, 0.72, 0.58, 0.71, 0.6, 0.69, 0.57, 0.73, 0.59, 0.7, 0.61, 0.68, 0.56, 0.74,
                   0.62, 0.7, 0.57, 0.71])
    assert calm.runs is not None and not calm.runs.signal
    svg = charts.run_charts([(calm, "K1 Vedholdenhed")], TEXT, QUARTERS)
    assert "hk-run-K1-signal" not in svg and "usædvanligt lang serie" not in svg


def test_unfinished_and_startup_quarters_are_marked_and_left_out_of_the_analysis() -> None:
    shares = [np.nan] * 8 + [0.1, 0.1, 0.50, 0.52, 0.48, 0.51, 0.70, 0.72, 0.69, 0.74, 0.71, 0.95]
    marks = ("",) * 8 + ("startup", "startup") + ("",) * 9 + ("unfinished",)
    chart = _chart(shares, marks)
    assert np.isnan(chart.analysed[[8, 9, 19]]).all()
    assert chart.median == pytest.approx(float(np.median(shares[10:19])))
    assert chart.runs is None  # 9 points left: too few for the rules
    svg = charts.run_charts([(chart, "K1 Vedholdenhed")], TEXT, QUARTERS)
    assert 'id="hk-run-K1-startup-8"' in svg and 'id="hk-run-K1-unfinished-19"' in svg
    assert "Uafsluttet kvartal" in svg and "Opstartskvartal" in svg


def test_a_published_run_chart_prints_no_n_that_page_one_would_give_back() -> None:
    """n beside a quarter only where no quarter of its year is hidden and the year's own counts on
    page 1 are shown: else the year minus the shown quarters, or the quarters' n times their shares,
    would give a hidden count back."""
    from hjertekom_core.reports.municipality import published_run_counts

    chart = _chart([0.5] * 20)
    own = chart.own.copy()
    own["denominator"] = own["denominator"].astype(object)
    own.loc[own["period"] == "2023-Q2", "denominator"] = "< 5"
    published = published_run_counts(RunChartData("K1", QUARTERS, own, chart.national, 0.75, chart.marks),
                                      {"2025"})
    n = dict(zip(published.own["period"], published.own["denominator"], strict=True))
    assert {q: n[q] for q in QUARTERS if q[:4] in ("2023", "2025")} == {
        q: ".." for q in QUARTERS if q[:4] in ("2023", "2025")}
    assert all(n[q] == 40 for q in QUARTERS if q[:4] in ("2021", "2022", "2024"))


def test_the_report_page_lists_the_runs_analysis(page: str) -> None:
    soup = BeautifulSoup(page, "html.parser")
    section = soup.select_one('section[data-section="run_charts"]')
    assert "Anhøjs regler" in section.get_text()
    for ind in INDICATORS:
        assert section.select_one(f'td[data-indicator="{ind.id}"][data-field="runs_signal"]') is not None


# --- funnel and forest plots -----------------------------------------------------------------------------

def test_the_funnel_plot_zooms_on_its_points_and_labels_the_own_value_and_ci() -> None:
    points = pd.DataFrame({"unit": ["1", "2", "3", "740"], "unit_name": ["A", "B", "C", "Silkeborg"],
                           "numerator": [19, 95, 470, 57], "denominator": [20, 100, 500, 60],
                           "proportion": [0.95, 0.95, 0.94, 0.95], "ci_low": [np.nan] * 3 + [0.86],
                           "ci_high": [np.nan] * 3 + [0.98], "own": [False, False, False, True]})
    data = FunnelData("K6", points, 0, 0.94, 0.9)
    low, high = charts.funnel_range(data)
    assert 0.5 < low < 0.86 and high > 0.98  # not 0-100 %: K6 near the top gets the whole axis
    text = {k: k for k in ("xlabel", "ylabel", "others", "centre", "limit_inner", "limit_outer", "standard")}
    svg = charts.funnel_charts([(data, "K6")], text, "Silkeborg", {"K6": "Silkeborg 95,0 % (86,0–98,0 %)"})
    assert "Silkeborg 95,0 % (86,0–98,0 %)" in svg and 'id="hk-funnel-K6-own-ci"' in svg
    # a logarithmic axis: the ticks 20, 50, 100, 200, 500 are all there
    assert all(f">{v}<" in svg for v in ("20", "50", "100", "200", "500"))


def test_the_forest_plot_has_one_scale_for_all_rows(page: str) -> None:
    soup = BeautifulSoup(page, "html.parser")
    figure = soup.select_one('figure[data-chart="change"]')
    if figure is None:
        pytest.skip("no paired measurements in the demo's busiest municipality")
    text = figure.get_text()
    assert "samme skala for alle rækker" in text and "Ændring i % af gennemsnittet ved start" in text


# --- the quarterly edition and the index -----------------------------------------------------------------

def test_the_quarterly_edition_covers_the_quarter_and_the_two_before(demo_snapshot: Path, tmp_path: Path,
                                                                   chosen: tuple[str, int, str]) -> None:
    period, code, name = chosen
    quarter = f"{period}-Q2"
    with duckdb.connect(str(demo_snapshot), read_only=True) as con:
        referred = con.execute("""
            SELECT count(*) FROM courses c JOIN hjertekom_course k USING (course_id)
            WHERE c.municipality_code = $m AND k.referral_date >= make_date($y, 4, 1)
              AND k.referral_date < make_date($y, 7, 1)""", {"m": code, "y": int(period)}).fetchone()[0]  # type: ignore[index]
    outcome = render_one(demo_snapshot, code, quarter, tmp_path, formats=("html",))
    assert outcome.files == (tmp_path / quarter / f"{outcome.files[0].name}",)
    page = outcome.files[0].read_text(encoding="utf-8")
    soup = BeautifulSoup(page, "html.parser")
    assert f"Ledelsesinformation: {name} 2. kvartal {period}" in page
    overview = soup.select_one('section[data-section="overview"]')
    if overview is not None:  # a quarter with data: the quarter and the two before it
        headings = " ".join(th.get_text() for th in overview.select("thead th"))
        assert f"4. kvartal {int(period) - 1}" in headings and f"1. kvartal {period}" in headings
    if referred:
        cell = soup.select_one('td[data-dimension="total"][data-key="total"][data-field="referred"]')
        assert cell is not None and int(cell.get_text().replace(".", "")) == referred
    index = (tmp_path / quarter / "index.html").read_text(encoding="utf-8")
    assert "Ledelsesinformation " + quarter in index and f'data-unit="{code}"' in index
    assert re.search(r"Lavet \d\d\.\d\d\.\d{4} kl\. \d\d:\d\d \(dansk tid\)", index)


def test_the_index_figures_are_the_published_shares(demo_snapshot: Path, yearly: pd.DataFrame,
                                                   chosen: tuple[str, int, str]) -> None:
    period = chosen[0]
    figures = index_figures(demo_snapshot, period)
    rows = yearly[(yearly["level"] == "municipality") & (yearly["period"] == period)]
    shown = 0
    for row in rows.itertuples():
        share, _ = figures[int(row.unit)][row.indicator]
        if row.denominator < 5:
            assert np.isnan(share)  # never a share of fewer than 5 courses on a page for everyone
        elif not np.isnan(share):
            assert share == pytest.approx(row.proportion)
            shown += 1
    assert shown


# --- the edition for publication of a small municipality -------------------------------------------------

@pytest.fixture(scope="module")
def small_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Silkeborg (OWN) with two courses ended in 2025, the other municipality with eight."""
    folder = tmp_path_factory.mktemp("small")
    contracts = ContractRegistry(CONTRACTS_DIR, programmes=["hjertekom"])
    store = sqlite_store_at(folder / "store.sqlite", contracts)
    svc = service(store, contracts)
    for seed in range(2):
        add_course(svc, 100 + seed, municipality=OWN)
    for seed in range(8):
        add_course(svc, 200 + seed, municipality=OTHER)
    snapshot = create_snapshot(store, contracts, folder / "snapshots").path
    store.dispose()
    return snapshot


def test_a_published_small_municipality_shows_no_value_or_status_at_n_2(kernel: KernelSession,
                                                                       small_snapshot: Path) -> None:
    own_edition = BeautifulSoup(run(kernel, small_snapshot, OWN, "2025"), "html.parser")
    assert _text(own_edition, indicator="K1", period="2025", item="own_n") == "(n = 2)"  # the test can fail
    assert _text(own_edition, measure="walk_6min_m", field="mean_start") == "420"  # one walk test: 420 m each

    page = run(kernel, small_snapshot, OWN, "2025", publish=True)
    soup = BeautifulSoup(page, "html.parser")
    overview = soup.select_one('section[data-section="overview"]')
    for ind in INDICATORS:
        assert _text(overview, indicator=ind.id, period="2025", item="own_proportion") in ("..", "–")
        assert _text(overview, indicator=ind.id, period="2025", item="own_n") in ("(n = < 5)", "(n = ..)",
                                                                                   "(n = 0)")
        status = _text(overview, indicator=ind.id, period="2025", field="overview_status")
        assert not status.startswith(("✓", "!", "✗")), (ind.id, status)
    text = " ".join(soup.get_text(" ").split())
    assert "(n = 2)" not in text and "2 af 2 forløb" not in text
    for field in ("mean_start", "mean_end", "mean_change"):
        assert _text(soup, measure="walk_6min_m", field=field) == "–"
    assert _text(soup, measure="walk_6min_m", field="n") == "< 5"
    assert not re.search(r"\b(420|483)\b", text)  # the citizens' walk tests, start and end
    assert not soup.select('[data-message="below"], [data-message="improved"], [data-message="worsened"]')
    run_figure = str(soup.select_one('figure[data-chart="run"]'))
    assert not re.search(r'id="hk-run-K\d-n-\d+"[^>]*>\s*<[^>]*>\s*2\s*<', run_figure)
