"""Validation of one form's data against the contract, lazily: every problem at once.

``validate_form`` coerces what was entered (from widgets, CSV cells or Python values) to the
contract's types, applies hard limits (errors), soft limits (warnings), branching, cross-field
rules and, when completing, the required fields; it returns the cleaned, JSON-ready data with the
derived scores computed. It never writes anything.

Coercion is one registry (:data:`COERCERS`, field type -> function), shared by the service, the
import and the entry forms, so that all three accept and refuse exactly the same input. What it
refuses rather than guesses (docs/data-contract.md, "What is accepted"):

* numbers: more decimals than the field has ("85,55" in a one-decimal field), an exponent
  ("1e2"), a space inside ("8 5", "1 250"), thousands separators ("1.250,5"), and a single mark
  followed by exactly three digits where that could be a thousands separator ("1.250": 1250 or
  1,25?); a whole-number field takes no decimal mark at all ("12,0"). Comma and point are both
  accepted as the decimal mark; only ASCII digits count.
* dates: anything but dd-mm-åååå (also with . or /) and ISO åååå-mm-dd (a time after it is
  ignored), impossible days, dates before 1900 and (unless the field allows it) in the future.
* text: control characters and unpaired surrogates, which no store keeps faithfully.
* missing answers: a missing reason (UNK, NA, DECL, their labels or spellings) where the field
  does not declare it; it is stored as the reason's code where it does.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from hjertekom_core import scoring
from hjertekom_core.branching import make_lookup, visible_fields_of
from hjertekom_core.contract.model import UNKNOWN, NUMERIC_TYPES, CodeList, Contract, Field, Form, Ref, Rule
from hjertekom_core.errors import FieldIssue
from hjertekom_core.formatting import format_number
from hjertekom_core.plan_cache import PlanCache

Data = Mapping[str, Any]
Context = Mapping[str, Mapping[str, Any]]

_DANISH_DATE = re.compile(r"(\d{1,2})[-./](\d{1,2})[-./](\d{4})", re.ASCII)
# ISO date, optionally with a time of day (a spreadsheet's "2025-02-17 00:00:00"), never more.
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?", re.ASCII)
#: No date in the registry lies before this; earlier is a typing error (year 0025, 1025).
EARLIEST_DATE = dt.date(1900, 1, 1)
_TRUE = {"true", "1", "ja", "yes", "j", "y"}
_FALSE = {"false", "0", "nej", "no", "n"}

# A number as typed: sign, ASCII digits, at most one decimal mark (comma or point).
_NUMBER = re.compile(r"([+\-\u2212]?)(\d*)(?:([.,])(\d*))?", re.ASCII)
# Digits grouped in thousands with a point or comma, perhaps with decimals: "1.250,5", "1,250.5", "1.250.000".
_GROUPED = re.compile(r"[+\-\u2212]?\d{1,3}(?:([.,])\d{3})(?:\1\d{3})*(?:[.,]\d+)?", re.ASCII)
# The usual number as typed: digits, perhaps a decimal mark and more digits (no sign, no space).
_PLAIN_NUMBER = re.compile(r"(\d+)(?:([.,])(\d+))?", re.ASCII)
_EXPONENT = re.compile(r"[+\-\u2212]?(?:\d+(?:[.,]\d*)?|[.,]\d+)[eE][+\-\u2212]?\d+", re.ASCII)
#: Longer number text is refused before it is parsed (no measure here needs more digits).
MAX_NUMBER_LENGTH = 30
#: No measure reaches this; a bigger number is a typing error, and would not fit the snapshot's types.
MAX_MAGNITUDE = 10**12
# Characters a clinician cannot type and a store cannot keep faithfully: C0 controls other than
# tab and line breaks, DEL, unpaired surrogates, and the non-characters U+FFFE/U+FFFF.
_BAD_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
#: Long values are shortened in messages (the message must stay readable; the value is in the field).
MESSAGE_VALUE_LENGTH = 60


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
    """A value that cannot be taken: ``code`` is the reason (and message) code; ``template`` a
    message variant of it (e.g. the singular); ``extra`` the message's placeholders."""

    def __init__(self, code: str, template: str | None = None, **extra: Any) -> None:
        self.code = code
        self.template = template
        self.extra = extra


def _blank(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, str) and not value.strip())
        or (isinstance(value, (list, tuple)) and not value)
    )


