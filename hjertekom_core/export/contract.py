"""Export contracts: what an export file holds, declared in ``data_contracts/exports/<name>.yaml``.

An export contract lists the columns of a file (type, Danish and English label, code list,
required or required-if, limits), where each value comes from, cross-column rules and the file
format. It is checked when loaded, first against ``export.schema.yaml`` beside it, then against
the programme contract and the code lists; a broken one fails with an ``ExportContractError``
naming the file, the column and the reason.

Rows are checked against it with ``validate_row`` (every problem at once, each with a reason
code and text in both languages) and written with ``format_row``. Nothing here knows about a
particular recipient: the DHRD transfer (``dhrd.py``) and municipal extracts use the same loader.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hjertekom_core.contract import UNKNOWN, CodeList, ContractRegistry, Text
from hjertekom_core.contract import schema_check
from hjertekom_core.contract.loader import _read_yaml, _validator, load_messages
from hjertekom_core.contract.schema_paths import describe_path
from hjertekom_core.cpr import CPR_PATTERN, InvalidCpr, normalise_cpr, parse_cpr
from hjertekom_core.errors import ContractError
from hjertekom_core.snapshot.layout import META_COLUMNS, citizen_columns, course_columns

EXPORTS_DIR = "exports"
SCHEMA_FILE = "export.schema.yaml"
MESSAGES_FILE = "messages.yaml"

COLUMN_TYPES = ("cpr", "int", "decimal", "date", "text", "choice", "multi_choice", "bool")
NUMERIC = frozenset({"int", "decimal"})


class ExportContractError(ContractError):
    """An export contract is broken; raised at load time, naming the file, the column and the reason."""


# --- what an export contract says -------------------------------------------------------------------

@dataclass(frozen=True)
class Source:
    """Where a column's value comes from: ``relation.column`` (e.g. ``end.course_status``)."""

    relation: str
    column: str

    @classmethod
    def parse(cls, text: str) -> Source:
        relation, _, column = text.partition(".")
        return cls(relation, column)

    def __str__(self) -> str:
        return f"{self.relation}.{self.column}"


@dataclass(frozen=True)
class Condition:
    """``required_if``: the other column holds one of ``values``."""

    column: str
    values: tuple[Any, ...]

    def holds(self, row: Mapping[str, Any]) -> bool:
        return row.get(self.column) in self.values


@dataclass(frozen=True)
class ExportColumn:
    name: str
    type: str
    label: Text
    source: Source
    help: Text | None = None
    unit: str = ""
    codelist: CodeList | None = None
    required: bool = False
    required_if: Condition | None = None
    allow_unknown: bool = False
    decimals: int | None = None
    min: float | None = None
    max: float | None = None
    max_length: int | None = None

    def accepts_unknown(self) -> bool:
        return self.allow_unknown or (self.codelist is not None and UNKNOWN in self.codelist)


@dataclass(frozen=True)
class ExportRule:
    """``left <kind> right``: not_before (dates), less_equal, greater_than."""

    name: str
    kind: str
    left: str
    right: str
    message: Text


@dataclass(frozen=True)
class CsvFormat:
    delimiter: str = ";"
    encoding: str = "utf-8"
    line_terminator: str = "\r\n"
    multi_separator: str = "|"
    unknown: str = UNKNOWN

    def describe(self) -> dict[str, str]:
        return {"delimiter": self.delimiter, "encoding": self.encoding, "line_terminator": self.line_terminator,
                "multi_separator": self.multi_separator, "unknown": self.unknown, "date": "YYYY-MM-DD",
                "decimal_separator": "."}


@dataclass(frozen=True)
class ExportContract:
    name: str
    version: str
    label: Text
    programme: str
    programme_major: int
    columns: tuple[ExportColumn, ...]
    rules: tuple[ExportRule, ...]
    format: CsvFormat
    key: str
    sort: tuple[str, ...]
    messages: Mapping[str, Text]
    source: Path
    description: Text | None = None
    recipient: Text | None = None
    period: str | None = None
    complete_forms: tuple[str, ...] = ()
    covers_flag: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {c.name: c for c in self.columns})

    def column(self, name: str) -> ExportColumn:
        return self._by_name[name]  # type: ignore[attr-defined]

    @property
    def header(self) -> list[str]:
        return [c.name for c in self.columns]

    def labels(self, lang: str = "da") -> dict[str, str]:
        return {c.name: c.label.get(lang) for c in self.columns}

    def columns_from(self, relation: str) -> list[ExportColumn]:
        return [c for c in self.columns if c.source.relation == relation]


