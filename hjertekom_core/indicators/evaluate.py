"""The declared indicators for ONE course, evaluated in Python: the second interpreter of the same
declarations (SQL for many courses, this for one record, as DHIS2 does).

``counting.compute`` runs the declarations as DuckDB SQL over a snapshot; laying out one course
as a snapshot for it costs about 170 ms, almost all of it DuckDB's fixed cost per statement, which
is too slow for the feedback the entry app redraws after every save. This module reads the SAME
declarations (``indicators.yaml`` via ``declarations.py``) and gives, for one course, exactly the
counts ``compute`` would give it; tests/test_indicator_evaluator.py proves the two equal on every
demo course and on generated ones.

Nothing here knows an indicator. What each piece means is what the SQL means:

* a form's values are typed as the snapshot's form tables type them (``snapshot/writer.py``
  ``_value_sql``, ``snapshot/layout.py``): a field's missing-reason codes are NULL in a number or
  date column, numbers and dates are TRY_CAST from the JSON text (a decimal rounds half away from
  zero into an INTEGER column), a choice or text field keeps its text, a bool is true/false only
  for ``true``/``false``. Only a form's COMPLETE registration gives facts (``facts.py`` joins
  the form tables on ``status = 'complete'``); a draft counts as no registration;
* ``None`` is SQL's NULL: a fact that is unknown. ``_Course.known_value`` is ``conditions.py``'s
  ``known_value``: a code fact holding a missing-reason code (``Declarations.unknown_codes``) is
  unknown too. Conditions are three-valued (True, False, None) with SQL's AND and OR;
* the flags and the period key are ``counting.flags_sql`` and ``counting._statement``.

Fact kinds and operators are registries (``FACT_VALUES``, ``OPERATOR_VALUES``) with the same keys
as ``conditions.FACT_KINDS`` and ``conditions.OPERATORS``; a kind or operator the evaluator lacks
fails with an error naming it, as the SQL compiler does.
"""
from __future__ import annotations

import datetime as dt
import functools
import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from hjertekom_core.contract import Contract, ContractRegistry, Field
from hjertekom_core.indicators.declarations import (
    REFERENCE_DATE,
    Condition,
    Declarations,
    Fact,
    FactRef,
    Setting,
    Share,
)
from hjertekom_core.indicators.settings import IndicatorSettings
from hjertekom_core.snapshot.layout import DUCKDB_TYPES, missing_codes

#: The registration status whose form gives facts (facts.py: ``status = 'complete'``).
COMPLETE = "complete"


@dataclass(frozen=True)
class CourseCount:
    """How ``compute`` counts one course for one indicator.

    ``period``: the period key as compute() prints it in its "period" column (``2025``,
    ``2025-Q3``, ``2025-07``) for the row the course's flags fall in; None when compute() puts
    this course in no period row (then every count is 0). The counts are 0 or 1.
    """

    indicator: str
    period: str | None
    numerator: int
    denominator: int
    unknown: int
    excluded: int


class EvaluationError(ValueError):
    """A declaration the evaluator cannot evaluate (a fact kind or operator it does not know, a
    comparison the SQL would refuse): raised, never guessed."""


# --- values as the snapshot's form tables type them -----------------------------------------------

_INT_RANGE = (-(2 ** 31), 2 ** 31 - 1)  # DuckDB INTEGER
_PLAIN_INT = re.compile(r"[+-]?[0-9]+")
_PLAIN_DECIMAL = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
_PLAIN_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_duck_lock = threading.Lock()


@functools.lru_cache(maxsize=4096)
def _duck_try_cast(text: str, type_: str) -> Any:
    """DuckDB's own TRY_CAST of a text it accepts in ways not worth copying ('0x10', '1_000',
    ' 12 ', 'Infinity' as a date ...): only text the contract would not have cleaned so gets here."""
    from hjertekom_core import duck

    with _duck_lock, duck.connect() as con:
        row = con.execute(f"SELECT TRY_CAST(? AS {type_})", [text]).fetchone()
    return row[0] if row else None


def _json_text(value: Any) -> str | None:
    """What ``json_extract_string`` gives for a JSON value of the stored data (``service.dump_data``)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int) and -(2 ** 63) <= value < 2 ** 63:
        return str(value)
    return _duck_json_text(_dump(value))


def _dump(value: Any) -> str:
    import json

    return json.dumps({"v": value}, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


@functools.lru_cache(maxsize=4096)
def _duck_json_text(document: str) -> str | None:
    """A float's or a list's text as DuckDB's JSON writer gives it (its float format is its own)."""
    from hjertekom_core import duck

    with _duck_lock, duck.connect() as con:
        row = con.execute("SELECT json_extract_string(?, ['$.v'])[1]", [document]).fetchone()
    return row[0] if row else None


