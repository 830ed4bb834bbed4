"""``hjertekom retention``: citizens past the retention period (``retention_years``).

``--dry-run`` lists who is due by internal id, municipality and dates (never a CPR number or a
name: the list is for the operator and the municipality's DPO to agree on counts; an administrator
finds a citizen by id in the entry app if a case must be looked at). ``--apply --mode erase`` erases
them, ``--apply --mode anonymise`` keeps their registrations for statistics without anything that
points at the person; both ask first unless ``--yes``. The rule and what remains:
hjertekom_core/retention.py and docs/citizens-rights.md.
"""
from __future__ import annotations

import click

from hjertekom_core.cli.common import acting_user, friendly_errors, user_option, workspace


@click.command("retention")
@click.option("--dry-run", "dry", is_flag=True, help="List who is past the retention period; change nothing.")
@click.option("--apply", "do_apply", is_flag=True, help="Erase or anonymise them (needs --mode).")
@click.option("--mode", type=click.Choice(["erase", "anonymise"]), default=None,
              help="With --apply: erase the citizens, or anonymise them (statistics kept).")
@click.option("--yes", is_flag=True, help="With --apply: do not ask first.")
@click.option("--limit", type=click.IntRange(0), default=200, show_default=True,
              help="Citizens listed at most (0: all); the counts cover everyone.")
@user_option
@click.pass_context
@friendly_errors
def retention(ctx: click.Context, dry: bool, do_apply: bool, mode: str | None, yes: bool, limit: int,
              username: str | None) -> None:
    """Retention: list (--dry-run) or erase/anonymise (--apply --mode) citizens past retention_years."""
    from hjertekom_core import retention as core

    if dry == do_apply:
        raise click.UsageError("Vælg enten --dry-run (vis) eller --apply (udfør). / Choose --dry-run or --apply.")
    if dry and mode is not None:
        raise click.UsageError("--mode hører til --apply; --dry-run ændrer intet. / --mode goes with --apply.")
    if do_apply and mode is None:
        raise click.UsageError("--apply kræver --mode erase (slet) eller --mode anonymise (anonymisér). / "
                               "--apply needs --mode erase or --mode anonymise.")
    ws = workspace(ctx)
    user = acting_user(ws, username)
    years = ws.config.retention_years
    plan = core.dry_run(ws.store, ws.contracts, user, years)
    for line in core.describe_plan(plan, limit or None):
        click.echo(line)
    if dry:
        return
    if not plan.ready:
        click.echo("Intet at slette eller anonymisere; intet er ændret. / Nothing to do; nothing was changed.")
        return
    mode = mode or ""  # given (checked above); core.apply refuses anything but erase and anonymise
    verb = "slettes" if mode == "erase" else "anonymiseres"
    if not yes:
        if not click.confirm(f"{len(plan.ready)} borgere {verb} nu. Fortsæt? / Continue?"):
            raise click.ClickException("Afbrudt: intet er ændret. / Stopped: nothing was changed.")
    result = core.apply(ws.store, ws.contracts, user, years, mode, key_file=ws.config.pseudonym_key_file)
    click.echo(result.describe())
