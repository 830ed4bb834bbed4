"""Extract tables and the formats that write them (CSV, XLSX, Parquet), published atomically.

A table is a SELECT over a DuckDB connection (a snapshot plus temporary tables) together with the
description of its columns; the codebook is generated from those descriptions, never written by
hand. Each format is an entry in ``FORMATS``: it writes every table into a temporary file or
folder, and ``publish`` then gives that its final name without ever replacing anything.
Files are owner-only (0600) whatever the umask. Text a spreadsheet would run as a formula is
neutralised in CSV (a leading quote) and kept a string cell in XLSX (``formulas.py``).
"""
from __future__ import annotations

import csv
import datetime as dt
import math
import os
import re
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from hjertekom_core.contract import CodeList, Text
from hjertekom_core.export.formulas import neutralise_formula
from hjertekom_core.private_files import open_private, restrict

_BATCH = 2000  # rows fetched from DuckDB at a time: a large municipality never sits in memory twice
LIST_SEPARATOR = "; "


@dataclass(frozen=True)
class ExtractColumn:
    """One column of an extract table, as the codebook describes it.

    ``type`` is the DuckDB type (what Parquet keeps). ``hidden_as`` is the text CSV and XLSX show
    for NULL in this column: a small-number-suppressed count reads "< 5" there, NULL in Parquet.
    ``hidden_from`` names another column of the table whose text, where it has one, CSV and XLSX
    show for NULL instead (a withheld count's mark, "< 5" or "..", kept beside it for Parquet).
    """

    name: str
    label: Text
    type: str = "VARCHAR"
    unit: str = ""
    codelist: CodeList | None = None
    hidden_as: str = ""
    note: Text | None = None
    hidden_from: str = ""

    def codes_text(self, lang: str) -> str:
        if self.codelist is None:
            return ""
        return LIST_SEPARATOR.join(f"{c.code} = {c.label.get(lang)}" for c in self.codelist.codes)


@dataclass(frozen=True)
class ExtractTable:
    """``sql`` selects exactly ``columns``, in order; ``name`` names its file, ``title`` its sheet."""

    name: str
    title: Text
    columns: tuple[ExtractColumn, ...]
    sql: str


def q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: object) -> str:
    """A SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def rows_of(con: duckdb.DuckDBPyConnection, table: ExtractTable) -> Iterator[list[Any]]:
    # The connection itself, not a cursor: a cursor is another connection and would not see the
    # temporary tables. Nothing else runs on ``con`` while the rows are read.
    result = con.execute(table.sql)
    while batch := result.fetchmany(_BATCH):
        for row in batch:
            yield list(row)


def scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    # fetchall, not fetchone: DuckDB refuses further work on a connection with an unfinished result.
    rows = con.execute(sql).fetchall()
    return int(rows[0][0]) if rows and rows[0][0] is not None else 0


def count_rows(con: duckdb.DuckDBPyConnection, table: ExtractTable) -> int:
    return scalar(con, f"SELECT count(*) FROM ({table.sql})")


def frame_table(con: duckdb.DuckDBPyConnection, name: str, columns: Sequence[ExtractColumn],
                frame: pd.DataFrame) -> str:
    """Load ``frame`` as temporary table ``name`` with the columns' types; returns its SELECT."""
    view = f"{name}_frame"
    con.register(view, frame)
    try:
        casts = ", ".join(f"CAST({q(c.name)} AS {c.type}) AS {q(c.name)}" for c in columns)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {q(name)} AS SELECT {casts} FROM {q(view)}")
    finally:
        con.unregister(view)
    return f"SELECT * FROM {q(name)}"


# --- the codebook: generated from the tables' columns -----------------------------------------------

CODEBOOK_COLUMNS = (
    ExtractColumn("table", Text("Tabel", "Table")),
    ExtractColumn("column", Text("Kolonne", "Column")),
    ExtractColumn("label", Text("Tekst", "Label")),
    ExtractColumn("type", Text("Type", "Type")),
    ExtractColumn("unit", Text("Enhed", "Unit")),
    ExtractColumn("codes", Text("Koder", "Codes")),
    ExtractColumn("note", Text("Bemærkning", "Note")),
)
CODEBOOK_TITLE = Text("Kodebog", "Codebook")


