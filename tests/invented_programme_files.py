"""The invented programme ``faldforebyggelse`` (fall prevention) beside HjerteKom, as YAML files in
a temporary contracts folder: shared by the pipeline test (test_invented_programme.py) and the
entry app's browser and widget tests of several programmes (imported as a plain module).

The folder is a copy of data_contracts/ with tests/data/faldforebyggelse/ added: its contract,
indicators and texts, and its own code list. Nothing in data_contracts/ changes.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from paths import CONTRACTS_DIR

PROGRAMME = "faldforebyggelse"
INVENTED = Path(__file__).parent / "data" / PROGRAMME


def contracts_with_invented(root: Path) -> Path:
    """A copy of data_contracts with the invented programme and its code list added (``root/contracts``)."""
    folder = root / "contracts"
    shutil.copytree(CONTRACTS_DIR, folder)
    shutil.copytree(INVENTED / PROGRAMME, folder / PROGRAMME)
    for codelist in (INVENTED / "codelists").iterdir():
        shutil.copy(codelist, folder / "codelists" / codelist.name)
    return folder
