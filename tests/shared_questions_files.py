"""Where the shared-questions tests find MoEva: the ONE place that names the draft's files.

MoEva is a draft in tests/data/moeva/ until it is moved into data_contracts/ (issue 19). Until then
the tests copy data_contracts/ into a temporary folder and add the draft beside hjertekom, as
tests/test_moeva_draft.py does. Once MoEva is in data_contracts/, this function is the only thing
to repoint (to CONTRACTS_DIR, or to a copy with the workspace's ``programmes`` setting enabling it).
"""
from __future__ import annotations

import shutil
from pathlib import Path

from paths import CONTRACTS_DIR

MOEVA_DRAFT = Path(__file__).parent / "data" / "moeva"


def contracts_with_moeva_draft(root: Path) -> Path:
    """A contracts folder under ``root`` holding hjertekom and the MoEva draft (and its code lists)."""
    folder = root / "contracts_shared"
    if folder.exists():
        return folder
    shutil.copytree(CONTRACTS_DIR, folder)
    if not (folder / "moeva").exists():
        shutil.copytree(MOEVA_DRAFT / "moeva", folder / "moeva")
        for codelist in (MOEVA_DRAFT / "codelists").iterdir():
            if not (folder / "codelists" / codelist.name).exists():
                shutil.copy(codelist, folder / "codelists" / codelist.name)
    return folder
