"""Import files of every odd shape: each is refused with a Danish message saying what to fix, and
nothing is written (issue 12, "Low, but fix them": imports).

Before the fix a header-only CSV ended in "unexpected error" (NOT NULL on courses.citizen_id), a
binary or UTF-16 file, a workbook without sheets and an over-long cell crashed, rows with too few
or too many fields were imported shifted or half, and there was no size limit at all.
"""
from __future__ import annotations

import csv
import datetime as dt
import random
import zipfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from hjertekom_core.access import SYSTEM
from hjertekom_core.cli import main
from hjertekom_core.config import Config
from hjertekom_core.contract import ContractRegistry
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.errors import ImportFailed
from hjertekom_core.importer import import_file
from hjertekom_core.service import Service
from hjertekom_core.store import Store
from hjertekom_core.store.schema import audit_log, citizens, courses, registrations
from hjertekom_core.users import add_user

TODAY = dt.date(2026, 6, 30)
_rng = random.Random(1212)  # noqa: S311 - synthetic CPR numbers for tests, not a secret
HEADER = ["cpr", "name", "course.municipality", "course.referral_date", "course.diagnosis_groups"]


def new_cpr() -> str:
    cpr = generate_cpr(_rng)
    return f"{cpr[:6]}-{cpr[6:]}"


def good_row() -> list[str]:
    return [new_cpr(), "Jens Hansen", "740", "03-02-2025", "pci"]


def counts(store: Store) -> dict[str, int]:
    with store.read() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (citizens, courses, registrations, audit_log)}


def csv_bytes(rows: list[list[str]], delimiter: str = ";", encoding: str = "utf-8", line: str = "\n") -> bytes:
    return line.join(delimiter.join(r) for r in rows).encode(encoding) + line.encode(encoding)


@pytest.fixture
def service(store: Store, contracts: ContractRegistry) -> Service:
    clinician = add_user(store, SYSTEM, "import740", "Import 740", "clinician", "Lang-og-sikker-2026!", (740,))
    return Service(store, contracts, clinician, today=TODAY)


def refused(service: Service, store: Store, path: Path, *words: str, **kwargs: int) -> str:
    """Import ``path``: it must fail with ImportFailed naming every word, and write nothing."""
    good = path.with_name("good-" + path.stem + ".csv")
    good.write_bytes(csv_bytes([HEADER, good_row()]))
    import_file(service, good)  # the store is not empty, so "unchanged" means something
    before = counts(store)
    with pytest.raises(ImportFailed) as failed:
        import_file(service, path, **kwargs)
    text = " | ".join(e.message for e in failed.value.errors)
    for word in words:
        assert word in text, text
    assert counts(store) == before
    return text


# --- no data ---------------------------------------------------------------------------------------
def test_header_only_csv_says_there_are_no_data_rows(service: Service, store: Store, tmp_path: Path) -> None:
    path = tmp_path / "kun-overskrift.csv"
    path.write_bytes(csv_bytes([HEADER]))
    refused(service, store, path, "ingen rækker med data")
    blank_rows = tmp_path / "tomme-rækker.csv"
    blank_rows.write_bytes(csv_bytes([HEADER, ["", "", "", "", ""], [" ", "", "", "", ""]]))
    refused(service, store, blank_rows, "ingen rækker med data")


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b"\n\n", b"\xef\xbb\xbf\r\n"],
                         ids=["empty", "only-bom", "blank-lines", "bom-and-newline"])
