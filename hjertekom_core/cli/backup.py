"""``hjertekom backup`` and ``hjertekom restore``: a consistent copy of the running store, and
putting one back (docs/operations.md says what else to back up, and how to test a restore)."""
from __future__ import annotations

from pathlib import Path

import click

from hjertekom_core.cli.common import acting_user, friendly_errors, user_option, workspace


@click.command()
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The backup file to write (0600): a SQLite file, or pg_dump's custom format for PostgreSQL.")
@user_option
@click.pass_context
@friendly_errors
def backup(ctx: click.Context, out_file: Path, username: str | None) -> None:
    """Back up the store while it runs (SQLite's online backup, or pg_dump); audited."""
    from hjertekom_core import audit
    from hjertekom_core.backup import backup as make_backup

    ws = workspace(ctx)
    actor = acting_user(ws, username)
    # The whole store, every citizen: the data owner or an administrator (a refusal is audited).
    audit.require(ws.store, actor, "snapshot.identified", "store")
    click.echo(make_backup(ws.store, out_file, actor=actor).describe())


@click.command()
@click.argument("backup_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a store that holds data (a SQLite store is kept beside it).")
@click.pass_context
@friendly_errors
def restore(ctx: click.Context, backup_file: Path, force: bool) -> None:
    """Restore a backup into the configured store, check it and print its schema revision.

    Stop `hjertekom serve` first: a SQLite store open in another process is refused.
    """
    from hjertekom_core.access import SYSTEM
    from hjertekom_core.backup import restore as put_back

    ws = workspace(ctx)
    result = put_back(ws.store, backup_file, force=force, actor=SYSTEM)
    click.echo(result.describe())
    head = ws.store.head_revision()
    if result.schema_revision != head:
        click.echo(f"The backup's schema is {result.schema_revision}; this version's is {head}: "
                   "run `hjertekom init` to migrate it.")
