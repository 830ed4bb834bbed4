"""Importing courses from a spreadsheet (``hjertekom import FILE``): every row valid, or nothing.

File format
-----------
* CSV (UTF-8, with or without BOM; delimiter ``;``, ``,`` or tab, detected from the header row;
  every row as many fields as the header) or XLSX (the first sheet). Row 1 is the header; every
  further row is **one course**. Blank rows are skipped. Row numbers in error messages are the
  spreadsheet's own (header = row 1); row 0 means the file as a whole.
* At most ``import_max_mb`` megabytes (default 20), refused before anything is read; an XLSX may
  unpack to at most ``XLSX_MAX_EXPANSION`` times that. Another encoding (Windows-1252, UTF-16), an
  old .xls, a workbook named .csv or a text file named .xlsx is refused with what to do instead.
* Columns (any order; names are case-insensitive):

  ``cpr``
      Required. ``DDMMYY-SSSS`` or ``DDMMYYSSSS``. A number that fails the modulus-11 check is
      accepted (numbers issued since 2007 may); the birth date must exist. In XLSX a CPR number
      stored as a number is padded back to 10 digits.
  ``name``
      Required for a citizen not yet in the store; ignored for an existing one (same CPR number),
      who gets the row's course added. Rows of one new citizen must agree on the name.
  ``<form>.<field>``
      Any input field of the programme's forms, e.g. ``course.municipality``,
      ``course.referral_date``, ``start.meeting_date``, ``start.weight_kg``, ``end.course_status``.
      Derived fields (BMI, scores) are computed, never imported: such a column is an error.
  ``<form>.status``
      Optional: ``complete`` (or ``færdig``) or ``draft`` (or ``kladde``). Default: complete when
      the form validates as complete, otherwise draft. ``complete`` with missing required fields is
      an error.

* Cells as a clinician writes them: dates ``dd-mm-yyyy`` or ISO ``yyyy-mm-dd``; decimal comma
  (``72,5``); codes from the code lists (not their labels); several codes in one cell separated by
  ``;`` (quote the cell in a ``;``-separated file) or ``|``. A missing answer is given with the
  reason's code or its words, in any case: ``UNK``/``uoplyst``/``ukendt``, ``NA``/``ikke relevant``,
  ``DECL``/``borgeren ønskede ikke`` (data_contracts/codelists/missing_reason.yaml), where the field
  declares that reason; it is stored as the code. An empty cell means "not answered". The ``course`` form is required on every row (at least
  ``course.municipality``); ``start`` and ``end`` are created when one of their cells is filled.

Checks (all of them, on every row, before anything is written)
--------------------------------------------------------------
Unknown, duplicate and derived columns; the CPR number; the name of a new citizen; every form with
``validate_form`` (context = the row's other forms) as complete or draft per its status; the
course's municipality must be one the importing user acts in, and an existing citizen must belong
to such a municipality (otherwise the row is refused without saying where the citizen is), and a
restricted one (GDPR art. 18) gets no course. A new CPR number that was erased before (a
tombstone, citizen_state.py) is imported and flagged: ``ImportResult.notes`` names the rows.
Soft-limit warnings (unusual but possible values) are accepted, as a clinician would confirm
them; the result counts them but does not list them. Any error raises
:class:`~hjertekom_core.errors.ImportFailed` with one :class:`~hjertekom_core.errors.RowError`
per problem (row, column, Danish message saying what to fix) and nothing is written.

Shared questions
----------------
For a row of a citizen already in the store, a shared instrument (``instrument: who5``, docs/programmes.md)
the row leaves blank is filled in from the citizen's registration of the same day in another
programme the user acts in (``Service.shared_for_import``, the rules of shared_questions.py), its
source recorded in the row's ``import.course`` audit entry (``shared_from``); answers that differ from
it are imported as they are and reported (``ImportResult.shared``). The other programme's
registrations are never written to.

Memory
------
Rows are read one at a time (the ``csv`` module over the open file; openpyxl's read-only mode)
and checked as they come. What writing needs of a valid row is kept compressed (:class:`_Row`),
so an import holds a few times the file's size at most, never the whole sheet; once an error is
found rows keep only what the citizen checks need, and at most ``MAX_ERRORS`` errors are kept.

Writing
-------
Only when every row is valid is anything written: in one transaction (``store.write()``), in
batches of ``WRITE_BATCH`` courses, so a failure midway leaves nothing behind and the write lock is
held for the inserts alone, not while the file is checked. The user needs ``import.write``, or
else ``registration.write`` in the rows' municipalities. One audit entry per created course (``import.course``), never a CPR or a name.
"""
from __future__ import annotations

import codecs
import csv
import dataclasses
import datetime as dt
import io
import itertools
import json
import logging
import os
import warnings
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Connection, insert, select

from hjertekom_core import audit
from hjertekom_core.access import User
from hjertekom_core.citizen_state import tombstones_of
from hjertekom_core.config import Config
from hjertekom_core.contract import Contract
from hjertekom_core.cpr import InvalidCpr, parse_cpr
from hjertekom_core.errors import FieldIssue, ImportFailed, RowError
from hjertekom_core.export.formulas import csv_cell
from hjertekom_core.private_files import atomic_private_write
from hjertekom_core.service import Service, dump_data
from hjertekom_core.shared_questions import SharedAnswer, form_day, items_of, may_fill, with_answers
from hjertekom_core.store.schema import citizens, courses, registrations
from hjertekom_core.validation import ValidationReport, make_issue, validate_form

