"""The operational store: tables, engine, migrations."""
from hjertekom_core.store import schema
from hjertekom_core.store.engine import Store, make_engine

__all__ = ["Store", "make_engine", "schema"]