# --- dates --------------------------------------------------------------------------------------


def parse_date(value: Any) -> dt.date:
    """A date from a date object, ISO text (2025-03-31, perhaps with a time) or Danish text (31-03-2025)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        text = value.strip()
        if m := _DANISH_DATE.fullmatch(text):
            day, month, year = int(m[1]), int(m[2]), int(m[3])
        elif m := _ISO_DATE.fullmatch(text):
            year, month, day = int(m[1]), int(m[2]), int(m[3])
        else:
            raise _Invalid("not_date")
        try:
            return dt.date(year, month, day)
        except ValueError:
            pass  # 30 February, year 0, month 13
    raise _Invalid("not_date")


def _to_date(value: Any, f: Field, today: dt.date) -> str:
    day = parse_date(value)
    if day < EARLIEST_DATE:
        raise _Invalid("date_too_early", earliest=EARLIEST_DATE.strftime("%d-%m-%Y"))
    if f.not_future and day > today:
        raise _Invalid("future_date")
    return day.isoformat()


# --- numbers ------------------------------------------------------------------------------------


def _not_number(f: Field) -> str:
    return "not_int" if f.type == "int" else "not_decimal"


def _number_text(value: str, f: Field) -> Decimal:
    """The exact number a person typed, or _Invalid saying what in it is ambiguous or wrong."""
    sign, whole, mark, fraction = _number_parts(value, f)
    negative = sign in ("-", "\u2212")
    return Decimal(f"{'-' if negative else ''}{whole or '0'}.{fraction or '0'}")


def _number_parts(value: str, f: Field) -> tuple[str, str, str | None, str | None]:
    """``_NUMBER``'s groups (sign, whole, mark, fraction) of a number a person typed, checked (what
    ``_number_text`` refuses, it refuses here)."""
    if len(value) <= MAX_NUMBER_LENGTH and (m := _PLAIN_NUMBER.fullmatch(value)):
        # the usual text ("88,4", "142"): what the checks below would find in it, in one match
        whole, mark, fraction = m.groups()
        _check_number_parts(whole, mark, fraction, f)
        return "", whole, mark, fraction
    text = value.strip()
    bad = _not_number(f)
    if len(text) > MAX_NUMBER_LENGTH:
        raise _Invalid(bad)
    if any(ch.isspace() for ch in text):
        # "8 5" (a typo) or "1 250" (a thousands space): either way not safe to join.
        raise _Invalid("number_space")
    if _EXPONENT.fullmatch(text):
        raise _Invalid("number_exponent")
    m = _NUMBER.fullmatch(text)
    if m is None:
        if _GROUPED.fullmatch(text):
            raise _Invalid("number_grouped")
        raise _Invalid(bad)
    sign, whole, mark, fraction = m.groups()
    if not whole and not fraction:
        raise _Invalid(bad)  # "", "-", ","
    _check_number_parts(whole, mark, fraction, f)
    return sign, whole, mark, fraction


def _check_number_parts(whole: str, mark: str | None, fraction: str | None, f: Field) -> None:
    allowed = 0 if f.type == "int" else f.decimals
    if (
        mark
        and len(fraction) == 3
        and 1 <= len(whole) <= 3
        and not whole.startswith("0")
        and (allowed is None or allowed < 3)
    ):
        # "1.250": Danish thousands (1250) or a decimal point (1,25)? Neither reading is safe.
        grouped = Decimal(whole + fraction)
        decimal = Decimal(f"{whole}.{fraction}")
        raise _Invalid("number_ambiguous", as_thousands=int(grouped), as_decimal=float(decimal))
    if mark and f.type == "int":
        raise _Invalid("int_decimals")
    _check_decimals(len((fraction or "").rstrip("0")), f)


def _check_decimals(places: int, f: Field) -> None:
    """More significant decimals than the field keeps would be rounded away: refuse them."""
    if f.type == "decimal" and f.decimals is not None and places > f.decimals:
        if f.decimals == 0:
            raise _Invalid("int_decimals")
        raise _Invalid("too_many_decimals", "too_many_decimals_one" if f.decimals == 1 else None, decimals=f.decimals)


def _number(value: Any, f: Field) -> Decimal:
    """Any input of a number field as an exact Decimal, checked for form (not for limits)."""
    bad = _not_number(f)
    if isinstance(value, bool):
        raise _Invalid(bad)
    if isinstance(value, str):
        number = _number_text(value, f)
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, (float, Decimal)):
        if not (value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)):
            raise _Invalid(bad)
        # The shortest decimal form of a float is what a person (or a spreadsheet) meant by it.
        number = Decimal(repr(float(value))) if isinstance(value, float) else value
        places = max(0, -number.normalize().as_tuple().exponent)  # type: ignore[operator]
        if f.type == "int" and places:
            raise _Invalid("int_decimals")
        _check_decimals(places, f)
    else:
        raise _Invalid(bad)
    if abs(number) >= MAX_MAGNITUDE:
        raise _Invalid("number_too_large")
    return number


def _to_int(value: Any, f: Field) -> int:
    if type(value) is int:  # the common case (widgets, Python callers): no Decimal round trip; never a bool
        if abs(value) >= MAX_MAGNITUDE:
            raise _Invalid("number_too_large")
        return value
    return int(_number(value, f))


def _to_decimal(value: Any, f: Field) -> float:
    if type(value) is str:
        # float(Decimal(text)) without the Decimal: both are the double nearest the decimal text
        sign, whole, mark, fraction = _number_parts(value, f)
        if int(whole or "0") >= MAX_MAGNITUDE:  # |number| >= MAX_MAGNITUDE exactly when its whole part is
            raise _Invalid("number_too_large")
        number = float(f"{whole or '0'}.{fraction or '0'}")
        return (-number if sign in ("-", "\u2212") else number) + 0.0  # + 0.0: no "-0.0" stored
    return float(_number(value, f)) + 0.0  # + 0.0: no "-0.0" stored


# --- other types --------------------------------------------------------------------------------


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, str)) and str(value).strip().lower() in _TRUE | _FALSE:
        return str(value).strip().lower() in _TRUE
    raise _Invalid("not_bool")


def _to_code(value: Any, f: Field) -> str | int:
    assert f.codelist is not None
    if f.type == "int":
        code: str | int = _to_int(value, f)
    elif isinstance(value, str):
        code = value.strip()
    else:
        raise _Invalid("not_in_codelist")  # a list, a number, ...: no code of a text code list
    if code not in f.codelist:
        raise _Invalid("not_in_codelist")
    return code


def _to_codes(value: Any, f: Field) -> list[str | int]:
    if isinstance(value, str):
        items: list[Any] = re.split(r"[;|]", value)
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise _Invalid("not_in_codelist")
    codes = [_to_code(v, f) for v in items if not _blank(v)]
    return sorted(set(codes), key=codes.index)


def _to_text(value: Any, f: Field) -> str:
    if (
        isinstance(value, bool)
        or not isinstance(value, (str, int, float))
        or (isinstance(value, float) and not math.isfinite(value))
    ):
        raise _Invalid("not_text")
    text = value.strip() if isinstance(value, str) else str(value)
    if _BAD_TEXT.search(text):
        raise _Invalid("text_characters")
    if f.max_length is not None and len(text) > f.max_length:
        raise _Invalid("too_long", max_length=f.max_length)
    return text


#: Field type -> its coercion (value, field, today) -> the JSON-ready value, or _Invalid.
COERCERS: dict[str, Callable[[Any, Field, dt.date], Any]] = {
    "int": lambda v, f, today: _to_code(v, f) if f.codelist is not None else _to_int(v, f),
    "decimal": lambda v, f, today: _to_decimal(v, f),
    "date": _to_date,
    "bool": lambda v, f, today: _to_bool(v),
    "choice": lambda v, f, today: _to_code(v, f),
    "multi_choice": lambda v, f, today: _to_codes(v, f),
    "text": lambda v, f, today: _to_text(v, f),
}


# --- missing reasons ----------------------------------------------------------------------------

_SPELLINGS: dict[int, tuple[CodeList, dict[str, str]]] = {}


def _spellings(reasons: CodeList) -> dict[str, str]:
    """Casefolded code, labels and spellings -> the reason's code (cached per code list)."""
    cached = _SPELLINGS.get(id(reasons))
    if cached is None or cached[0] is not reasons:
        table: dict[str, str] = {}
        for c in reasons.codes:
            words = [str(c.code), c.label.da, c.label.en, *c.attributes.get("spellings", ())]
            table.update({str(w).strip().casefold(): str(c.code) for w in words})
        cached = _SPELLINGS[id(reasons)] = (reasons, table)
    return cached[1]