log = logging.getLogger(__name__)

Progress = Callable[[int], Any]

CPR_COLUMN = "cpr"
NAME_COLUMN = "name"
STATUS_SUFFIX = "status"
STATUS_WORDS = {"complete": True, "færdig": True, "draft": False, "kladde": False}
NAME_MAX_LENGTH = 200  # the citizens.name column
HEADER_ROW = 1
#: The row of an error about the file as a whole (size, type, encoding): no row of the sheet.
FILE_ROW = 0
MB = 1024 * 1024
#: CPR numbers looked up per query (well below every backend's limit on bound parameters).
LOOKUP_BATCH = 500


# --- messages (Danish first: the clinician reads them in the error report) -----------------------
def _msg_unknown_column(column: str) -> str:
    return (f"Kolonnen «{column}» kendes ikke. Brug cpr, name, <skema>.<felt> (fx start.weight_kg) "
            f"eller <skema>.status. Ret eller fjern kolonnen.")


MSG_DUPLICATE_COLUMN = "Kolonnen findes mere end én gang. Fjern den ene."
MSG_NO_HEADER = "Kolonnen har data, men intet navn i række 1. Skriv kolonnens navn, eller slet dataene."
MSG_DERIVED_COLUMN = "Feltet beregnes automatisk og kan ikke importeres. Fjern kolonnen."
MSG_NO_CPR_COLUMN = "Kolonnen cpr mangler. Tilføj en kolonne med borgerens CPR-nummer."
MSG_EMPTY_FILE = "Filen er tom eller mangler overskriftsrækken (række 1 skal have kolonnenavnene)."
MSG_NO_DATA_ROWS = ("Filen indeholder ingen rækker med data, kun overskriftsrækken. Tilføj en række pr. forløb "
                    "under overskrifterne.")
MSG_BAD_TYPE = "Filtypen kendes ikke. Brug en CSV-fil (.csv) eller en Excel-fil (.xlsx)."
MSG_NOT_A_FILE = "Filen findes ikke eller er ikke en almindelig fil. Vælg en CSV- eller Excel-fil."
MSG_UNREADABLE_XLSX = "Excel-filen kan ikke læses. Gem den igen som .xlsx (Excel-projektmappe) og prøv igen."
MSG_NO_SHEETS = "Excel-filen har intet regneark. Læg forløbene i det første regneark og gem igen."
MSG_TEXT_AS_XLSX = "Filen er en tekstfil, ikke en Excel-fil, men hedder .xlsx. Omdøb den til .csv og prøv igen."
MSG_WORKBOOK_AS_CSV = ("Filen er en Excel-fil, men hedder .csv. Omdøb den til .xlsx, eller gem den fra Excel som "
                       "«CSV UTF-8 (kommasepareret)».")
MSG_OLD_EXCEL = ("Filen er i det gamle Excel-format (.xls). Gem den i Excel som .xlsx (Excel-projektmappe) "
                 "eller som «CSV UTF-8 (kommasepareret)».")
MSG_UTF16 = ("Filen er gemt som UTF-16 («Unicode-tekst»). Gem den i Excel som «CSV UTF-8 (kommasepareret)» "
             "og prøv igen.")
MSG_BINARY = ("Filen er ikke en tekstfil (den indeholder binære data). Brug en CSV-fil gemt som "
              "«CSV UTF-8 (kommasepareret)» eller en Excel-fil (.xlsx).")
MSG_BAD_CSV_ROW = (f"Rækken kan ikke læses som CSV: en celle er for lang (højst {csv.field_size_limit()} tegn) "
                   "eller har et anførselstegn, der ikke er lukket. Ret rækken.")
MSG_ONE_COLUMN = ("Overskriftsrækken har kun én kolonne. Adskil kolonnerne med semikolon (;), komma (,) eller "
                  "tabulator, fx «cpr;name;course.municipality».")


def _msg_not_utf8(line: int) -> str:
    return (f"Filen er ikke gemt som UTF-8 (første tegn, der ikke kan læses, er i linje {line}). Gem den i "
            "Excel som «CSV UTF-8 (kommasepareret)» og prøv igen.")


def _msg_too_large(size: int, max_mb: int) -> str:
    return (f"Filen fylder {size / MB:.1f} MB; der kan højst importeres {max_mb} MB ad gangen (indstillingen "
            "import_max_mb / HJERTEKOM_IMPORT_MAX_MB). Del filen op, eller bed en administrator hæve grænsen.")


def _msg_unpacks_too_large(max_mb: int) -> str:
    return (f"Excel-filen fylder mere end {max_mb * XLSX_MAX_EXPANSION} MB, når den pakkes ud ({XLSX_MAX_EXPANSION} "
            f"gange grænsen på {max_mb} MB, indstillingen import_max_mb). Del filen op, eller gem den som CSV.")


def _msg_width(fields: int, header: int) -> str:
    return (f"Rækken har {fields} felter, men overskriftsrækken har {header}. Sæt anførselstegn om "
            "celler med skilletegn (fx decimalkomma i en kommasepareret fil) eller linjeskift, så alle rækker "
            "har lige mange felter.")


MSG_CPR_MISSING = "CPR-nummer mangler. Skriv borgerens CPR-nummer (DDMMÅÅ-SSSS)."
MSG_NAME_MISSING = (f"Navn mangler for en ny borger (højst {NAME_MAX_LENGTH} tegn). "
                    "Skriv borgerens navn.")
