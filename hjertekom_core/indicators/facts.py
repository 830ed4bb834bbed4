"""The per-course facts the indicators count: one row per course of a programme, from its declarations.

``facts_select`` is the SELECT over a snapshot's tables (courses and the form tables, each form
joined on its COMPLETE registration only, so a draft gives no facts): course_id,
municipality_code, every stored fact (declarations.py: those that need neither the reference
date nor a setting) and ``impossible`` (an impossible-data rule holds: counted nowhere).

An identified snapshot file holds the same rows as the table ``<programme>_indicator_facts``,
written by ``write_facts_tables`` when the snapshot is made (``snapshot/writer.py``); its comment
records the declarations' fingerprint. ``facts_relation`` gives compute() that table when its
fingerprint is today's, else the SELECT over the raw tables (older snapshots, the live store, one
course): the same rows either way, which tests/test_indicators.py checks.

A pseudonymised snapshot's dates are exact, set to their month or shifted per citizen
(``snapshot/dates.py``), so its indicators cannot be worked out from its own dates. Its facts table
(``write_flags_tables``) is therefore written from the exact dates before they are changed, with the
snapshot's date and the configured settings: per course (``course_key``) the facts that hold no
date, ``impossible``, the date that places the course in a period (in the snapshot's date mode like
every date) and whether it is in each indicator's denominator, numerator, unknown or excluded.
compute() counts those flags (``precomputed_flags``) when they were worked out for the settings and
reference date it is asked for; a pseudonymised snapshot with changed dates refuses any other.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import duckdb

from hjertekom_core.contract import ContractRegistry, Text
from hjertekom_core.errors import HjerteKomError
from hjertekom_core.indicators.conditions import Scope, all_sql, form_alias, lit, q
from hjertekom_core.indicators.declarations import (
    REFERENCE_DATE,
    Declarations,
    IndicatorDeclaration,
    _plain,
    declarations_for,
)
from hjertekom_core.snapshot.layout import COURSE_KEY, Column

#: The programme whose courses K1-K6 describe.
PROGRAMME = "hjertekom"
#: The fingerprint's prefix in the facts table's comment.
_COMMENT = "hjertekom indicator facts "


def facts_table(programme: str) -> str:
    """The name of a programme's facts table in a snapshot."""
    return f"{programme}_indicator_facts"


def course_key_column(con: duckdb.DuckDBPyConnection) -> str:
    """What the courses of ``con`` are keyed by: ``course_key`` in a pseudonymised snapshot (the
    operational ``course_id`` is not in it), else ``course_id``."""
    found = con.execute("SELECT count(*) FROM duckdb_columns() WHERE table_name = 'courses' "
                        "AND column_name = ? AND schema_name = 'main'", [COURSE_KEY.name]).fetchone()
    return COURSE_KEY.name if found and found[0] else "course_id"


def facts_select(decl: Declarations, key: str = "course_id") -> str:
    """One row per course of the programme with its stored facts and ``impossible``; ``key`` is
    the courses' id column (``course_key_column``)."""
    raw = Scope(decl, "raw")
    columns = [f"{raw.fact(f.name)} AS {q(f.name)}" for f in decl.stored_facts]
    joins = "".join(
        f"\nLEFT JOIN {q(decl.programme + '_' + form)} {form_alias(form)} "
        f"ON {form_alias(form)}.{q(key)} = c.{q(key)} AND {form_alias(form)}.status = 'complete'"
        for form in decl.forms)
    inner = (f"SELECT c.{q(key)}, c.municipality_code, {', '.join(columns)}\nFROM courses c{joins}\n"
             f"WHERE c.programme = {lit(decl.programme)}")
    stored = Scope(decl, "query")  # the rules read the stored facts by name (f.<fact>)
    rules = [f"coalesce(({all_sql(stored, rule.when)}), false)" for rule in decl.impossible]
    impossible = " OR ".join(rules) if rules else "false"
    return f"SELECT f.*, ({impossible}) AS impossible FROM ({inner}) f"


def write_facts_tables(con: duckdb.DuckDBPyConnection, declarations: Sequence[Declarations]) -> list[
        tuple[str, list[tuple[str, str, Text]]]]:
    """Write each programme's facts table into a snapshot being built; returns, per table, its
    columns as (name, DuckDB type, label) for the codebook."""
    out = []
    for decl in declarations:
        name = facts_table(decl.programme)
        con.execute(f"CREATE TABLE {q(name)} AS {facts_select(decl)} ORDER BY course_id")
        con.execute(f"COMMENT ON TABLE {q(name)} IS {lit(_COMMENT + decl.fingerprint())}")
        types = {r[0]: r[1] for r in con.execute(f"DESCRIBE {q(name)}").fetchall()}
        labels = {"course_id": Text("Forløbs-id", "Course id"),
                  "municipality_code": Text("Kommunekode", "Municipality code"),
                  "impossible": Text("Umulige data: tælles ikke med", "Impossible data: counted nowhere")}
        labels.update({f.name: f.label for f in decl.stored_facts})
        out.append((name, [(column, types[column], labels[column]) for column in types]))
    return out


