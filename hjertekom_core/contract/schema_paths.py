"""Where in a YAML document a schema error is, in words its author finds in the file.

Used by the data contracts (``loader.py``) and the export contracts (``export/contract.py``), so
that both say 'form start, field weight_kg, type' rather than 'forms/1/fields/3/type'.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: A list's key -> what one of its items is called.
ITEM_KINDS: Mapping[str, str] = {
    "forms": "form", "sections": "section", "fields": "field", "rules": "rule", "columns": "column",
}


def describe_path(doc: Any, path: Sequence[Any]) -> str:
    """A JSON path into ``doc`` in words. A list item is named by its list's kind and its ``name``
    ('field weight_kg'), else by its position ('item 3'); the list's own key is left out."""
    parts: list[str] = []
    node = doc
    for i, step in enumerate(path):
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):  # a place the document lacks: the rest as a path
            start = i - 1 if isinstance(step, int) and i else i  # with the list's key, left out above
            parts.append("/".join(str(p) for p in path[start:]))
            break
        if isinstance(step, int):
            kind = ITEM_KINDS.get(str(path[i - 1])) if i else None
            name = node.get("name") if isinstance(node, Mapping) else None
            parts.append(f"{kind} {name}" if kind and name else f"item {step + 1}")
        elif i + 1 == len(path) or not isinstance(path[i + 1], int):
            parts.append(str(step))
    return ", ".join(parts) or "top level"