def _to_integer(value: Any) -> int | None:
    """TRY_CAST(json text AS INTEGER)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        result: int | None = value
    elif isinstance(value, float):
        if not math.isfinite(value):
            return None
        # The JSON text is the shortest round-trip decimal (repr); DuckDB rounds it half away from zero.
        exact = Fraction(repr(value))
        magnitude = math.floor(abs(exact) + Fraction(1, 2))
        result = magnitude if exact >= 0 else -magnitude
    elif isinstance(value, str) and _PLAIN_INT.fullmatch(value):
        result = int(value)
    elif isinstance(value, str):
        return _duck_try_cast(value, "INTEGER")
    else:
        return None  # a list or an object: no number
    if result is None or not _INT_RANGE[0] <= result <= _INT_RANGE[1]:
        return None
    return result


def _to_double(value: Any) -> float | None:
    """TRY_CAST(json text AS DOUBLE)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and _PLAIN_DECIMAL.fullmatch(value):
        return float(value)
    if isinstance(value, str):
        return _duck_try_cast(value, "DOUBLE")
    return None


def _to_date(value: Any) -> dt.date | None:
    """TRY_CAST(json text AS DATE)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str) and _PLAIN_DATE.fullmatch(value) and not value.startswith("0000"):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    text = _json_text(value)
    return None if text is None else _duck_try_cast(text, "DATE")


def _to_bool(value: Any) -> bool | None:
    """CASE raw WHEN 'true' THEN true WHEN 'false' THEN false END."""
    text = _json_text(value)
    return True if text == "true" else False if text == "false" else None


def column_value(f: Field, value: Any) -> Any:
    """A cleaned value of field ``f`` as the snapshot's value column of ``f`` holds it (None: NULL)."""
    if f.type == "multi_choice":
        raise EvaluationError(f"{f.form}.{f.name}: a multi_choice field is not a fact the evaluator reads")
    if f.type in ("choice", "text"):
        return _json_text(value)
    if f.type == "bool":
        return _to_bool(value)
    if isinstance(value, str) and value in missing_codes(f):
        return None  # a missing reason: unknown
    caster = {"int": _to_integer, "decimal": _to_double, "date": _to_date}.get(f.type)
    if caster is None:
        raise EvaluationError(f"{f.form}.{f.name}: no evaluator for field type {f.type!r} "
                              f"(DuckDB type {DUCKDB_TYPES.get(f.type)})")
    return caster(value)


# --- comparing as DuckDB compares ----------------------------------------------------------------

def _cast_like(text: str, other: Any) -> Any:
    """A text compared with a number, date or bool is cast to its type, or the comparison fails
    (DuckDB: Conversion Error)."""
    if isinstance(other, bool):
        cast: Any = {"true": True, "false": False}.get(text.strip().lower())
    elif isinstance(other, int):
        cast = _to_integer(text) if _PLAIN_INT.fullmatch(text.strip()) else _to_double(text)
    elif isinstance(other, float):
        cast = _to_double(text)
    elif isinstance(other, dt.date):
        cast = _to_date(text)
    else:
        raise EvaluationError(f"cannot compare {text!r} with {other!r}")
    if cast is None:
        raise EvaluationError(f"could not convert {text!r} to the type of {other!r}")
    return cast


def _aligned(a: Any, b: Any) -> tuple[Any, Any]:
    if isinstance(a, str) and not isinstance(b, str):
        return _cast_like(a, b), b
    if isinstance(b, str) and not isinstance(a, str):
        return a, _cast_like(b, a)
    if isinstance(a, dt.date) != isinstance(b, dt.date) or isinstance(a, bool) != isinstance(b, bool):
        raise EvaluationError(f"cannot compare {a!r} with {b!r}")
    return a, b


def _key(value: Any) -> Any:
    # DuckDB orders NaN above every number and equal to itself.
    if isinstance(value, float) and math.isnan(value):
        return (1, 0.0)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value)
    return value