_OWN_REASONS: dict[int, tuple[Field, dict[str, str]]] = {}


def _own_reasons(f: Field) -> dict[str, str]:
    """Casefolded code and labels of the missing reasons ``f`` declares -> the reason's code, the
    first reason winning as in their order (cached per field: fields are immutable)."""
    cached = _OWN_REASONS.get(id(f))
    if cached is None or cached[0] is not f:
        table: dict[str, str] = {}
        for reason in f.missing_reasons:
            for word in (str(reason.code), reason.label.da, reason.label.en):
                table.setdefault(word.casefold(), str(reason.code))
        if len(_OWN_REASONS) > 4096:  # contracts loaded again and again (tests): forget the old ones
            _OWN_REASONS.clear()
        cached = _OWN_REASONS[id(f)] = (f, table)  # keeps the field alive: its id is not reused
    return cached[1]


def missing_reason_of(contract: Contract, f: Field, value: Any) -> str | None:
    """The missing reason (its code) that ``value`` stands for, whether or not ``f`` accepts it:
    "UNK", "uoplyst", "Ikke relevant", "borgeren ønskede ikke" ... (any case); None otherwise."""
    if not isinstance(value, str):
        return None
    key = value.strip().casefold()
    own = _own_reasons(f).get(key)
    if own is not None:
        return own
    if contract.missing_reasons is not None:
        return _spellings(contract.missing_reasons).get(key)
    return UNKNOWN if key == UNKNOWN.casefold() else None


