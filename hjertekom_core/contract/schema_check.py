"""Checking YAML documents against the contracts' JSON Schemas, with jsonschema imported late.

jsonschema with its format checkers costs about 20 MB and 0.2 s to import. Every entry-form kernel
loads the contracts, and the issue of kernel memory (one kernel per open page) makes that a cost
worth avoiding: a kernel started by ``hjertekom serve`` is told, through :data:`CHECKED_ENV`, the
digest of the contract files the server has just checked; when its own files have that digest,
the same bytes passed the same schemas a moment ago, and the kernel skips the schema check (every
check of the loader's own, across files, still runs). Any other caller, or a file changed since,
is checked as before.
"""
from __future__ import annotations

import functools
import hashlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from hjertekom_core.contract.schema_paths import describe_path
from hjertekom_core.errors import ContractError

#: The environment variable through which the server hands its kernels the digest it checked.
CHECKED_ENV = "HJERTEKOM_CONTRACTS_CHECKED"

#: The files of a contracts folder that loading reads (contracts, code lists, messages, schemas).
_CONTRACT_SUFFIXES = (".yaml", ".yml", ".csv")


def jsonschema_module() -> ModuleType:
    """jsonschema, imported on first use."""
    if "jsonschema" not in sys.modules:
        # jsonschema imports rfc3987_syntax (which jupyter-events installs) at import time, only
        # to offer an "iri" format checker that no schema here uses; building that grammar costs
        # about a second. Declining it leaves every check we use intact.
        sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    import jsonschema

    return jsonschema


def contracts_digest(directory: Path) -> str:
    """SHA-256 over the name and bytes of every contract file below ``directory``, in name order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(directory).rglob("*") if p.suffix in _CONTRACT_SUFFIXES and p.is_file()):
        name = path.relative_to(directory).as_posix().encode()
        data = path.read_bytes()
        digest.update(len(name).to_bytes(4, "big") + name + len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


@functools.lru_cache(maxsize=None)
def validator(schema_path: Path, read: Any) -> Any:
    """The validator of one schema file (read with ``read``), the schema itself checked first."""
    jsonschema = jsonschema_module()
    schema = read(schema_path)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def raise_first(path: Path, doc: Any, errors: list[Any]) -> None:
    """A ContractError for the most precise of ``errors`` (none: nothing)."""
    if errors:
        # The deepest error is usually the most precise one for a oneOf mismatch.
        best = jsonschema_module().exceptions.best_match(errors)
        raise ContractError(str(path), describe_path(doc, list(best.absolute_path)), best.message)