# --- the sources a column may name ------------------------------------------------------------------

#: Values of the export itself (``export.<name>``), supplied by the exporter for every row.
EXPORT_VALUES = {"contract_version": "text", "period": "text"}
#: The programme registrations' own columns, beside the fields (snapshot layout, META_COLUMNS).
FORM_META = {"course_id": "int", "revision": "int", "status": "text", "contract_version": "text"}
_DUCKDB_TO_TYPE = {"BIGINT": "int", "INTEGER": "int", "VARCHAR": "text", "DATE": "date", "BOOLEAN": "bool",
                   "DOUBLE": "decimal"}
# A column of these types may take a source of the listed kind (a CPR number is text in the store).
_COMPATIBLE = {"cpr": {"text"}, "int": {"int"}, "decimal": {"decimal"}, "date": {"date"}, "text": {"text"},
               "choice": {"choice", "text"}, "multi_choice": {"multi_choice"}, "bool": {"bool"}}


def _snapshot_columns(columns: Iterable[Any]) -> dict[str, str]:
    return {c.name: _DUCKDB_TO_TYPE[c.type] for c in columns if c.type in _DUCKDB_TO_TYPE}


#: Identified snapshot tables a column may read besides the programme's forms.
TABLE_RELATIONS: dict[str, dict[str, str]] = {
    "citizen": _snapshot_columns(citizen_columns(False)),
    "courses": _snapshot_columns(course_columns(False)),
}
assert set(FORM_META) <= {c.name for c in META_COLUMNS}


# --- loading ---------------------------------------------------------------------------------------

def export_contract_path(contracts_dir: Path | str, name: str) -> Path:
    return Path(contracts_dir) / EXPORTS_DIR / f"{name}.yaml"


def load_named(contracts: ContractRegistry, name: str) -> ExportContract:
    """The export contract ``name`` beside the programme contracts (``<contracts dir>/exports/<name>.yaml``)."""
    return load_export_contract(export_contract_path(contracts.directory, name), contracts)


def _text(raw: Mapping[str, str] | None) -> Text | None:
    return Text(raw["da"], raw["en"]) if raw else None