MSG_BAD_STATUS = "Status skal være «complete» (færdig) eller «draft» (kladde). Ret værdien."
MSG_CITIZEN_ELSEWHERE = ("CPR-nummeret er registreret i en kommune, du ikke kan registrere i. "
                         "Kontakt en administrator, hvis borgeren er flyttet.")
MSG_CITIZEN_CREATED_MEANWHILE = "Borgeren blev oprettet af en anden under importen. Importér filen igen."
MSG_CITIZEN_RESTRICTED = ("Borgeren er begrænset (GDPR art. 18): der kan ikke registreres forløb for borgeren, før "
                          "begrænsningen er ophævet. Fjern rækken, eller kontakt en administrator.")
MSG_PREVIOUSLY_ERASED = ("Bemærk: CPR-nummeret er tidligere slettet fra HjerteKom (efter anmodning eller udløbet "
                         "opbevaringsperiode). Rækken er importeret; kontrollér, at borgeren skal registreres igen, "
                         "og at oplysningerne ikke stammer fra de slettede.")


def _msg_name_differs(first_row: int) -> str:
    return (f"Navnet afviger fra række {first_row} med samme CPR-nummer. Skriv navnet ens i alle rækker "
            "for borgeren.")


def _msg_not_your_municipality(code: int) -> str:
    return (f"Du kan ikke registrere forløb i kommune {code}. Ret kommunen, eller lad en bruger fra "
            "kommunen importere rækken.")


def _msg_not_your_programme(programme: str, code: int) -> str:
    return (f"Du kan ikke registrere forløb i programmet {programme} i kommune {code}. Lad en bruger med "
            "adgang til programmet i kommunen importere rækken.")


# --- result --------------------------------------------------------------------------------------
@dataclass
class ImportResult:
    """What an import wrote."""

    rows: int = 0
    citizens_created: int = 0
    citizens_existing: int = 0
    courses: int = 0
    registrations: Counter[tuple[str, str]] = field(default_factory=Counter)  # (form, status) -> n
    warnings_accepted: int = 0
    #: Rows imported with a note for the user to check: a CPR number erased before (a tombstone).
    notes: list[RowError] = field(default_factory=list)
    #: Shared questions (docs/programmes.md): per row, what happened to an instrument the citizen
    #: answered the same day in another programme (filled in from it, or differing from it).
    shared: list[RowError] = field(default_factory=list)
    shared_filled: int = 0

    def describe(self) -> str:
        forms = "; ".join(f"{form} {status}: {n}" for (form, status), n in self.registrations.items())
        text = (f"Importeret / imported: {self.courses} forløb/courses for {self.citizens_created} nye "
                f"borgere/new citizens og/and {self.citizens_existing} eksisterende/existing; "
                f"{sum(self.registrations.values())} registreringer/registrations ({forms or '-'})")
        if self.warnings_accepted:
            text += (f"; {self.warnings_accepted} usædvanlige værdier accepteret/"
                     f"unusual values accepted")
        if self.notes:
            rows = ", ".join(str(n.row) for n in self.notes[:20]) + (" ..." if len(self.notes) > 20 else "")
            text += (f"\nBemærk: {len(self.notes)} række(r) har et CPR-nummer, der tidligere er slettet fra HjerteKom "
                     f"(række {rows}). Kontrollér, at borgerne skal registreres igen, og at oplysningerne ikke "
                     "stammer fra de slettede. / Note: rows with a CPR number erased before.")
        if self.shared_filled:
            text += (f"\n{self.shared_filled} delte spørgeskemaer (fx WHO-5) var tomme og er udfyldt med borgerens svar "
                     "fra et andet programs registrering samme dag (kilden står i auditloggen). / "
                     f"{self.shared_filled} blank shared questionnaires were filled in from another programme's "
                     "registration of the same day (the source is in the audit log).")
        differs = [n for n in self.shared if n.column.endswith(SHARED_DIFFERS)]
        for note in differs[:20]:
            text += f"\nrække {note.row}, {note.column.removesuffix(SHARED_DIFFERS)}: {note.message}"
        if len(differs) > 20:
            text += f"\n... og {len(differs) - 20} rækker mere med andre svar end et andet program / more rows"
        return text


# --- reading files -------------------------------------------------------------------------------
#: Bytes read at a time when checking a CSV file's encoding (memory stays flat whatever the size).
CHUNK = 1 << 20
#: A workbook is a zip of XML: refuse one that unpacks to more than this many times the size limit
#: (ordinary workbooks unpack to 5-15 times their size; a "zip bomb" to thousands).
XLSX_MAX_EXPANSION = 40
#: Delimiters a CSV may use; the one found most often in the header row is taken.
DELIMITERS = (";", ",", "\t")
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the old .xls (and .doc) format


@dataclass
class _Sheet:
    """An open sheet: the header, and its further rows read one at a time."""

    header: list[str]
    rows: Iterator[tuple[int, list[Any]]]  # (spreadsheet row number, cells)
    check_width: bool = False  # CSV: every row must have as many fields as the header


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _file_error(message: str) -> ImportFailed:
    return ImportFailed([RowError(FILE_ROW, "", message)])


def _check_size(size: int, max_mb: int) -> None:
    if size > max_mb * MB:
        raise _file_error(_msg_too_large(size, max_mb))