def compare(a: Any, b: Any) -> int | None:
    """-1, 0 or 1 as DuckDB orders a and b; None when either is NULL."""
    if a is None or b is None:
        return None
    a, b = _aligned(a, b)
    ka, kb = _key(a), _key(b)
    return -1 if ka < kb else 1 if ka > kb else 0


# --- three-valued logic ----------------------------------------------------------------------------

def and3(values: Iterable[bool | None]) -> bool | None:
    """SQL AND: false if any is false, else NULL if any is NULL, else true."""
    result: bool | None = True
    for v in values:
        if v is False:
            return False
        if v is None:
            result = None
    return result


def or3(values: Iterable[bool | None]) -> bool | None:
    """SQL OR: true if any is true, else NULL if any is NULL, else false."""
    result: bool | None = False
    for v in values:
        if v is True:
            return True
        if v is None:
            result = None
    return result


# --- one course --------------------------------------------------------------------------------------

class _Course:
    """One course's complete forms, with the reference date and settings: the facts' values."""

    def __init__(self, decl: Declarations, contract: Contract, forms: Mapping[str, Mapping[str, Any]],
                 statuses: Mapping[str, str], reference: dt.date, settings: Mapping[str, Any]) -> None:
        self.decl = decl
        self.contract = contract
        self.reference = reference
        self.settings = settings
        # facts.py: LEFT JOIN <form table> ON ... AND status = 'complete'
        self.rows = {form: forms[form] for form in decl.forms
                     if form in forms and statuses.get(form, COMPLETE) == COMPLETE}
        self._facts: dict[str, Any] = {}

    def setting(self, name: str) -> Any:
        if name not in self.settings:
            raise EvaluationError(f"setting {name!r} is needed here")
        return self.settings[name]

    def column(self, form: str, field: str) -> Any:
        """The form table's column ``field`` of this course: NULL without a complete registration."""
        data = self.rows.get(form)
        if data is None:
            return None
        return column_value(self.contract.form(form).fields[field], data.get(field))

    def field_of(self, form: str, field: str) -> Field:
        return self.contract.form(form).fields[field]

    def fact(self, name: str) -> Any:
        """The fact's value, unknown codes still in it (conditions.Scope.fact)."""
        if name == REFERENCE_DATE:
            return self.reference
        if name not in self._facts:
            fact = self.decl.facts[name]
            kind = FACT_VALUES.get(fact.kind)
            if kind is None:
                raise EvaluationError(f"fact {name!r}: kind {fact.kind!r} has no Python evaluator "
                                      f"(hjertekom_core/indicators/evaluate.py FACT_VALUES)")
            self._facts[name] = kind(self, fact)
        return self._facts[name]

    def known_value(self, name: str) -> Any:
        """The fact's value, None when unknown (conditions.Scope.known_value)."""
        value = self.fact(name)
        fact = self.decl.facts.get(name)
        if fact is not None and fact.type == "code" and value is not None and value in self.decl.unknown_codes:
            return None
        return value

    def condition(self, cond: Condition) -> bool | None:
        operator = OPERATOR_VALUES.get(cond.op)
        if operator is None:
            raise EvaluationError(f"operator {cond.op!r} has no Python evaluator "
                                  f"(hjertekom_core/indicators/evaluate.py OPERATOR_VALUES)")
        return operator(self, cond)

    def all(self, conditions: tuple[Condition, ...]) -> bool | None:
        """conditions.all_sql (callers decide what no conditions mean)."""
        return and3(self.condition(c) for c in conditions)


def _named(value: str | None, what: str) -> str:
    if value is None:
        raise EvaluationError(f"{what} is missing")
    return value


# --- facts (conditions.FACT_KINDS) -----------------------------------------------------------------

def _field(course: _Course, fact: Fact) -> Any:
    return course.column(_named(fact.form, "form"), _named(fact.field, "field"))


def _result_of(course: _Course, fact: Fact) -> Any:
    form, test = _named(fact.form, "form"), _named(fact.field, "field")
    chosen = course.column(form, test)
    # CASE <test> WHEN code THEN <column> ... END: one type for every branch (an INTEGER with a
    # DOUBLE branch is a DOUBLE).
    decimal = any(course.field_of(form, column).type == "decimal" for column in fact.results.values())
    for code, column in fact.results.items():
        if compare(chosen, code) == 0:
            value = course.column(form, column)
            return float(value) if decimal and value is not None else value
    return None


def _complete(course: _Course, fact: Fact) -> Any:
    return _named(fact.form, "form") in course.rows


