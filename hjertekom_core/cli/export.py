"""``hjertekom export``: data out of the workbench (the DHRD transfer)."""
from __future__ import annotations

from pathlib import Path

import click

from hjertekom_core.cli.common import acting_user, friendly_errors, user_option, workspace


@click.group()
def export() -> None:
    """Exports: the monthly DHRD transfer."""


@export.command("dhrd")
@click.option("--month", required=True, metavar="YYYY-MM",
              help="The month whose ended courses (end meeting or drop-out date in the month) are transferred.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for the transfer; it gets a new sub-folder dhrd-YYYY-MM (or dhrd-YYYY-MM-2, ...).")
@click.option("--snapshot", "snapshot_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None,
              help="Identified snapshot to read. Default: a fresh one of the store, kept in <data_dir>/snapshots.")
@user_option
@click.pass_context
@friendly_errors
def dhrd(ctx: click.Context, month: str, out_dir: Path, snapshot_file: Path | None, username: str | None) -> None:
    """Write the DHRD transfer of one month: data file, rejects report and manifest (administrators only)."""
    from hjertekom_core.export.dhrd import export_dhrd, require_permission

    ws = workspace(ctx)
    user = acting_user(ws, username)
    lang = ws.config.language
    require_permission(user, lang, store=ws.store)
    done = export_dhrd(ws.store, ws.contracts, user, month, out_dir, snapshot=snapshot_file,
                       snapshot_dir=ws.config.data_dir / "snapshots", lang=lang)
    click.echo(done.describe(lang))
    if done.rejected_courses:
        click.echo({"en": f"{done.rejected_courses} course(s) were not transferred; see {done.files['rejects']}"}
                   .get(lang, f"{done.rejected_courses} forløb blev ikke overført; se {done.files['rejects']}"),
                   err=True)
