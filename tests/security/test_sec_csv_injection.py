"""Text typed into the registry never runs as a formula in a spreadsheet (CSV formula injection).

A clinician (or an imported file) can put anything into a citizen's name or a free-text note. A
coordinator opens the individual extract in Excel: a cell beginning with =, +, -, @, tab or CR
would be evaluated, e.g. ``=HYPERLINK("http://x","y")`` as a live link. Checked as the coordinator
would see it: CSV cells that begin like a formula start with a single quote (OWASP), XLSX cells
are strings and never formulas, and numbers (-1.5) stay numbers. The import error report, also
opened in Excel, quotes the column names it repeats from the imported file.
"""
from __future__ import annotations

import csv
import random
from pathlib import Path

import duckdb
import openpyxl
import pytest

from hjertekom_core.access import SYSTEM
from hjertekom_core.bootstrap import Workspace, initialise, open_workspace
from hjertekom_core.config import Config
from hjertekom_core.contract import Text
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.errors import RowError
from hjertekom_core.export.extract import ExtractRequest, create_extract
from hjertekom_core.export.tables import FORMATS, ExtractColumn, ExtractTable
from hjertekom_core.importer import write_error_report
from hjertekom_core.service import Service
from hjertekom_core.snapshot import create_snapshot

from factories import course_data
from paths import CONTRACTS_DIR

#: What someone could type as a name or a note; the service keeps each as typed.
TYPED = ['=HYPERLINK("http://x","y")', "=1+1", "@SUM(A1)", "+1", "-1+2", "=cmd|' /C calc'!A0"]
#: Cells a spreadsheet takes for a formula (OWASP), tab and carriage return included.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A store with one citizen per typed text, as name and as the course's note (Silkeborg)."""
    ws = open_workspace(Config(data_dir=tmp_path_factory.mktemp("formulas") / "var", contracts_dir=CONTRACTS_DIR))
    initialise(ws)
    service = Service(ws.store, ws.contracts, SYSTEM)
    rng = random.Random(1212)  # noqa: S311 - synthetic test data, no secret
    for text in TYPED:
        citizen = service.create_citizen(generate_cpr(rng), text, 740)
        service.open_course(citizen.id, course_data(note=text), complete=True)
    return ws


@pytest.fixture(scope="module")
def snapshot(workspace: Workspace) -> Path:
    return create_snapshot(workspace.store, workspace.contracts, workspace.config.data_dir / "snapshots").path


def extract(ws: Workspace, snapshot: Path, out: Path, fmt: str) -> Path:
    request = ExtractRequest(740, "individual", fmt, snapshot=snapshot, out_dir=out)
    return create_extract(ws, SYSTEM, request).path


def test_the_individual_csv_extract_quotes_text_that_would_run_as_a_formula(
        workspace: Workspace, snapshot: Path, tmp_path: Path) -> None:
    folder = extract(workspace, snapshot, tmp_path, "csv")
    with open(folder / "courses.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(row["name"] for row in rows) == sorted("'" + text for text in TYPED)
    assert sorted(row["course__note"] for row in rows) == sorted("'" + text for text in TYPED)
    for path in folder.glob("*.csv"):
        with open(path, encoding="utf-8-sig", newline="") as fh:
            cells = [cell for row in csv.reader(fh) for cell in row]
        live = [c for c in cells if c.startswith(FORMULA_STARTS) and not is_number(c)]
        assert live == [], f"{path.name}: cells a spreadsheet would run: {live}"


def test_the_individual_xlsx_extract_keeps_them_as_strings_never_formulas(
        workspace: Workspace, snapshot: Path, tmp_path: Path) -> None:
    path = extract(workspace, snapshot, tmp_path, "xlsx")
    wb = openpyxl.load_workbook(path)
    try:
        cells = [cell for sheet in wb.worksheets for row in sheet.iter_rows() for cell in row]
        formulas = [(c.coordinate, c.value) for c in cells if c.data_type == "f"]
        typed = [c for c in cells if c.value in TYPED]
        assert formulas == []
        assert sorted(c.value for c in typed) == sorted(TYPED * 2)  # name and note, as typed
        assert {c.data_type for c in typed} == {"s"}
    finally:
        wb.close()


def crafted_table() -> ExtractTable:
    """Text beginning with every formula character next to real negative numbers."""
    columns = (ExtractColumn("note", Text("Bemærkning", "Note")), ExtractColumn("kg", Text("Vægt", "Weight"), "DOUBLE"),
               ExtractColumn("n", Text("Antal", "Count"), "BIGINT"), ExtractColumn("codes", Text("Koder", "Codes"),
                                                                                   "VARCHAR[]"))
    return ExtractTable("t", Text("Noter", "Notes"), columns, """
        SELECT * FROM (VALUES (chr(9) || '=1+1', -1.5::DOUBLE, -3::BIGINT, ['-1', 'a']),
                              (chr(13) || '=1+1', 2.25::DOUBLE, 4::BIGINT, ['@x']),
                              ('+1', NULL, NULL, NULL), ('-1.5', NULL, NULL, NULL),
                              ('@SUM(A1)', NULL, NULL, NULL), ('plain - text', NULL, NULL, NULL)) v""")


def test_every_formula_start_is_quoted_in_csv_text_and_numbers_stay_numbers(tmp_path: Path) -> None:
    with duckdb.connect() as con:
        FORMATS["csv"].write(con, [crafted_table()], tmp_path, "da")
    with open(tmp_path / "t.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[1:] == [["'\t=1+1", "-1.5", "-3", "'-1; a"], ["'\r=1+1", "2.25", "4", "'@x"],
                        ["'+1", "", "", ""], ["'-1.5", "", "", ""],  # text reading -1.5 is text
                        ["'@SUM(A1)", "", "", ""], ["plain - text", "", "", ""]]


def test_xlsx_writes_text_as_strings_and_numbers_as_numbers(tmp_path: Path) -> None:
    with duckdb.connect() as con:
        FORMATS["xlsx"].write(con, [crafted_table()], tmp_path / "t.xlsx", "da")
    wb = openpyxl.load_workbook(tmp_path / "t.xlsx")
    try:
        rows = [[(c.value, c.data_type) for c in row] for row in wb["Noter"].iter_rows(min_row=2, max_row=3)]
    finally:
        wb.close()
    (cr_text, cr_type), *rest = rows[1]
    assert rows[0] == [("\t=1+1", "s"), (-1.5, "n"), (-3, "n"), ("-1; a", "s")]
    assert rest == [(2.25, "n"), (4, "n"), ("@x", "s")]
    assert cr_type == "s" and cr_text in ("\r=1+1", "\n=1+1")  # XML reads a lone CR back as a line feed


def test_the_import_error_report_quotes_what_the_imported_file_said(tmp_path: Path) -> None:
    report = tmp_path / "fejl.csv"
    write_error_report([RowError(2, '=HYPERLINK("http://x","y")', "Ukendt kolonne. Ret navnet i række 1."),
                        RowError(3, "vægt", "-1+2 er ikke et tal")], report)
    with open(report, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh, delimiter=";"))
    assert rows == [["række", "kolonne", "fejl"],
                    ["2", '\'=HYPERLINK("http://x","y")', "Ukendt kolonne. Ret navnet i række 1."],
                    ["3", "vægt", "'-1+2 er ikke et tal"]]
