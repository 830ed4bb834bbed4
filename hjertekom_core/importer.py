"""Importing courses from a spreadsheet (``hjertekom import FILE``): every row valid, or nothing.

File format
-----------
* CSV (UTF-8, with or without BOM; delimiter ``;`` or ``,``, detected from the header row) or
  XLSX (the first sheet). Row 1 is the header; every further row is **one course**. Blank rows are
  skipped. Row numbers in error messages are the spreadsheet's own (header = row 1).
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
  ``;`` (quote the cell in a ``;``-separated file) or ``|``; ``UNK`` for "uoplyst"/unknown.
  An empty cell means "not answered". The ``course`` form is required on every row (at least
  ``course.municipality``); ``start`` and ``end`` are created when one of their cells is filled.

Checks (all of them, on every row, before anything is written)
--------------------------------------------------------------
Unknown, duplicate and derived columns; the CPR number; the name of a new citizen; every form with
``validate_form`` (context = the row's other forms) as complete or draft per its status; the
course's municipality must be one the importing user acts in, and an existing citizen must belong
to such a municipality (otherwise the row is refused without saying where the citizen is).
Soft-limit warnings (unusual but possible values) are accepted, as a clinician would confirm
them; the result counts them but does not list them. Any error raises
:class:`~hjertekom_core.errors.ImportFailed` with one :class:`~hjertekom_core.errors.RowError`
per problem (row, column, Danish message saying what to fix) and nothing is written.

Writing
-------
Everything is written in one transaction (``store.write()``), so a failure midway leaves nothing
behind. The user needs ``import.write``, or else ``registration.write`` in the rows'
municipalities. One audit entry per created course (``import.course``), never a CPR or a name.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import os
import tempfile
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select

from hjertekom_core import audit
from hjertekom_core.access import User
from hjertekom_core.contract import Contract
from hjertekom_core.cpr import InvalidCpr, parse_cpr
from hjertekom_core.errors import FieldIssue, ImportFailed, RowError
from hjertekom_core.service import Service, dump_data
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
MSG_NOT_UTF8 = "Filen er ikke gemt som UTF-8. Gem den som «CSV UTF-8» og prøv igen."
MSG_BAD_TYPE = "Filtypen kendes ikke. Brug en CSV-fil (.csv) eller en Excel-fil (.xlsx)."
MSG_UNREADABLE_XLSX = "Excel-filen kan ikke læses. Gem den igen som .xlsx og prøv igen."
MSG_CPR_MISSING = "CPR-nummer mangler. Skriv borgerens CPR-nummer (DDMMÅÅ-SSSS)."
MSG_NAME_MISSING = (f"Navn mangler for en ny borger (højst {NAME_MAX_LENGTH} tegn). "
                    "Skriv borgerens navn.")
MSG_BAD_STATUS = "Status skal være «complete» (færdig) eller «draft» (kladde). Ret værdien."
MSG_CITIZEN_ELSEWHERE = ("CPR-nummeret er registreret i en kommune, du ikke kan registrere i. "
                         "Kontakt en administrator, hvis borgeren er flyttet.")
MSG_CITIZEN_CREATED_MEANWHILE = "Borgeren blev oprettet af en anden under importen. Importér filen igen."


def _msg_name_differs(first_row: int) -> str:
    return (f"Navnet afviger fra række {first_row} med samme CPR-nummer. Skriv navnet ens i alle rækker "
            "for borgeren.")


def _msg_not_your_municipality(code: int) -> str:
    return (f"Du kan ikke registrere forløb i kommune {code}. Ret kommunen, eller lad en bruger fra "
            "kommunen importere rækken.")


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

    def describe(self) -> str:
        forms = "; ".join(f"{form} {status}: {n}" for (form, status), n in self.registrations.items())
        text = (f"Importeret / imported: {self.courses} forløb/courses for {self.citizens_created} nye "
                f"borgere/new citizens og/and {self.citizens_existing} eksisterende/existing; "
                f"{sum(self.registrations.values())} registreringer/registrations ({forms or '-'})")
        if self.warnings_accepted:
            text += (f"; {self.warnings_accepted} usædvanlige værdier accepteret/"
                     f"unusual values accepted")
        return text


# --- reading files -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Sheet:
    header: list[str]
    rows: list[tuple[int, list[Any]]]  # (spreadsheet row number, cells)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _read_csv(path: Path) -> _Sheet:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFailed([RowError(HEADER_ROW, "", MSG_NOT_UTF8)]) from None
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") >= first_line.count(",") else ","
    records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    if not records:
        return _Sheet([], [])
    return _Sheet([h.strip() for h in records[0]],
                  [(n, list(r)) for n, r in enumerate(records[1:], start=HEADER_ROW + 1)])


def _read_xlsx(path: Path) -> _Sheet:
    import openpyxl  # only needed for XLSX
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, OSError, KeyError, ValueError):
        raise ImportFailed([RowError(HEADER_ROW, "", MSG_UNREADABLE_XLSX)]) from None
    try:
        rows = list(workbook.worksheets[0].iter_rows(values_only=True))
    finally:
        workbook.close()
    if not rows:
        return _Sheet([], [])
    header = ["" if h is None else str(h).strip() for h in rows[0]]
    return _Sheet(header, [(n, list(r)) for n, r in enumerate(rows[1:], start=HEADER_ROW + 1)])


def _read_sheet(path: Path) -> _Sheet:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return _read_csv(path)
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path)
    raise ImportFailed([RowError(HEADER_ROW, "", MSG_BAD_TYPE)])


# --- columns -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Column:
    index: int
    name: str
    form: str | None = None      # None for cpr and name
    field: str | None = None     # None for cpr, name and <form>.status


def _columns(header: Sequence[str], contract: Contract, used: set[int]) -> tuple[list[_Column], list[RowError]]:
    """Interpret the header; ``used`` holds the indexes of columns that hold any data."""
    found: list[_Column] = []
    errors: list[RowError] = []
    seen: set[str] = set()
    for index in sorted(i for i in used if i >= len(header) or not header[i].strip()):
        errors.append(RowError(HEADER_ROW, f"kolonne {index + 1}", MSG_NO_HEADER))
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
@dataclass
class _Row:
    number: int
    cpr: str
    name: str
    municipality: int
    forms: dict[str, tuple[ValidationReport, bool]]  # form -> (report, complete)


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
           ) -> tuple[list[_Row], list[RowError], int]:
    if not any(h.strip() for h in sheet.header):
        raise ImportFailed([RowError(HEADER_ROW, "", MSG_EMPTY_FILE)])
    used = {i for _, cells in sheet.rows for i, v in enumerate(cells) if not _blank(v)}
    columns, errors = _columns(sheet.header, contract, used)
    user = service.user
    municipality_field = contract.municipality_field
    course_form = contract.form(contract.course_form)
    rows: list[_Row] = []
    warnings = 0
    first_name: dict[str, tuple[int, str]] = {}
    for number, cells in sheet.rows:
        if all(_blank(v) for v in cells):
            continue
        cpr_digits, name, present = _check_row(number, cells, columns, contract, errors)
        reports, row_warnings = _validate_forms(number, contract, present, service.today, errors)
        warnings += row_warnings
        municipality = reports[contract.course_form][0].cleaned.get(municipality_field)
        column = f"{contract.course_form}.{municipality_field}"
        if municipality is None and not any(e.row == number and e.column == column for e in errors):
            issue = make_issue(contract, course_form, course_form.field(municipality_field), "required", "error", None)
            errors.append(_issue_error(number, issue))
        elif isinstance(municipality, int) and not user.acts_in(municipality):
            errors.append(RowError(number, column, _msg_not_your_municipality(municipality)))
        if cpr_digits is not None and name:
            seen = first_name.setdefault(cpr_digits, (number, name))
            if seen[1] != name:
                errors.append(RowError(number, NAME_COLUMN, _msg_name_differs(seen[0])))
        if cpr_digits is not None and isinstance(municipality, int):
            rows.append(_Row(number, cpr_digits, name, municipality, reports))
        if progress is not None:
            progress(1)
    return rows, errors, warnings


def _existing_citizens(conn: Connection, cprs: Iterable[str]) -> dict[str, tuple[int, int]]:
    """CPR digits -> (citizen id, municipality) for those already in the store."""
    wanted = sorted(set(cprs))
    found: dict[str, tuple[int, int]] = {}
    for i in range(0, len(wanted), LOOKUP_BATCH):
        query = select(citizens.c.cpr, citizens.c.id, citizens.c.municipality_code).where(
            citizens.c.cpr.in_(wanted[i:i + LOOKUP_BATCH]))
        found.update({r.cpr: (r.id, r.municipality_code) for r in conn.execute(query)})
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
def import_file(service: Service, path: Path | str, *, programme: str = "hjertekom",
                progress: Progress | None = None) -> ImportResult:
    """Import the courses in ``path`` (CSV or XLSX, see the module docstring) for ``service.user``.

    All-or-nothing: raises ImportFailed with every error found, and then nothing is written.
    ``progress(k)`` is called with the number of rows just checked (an increment).
    """
    user = service.user
    if not user.can("import.write"):
        user.require("registration.write")
    contract = service.contracts[programme]
    path = Path(path)
    sheet = _read_sheet(path)
    rows, errors, warnings = _check(service, contract, sheet, progress)
    with service.store.read() as conn:
        existing = _existing_citizens(conn, (r.cpr for r in rows))
    errors += _citizen_errors(rows, existing, user)
    if errors:
        log.info("import refused: %d error(s) in %d row(s)", len(errors), len(sheet.rows))
        raise ImportFailed(sorted(errors, key=lambda e: e.row))
    result = ImportResult(rows=len(rows), warnings_accepted=warnings)
    with service.store.write() as conn:
        _write(conn, service, contract, programme, rows, existing, result)
    log.info("import done: %d courses, %d new citizens", result.courses, result.citizens_created)
    return result


def _write(conn: Connection, service: Service, contract: Contract, programme: str, rows: Sequence[_Row],
           checked: Mapping[str, tuple[int, int]], result: ImportResult) -> None:
    """Insert citizens, courses and registrations in the caller's transaction."""
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
    if new:
        infos = {cpr: parse_cpr(cpr) for cpr in new}
        ids = conn.execute(
            insert(citizens).returning(citizens.c.id, sort_by_parameter_order=True),
            [{"cpr": cpr, "name": row.name, "birth_date": infos[cpr].birth_date, "sex": infos[cpr].sex,
              "municipality_code": row.municipality, "created_at": now, "created_by": user.id}
             for cpr, row in new.items()]).scalars().all()
        existing.update({cpr: (cid, row.municipality) for cid, (cpr, row) in zip(ids, new.items())})
    course_ids = conn.execute(
        insert(courses).returning(courses.c.id, sort_by_parameter_order=True),
        [{"citizen_id": existing[row.cpr][0], "programme": programme, "municipality_code": row.municipality,
          "created_at": now, "created_by": user.id} for row in rows]).scalars().all()
    regs = []
    for course_id, row in zip(course_ids, rows):
        statuses = {}
        for form, (report, complete) in row.forms.items():
            status = "complete" if complete else "draft"
            statuses[form] = status
            regs.append({"course_id": course_id, "form": form, "revision": 1, "status": status,
                         "data": dump_data(report.cleaned), "contract_version": contract.version,
                         "user_id": user.id, "saved_at": now})
        audit.record(conn, user, "import.course", "course", course_id, row.municipality,
                     {"programme": programme, "row": row.number, "new_citizen": row.cpr in new, "forms": statuses})
    if regs:
        conn.execute(insert(registrations), regs)
    result.citizens_created = len(new)
    result.citizens_existing = len({r.cpr for r in rows} - set(new))
    result.courses = len(course_ids)
    result.registrations.update((r["form"], r["status"]) for r in regs)


# --- error report --------------------------------------------------------------------------------
REPORT_HEADER = ("række", "kolonne", "fejl")


def write_error_report(errors: Sequence[RowError], path: Path | str) -> None:
    """Write ``errors`` as CSV (``;``, UTF-8 with BOM for Excel) with the columns række;kolonne;fejl.

    Atomic: written to a temporary file beside ``path`` and renamed, so a reader never sees half
    a report.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh, delimiter=";")
            writer.writerow(REPORT_HEADER)
            writer.writerows((e.row, e.column, e.message) for e in errors)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

