"""Citizens' names as a Danish clinician types and reads them: sorting (æ, ø, å after z)."""
from __future__ import annotations

import unicodedata

#: Danish letters (and their Swedish/German neighbours) sort after z, in this order.
_AFTER_Z = str.maketrans({"æ": "{", "ä": "{", "ø": "|", "ö": "|", "å": "}"})


def _without_accents(text: str) -> str:
    """é -> e, ü -> u (combining marks dropped); æ, ø and å are letters of their own and stay."""
    decomposed = unicodedata.normalize("NFD", text)
    kept = "".join(ch for ch in decomposed if not unicodedata.combining(ch) or ch == "\u030a")
    return unicodedata.normalize("NFC", kept)


def danish_sort_key(name: str) -> tuple[str, str]:
    """Sort key for names in Danish alphabetical order: case-insensitive, æ/ø/å after z
    (``"Åse" > "Øster" > "Ærø" > "Zorn"``), accents ignored, the name itself as the tie-break."""
    return _without_accents(name.casefold()).translate(_AFTER_Z), name