# --- pseudonymised snapshots: each course's indicator flags, from the exact dates ----------------------

#: The four flags of each indicator (counting.py): its column suffix and label.
FLAGS: tuple[tuple[str, str, Text], ...] = (
    ("d", "denominator", Text("i nævneren", "in the denominator")),
    ("n", "numerator", Text("i tælleren", "in the numerator")),
    ("u", "unknown", Text("i nævneren, men tælleren kan ikke afgøres (tæller som ikke opfyldt)",
                          "in the denominator, but the numerator cannot be determined (counts as not met)")),
    ("x", "excluded", Text("udeladt af nævneren: en betingelse kan ikke afgøres",
                           "left out of the denominator: a condition cannot be decided")),
)
_FLAGS_COMMENT = "hjertekom indicator flags "


class IndicatorsFixedInSnapshot(HjerteKomError):
    """A pseudonymised snapshot's dates were changed (month, shifted), so its indicators can only
    be counted with the settings and reference date they were worked out with."""


def flag_column(indicator: str, word: str) -> str:
    """The facts table's column of one flag: ``K1_denominator``, ``K1_numerator`` ..."""
    return f"{indicator}_{word}"


def date_bound(decl: Declarations, name: str) -> bool:
    """True for a date fact and any fact computed from one (days between two dates): left out of a
    pseudonymised facts table, whose dates must be no more exact than the snapshot's."""
    if name == REFERENCE_DATE:
        return True
    fact = decl.facts[name]
    return fact.type == "date" or any(date_bound(decl, dep) for dep in fact.depends_on())


def _without_texts(value: Any) -> Any:
    """A declaration without its texts (a reworded label changes no flag)."""
    if isinstance(value, dict):
        return {k: _without_texts(v) for k, v in value.items()
                if not (isinstance(v, dict) and set(v) == {"da", "en"})}
    if isinstance(value, list):
        return [_without_texts(v) for v in value]
    return value


def flags_comment(decl: Declarations, values: Mapping[str, Any], reference: dt.date) -> str:
    """The facts table's comment: what its flags were worked out from (the declarations but their
    texts and file name, the settings, the reference date)."""
    doc = {k: v for k, v in _plain(decl).items() if k != "source"}
    fingerprint = hashlib.sha256(json.dumps(_without_texts(doc), sort_keys=True, default=str).encode()).hexdigest()
    return _FLAGS_COMMENT + json.dumps({"declarations": fingerprint[:16], "settings": dict(sorted(values.items())),
                                        "reference_date": reference.isoformat()}, sort_keys=True)


def _period_facts(decl: Declarations) -> list[str]:
    return list(dict.fromkeys(ind.period_date for ind in decl.indicators))


def write_flags_tables(con: duckdb.DuckDBPyConnection, declarations: Sequence[Declarations],
                       values: Mapping[str, Any], reference: dt.date) -> list[tuple[str, tuple[Column, ...]]]:
    """Write each programme's pseudonymised facts table into ``con`` as a TEMP table (for
    ``snapshot.dates.publish``), from the staged tables with their exact dates; (table, columns)
    for the codebook."""
    from hjertekom_core.indicators.counting import flags_sql

    out = []
    for decl in declarations:
        name = facts_table(decl.programme)
        scope = Scope(decl, "query", reference, dict(values))
        inner, outer = flags_sql(decl, decl.indicators, scope)
        kept = [f.name for f in decl.stored_facts if not date_bound(decl, f.name)]
        periods = _period_facts(decl)
        period_sql = ", ".join(f"{scope.known_value(p)} AS {q('_period_' + p)}" for p in periods)
        flags = [(flag_column(ind.id, word), f"{k}_{ind.id}") for ind in decl.indicators for k, word, _ in FLAGS]
        key = q(COURSE_KEY.name)
        con.execute(f"""CREATE TEMP TABLE {q(name)} AS
            SELECT {key}, municipality_code, {', '.join(q(f) for f in kept)}, impossible,
                   {', '.join(f"{q('_period_' + p)} AS {q(p)}" for p in periods)},
                   {', '.join(f"{q(inner_name)} AS {q(column)}" for column, inner_name in flags)}
            FROM (SELECT f.*, {outer} FROM (SELECT f.*, {period_sql}, {inner}
                                            FROM ({facts_select(decl, COURSE_KEY.name)}) f) f)
            ORDER BY {key}""")
        con.execute(f"COMMENT ON TABLE {q(name)} IS {lit(flags_comment(decl, values, reference))}")
        types = dict(con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = 'temp' "
                                 "AND table_name = ? ORDER BY column_index", [name]).fetchall())
        labels = {COURSE_KEY.name: COURSE_KEY.label,
                  "municipality_code": Text("Kommunekode", "Municipality code"),
                  "impossible": Text("Umulige data: tælles ikke med", "Impossible data: counted nowhere")}
        labels.update({f.name: f.label for f in decl.facts.values()})
        labels.update({flag_column(ind.id, word): Text(f"{ind.id} {ind.name.da}: {text.da}",
                                                       f"{ind.id} {ind.name.en}: {text.en}")
                       for ind in decl.indicators for _, word, text in FLAGS})
        source = {p: f"indicators.yaml: {p} (perioden / the period)" for p in periods}
        out.append((name, tuple(Column(column, type_, labels[column],
                                       source=source.get(column, f"indicators.yaml: {column}"), kind="meta")
                                for column, type_ in types.items())))
    return out