def _check_text(fh: BinaryIO, max_mb: int) -> None:
    """Refuse a file that is not UTF-8 text before any row is read: read in chunks, so a file of
    any size costs one chunk of memory."""
    head = fh.read(8)
    fh.seek(0)
    if head.startswith(_ZIP_MAGIC):
        raise _file_error(MSG_WORKBOOK_AS_CSV)
    if head.startswith(_OLE_MAGIC):
        raise _file_error(MSG_OLD_EXCEL)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _file_error(MSG_UTF16)
    decoder = codecs.getincrementaldecoder("utf-8")()
    line, read = 1, 0
    while chunk := fh.read(CHUNK):
        read += len(chunk)
        _check_size(read, max_mb)  # the file grew since it was measured
        if b"\x00" in chunk:
            raise _file_error(MSG_BINARY)
        pending = len(decoder.getstate()[0])
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            line += chunk[:max(0, exc.start - pending)].count(b"\n")
            raise _file_error(_msg_not_utf8(line)) from None
        line += chunk.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise _file_error(_msg_not_utf8(line)) from None
    fh.seek(0)


def _csv_records(reader: Iterator[list[str]]) -> Iterator[tuple[int, list[Any]]]:
    number = HEADER_ROW
    try:
        for record in reader:
            number += 1
            yield number, record
    except csv.Error:  # e.g. a cell longer than the csv module's field limit
        raise ImportFailed([RowError(number + 1, "", MSG_BAD_CSV_ROW)]) from None


@contextmanager
def _open_csv(path: Path, max_mb: int) -> Iterator[_Sheet]:
    with path.open("rb") as raw:
        _check_size(os.fstat(raw.fileno()).st_size, max_mb)
        _check_text(raw, max_mb)
        # newline="" lets the csv module see line breaks inside quoted cells.
        with io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text:
            first = text.readline()
            counts = {d: first.count(d) for d in DELIMITERS}
            delimiter = max(DELIMITERS, key=lambda d: counts[d])  # ties: the first, ";"
            reader = csv.reader(itertools.chain([first], text), delimiter=delimiter)
            header = next(reader, [])
            if all(_blank(h) for h in header):
                raise _file_error(MSG_EMPTY_FILE)
            yield _Sheet([h.strip() for h in header], _csv_records(reader), check_width=True)


# What a damaged or foreign workbook may raise while openpyxl reads it: XML parse errors are
# SyntaxErrors, a damaged member a zlib or zip error, a missing part a KeyError; openpyxl's own
# InvalidFileException is a plain Exception subclass and caught where the workbook is opened.
_XLSX_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError, KeyError, IndexError,
                ValueError, TypeError, AttributeError, SyntaxError)


def _xlsx_records(rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[int, list[Any]]]:
    number = HEADER_ROW - 1  # the header row comes first here
    try:
        for row in rows:
            number += 1
            yield number, list(row)
    except _XLSX_ERRORS:
        raise ImportFailed([RowError(number + 1, "", MSG_UNREADABLE_XLSX)]) from None


@contextmanager
def _open_xlsx(path: Path, max_mb: int) -> Iterator[_Sheet]:
    import openpyxl  # only needed for XLSX
    from openpyxl.utils.exceptions import InvalidFileException

    with path.open("rb") as raw:
        _check_size(os.fstat(raw.fileno()).st_size, max_mb)
        head = raw.read(CHUNK)
    if not zipfile.is_zipfile(path):
        if head.startswith(_OLE_MAGIC):
            raise _file_error(MSG_OLD_EXCEL)
        try:
            looks_like_text = b"\x00" not in head and bool(head.decode("utf-8", "strict").strip())
        except UnicodeDecodeError:
            looks_like_text = False
        raise _file_error(MSG_TEXT_AS_XLSX if looks_like_text else MSG_UNREADABLE_XLSX)
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(item.file_size for item in archive.infolist())
    except _XLSX_ERRORS:
        raise _file_error(MSG_UNREADABLE_XLSX) from None
    if unpacked > max_mb * MB * XLSX_MAX_EXPANSION:
        raise _file_error(_msg_unpacks_too_large(max_mb))
    try:
        with warnings.catch_warnings():  # unsupported Excel features (styles, validation) do not matter here
            warnings.simplefilter("ignore", UserWarning)
            workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, *_XLSX_ERRORS):
        raise _file_error(MSG_UNREADABLE_XLSX) from None
    try:
        if not workbook.worksheets:
            raise _file_error(MSG_NO_SHEETS)
        # read_only: rows come from the sheet's XML one at a time, never the whole sheet at once.
        rows = _xlsx_records(workbook.worksheets[0].iter_rows(values_only=True))
        first = next(rows, None)
        header = ["" if h is None else str(h).strip() for h in (first[1] if first else [])]
        if not any(header):
            raise _file_error(MSG_EMPTY_FILE)
        yield _Sheet(header, rows)
    finally:
        workbook.close()


def _open_sheet(path: Path, max_mb: int) -> AbstractContextManager[_Sheet]:
    if not path.is_file():
        raise _file_error(MSG_NOT_A_FILE)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return _open_csv(path, max_mb)
    if suffix in (".xlsx", ".xlsm"):
        return _open_xlsx(path, max_mb)
    raise _file_error(MSG_BAD_TYPE)


# --- columns -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Column:
    index: int
    name: str
    form: str | None = None      # None for cpr and name
    field: str | None = None     # None for cpr, name and <form>.status


