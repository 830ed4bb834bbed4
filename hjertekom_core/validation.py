"""Validation of one form's data against the contract, lazily: every problem at once.

``validate_form`` coerces what was entered (from widgets, CSV cells or Python values) to the
contract's types, applies hard limits (errors), soft limits (warnings), branching, cross-field
rules and, when completing, the required fields; it returns the cleaned, JSON-ready data with the
derived scores computed. It never writes anything.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from hjertekom_core import scoring
from hjertekom_core.branching import make_lookup, visible_fields
from hjertekom_core.contract.model import UNKNOWN, Contract, Field, Form
from hjertekom_core.errors import FieldIssue

Data = Mapping[str, Any]
Context = Mapping[str, Mapping[str, Any]]

_DANISH_DATE = re.compile(r"^\s*(\d{1,2})[-./](\d{1,2})[-./](\d{4})\s*$")
_TRUE = {"true", "1", "ja", "yes", "j", "y"}
_FALSE = {"false", "0", "nej", "no", "n"}


@dataclass
class ValidationReport:
    form: str
    cleaned: dict[str, Any] = field(default_factory=dict)
    errors: list[FieldIssue] = field(default_factory=list)
    warnings: list[FieldIssue] = field(default_factory=list)
    missing: list[FieldIssue] = field(default_factory=list)
    visible: dict[str, bool] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def complete(self) -> bool:
        return not self.errors and not self.missing


class _Invalid(ValueError):
    def __init__(self, code: str, **extra: Any) -> None:
        self.code = code
        self.extra = extra


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def parse_date(value: Any) -> dt.date:
    """A date from a date object, ISO text (2025-03-31) or Danish text (31-03-2025)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        text = value.strip()
        m = _DANISH_DATE.match(text)
        try:
            if m:
                return dt.date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
            return dt.date.fromisoformat(text[:10]) if len(text) >= 10 else dt.date.fromisoformat(text)
        except ValueError:
            pass
    raise _Invalid("not_date")


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise _Invalid("not_int")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
        return int(value)
    raise _Invalid("not_int")


def _to_decimal(value: Any, decimals: int | None) -> float:
    if isinstance(value, bool):
        raise _Invalid("not_decimal")
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        # Danish decimal comma ("72,5"); a comma and a dot together is ambiguous: refuse it.
        if "," in text and "." in text:
            raise _Invalid("not_decimal")
        try:
            number = float(Decimal(text.replace(",", ".")))
        except InvalidOperation:
            raise _Invalid("not_decimal") from None
    else:
        raise _Invalid("not_decimal")
    if not math.isfinite(number):
        raise _Invalid("not_decimal")
    return round(number, decimals) if decimals is not None else number


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, str)) and str(value).strip().lower() in _TRUE | _FALSE:
        return str(value).strip().lower() in _TRUE
    raise _Invalid("not_bool")


def _to_code(value: Any, f: Field) -> str | int:
    assert f.codelist is not None
    if f.type == "int":
        code: str | int = _to_int(value)
    else:
        code = value.strip() if isinstance(value, str) else value
    if code not in f.codelist:
        raise _Invalid("not_in_codelist")
    return code


def _coerce(f: Field, value: Any, today: dt.date) -> Any:
    """Return the JSON-ready value or raise _Invalid."""
    if isinstance(value, str) and value.strip() == UNKNOWN:
        if f.accepts_unknown():
            return UNKNOWN
        raise _Invalid("unknown_not_allowed")
    if f.type == "multi_choice":
        items = [v for v in re.split(r"[;|]", value)] if isinstance(value, str) else list(value)
        items = [v.strip() if isinstance(v, str) else v for v in items if not _blank(v)]
        codes = [_to_code(v, f) for v in items]
        return sorted(set(codes), key=codes.index)
    if f.codelist is not None:
        return _to_code(value, f)
    if f.type == "int":
        return _to_int(value)
    if f.type == "decimal":
        return _to_decimal(value, f.decimals)
    if f.type == "date":
        day = parse_date(value)
        if f.not_future and day > today:
            raise _Invalid("future_date")
        return day.isoformat()
    if f.type == "bool":
        return _to_bool(value)
    text = str(value).strip()
    if f.max_length is not None and len(text) > f.max_length:
        raise _Invalid("too_long", max_length=f.max_length)
    return text


def _limit_issues(f: Field, value: Any) -> list[tuple[str, str, dict[str, Any]]]:
    """(severity, code, extra) for hard and soft limits of a numeric value."""
    if f.codelist is not None or not isinstance(value, (int, float)) or isinstance(value, bool):
        return []
    for limits, severity in ((f.hard, "error"), (f.soft, "warning")):
        if limits is None:
            continue
        kind = "hard" if severity == "error" else "soft"
        if limits.min is not None and value < limits.min:
            return [(severity, f"{kind}_min", {"min": limits.min})]
        if limits.max is not None and value > limits.max:
            return [(severity, f"{kind}_max", {"max": limits.max})]
    return []


def _fmt_number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}".replace(".", ",")
    return str(value)


