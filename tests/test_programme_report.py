"""Any programme's full report (reports/programme.py), made for the invented programme
``faldforebyggelse`` (tests/data/faldforebyggelse) on a real SQLite workspace: courses imported
through the service, a real snapshot, the numbers counted by hand, the management report's funnel
plots and run charts per declared indicator, small numbers of a neighbouring municipality kept out
of sight as HjerteKom's report keeps them, completeness of the programme's forms, and (slow) the
papermill notebook and a PDF printed by Debian's chromium.

The courses (end dates in 2025 unless said; F1: lower fall risk among those at moderate or high
risk at the start; F2: at least 2 more chair stands at the end):

- Silkeborg (740), 2025: six courses (see SILKEBORG_2025); two more ended in 2024 (run chart);
- Aarhus (751): one course, met in both: the small neighbour in the same region;
- Herning (657, same region) and København (101, another region): six courses each, all met;
- Odense (461) and Aalborg (851), other regions: nine courses each, six met in both.
"""
from __future__ import annotations

import csv
import io
import math
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from hjertekom_core.access import SYSTEM
from hjertekom_core.bootstrap import initialise, open_workspace
from hjertekom_core.config import Config
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.disclosure import WITHHELD
from hjertekom_core.importer import import_file
from hjertekom_core.reports.programme import (
    ProgrammeReport,
    ProgrammeReportError,
    build_programme_report,
    render_files,
    render_programme_report,
)
from hjertekom_core.service import Service
from hjertekom_core.snapshot import create_snapshot

from invented_programme_files import BOTH, BOTH_ENV, PROGRAMME, contracts_with_invented

SILKEBORG, AARHUS, HERNING, COPENHAGEN, ODENSE, AALBORG = 740, 751, 657, 101, 461, 851
CHROMIUM = Path("/usr/bin/chromium")
HEADER = ["cpr", "name", "course.municipality", "course.referral_date", "start.visit_date", "start.falls_last_year",
          "start.fall_risk", "start.weight_kg", "start.height_cm", "start.chair_stands", "end.visit_date",
          "end.completed", "end.fall_risk", "end.chair_stands", "end.status"]
# municipality, referral, start, start risk, start stands, end date, end risk, end stands, end status    F1 / F2
SILKEBORG_2025 = [
    (SILKEBORG, "06-01-2025", "03-02-2025", "high", "8", "20-05-2025", "low", "11", "complete"),           # met / met
    (SILKEBORG, "06-01-2025", "03-02-2025", "moderate", "10", "20-05-2025", "moderate", "11", "complete"),  # no / no
    (SILKEBORG, "06-01-2025", "03-02-2025", "low", "9", "20-05-2025", "low", "12", "complete"),            # - / met
    (SILKEBORG, "06-01-2025", "03-02-2025", "high", "uoplyst", "20-05-2025", "UNK", "10", "complete"),     # unknown
    (SILKEBORG, "06-01-2025", "03-02-2025", "UNK", "7", "12-08-2025", "low", "9", "complete"),             # excl. / met
    (SILKEBORG, "06-01-2025", "03-02-2025", "high", "6", "20-05-2025", "low", "12", "kladde"),             # draft end
]
ROWS = SILKEBORG_2025 + [
    (SILKEBORG, "05-02-2024", "04-03-2024", "high", "8", "20-08-2024", "low", "11", "complete"),
    (SILKEBORG, "05-02-2024", "04-03-2024", "high", "8", "20-08-2024", "low", "11", "complete"),
    (AARHUS, "06-01-2025", "03-02-2025", "high", "5", "20-05-2025", "low", "8", "complete"),
] + [(code, "06-01-2025", "03-02-2025", "high", "6", "10-06-2025", "low", "9", "complete")
     for code in (HERNING, COPENHAGEN, ODENSE, AALBORG) for _ in range(6)] + [
    (code, "06-01-2025", "03-02-2025", "moderate", "6", "10-06-2025", "moderate", "7", "complete")
    for code in (ODENSE, AALBORG) for _ in range(3)]