def _columns(header: Sequence[str], contract: Contract) -> tuple[list[_Column], list[RowError]]:
    """Interpret the header."""
    found: list[_Column] = []
    errors: list[RowError] = []
    seen: set[str] = set()
    for index, raw in enumerate(header):
        name = raw.strip().lower()
        if not name:
            continue
        if name in seen:
            errors.append(RowError(HEADER_ROW, name, MSG_DUPLICATE_COLUMN))
            continue
        seen.add(name)
        if name in (CPR_COLUMN, NAME_COLUMN):
            found.append(_Column(index, name))
            continue
        form_name, _, field_name = name.partition(".")
        form = contract.forms.get(form_name)
        if form is None or not field_name:
            errors.append(RowError(HEADER_ROW, raw.strip(), _msg_unknown_column(raw.strip())))
        elif field_name == STATUS_SUFFIX and STATUS_SUFFIX not in form.fields:
            found.append(_Column(index, name, form_name))
        elif field_name not in form.fields:
            errors.append(RowError(HEADER_ROW, raw.strip(), _msg_unknown_column(raw.strip())))
        elif form.fields[field_name].is_derived:
            errors.append(RowError(HEADER_ROW, name, MSG_DERIVED_COLUMN))
        else:
            found.append(_Column(index, name, form_name, field_name))
    if CPR_COLUMN not in seen:
        errors.append(RowError(HEADER_ROW, CPR_COLUMN, MSG_NO_CPR_COLUMN))
    return found, errors


# --- checking rows -------------------------------------------------------------------------------
#: Errors kept for the report; past this the rest are only counted (a wholly wrong file of 20 MB
#: would otherwise hold millions of messages in memory).
MAX_ERRORS = 1000


@dataclass(frozen=True, slots=True)
class _Row:
    """What writing one checked row needs, and nothing more: its registrations are kept as
    compressed JSON (a third of the row's size in the file), so that checking every row before
    writing any stays within a small multiple of the file's size."""

    number: int
    cpr: str
    name: str
    municipality: int
    packed: bytes  # zlib of the JSON [[form, status, data JSON], ...]; empty once the import has failed

    def registrations(self) -> list[tuple[str, str, str]]:
        return [tuple(item) for item in json.loads(zlib.decompress(self.packed))]  # type: ignore[misc]


def _pack(reports: Mapping[str, tuple[ValidationReport, bool]]) -> bytes:
    items = [[form, "complete" if complete else "draft", dump_data(report.cleaned)]
             for form, (report, complete) in reports.items()]
    return zlib.compress(json.dumps(items, ensure_ascii=False, separators=(",", ":")).encode("utf-8"), 1)


@dataclass
class _Errors:
    """Every error up to MAX_ERRORS, and how many more there were."""

    kept: list[RowError] = field(default_factory=list)
    more: int = 0

    def add(self, errors: Sequence[RowError]) -> None:
        room = max(0, MAX_ERRORS - len(self.kept))
        self.kept.extend(errors[:room])
        self.more += max(0, len(errors) - room)

    def __bool__(self) -> bool:
        return bool(self.kept)

    def final(self) -> list[RowError]:
        out = sorted(self.kept, key=lambda e: e.row)
        if self.more:
            out.append(RowError(FILE_ROW, "", _msg_more_errors(self.more)))
        return out


def _msg_more_errors(more: int) -> str:
    return (f"... og {more} fejl mere, som ikke er vist (højst {MAX_ERRORS} vises). Ret de viste fejl, og "
            "importér filen igen.")


def _cell(cells: Sequence[Any], index: int) -> Any:
    value = cells[index] if index < len(cells) else None
    return None if _blank(value) else value


def _issue_error(row: int, issue: FieldIssue) -> RowError:
    return RowError(row, f"{issue.form}.{issue.field}", issue.message("da"))


def _check_row(number: int, cells: Sequence[Any], columns: Sequence[_Column], contract: Contract,
               errors: list[RowError]) -> tuple[str | None, str, dict[str, tuple[dict[str, Any], bool | None]]]:
    """Identity and form cells of one row: (cpr digits or None, name, {form: (data, status)})."""
    cpr_digits: str | None = None
    name = ""
    forms: dict[str, dict[str, Any]] = {}
    status: dict[str, bool | None] = {}
    for col in columns:
        value = _cell(cells, col.index)
        if col.form is None:
            if col.name == CPR_COLUMN:
                if value is None:
                    errors.append(RowError(number, CPR_COLUMN, MSG_CPR_MISSING))
                    continue
                text = f"{value:010d}" if isinstance(value, int) and not isinstance(value, bool) else str(value)
                try:
                    cpr_digits = parse_cpr(text).digits
                except InvalidCpr as exc:
                    errors.append(RowError(number, CPR_COLUMN, exc.message("da")))
            else:
                name = " ".join(str(value).split()) if value is not None else ""
            continue
        if col.field is None:
            if value is not None:
                word = str(value).strip().lower()
                if word not in STATUS_WORDS:
                    errors.append(RowError(number, col.name, MSG_BAD_STATUS))
                status[col.form] = STATUS_WORDS.get(word)
            continue
        if value is not None:
            forms.setdefault(col.form, {})[col.field] = value
    present = {form: (forms.get(form, {}), status.get(form))
               for form in contract.forms if form in forms or form in status or form == contract.course_form}
    return cpr_digits, name, present


