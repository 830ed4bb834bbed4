"""Where reports live and who may see which (hjertekom_core.reports.library)."""
from __future__ import annotations

from pathlib import Path

import pytest

from hjertekom_core.access import User
from hjertekom_core.errors import AccessDenied, NotFound
from hjertekom_core.reports.library import check_period, index_html, list_reports, open_report, report_stem, slug

COORDINATOR_740 = User(1, "k740", "K", "coordinator", frozenset({740}))
COORDINATOR_TWO = User(2, "k2", "K", "coordinator", frozenset({740, 101}))
CLINICIAN = User(3, "c740", "C", "clinician", frozenset({740}))
ADMIN = User(4, "a", "A", "administrator", frozenset())


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    for period, names in {"2024": ["740-silkeborg.html", "740-silkeborg.pdf", "101-koebenhavn.pdf"],
                          "2025": ["740-silkeborg.pdf", "101-koebenhavn.html", "index.html", "notes.txt"]}.items():
        (tmp_path / period).mkdir()
        for name in names:
            (tmp_path / period / name).write_text(name)
    (tmp_path / "2025" / ".740-silkeborg.html.tmp").write_text("half")
    (tmp_path / "README.md").write_text("x")
    return tmp_path


@pytest.mark.parametrize(("name", "expected"), [
    ("Lyngby-Taarbæk", "lyngby-taarbaek"), ("København", "koebenhavn"), ("Ærø", "aeroe"),
    ("Høje-Taastrup", "hoeje-taastrup"), ("Aabenraa", "aabenraa"), ("Ringkøbing-Skjern", "ringkoebing-skjern"),
])
def test_file_names_are_ascii_and_readable(name: str, expected: str) -> None:
    assert slug(name) == expected
    assert report_stem(740, name) == f"740-{expected}"


def test_a_coordinator_lists_only_their_own_municipality_newest_period_first(reports: Path) -> None:
    found = [f.relative for f in list_reports(reports, COORDINATOR_740)]
    assert found == ["2025/740-silkeborg.pdf", "2024/740-silkeborg.html", "2024/740-silkeborg.pdf"]


def test_a_coordinator_of_two_municipalities_sees_both_and_an_administrator_sees_all(reports: Path) -> None:
    assert {f.municipality_code for f in list_reports(reports, COORDINATOR_TWO)} == {740, 101}
    assert len(list_reports(reports, ADMIN)) == 5


def test_a_clinician_may_not_list_reports(reports: Path) -> None:
    with pytest.raises(AccessDenied):
        list_reports(reports, CLINICIAN)


def test_opening_another_municipalitys_report_is_refused(reports: Path) -> None:
    assert open_report(reports, COORDINATOR_740, "2025", "740-silkeborg.pdf").path.read_text() == "740-silkeborg.pdf"
    with pytest.raises(AccessDenied):
        open_report(reports, COORDINATOR_740, "2025", "101-koebenhavn.html")


@pytest.mark.parametrize(("period", "name"), [
    ("2025", "../2024/740-silkeborg.pdf"), ("2025", "740-silkeborg.pdf/../../x"), ("..", "740-silkeborg.pdf"),
    ("2025", "index.html"), ("2025", "notes.txt"), ("2025", "740-silkeborg.html"), ("2025", ".740-silkeborg.html.tmp"),
])
def test_names_outside_the_layout_or_missing_files_are_not_found(reports: Path, period: str, name: str) -> None:
    with pytest.raises(NotFound):
        open_report(reports, COORDINATOR_740, period, name)


def test_a_missing_reports_folder_lists_nothing(tmp_path: Path) -> None:
    assert list_reports(tmp_path / "none", COORDINATOR_740) == []


@pytest.mark.parametrize("period", ["25", "2025-Q5", "2025-Q0", "år 2025", "", "2025-H1", "../2025"])
def test_a_period_must_be_a_year_or_a_quarter(period: str) -> None:
    with pytest.raises(ValueError, match="Perioden skal være et år .* eller et kvartal .*the period must be"):
        check_period(period)


@pytest.mark.parametrize(("period", "folder"), [("2025", "2025"), ("2025-Q3", "2025-Q3"), ("2025-K3", "2025-Q3"),
                                                ("2025-q1", "2025-Q1")])
def test_a_year_or_a_quarter_names_its_folder(period: str, folder: str) -> None:
    assert check_period(period) == folder


def test_quarter_folders_are_listed_newest_first(tmp_path: Path) -> None:
    for period in ("2024", "2025-Q1", "2025", "2025-Q3"):
        (tmp_path / period).mkdir()
        (tmp_path / period / "740-silkeborg.pdf").write_bytes(b"%PDF")
    assert [f.period for f in list_reports(tmp_path, COORDINATOR_740)] == ["2025", "2025-Q3", "2025-Q1", "2024"]
    assert open_report(tmp_path, COORDINATOR_740, "2025-Q3", "740-silkeborg.pdf").relative == \
        "2025-Q3/740-silkeborg.pdf"


def test_the_index_shows_each_municipalitys_indicators_with_symbols_in_danish_time() -> None:
    import datetime as dt

    figures = {740: {"K1": (0.832, "met"), "K2": (float("nan"), "suppressed"), "K3": (0.21, "below"),
                     "K4": (0.4, "not_met")}}
    page = index_html("2025-Q3", [(740, "Silkeborg", ["740-silkeborg.html", "740-silkeborg-offentlig.pdf"])],
                      "snap.duckdb", figures=figures, now=dt.datetime(2025, 7, 1, 10, 5, tzinfo=dt.timezone.utc))
    assert "Lavet 01.07.2025 kl. 12:05 (dansk tid)" in page  # summer time: UTC+2
    assert 'data-indicator="K1" data-unit="740">✓ 83,2 %<' in page
    assert 'data-indicator="K2" data-unit="740">..<' in page
    assert 'data-indicator="K3" data-unit="740">✗ 21,0 %<' in page
    assert 'data-indicator="K4" data-unit="740">! 40,0 %<' in page
    assert 'data-indicator="K5" data-unit="740">–<' in page
    assert '<a href="740-silkeborg-offentlig.pdf">PDF (offentlig)</a>' in page


def test_the_index_links_every_file_and_lists_failures() -> None:
    page = index_html("2025", [(740, "Silkeborg", ["740-silkeborg.html", "740-silkeborg.pdf"])], "snap.duckdb",
                      [(101, "København", "ReportFailed: <boom>")])
    assert '<a href="740-silkeborg.pdf">PDF</a>' in page
    assert "101 København: ReportFailed: &lt;boom&gt;" in page
    assert "snap.duckdb" in page
