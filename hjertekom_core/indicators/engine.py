"""Computing K1-K6 in DuckDB: by municipality, cluster, region and nation, per year/quarter/month.

One SQL pass per period date: per-course 0/1 flags for every indicator, summed under GROUPING
SETS for all unit levels at once; the small result is then unpivoted and given its confidence
intervals and standard status in NumPy.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import yaml

from hjertekom_core.errors import ConfigError
from hjertekom_core.indicators.definitions import INDICATORS, Indicator
from hjertekom_core.indicators.facts import POPULATIONS, facts_sql
from hjertekom_core.indicators.stats import CI_METHODS

LEVELS = ("municipality", "cluster", "region", "national")
PERIODS = {
    "year": "strftime({d}, '%Y')",
    "quarter": "strftime({d}, '%Y') || '-Q' || quarter({d})",
    "month": "strftime({d}, '%Y-%m')",
}
RESULT_COLUMNS = ["indicator", "level", "unit", "unit_name", "period", "numerator", "denominator", "unknown",
                  "proportion", "ci_low", "ci_high", "standard", "status"]
NATIONAL_NAME = "Hele landet"
_EMPTY_TYPES = {"numerator": "int64", "denominator": "int64", "unknown": "int64"}


@dataclass(frozen=True)
class IndicatorSettings:
    """What the indicators need from configuration (all of it unconfirmed nationally)."""

    standards: Mapping[str, float] = field(default_factory=dict)
    completion_limit_days: int = 180
    clusters: Mapping[str, Sequence[int]] = field(default_factory=dict)
    ci_method: str = "wilson"
    level: float = 0.95

    def __post_init__(self) -> None:
        if self.ci_method not in CI_METHODS:
            raise ConfigError(f"unknown CI method {self.ci_method!r}; choose {sorted(CI_METHODS)}")
        seen: dict[int, str] = {}
        for name, codes in self.clusters.items():
            for code in codes:
                if code in seen:
                    raise ConfigError(f"municipality {code} is in two clusters: {seen[code]} and {name}")
                seen[code] = name


def load_clusters(path: Path) -> dict[str, list[int]]:
    if not path.exists():
        return {}
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    clusters = doc.get("clusters", {})
    if not isinstance(clusters, dict) or not all(isinstance(v, list) for v in clusters.values()):
        raise ConfigError(f"{path}: expected 'clusters:' mapping a name to a list of municipality codes")
    return {str(k): [int(c) for c in v] for k, v in clusters.items()}


def settings_from_config(config, ci_method: str = "wilson") -> IndicatorSettings:  # type: ignore[no-untyped-def]
    return IndicatorSettings(dict(config.standards), config.completion_limit_days,
                             load_clusters(config.clusters_file), ci_method)


def _flags_sql(indicators: Sequence[Indicator], limit: int) -> str:
    """Per course, three booleans per indicator: in the denominator, meets the numerator, unknown."""
    parts = []
    for ind in indicators:
        den, num, unk = ind.denominator, ind.numerator.format(limit=limit), ind.unknown.format(limit=limit)
        parts.append(f"({den}) AS d_{ind.id}")
        parts.append(f"({den}) AND ({num}) AS n_{ind.id}")
        parts.append(f"({den}) AND ({unk}) AS u_{ind.id}")
    return ",\n               ".join(parts)


def create_fact_views(con: duckdb.DuckDBPyConnection) -> None:
    """``course_facts`` and ``finished_facts`` as temporary views of ``con``, for looking at the facts
    the indicators count (tests, researchers). ``compute`` itself needs no views: it writes nothing."""
    for name, sql in POPULATIONS.items():
        con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {sql}")


def _clusters_sql(settings: IndicatorSettings) -> tuple[str, list[object]]:
    """The clusters as an inline relation (code, cluster) and its parameters: no table is created,
    so compute() runs on a read-only connection and costs no DDL."""
    rows = [(code, name) for name, codes in settings.clusters.items() for code in codes]
    if not rows:
        return "(SELECT NULL::INTEGER AS code, NULL::VARCHAR AS cluster WHERE false)", []
    values = ", ".join(["(?::INTEGER, ?::VARCHAR)"] * len(rows))
    return f"(SELECT * FROM (VALUES {values}) AS v(code, cluster))", [v for row in rows for v in row]


#: The joins of the facts run over JOIN_PARTS ranges of course ids, one after another, once there
#: are MIN_PARTITIONED_IDS ids. Measured on 2 cores with the ENUM-typed snapshot: two halves made
#: compute() 20 % faster at 200,000 courses and 23 % at 2,000,000 (one DuckDB hash join per half
#: instead of one over all); four or eight parts were no better. Part of the reason: DuckDB joins
#: through a plain array (its "perfect hash join") when the build side's keys span at most 2**20
#: values; counting the joined rows alone took 59-80 ms over 1,048,570 ids and 97-126 ms over
#: 1,048,590. It is not the whole story: at 200,000 ids one range is within that limit and two are
#: still faster, and at 4,000,000 courses two parts (2,000,000 ids each) beat four (794 against
#: 1,013 ms median), so the number of parts is what was measured best, not derived from 2**20.
JOIN_PARTS = 2
MIN_PARTITIONED_IDS = 100_000


def _facts_from(con: duckdb.DuckDBPyConnection, population: str) -> str:
    """The population's facts, as UNION ALL over JOIN_PARTS ranges of course ids."""
    low, high = con.execute("SELECT min(course_id), max(course_id) FROM courses").fetchone() or (None, None)
    if low is None or high - low + 1 < MIN_PARTITIONED_IDS:
        return POPULATIONS[population]
    step = -(-(high - low + 1) // JOIN_PARTS)  # ceiling: the last range ends after ``high``
    return " UNION ALL ".join(f"({facts_sql(population, (start, start + step))})"
                              for start in range(low, high + 1, step))


_TRUNC = {"year": "year", "quarter": "quarter", "month": "month"}
#: grouping(municipality_code, cluster, region_code) -> level
_GROUPING_LEVEL = {0b011: "municipality", 0b101: "cluster", 0b110: "region", 0b111: "national"}


def _pass_sql(indicators: Sequence[Indicator], facts: str, period_date: str, period: str,
              levels: Sequence[str], settings: IndicatorSettings) -> str:
    """One pass over a population: every unit level and period, one row per indicator.

    Counting per municipality and period first and rolling those ~1,000 rows up under GROUPING
    SETS is several times faster than fanning every course out to four grouping sets. The NULL
    period filter sits after the joins on purpose: pushed into the scan of the end table it made
    DuckDB misjudge the join sizes. Names, levels and the unpivot to one row per indicator are done
    here too, on the small rolled-up result: in SQL they cost a fraction of what pandas took.
    """
    names = [f"{k}_{ind.id}" for ind in indicators for k in "dnu"]
    # count_if counts true only, so a NULL flag (a missing value) counts as false; over flags that
    # are all NULL it gives NULL, hence the coalesce. Computing the flags once per course and
    # counting them is faster than 18 FILTER clauses over the same rows.
    level_of = " ".join(f"WHEN {g} THEN '{level}'" for g, level in _GROUPING_LEVEL.items())
    unpivot = ", ".join(f"(n_{i.id}, d_{i.id}, u_{i.id}) AS \"{i.id}\"" for i in indicators)
    return f"""
    (WITH m AS (
        SELECT municipality_code, k, {', '.join(f'coalesce(count_if({n}), 0) AS {n}' for n in names)}
        FROM (SELECT f.municipality_code, date_trunc('{_TRUNC[period]}', f.{period_date}) AS k,
                     {_flags_sql(indicators, settings.completion_limit_days)}
              FROM ({facts}) f)
        GROUP BY municipality_code, k),
    g AS (
        SELECT CASE grouping(m.municipality_code, cl.cluster, mu.region_code) {level_of} END AS level,
               m.municipality_code, cl.cluster, mu.region_code, any_value(mu.name) AS municipality,
               any_value(mu.region) AS region, {PERIODS[period].format(d='m.k')} AS period,
               {', '.join(f'sum({n})::BIGINT AS {n}' for n in names)}
        FROM m JOIN municipalities mu ON mu.code = m.municipality_code
        LEFT JOIN clusters cl ON cl.code = m.municipality_code
        WHERE m.k IS NOT NULL
        GROUP BY GROUPING SETS ((m.municipality_code, period), (cl.cluster, period),
                               (mu.region_code, period), (period))),
    u AS (UNPIVOT g ON {unpivot} INTO NAME indicator VALUE numerator, denominator, unknown)
    SELECT indicator, level,
           CASE level WHEN 'municipality' THEN municipality_code::VARCHAR WHEN 'cluster' THEN cluster
                      WHEN 'region' THEN region_code::VARCHAR ELSE 'DK' END AS unit,
           CASE level WHEN 'municipality' THEN municipality WHEN 'cluster' THEN cluster
                      WHEN 'region' THEN region ELSE '{NATIONAL_NAME}' END AS unit_name,
           period, numerator, denominator, unknown
    FROM u
    -- Municipalities outside every cluster form a NULL cluster group: not a unit.
    WHERE level IN ({', '.join(f"'{lvl}'" for lvl in levels)}) AND NOT (level = 'cluster' AND cluster IS NULL))"""


def compute(con: duckdb.DuckDBPyConnection, settings: IndicatorSettings, *, period: str = "year",
            levels: Iterable[str] = LEVELS, indicators: Iterable[str] | None = None) -> pd.DataFrame:
    """Every indicator for every unit and period: one row each, in RESULT_COLUMNS.

    ``con`` holds snapshot tables (a snapshot file, or the live store loaded by ``live.py``); it is
    only read. Small numbers are NOT suppressed here; ``suppress`` does that for a given viewer.
    """
    if period not in PERIODS:
        raise ValueError(f"period must be one of {sorted(PERIODS)}")
    wanted = [lvl for lvl in LEVELS if lvl in set(levels)]
    chosen = [i for i in INDICATORS if indicators is None or i.id in set(indicators)]
    if not chosen or not wanted:
        return _with_statistics(pd.DataFrame({c: pd.Series(dtype=_EMPTY_TYPES.get(c, object))
                                              for c in RESULT_COLUMNS[:8]}), settings)
    passes: dict[tuple[str, str], list[Indicator]] = {}  # one pass per population and period date
    for ind in chosen:
        passes.setdefault((ind.population, ind.period_date), []).append(ind)
    clusters, params = _clusters_sql(settings)
    order = " ".join(f"WHEN '{lvl}' THEN {i}" for i, lvl in enumerate(LEVELS))
    sql = (f"WITH clusters AS {clusters} SELECT * FROM ("
           + " UNION ALL ".join(_pass_sql(group, _facts_from(con, population), period_date, period, wanted, settings)
                                for (population, period_date), group in passes.items())
           + f") ORDER BY indicator, period, CASE level {order} END, unit")
    result = con.execute(sql, params).df()
    return _with_statistics(result, settings)


def _with_statistics(result: pd.DataFrame, settings: IndicatorSettings) -> pd.DataFrame:
    """Proportion, confidence interval, standard and status beside the counts (all vectorised)."""
    n = result["denominator"].to_numpy(dtype=float)
    x = result["numerator"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(n > 0, x / n, np.nan)
    low, high = CI_METHODS[settings.ci_method](x, n, settings.level)
    std = result["indicator"].map(dict(settings.standards)).to_numpy(dtype=float)
    status = np.select([n == 0, np.isnan(std), p >= std, high < std],
                       ["no_data", "no_standard", "met", "below"], "not_met")
    # Round away float noise (5.6e-17 for a zero lower limit) that would print as a number.
    return result.assign(proportion=p, ci_low=np.round(low, 10), ci_high=np.round(high, 10), standard=std,
                         status=status)[RESULT_COLUMNS]


def suppress(result: pd.DataFrame, own: Iterable[int] = (), threshold: int = 5) -> pd.DataFrame:
    """The table as shown outside a municipality: counts 1..threshold-1 become '< threshold', and
    proportion, CI and status are hidden where the denominator is below the threshold.

    A proportion is also hidden where the numerator was suppressed, since it would reveal it.
    Rows of the viewer's ``own`` municipalities keep their exact numbers; every other row
    (other municipalities, clusters, regions, the nation) is suppressed.
    """
    out = result.copy()
    own_units = {str(c) for c in own}
    exact = (out["level"] == "municipality") & out["unit"].isin(own_units)
    # A visible proportion would give a suppressed numerator back (4 of 5 = 80 %): hide it too.
    small_num = (out["numerator"] > 0) & (out["numerator"] < threshold)
    small_den = ~exact & ((out["denominator"] < threshold) | small_num)
    for column in ("numerator", "denominator", "unknown"):
        values = out[column].astype(object)
        hide = ~exact & (out[column] > 0) & (out[column] < threshold)
        values[hide] = f"< {threshold}"
        out[column] = values
    for column in ("proportion", "ci_low", "ci_high"):
        out.loc[small_den, column] = np.nan
    status = out["status"].astype(object)
    status[small_den & (out["status"] != "no_data")] = "suppressed"
    out["status"] = status
    return out