def _validate_forms(number: int, contract: Contract, present: Mapping[str, tuple[dict[str, Any], bool | None]],
                    today: dt.date, errors: list[RowError]) -> tuple[dict[str, tuple[ValidationReport, bool]], int]:
    """Validate each form of a row with the row's other forms as context; returns the reports
    (with whether each is complete) and the number of soft warnings accepted."""
    # First pass without context gives typed values for the others' context (branching, rules).
    first = {form: validate_form(contract, form, data, today=today).cleaned for form, (data, _) in present.items()}
    # A rule between two forms is checked from both sides: report it once, on its left-hand field.
    rule_side = {rule.name: rule.left.form for rule in contract.rules}
    reports: dict[str, tuple[ValidationReport, bool]] = {}
    warnings = 0
    for form, (data, wanted) in present.items():
        context = {other: cleaned for other, cleaned in first.items() if other != form}
        report = validate_form(contract, form, data, context=context, complete=True, today=today)
        errors.extend(_issue_error(number, e) for e in report.errors if rule_side.get(e.code, form) in (None, form))
        if wanted is True:
            errors.extend(_issue_error(number, m) for m in report.missing)
        complete = wanted if wanted is not None else not report.missing
        warnings += len(report.warnings)
        reports[form] = (report, bool(complete))
    return reports, warnings


def _check(service: Service, contract: Contract, sheet: _Sheet, progress: Progress | None
           ) -> tuple[list[_Row], _Errors, int, int]:
    """Check every row as it is read; returns (rows to write, errors, warnings accepted, data rows)."""
    if sheet.check_width and len(sheet.header) == 1:  # no delimiter of ours in the header row
        raise ImportFailed([RowError(HEADER_ROW, "", MSG_ONE_COLUMN)])
    columns, header_errors = _columns(sheet.header, contract)
    errors = _Errors()
    errors.add(header_errors)
    width = len(sheet.header)
    named = {i for i, h in enumerate(sheet.header) if h.strip()}
    unnamed: set[int] = set()  # columns with data but no name in row 1
    user = service.user
    municipality_field = contract.municipality_field
    municipality_column = f"{contract.course_form}.{municipality_field}"
    course_form = contract.form(contract.course_form)
    rows: list[_Row] = []
    warnings_accepted = 0
    data_rows = 0
    first_name: dict[str, tuple[int, str]] = {}
    for number, cells in sheet.rows:
        if all(_blank(v) for v in cells):
            continue
        data_rows += 1
        if progress is not None:
            progress(1)
        if sheet.check_width and len(cells) != width:
            # Cells have moved (an unquoted delimiter or line break): checking them would only confuse.
            errors.add([RowError(number, "", _msg_width(len(cells), width))])
            continue
        unnamed.update(i for i, v in enumerate(cells) if i not in named and not _blank(v))
        row_errors: list[RowError] = []
        cpr_digits, name, present = _check_row(number, cells, columns, contract, row_errors)
        reports, row_warnings = _validate_forms(number, contract, present, service.today, row_errors)
        warnings_accepted += row_warnings
        municipality = reports[contract.course_form][0].cleaned.get(municipality_field)
        if municipality is None and not any(e.column == municipality_column for e in row_errors):
            issue = make_issue(contract, course_form, course_form.field(municipality_field), "required", "error", None)
            row_errors.append(_issue_error(number, issue))
        elif isinstance(municipality, int) and not user.acts_in(municipality, contract.programme):
            message = (_msg_not_your_programme(contract.programme, municipality) if user.acts_in(municipality)
                       else _msg_not_your_municipality(municipality))
            row_errors.append(RowError(number, municipality_column, message))
        if cpr_digits is not None and name:
            seen = first_name.setdefault(cpr_digits, (number, name))
            if seen[1] != name:
                row_errors.append(RowError(number, NAME_COLUMN, _msg_name_differs(seen[0])))
        errors.add(row_errors)
        if cpr_digits is not None and isinstance(municipality, int):
            # Once anything is wrong nothing is written: keep only what the citizen checks need.
            rows.append(_Row(number, cpr_digits, name, municipality, b"" if errors else _pack(reports)))
    errors.add([RowError(HEADER_ROW, f"kolonne {index + 1}", MSG_NO_HEADER) for index in sorted(unnamed)])
    if not data_rows:
        errors.add([RowError(FILE_ROW, "", MSG_NO_DATA_ROWS)])
    return rows, errors, warnings_accepted, data_rows


def _existing_citizens(conn: Connection, cprs: Iterable[str]) -> dict[str, tuple[int, int]]:
    """CPR digits -> (citizen id, municipality) for those already in the store."""
    wanted = sorted(set(cprs))
    found: dict[str, tuple[int, int]] = {}
    for i in range(0, len(wanted), LOOKUP_BATCH):
        query = select(citizens.c.cpr, citizens.c.id, citizens.c.municipality_code).where(
            citizens.c.cpr.in_(wanted[i:i + LOOKUP_BATCH]))
        found.update({r.cpr: (r.id, r.municipality_code) for r in conn.execute(query)})
    return found


def _restricted_citizens(conn: Connection, cprs: Iterable[str]) -> set[str]:
    """The CPR digits among ``cprs`` of citizens whose processing is restricted (GDPR art. 18)."""
    wanted = sorted(set(cprs))
    found: set[str] = set()
    for i in range(0, len(wanted), LOOKUP_BATCH):
        found.update(conn.execute(select(citizens.c.cpr).where(
            citizens.c.cpr.in_(wanted[i:i + LOOKUP_BATCH]), citizens.c.restricted_at.is_not(None))).scalars())
    return found