@dataclass
class Made:
    config: Config
    config_file: Path
    snapshot: Path


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Made]:
    root = tmp_path_factory.mktemp("programme-report")
    folder = contracts_with_invented(root)
    config = Config(data_dir=root / "data", contracts_dir=folder, programmes=BOTH)
    ws = open_workspace(config)
    initialise(ws)
    sheet = root / "import.csv"
    rng = random.Random(23)
    with sheet.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh, delimiter=";")
        out.writerow(HEADER)
        for i, (code, referred, started, start_risk, start_stands, ended, end_risk, end_stands, status) in \
                enumerate(ROWS):
            out.writerow([generate_cpr(rng), f"Borger {i}", code, referred, started, 1, start_risk, "72,5", 168,
                          start_stands, ended, "ja", end_risk, end_stands, status])
    result = import_file(Service(ws.store, ws.contracts, SYSTEM), sheet, programme=PROGRAMME)
    assert result.courses == len(ROWS)
    info = create_snapshot(ws.store, ws.contracts, root / "data" / "snapshots")
    ws.store.dispose()
    # The kernel of the notebook reads its configuration from a file (the command line passes its own).
    config_file = root / "hjertekom.toml"
    config_file.write_text(f'[hjertekom]\ndata_dir = "{root / "data"}"\ncontracts_dir = "{folder}"\n'
                           f'programmes = "{",".join(BOTH)}"\n',
                           encoding="utf-8")
    yield Made(config, config_file, info.path)


@pytest.fixture(scope="module")
def report(made: Made) -> ProgrammeReport:
    return build_programme_report(made.snapshot, PROGRAMME, SILKEBORG, "2025", config=made.config)


@pytest.fixture(scope="module")
def page(report: ProgrammeReport) -> BeautifulSoup:
    return BeautifulSoup(render_programme_report(report), "html.parser")


def cell(soup: BeautifulSoup, indicator: str, unit: int | str, field: str) -> str:
    found = soup.find(attrs={"data-indicator": indicator, "data-unit": str(unit), "data-field": field})
    assert found is not None, (indicator, unit, field)
    return found.get_text(strip=True)