def make_issue(contract: Contract, form: Form, f: Field, code: str, severity: str, value: Any,
               **extra: Any) -> FieldIssue:
    template = contract.messages.get(code)
    messages: dict[str, str] = {}
    for lang in ("da", "en"):
        params = {
            "label": f.label.get(lang), "field": f.name, "form": form.label.get(lang),
            "value": _fmt_number(value) if lang == "da" else value,
            "unit": f" {f.unit}" if f.unit else "",
            **{k: (_fmt_number(v) if lang == "da" else v) for k, v in extra.items()},
        }
        if f.type == "date" and code == "future_date":
            params["value"] = parse_date(value).strftime("%d-%m-%Y")
        messages[lang] = template.get(lang).format_map(_Default(params)) if template else f"{f.name}: {code}"
    return FieldIssue(form.name, f.name, code, severity, messages, value)


class _Default(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


# --- cross-field rules --------------------------------------------------------------------------

def _numeric(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _as_date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) and value != UNKNOWN else None
    except ValueError:
        return None


_RULE_KINDS: dict[str, tuple[Callable[[Any], Any], Callable[[Any, Any], bool]]] = {
    "not_before": (_as_date, lambda a, b: a >= b),
    "less_equal": (_numeric, lambda a, b: a <= b),
    "greater_than": (_numeric, lambda a, b: a > b),
}


def _rule_issues(contract: Contract, form: Form, cleaned: Mapping[str, Any], context: Context) -> list[FieldIssue]:
    lookup = make_lookup(form.name, cleaned, context)
    issues = []
    for rule, left, right in contract.rules_for(form.name):
        convert, holds = _RULE_KINDS[rule.kind]
        a, b = convert(lookup(left)), convert(lookup(right))
        if a is None or b is None or holds(a, b):
            continue
        # Attach the error to the field of this form, preferring the left-hand one.
        ref = left if left.form == form.name else right
        issues.append(FieldIssue(form.name, ref.field, rule.name, "error",
                                 {"da": rule.message.da, "en": rule.message.en}, cleaned.get(ref.field)))
    return issues


# --- derived fields -----------------------------------------------------------------------------

def compute_derived(form: Form, cleaned: Mapping[str, Any], context: Context) -> dict[str, Any]:
    """The derived scores of ``form`` from its (cleaned) data and the other forms' data."""
    lookup = make_lookup(form.name, cleaned, context)
    out: dict[str, Any] = {}
    for f in form.fields.values():
        if f.derived is None:
            continue
        kwargs: dict[str, Any] = dict(f.derived.params)
        for name, ref in f.derived.inputs.items():
            kwargs[name] = [lookup(r) for r in ref] if isinstance(ref, tuple) else lookup(ref)
        try:
            value = scoring.derive(f.derived.function, **kwargs)
        except ValueError:
            value = None  # inputs are validated first; an odd combination just gives no score
        if value is not None:
            out[f.name] = value
    return out


# --- the entry point ----------------------------------------------------------------------------

def validate_form(contract: Contract, form_name: str, data: Data, *, context: Context | None = None,
                  complete: bool = False, today: dt.date | None = None) -> ValidationReport:
    """Check ``data`` for ``form_name``; ``context`` holds the course's other forms (form -> data).

    With ``complete=True`` every shown, required field must hold an answer ("UNK" counts as one).
    """
    form = contract.form(form_name)
    context = context or {}
    today = today or dt.date.today()
    report = ValidationReport(form_name)
    coerced: dict[str, Any] = {}
    errors_by_field: dict[str, FieldIssue] = {}
    warnings_by_field: dict[str, FieldIssue] = {}

    for key, value in data.items():
        f = form.fields.get(key)
        if f is None:
            report.errors.append(FieldIssue(form_name, key, "unknown_field", "error", {
                lang: contract.messages["unknown_field"].get(lang).format(field=key, form=form.label.get(lang))
                for lang in ("da", "en")} if "unknown_field" in contract.messages else {}, value))
            continue
        if f.is_derived or _blank(value):
            continue
        try:
            clean = _coerce(f, value, today)
        except _Invalid as bad:
            errors_by_field[key] = make_issue(contract, form, f, bad.code, "error", value, **bad.extra)
            continue
        for severity, code, extra in _limit_issues(f, clean):
            issue = make_issue(contract, form, f, code, severity, clean, **extra)
            (errors_by_field if severity == "error" else warnings_by_field)[key] = issue
        if key not in errors_by_field:
            coerced[key] = clean

    # Branching on what was entered: a hidden field is dropped with its problems.
    report.visible = visible_fields(form, make_lookup(form_name, coerced, context))
    report.cleaned = {k: v for k, v in coerced.items() if report.visible.get(k, True)}
    report.errors += [e for k, e in errors_by_field.items() if report.visible.get(k, True)]
    report.warnings += [w for k, w in warnings_by_field.items() if report.visible.get(k, True)]
    report.errors += _rule_issues(contract, form, report.cleaned, context)
    report.cleaned.update(compute_derived(form, report.cleaned, context))

    if complete:
        for f in form.input_fields():
            if f.required and report.visible.get(f.name, True) and f.name not in report.cleaned \
                    and f.name not in errors_by_field:
                report.missing.append(make_issue(contract, form, f, "required", "error", None))
    return report


def missing_required(contract: Contract, form_name: str, cleaned: Data, context: Context | None = None) -> list[str]:
    """Names of required fields that are shown but unanswered (for completeness reports)."""
    form = contract.form(form_name)
    visible = visible_fields(form, make_lookup(form_name, cleaned, context or {}))
    return [f.name for f in form.input_fields() if f.required and visible.get(f.name, True) and f.name not in cleaned]