def _citizen_errors(rows: Sequence[_Row], existing: Mapping[str, tuple[int, int]], user: User) -> list[RowError]:
    """An existing citizen must be in the user's municipalities; a new one needs a name (on one
    of the citizen's rows at least)."""
    named = {r.cpr for r in rows if r.name}
    errors = []
    for row in rows:
        if row.cpr in existing:
            if not user.acts_in(existing[row.cpr][1]):
                errors.append(RowError(row.number, CPR_COLUMN, MSG_CITIZEN_ELSEWHERE))
        elif row.cpr not in named or len(row.name) > NAME_MAX_LENGTH:
            errors.append(RowError(row.number, NAME_COLUMN, MSG_NAME_MISSING))
    return errors


# --- the entry point -----------------------------------------------------------------------------
#: Courses (and their registrations) per INSERT statement while writing.
WRITE_BATCH = 1000


def import_file(service: Service, path: Path | str, *, programme: str = "hjertekom",
                progress: Progress | None = None, max_mb: int = Config.import_max_mb) -> ImportResult:
    """Import the courses in ``path`` (CSV or XLSX, see the module docstring) for ``service.user``.

    All-or-nothing: raises ImportFailed with every error found, and then nothing is written.
    ``progress(k)`` is called with the number of rows just checked (an increment). A file larger
    than ``max_mb`` megabytes (the setting ``import_max_mb``) is refused before it is read.
    """
    user = service.user
    if not user.can("import.write"):
        audit.require(service.store, user, "registration.write", "import", Path(path).name)
    contract = service.contracts[programme]
    with _open_sheet(Path(path), max_mb) as sheet:
        rows, errors, warnings_accepted, data_rows = _check(service, contract, sheet, progress)
    with service.store.read() as conn:
        existing = _existing_citizens(conn, (r.cpr for r in rows))
        restricted = _restricted_citizens(conn, existing)
        # New CPR numbers erased before are imported, and flagged row by row (the result's notes).
        erased = set(tombstones_of(conn, service.store, sorted({r.cpr for r in rows} - set(existing))))
    errors.add(_citizen_errors(rows, existing, user))
    errors.add([RowError(r.number, CPR_COLUMN, MSG_CITIZEN_RESTRICTED) for r in rows
                if r.cpr in restricted and user.acts_in(existing[r.cpr][1])])
    if errors:
        log.info("import refused: %d error(s) in %d row(s)", len(errors.kept) + errors.more, data_rows)
        raise ImportFailed(errors.final())
    result = ImportResult(rows=len(rows), warnings_accepted=warnings_accepted,
                          notes=[RowError(r.number, CPR_COLUMN, MSG_PREVIOUSLY_ERASED) for r in rows if r.cpr in erased])
    rows, shared_from = _shared_questions(service, contract, rows, existing, result)
    with service.store.write() as conn:
        _write(conn, service, contract, programme, rows, existing, result, erased, shared_from)
    log.info("import done: %d courses, %d new citizens", result.courses, result.citizens_created)
    return result


def _batches(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), WRITE_BATCH):
        yield items[start:start + WRITE_BATCH]


def _write(conn: Connection, service: Service, contract: Contract, programme: str, rows: Sequence[_Row],
           checked: Mapping[str, tuple[int, int]], result: ImportResult, erased: Collection[str] = (),
           shared_from: Mapping[int, Mapping[str, Any]] | None = None) -> None:
    """Insert citizens, courses and registrations in the caller's transaction, a batch at a time."""
    user = service.user
    # Someone may have registered one of the citizens since the check: refuse rather than guess.
    existing = _existing_citizens(conn, (r.cpr for r in rows))
    changed = [RowError(r.number, CPR_COLUMN, MSG_CITIZEN_CREATED_MEANWHILE)
               for r in rows if existing.get(r.cpr) != checked.get(r.cpr)]
    if changed:
        raise ImportFailed(changed)
    now = audit.now()
    new: dict[str, _Row] = {}
    for row in rows:
        if row.cpr not in existing and row.name:  # the citizen's first row with a name
            new.setdefault(row.cpr, row)
    for batch in _batches(list(new.values())):
        infos = {row.cpr: parse_cpr(row.cpr) for row in batch}
        ids = conn.execute(
            insert(citizens).returning(citizens.c.id, sort_by_parameter_order=True),
            [{"cpr": row.cpr, "name": row.name, "birth_date": infos[row.cpr].birth_date, "sex": infos[row.cpr].sex,
              "municipality_code": row.municipality, "created_at": now, "created_by": user.id}
             for row in batch]).scalars().all()
        existing.update({row.cpr: (cid, row.municipality) for cid, row in zip(ids, batch)})
    for batch in _batches(rows):
        course_ids = conn.execute(
            insert(courses).returning(courses.c.id, sort_by_parameter_order=True),
            [{"citizen_id": existing[row.cpr][0], "programme": programme, "municipality_code": row.municipality,
              "created_at": now, "created_by": user.id} for row in batch]).scalars().all()
        regs = []
        for course_id, row in zip(course_ids, batch):
            statuses = {}
            for form, status, data in row.registrations():
                statuses[form] = status
                regs.append({"course_id": course_id, "form": form, "revision": 1, "status": status,
                             "data": data, "contract_version": contract.version, "user_id": user.id,
                             "saved_at": now})
            detail = {"programme": programme, "row": row.number, "new_citizen": row.cpr in new, "forms": statuses}
            if row.cpr in erased:
                detail["previously_erased"] = True
            if shared_from and row.number in shared_from:   # form -> instrument -> where it came from
                detail["shared_from"] = shared_from[row.number]
            audit.record(conn, user, "import.course", "course", course_id, row.municipality, detail)
        if regs:
            conn.execute(insert(registrations), regs)
        result.registrations.update((r["form"], r["status"]) for r in regs)
        result.courses += len(course_ids)
    result.citizens_created = len(new)
    result.citizens_existing = len({r.cpr for r in rows} - set(new))


