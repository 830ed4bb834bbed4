"""The indicators' public entry points, kept where callers import them from.

The computation is generic and lives in ``counting.py`` (declared indicators over per-course
facts: ``declarations.py``, ``conditions.py``, ``facts.py``); the settings in ``settings.py``.
What a viewer may see of the results is decided by ``hjertekom_core.disclosure.protect``.
"""
from __future__ import annotations

from pathlib import Path

import duckdb

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
from hjertekom_core.indicators.declarations import DEFAULT_CONTRACTS_DIR, declarations_for
from hjertekom_core.indicators.facts import PROGRAMME, course_key_column, facts_select
from hjertekom_core.indicators.settings import IndicatorSettings, load_clusters, settings_from_config

__all__ = ["COUNT_COLUMNS", "LEVELS", "NATIONAL_NAME", "PERIODS", "RESULT_COLUMNS", "IndicatorSettings", "compute",
           "create_fact_views", "declarations_of", "load_clusters", "reference_date", "settings_from_config"]


def create_fact_views(con: duckdb.DuckDBPyConnection, programme: str = PROGRAMME,
                      contracts_dir: Path = DEFAULT_CONTRACTS_DIR) -> None:
    """``course_facts`` (every course of the programme with its stored facts, over the raw tables)
    as a temporary view of ``con``, for looking at the facts the indicators count (tests,
    researchers). ``compute`` itself needs no view: it writes nothing. In a pseudonymised snapshot
    whose dates were changed, the date facts follow them; its ``<programme>_indicator_facts`` table
    holds what the indicators count (facts.py). ``contracts_dir``: where the programme's
    ``indicators.yaml`` is (default: this checkout's data_contracts)."""
    decl = declarations_for(programme, Path(contracts_dir))
    con.execute(f"CREATE OR REPLACE TEMP VIEW course_facts AS {facts_select(decl, course_key_column(con))}")