def _days_between(course: _Course, fact: Fact) -> Any:
    first, second = (course.known_value(a) for a in fact.args)
    if first is None or second is None:
        return None
    if not (isinstance(first, dt.date) and isinstance(second, dt.date)):
        raise EvaluationError(f"fact {fact.name!r}: days_between needs two dates")
    if _INFINITE_DATES.intersection((first, second)):
        return None  # DuckDB's date_diff of an infinite date is NULL
    return (second - first).days


# DuckDB reads the texts 'infinity' and '-infinity' as dates; Python receives them as date.max and
# date.min. Only text the contract would never clean gets that far, but the evaluator must still
# count it as the SQL does: DuckDB keeps a date as days since 1970 with the infinities at +-(2**31 - 1).
_INFINITE_DATES = frozenset((dt.date.max, dt.date.min))
_EPOCH = dt.date(1970, 1, 1)


def _epoch_day(d: dt.date) -> int:
    if d == dt.date.max:
        return 2 ** 31 - 1
    if d == dt.date.min:
        return -(2 ** 31 - 1)
    return (d - _EPOCH).days


def _difference(course: _Course, fact: Fact) -> Any:
    first, second = (course.known_value(a) for a in fact.args)
    if first is None or second is None:
        return None
    if isinstance(first, dt.date) and isinstance(second, dt.date):
        return _epoch_day(first) - _epoch_day(second)
    if isinstance(first, (str, bool, dt.date)) or isinstance(second, (str, bool, dt.date)):
        raise EvaluationError(f"fact {fact.name!r}: difference needs two numbers or two dates")
    return first - second


def _date_plus_days(course: _Course, fact: Fact) -> Any:
    date, days = fact.args
    n = course.setting(days.name) if isinstance(days, Setting) else int(days)
    value = course.known_value(date)
    if value is None:
        return None
    if not isinstance(value, dt.date):
        raise EvaluationError(f"fact {fact.name!r}: date_plus_days needs a date")
    if value in _INFINITE_DATES:
        return value  # infinity plus days stays infinity in DuckDB
    return value + dt.timedelta(days=int(n))


def _first_known(course: _Course, fact: Fact) -> Any:
    values = [course.known_value(a) for a in fact.args]
    found = next((v for v in values if v is not None), None)
    # coalesce has one type: an INTEGER among DOUBLE arguments is a DOUBLE.
    if isinstance(found, int) and not isinstance(found, bool) and any(isinstance(v, float) for v in values):
        return float(found)
    return found


#: fact kind -> its value for one course (the keys of conditions.FACT_KINDS).
FACT_VALUES: dict[str, Callable[[_Course, Fact], Any]] = {
    "field": _field, "result_of": _result_of, "complete": _complete, "days_between": _days_between,
    "difference": _difference, "date_plus_days": _date_plus_days, "first_known": _first_known,
}


# --- conditions (conditions.OPERATORS) ---------------------------------------------------------------

def _literal(value: Any) -> Any:
    """A declared literal as conditions.lit writes it: numbers and bools as they are, else text."""
    return value if isinstance(value, (bool, int, float)) else str(value)


def _operand(course: _Course, value: Any) -> tuple[Any, int]:
    """The compared value and the factor of the fact's side (conditions._operand: a share p/q of
    a fact compares q x fact with p x the other, exactly in integers)."""
    if isinstance(value, Setting):
        return course.setting(value.name), 1
    if isinstance(value, FactRef):
        return course.known_value(value.name), 1
    if isinstance(value, Share):
        share = Fraction(value.share)
        other = course.known_value(value.of)
        return (None if other is None else _times(share.numerator, other)), share.denominator
    return _literal(value), 1


def _times(factor: int, value: Any) -> Any:
    if isinstance(value, str):
        value = _cast_like(value, 0)
    if isinstance(value, (bool, dt.date)):
        raise EvaluationError(f"cannot multiply {value!r}")
    return factor * value


def _comparison(test: Callable[[int], bool]) -> Callable[[_Course, Condition], bool | None]:
    def evaluate(course: _Course, cond: Condition) -> bool | None:
        other, factor = _operand(course, cond.value)
        mine = course.known_value(_named(cond.fact, "fact"))
        if factor != 1 and mine is not None:
            mine = _times(factor, mine)
        order = compare(mine, other)
        return None if order is None else test(order)
    return evaluate