# --- shared questions ---------------------------------------------------------------------------
#: The column of a shared-questions note ends with this when the row's answers differ.
SHARED_DIFFERS = " (delt spørgsmål)"


def _msg_shared_differs(label_da: str, label_en: str, answer: SharedAnswer) -> str:
    return (f"{label_da}: rækkens svar er andre end i {answer.place} (samme dag, delt spørgsmål). Begge er "
            "gemt uændret; undersøg, hvilke svar der er rigtige, og ret den forkerte registrering. / "
            f"{label_en}: the row's answers differ from {answer.place_en} (the same day, a shared question). "
            "Both are kept unchanged; check which are right and correct the wrong one.")


def _msg_shared_filled(label_da: str, answer: SharedAnswer) -> str:
    return f"{label_da}: tom i rækken, udfyldt med svarene fra {answer.place} (samme dag, delt spørgsmål)."


def _shared_questions(service: Service, contract: Contract, rows: Sequence[_Row], existing: Mapping[str, tuple[int, int]],
                      result: ImportResult) -> tuple[list[_Row], dict[int, dict[str, Any]]]:
    """Shared questions for rows of citizens already in the store, under the service's rules
    (shared_questions.py, ``Service.shared_for_import``: only courses of programmes the importing user
    acts in): an instrument the row leaves blank is filled in from the citizen's registration of the
    same day in another programme (derived scores worked out again; where from goes into the row's
    audit entry); answers that differ from it are imported as they are and reported, never
    overwritten either way. Returns the rows (those filled in re-packed) and, per row number, form ->
    instrument -> provenance."""
    if len(service.contracts.programmes) < 2 or not any(f.instruments() for f in contract.forms.values()):
        return list(rows), {}
    out: list[_Row] = []
    provenance: dict[int, dict[str, Any]] = {}
    with service.store.read() as conn:
        for row in rows:
            regs = row.registrations() if row.cpr in existing else []
            if not any(contract.form(form).instruments() for form, _, _ in regs):
                out.append(row)
                continue
            typed = {form: validate_form(contract, form, json.loads(data), today=service.today).cleaned
                     for form, _, data in regs}
            changed = False
            new_regs: list[list[str]] = []
            for form, status, data in regs:
                sections = contract.form(form).instruments()
                day = form_day(contract, form, typed[form]) if sections else None
                found = service.shared_for_import(conn, existing[row.cpr][0], contract.programme, form, day) if day else {}
                values: dict[str, Any] = json.loads(data)
                taken: dict[str, Any] = {}
                for name, answers in found.items():
                    section, source = sections[name], answers[0]
                    own = items_of(section, values)
                    label_da, label_en = section.label.get("da"), section.label.get("en")
                    if not own and may_fill(section, values):
                        values = with_answers(section, values, source.values)
                        taken[name] = source
                    elif own and own != dict(source.values):
                        result.shared.append(RowError(row.number, f"{form}.{name}{SHARED_DIFFERS}",
                                                      _msg_shared_differs(label_da, label_en, source)))
                if taken:
                    derived = {f.name for f in contract.form(form).fields.values() if f.is_derived}
                    report = validate_form(contract, form, {k: v for k, v in values.items() if k not in derived},
                                           context={o: c for o, c in typed.items() if o != form},
                                           complete=status == "complete", today=service.today)
                    if report.errors or (status == "complete" and report.missing):
                        new_regs.append([form, status, data])   # refused by this form: left as imported
                        continue
                    data = dump_data(report.cleaned)
                    changed = True
                    for name, source in taken.items():
                        provenance.setdefault(row.number, {}).setdefault(form, {})[name] = source.provenance()
                        result.shared.append(RowError(row.number, f"{form}.{name}",
                                                      _msg_shared_filled(sections[name].label.get("da"), source)))
                        result.shared_filled += 1
                new_regs.append([form, status, data])
            if changed:
                packed = zlib.compress(json.dumps(new_regs, ensure_ascii=False, separators=(",", ":")).encode("utf-8"), 1)
                row = dataclasses.replace(row, packed=packed)
            out.append(row)
    return out, provenance


# --- error report --------------------------------------------------------------------------------
REPORT_HEADER = ("række", "kolonne", "fejl")


def write_error_report(errors: Sequence[RowError], path: Path | str) -> None:
    """Write ``errors`` as CSV (``;``, UTF-8 with BOM for Excel) with the columns række;kolonne;fejl.

    Atomic and owner-only: written to a 0600 temporary file beside ``path`` and renamed, so a
    reader never sees half a report and nobody else reads the values it quotes. A column name or
    message that a spreadsheet would run as a formula (it begins with =, +, -, @, tab or CR; the
    column names come from the imported file) starts with ' instead (export/formulas.py).
    """
    with atomic_private_write(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, delimiter=";")
        writer.writerow(REPORT_HEADER)
        writer.writerows((e.row, csv_cell(e.column), csv_cell(e.message)) for e in errors)

