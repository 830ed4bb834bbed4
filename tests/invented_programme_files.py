"""The invented programme ``faldforebyggelse`` (fall prevention) beside HjerteKom, as YAML files in
a temporary contracts folder: shared by the pipeline test (test_invented_programme.py) and the
entry app's browser and widget tests of several programmes (imported as a plain module).

The folder is a copy of data_contracts/ with tests/data/faldforebyggelse/ added: its contract,
indicators and texts, and its own code list. Nothing in data_contracts/ changes. The folder also
holds MoEva (shipped in data_contracts/); the tests run hjertekom and the invented programme, named
in the setting ``programmes`` (``BOTH``, ``BOTH_ENV``), as a service of those two would.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from paths import CONTRACTS_DIR

PROGRAMME = "faldforebyggelse"
INVENTED = Path(__file__).parent / "data" / PROGRAMME
#: The programmes the tests' service runs: hjertekom and the invented one (Config.programmes).
BOTH = ("hjertekom", PROGRAMME)
#: The same for a command or a server started with the environment.
BOTH_ENV = {"HJERTEKOM_PROGRAMMES": ",".join(BOTH)}


def contracts_with_invented(root: Path) -> Path:
    """A copy of data_contracts with the invented programme and its code list added (``root/contracts``)."""
    folder = root / "contracts"
    shutil.copytree(CONTRACTS_DIR, folder)
    shutil.copytree(INVENTED / PROGRAMME, folder / PROGRAMME)
    for codelist in (INVENTED / "codelists").iterdir():
        shutil.copy(codelist, folder / "codelists" / codelist.name)
    return folder