def codebook_table(con: duckdb.DuckDBPyConnection, tables: Sequence[ExtractTable], lang: str) -> ExtractTable:
    rows = [(t.name, c.name, c.label.get(lang), c.type, c.unit, c.codes_text(lang),
             c.note.get(lang) if c.note else "") for t in tables for c in t.columns]
    frame = pd.DataFrame(rows, columns=[c.name for c in CODEBOOK_COLUMNS])
    sql = frame_table(con, "extract_codebook", CODEBOOK_COLUMNS, frame)
    return ExtractTable("codebook", CODEBOOK_TITLE, CODEBOOK_COLUMNS, sql)


# --- values as text formats show them ---------------------------------------------------------------

def _is_list(column: ExtractColumn) -> bool:
    return column.type.endswith("[]")


def _marks(columns: Sequence[ExtractColumn]) -> list[tuple[int, int]]:
    """(column, column holding its mark) for the columns that take their NULL's text from another."""
    index = {c.name: i for i, c in enumerate(columns)}
    return [(i, index[c.hidden_from]) for i, c in enumerate(columns) if c.hidden_from]


def _marked(row: list[Any], marks: Sequence[tuple[int, int]]) -> None:
    for i, j in marks:
        if row[i] is None and row[j] is not None:
            row[i] = row[j]


def _joined(value: Any) -> Any:
    return None if value is None else LIST_SEPARATOR.join("" if v is None else str(v) for v in value)


