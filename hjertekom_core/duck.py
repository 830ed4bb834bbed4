"""The one way the project opens DuckDB.

DuckDB installs and loads "known" extensions by itself when a file or a query seems to need one:
handed a SQLite file, it tried to download the sqlite extension from the internet. Every
connection made here has that switched off, so DuckDB runs with what is installed and never
fetches code; a test keeps ``duckdb.connect(`` out of the rest of the source tree.

Several connections to one file in one process must share one configuration (DuckDB refuses a
second connection with another), which is one more reason to open them all here, alike. For the
same reason snapshot readers do not switch off ``enable_external_access`` (a reader and an
extract's ``COPY`` of one file in one process would then refuse each other); what a handed-over
file could run instead, its views and macros, is refused by ``snapshot.open_snapshot``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

#: Settings of every connection: no automatic installing or loading of extensions.
NO_AUTO_EXTENSIONS: dict[str, Any] = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


def connect(path: str | Path = ":memory:", *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection (in memory by default) that never installs or loads an extension by itself."""
    return duckdb.connect(str(path), read_only=read_only, config=dict(NO_AUTO_EXTENSIONS))
