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


@pytest.mark.parametrize("period", ["25", "2025-Q1", "år 2025", ""])
def test_a_period_must_be_a_year(period: str) -> None:
    with pytest.raises(ValueError, match="year"):
        check_period(period)


def test_the_index_links_every_file_and_lists_failures() -> None:
    page = index_html("2025", [(740, "Silkeborg", ["740-silkeborg.html", "740-silkeborg.pdf"])], "snap.duckdb",
                      [(101, "København", "ReportFailed: <boom>")])
    assert '<a href="740-silkeborg.pdf">PDF</a>' in page
    assert "101 København: ReportFailed: &lt;boom&gt;" in page
    assert "snap.duckdb" in page
