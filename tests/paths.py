"""Where things are, for tests that need a path (imported as a plain module, not from conftest:
two conftest.py files share that module name)."""
import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONTRACTS_DIR = REPO / "data_contracts"

#: The PostgreSQL server of the tests (each session makes a database of its own there).
PG_URL = os.environ.get("HJERTEKOM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