def test_empty_files(service: Service, store: Store, tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "tom.csv"
    path.write_bytes(content)
    refused(service, store, path, "tom")


# --- size ------------------------------------------------------------------------------------------
def test_a_file_over_the_limit_is_refused_before_it_is_read(service: Service, store: Store, tmp_path: Path) -> None:
    limit = Config(import_max_mb=1).import_max_mb
    path = tmp_path / "stor.csv"
    path.write_bytes(b"\x00\xff" * (600 * 1024))  # 1.2 MB of binary: were it read, that would be the error
    text = refused(service, store, path, "1 MB", "import_max_mb", max_mb=limit)
    assert "tekst" not in text and "UTF-8" not in text, "refused for its size, not for its content"
    xlsx = tmp_path / "stor.xlsx"
    xlsx.write_bytes(b"PK\x03\x04" + b"\x00" * (1100 * 1024))
    refused(service, store, xlsx, "1 MB", "import_max_mb", max_mb=limit)


def test_the_limit_is_the_default_setting_without_one(service: Service, store: Store, tmp_path: Path) -> None:
    path = tmp_path / "lige-over.csv"
    with path.open("wb") as fh:
        fh.truncate(Config().import_max_mb * 1024 * 1024 + 1)  # sparse: nothing written to disk
    refused(service, store, path, f"{Config().import_max_mb} MB", "import_max_mb")


def test_an_xlsx_that_unpacks_to_far_more_than_the_limit_is_refused(service: Service, store: Store,
                                                                    tmp_path: Path) -> None:
    path = tmp_path / "bombe.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.append(HEADER)
    workbook.save(path)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("xl/media/padding.bin", "w", force_zip64=True) as member:
            for _ in range(64):
                member.write(b"\x00" * (1024 * 1024))  # 64 MB that pack to almost nothing
    assert path.stat().st_size < 1024 * 1024
    refused(service, store, path, "pakkes ud", "import_max_mb", max_mb=1)


# --- shape of a CSV --------------------------------------------------------------------------------
def test_semicolon_csv_from_danish_excel_is_accepted(service: Service, store: Store, tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + csv_bytes([HEADER, good_row(), ["", "", "", "", ""]], line="\r\n"))
    before = counts(store)
    assert import_file(service, path).courses == 1
    assert counts(store)["courses"] == before["courses"] + 1


def test_tab_separated_text_is_accepted(service: Service, store: Store, tmp_path: Path) -> None:
    path = tmp_path / "tabulator.txt"
    path.write_bytes(csv_bytes([HEADER, good_row()], delimiter="\t"))
    assert import_file(service, path).courses == 1


def test_an_unknown_delimiter_is_named(service: Service, store: Store, tmp_path: Path) -> None:
    path = tmp_path / "lodret-streg.csv"
    path.write_bytes(csv_bytes([HEADER, good_row()], delimiter="|"))
    refused(service, store, path, "én kolonne", "semikolon")


def test_rows_with_more_or_fewer_fields_than_the_header(service: Service, store: Store, tmp_path: Path) -> None:
    # A decimal comma not in quotes in a comma-separated file moves every later cell one column on.
    path = tmp_path / "skæve.csv"
    path.write_bytes(csv_bytes([HEADER + ["start.weight_kg"], good_row() + ["72", "5"], good_row()[:3], good_row() + ["80"]],
                               delimiter=","))
    text = refused(service, store, path, "har 7 felter", "har 3 felter", "overskriftsrækken har 6")
    assert text.count("overskriftsrækken har") == 2, "the good row is fine"


def test_a_newline_inside_an_unquoted_cell_is_caught(service: Service, store: Store, tmp_path: Path) -> None:
    path = tmp_path / "linjeskift.csv"
    path.write_bytes(b"cpr;name;course.municipality;course.referral_date;course.diagnosis_groups\n"
                     + f"{new_cpr()};Jens\nHansen;740;03-02-2025;pci\n".encode())
    refused(service, store, path, "felter")


def test_duplicate_header_names(service: Service, store: Store, tmp_path: Path) -> None:
    path = tmp_path / "dobbelt.csv"
    path.write_bytes(csv_bytes([HEADER + ["CPR", "Course.Municipality"], good_row() + [new_cpr(), "740"]]))
    text = refused(service, store, path, "mere end én gang")
    assert text.count("mere end én gang") == 2


def test_an_overlong_cell(service: Service, store: Store, tmp_path: Path) -> None:
    path = tmp_path / "lang.csv"
    path.write_bytes(csv_bytes([HEADER, [new_cpr(), "x" * 200_000, "740", "03-02-2025", "pci"]]))
    refused(service, store, path, "for lang")


# --- not text, or not UTF-8 ------------------------------------------------------------------------
def test_windows_1252_text_says_which_encoding_is_expected(service: Service, store: Store, tmp_path: Path) -> None:
    path = tmp_path / "ansi.csv"
    path.write_bytes(csv_bytes([HEADER, [new_cpr(), "Søren Ærø", "740", "03-02-2025", "pci"]], encoding="cp1252"))
    refused(service, store, path, "UTF-8", "linje 2", "CSV UTF-8")


def test_utf16_text(service: Service, store: Store, tmp_path: Path) -> None:
    path = tmp_path / "unicode.csv"
    path.write_bytes(csv_bytes([HEADER, good_row()], delimiter="\t", encoding="utf-16"))
    refused(service, store, path, "UTF-16", "CSV UTF-8")


@pytest.mark.parametrize("content,words", [
    (bytes(range(256)) * 4, ("ikke en tekstfil",)),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, ("ikke en tekstfil",)),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, ("gamle Excel-format", ".xls")),
], ids=["bytes", "png", "xls"])
def test_a_binary_file_named_csv(service: Service, store: Store, tmp_path: Path, content: bytes,
                                 words: tuple[str, ...]) -> None:
    path = tmp_path / "binær.csv"
    path.write_bytes(content)
    refused(service, store, path, *words)