def wilson(numerator: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = numerator / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def danish_ci(low: float, high: float) -> str:
    return f"{low * 100:.1f}–{high * 100:.1f} %".replace(".", ",")


def test_every_declared_indicator_has_its_section_funnel_plot_and_run_chart(page: BeautifulSoup) -> None:
    assert page.h1.get_text() == "Faldforebyggelse: Silkeborg 2025"
    sections = [s["data-section"] for s in page.find_all("section")]
    assert sections == ["courses", "F1", "F2", "funnels", "run_charts", "completeness"]
    funnel = page.find("section", attrs={"data-section": "funnels"})
    run = page.find("section", attrs={"data-section": "run_charts"})
    assert funnel.find("svg") is not None and run.find("svg") is not None
    for ind in ("F1", "F2"):
        assert funnel.find(id=f"hk-funnel-{ind}-own") is not None, ind    # the own diamond, per panel
        assert funnel.find(id=f"hk-funnel-{ind}-others") is not None, ind
        assert run.find(id=f"hk-run-{ind}-own") is not None, ind          # the own line, per panel
        assert run.find(attrs={"data-indicator": ind, "data-field": "runs_signal"}) is not None
    assert "F1 Lavere faldrisiko" in funnel.get_text() and "F2 Stærkere ben" in run.get_text()
    # The guidance of indicator_texts.yaml and the texts composed from the declarations.
    text = page.get_text()
    assert "Træn balance to gange om ugen." in text and "moderat eller høj faldrisiko ved start" in text


def test_the_own_numbers_are_counted_by_hand(page: BeautifulSoup) -> None:
    # F1: rows 1, 2 and 4 in the denominator (row 3 at low risk, row 5's start risk unknown: excluded,
    # row 6's end a draft); met: row 1; row 4's end risk unknown.
    assert [cell(page, "F1", SILKEBORG, f) for f in ("numerator", "denominator", "unknown", "proportion")] == [
        "1", "3", "1", "33,3 %"]
    assert cell(page, "F1", SILKEBORG, "ci") == danish_ci(*wilson(1, 3))
    # F2: rows 1-5 finished; met: 1 (+3), 3 (+3), 5 (+2); row 4's start stands unknown.
    assert [cell(page, "F2", SILKEBORG, f) for f in ("numerator", "denominator", "unknown", "proportion")] == [
        "3", "5", "1", "60,0 %"]
    assert cell(page, "F2", SILKEBORG, "ci") == danish_ci(*wilson(3, 5)) == "23,1–88,2 %"
    # The last three years: 2023 without courses, 2024's two courses (both met), 2025. The nation in
    # 2025: Silkeborg 1/3, Aarhus 1/1, Herning and København 6/6, Odense and Aalborg 6/9 = 26/34; in
    # 2024 the nation is Silkeborg's two courses, hidden ("–") outside the own numbers.
    f1 = page.find("section", attrs={"data-section": "F1"}).find("ul").get_text(" | ")
    assert f1 == ("2024: · 100,0 % (95 % KI 34,2–100,0 %), 2 af 2 forløb; landet –. | "
                  f"2025: · 33,3 % (95 % KI {danish_ci(*wilson(1, 3))}), 1 af 3 forløb; landet 76,5 %.")
    assert cell(page, "F1", "DK", "numerator") == "26" and cell(page, "F1", "DK", "denominator") == "34"
    courses = {c["data-key"]: c.get_text() for c in page.find_all(attrs={"data-dimension": "courses"})}
    assert courses == {"with_date": "6", "started": "6", "ended": "5"}  # the 2024 courses are not in 2025
    assert "Startede: «Første samtale» færdig og dateret i perioden" in page.get_text()


def test_a_small_neighbours_counts_stay_hidden(report: ProgrammeReport, page: BeautifulSoup) -> None:
    """Aarhus's one course (1 of 1 in both indicators) is in no funnel point and shows as "< 5" in
    the cluster; Herning's and København's points would give it back with the region and the
    nation (region minus Silkeborg minus Herning is Aarhus), so they are withheld, as in HjerteKom's
    report (municipality.shown_to); Odense and Aalborg are drawn."""
    funnel = page.find("figure", attrs={"data-chart": "funnel"})
    for ind in ("F1", "F2"):
        data = report.funnels[ind]
        assert set(data.points["unit"].astype(str)) == {str(SILKEBORG), str(ODENSE), str(AALBORG)}
        assert data.hidden == 3
        assert funnel[f"data-points-{ind.lower()}"] == "3" and funnel[f"data-hidden-{ind.lower()}"] == "3"
        shown = dict(zip(data.points["unit"].astype(str), data.points["numerator"], strict=True))
        assert shown[str(ODENSE)] == 6 and shown[str(AALBORG)] == 6
        assert cell(page, ind, "Hospitalsenhed Midt", "numerator") == "< 5"   # Silkeborg's cluster
        region = report.rows[(report.rows["indicator"] == ind) & (report.rows["level"] == "region")].iloc[0]
        own = report.rows[(report.rows["indicator"] == ind) & (report.rows["level"] == "municipality")].iloc[0]
        # Nothing shown adds up to Aarhus: the region minus the own and Herning's count is not on the page.
        assert str(HERNING) not in shown and own["numerator"] in (1, 3) and region["numerator"] in (8, 10)
    # F2's cluster (Silkeborg's courses only): a count withheld as "..", as protect() decides in HjerteKom's report.
    assert cell(page, "F2", "Hospitalsenhed Midt", "denominator") == WITHHELD
    assert "Antal ikke viste kommuner: F1 3, F2 3." in page.get_text()
    assert "Aarhus" not in page.get_text()


def test_completeness_and_run_chart_read_the_programmes_forms(report: ProgrammeReport, page: BeautifulSoup) -> None:
    section = page.find("section", attrs={"data-section": "completeness"}).get_text()
    assert "Af 6 forløb startet i perioden mangler 1 en færdig afslutning (16,7 %)." in section
    # Required fields only: row 5's start risk and row 4's end risk are "uoplyst" (answered, but unknown).
    fields = report.completeness.set_index(["form", "field"])
    assert tuple(fields.loc[("start", "fall_risk"), ["shown", "answered", "unknown"]]) == (6, 6, 1)
    assert tuple(fields.loc[("end", "fall_risk"), ["shown", "answered", "unknown"]]) == (6, 6, 1)
    chart = report.run_charts["F1"]
    assert len(chart.quarters) == 20 and chart.quarters[-1] == "2025-Q4"
    own = chart.own.set_index("period")
    assert (own.loc["2024-Q3", "numerator"], own.loc["2024-Q3", "denominator"]) == (2, 2)
    assert (own.loc["2025-Q2", "numerator"], own.loc["2025-Q2", "denominator"]) == (1, 3)
    assert own.loc["2025-Q3", "denominator"] == 0          # row 5: excluded from F1
    assert chart.marks[chart.quarters.index("2024-Q3")] == "startup"


def test_english_and_a_quarter(made: Made) -> None:
    report = build_programme_report(made.snapshot, PROGRAMME, SILKEBORG, "2025-Q2", config=made.config, lang="en")
    soup = BeautifulSoup(render_programme_report(report), "html.parser")
    assert soup.h1.get_text() == "Fall prevention: Silkeborg Q2 2025"
    assert cell(soup, "F2", SILKEBORG, "denominator") == "4"    # rows 1-4 ended in May; row 5 in August
    assert "Courses in the period" in soup.get_text() and "Data completeness" in soup.get_text()
    assert report.run_charts["F2"].quarters[-1] == "2025-Q2"


def test_a_municipality_without_courses_gets_the_page_all_the_same(made: Made) -> None:
    """Frederiksberg has no course: no own row or point, the region and nation beside it, empty run charts."""
    report = build_programme_report(made.snapshot, PROGRAMME, 147, "2025", config=made.config)
    soup = BeautifulSoup(render_programme_report(report), "html.parser")
    assert "Frederiksberg har ingen forløb i programmet i 2025." in soup.get_text()
    assert cell(soup, "F1", "DK", "denominator") == "34"
    assert {c.get_text() for c in soup.find_all(attrs={"data-dimension": "courses"})} == {"0"}
    assert soup.find(id="hk-run-F1-own") is not None and soup.find(id="hk-funnel-F1-own") is None
    assert report.run_charts["F1"].median is None


@pytest.mark.parametrize(("programme", "period", "message"), [
    ("moeva", "2025", "no programme 'moeva'"),
    (PROGRAMME, "2025-13", "2025-13"),
])
def test_bad_requests_are_refused(made: Made, programme: str, period: str, message: str) -> None:
    with pytest.raises(ProgrammeReportError, match=re.escape(message)):
        build_programme_report(made.snapshot, programme, SILKEBORG, period, config=made.config)
    with pytest.raises(ProgrammeReportError, match="no municipality 9999"):
        build_programme_report(made.snapshot, PROGRAMME, 9999, "2025", config=made.config)


@pytest.mark.slow
def test_the_notebook_makes_html_and_chromium_a_pdf(made: Made, tmp_path: Path) -> None:
    """papermill runs notebooks/reports/programme.ipynb, its outputs become the page, chromium prints it."""
    from pypdf import PdfReader

    files = render_files(made.snapshot, PROGRAMME, SILKEBORG, "2025", tmp_path / "fald.html", config=made.config,
                         formats=["html", "pdf"], config_file=str(made.config_file), chromium=CHROMIUM)
    assert files == [tmp_path / "fald.html", tmp_path / "fald.pdf"]
    soup = BeautifulSoup(files[0].read_text(encoding="utf-8"), "html.parser")
    assert soup.find("script") is None and "Faldforebyggelse: Silkeborg 2025" in soup.get_text()
    for ind in ("F1", "F2"):
        assert soup.find(id=f"hk-funnel-{ind}-own") is not None and soup.find(id=f"hk-run-{ind}-own") is not None
    assert cell(soup, "F1", SILKEBORG, "numerator") == "1" and cell(soup, "F2", SILKEBORG, "proportion") == "60,0 %"
    pdf = files[1].read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 20_000
    reader = PdfReader(io.BytesIO(pdf))
    text = "".join(p.extract_text() for p in reader.pages)
    assert len(reader.pages) >= 3 and "Lavere faldrisiko" in text and "Side 1 af" in text
    assert all(f.stat().st_mode & 0o077 == 0 for f in files)


@pytest.mark.slow
def test_the_command_line_makes_every_municipalitys_report(made: Made, tmp_path: Path) -> None:
    """`report programme-all`: one report per municipality with courses of the programme in the
    period, in one kernel; `report programme` refuses a wrong request before a kernel starts."""
    from click.testing import CliRunner

    from hjertekom_core.cli import main

    env = {"HJERTEKOM_DATA_DIR": str(made.config.data_dir), "HJERTEKOM_CONTRACTS_DIR": str(made.config.contracts_dir),
           "HJERTEKOM_CONFIG": str(tmp_path / "none.toml"), "HJERTEKOM_LOG_FILE": str(tmp_path / "log.txt"),
           "HJERTEKOM_REPORTS_DIR": str(tmp_path / "rapporter"), **BOTH_ENV}
    result = CliRunner().invoke(main, ["report", "programme-all", "--programme", PROGRAMME, "--period", "2025",
                                       "--snapshot", str(made.snapshot), "--format", "html"], env=env)
    assert result.exit_code == 0, result.output
    folder = tmp_path / "rapporter" / PROGRAMME / "2025"
    assert sorted(p.name for p in folder.iterdir()) == [
        "101-koebenhavn.html", "461-odense.html", "657-herning.html", "740-silkeborg.html", "751-aarhus.html",
        "851-aalborg.html"]
    aarhus = BeautifulSoup((folder / "751-aarhus.html").read_text(encoding="utf-8"), "html.parser")
    assert cell(aarhus, "F1", AARHUS, "numerator") == "1"        # its own report: its own numbers exact
    silkeborg = (folder / "740-silkeborg.html").read_text(encoding="utf-8")
    assert "Aarhus" not in silkeborg and "hk-run-F2-own" in silkeborg

    refused = CliRunner().invoke(main, ["report", "programme", "--programme", "moeva", "--municipality", "740",
                                        "--period", "2025", "--snapshot", str(made.snapshot), "--out",
                                        str(tmp_path / "x.html")], env=env)
    assert refused.exit_code == 1 and "no programme 'moeva'" in refused.output and "Traceback" not in refused.output
    assert not (tmp_path / "x.html").exists()
