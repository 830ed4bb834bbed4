"""``hjertekom audit``: reading the audit log (``search``) and the yearly evidence pack for the
external auditor (``report``). Both need ``audit.read`` and are themselves audited."""
from __future__ import annotations

from pathlib import Path

import click

from hjertekom_core.cli.common import acting_user, friendly_errors, user_option, workspace


@click.group()
def audit() -> None:
    """The audit log: search it, and the yearly report for the auditor."""


@audit.command("report")
@click.option("--year", type=click.IntRange(2000, 2100), required=True, help="The calendar year, e.g. 2025.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder in which a new 0700 folder revision-<year>-<time> is written.")
@user_option
@click.pass_context
@friendly_errors
def audit_report(ctx: click.Context, year: int, out_dir: Path, username: str | None) -> None:
    """The evidence pack for the yearly audit: PDF and CSV per control, with a checksum manifest."""
    from hjertekom_core.audit_report import write_report

    ws = workspace(ctx)
    made = write_report(ws.store, acting_user(ws, username), year, out_dir, chromium=ws.config.chromium)
    click.echo(made.describe())


@audit.command("search")
@click.option("--user", "who", default="", help="Entries of this username.")
@click.option("--citizen", default="", help="Entries of this citizen id (the citizen and their courses).")
@click.option("--cpr", "ask_cpr", is_flag=True,
              help="Ask for a CPR number (hidden) and search by that citizen; the number is never shown or logged.")
@click.option("--action", default="", help="An action, or a family of them (login: login.*).")
@click.option("--municipality", default="", help="Municipality code.")
@click.option("--from", "date_from", default="", help="First day, e.g. 01-01-2025.")
@click.option("--to", "date_to", default="", help="Last day, e.g. 31-12-2025.")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write every match as CSV (0600) instead of printing the newest 50.")
@user_option
@click.pass_context
@friendly_errors
def audit_search(ctx: click.Context, who: str, citizen: str, ask_cpr: bool, action: str, municipality: str,
                 date_from: str, date_to: str, out_file: Path | None, username: str | None) -> None:
    """Search the audit log (administrators)."""
    from dataclasses import replace

    from hjertekom_core.audit_search import (
        citizen_id_for_cpr,
        describe_detail,
        export_rows,
        parse_filter,
        search,
        write_export,
    )

    ws = workspace(ctx)
    actor = acting_user(ws, username)
    flt = parse_filter({"user": who, "citizen": citizen, "action": action, "municipality": municipality,
                        "from": date_from, "to": date_to})
    extra = {}
    if ask_cpr:
        found = citizen_id_for_cpr(ws.store, click.prompt("CPR-nummer", hide_input=True))
        extra = {"by_cpr": True, "found": found is not None}
        if found is None:
            click.echo("Ingen borger med det CPR-nummer / no citizen with that CPR number")
        flt = replace(flt, citizen_id=found if found is not None else -1)
    if out_file is not None:
        rows = export_rows(ws.store, actor, flt, detail=extra)
        write_export(rows, out_file)
        click.echo(f"{len(rows) - 1} entries written to {out_file}")
        return
    page = search(ws.store, actor, flt, detail=extra)
    for row in page.rows:
        click.echo(f"{row['at']:%Y-%m-%d %H:%M:%S} {row['username']:14} {row['action']:22} {row['entity']}:"
                   f"{row['entity_id'] or '-'} {row['municipality_code'] or ''} {describe_detail(row['detail'])}")
    click.echo(f"{page.total} entries" + (f" (newest {len(page.rows)} shown)" if page.total > len(page.rows) else ""))
