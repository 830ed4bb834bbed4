"""Creating or migrating a store and everything it needs to start: municipalities, the key."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from hjertekom_core.config import Config
from hjertekom_core.contract import ContractRegistry
from hjertekom_core.contract.schema_check import CHECKED_ENV
from hjertekom_core.private_files import private_dir, restrict, restrict_tree
from hjertekom_core.store import Store
from hjertekom_core.store.schema import municipalities


@dataclass
class Workspace:
    """What every entry point needs: configuration, contracts and the store."""

    config: Config
    contracts: ContractRegistry
    store: Store


def open_workspace(config: Config, *, pool_size: int | None = None) -> Workspace:
    """``pool_size``: the store's idle connections (an entry kernel keeps one; ``Store``)."""
    # The data folder holds the store, the log, the keys and the snapshots: owner-only (0700),
    # made so if missing and tightened if an older version left it open (0755).
    private_dir(config.data_dir)
    # A kernel of `hjertekom serve` is handed the digest of the contracts its server checked (and,
    # through HJERTEKOM_PROGRAMMES, the server's programmes: widgets/server.py).
    contracts = ContractRegistry(config.contracts_dir, checked_digest=os.environ.get(CHECKED_ENV),
                                 programmes=config.programmes)
    return Workspace(config, contracts,
                     Store(config.database_url, key_file=config.pseudonym_key_file, pool_size=pool_size))


def secure_data_folder(config: Config) -> None:
    """Make the data folder and everything in it owner-only: folders 0700, files 0600.

    For data folders written before files were made private (snapshots, extracts and the log
    were 0644); run by ``initialise`` (``hjertekom init``). Symbolic links are not followed.
    """
    restrict_tree(private_dir(config.data_dir))


def sync_municipalities(store: Store, contracts: ContractRegistry) -> int:
    """Insert or update the municipalities from the contracts' code list; returns how many."""
    codelist = contracts.codelists["municipalities"]
    rows = [{"code": int(c.code), "name": c.label.da, "region_code": int(c.attributes["region_code"]),
             "region": c.attributes["region"]} for c in codelist.codes]
    with store.write() as conn:
        existing = set(conn.execute(select(municipalities.c.code)).scalars())
        new = [r for r in rows if r["code"] not in existing]
        if new:
            conn.execute(municipalities.insert(), new)
        for r in rows:
            if r["code"] in existing:
                conn.execute(municipalities.update().where(municipalities.c.code == r["code"]).values(**r))
    return len(rows)


def ensure_secret(path: Path) -> bytes:
    """A 256-bit secret kept in ``path`` (created owner-readable only, if missing), as bytes.

    Used for the pseudonymisation key, the entry app's identity key and its cookie secret.
    O_EXCL makes two processes starting at once agree on one secret instead of overwriting.
    """
    if not path.exists():
        private_dir(path.parent, tighten=False)  # a missing folder is made 0700; the data folder is tightened
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32) + "\n")
    else:
        restrict(path)  # a key made by hand, or by an older version, with the umask's mode
    return bytes.fromhex(path.read_text(encoding="ascii").strip())


def initialise(workspace: Workspace) -> str:
    """Create or migrate the store; returns the schema revision. The data folder is made
    owner-only on the way (``secure_data_folder``)."""
    secure_data_folder(workspace.config)
    revision = workspace.store.migrate()
    sync_municipalities(workspace.store, workspace.contracts)
    ensure_secret(workspace.config.pseudonym_key_file)
    return revision