def _no_nan(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def _text(value: Any) -> str:
    """How CSV writes one value: ISO dates, true/false, Python's shortest round-trip floats."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return str(value)


# --- formats -------------------------------------------------------------------------------------------

Writer = Callable[[duckdb.DuckDBPyConnection, Sequence[ExtractTable], Path, str], None]


@dataclass(frozen=True)
class Format:
    """``suffix`` is the file's suffix, or "" for a format written as a folder of files."""

    name: str
    suffix: str
    write: Writer

    @property
    def is_folder(self) -> bool:
        return not self.suffix


FORMATS: dict[str, Format] = {}


def register_format(fmt: Format) -> Format:
    FORMATS[fmt.name] = fmt
    return fmt


def _csv_text(value: Any) -> str:
    """One CSV cell: text that a spreadsheet would run as a formula gets a leading quote
    (formulas.py); numbers, dates and booleans are not text and are written as they are."""
    return neutralise_formula(value) if isinstance(value, str) else _text(value)


def write_csv(con: duckdb.DuckDBPyConnection, tables: Sequence[ExtractTable], folder: Path, lang: str) -> None:
    """One ``<table>.csv`` per table: UTF-8 with BOM (Excel then reads æøå), comma, decimal point,
    the column names as header (the labels are in codebook.csv). Files 0600; text cells that
    begin like a formula (=, +, -, @, tab, CR) start with ' instead (formulas.py)."""
    for table in tables:
        hidden = [c.hidden_as for c in table.columns]
        lists = [i for i, c in enumerate(table.columns) if _is_list(c)]
        marks = _marks(table.columns)
        with open_private(folder / f"{table.name}.csv", "x", encoding="utf-8-sig", newline="") as fh:
            out = csv.writer(fh)
            out.writerow([neutralise_formula(c.name) for c in table.columns])
            for row in rows_of(con, table):
                for i in lists:
                    row[i] = _joined(row[i])
                _marked(row, marks)
                out.writerow([h if v is None and h else _csv_text(v) for v, h in zip(row, hidden)])


def write_parquet(con: duckdb.DuckDBPyConnection, tables: Sequence[ExtractTable], folder: Path, lang: str) -> None:
    """One ``<table>.parquet`` per table, typed as in the snapshot (lists stay lists); DuckDB writes
    Parquet itself, no pyarrow needed."""
    for table in tables:
        names = ", ".join(q(c.name) for c in table.columns)
        con.execute(f"COPY (SELECT {names} FROM ({table.sql})) TO {lit(folder / f'{table.name}.parquet')} "
                    "(FORMAT parquet)")
        restrict(folder / f"{table.name}.parquet")  # DuckDB created it through the umask


def sheet_title(title: str, taken: set[str]) -> str:
    """Excel's rules: at most 31 characters, none of []:*?/\\, unique within the workbook."""
    clean = "".join("-" if ch in "[]:*?/\\" else ch for ch in title)[:31] or "Ark"
    candidate, n = clean, 2
    while candidate.lower() in taken:
        suffix = f" ({n})"
        candidate, n = clean[:31 - len(suffix)] + suffix, n + 1
    taken.add(candidate.lower())
    return candidate


Converter = Callable[[Any], Any]

#: DuckDB types whose values are never text (numbers, dates, booleans): their cells pass as they are.
_NOT_TEXT = re.compile(r"^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|FLOAT|REAL|"
                       r"DOUBLE|DECIMAL(\(.*\))?|NUMERIC(\(.*\))?|DATE|TIME|TIMESTAMP.*|BOOLEAN|INTERVAL)$")


def _xlsx_converters(ws: WriteOnlyWorksheet, columns: Sequence[ExtractColumn]) -> list[tuple[int, Converter]]:
    """(column index, conversion) for the columns whose values need one; the rest pass as they are."""

    def text(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
        if value.startswith("="):
            # openpyxl writes a str beginning with "=" as a formula: a note typed as
            # =HYPERLINK(...) would become a live link. Free text stays a string cell. (Other
            # leading characters, + - @, are only formulas when typed or read from CSV.)
            cell = WriteOnlyCell(ws, value=value)
            cell.data_type = "s"
            return cell
        return value

    def listed(value: Any) -> Any:
        return text(_joined(value))

    def hide(shown: str, inner: Converter | None) -> Converter:
        return lambda value: shown if value is None else (inner(value) if inner else value)

    converters: list[tuple[int, Converter]] = []
    for i, column in enumerate(columns):
        inner: Converter | None = None
        if _is_list(column):
            inner = listed
        elif column.type in ("DOUBLE", "FLOAT", "REAL"):
            inner = _no_nan
        elif not _NOT_TEXT.match(column.type.upper()):  # VARCHAR, and code lists' ENUM types
            inner = text
        if column.hidden_as:
            converters.append((i, hide(column.hidden_as, inner)))
        elif inner is not None:
            converters.append((i, inner))
    return converters


def write_xlsx(con: duckdb.DuckDBPyConnection, tables: Sequence[ExtractTable], path: Path, lang: str) -> None:
    """One sheet per table (the codebook included): the labels in ``lang`` as header row, typed cells
    (dates as dates, numbers as numbers). Write-only mode streams rows instead of holding them."""
    wb = Workbook(write_only=True)
    taken: set[str] = set()
    bold = Font(bold=True)
    for table in tables:
        ws = wb.create_sheet(title=sheet_title(table.title.get(lang), taken))
        ws.freeze_panes = "A2"
        for i, column in enumerate(table.columns, start=1):
            ws.column_dimensions[get_column_letter(i)].width = min(max(len(column.label.get(lang)), 10), 45) + 2
        header = []
        for column in table.columns:
            cell = WriteOnlyCell(ws, value=ILLEGAL_CHARACTERS_RE.sub("", column.label.get(lang)))
            cell.font = bold
            header.append(cell)
        ws.append(header)
        converters = _xlsx_converters(ws, table.columns)
        marks = _marks(table.columns)
        for row in rows_of(con, table):
            _marked(row, marks)
            for i, convert in converters:
                row[i] = convert(row[i])
            ws.append(row)
    wb.save(path)  # into the 0600 file the caller made: truncated, its mode kept


register_format(Format("csv", "", write_csv))
register_format(Format("xlsx", ".xlsx", write_xlsx))
register_format(Format("parquet", "", write_parquet))


# --- writing under a temporary name, then publishing ---------------------------------------------------

def _fsync(path: Path) -> None:
    for file in ([path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file())):
        with open(file, "rb") as fh:
            os.fsync(fh.fileno())


def publish(tmp: Path, out_dir: Path, stem: str, suffix: str) -> Path:
    """Give the finished ``tmp`` (file or folder) its final name in ``out_dir``; never replaces.

    A file is hard-linked (os.link refuses an existing name); a folder first claims its name
    with mkdir (refuses an existing one) and is then renamed onto that empty folder.
    """
    _fsync(tmp)
    for n in range(1, 1000):
        final = out_dir / (f"{stem}{suffix}" if n == 1 else f"{stem}-{n}{suffix}")
        try:
            if tmp.is_dir():
                final.mkdir()
                os.rename(tmp, final)
            else:
                os.link(tmp, final)
                tmp.unlink()
            return final
        except FileExistsError:
            continue
    raise FileExistsError(f"no free name for {stem} in {out_dir}")


def remove(path: Path) -> None:
    """Remove a temporary or unpublished file or folder, if it is there."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
