"""The per-course facts the indicators count: one row per course of a programme, from its declarations.

``facts_select`` is the SELECT over a snapshot's tables (courses and the form tables, each form
joined on its COMPLETE registration only, so a draft gives no facts): course_id,
municipality_code, every stored fact (declarations.py: those that need neither the reference
date nor a setting) and ``impossible`` (an impossible-data rule holds: counted nowhere).

A snapshot file holds the same rows as the table ``<programme>_indicator_facts``, written by
``write_facts_tables`` when the snapshot is made (``snapshot/writer.py``); its comment records the
declarations' fingerprint. ``facts_relation`` gives compute() that table when its fingerprint is
today's, else the SELECT over the raw tables (older snapshots, the live store, one course): the
same rows either way, which tests/test_indicators.py checks.
"""
from __future__ import annotations

from collections.abc import Sequence

import duckdb

from hjertekom_core.contract import ContractRegistry, Text
from hjertekom_core.indicators.conditions import Scope, all_sql, form_alias, lit, q
from hjertekom_core.indicators.declarations import Declarations, declarations_for
from hjertekom_core.snapshot.layout import Column

#: The programme whose courses K1-K6 describe.
PROGRAMME = "hjertekom"
#: The fingerprint's prefix in the facts table's comment.
_COMMENT = "hjertekom indicator facts "


def facts_table(programme: str) -> str:
    """The name of a programme's facts table in a snapshot."""
    return f"{programme}_indicator_facts"


def facts_select(decl: Declarations) -> str:
    """One row per course of the programme with its stored facts and ``impossible``."""
    raw = Scope(decl, "raw")
    columns = [f"{raw.fact(f.name)} AS {q(f.name)}" for f in decl.stored_facts]
    joins = "".join(
        f"\nLEFT JOIN {q(decl.programme + '_' + form)} {form_alias(form)} ON {form_alias(form)}.course_id = c.course_id"
        f" AND {form_alias(form)}.status = 'complete'" for form in decl.forms)
    inner = (f"SELECT c.course_id, c.municipality_code, {', '.join(columns)}\nFROM courses c{joins}\n"
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


def snapshot_facts_tables(con: duckdb.DuckDBPyConnection, contracts: ContractRegistry) -> list[
        tuple[str, tuple[Column, ...]]]:
    """For the snapshot writer: the facts table of every programme of ``contracts`` that declares
    indicators, written into ``con``; returns (table, columns) for the codebook."""
    from hjertekom_core.indicators.declarations import load_registry_declarations

    written = write_facts_tables(con, list(load_registry_declarations(contracts).values()))
    return [(table, tuple(Column(name, type_, label, source=f"indicators.yaml: {name}", kind="meta")
                          for name, type_, label in columns)) for table, columns in written]


def facts_relation(con: duckdb.DuckDBPyConnection, decl: Declarations) -> str:
    """What compute() reads the facts from: the snapshot's facts table if it was written from these
    declarations, else the same SELECT over the raw tables (parenthesised)."""
    row = con.execute("SELECT comment FROM duckdb_tables() WHERE table_name = ? AND schema_name = 'main' "
                      "AND NOT temporary", [facts_table(decl.programme)]).fetchone()
    if row is not None and row[0] == _COMMENT + decl.fingerprint():
        return q(facts_table(decl.programme))
    return f"({facts_select(decl)})"


#: The facts of every hjertekom course over a snapshot's raw tables (key figures, tests, research).
COURSE_FACTS_SQL = facts_select(declarations_for(PROGRAMME))
