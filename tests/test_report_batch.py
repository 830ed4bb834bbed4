"""Municipality reports made for real: papermill in worker processes, HTML, PDF through chromium."""
from __future__ import annotations

import datetime as dt
import io
import re
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from pypdf import PdfReader

from hjertekom_core.bootstrap import Workspace
from hjertekom_core.cli import main
from hjertekom_core.reports.batch import MunicipalityJob, municipalities_with_data, render_all, run_batch

pytestmark = pytest.mark.slow
CHROMIUM = Path("/usr/bin/chromium")
PERIOD = str(dt.date.today().year - 1)  # the demo's dates are relative to today


def _pdf_text(path: Path) -> list[str]:
    return [page.extract_text() for page in PdfReader(path).pages]


@pytest.fixture(scope="module")
def batch(demo_snapshot: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Three reports in two workers: Silkeborg and København (data) and Læsø (maybe none)."""
    out = tmp_path_factory.mktemp("reports")
    seen = []
    result = render_all(demo_snapshot, PERIOD, out, codes=[740, 101, 825], workers=2, chromium=CHROMIUM,
                        progress=seen.append)
    return out, result, seen


def test_every_report_is_made_as_html_and_pdf_and_listed_in_the_index(batch) -> None:  # type: ignore[no-untyped-def]
    out, result, seen = batch
    assert not result.failed, result.failed
    assert sorted(o.code for o in seen) == [101, 740, 825]  # the progress callback saw each report once
    folder = out / PERIOD
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["101-koebenhavn.html", "101-koebenhavn.pdf", "740-silkeborg.html", "740-silkeborg.pdf",
                     "825-laesoe.html", "825-laesoe.pdf", "index.html"]
    index = (folder / "index.html").read_text(encoding="utf-8")
    for name in names[:-1]:
        assert f'href="{name}"' in index


def test_the_html_is_self_contained_and_shows_no_code(batch) -> None:  # type: ignore[no-untyped-def]
    out, _, _ = batch
    page = (out / PERIOD / "740-silkeborg.html").read_text(encoding="utf-8")
    assert "Silkeborg" in page and PERIOD in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "nothing may be fetched from elsewhere"
    assert "<script" not in page.lower()
    assert "import " not in page and "build_municipality_report" not in page  # no code cells


def test_the_pdf_is_a4_with_the_municipality_and_page_numbers(batch) -> None:  # type: ignore[no-untyped-def]
    out, _, _ = batch
    path = out / PERIOD / "740-silkeborg.pdf"
    reader = PdfReader(path)
    box = reader.pages[0].mediabox
    assert (round(float(box.width) * 25.4 / 72), round(float(box.height) * 25.4 / 72)) == (210, 297)
    text = _pdf_text(path)
    assert len(text) >= 2
    assert "Silkeborg" in text[0]
    assert f"Side 1 af {len(text)}" in text[0]
    assert all(f"Side {i + 1} af {len(text)}" in t for i, t in enumerate(text))
    whole = " ".join(" ".join(t.split()) for t in text)  # headings may wrap across lines
    sections = ["Nøgletal", "Kvalitetsindikatorer K1-K6", "Sammenligning: kommune, klynge, region og hele landet",
                "Tragtplot", "Udvikling over tid", "Målt forbedring fra start til afslutning", "Datakomplethed",
                "Årsager til ophør", "Sådan læser du rapporten"]
    positions = [whole.find(s) for s in sections]
    assert -1 not in positions, [s for s, p in zip(sections, positions) if p == -1]
    assert positions == sorted(positions)  # in the order of the report


def test_one_failing_report_does_not_stop_the_batch_and_is_named_with_its_cause(
        demo_snapshot: Path, tmp_path: Path) -> None:
    jobs = [MunicipalityJob(code, name, PERIOD, demo_snapshot, tmp_path, ("html",))
            for code, name in [(740, "Silkeborg"), (999, "Atlantis"), (101, "København")]]
    outcomes = run_batch(jobs, workers=2, chromium=None)
    assert [o.code for o in outcomes] == [740, 999, 101]
    assert outcomes[0].error is None and outcomes[2].error is None
    assert outcomes[1].error and "999" in outcomes[1].error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["101-koebenhavn.html", "740-silkeborg.html"]


def test_only_municipalities_with_data_in_the_period_are_in_a_full_batch(demo_snapshot: Path) -> None:
    import duckdb

    with duckdb.connect(str(demo_snapshot), read_only=True) as con:
        expected = {r[0] for r in con.execute("""
            SELECT c.municipality_code FROM courses c JOIN hjertekom_course k USING (course_id)
            WHERE year(k.referral_date) = $y
            UNION SELECT c.municipality_code FROM courses c JOIN hjertekom_start s USING (course_id)
            WHERE year(s.meeting_date) = $y
            UNION SELECT c.municipality_code FROM courses c JOIN hjertekom_end e USING (course_id)
            WHERE year(e.meeting_date) = $y""", {"y": int(PERIOD)}).fetchall()}
    with_data = municipalities_with_data(demo_snapshot, PERIOD)
    assert {code for code, _ in with_data} == expected
    assert 0 < len(expected) < 98  # the demo leaves some municipalities without courses that year


def test_the_report_command_writes_one_municipality(demo_workspace: Workspace, demo_snapshot: Path,
                                                    tmp_path: Path) -> None:
    env = {"HJERTEKOM_DATA_DIR": str(demo_workspace.config.data_dir), "HJERTEKOM_REPORTS_DIR": str(tmp_path),
           "HJERTEKOM_LOG_FILE": str(tmp_path / "log.txt")}
    result = CliRunner().invoke(main, ["report", "municipality", "--municipality", "740", "--period", PERIOD,
                                       "--snapshot", str(demo_snapshot), "--format", "html"], env=env)
    assert result.exit_code == 0, result.output
    assert (tmp_path / PERIOD / "740-silkeborg.html").is_file()
    assert not (tmp_path / PERIOD / "740-silkeborg.pdf").exists()
    assert (tmp_path / PERIOD / "index.html").is_file()


@pytest.mark.parametrize(("args", "message"), [
    (["--municipality", "999", "--period", PERIOD], "no municipality with code 999"),
    (["--municipality", "740", "--period", "sidste år"], "Perioden skal være et år (fx 2025) eller et kvartal"),
    (["--municipality", "740", "--period", "2025-Q5"], "Perioden skal være et år (fx 2025) eller et kvartal"),
    (["--municipality", "740", "--period", PERIOD, "--format", "docx"], "formats must be among"),
    (["--municipality", "740", "--period", PERIOD, "--comments", "/nonexistent/740.yaml"],
     "Kommentarfilen 740.yaml findes ikke"),
])
def test_bad_report_requests_are_refused_clearly_and_write_nothing(demo_workspace: Workspace, demo_snapshot: Path,
                                                                  tmp_path: Path, args: list[str],
                                                                  message: str) -> None:
    env = {"HJERTEKOM_DATA_DIR": str(demo_workspace.config.data_dir), "HJERTEKOM_REPORTS_DIR": str(tmp_path),
           "HJERTEKOM_LOG_FILE": str(tmp_path / "log.txt")}
    result = CliRunner().invoke(main, ["report", "municipality", "--snapshot", str(demo_snapshot), *args], env=env)
    assert result.exit_code != 0
    assert message in result.output
    assert [p for p in tmp_path.rglob("*") if p.name != "log.txt"] == []
    assert "Traceback" not in result.output


def _finished_course(snapshot: Path, municipality: int) -> int:
    import duckdb

    with duckdb.connect(str(snapshot), read_only=True) as con:
        return int(con.execute(
            "SELECT c.course_id FROM courses c JOIN hjertekom_end e USING (course_id) "
            "WHERE e.status = 'complete' AND c.municipality_code = ? ORDER BY c.course_id LIMIT 1",
            [municipality]).fetchone()[0])  # type: ignore[index]


def test_the_citizen_sheet_command_prints_a_pdf_for_a_clinician_of_the_municipality(
        demo_workspace: Workspace, demo_snapshot: Path, tmp_path: Path) -> None:
    course = _finished_course(demo_snapshot, 740)
    env = {"HJERTEKOM_DATA_DIR": str(demo_workspace.config.data_dir), "HJERTEKOM_LOG_FILE": str(tmp_path / "log"),
           "HJERTEKOM_PASSWORD": "demo-clinician"}
    out = tmp_path / "sheet.pdf"
    result = CliRunner().invoke(main, ["report", "citizen", "--course", str(course), "--format", "pdf",
                                       "--out", str(out), "--user", "kliniker"], env=env)
    assert result.exit_code == 0, result.output
    text = "\n".join(_pdf_text(out))
    assert "Dine resultater fra hjerterehabiliteringen Side 1 af" in " ".join(text.split())  # the footer

    refused = tmp_path / "refused.html"
    result = CliRunner().invoke(main, ["report", "summary", "--course", str(course), "--out", str(refused),
                                       "--user", "klinik101"], env=env)
    assert result.exit_code != 0 and not refused.exists()
    assert "Traceback" not in result.output


def test_pdfs_print_from_inside_a_running_event_loop() -> None:
    """As in a Jupyter kernel or the web server: Playwright's sync API alone would refuse."""
    import asyncio

    from hjertekom_core.reports.pdf import PdfPrinter

    async def in_loop() -> bytes:
        with PdfPrinter(CHROMIUM) as printer:
            return printer.pdf("<!DOCTYPE html><html><body><h1>Ærø</h1></body></html>", "Prøve")

    made: list[bytes] = []
    # A thread of its own: the browser tests may leave this one inside their Playwright session.
    runner = threading.Thread(target=lambda: made.append(asyncio.run(in_loop())))
    runner.start()
    runner.join(timeout=120)
    pdf = made[0]
    assert pdf.startswith(b"%PDF")
    assert "Ærø" in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
