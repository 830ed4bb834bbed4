"""K1-K6 in plain pandas: the straightforward implementation the DuckDB engine is measured against.

It reads the same snapshot tables (``courses``, ``municipalities``, ``hjertekom_start``,
``hjertekom_end``; only the columns the indicators need) into data frames, merges them as
``course_facts`` joins them, computes the per-course 0/1 flags of every indicator with vectorised
pandas following the definitions in ``hjertekom_core.indicators.definitions`` (written out again
here by hand: an independent implementation, so that the two can check each other), sums them per
unit and period, and adds Wilson (or Clopper-Pearson) intervals, standards and status. The result
has the engine's columns, row order and rounding, so that ``compare`` can demand identical numbers.

The rules, as the engine's SQL applies them:

* a course counts for an indicator when its start and end registrations are complete (status
  ``complete``), and only such courses are read (the indicators' population, so a unit and period
  without a finished course has no row); it belongs to the period of its end meeting; the
  programme is ``hjertekom``; a course needs a known municipality (inner join);
* SQL three-valued logic: a condition on a missing value is unknown, and an unknown numerator or
  denominator condition counts as false (``coalesce(..., false)``). pandas' nullable types follow
  the same (Kleene) logic, and ``fillna(False)`` plays the part of ``coalesce``;
* K1 completed with ``days_in_course < limit`` (default 180), unknown if the status or the
  number of days is missing; K2 ``5 * attended >= 4 * planned`` among ``planned > 0``; K3 the
  same capacity test (watt or 6-minute walk) at both meetings, start value above 0, end value
  known, ``10 * (end - start) >= start``, unknown when not comparable; K4 daily/occasional smoker at
  start, ``former`` at the end, unknown if missing or ``UNK``; K5 dietitian ``yes``, unknown if
  missing or ``UNK``; K6 HADS ``completed`` at start or end, unknown if both are missing.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from scipy.stats import beta, norm

LEVEL_ORDER = ("municipality", "cluster", "region", "national")
COLUMNS = ["indicator", "level", "unit", "unit_name", "period", "numerator", "denominator", "unknown",
           "proportion", "ci_low", "ci_high", "standard", "status"]
IDS = ("K1", "K2", "K3", "K4", "K5", "K6")


def read_tables(con: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame]:
    """The snapshot tables the indicators use, as data frames (only the needed columns)."""
    return {
        "courses": con.execute("SELECT course_id, programme, municipality_code FROM courses").df(),
        "municipalities": con.execute("SELECT code, name, region_code, region FROM municipalities").df(),
        "start": con.execute(
            "SELECT course_id, status, meeting_date, training_offered, fitness_test_type, ergometer_watt, "
            "walk_6min_m, smoking, hads_status FROM hjertekom_start").df(),
        "end": con.execute(
            "SELECT course_id, status, meeting_date, course_status, training_sessions_planned, "
            "training_sessions_attended, fitness_test_type, ergometer_watt, walk_6min_m, smoking, "
            "diet_dietitian_received, hads_status FROM hjertekom_end").df(),
    }


def _capacity(frame: pd.DataFrame) -> pd.Series:
    """The capacity result of the test done: watt or 6-minute walk metres, else missing."""
    test = frame["fitness_test_type"]
    watt = frame["ergometer_watt"].astype("Float64")
    walk = frame["walk_6min_m"].astype("Float64")
    out = pd.Series(pd.NA, index=frame.index, dtype="Float64")
    out = out.mask(test == "watt", watt)
    return out.mask(test == "six_minute_walk", walk)


def _period(dates: pd.Series, period: str) -> pd.Series:
    if period == "year":
        return dates.dt.strftime("%Y")
    if period == "quarter":
        return dates.dt.strftime("%Y") + "-Q" + dates.dt.quarter.astype(str)
    if period == "month":
        return dates.dt.strftime("%Y-%m")
    raise ValueError(f"unknown period {period!r}")


def _true(cond: pd.Series) -> pd.Series:
    """coalesce(cond, false) as a plain bool series."""
    if cond.dtype == bool:
        return cond
    return cond.fillna(False).astype(bool)


def course_flags(tables: dict[str, pd.DataFrame], limit: int, period: str) -> pd.DataFrame:
    """One row per course with an end date: unit columns, period and the 18 flags d_/n_/u_K1..K6."""
    courses = tables["courses"]
    courses = courses[courses["programme"] == "hjertekom"]
    munis = tables["municipalities"][["code", "region_code"]]
    facts = courses.merge(munis, left_on="municipality_code", right_on="code", how="inner")
    facts = facts.merge(tables["start"].add_prefix("s_"), left_on="course_id", right_on="s_course_id", how="left")
    facts = facts.merge(tables["end"].add_prefix("e_"), left_on="course_id", right_on="e_course_id", how="left")
    facts = facts[facts["e_meeting_date"].notna()].reset_index(drop=True)
    # Every indicator's population is the finished courses (Indicator.population): a unit and
    # period with none of them gets no row, not a 0/0 row.
    facts = facts[_true(facts["s_status"] == "complete") & _true(facts["e_status"] == "complete")]
    facts = facts.reset_index(drop=True)
    finished = pd.Series(True, index=facts.index)  # kept, so that each denominator reads as defined
    days = (facts["e_meeting_date"] - facts["s_meeting_date"]).dt.days  # NaN where a date is missing
    status = facts["e_course_status"]
    planned = facts["e_training_sessions_planned"]
    attended = facts["e_training_sessions_attended"]
    start_test, end_test = facts["s_fitness_test_type"], facts["e_fitness_test_type"]
    start_cap = _capacity(facts[["s_fitness_test_type", "s_ergometer_watt", "s_walk_6min_m"]]
                          .rename(columns=lambda c: c[2:]))
    end_cap = _capacity(facts[["e_fitness_test_type", "e_ergometer_watt", "e_walk_6min_m"]]
                        .rename(columns=lambda c: c[2:]))
    end_smoking = facts["e_smoking"]
    diet = facts["e_diet_dietitian_received"]
    start_hads, end_hads = facts["s_hads_status"], facts["e_hads_status"]

    comparable = _true((start_test == end_test) & start_test.notna() & end_test.notna()
                       & start_test.isin(["watt", "six_minute_walk"]) & (start_cap > 0) & end_cap.notna())
    flags = {}

    def put(ind: str, den: pd.Series, num: pd.Series, unk: pd.Series) -> None:
        den = _true(den)
        flags[f"d_{ind}"] = den
        flags[f"n_{ind}"] = den & _true(num)
        flags[f"u_{ind}"] = den & _true(unk)

    put("K1", finished, (status == "completed") & (days < limit), status.isna() | days.isna())
    put("K2", finished & (planned > 0), 5 * attended >= 4 * planned, attended.isna())
    put("K3", finished & (facts["s_training_offered"] == "yes"),
        comparable & (10 * (end_cap - start_cap) >= start_cap), ~comparable)
    put("K4", finished & facts["s_smoking"].isin(["daily", "occasional"]), end_smoking == "former",
        end_smoking.isna() | (end_smoking == "UNK"))
    put("K5", finished, diet == "yes", diet.isna() | (diet == "UNK"))
    put("K6", finished, (start_hads == "completed") | (end_hads == "completed"), start_hads.isna() & end_hads.isna())

    out = pd.DataFrame({name: values.astype(np.int64) for name, values in flags.items()})
    out.insert(0, "period", _period(facts["e_meeting_date"], period))
    out.insert(0, "region_code", facts["region_code"].astype("int64"))
    out.insert(0, "municipality_code", facts["municipality_code"].astype("int64"))
    return out


def _sums(flags: pd.DataFrame, clusters: dict[str, Iterable[int]]) -> pd.DataFrame:
    """Flag sums per unit and period for the four levels, stacked: level, unit, period, d_/n_/u_ columns."""
    value_columns = [c for c in flags.columns if c[:2] in ("d_", "n_", "u_")]
    cluster_of = {int(code): name for name, codes in clusters.items() for code in codes}
    frames = []
    by_muni = flags.groupby(["municipality_code", "period"], sort=False)[value_columns].sum().reset_index()
    frames.append(by_muni.assign(level="municipality", unit=by_muni["municipality_code"].astype(str))
                  .drop(columns="municipality_code"))
    in_cluster = flags.assign(cluster=flags["municipality_code"].map(cluster_of)).dropna(subset=["cluster"])
    by_cluster = in_cluster.groupby(["cluster", "period"], sort=False)[value_columns].sum().reset_index()
    frames.append(by_cluster.assign(level="cluster", unit=by_cluster["cluster"].astype(str)).drop(columns="cluster"))
    by_region = flags.groupby(["region_code", "period"], sort=False)[value_columns].sum().reset_index()
    frames.append(by_region.assign(level="region", unit=by_region["region_code"].astype(str))
                  .drop(columns="region_code"))
    national = flags.groupby("period", sort=False)[value_columns].sum().reset_index()
    frames.append(national.assign(level="national", unit="DK"))
    return pd.concat(frames, ignore_index=True)


def _interval(x: np.ndarray, n: np.ndarray, method: str, level: float) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "wilson":
            z = float(norm.ppf(0.5 + level / 2))
            p = x / n
            denom = 1 + z * z / n
            centre = (p + z * z / (2 * n)) / denom
            half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
            low, high = np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
        elif method == "clopper-pearson":
            alpha = 1 - level
            low = np.where(x == 0, 0.0, beta.ppf(alpha / 2, x, n - x + 1))
            high = np.where(x == n, 1.0, beta.ppf(1 - alpha / 2, x + 1, n - x))
        else:
            raise ValueError(f"unknown CI method {method!r}")
    empty = n == 0
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)


def compute_pandas(con: duckdb.DuckDBPyConnection, settings: Any, *, period: str = "year",
                   levels: Iterable[str] = LEVEL_ORDER) -> pd.DataFrame:
    """K1-K6 for every unit and period, as ``hjertekom_core.indicators.compute`` returns them."""
    tables = read_tables(con)
    return compute_from_tables(tables, settings, period=period, levels=levels)


def compute_from_tables(tables: dict[str, pd.DataFrame], settings: Any, *, period: str = "year",
                        levels: Iterable[str] = LEVEL_ORDER) -> pd.DataFrame:
    flags = course_flags(tables, settings.completion_limit_days, period)
    sums = _sums(flags, settings.clusters)
    sums = sums[sums["level"].isin(set(levels))]
    long = []
    for ind in IDS:
        long.append(pd.DataFrame({
            "indicator": ind, "level": sums["level"].to_numpy(), "unit": sums["unit"].to_numpy(),
            "period": sums["period"].to_numpy(), "numerator": sums[f"n_{ind}"].to_numpy(np.int64),
            "denominator": sums[f"d_{ind}"].to_numpy(np.int64), "unknown": sums[f"u_{ind}"].to_numpy(np.int64)}))
    result = pd.concat(long, ignore_index=True)

    munis = tables["municipalities"]
    names = dict(zip(munis["code"].astype(str), munis["name"]))
    names.update(dict(zip(munis["region_code"].astype(str), munis["region"])))
    names["DK"] = "Hele landet"
    result["unit_name"] = [names.get(u, u) for u in result["unit"]]

    x = result["numerator"].to_numpy(float)
    n = result["denominator"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        result["proportion"] = np.where(n > 0, x / n, np.nan)
    low, high = _interval(x, n, settings.ci_method, settings.level)
    result["ci_low"], result["ci_high"] = np.round(low, 10), np.round(high, 10)
    result["standard"] = [float(settings.standards.get(i, math.nan)) for i in result["indicator"]]
    p, std = result["proportion"].to_numpy(), result["standard"].to_numpy()
    result["status"] = np.select([n == 0, np.isnan(std), p >= std, high < std],
                                 ["no_data", "no_standard", "met", "below"], "not_met")
    order = {lvl: i for i, lvl in enumerate(LEVEL_ORDER)}
    result = result.assign(_o=result["level"].map(order)).sort_values(
        ["indicator", "period", "_o", "unit"], kind="stable").drop(columns="_o")
    return result[COLUMNS].reset_index(drop=True)


# --- comparing two results --------------------------------------------------------------------------

KEY = ["indicator", "level", "unit", "period"]


def compare(expected: pd.DataFrame, actual: pd.DataFrame, *, tolerance: float = 1e-12,
            limit: int = 10) -> list[str]:
    """Differences between two indicator tables (empty when they agree): the same rows (indicator,
    level, unit, period), identical counts, names, standards and status, and proportions and CI
    limits equal within ``tolerance`` (NaN exactly where the other is NaN)."""
    problems: list[str] = []
    for name, frame in (("expected", expected), ("actual", actual)):
        dup = frame.duplicated(KEY)
        if dup.any():
            problems.append(f"{name}: {int(dup.sum())} duplicate rows, e.g. {frame[dup].iloc[0][KEY].tolist()}")
    a = expected.assign(**{k: expected[k].astype(str) for k in KEY})
    b = actual.assign(**{k: actual[k].astype(str) for k in KEY})
    both = a.merge(b, on=KEY, how="outer", suffixes=("_e", "_a"), indicator=True)
    for side, label in (("left_only", "only in expected"), ("right_only", "only in actual")):
        rows = both[both["_merge"] == side]
        if len(rows):
            problems.append(f"{len(rows)} rows {label}, e.g. {rows.iloc[0][KEY].tolist()}")
    both = both[both["_merge"] == "both"]
    for column in ("numerator", "denominator", "unknown"):
        e, c = both[f"{column}_e"].astype("int64"), both[f"{column}_a"].astype("int64")
        bad = both[e != c]
        if len(bad):
            r = bad.iloc[0]
            problems.append(f"{column}: {len(bad)} rows differ, e.g. {r[KEY].tolist()}: "
                            f"{r[f'{column}_e']} != {r[f'{column}_a']}")
    for column in ("proportion", "ci_low", "ci_high", "standard"):
        e, c = both[f"{column}_e"].to_numpy(float), both[f"{column}_a"].to_numpy(float)
        nan_mismatch = np.isnan(e) != np.isnan(c)
        off = ~np.isnan(e) & ~np.isnan(c) & (np.abs(e - c) > tolerance)
        bad = both[nan_mismatch | off]
        if len(bad):
            r = bad.iloc[0]
            problems.append(f"{column}: {len(bad)} rows differ by more than {tolerance:g}, e.g. {r[KEY].tolist()}: "
                            f"{r[f'{column}_e']!r} != {r[f'{column}_a']!r}")
    for column in ("unit_name", "status"):
        bad = both[both[f"{column}_e"].astype(str) != both[f"{column}_a"].astype(str)]
        if len(bad):
            r = bad.iloc[0]
            problems.append(f"{column}: {len(bad)} rows differ, e.g. {r[KEY].tolist()}: "
                            f"{r[f'{column}_e']!r} != {r[f'{column}_a']!r}")
    if not problems:
        order_e = expected[KEY].astype(str).reset_index(drop=True)
        order_a = actual[KEY].astype(str).reset_index(drop=True)
        if not order_e.equals(order_a):
            problems.append("same rows, but in a different order")
    return problems[:limit]