def load_export_contract(path: Path | str, contracts: ContractRegistry | None = None) -> ExportContract:
    """Load and check one export contract; ``contracts`` (default: the folder above) for the sources."""
    path = Path(path)
    doc = _read_yaml(path)
    validator = _validator(path.parent / SCHEMA_FILE)
    errors = list(validator.iter_errors(doc))
    if errors:
        best = schema_check.jsonschema_module().exceptions.best_match(errors)
        raise ExportContractError(str(path), describe_path(doc, list(best.absolute_path)), best.message)

    def fail(where: str, reason: str) -> None:
        raise ExportContractError(str(path), where, reason)

    if doc["name"] != path.stem:
        fail("name", f"the name {doc['name']!r} must equal the file name {path.stem!r}")
    if contracts is None:
        contracts = ContractRegistry(path.parent.parent)
    codelists = contracts.codelists
    messages = load_messages(path.parent / MESSAGES_FILE)
    missing = sorted(set(REASONS) - set(messages))
    if missing:
        raise ExportContractError(str(path.parent / MESSAGES_FILE), "top level", f"no message for {missing}")

    columns: list[ExportColumn] = []
    for raw in doc["columns"]:
        where = f"column {raw['name']}"
        if any(c.name == raw["name"] for c in columns):
            fail(where, "column name used twice")
        codelist = None
        if "codelist" in raw:
            codelist = codelists.get(raw["codelist"])
            if codelist is None:
                fail(where, f"unknown code list {raw['codelist']!r}")
        cond = raw.get("required_if")
        columns.append(ExportColumn(
            name=raw["name"], type=raw["type"], label=_text(raw["label"]),  # type: ignore[arg-type]
            source=Source.parse(raw["source"]), help=_text(raw.get("help")), unit=raw.get("unit", ""),
            codelist=codelist, required=bool(raw.get("required", False)),
            required_if=Condition(cond["column"], tuple(cond["in"]) if "in" in cond else (cond["equals"],))
            if cond else None,
            allow_unknown=bool(raw.get("allow_unknown", False)), decimals=raw.get("decimals"),
            min=raw.get("min"), max=raw.get("max"), max_length=raw.get("max_length"),
        ))
    fmt = doc["format"]
    contract = ExportContract(
        name=doc["name"], version=doc["version"], label=_text(doc["label"]),  # type: ignore[arg-type]
        programme=doc["programme"]["name"], programme_major=doc["programme"]["major_version"],
        columns=tuple(columns),
        rules=tuple(ExportRule(r["name"], r["kind"], r["columns"][0], r["columns"][1], _text(r["message"]))  # type: ignore[arg-type]
                    for r in doc.get("rules", [])),
        format=CsvFormat(fmt["delimiter"], fmt["encoding"], fmt.get("line_terminator", "\r\n"),
                         fmt.get("multi_separator", "|"), fmt.get("unknown", UNKNOWN)),
        key=doc["key"], sort=tuple(doc.get("sort", [doc["key"]])), messages=messages, source=path,
        description=_text(doc.get("description")), recipient=_text(doc.get("recipient")),
        period=doc.get("period"), complete_forms=tuple(doc.get("complete_forms", [])),
        covers_flag=doc.get("covers_flag"),
    )
    _check_columns(contract, fail)
    _check_sources(contract, contracts, fail)
    return contract


def _check_columns(contract: ExportContract, fail: Callable[[str, str], None]) -> None:
    names = {c.name for c in contract.columns}
    for c in contract.columns:
        where = f"column {c.name}"
        if c.type in ("choice", "multi_choice") and c.codelist is None:
            fail(where, f"a {c.type} column needs a codelist")
        if c.codelist is not None:
            if c.type not in ("choice", "multi_choice", "int"):
                fail(where, f"a {c.type} column cannot have a codelist")
            want = int if c.type == "int" else str
            wrong = [k.code for k in c.codelist.codes if not isinstance(k.code, want)]
            if wrong:
                fail(where, f"code list {c.codelist.name!r} has codes {wrong[:3]} that are not {want.__name__}")
        if (c.min is not None or c.max is not None) and c.type not in NUMERIC:
            fail(where, "min and max apply to int and decimal columns only")
        if c.min is not None and c.max is not None and c.min > c.max:
            fail(where, f"min {c.min} is above max {c.max}")
        if c.type == "decimal" and c.decimals is None:
            fail(where, "a decimal column needs decimals (how it is written)")
        if c.decimals is not None and c.type != "decimal":
            fail(where, "decimals apply to decimal columns only")
        if c.max_length is not None and c.type != "text":
            fail(where, "max_length applies to text columns only")
        if c.required and c.required_if:
            fail(where, "required and required_if together: choose one")
        if c.required_if:
            if c.required_if.column not in names or c.required_if.column == c.name:
                fail(where + ", required_if", f"no other column named {c.required_if.column!r}")
            other = contract.column(c.required_if.column)
            unknown = [v for v in c.required_if.values if other.codelist is not None and v not in other.codelist]
            if unknown:
                fail(where + ", required_if", f"{unknown} not in code list {other.codelist.name!r}")  # type: ignore[union-attr]
    for label, name in (("key", contract.key), ("period", contract.period), *(("sort", s) for s in contract.sort)):
        if name is not None and name not in names:
            fail(label, f"no column named {name!r}")
    if contract.period is not None and contract.column(contract.period).type != "date":
        fail(f"column {contract.period}", "the period column must be a date column")
    seen: set[str] = set()
    for rule in contract.rules:
        where = f"rule {rule.name}"
        if rule.name in seen:
            fail(where, "rule declared twice")
        seen.add(rule.name)
        for name in (rule.left, rule.right):
            if name not in names:
                fail(where, f"no column named {name!r}")
        wanted = {"date"} if rule.kind == "not_before" else set(NUMERIC)
        for name in (rule.left, rule.right):
            if contract.column(name).type not in wanted:
                fail(where, f"{rule.kind} needs columns of type {sorted(wanted)}; {name} is "
                            f"{contract.column(name).type}")