def _in(negate: bool) -> Callable[[_Course, Condition], bool | None]:
    def evaluate(course: _Course, cond: Condition) -> bool | None:
        mine = course.known_value(_named(cond.fact, "fact"))
        if mine is None:
            return None
        found = any(compare(mine, _literal(code)) == 0 for code in cond.value)
        return found != negate
    return evaluate


def _known(course: _Course, cond: Condition) -> bool | None:
    # Two-valued: whether the fact is known is itself always known.
    return (course.known_value(_named(cond.fact, "fact")) is not None) == bool(cond.value)


def _is(course: _Course, cond: Condition) -> bool | None:
    # coalesce(<fact> = true/false, false): the fact itself, not its known value.
    return compare(course.fact(_named(cond.fact, "fact")), bool(cond.value)) == 0


def _all(course: _Course, cond: Condition) -> bool | None:
    return and3(course.condition(c) for c in cond.children)


def _any(course: _Course, cond: Condition) -> bool | None:
    return or3(course.condition(c) for c in cond.children)


#: operator -> its three-valued result for one course (the keys of conditions.OPERATORS).
OPERATOR_VALUES: dict[str, Callable[[_Course, Condition], bool | None]] = {
    "equals": _comparison(lambda o: o == 0), "lt": _comparison(lambda o: o < 0),
    "le": _comparison(lambda o: o <= 0), "gt": _comparison(lambda o: o > 0),
    "ge": _comparison(lambda o: o >= 0), "in": _in(False), "not_in": _in(True), "known": _known, "is": _is,
    "all": _all, "any": _any,
}


# --- periods (counting.PERIODS) -----------------------------------------------------------------------

