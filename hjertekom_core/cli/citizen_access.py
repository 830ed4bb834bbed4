"""Commands of ``hjertekom citizen`` (gathered in cli/citizen.py): the right of access.

``hjertekom citizen export --out DIR`` asks for the CPR number (hidden, so that it stays out of the
shell's history and the process list); ``--cpr`` or $HJERTEKOM_CPR give it for scripts. What is
written and why: hjertekom_core/citizen_access.py and docs/citizens-rights.md.
"""
from __future__ import annotations

from pathlib import Path

import click

from hjertekom_core.cli.common import acting_user, friendly_errors, user_option, workspace


@click.command("export")
@click.option("--cpr", envvar="HJERTEKOM_CPR", prompt="CPR-nummer", hide_input=True,
              help="The citizen's CPR number; asked for (hidden) when not given, which keeps it out of the "
                   "shell's history.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder in which a new 0700 folder indsigt-<date>-borger<id> is written.")
@user_option
@click.pass_context
@friendly_errors
def citizen_export(ctx: click.Context, cpr: str, out_dir: Path, username: str | None) -> None:
    """Right of access: everything held about one citizen (JSON, HTML and PDF, with checksums)."""
    from hjertekom_core.citizen_access import write_export

    ws = workspace(ctx)
    made = write_export(ws.store, ws.contracts, acting_user(ws, username), cpr, out_dir, chromium=ws.config.chromium)
    click.echo(made.describe())


#: The click commands this module adds to ``hjertekom citizen``.
COMMANDS: list[click.Command] = [citizen_export]
