"""The indicators' public entry points, kept where callers import them from.

The computation is generic and lives in ``counting.py`` (declared indicators over per-course
facts: ``declarations.py``, ``conditions.py``, ``facts.py``); the settings in ``settings.py``.
``suppress`` (small-number suppression for a viewer) stays here.
"""
from __future__ import annotations

from collections.abc import Iterable

import duckdb
import numpy as np
import pandas as pd

from hjertekom_core.indicators.counting import (
    COUNT_COLUMNS,
    LEVELS,
    NATIONAL_NAME,
    PERIODS,
    RESULT_COLUMNS,
    compute,
    declarations_of,
    reference_date,
)
from hjertekom_core.indicators.declarations import declarations_for
from hjertekom_core.indicators.facts import PROGRAMME, facts_select
from hjertekom_core.indicators.settings import IndicatorSettings, load_clusters, settings_from_config

__all__ = ["COUNT_COLUMNS", "LEVELS", "NATIONAL_NAME", "PERIODS", "RESULT_COLUMNS", "IndicatorSettings", "compute",
           "create_fact_views", "declarations_of", "load_clusters", "reference_date", "settings_from_config",
           "suppress"]


def create_fact_views(con: duckdb.DuckDBPyConnection, programme: str = PROGRAMME) -> None:
    """``course_facts`` (every course of the programme with its stored facts, over the raw tables)
    as a temporary view of ``con``, for looking at the facts the indicators count (tests,
    researchers). ``compute`` itself needs no view: it writes nothing."""
    con.execute(f"CREATE OR REPLACE TEMP VIEW course_facts AS {facts_select(declarations_for(programme))}")


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