def _quarter_start(d: dt.date) -> dt.date:
    return d.replace(month=3 * ((d.month - 1) // 3) + 1, day=1)


#: period -> (date_trunc, the key as counting.PERIODS formats the truncated date)
PERIOD_KEYS: dict[str, tuple[Callable[[dt.date], dt.date], Callable[[dt.date], str]]] = {
    "year": (lambda d: d.replace(month=1, day=1), lambda d: f"{d.year:04d}"),
    "quarter": (_quarter_start, lambda d: f"{d.year:04d}-Q{(d.month - 1) // 3 + 1}"),
    "month": (lambda d: d.replace(day=1), lambda d: f"{d.year:04d}-{d.month:02d}"),
}


# --- the counts ----------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=8)
def _contract_at(contracts_dir: str, programme: str) -> Contract:
    return ContractRegistry(Path(contracts_dir))[programme]


def contract_of(decl: Declarations) -> Contract:
    """The contract beside the declarations' file (``<contracts>/<programme>/indicators.yaml``)."""
    return _contract_at(str(Path(decl.source).resolve().parent.parent), decl.programme)


def course_facts(decl: Declarations, forms: Mapping[str, Mapping[str, Any]], statuses: Mapping[str, str],
                 settings: IndicatorSettings, reference: dt.date, *,
                 contract: Contract | None = None) -> dict[str, Any]:
    """Every declared fact of one course (None: NULL), as the SQL computes it: missing-reason codes
    are still in a code fact, as in a snapshot's facts table. Arguments as ``course_counts``."""
    course = _Course(decl, contract or contract_of(decl), forms, statuses, reference, settings.values())
    return {name: course.fact(name) for name in decl.facts}


def course_counts(decl: Declarations, forms: Mapping[str, Mapping[str, Any]], statuses: Mapping[str, str],
                  settings: IndicatorSettings, reference: dt.date, period: str = "year", *,
                  contract: Contract | None = None) -> list[CourseCount]:
    """Per declared indicator, how ``counting.compute`` counts this one course (one CourseCount
    each, in the declarations' order).

    ``forms``: form name -> the cleaned data (``course.data_of(form)``); ``statuses``: form name ->
    "draft"/"complete" (missing: complete). ``settings.values()`` fill ``{setting: ...}``;
    ``reference`` is the reference date. ``contract`` types the form values (default: the contract
    beside the declarations' file). ``decl`` should be ``counting.declarations_of(settings)``, as
    compute() uses.
    """
    if period not in PERIOD_KEYS:
        raise ValueError(f"period must be one of {sorted(PERIOD_KEYS)}")
    course = _Course(decl, contract or contract_of(decl), forms, statuses, reference, settings.values())
    # facts.facts_select: any impossible-data rule that holds puts the course in no population.
    impossible = any(course.all(rule.when) is True for rule in decl.impossible)
    populations = {name: (not impossible) and (course.all(pop.when) if pop.when else True) is True
                   for name, pop in decl.populations.items()}
    flags: dict[str, tuple[bool, bool, bool, bool]] = {}
    for ind in decl.indicators:  # counting.flags_sql
        p = populations[ind.population]
        den = course.all(ind.denominator) if ind.denominator else True
        num = course.all(ind.numerator) if ind.numerator else True
        if ind.determinable_when:
            num = num if course.all(ind.determinable_when) is True else None
        d = p and den is True
        flags[ind.id] = (d and num is True, d, d and num is None, p and den is None)
    # counting._statement: a course's flags fall in the period of its period-date fact, and a
    # period is a row when some course is in a denominator or excluded there (here: this one).
    trunc, label = PERIOD_KEYS[period]
    keys: dict[str, dt.date | None] = {}
    for ind in decl.indicators:
        if ind.period_date not in keys:
            value = course.known_value(ind.period_date)
            if value is not None and not isinstance(value, dt.date):
                raise EvaluationError(f"period date {ind.period_date!r} is not a date: {value!r}")
            keys[ind.period_date] = None if value is None else trunc(value)
    rows = {keys[ind.period_date] for ind in decl.indicators
            if keys[ind.period_date] is not None and (flags[ind.id][1] or flags[ind.id][3])}
    out = []
    for ind in decl.indicators:
        key = keys[ind.period_date]
        n, d, u, x = flags[ind.id] if key in rows else (False, False, False, False)
        out.append(CourseCount(ind.id, label(key) if key is not None and key in rows else None,
                               int(n), int(d), int(u), int(x)))
    return out


# --- why: the condition that decided -----------------------------------------------------------------

@dataclass(frozen=True)
class Decisive:
    """What decided one indicator for one course, for a reader: ``stage`` says where the course
    stopped and ``condition`` (or ``rule``) which declared condition did it; ``value`` is that
    condition's three-valued result (False: not true, None: unknown).

    stage: "impossible" (an impossible-data rule holds: ``rule``), "population", "denominator",
    "period" (the period-date fact ``fact`` is unknown: in no period row), "determinable",
    "numerator", or "met" (nothing failed)."""

    indicator: str
    stage: str
    condition: Condition | None = None
    value: bool | None = None
    rule: str | None = None
    fact: str | None = None


def _first_not_true(course: _Course, conditions: tuple[Condition, ...]) -> tuple[Condition, bool | None] | None:
    """The first condition that is not true (False before None: a false one decides the AND)."""
    unknown: tuple[Condition, bool | None] | None = None
    for cond in conditions:
        value = course.condition(cond)
        if value is False:
            return cond, False
        if value is None and unknown is None:
            unknown = (cond, None)
    return unknown


def course_decisive(decl: Declarations, forms: Mapping[str, Mapping[str, Any]], statuses: Mapping[str, str],
                    settings: IndicatorSettings, reference: dt.date, *,
                    contract: Contract | None = None) -> dict[str, Decisive]:
    """Per declared indicator, the condition that decided where this course stands in it, in the
    order ``course_counts`` applies them (impossible data, population, denominator, the period
    date, determinable, numerator). Arguments as ``course_counts``; it never changes a count,
    only says why (the per-course feedback of any programme, ``indicators/course.py``)."""
    course = _Course(decl, contract or contract_of(decl), forms, statuses, reference, settings.values())
    rule = next((r for r in decl.impossible if course.all(r.when) is True), None)
    out: dict[str, Decisive] = {}
    for ind in decl.indicators:
        if rule is not None:
            out[ind.id] = Decisive(ind.id, "impossible", rule=rule.name)
            continue
        found: Decisive | None = None
        for stage, conditions in (("population", decl.populations[ind.population].when),
                                  ("denominator", ind.denominator)):
            failing = _first_not_true(course, conditions)
            if failing is not None:
                found = Decisive(ind.id, stage, failing[0], failing[1])
                break
        if found is None and course.known_value(ind.period_date) is None:
            found = Decisive(ind.id, "period", fact=ind.period_date)
        if found is None and ind.determinable_when:
            failing = _first_not_true(course, ind.determinable_when)
            if failing is not None:
                found = Decisive(ind.id, "determinable", failing[0], None)
        if found is None:
            failing = _first_not_true(course, ind.numerator)
            found = Decisive(ind.id, "numerator", failing[0], failing[1]) if failing else Decisive(ind.id, "met")
        out[ind.id] = found
    return out
