"""Data completeness per field and municipality, from a snapshot (or the live tables).

For every required input field: of the registrations where the field is shown (its show-if holds),
how many have it answered, and how many of those answers are "uoplyst". Drafts are included:
completeness is about what was left open. Beside it, per municipality, the share of started
courses without an end registration. Both for any programme, from its contract.
"""
from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pandas as pd

from hjertekom_core.contract import Condition, Contract, ContractRegistry, Field, Ref

COMPLETENESS_COLUMNS = ["municipality_code", "form", "field", "label", "shown", "answered", "unknown",
                        "share_answered", "share_unknown"]


def _q(name: str) -> str:
    return '"' + name + '"'


def _lit(value: object) -> str:
    return str(value) if isinstance(value, (int, float)) else "'" + str(value).replace("'", "''") + "'"


def _column(contract: Contract, form: str, ref: Ref) -> tuple[str, Field]:
    target = ref.form or form
    return f"{_q(target)}.{_q(ref.field)}", contract.form(target).field(ref.field)


def condition_sql(contract: Contract, form: str, cond: Condition) -> str:
    """show-if as SQL over the form tables aliased by form name (as in ``branching.holds``)."""
    if cond.op in ("all", "any"):
        joiner = " AND " if cond.op == "all" else " OR "
        return "(" + joiner.join(condition_sql(contract, form, c) for c in cond.children) + ")"
    assert cond.ref is not None
    col, target = _column(contract, form, cond.ref)
    if cond.op == "answered":
        return f"({col} IS NOT NULL) = {str(bool(cond.value)).lower()}"
    if cond.op == "is_true":
        return f"coalesce({col} = {str(bool(cond.value)).lower()}, false)"
    values = cond.value if isinstance(cond.value, tuple) else (cond.value,)
    listed = "[" + ", ".join(_lit(v) for v in values) + "]"
    if target.type == "multi_choice":
        test = f"list_has_any({col}, {listed})"
        return f"coalesce({'NOT ' if cond.op == 'not_in' else ''}{test} AND len({col}) > 0, false)"
    test = f"{col} IN ({', '.join(_lit(v) for v in values)})"
    return f"coalesce({'NOT ' if cond.op == 'not_in' else ''}({test}), false)"


def _shown_sql(contract: Contract, form: str, f: Field) -> str:
    return condition_sql(contract, form, f.show_if) if f.show_if else "true"


def _queries(contract: Contract) -> Iterator[str]:
    joins_for = {}
    for form in contract.forms.values():
        others = [o for o in contract.forms if o != form.name]
        joins_for[form.name] = " ".join(
            f"LEFT JOIN {_q(contract.programme + '_' + o)} {_q(o)} ON {_q(o)}.course_id = {_q(form.name)}.course_id"
            for o in others)
    for form in contract.forms.values():
        table = f"{_q(contract.programme + '_' + form.name)} {_q(form.name)}"
        for f in form.input_fields():
            if not f.required:
                continue
            value = f"{_q(form.name)}.{_q(f.name)}"
            unknown = (f"{value} = 'UNK'" if f.type == "choice" else
                       f"coalesce({_q(form.name)}.{_q(f.name + '_unknown')}, false)" if f.accepts_unknown()
                       and f.type != "multi_choice" else "false")
            answered = f"({value} IS NOT NULL OR {unknown})"
            yield f"""
            SELECT c.municipality_code, {_lit(form.name)} AS form, {_lit(f.name)} AS field,
                   {_lit(f.label.da)} AS label,
                   count(*) FILTER (WHERE {_shown_sql(contract, form.name, f)}) AS shown,
                   count(*) FILTER (WHERE {_shown_sql(contract, form.name, f)} AND {answered}) AS answered,
                   count(*) FILTER (WHERE {_shown_sql(contract, form.name, f)} AND {unknown}) AS unknown
            FROM {table} JOIN courses c ON c.course_id = {_q(form.name)}.course_id {joins_for[form.name]}
            GROUP BY c.municipality_code"""


def field_completeness(con: duckdb.DuckDBPyConnection, contracts: ContractRegistry,
                       programme: str = "hjertekom") -> pd.DataFrame:
    contract = contracts[programme]
    sql = " UNION ALL ".join(_queries(contract))
    df = con.execute(f"SELECT * FROM ({sql}) ORDER BY municipality_code, form, field").df()
    shown = df["shown"].where(df["shown"] > 0)
    df["share_answered"] = df["answered"] / shown
    df["share_unknown"] = df["unknown"] / shown
    return df[COMPLETENESS_COLUMNS]


def open_courses(con: duckdb.DuckDBPyConnection, contract: Contract) -> pd.DataFrame:
    """Per municipality: the programme's started courses (complete start form) and how many have no
    complete end registration (a draft end counts as no end: the indicators do not count it either).
    Start and end are the contract's (``Contract.start_and_end``); none for a programme without."""
    stages = contract.start_and_end()
    if stages is None:
        return pd.DataFrame({"municipality_code": pd.Series(dtype="int32"), "started": pd.Series(dtype="int64"),
                             "without_end": pd.Series(dtype="int64"), "share_without_end": pd.Series(dtype="float64")})
    start, end = (_q(f"{contract.programme}_{form}") for form in stages)
    return con.execute(f"""
        SELECT c.municipality_code,
               count(*) AS started,
               count(*) FILTER (WHERE e.course_id IS NULL) AS without_end,
               count(*) FILTER (WHERE e.course_id IS NULL) / count(*) AS share_without_end
        FROM courses c
        JOIN {start} s ON s.course_id = c.course_id AND s.status = 'complete'
        LEFT JOIN {end} e ON e.course_id = c.course_id AND e.status = 'complete'
        WHERE c.programme = {_lit(contract.programme)}
        GROUP BY c.municipality_code ORDER BY c.municipality_code""").df()
