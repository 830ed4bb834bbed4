"""Where the shared-questions tests find MoEva beside HjerteKom: the ONE place that names it.

MoEva ships in data_contracts/ and a service runs it when its ``programmes`` setting names it
(docs/programmes.md). The tests copy data_contracts/ into a temporary folder (one test changes a
contract there) and switch both programmes on (``BOTH_PROGRAMMES``, ``BOTH_ENV``).
"""
from __future__ import annotations

import shutil
from pathlib import Path

from paths import CONTRACTS_DIR

#: The programmes the shared-questions tests' service runs (Config.programmes).
BOTH_PROGRAMMES = ("hjertekom", "moeva")
#: The same for a server or command line started by a test.
BOTH_ENV = {"HJERTEKOM_PROGRAMMES": ",".join(BOTH_PROGRAMMES)}


def contracts_with_moeva(root: Path) -> Path:
    """A copy under ``root`` of the contracts folder, which holds hjertekom and MoEva."""
    folder = root / "contracts_shared"
    if not folder.exists():
        shutil.copytree(CONTRACTS_DIR, folder)
    return folder
