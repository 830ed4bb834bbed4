"""What the report's data-completeness section shows beside the indicators (from the declarations).

* ``impossible_courses``: the courses whose data cannot be true (an end before the start, a
  complete registration without its date ...), one row per course and rule, with the course id:
  they are counted in no indicator and must be corrected.
* ``indicator_notes``: per indicator, municipality and period, the courses of the denominator for
  which a declared note holds, e.g. K3's "the same test at both meetings, but another test than
  watt or the 6-minute walk" (such a course is in K3's denominator as unknown).
* ``exclusion_reasons``: per indicator, the facts whose being unknown leaves a course out of the
  denominator (what the ``excluded`` column of compute() counts), as text.
"""
from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from hjertekom_core.contract import Text
from hjertekom_core.indicators.conditions import Scope, all_sql, lit
from hjertekom_core.indicators.counting import PERIODS, declarations_of, reference_date
from hjertekom_core.indicators.declarations import Condition, Declarations
from hjertekom_core.indicators.facts import facts_relation
from hjertekom_core.indicators.settings import IndicatorSettings

IMPOSSIBLE_COLUMNS = ["course_id", "municipality_code", "rule", "label_da", "label_en"]
NOTE_COLUMNS = ["indicator", "note", "label_da", "label_en", "municipality_code", "period", "courses"]


def impossible_courses(con: duckdb.DuckDBPyConnection, settings: IndicatorSettings | None = None) -> pd.DataFrame:
    """Every course with impossible data, per rule it breaks (IMPOSSIBLE_COLUMNS), by course id."""
    decl = declarations_of(settings or IndicatorSettings())
    if not decl.impossible:
        return pd.DataFrame(columns=IMPOSSIBLE_COLUMNS)
    scope = Scope(decl, "query")
    parts = [f"SELECT course_id, municipality_code, {lit(rule.name)} AS rule, {lit(rule.label.da)} AS label_da, "
             f"{lit(rule.label.en)} AS label_en FROM {facts_relation(con, decl)} f "
             f"WHERE coalesce(({all_sql(scope, rule.when)}), false)" for rule in decl.impossible]
    return con.execute(" UNION ALL ".join(parts) + " ORDER BY course_id, rule").df()[IMPOSSIBLE_COLUMNS]


def indicator_notes(con: duckdb.DuckDBPyConnection, settings: IndicatorSettings, *, period: str = "year",
                    reference: dt.date | None = None) -> pd.DataFrame:
    """Per indicator note, municipality and period: how many courses of the indicator's denominator
    the note's conditions hold for (NOTE_COLUMNS; only where there is at least one)."""
    decl = declarations_of(settings)
    scope = Scope(decl, "query", reference or reference_date(con), settings.values())
    facts = facts_relation(con, decl)
    parts = []
    for ind in decl.indicators:
        population = all_sql(scope, decl.populations[ind.population].when) or "true"
        denominator = all_sql(scope, ind.denominator) or "true"
        key = PERIODS[period].format(d=f"date_trunc('{period}', {scope.known_value(ind.period_date)})")
        for note in ind.notes:
            parts.append(
                f"SELECT {lit(ind.id)} AS indicator, {lit(note.name)} AS note, {lit(note.label.da)} AS label_da, "
                f"{lit(note.label.en)} AS label_en, municipality_code, {key} AS period, count(*) AS courses "
                f"FROM {facts} f WHERE NOT f.impossible AND coalesce(({population}), false) "
                f"AND coalesce(({denominator}), false) AND coalesce(({all_sql(scope, note.when)}), false) "
                f"GROUP BY municipality_code, period")
    if not parts:
        return pd.DataFrame(columns=NOTE_COLUMNS)
    return con.execute(" UNION ALL ".join(parts) + " ORDER BY indicator, note, period, municipality_code").df()


def _unknown_facts(cond: Condition, decl: Declarations) -> list[str]:
    names = [cond.fact] if cond.fact and cond.op not in ("known", "is") else []
    for child in cond.children:
        names += _unknown_facts(child, decl)
    return names


def exclusion_reasons(settings: IndicatorSettings | None = None) -> dict[str, Text]:
    """Indicator id -> what leaves a course out of its denominator as ``excluded``: the labels of
    the facts its denominator conditions test (empty text where nothing can)."""
    decl = declarations_of(settings or IndicatorSettings())
    out = {}
    for ind in decl.indicators:
        facts = list(dict.fromkeys(f for c in ind.denominator for f in _unknown_facts(c, decl)))
        # Registered values only: a computed fact (days since the start) is unknown only where a
        # registered one is, and then the course is impossible data, not excluded.
        labels = [decl.facts[f].label for f in facts if f in decl.facts and decl.facts[f].kind in ("field", "result_of")]
        out[ind.id] = Text(", ".join(f"{t.da} uoplyst" for t in labels), ", ".join(f"{t.en} unknown" for t in labels))
    return out

