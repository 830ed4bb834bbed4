"""Where things are, for tests that need a path (imported as a plain module, not from conftest:
two conftest.py files share that module name)."""
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONTRACTS_DIR = REPO / "data_contracts"