def _check_sources(contract: ExportContract, contracts: ContractRegistry, fail: Callable[[str, str], None]) -> None:
    """Every source must exist, with the column's type and code list; flagged fields must be exported."""
    if contract.programme not in contracts:
        fail("programme", f"unknown programme {contract.programme!r}; known: {contracts.programmes}")
    programme = contracts[contract.programme]
    major = int(programme.version.split(".")[0])
    if major != contract.programme_major:
        fail("programme", f"written for major version {contract.programme_major} of {programme.programme}, "
                          f"but its contract is version {programme.version}")
    clash = sorted(set(programme.forms) & (set(TABLE_RELATIONS) | {"export"}))
    if clash:
        fail("programme", f"form name(s) {clash} clash with the source relations of exports")
    for form in contract.complete_forms:
        if form not in programme.forms:
            fail("complete_forms", f"no form {form!r} in programme {programme.programme!r}")

    for c in contract.columns:
        where = f"column {c.name}, source {c.source}"
        rel, col = c.source.relation, c.source.column
        field = None
        if rel in programme.forms:
            form = programme.forms[rel]
            if col in form.fields:
                field = form.fields[col]
                kind = field.type
            elif col in FORM_META:
                kind = FORM_META[col]
            else:
                fail(where, f"form {rel!r} of {programme.programme!r} has no field {col!r}")
        elif rel in TABLE_RELATIONS:
            if col not in TABLE_RELATIONS[rel]:
                fail(where, f"{rel!r} has no exportable column {col!r}; known: {sorted(TABLE_RELATIONS[rel])}")
            kind = TABLE_RELATIONS[rel][col]
        elif rel == "export":
            if col not in EXPORT_VALUES:
                fail(where, f"unknown export value {col!r}; known: {sorted(EXPORT_VALUES)}")
            kind = EXPORT_VALUES[col]
        else:
            fail(where, f"unknown relation {rel!r}; known: forms {sorted(programme.forms)}, "
                        f"{sorted(TABLE_RELATIONS)}, export")
        if kind not in _COMPATIBLE[c.type]:  # type: ignore[possibly-undefined]
            fail(where, f"a {c.type} column cannot take a {kind} value")  # type: ignore[possibly-undefined]
        if field is not None:
            if field.codelist is not None and (c.codelist is None or c.codelist.name != field.codelist.name):
                fail(where, f"the field uses code list {field.codelist.name!r}; the column must name it too")
            if c.allow_unknown and not field.accepts_unknown():
                fail(where, "allow_unknown, but the field never holds 'uoplyst'")
    if contract.covers_flag:
        exported = {(c.source.relation, c.source.column) for c in contract.columns}
        for form in programme.forms.values():
            for f in form.fields.values():
                if getattr(f, contract.covers_flag, False) and (form.name, f.name) not in exported:
                    fail("columns", f"field {form.name}.{f.name} is flagged {contract.covers_flag} in the "
                                    f"programme contract but no column exports it")


# --- checking rows --------------------------------------------------------------------------------

@dataclass(frozen=True)
class RowIssue:
    """One reason a row cannot be exported: the column, a reason code and the text in both languages."""

    column: str
    code: str
    text: Text

    def message(self, lang: str = "da") -> str:
        return self.text.get(lang)


class _Bad(Exception):
    def __init__(self, code: str) -> None:
        self.code = code


_INT_RE = re.compile(r"-?[0-9]+")


def _as_int(value: Any, column: ExportColumn) -> int:
    if isinstance(value, bool):
        raise _Bad("wrong_type")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_RE.fullmatch(value.strip()):
        return int(value)
    raise _Bad("wrong_type")