def snapshot_facts_tables(con: duckdb.DuckDBPyConnection, contracts: ContractRegistry, *,
                          flags: tuple[Mapping[str, Any], dt.date] | None = None) -> list[
        tuple[str, tuple[Column, ...]]]:
    """For the snapshot writer: the facts table of every programme of ``contracts`` that declares
    indicators, written into ``con``; returns (table, columns) for the codebook. ``flags``
    (settings values, reference date): a pseudonymised snapshot's table (``write_flags_tables``)."""
    from hjertekom_core.indicators.declarations import load_registry_declarations

    declarations = list(load_registry_declarations(contracts).values())
    if flags is not None:
        return write_flags_tables(con, declarations, *flags)
    written = write_facts_tables(con, declarations)
    return [(table, tuple(Column(name, type_, label, source=f"indicators.yaml: {name}", kind="meta")
                          for name, type_, label in columns)) for table, columns in written]


def _comment(con: duckdb.DuckDBPyConnection, table: str) -> str | None:
    row = con.execute("SELECT comment FROM duckdb_tables() WHERE table_name = ? AND schema_name = 'main' "
                      "AND NOT temporary", [table]).fetchone()
    return None if row is None else row[0]


def _changed_dates(con: duckdb.DuckDBPyConnection) -> str | None:
    """The date mode of a snapshot whose dates are not exact (month, shifted), else None."""
    from hjertekom_core.snapshot.writer import info_dates

    mode = info_dates(con)
    return None if mode == "exact" else mode


def precomputed_flags(con: duckdb.DuckDBPyConnection, decl: Declarations, scope: Scope) -> str | None:
    """The pseudonymised facts table, when its flags were worked out for these declarations, the
    scope's settings and its reference date; else None (compute() works from the facts), or
    IndicatorsFixedInSnapshot when the snapshot's dates were changed and cannot be worked from."""
    table = facts_table(decl.programme)
    comment = _comment(con, table)
    if scope.reference_date is None:
        raise ValueError("the reference date is needed to count indicators")
    if comment is not None and comment == flags_comment(decl, scope.settings or {}, scope.reference_date):
        return q(table)
    mode = _changed_dates(con)
    if mode is None:
        return None
    made = json.loads(comment[len(_FLAGS_COMMENT):]) if comment and comment.startswith(_FLAGS_COMMENT) else None
    asked = f"{dict(scope.settings or {})}, {scope.reference_date.isoformat()}"
    had = f"{made['settings']}, {made['reference_date']}" if made else "-"
    raise IndicatorsFixedInSnapshot(
        f"Snapshottets datoer er ændret ({mode}), så indikatorerne kan kun tælles, som de blev beregnet, da det "
        f"blev lavet (indstillinger og referencedato: {had}); her bedes om {asked}. Lav et nyt pseudonymiseret "
        f"snapshot med de ønskede indstillinger, eller brug --dates exact / the snapshot's dates were changed "
        f"({mode}), so its indicators can only be counted as they were worked out when it was made (settings "
        f"and reference date: {had}); asked for: {asked}. Make a new pseudonymised snapshot with the settings "
        "wanted, or use --dates exact")


def flags_per_course_sql(indicators: Sequence[IndicatorDeclaration], relation: str, period_fact: str,
                         trunc: str) -> str:
    """counting.per_course_sql over a pseudonymised facts table: municipality_code, the period key
    ``k`` and the flags n_, d_, u_, x_ of ``indicators``, as worked out when the snapshot was made."""
    flags = ", ".join(f"f.{q(flag_column(ind.id, word))} AS {q(f'{k}_{ind.id}')}"
                      for ind in indicators for k, word, _ in FLAGS)
    return f"SELECT municipality_code, date_trunc({lit(trunc)}, f.{q(period_fact)}) AS k, {flags} FROM {relation} f"


def facts_relation(con: duckdb.DuckDBPyConnection, decl: Declarations) -> str:
    """What compute() reads the facts from: the snapshot's facts table if it was written from these
    declarations, else the same SELECT over the raw tables (parenthesised)."""
    if _comment(con, facts_table(decl.programme)) == _COMMENT + decl.fingerprint():
        return q(facts_table(decl.programme))
    return f"({facts_select(decl, course_key_column(con))})"


#: The facts of every hjertekom course over a snapshot's raw tables (key figures, tests, research).
COURSE_FACTS_SQL = facts_select(declarations_for(PROGRAMME))
