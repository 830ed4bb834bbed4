"""Commands of ``hjertekom citizen`` (gathered in cli/citizen.py): restriction and erasure.

``restrict`` / ``lift`` (GDPR art. 18) and ``erase`` (art. 17) find the citizen by CPR number:
asked for (hidden, so that it stays out of the shell's history and the process list) unless
``--cpr`` or $HJERTEKOM_CPR gives it. ``--reason`` is kept (never in the audit log) and must not
hold a CPR number or the citizen's name. ``erase`` shows what it will remove and asks before it
does, unless ``--yes``. What each does and why: hjertekom_core/citizen_erasure.py and
docs/citizens-rights.md.
"""
from __future__ import annotations

import click

from hjertekom_core.cli.common import acting_user, friendly_errors, user_option, workspace

_CPR_HELP = ("The citizen's CPR number; asked for (hidden) when not given, which keeps it out of the shell's "
             "history.")
_REASON_HELP = ("Why (e.g. the municipality's case number and who asked). Kept with the record, never in the "
                "audit log; no CPR number or name.")


def _cpr_option(func):  # type: ignore[no-untyped-def]
    return click.option("--cpr", envvar="HJERTEKOM_CPR", prompt="CPR-nummer", hide_input=True, help=_CPR_HELP)(func)


@click.command("restrict")
@_cpr_option
@click.option("--reason", required=True, help=_REASON_HELP)
@user_option
@click.pass_context
@friendly_errors
def citizen_restrict(ctx: click.Context, cpr: str, reason: str, username: str | None) -> None:
    """Restriction (art. 18): keep the citizen, but out of entry, reports, extracts, DHRD and snapshots."""
    from hjertekom_core.citizen_erasure import restrict

    ws = workspace(ctx)
    click.echo(restrict(ws.store, acting_user(ws, username), cpr, reason, contracts=ws.contracts).describe())
    click.echo("Snapshots lavet før nu indeholder stadig borgeren; nye gør ikke. / Older snapshots still hold "
               "the citizen; new ones do not.")


@click.command("lift")
@_cpr_option
@click.option("--reason", required=True, help=_REASON_HELP)
@user_option
@click.pass_context
@friendly_errors
def citizen_lift(ctx: click.Context, cpr: str, reason: str, username: str | None) -> None:
    """Lift a restriction: the citizen is back everywhere."""
    from hjertekom_core.citizen_erasure import lift

    ws = workspace(ctx)
    click.echo(lift(ws.store, acting_user(ws, username), cpr, reason).describe())


@click.command("erase")
@_cpr_option
@click.option("--reason", required=True, help=_REASON_HELP)
@click.option("--category", type=click.Choice(["citizen_request", "registered_in_error", "unlawful", "other"]),
              default="citizen_request", show_default=True, help="Why, as a category (kept and audited).")
@click.option("--yes", is_flag=True, help="Do not ask before erasing.")
@user_option
@click.pass_context
@friendly_errors
def citizen_erase(ctx: click.Context, cpr: str, reason: str, category: str, yes: bool, username: str | None) -> None:
    """Erasure (art. 17): remove the citizen and every registration; a tombstone and the audit trail remain."""
    from hjertekom_core.citizen_erasure import erase, preview_erasure, snapshots_before
    from hjertekom_core.research.cohort import research_dir

    ws = workspace(ctx)
    user = acting_user(ws, username)
    if not yes:
        click.echo(preview_erasure(ws.store, ws.contracts, user, cpr, reason).describe())
        if not click.confirm("Slet borgeren og alle registreringer for altid? / Erase for good?"):
            raise click.ClickException("Afbrudt: intet er slettet. / Stopped: nothing was erased.")
    result = erase(ws.store, ws.contracts, user, cpr, reason, category=category, key_file=ws.config.pseudonym_key_file)
    click.echo(result.describe())
    for folder in (ws.config.data_dir / "snapshots", research_dir(ws.config)):
        older = snapshots_before(folder, result.erased_at)
        if older.files:
            click.echo(f"{len(older.files)} snapshot(s) i {folder} er lavet før sletningen og indeholder borgeren; "
                       "slet dem, når de ikke længere skal bruges. / snapshots made before the erasure still hold "
                       "the citizen.")


#: The click commands this module adds to ``hjertekom citizen``.
COMMANDS: list[click.Command] = [citizen_restrict, citizen_lift, citizen_erase]