def _as_decimal(value: Any, column: ExportColumn) -> float:
    if isinstance(value, bool):
        raise _Bad("wrong_type")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _Bad("wrong_type") from None
    if not math.isfinite(number):
        raise _Bad("wrong_type")
    return number


def _as_date(value: Any, column: ExportColumn) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise _Bad("wrong_type")


def _as_text(value: Any, column: ExportColumn) -> str:
    if not isinstance(value, str):
        raise _Bad("wrong_type")
    return value


def _as_code(value: Any, column: ExportColumn) -> str:
    if not isinstance(value, str):
        raise _Bad("wrong_type")
    return value


def _as_codes(value: Any, column: ExportColumn) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise _Bad("wrong_type")
    codes = tuple(value)
    if not all(isinstance(v, str) for v in codes) or len(set(codes)) != len(codes):
        raise _Bad("wrong_type")
    return codes


def _as_bool(value: Any, column: ExportColumn) -> bool:
    if not isinstance(value, bool):
        raise _Bad("wrong_type")
    return value


def _as_cpr(value: Any, column: ExportColumn) -> str:
    if not isinstance(value, str):
        raise _Bad("invalid_cpr")
    try:
        parse_cpr(value)  # a failed modulus-11 check is valid (numbers since 2007)
    except InvalidCpr:
        raise _Bad("invalid_cpr") from None
    return normalise_cpr(value)


def _write_decimal(value: float, column: ExportColumn) -> str:
    return f"{value:.{column.decimals}f}"


def _write_codes(value: tuple[str, ...], column: ExportColumn, separator: str = "|") -> str:
    order = {code: i for i, code in enumerate(column.codelist.values)} if column.codelist else {}
    return separator.join(sorted(value, key=lambda c: order.get(c, len(order))))


@dataclass(frozen=True)
class ColumnType:
    """How a column type is checked (to a normal Python value) and written (to text)."""

    parse: Callable[[Any, ExportColumn], Any]
    write: Callable[[Any, ExportColumn], str]


_TYPES: dict[str, ColumnType] = {
    "cpr": ColumnType(_as_cpr, lambda v, c: v),
    "int": ColumnType(_as_int, lambda v, c: str(v)),
    "decimal": ColumnType(_as_decimal, _write_decimal),
    "date": ColumnType(_as_date, lambda v, c: v.isoformat()),
    "text": ColumnType(_as_text, lambda v, c: v),
    "choice": ColumnType(_as_code, lambda v, c: v),
    "multi_choice": ColumnType(_as_codes, _write_codes),
    "bool": ColumnType(_as_bool, lambda v, c: "true" if v else "false"),
}
assert set(_TYPES) == set(COLUMN_TYPES)

#: Every reason code validate_row may give (each needs a message in exports/messages.yaml).
REASONS = ("required", "required_if", "wrong_type", "invalid_cpr", "not_in_codelist", "unknown_not_allowed",
           "below_min", "above_max", "too_long", "registration_missing", "registration_draft")


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or (
        isinstance(value, (list, tuple)) and not value)


def _show(value: Any) -> str:
    """A value for a message: short, and never anything CPR-shaped."""
    text = ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    return CPR_PATTERN.sub("**********", text)[:40]


def issue(contract: ExportContract, column: str, code: str, **values: Any) -> RowIssue:
    """A RowIssue with the contract's message for ``code`` filled in."""
    template = contract.messages[code]
    col = contract._by_name.get(column)  # type: ignore[attr-defined]
    fill = {"column": column, "label": col.label.da if col else column, **values}
    fill_en = {**fill, "label": col.label.en if col else column}
    for key, value in values.items():  # Text values: each language its own
        if isinstance(value, Text):
            fill[key], fill_en[key] = value.da, value.en
    return RowIssue(column, code, Text(template.da.format_map(_Missing(fill)), template.en.format_map(_Missing(fill_en))))


