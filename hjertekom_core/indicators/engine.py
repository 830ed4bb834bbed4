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
from hjertekom_core.indicators.facts import POPULATIONS
from hjertekom_core.indicators.stats import CI_METHODS

LEVELS = ("municipality", "cluster", "region", "national")
PERIODS = {
    "year": "strftime({d}, '%Y')",
    "quarter": "strftime({d}, '%Y') || '-Q' || quarter({d})",
    "month": "strftime({d}, '%Y-%m')",
}
RESULT_COLUMNS = ["indicator", "level", "unit", "unit_name", "period", "numerator", "denominator", "unknown",
                  "proportion", "ci_low", "ci_high", "standard", "status"]


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


def _prepare(con: duckdb.DuckDBPyConnection, settings: IndicatorSettings) -> None:
    """The facts relations and the cluster table as temporary views/tables of this connection."""
    for name, sql in POPULATIONS.items():
        con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {sql}")
    con.execute("CREATE OR REPLACE TEMP TABLE clusters (code INTEGER, cluster VARCHAR)")
    rows = [(code, name) for name, codes in settings.clusters.items() for code in codes]
    if rows:  # one statement, not one per row
        con.execute(f"INSERT INTO clusters VALUES {', '.join(['(?, ?)'] * len(rows))}",
                    [v for row in rows for v in row])


_TRUNC = {"year": "year", "quarter": "quarter", "month": "month"}


def _aggregate(con: duckdb.DuckDBPyConnection, indicators: Sequence[Indicator], period_date: str, period: str,
               settings: IndicatorSettings, population: str = "course_facts") -> pd.DataFrame:
    """All four unit levels in one pass; the caller keeps the levels asked for.

    Counting per municipality and period first and rolling those ~1,000 rows up under GROUPING
    SETS is several times faster than fanning every course out to four grouping sets. The NULL
    period filter sits after the joins on purpose: pushed into the scan of the end table it made
    DuckDB misjudge the join sizes.
    """
    names = [f"{k}_{ind.id}" for ind in indicators for k in "dnu"]
    # count_if counts true only, so a NULL flag (a missing value) counts as false; over flags that
    # are all NULL it gives NULL, hence the coalesce. Computing the flags once per course and
    # counting them is faster than 18 FILTER clauses over the same rows.
    sql = f"""
    WITH m AS (
        SELECT municipality_code, k, {', '.join(f'coalesce(count_if({n}), 0) AS {n}' for n in names)}
        FROM (SELECT f.municipality_code, date_trunc('{_TRUNC[period]}', f.{period_date}) AS k,
                     {_flags_sql(indicators, settings.completion_limit_days)}
              FROM {population} f)
        GROUP BY municipality_code, k)
    SELECT m.municipality_code, cl.cluster, mu.region_code, {PERIODS[period].format(d='m.k')} AS p,
           grouping(m.municipality_code, cl.cluster, mu.region_code) AS g,
           {', '.join(f'sum({n}) AS {n}' for n in names)}
    FROM m JOIN municipalities mu ON mu.code = m.municipality_code
    LEFT JOIN clusters cl ON cl.code = m.municipality_code
    WHERE m.k IS NOT NULL
    GROUP BY GROUPING SETS ((m.municipality_code, p), (cl.cluster, p), (mu.region_code, p), (p))
    """
    return con.execute(sql).df()


_GROUPING_LEVEL = {0b011: "municipality", 0b101: "cluster", 0b110: "region", 0b111: "national"}


def compute(con: duckdb.DuckDBPyConnection, settings: IndicatorSettings, *, period: str = "year",
            levels: Iterable[str] = LEVELS, indicators: Iterable[str] | None = None) -> pd.DataFrame:
    """Every indicator for every unit and period: one row each, in RESULT_COLUMNS.

    ``con`` holds snapshot tables (a snapshot file, or the live store loaded by ``live.py``).
    Small numbers are NOT suppressed here; ``suppress`` does that for a given viewer.
    """
    if period not in PERIODS:
        raise ValueError(f"period must be one of {sorted(PERIODS)}")
    levels = [lvl for lvl in LEVELS if lvl in set(levels)]
    chosen = [i for i in INDICATORS if indicators is None or i.id in set(indicators)]
    _prepare(con, settings)
    frames = []
    passes: dict[tuple[str, str], list[Indicator]] = {}  # one pass per population and period date
    for ind in chosen:
        passes.setdefault((ind.population, ind.period_date), []).append(ind)
    for (population, period_date), group in passes.items():
        agg = _aggregate(con, group, period_date, period, settings, population)
        agg["level"] = agg["g"].map(_GROUPING_LEVEL)
        # Municipalities outside every cluster form a NULL cluster group: not a unit.
        agg = agg[agg["level"].isin(levels) & ~((agg["level"] == "cluster") & agg["cluster"].isna())]
        agg = agg.reset_index(drop=True)
        level = agg["level"]
        unit = np.select(
            [level == "municipality", level == "cluster", level == "region"],
            [agg["municipality_code"].astype("string"), agg["cluster"].astype("string"),
             agg["region_code"].astype("string")], "DK")
        for ind in group:
            frames.append(pd.DataFrame({
                "indicator": ind.id, "level": level, "unit": unit, "period": agg["p"],
                "numerator": agg[f"n_{ind.id}"].astype("int64"), "denominator": agg[f"d_{ind.id}"].astype("int64"),
                "unknown": agg[f"u_{ind.id}"].astype("int64"),
            }))
    result = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=RESULT_COLUMNS[:7])
    result = _with_names(con, result)
    return _with_statistics(result, settings)


def _with_names(con: duckdb.DuckDBPyConnection, result: pd.DataFrame) -> pd.DataFrame:
    names = {str(code): name for code, name in con.execute("SELECT code, name FROM municipalities").fetchall()}
    names.update({str(code): region for code, region in
                  con.execute("SELECT DISTINCT region_code, region FROM municipalities").fetchall()})
    names["DK"] = "Hele landet"
    result["unit_name"] = result["unit"].map(names).fillna(result["unit"])
    return result


def _with_statistics(result: pd.DataFrame, settings: IndicatorSettings) -> pd.DataFrame:
    n = result["denominator"].to_numpy(dtype=float)
    x = result["numerator"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        result["proportion"] = np.where(n > 0, x / n, np.nan)
    low, high = CI_METHODS[settings.ci_method](x, n, settings.level)
    # Round away float noise (5.6e-17 for a zero lower limit) that would print as a number.
    result["ci_low"], result["ci_high"] = np.round(low, 10), np.round(high, 10)
    result["standard"] = result["indicator"].map(dict(settings.standards)).astype(float)
    p, std = result["proportion"].to_numpy(), result["standard"].to_numpy()
    result["status"] = np.select(
        [n == 0, np.isnan(std), p >= std, high < std],
        ["no_data", "no_standard", "met", "below"], "not_met")
    order = {lvl: i for i, lvl in enumerate(LEVELS)}
    result = result.assign(_o=result["level"].map(order)).sort_values(
        ["indicator", "period", "_o", "unit"], kind="stable").drop(columns="_o")
    return result[RESULT_COLUMNS].reset_index(drop=True)


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