def test_an_excel_workbook_named_csv(service: Service, store: Store, tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    workbook.active.append(HEADER)
    workbook.active.append(good_row())
    path = tmp_path / "regneark.csv"
    workbook.save(path)
    refused(service, store, path, "Excel-fil", ".xlsx")


# --- XLSX ------------------------------------------------------------------------------------------
def test_an_xlsx_that_is_not_a_workbook(service: Service, store: Store, tmp_path: Path) -> None:
    text_file = tmp_path / "tekst.xlsx"
    text_file.write_bytes(csv_bytes([HEADER, good_row()]))
    refused(service, store, text_file, "tekstfil", ".csv")
    garbage = tmp_path / "rod.xlsx"
    garbage.write_bytes(bytes(range(256)) * 8)
    refused(service, store, garbage, "Excel-filen kan ikke læses")
    other_zip = tmp_path / "andet.xlsx"
    with zipfile.ZipFile(other_zip, "w") as zf:
        zf.writestr("readme.txt", "not a workbook")
    refused(service, store, other_zip, "Excel-filen kan ikke læses")


def _broken_sheet(path: Path) -> None:
    """A workbook whose sheet XML is cut off half-way."""
    source = path.with_name("whole.xlsx")
    workbook = openpyxl.Workbook()
    workbook.active.append(HEADER)
    for _ in range(3):
        workbook.active.append(good_row())
    workbook.save(source)
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(path, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            zout.writestr(item, data[: len(data) // 2] if item.filename == "xl/worksheets/sheet1.xml" else data)


def _without_sheets(path: Path) -> None:
    """A workbook whose workbook.xml lists no sheet."""
    source = path.with_name("one-sheet.xlsx")
    openpyxl.Workbook().save(source)
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(path, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename == "xl/workbook.xml":
                start, end = data.index(b"<sheets>"), data.index(b"</sheets>") + len(b"</sheets>")
                data = data[:start] + b"<sheets/>" + data[end:]
            zout.writestr(item, data)


def test_workbooks_without_sheets_data_or_a_readable_sheet(service: Service, store: Store, tmp_path: Path) -> None:
    no_sheets = tmp_path / "ingen-ark.xlsx"
    _without_sheets(no_sheets)
    refused(service, store, no_sheets, "intet regneark")

    empty = tmp_path / "tomt-ark.xlsx"
    openpyxl.Workbook().save(empty)
    refused(service, store, empty, "tom")

    header_only = tmp_path / "kun-overskrift.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.append(HEADER)
    workbook.active.append([None] * len(HEADER))
    workbook.save(header_only)
    refused(service, store, header_only, "ingen rækker med data")

    broken = tmp_path / "ødelagt.xlsx"
    _broken_sheet(broken)
    refused(service, store, broken, "Excel-filen kan ikke læses")


# --- the command line ------------------------------------------------------------------------------
def test_cli_refuses_with_the_reason_not_an_unexpected_error(tmp_path: Path, cli_env: dict[str, str | None]) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["init"], env=cli_env).exit_code == 0
    header_only = tmp_path / "kun-overskrift.csv"
    header_only.write_bytes(csv_bytes([HEADER]))
    done = runner.invoke(main, ["import", str(header_only)], env=cli_env)
    assert done.exit_code == 1
    assert "ingen rækker med data" in done.stderr and "unexpected" not in done.stderr
    assert "Traceback" not in done.output

    big = tmp_path / "stor.csv"
    with big.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=";")
        writer.writerow(HEADER)
        while fh.tell() < 1_100_000:
            writer.writerow(good_row())
    done = runner.invoke(main, ["import", str(big)], env={**cli_env, "HJERTEKOM_IMPORT_MAX_MB": "1"})
    assert done.exit_code == 1
    assert "1 MB" in done.stderr and "HJERTEKOM_IMPORT_MAX_MB" in done.stderr
    store = Store(f"sqlite:///{tmp_path / 'data' / 'hjertekom.sqlite'}")
    try:
        found = counts(store)
    finally:
        store.dispose()
    assert (found["citizens"], found["courses"], found["registrations"]) == (0, 0, 0)