def _reason_label(contract: Contract, f: Field, code: str, lang: str) -> str:
    own = f.missing_reason(code)
    if own is not None:
        return own.label.get(lang)
    return contract.missing_reasons.label_of(code, lang) if contract.missing_reasons is not None else code


def _coerce(contract: Contract, f: Field, value: Any, today: dt.date) -> Any:
    """Return the JSON-ready value or raise _Invalid."""
    if f.codelist is not None and isinstance(value, str) and value.strip() in f.codelist:
        return value.strip()  # a code, even one that reads like a missing reason ("declined")
    # Free text without declared reasons is taken as written ("NA" may be a note's whole text).
    if f.type != "text" or f.missing_reasons:
        reason = missing_reason_of(contract, f, value)
        if reason is not None:
            if f.missing_reason(reason) is not None:
                return reason
            raise _Invalid(
                "missing_not_allowed", "missing_not_allowed_other" if f.missing_reasons else None, reason=reason
            )
    return COERCERS[f.type](value, f, today)


# --- messages -----------------------------------------------------------------------------------


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


def _fmt(value: Any, lang: str) -> str:
    """A value as the message shows it: numbers the language's way, long text shortened."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return format_number(value, None, lang, typographic=False)
    text = str(value)
    return text if len(text) <= MESSAGE_VALUE_LENGTH else text[: MESSAGE_VALUE_LENGTH - 1] + "…"


def _required_template(f: Field) -> str:
    """The "required" message that offers exactly the missing reasons the field takes."""
    reasons = [c.code for c in f.missing_reasons]
    if not reasons:
        return "required"
    return "required_or_unknown" if reasons == [UNKNOWN] else "required_or_missing"


def make_issue(
    contract: Contract,
    form: Form,
    f: Field,
    code: str,
    severity: str,
    value: Any,
    *,
    template: str | None = None,
    **extra: Any,
) -> FieldIssue:
    """A FieldIssue for ``f`` with the contract's Danish and English message for ``code`` (or for
    its variant ``template``), the placeholders filled in."""
    if code == "required" and template is None:
        template = _required_template(f)
    found = contract.messages.get(template or code) or contract.messages.get(code)
    messages: dict[str, str] = {}
    for lang in ("da", "en"):
        params = {
            "label": f.label.get(lang),
            "field": f.name,
            "form": form.label.get(lang),
            "value": _fmt(value, lang),
            "unit": f" {f.unit}" if f.unit else "",
            "reasons": ", ".join(c.label.get(lang) for c in f.missing_reasons),
            **{k: _fmt(v, lang) for k, v in extra.items()},
        }
        if "reason" in extra:
            params["reason"] = _reason_label(contract, f, extra["reason"], lang)
        if f.type == "date" and code in ("future_date", "date_too_early"):
            params["value"] = parse_date(value).strftime("%d-%m-%Y")
        messages[lang] = found.get(lang).format_map(_Default(params)) if found else f"{f.name}: {code}"
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
        return None  # a missing reason (NA, DECL) is no date


RuleCheck = Callable[[Rule, Any, Any], "bool | None"]


def _comparison(convert: Callable[[Any], Any], ok: Callable[[Any, Any], bool]) -> RuleCheck:
    def check(rule: Rule, a: Any, b: Any) -> bool | None:
        x, y = convert(a), convert(b)
        return None if x is None or y is None else ok(x, y)

    return check


def _not_together(rule: Rule, a: Any, b: Any) -> bool | None:
    assert rule.values is not None  # the loader requires them for this kind
    if a is None or b is None:
        return None
    left = any(type(a) is type(v) and a == v for v in rule.values[0])  # type: True is not 1
    right = any(type(b) is type(v) and b == v for v in rule.values[1])
    return not (left and right)


#: Rule kind -> check(rule, left value, right value): True holds, False broken, None not checkable.
RULE_KINDS: dict[str, RuleCheck] = {
    "not_before": _comparison(_as_date, lambda a, b: a >= b),
    "less_equal": _comparison(_numeric, lambda a, b: a <= b),
    "greater_than": _comparison(_numeric, lambda a, b: a > b),
    "not_together": _not_together,
}


def _rule_issues(contract: Contract, form: Form, cleaned: Mapping[str, Any], context: Context) -> list[FieldIssue]:
    """The cross-field rules as written, one after the other: the reference that the planned checks
    (``_planned_rule_issues``, what ``validate_form`` uses) are tested against."""
    lookup = make_lookup(form.name, cleaned, context)
    issues = []
    for rule, left, right in contract.rules_for(form.name):
        if RULE_KINDS[rule.kind](rule, lookup(left), lookup(right)) is not False:
            continue
        # Attach the issue to the field of this form, preferring the left-hand one.
        issues.append(_rule_issue(form.name, rule, left if left.form == form.name else right, cleaned))
    return issues


def _rule_issue(form_name: str, rule: Rule, ref: Ref, cleaned: Mapping[str, Any]) -> FieldIssue:
    return FieldIssue(form_name, ref.field, rule.name, rule.severity, {"da": rule.message.da, "en": rule.message.en},
                      cleaned.get(ref.field))


def _planned_rule_issues(plan: _Plan, cleaned: Mapping[str, Any], context: Context) -> list[FieldIssue]:
    """``_rule_issues`` with each rule's check and the places of its two values
    looked up once, in the plan."""
    issues = []
    for check, rule, left, left_form, right, right_form, ref in plan.rule_checks:
        a = (cleaned if left_form is None else context.get(left_form, _NOTHING)).get(left.field)
        b = (cleaned if right_form is None else context.get(right_form, _NOTHING)).get(right.field)
        if check(rule, a, b) is not False:
            continue
        issues.append(_rule_issue(plan.form.name, rule, ref, cleaned))
    return issues


_NOTHING: Mapping[str, Any] = {}


# --- derived fields -----------------------------------------------------------------------------


def compute_derived(form: Form, cleaned: Mapping[str, Any], context: Context, contract: Contract) -> dict[str, Any]:
    """The derived scores of ``form`` from its (cleaned) data and the other forms' data; a number
    answered with any missing reason (NA, DECL) reaches the scoring as "UNK", so that every reason
    counts as unknown (imputation, minimum items answered)."""
    return _derive_planned(_plan(contract, form), cleaned, context)


# --- the plan of a form, built once -------------------------------------------------------------
# Contracts and their forms are immutable: what ``validate_form`` would otherwise look up again for
# every field at every save (which fields are derived, which have limits, the derivations' inputs,
# the required fields) is worked out once per (contract, form) object.
# Everything is still decided by the same functions, in the same order (tests/test_validation_plan.py).

Getter = Callable[[Data, Context], Any]


def _getter(contract: Contract, form: Form, ref: Ref) -> Getter:
    """``compute_derived``'s ``value(ref)`` with ``contract``: the value, a missing reason of a
    number field as UNKNOWN."""
    name = ref.field
    target = contract.forms.get(ref.form or form.name)
    f = target.fields.get(ref.field) if target is not None else None
    numeric = f if f is not None and f.type in NUMERIC_TYPES else None
    if ref.form not in (None, form.name):
        other = ref.form

        def from_context(data: Data, context: Context) -> Any:
            found = context.get(other, {}).get(name)
            if numeric is not None and isinstance(found, str) and found != UNKNOWN:
                if numeric.missing_reason(found) is not None:
                    return UNKNOWN
            return found

        return from_context
    if numeric is None:
        return lambda data, context: data.get(name)

    def number(data: Data, context: Context) -> Any:  # the usual input of a score: a number of this form
        found = data.get(name)
        if isinstance(found, str) and found != UNKNOWN and numeric.missing_reason(found) is not None:
            return UNKNOWN
        return found

    return number


#: ``_Entry.int_codes`` of a field that is not a whole number.
_NOT_INT: frozenset[Any] = frozenset({object()})


class _Entry(NamedTuple):
    """What the loop of ``validate_form`` needs to know of one field, in one look-up."""

    field: Field
    derived: bool
    #: a whole-number field's codes (None: no code list), which take a Python int as it is;
    #: _NOT_INT for other fields
    int_codes: frozenset[Any] | None
    #: the codes a text value is taken as when stripped (``_coerce``'s first rule); None: no code list
    text_codes: frozenset[Any] | None
    #: the range inside which ``_limit_issues`` finds nothing, or None when it never does
    quiet: tuple[float, float] | None


def _quiet_range(f: Field) -> tuple[float, float] | None:
    """Where a number of ``f`` is inside every hard and soft limit; None for a field that
    ``_limit_issues`` never looks at (a code list, or no limits)."""
    if f.codelist is not None or (f.hard is None and f.soft is None):
        return None
    lows = [x.min for x in (f.hard, f.soft) if x is not None and x.min is not None]
    highs = [x.max for x in (f.hard, f.soft) if x is not None and x.max is not None]
    return (max(lows, default=-math.inf), min(highs, default=math.inf))


def _entry(f: Field, code_sets: dict[int, frozenset[Any]]) -> _Entry:
    """``code_sets``: the codes of each code list already seen (by id), so that the fields of one
    code list (a questionnaire's items) share one set."""
    codes = None
    if f.codelist is not None:
        codes = code_sets.setdefault(id(f.codelist), frozenset(f.codelist.values))
    return _Entry(
        f,
        f.is_derived,
        codes if f.type == "int" else _NOT_INT,
        None if codes is None else frozenset(c for c in codes if not _blank(c)),  # blank is never taken
        _quiet_range(f),
    )


#: Values ``_getter`` never changes (it changes some text only).
_AS_THEY_ARE = frozenset({int, float, bool, type(None)})


def _items_getter(contract: Contract, form: Form, refs: tuple[Ref, ...]) -> Getter:
    """The list of ``_getter``'s values of ``refs`` (a questionnaire's items). ``_getter`` gives an
    item of this form back as it is unless it is text (a missing reason): a list of numbers and
    blanks, the usual one, is taken in one pass."""
    getters = tuple(_getter(contract, form, r) for r in refs)
    if any(r.form not in (None, form.name) for r in refs):
        return lambda data, context: [g(data, context) for g in getters]
    names = tuple(r.field for r in refs)

    def items(data: Data, context: Context) -> list[Any]:
        values = [data.get(name) for name in names]
        if set(map(type, values)) <= _AS_THEY_ARE:
            return values
        return [g(data, context) for g in getters]

    return items


def _taken_ints(entry: _Entry) -> frozenset[int] | range | None:
    """For a whole-number field a Python int is taken as it is without any issue when it is one of
    these codes, or (no code list) in this range; None for any other field. What the loop of
    ``validate_form`` would decide for such an int, decided in one look (a questionnaire's items)."""
    if entry.derived or entry.int_codes is _NOT_INT:
        return None
    if entry.int_codes is not None:
        return frozenset(c for c in entry.int_codes if type(c) is int and -MAX_MAGNITUDE < c < MAX_MAGNITUDE)
    lo, hi = entry.quiet if entry.quiet is not None else (-math.inf, math.inf)
    # the ints lo <= v <= hi (limits may be floats), within the magnitude limit
    return range(math.ceil(max(lo, -MAX_MAGNITUDE + 1)), math.floor(min(hi, MAX_MAGNITUDE - 1)) + 1)


def _taken_texts(entry: _Entry) -> frozenset[str] | None:
    """The texts a field takes as they are, without any issue: its code list's text codes that
    stripping leaves as they are (``_coerce``'s first rule); None for a field without them."""
    if entry.derived or entry.text_codes is None:
        return None
    return frozenset(c for c in entry.text_codes if type(c) is str and c == c.strip()) or None


class _Plan:
    def __init__(self, contract: Contract, form: Form) -> None:
        self.contract = contract
        self.form = form
        code_sets: dict[int, frozenset[Any]] = {}
        self.entries = {name: _entry(f, code_sets) for name, f in form.fields.items()}
        self.taken_ints = {name: t for name, e in self.entries.items() if (t := _taken_ints(e)) is not None}
        self.taken_texts = {name: t for name, e in self.entries.items() if (t := _taken_texts(e)) is not None}
        # each rule (its refs made explicit once: rules_for makes new Refs at every call): its check, its refs with the form each value is in (None: the data validated),
        # and the ref its issue is attached to (of this form, preferring the left-hand one)
        self.rule_checks = tuple(
            (
                RULE_KINDS[rule.kind],
                rule,
                left,
                None if left.form in (None, form.name) else left.form,
                right,
                None if right.form in (None, form.name) else right.form,
                left if left.form == form.name else right,
            )
            for rule, left, right in contract.rules_for(form.name)
        )
        self.required = tuple(f for f in form.input_fields() if f.required)
        self.required_names = frozenset(f.name for f in self.required)
        self.required_order = {f.name: i for i, f in enumerate(self.required)}
        fetches = _Fetches(contract, form)
        self.derivations = tuple(
            (
                f.name,
                # the registered function itself, looked up once (an unknown name: scoring.derive
                # says so when the score is asked for, as before)
                scoring.DERIVATIONS.get(f.derived.function) or functools.partial(scoring.derive, f.derived.function),
                dict(f.derived.params),
                tuple((kw, fetches.index(ref)) for kw, ref in f.derived.inputs.items()),
            )
            for f in form.fields.values()
            if f.derived is not None
        )
        self.fetches = tuple(fetches.steps)


class _Fetches:
    """The distinct inputs of a form's derivations, each fetched once per validation: the two HADS
    subscales read one list of their 14 items. (A derivation never changes its inputs.)"""

    def __init__(self, contract: Contract, form: Form) -> None:
        self.contract, self.form = contract, form
        self.steps: list[Getter] = []
        self._known: dict[Any, int] = {}

    def _key(self, ref: Ref) -> tuple[str | None, str]:
        return (None if ref.form in (None, self.form.name) else ref.form, ref.field)

    def index(self, ref: Ref | tuple[Ref, ...]) -> int:
        """The step that fetches ``ref`` (one field, or a list of items)."""
        key = tuple(map(self._key, ref)) if isinstance(ref, tuple) else self._key(ref)
        if key not in self._known:
            self._known[key] = len(self.steps)
            self.steps.append(_items_getter(self.contract, self.form, ref) if isinstance(ref, tuple)
                              else _getter(self.contract, self.form, ref))
        return self._known[key]


_PLANS: PlanCache[_Plan] = PlanCache()


def _plan(contract: Contract, form: Form) -> _Plan:
    return _PLANS.get((contract, form), lambda: _Plan(contract, form))


def _derive_planned(plan: _Plan, cleaned: Data, context: Context) -> dict[str, Any]:
    got = [get(cleaned, context) for get in plan.fetches]
    out: dict[str, Any] = {}
    for name, derive, params, inputs in plan.derivations:
        kwargs: dict[str, Any] = dict(params)
        for kw, index in inputs:
            kwargs[kw] = got[index]
        try:
            score = derive(**kwargs)
        except ValueError:
            score = None  # inputs are validated first; an odd combination just gives no score
        if score is not None:
            out[name] = score
    return out


# --- the entry point ----------------------------------------------------------------------------


def _unknown_field(contract: Contract, form: Form, key: Any, value: Any) -> FieldIssue:
    template = contract.messages.get("unknown_field")
    messages = (
        {
            lang: template.get(lang).format_map(_Default(field=_fmt(key, lang), form=form.label.get(lang)))
            for lang in ("da", "en")
        }
        if template
        else {}
    )
    return FieldIssue(form.name, key, "unknown_field", "error", messages, value)


def validate_form(
    contract: Contract,
    form_name: str,
    data: Data,
    *,
    context: Context | None = None,
    complete: bool = False,
    today: dt.date | None = None,
) -> ValidationReport:
    """Check ``data`` for ``form_name``; ``context`` holds the course's other forms (form -> data).

    With ``complete=True`` every shown, required field must hold an answer (a missing reason the
    field declares, such as "UNK", counts as one).
    """
    form = contract.form(form_name)
    plan = _plan(contract, form)
    entries = plan.entries
    context = context or {}
    today = today or dt.date.today()
    report = ValidationReport(form_name)
    coerced: dict[str, Any] = {}
    errors_by_field: dict[str, FieldIssue] = {}
    warnings_by_field: dict[str, FieldIssue] = {}

    taken_ints, taken_texts = plan.taken_ints, plan.taken_texts
    for key, value in data.items():
        kind = type(value)
        if kind is int:
            if (taken := taken_ints.get(key)) is not None and value in taken:
                coerced[key] = value  # a whole number the field takes as it is: nothing to check
                continue
        elif kind is str and (codes := taken_texts.get(key)) is not None and value in codes:
            coerced[key] = value  # a code of the field's code list as it is: nothing to check
            continue
        entry = entries.get(key) if isinstance(key, str) else None
        if entry is None:
            report.errors.append(_unknown_field(contract, form, key, value))
            continue
        f, derived, int_codes, text_codes, quiet = entry
        if derived or value is None:
            continue  # derived: recomputed below from what was entered
        if kind is int and int_codes is not _NOT_INT:
            # what _coerce does with an int for a whole-number field (no missing reason is an int):
            # _to_int's range check, then _to_code's code list check, without the calls
            if not -MAX_MAGNITUDE < value < MAX_MAGNITUDE:
                errors_by_field[key] = make_issue(contract, form, f, "number_too_large", "error", value)
                continue
            if int_codes is not None and value not in int_codes:
                errors_by_field[key] = make_issue(contract, form, f, "not_in_codelist", "error", value)
                continue
            clean = value
        elif kind is str and text_codes is not None and (code := value.strip()) in text_codes:
            clean = code  # _coerce's first rule: a code of the field's code list, as it is
        else:
            if _blank(value):
                continue
            try:
                clean = _coerce(contract, f, value, today)
            except _Invalid as bad:
                errors_by_field[key] = make_issue(
                    contract, form, f, bad.code, "error", value, template=bad.template, **bad.extra
                )
                continue
            if clean == []:
                continue  # "; ;" or a list of blanks: as blank as an empty cell
        if quiet is not None and not (
            (type(clean) is int or type(clean) is float) and quiet[0] <= clean <= quiet[1]
        ):
            for severity, code, extra in _limit_issues(f, clean):
                issue = make_issue(contract, form, f, code, severity, clean, **extra)
                (errors_by_field if severity == "error" else warnings_by_field)[key] = issue
            if key in errors_by_field:
                continue
        coerced[key] = clean

    # Branching on what was entered: a hidden field is dropped with its problems.
    # (visible names every field of the form, and only fields of the form got this far)
    visible = report.visible = visible_fields_of(form, coerced, context)
    if all(map(visible.__getitem__, coerced)):
        report.cleaned = coerced  # nothing entered is hidden (the usual save): the same dict, as it is
    else:
        report.cleaned = {k: v for k, v in coerced.items() if visible[k]}
    if errors_by_field:
        report.errors += [e for k, e in errors_by_field.items() if visible[k]]
    if warnings_by_field:
        report.warnings += [w for k, w in warnings_by_field.items() if visible[k]]
    for issue in _planned_rule_issues(plan, report.cleaned, context):
        (report.errors if issue.severity == "error" else report.warnings).append(issue)
    report.cleaned.update(_derive_planned(plan, report.cleaned, context))

    if complete and (unanswered := plan.required_names - report.cleaned.keys()):
        # in form order, as plan.required lists them
        for name in sorted(unanswered, key=plan.required_order.__getitem__):
            if visible[name] and name not in errors_by_field:
                report.missing.append(make_issue(contract, form, form.fields[name], "required", "error", None))
    return report


def missing_required(contract: Contract, form_name: str, cleaned: Data, context: Context | None = None) -> list[str]:
    """Names of required fields that are shown but unanswered (for completeness reports)."""
    form = contract.form(form_name)
    visible = visible_fields_of(form, cleaned, context)
    return [f.name for f in form.input_fields() if f.required and visible.get(f.name, True) and f.name not in cleaned]
