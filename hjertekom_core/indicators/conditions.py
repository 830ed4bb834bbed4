"""Declared facts and conditions as DuckDB SQL, with one meaning of "unknown".

A condition is SQL in three-valued logic: true, false, or NULL when a fact it needs is unknown.
A fact is unknown when it is blank (NULL) or, for a code, one of the missing-reason codes (UNK,
NA, DECL: ``Declarations.unknown_codes``); ``known_value`` is the one helper that says so, and
every test of a fact goes through it. The engine turns NULL into "excluded" (a denominator
condition) or "unknown" (a numerator condition); see docs/indicators.md.

Facts are compiled in two places: over the programme's form tables (``raw``: the facts table of a
snapshot, or the same SELECT when a snapshot has none) and over that facts relation at query time
(``query``: facts that need the reference date or a setting, computed from the stored ones).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from hjertekom_core.indicators.declarations import (
    REFERENCE_DATE,
    Condition,
    Declarations,
    Fact,
    FactRef,
    Setting,
    Share,
)


def q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: Any) -> str:
    """A SQL literal of a declared value: numbers as they are, everything else as quoted text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def form_alias(form: str) -> str:
    return q(f"f_{form}")


@dataclass(frozen=True)
class Scope:
    """Where facts are compiled: over the form tables (``raw``) or over the facts relation ``f``
    (``query``, with the reference date and the settings)."""

    decl: Declarations
    mode: str                                   # "raw" or "query"
    reference_date: dt.date | None = None
    settings: Mapping[str, Any] | None = None

    def setting(self, name: str) -> str:
        if self.settings is None or name not in self.settings:
            raise ValueError(f"setting {name!r} is needed here")
        return lit(self.settings[name])

    def fact(self, name: str) -> str:
        """The SQL value of a fact (unknown codes still in it; see ``known_value``)."""
        if name == REFERENCE_DATE:
            if self.mode != "query" or self.reference_date is None:
                raise ValueError("the reference date is known at query time only")
            return f"DATE '{self.reference_date.isoformat()}'"
        fact = self.decl.facts[name]
        if self.mode == "query" and self.decl.is_stored(name):
            return f"f.{q(name)}"
        return FACT_KINDS[fact.kind](self, fact)

    def known_value(self, name: str) -> str:
        """The fact's value with "unknown" as NULL: the one place that decides what unknown means."""
        sql = self.fact(name)
        fact = self.decl.facts.get(name)
        if fact is not None and fact.type == "code":
            codes = ", ".join(lit(c) for c in self.decl.unknown_codes)
            return f"(CASE WHEN {sql} IN ({codes}) THEN NULL ELSE {sql} END)"
        return sql


# --- facts -------------------------------------------------------------------------------------------

def _named(value: str | None, what: str) -> str:
    """A name the loader guarantees; a clear error (not an assert) if a hand-made object lacks it."""
    if value is None:
        raise ValueError(f"{what} is missing")
    return value


def _field(scope: Scope, fact: Fact) -> str:
    return f"{form_alias(_named(fact.form, 'form'))}.{q(_named(fact.field, 'field'))}"


def _result_of(scope: Scope, fact: Fact) -> str:
    alias = form_alias(_named(fact.form, "form"))
    cases = " ".join(f"WHEN {lit(code)} THEN {alias}.{q(column)}" for code, column in fact.results.items())
    return f"(CASE {alias}.{q(_named(fact.field, 'field'))} {cases} END)"


def _complete(scope: Scope, fact: Fact) -> str:
    # The form tables are joined on their complete registrations only (facts.py): a match is one.
    # Its status (never NULL in a match) rather than its key: course_id or, pseudonymised, course_key.
    return f"({form_alias(_named(fact.form, 'form'))}.status IS NOT NULL)"


def _days_between(scope: Scope, fact: Fact) -> str:
    first, second = fact.args
    return f"date_diff('day', {scope.known_value(first)}, {scope.known_value(second)})"


def _difference(scope: Scope, fact: Fact) -> str:
    first, second = fact.args
    return f"({scope.known_value(first)} - {scope.known_value(second)})"


def _date_plus_days(scope: Scope, fact: Fact) -> str:
    date, days = fact.args
    n = scope.setting(days.name) if isinstance(days, Setting) else lit(int(days))
    return f"({scope.known_value(date)} + CAST({n} AS INTEGER))"


def _first_known(scope: Scope, fact: Fact) -> str:
    return f"coalesce({', '.join(scope.known_value(a) for a in fact.args)})"


#: fact kind -> its SQL (a registry, so that a new kind is one function and one schema branch).
FACT_KINDS: dict[str, Callable[[Scope, Fact], str]] = {
    "field": _field, "result_of": _result_of, "complete": _complete, "days_between": _days_between,
    "difference": _difference, "date_plus_days": _date_plus_days, "first_known": _first_known,
}


# --- conditions -----------------------------------------------------------------------------------------

def _operand(scope: Scope, value: Any) -> tuple[str, int]:
    """SQL of a compared value, and the factor the fact's side must be multiplied by (a share
    p/q of another fact compares q x fact with p x other, exactly in integers)."""
    if isinstance(value, Setting):
        return scope.setting(value.name), 1
    if isinstance(value, FactRef):
        return scope.known_value(value.name), 1
    if isinstance(value, Share):
        share = Fraction(value.share)
        return f"{share.numerator} * {scope.known_value(value.of)}", share.denominator
    return lit(value), 1


def _comparison(symbol: str) -> Callable[[Scope, Condition], str]:
    def compile_(scope: Scope, cond: Condition) -> str:
        other, factor = _operand(scope, cond.value)
        mine = scope.known_value(_named(cond.fact, "fact"))
        return f"({factor} * {mine} {symbol} {other})" if factor != 1 else f"({mine} {symbol} {other})"
    return compile_


def _in(negate: bool) -> Callable[[Scope, Condition], str]:
    def compile_(scope: Scope, cond: Condition) -> str:
        codes = ", ".join(lit(c) for c in cond.value)
        return f"({scope.known_value(_named(cond.fact, 'fact'))} {'NOT IN' if negate else 'IN'} ({codes}))"
    return compile_


def _known(scope: Scope, cond: Condition) -> str:
    # Two-valued: whether the fact is known is itself always known.
    return f"({scope.known_value(_named(cond.fact, 'fact'))} IS {'NOT ' if cond.value else ''}NULL)"


def _is(scope: Scope, cond: Condition) -> str:
    return f"coalesce({scope.fact(_named(cond.fact, 'fact'))} = {lit(bool(cond.value))}, false)"


def _combine(joiner: str) -> Callable[[Scope, Condition], str]:
    def compile_(scope: Scope, cond: Condition) -> str:
        return "(" + f" {joiner} ".join(condition_sql(scope, c) for c in cond.children) + ")"
    return compile_


#: operator -> its SQL (three-valued: NULL where a fact it needs is unknown).
OPERATORS: dict[str, Callable[[Scope, Condition], str]] = {
    "equals": _comparison("="), "lt": _comparison("<"), "le": _comparison("<="), "gt": _comparison(">"),
    "ge": _comparison(">="), "in": _in(False), "not_in": _in(True), "known": _known, "is": _is,
    "all": _combine("AND"), "any": _combine("OR"),
}


def condition_sql(scope: Scope, cond: Condition) -> str:
    return OPERATORS[cond.op](scope, cond)


def all_sql(scope: Scope, conditions: tuple[Condition, ...]) -> str | None:
    """The conditions joined with AND (three-valued), or None when there are none."""
    if not conditions:
        return None
    return " AND ".join(condition_sql(scope, c) for c in conditions)
