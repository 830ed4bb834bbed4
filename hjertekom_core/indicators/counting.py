"""Computing declared indicators in DuckDB: by municipality, cluster, region and nation, per period.

Generic: nothing here knows K1-K6. For each indicator the declarations give a population, the
denominator, the numerator (and when it can be determined at all) as conditions over the
per-course facts (``facts.py``), and the fact that places a course in a period. Per course and
indicator four flags are counted:

* ``denominator``: in the population, every denominator condition true;
* ``excluded``: in the population, but a denominator condition could not be decided because a
  fact it needs is unknown (the course is left out of the denominator, and said so);
* ``numerator``: in the denominator and every numerator condition true;
* ``unknown``: in the denominator, but the numerator cannot be determined (counts as not met).

One SQL pass per period-date fact (hjertekom declares one for all six indicators): the flags per
course, summed per municipality and period, then every participating municipality (one with at
least one course of the programme in the data) crossed with every period that has data, so that
a municipality with nothing to count shows 0/0 ("ingen data") instead of no row, rolled up to
clusters, regions and the nation under GROUPING SETS, and unpivoted to one row per indicator.
Confidence intervals and standard status are added in NumPy. The statement only reads, so it runs
on a read-only connection to a snapshot that other processes have open too.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import pandas as pd

from hjertekom_core.indicators.conditions import Scope, all_sql, lit, q
from hjertekom_core.indicators.declarations import Declarations, IndicatorDeclaration, declarations_for
from hjertekom_core.indicators.facts import PROGRAMME, facts_relation, flags_per_course_sql, precomputed_flags
from hjertekom_core.indicators.settings import IndicatorSettings
from hjertekom_core.indicators.stats import CI_METHODS

LEVELS = ("municipality", "cluster", "region", "national")
PERIODS = {
    "year": "strftime({d}, '%Y')",
    "quarter": "strftime({d}, '%Y') || '-Q' || quarter({d})",
    "month": "strftime({d}, '%Y-%m')",
}
RESULT_COLUMNS = ["indicator", "level", "unit", "unit_name", "period", "numerator", "denominator", "unknown",
                  "excluded", "proportion", "ci_low", "ci_high", "standard", "status"]
COUNT_COLUMNS = ("numerator", "denominator", "unknown", "excluded")
NATIONAL_NAME = "Hele landet"
#: Dates are Danish dates: a snapshot made at 00:30 Danish time on 1 March belongs to 1 March.
DANISH_TIME = ZoneInfo("Europe/Copenhagen")
_FLAGS = ("n", "d", "u", "x")  # numerator, denominator, unknown, excluded
_TRUNC = {"year": "year", "quarter": "quarter", "month": "month"}
#: grouping(municipality_code, cluster, region_code) -> level
_GROUPING_LEVEL = {0b011: "municipality", 0b101: "cluster", 0b110: "region", 0b111: "national"}


def declarations_of(settings: IndicatorSettings) -> Declarations:
    return settings.declarations or declarations_for(PROGRAMME)


def reference_date(con: duckdb.DuckDBPyConnection) -> dt.date:
    """The date the data describe: a snapshot's creation date in Danish time (so the same snapshot
    always gives the same figures); without a snapshot record (the live store), today in Denmark."""
    has_info = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'snapshot_info' "
                           "AND schema_name = 'main'").fetchone()
    if has_info and has_info[0]:
        row = con.execute("SELECT min(created_at) FROM snapshot_info").fetchone()
        created = row[0] if row else None
        if isinstance(created, dt.datetime):
            aware = created if created.tzinfo else created.replace(tzinfo=dt.timezone.utc)
            return aware.astimezone(DANISH_TIME).date()
    return dt.datetime.now(DANISH_TIME).date()


def flags_sql(decl: Declarations, indicators: Sequence[IndicatorDeclaration], scope: Scope) -> tuple[str, str]:
    """Per course (over the facts relation ``f``): the inner columns (population, denominator and
    numerator in three-valued logic) and the outer 0/1 flags n_, d_, u_, x_ of every indicator."""
    inner: dict[str, str] = {}
    outer: list[str] = []
    for pop in dict.fromkeys(ind.population for ind in indicators):
        when = all_sql(scope, decl.populations[pop].when) or "true"
        inner[f"p_{pop}"] = f"coalesce(({when}), false) AND NOT f.impossible"
    for ind in indicators:
        i, p = ind.id, q(f"p_{ind.population}")
        den = all_sql(scope, ind.denominator)
        num = all_sql(scope, ind.numerator) or "true"
        det = all_sql(scope, ind.determinable_when)
        if den is not None:
            inner[f"dn_{i}"] = den
        inner[f"nm_{i}"] = f"CASE WHEN coalesce(({det}), false) THEN ({num}) END" if det else num
        d = f"({p} AND coalesce({q('dn_' + i)}, false))" if den is not None else p
        outer += [f"{d} AS {q('d_' + i)}",
                  f"({p} AND {q('dn_' + i)} IS NULL) AS {q('x_' + i)}" if den is not None else f"false AS {q('x_' + i)}",
                  f"({d} AND coalesce({q('nm_' + i)}, false)) AS {q('n_' + i)}",
                  f"({d} AND {q('nm_' + i)} IS NULL) AS {q('u_' + i)}"]
    return ", ".join(f"{sql} AS {q(name)}" for name, sql in inner.items()), ", ".join(outer)


def per_course_sql(decl: Declarations, indicators: Sequence[IndicatorDeclaration], facts: str, scope: Scope,
                   key: str) -> str:
    """One row per course: municipality_code, ``key`` (the period key's expression, over ``f``)
    and the flags of ``indicators``."""
    inner, outer = flags_sql(decl, indicators, scope)
    return (f"SELECT municipality_code, k, {outer} FROM (SELECT f.municipality_code, {key} AS k, {inner} "
            f"FROM {facts} f)")


def _clusters_sql(settings: IndicatorSettings) -> tuple[str, list[object]]:
    """The clusters as an inline relation (code, cluster) and its parameters: no table is created,
    so compute() runs on a read-only connection and costs no DDL."""
    rows = [(code, name) for name, codes in settings.clusters.items() for code in codes]
    if not rows:
        return "(SELECT NULL::INTEGER AS code, NULL::VARCHAR AS cluster WHERE false)", []
    values = ", ".join(["(?::INTEGER, ?::VARCHAR)"] * len(rows))
    return f"(SELECT * FROM (VALUES {values}) AS v(code, cluster))", [v for row in rows for v in row]


def _statement(decl: Declarations, chosen: Sequence[IndicatorDeclaration], facts: str, scope: Scope, period: str,
               levels: Sequence[str], clusters: str, flagged: bool = False) -> str:
    passes: dict[str, list[IndicatorDeclaration]] = {}  # one pass per period-date fact
    for ind in chosen:
        passes.setdefault(ind.period_date, []).append(ind)
    ctes = [f"clusters AS {clusters}"]
    for n, (date_fact, group) in enumerate(passes.items()):
        names = [f"{k}_{ind.id}" for ind in group for k in _FLAGS]
        if flagged:  # a pseudonymised snapshot: the flags worked out on the exact dates (facts.py)
            per_course = flags_per_course_sql(group, facts, date_fact, _TRUNC[period])
        else:
            key = f"date_trunc('{_TRUNC[period]}', {scope.known_value(date_fact)})"
            per_course = per_course_sql(decl, group, facts, scope, key)
        ctes.append(f"m{n} AS (SELECT municipality_code, k, "
                    f"{', '.join(f'count_if({q(c)}) AS {q(c)}' for c in names)} "
                    f"FROM ({per_course}) GROUP BY municipality_code, k)")
    counted = [(n, group) for n, group in enumerate(passes.values())]
    # Periods with anything to count; every municipality with a course of the programme.
    ctes.append("periods AS (" + " UNION ".join(
        f"SELECT DISTINCT k FROM m{n} WHERE k IS NOT NULL AND "
        f"({' + '.join(f'{q(c)}' for ind in group for c in (f'd_{ind.id}', f'x_{ind.id}'))}) > 0"
        for n, group in counted) + ")")
    ctes.append("units AS (" + " UNION ".join(f"SELECT DISTINCT municipality_code FROM m{n}" for n, _ in counted) + ")")
    ctes.append("grid AS (SELECT u.municipality_code, p.k FROM units u CROSS JOIN periods p)")
    level_of = " ".join(f"WHEN {g} THEN '{level}'" for g, level in _GROUPING_LEVEL.items())
    selects = []
    for n, group in counted:
        names = [f"{k}_{ind.id}" for ind in group for k in _FLAGS]
        ctes.append(f"""g{n} AS (
        SELECT CASE grouping(grid.municipality_code, cl.cluster, mu.region_code) {level_of} END AS level,
               grid.municipality_code, cl.cluster, mu.region_code, any_value(mu.name) AS municipality,
               any_value(mu.region) AS region, {PERIODS[period].format(d='grid.k')} AS period,
               {', '.join(f'coalesce(sum(m.{q(c)}), 0)::BIGINT AS {q(c)}' for c in names)}
        FROM grid JOIN municipalities mu ON mu.code = grid.municipality_code
        LEFT JOIN clusters cl ON cl.code = grid.municipality_code
        LEFT JOIN m{n} m ON m.municipality_code = grid.municipality_code AND m.k = grid.k
        GROUP BY GROUPING SETS ((grid.municipality_code, period), (cl.cluster, period),
                               (mu.region_code, period), (period)))""")
        unpivot = ", ".join(f"({', '.join(q(f'{k}_{ind.id}') for k in _FLAGS)}) AS {q(ind.id)}" for ind in group)
        ctes.append(f"u{n} AS (UNPIVOT g{n} ON {unpivot} INTO NAME indicator "
                    f"VALUE numerator, denominator, unknown, excluded)")
        selects.append(f"""SELECT indicator, level,
           CASE level WHEN 'municipality' THEN municipality_code::VARCHAR WHEN 'cluster' THEN cluster
                      WHEN 'region' THEN region_code::VARCHAR ELSE 'DK' END AS unit,
           CASE level WHEN 'municipality' THEN municipality WHEN 'cluster' THEN cluster
                      WHEN 'region' THEN region ELSE {lit(NATIONAL_NAME)} END AS unit_name,
           period, numerator, denominator, unknown, excluded
        FROM u{n}
        -- Municipalities outside every cluster form a NULL cluster group: not a unit.
        WHERE level IN ({', '.join(lit(lvl) for lvl in levels)}) AND NOT (level = 'cluster' AND cluster IS NULL)""")
    order = " ".join(f"WHEN '{lvl}' THEN {i}" for i, lvl in enumerate(LEVELS))
    return (f"WITH {', '.join(ctes)}\nSELECT * FROM ({' UNION ALL '.join(selects)}) "
            f"ORDER BY indicator, period, CASE level {order} END, unit")


def compute(con: duckdb.DuckDBPyConnection, settings: IndicatorSettings, *, period: str = "year",
            levels: Iterable[str] = LEVELS, indicators: Iterable[str] | None = None,
            reference: dt.date | None = None) -> pd.DataFrame:
    """Every indicator for every unit and period: one row each, in RESULT_COLUMNS.

    ``con`` holds snapshot tables (a snapshot file, or the live store laid out by ``live.py``); it
    is only read. ``reference``: the date the data describe (default: the snapshot's creation date
    in Danish time; the live store: today). Small numbers are NOT suppressed here.
    """
    if period not in PERIODS:
        raise ValueError(f"period must be one of {sorted(PERIODS)}")
    decl = declarations_of(settings)
    wanted = [lvl for lvl in LEVELS if lvl in set(levels)]
    chosen = [i for i in decl.indicators if indicators is None or i.id in set(indicators)]
    if not chosen or not wanted:
        return with_statistics(_empty(), settings, decl)
    scope = Scope(decl, "query", reference or reference_date(con), settings.values())
    clusters, params = _clusters_sql(settings)
    flags = precomputed_flags(con, decl, scope)
    sql = _statement(decl, chosen, flags or facts_relation(con, decl), scope, period, wanted, clusters,
                     flagged=flags is not None)
    return with_statistics(con.execute(sql, params).df(), settings, decl)


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="int64" if c in COUNT_COLUMNS else object) for c in RESULT_COLUMNS[:9]})


def with_statistics(result: pd.DataFrame, settings: IndicatorSettings, decl: Declarations) -> pd.DataFrame:
    """Proportion, confidence interval, standard and status beside the counts (all vectorised)."""
    n = result["denominator"].to_numpy(dtype=float)
    x = result["numerator"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(n > 0, x / n, np.nan)
    low, high = CI_METHODS[settings.ci_method](x, n, settings.level)
    standards = {ind.id: settings.standards.get(ind.standard, np.nan) for ind in decl.indicators}
    std = result["indicator"].map(standards).to_numpy(dtype=float)
    status = np.select([n == 0, np.isnan(std), p >= std, high < std],
                       ["no_data", "no_standard", "met", "below"], "not_met")
    # Round away float noise (5.6e-17 for a zero lower limit) that would print as a number.
    return result.assign(proportion=p, ci_low=np.round(low, 10), ci_high=np.round(high, 10), standard=std,
                         status=status)[RESULT_COLUMNS]