class _Missing(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def clean_row(contract: ExportContract, row: Mapping[str, Any], skip: Iterable[str] = ()
              ) -> tuple[dict[str, Any], list[RowIssue]]:
    """The row with every value in its normal form, and every problem with it.

    ``row`` maps column names to values: None or "" when not registered, ``"UNK"`` for uoplyst,
    else a Python value (int, float, date or ISO text, str, list of codes, bool). Columns in
    ``skip`` are not checked (their registration is missing or a draft, reported once instead),
    nor are rules that name them.
    """
    skipped = set(skip)
    clean: dict[str, Any] = {}
    issues: list[RowIssue] = []
    for c in contract.columns:
        value = row.get(c.name)
        if c.name in skipped:
            clean[c.name] = None
            continue
        if _is_blank(value):
            clean[c.name] = None
            continue
        if value == UNKNOWN:
            if c.accepts_unknown():
                clean[c.name] = UNKNOWN
            else:
                issues.append(issue(contract, c.name, "unknown_not_allowed"))
            continue
        try:
            parsed = _TYPES[c.type].parse(value, c)
        except _Bad as bad:
            shown = "" if c.type == "cpr" else _show(value)
            issues.append(issue(contract, c.name, bad.code, value=shown, type=c.type))
            continue
        problem = _limits(contract, c, parsed)
        if problem:
            issues.append(problem)
            continue
        clean[c.name] = parsed
    # Presence is judged on the cleaned values, so that required_if sees a valid condition value.
    for c in contract.columns:
        if c.name in skipped or clean.get(c.name) is not None or any(i.column == c.name for i in issues):
            continue
        if c.required:
            issues.append(issue(contract, c.name, "required"))
        elif c.required_if and c.required_if.column not in skipped and c.required_if.holds(clean):
            other = contract.column(c.required_if.column)
            labels = [_code_label(other, v) for v in c.required_if.values]
            issues.append(issue(contract, c.name, "required_if", other=other.label,
                                condition=Text(" / ".join(t.da for t in labels), " / ".join(t.en for t in labels))))
    for rule in contract.rules:
        left, right = clean.get(rule.left), clean.get(rule.right)
        if left is None or right is None or UNKNOWN in (left, right):
            continue
        if not _RULES[rule.kind](left, right):
            issues.append(RowIssue(rule.left, rule.name, rule.message))
    return clean, issues


def _code_label(column: ExportColumn, code: Any) -> Text:
    found = column.codelist.get(code) if column.codelist else None
    return found.label if found else Text(str(code), str(code))


def _limits(contract: ExportContract, c: ExportColumn, value: Any) -> RowIssue | None:
    if c.codelist is not None:
        codes = value if c.type == "multi_choice" else (value,)
        bad = [v for v in codes if v not in c.codelist]
        if bad:
            return issue(contract, c.name, "not_in_codelist", value=_show(bad), codelist=c.codelist.name)
    if c.type in NUMERIC:
        if c.min is not None and value < c.min:
            return issue(contract, c.name, "below_min", value=_show(value), min=_number(c.min))
        if c.max is not None and value > c.max:
            return issue(contract, c.name, "above_max", value=_show(value), max=_number(c.max))
    if c.max_length is not None and len(value) > c.max_length:
        return issue(contract, c.name, "too_long", max_length=c.max_length)
    return None


def _number(limit: float) -> str:
    return str(int(limit)) if float(limit).is_integer() else str(limit)


_RULES: dict[str, Callable[[Any, Any], bool]] = {
    "not_before": lambda a, b: a >= b,
    "less_equal": lambda a, b: a <= b,
    "greater_than": lambda a, b: a > b,
}


def validate_row(contract: ExportContract, row: Mapping[str, Any], skip: Iterable[str] = ()) -> list[RowIssue]:
    """Every reason ``row`` cannot be exported under ``contract`` (empty: it can)."""
    return clean_row(contract, row, skip)[1]


def format_row(contract: ExportContract, clean: Mapping[str, Any]) -> list[str]:
    """A cleaned row (from ``clean_row``, without issues) as the file's text values, in column order."""
    out = []
    for c in contract.columns:
        value = clean.get(c.name)
        if value is None:
            out.append("")
        elif value == UNKNOWN:
            out.append(contract.format.unknown)
        elif c.type == "multi_choice":
            out.append(_write_codes(value, c, contract.format.multi_separator))
        else:
            out.append(_TYPES[c.type].write(value, c))
    return out
