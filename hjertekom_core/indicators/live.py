"""The indicators over the live store, for the entry app's real-time feedback.

The store's current rows (for some municipalities) are laid out in an in-memory DuckDB exactly as
in a snapshot, so that the very same SQL definitions run on both.
"""
from __future__ import annotations

from collections.abc import Collection

import duckdb
import pandas as pd

from hjertekom_core import duck
from hjertekom_core.access import User
from hjertekom_core.contract import ContractRegistry
from hjertekom_core.indicators.engine import IndicatorSettings, compute
from hjertekom_core.snapshot.writer import build_tables, read_store
from hjertekom_core.store import Store


def live_connection(store: Store, contracts: ContractRegistry,
                    municipalities: Collection[int] | User | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with snapshot tables of the live store (identified; never written to disk):
    of some municipalities, or (a User) of the courses that user may see (their programmes there)."""
    con = duck.connect()
    build_tables(con, read_store(store, municipalities), contracts, pseudonymised=False, key=None)
    return con


def live_indicators(store: Store, contracts: ContractRegistry, settings: IndicatorSettings,
                    municipalities: Collection[int], period: str = "year") -> pd.DataFrame:
    """K1-K6 of the given municipalities from the live store, exact (the municipality's own numbers)."""
    with live_connection(store, contracts, municipalities) as con:
        return compute(con, settings, period=period, levels=("municipality",))
