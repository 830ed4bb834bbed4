"""``hjertekom users``: user administration (role, and the programmes and municipalities each may
act in: a user's rights are (programme, municipality) pairs, ``*`` for every programme).

Every command acts as the system data owner, or with ``--user`` as that administrator; changes
are audited as who changed whom, with the values before and after (hjertekom_core/users.py).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import click

from hjertekom_core.access import ROLES
from hjertekom_core.cli.common import acting_user, friendly_errors, user_option, workspace


def _where(codes: tuple[int, ...] | frozenset[int]) -> str:
    return ",".join(map(str, sorted(codes))) or "alle"


def _programmes_option(func):  # type: ignore[no-untyped-def]
    return click.option(
        "--programme", "-p", "programmes", multiple=True, metavar="PROGRAMME",
        help="A programme the user acts in, in each of their municipalities; repeat for several "
             "(default: every loaded programme; '*': every programme, also those loaded later).")(func)


def _granted(record) -> str:  # type: ignore[no-untyped-def]
    """The programmes of a user record for a listing ('alle' for an administrator or '*')."""
    return record.programmes_text() if record.grants else "alle"


@click.group()
def users() -> None:
    """User administration: add, list, show, deactivate, reset passwords, clear PINs, change
    rights, contact details, review."""


@users.command("add")
@click.argument("account", metavar="USERNAME")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--name", "display_name", default=None, help="Display name (default: the username).")
@click.option("--municipality", "-m", "codes", type=int, multiple=True,
              help="Municipality code the user acts in; repeat for several.")
@_programmes_option
@click.option("--password", envvar="HJERTEKOM_NEW_PASSWORD", prompt=True, hide_input=True,
              confirmation_prompt=True, help="Prompted for unless HJERTEKOM_NEW_PASSWORD is set.")
@user_option
@click.pass_context
@friendly_errors
def users_add(ctx: click.Context, account: str, role: str, display_name: str | None, codes: tuple[int, ...],
              programmes: tuple[str, ...], password: str, username: str | None) -> None:
    """Add a user (in the programmes given, by default every loaded one, in each municipality)."""
    from hjertekom_core.users import add_user

    ws = workspace(ctx)
    loaded = ws.contracts.programmes
    user = add_user(ws.store, acting_user(ws, username), account, display_name or account, role, password, codes,
                    programmes or loaded, known_programmes=loaded)
    granted = ", ".join(sorted({p for p, _ in user.grants or ()})) or "all"
    click.echo(f"Added {user.username} ({user.role}) for municipalities {sorted(user.municipalities) or 'all'}, "
               f"programmes {granted if user.municipalities else 'all'}")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@user_option
@click.pass_context
@friendly_errors
def users_list(ctx: click.Context, as_json: bool, username: str | None) -> None:
    """List users (with --user as a coordinator: the users of their municipalities)."""
    from hjertekom_core.users import user_records

    ws = workspace(ctx)
    found = user_records(ws.store, acting_user(ws, username))
    if as_json:
        click.echo(json.dumps([{"username": u.username, "name": u.display_name, "role": u.role,
                                "municipalities": list(u.municipalities),
                                "programmes": u.as_user().granted()} for u in found if u.active]
                              + [{"username": u.username, "name": u.display_name, "role": u.role,
                                  "municipalities": list(u.municipalities),
                                  "programmes": u.as_user().granted(), "active": False}
                                 for u in found if not u.active], ensure_ascii=False))
        return
    for u in found:
        state = "" if u.active else "  (lukket / deactivated)"
        click.echo(f"{u.username:20} {u.role:14} {_where(u.municipalities):16} {_granted(u)}{state}")


@users.command("show")
@click.argument("account", metavar="USERNAME")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@user_option
@click.pass_context
@friendly_errors
def users_show(ctx: click.Context, account: str, as_json: bool, username: str | None) -> None:
    """One user: role, municipalities, active, last login, last change."""
    from hjertekom_core.users import contact_of, last_changes, local_text, show_user

    ws = workspace(ctx)
    u = show_user(ws.store, acting_user(ws, username), account)
    with ws.store.read() as conn:
        changed_at, changed_by = last_changes(conn).get(u.id, (None, ""))
        contact = contact_of(conn, u.id)
    facts = {"username": u.username, "name": u.display_name, "role": u.role,
             "municipalities": list(u.municipalities), "programmes": _granted(u), "active": u.active,
             "must_change_password": u.must_change_password, "created_at": local_text(u.created_at),
             "last_login_at": local_text(u.last_login_at), "last_changed_at": local_text(changed_at),
             "last_changed_by": changed_by, "phone": contact.phone or "", "email": contact.email or "",
             "pin": u.has_pin}
    if as_json:
        click.echo(json.dumps(facts, ensure_ascii=False))
        return
    for key, value in facts.items():
        click.echo(f"{key:22} {value if value not in ('', []) else '-'}")


def _report_change(change, what: str) -> None:  # type: ignore[no-untyped-def]
    if not change.changed:
        click.echo(f"{change.user.username}: {what} unchanged (uændret)")
        return
    ended = f"; {change.sessions_ended} open session(s) ended" if change.sessions_ended else ""
    click.echo(f"{change.user.username}: {what}{ended}")


@users.command("deactivate")
@click.argument("account", metavar="USERNAME")
@user_option
@click.pass_context
@friendly_errors
def users_deactivate(ctx: click.Context, account: str, username: str | None) -> None:
    """Close an account: no login, and its open sessions end now."""
    from hjertekom_core.users import deactivate_user

    ws = workspace(ctx)
    _report_change(deactivate_user(ws.store, acting_user(ws, username), account), "deactivated (adgang lukket)")


@users.command("reactivate")
@click.argument("account", metavar="USERNAME")
@user_option
@click.pass_context
@friendly_errors
def users_reactivate(ctx: click.Context, account: str, username: str | None) -> None:
    """Open a closed account again."""
    from hjertekom_core.users import reactivate_user

    ws = workspace(ctx)
    _report_change(reactivate_user(ws.store, acting_user(ws, username), account), "reactivated (adgang åbnet)")


@users.command("set-role")
@click.argument("account", metavar="USERNAME")
@click.argument("role", type=click.Choice(ROLES))
@user_option
@click.pass_context
@friendly_errors
def users_set_role(ctx: click.Context, account: str, role: str, username: str | None) -> None:
    """Change a user's role (their open sessions end)."""
    from hjertekom_core.users import set_role

    ws = workspace(ctx)
    _report_change(set_role(ws.store, acting_user(ws, username), account, role), f"role {role}")


@users.command("set-municipalities")
@click.argument("account", metavar="USERNAME")
@click.option("--municipality", "-m", "codes", type=int, multiple=True,
              help="Municipality code the user acts in; repeat for several (none: for an administrator or "
                   "researcher).")
@user_option
@click.pass_context
@friendly_errors
def users_set_municipalities(ctx: click.Context, account: str, codes: tuple[int, ...], username: str | None) -> None:
    """Set the municipalities a user acts in (their open sessions end)."""
    from hjertekom_core.users import set_municipalities

    ws = workspace(ctx)
    change = set_municipalities(ws.store, acting_user(ws, username), account, codes)
    _report_change(change, f"municipalities {_where(change.user.municipalities)}")


@users.command("set-programmes")
@click.argument("account", metavar="USERNAME")
@_programmes_option
@user_option
@click.pass_context
@friendly_errors
def users_set_programmes(ctx: click.Context, account: str, programmes: tuple[str, ...], username: str | None) -> None:
    """Set the programmes a user acts in, in each of their municipalities (their open sessions end).
    An unknown programme changes nothing."""
    from hjertekom_core.users import set_programmes

    ws = workspace(ctx)
    loaded = ws.contracts.programmes
    change = set_programmes(ws.store, acting_user(ws, username), account, programmes or loaded,
                            known_programmes=loaded)
    _report_change(change, f"programmes {_granted(change.user)}")


@users.command("contact")
@click.argument("account", metavar="USERNAME")
@click.option("--phone", default=None, help="Work phone, e.g. '87 22 33 44' or '+45 87223344'.")
@click.option("--email", default=None, help="Work e-mail, e.g. hjerte@silkeborg.dk.")
@click.option("--clear-phone", is_flag=True, help="Remove the phone number.")
@click.option("--clear-email", is_flag=True, help="Remove the e-mail address.")
@user_option
@click.pass_context
@friendly_errors
def users_contact(ctx: click.Context, account: str, phone: str | None, email: str | None, clear_phone: bool,
                  clear_email: bool, username: str | None) -> None:
    """Set a user's work phone and e-mail, which sign their course summaries for hospital and GP
    (what is not given stays as it is)."""
    from hjertekom_core.users import contact_of, get_user, set_contact

    if (phone is not None and clear_phone) or (email is not None and clear_email):
        raise click.UsageError("Angiv enten en værdi eller --clear-..., ikke begge / give a value or --clear-..., "
                               "not both")
    if phone is None and email is None and not (clear_phone or clear_email):
        raise click.UsageError("Angiv --phone, --email, --clear-phone eller --clear-email / give --phone, --email, "
                               "--clear-phone or --clear-email")
    ws = workspace(ctx)
    actor = acting_user(ws, username)
    with ws.store.read() as conn:  # the value not given is kept: set_contact sets both at once
        current = contact_of(conn, get_user(ws.store, account).id)
    new_phone = "" if clear_phone else (current.phone if phone is None else phone)
    new_email = "" if clear_email else (current.email if email is None else email)
    change = set_contact(ws.store, actor, account, new_phone, new_email)
    if not change.changed:
        click.echo(f"{account}: kontaktoplysninger uændrede / contact details unchanged")
        return
    shown = ", ".join(f"{label} {'-' if value in (None, '') else value.strip()}"
                      for label, value in (("tlf./phone", new_phone), ("e-mail", new_email)))
    click.echo(f"{account}: kontaktoplysninger gemt / contact details saved ({shown})")


@users.command("clear-pin")
@click.argument("account", metavar="USERNAME")
@user_option
@click.pass_context
@friendly_errors
def users_clear_pin(ctx: click.Context, account: str, username: str | None) -> None:
    """Remove a user's PIN for the questionnaire mode (forgotten, or seen by someone); the user
    sets a new one on "Min PIN-kode" in the entry app."""
    from hjertekom_core.users import clear_pin

    ws = workspace(ctx)
    change = clear_pin(ws.store, acting_user(ws, username), account)
    if not change.changed:
        click.echo(f"{account}: har ingen PIN-kode / has no PIN")
        return
    click.echo(f"{account}: PIN-koden er fjernet / the PIN is removed")


@users.command("reset-password")
@click.argument("account", metavar="USERNAME")
@click.option("--given", is_flag=True,
              help="Ask for the new password (or take $HJERTEKOM_NEW_PASSWORD) instead of making a random one.")
@user_option
@click.pass_context
@friendly_errors
def users_reset_password(ctx: click.Context, account: str, given: bool, username: str | None) -> None:
    """A new password (random, printed once), to be changed at the next login; open sessions end."""
    from hjertekom_core.users import reset_password

    ws = workspace(ctx)
    actor = acting_user(ws, username)
    password = None
    if given:
        password = os.environ.get("HJERTEKOM_NEW_PASSWORD") or click.prompt(
            f"New password for {account}", hide_input=True, confirmation_prompt=True)
    done = reset_password(ws.store, actor, account, password)
    if done.generated:
        click.echo(f"New password for {account} (shown once; give it to the user in person): {done.password}")
    else:
        click.echo(f"Password of {account} set.")
    click.echo("It must be changed at the next login (skal skiftes ved næste log-ind)"
               + (f"; {done.sessions_ended} open session(s) ended." if done.sessions_ended else "."))


@users.command("change-password")
@click.argument("account", metavar="USERNAME")
@click.pass_context
@friendly_errors
def users_change_password(ctx: click.Context, account: str) -> None:
    """Choose your own new password (old, new, repeat; $HJERTEKOM_PASSWORD and $HJERTEKOM_NEW_PASSWORD
    for scripts)."""
    import datetime as dt

    from hjertekom_core.users import change_own_password

    ws = workspace(ctx)
    old = os.environ.get("HJERTEKOM_PASSWORD") or click.prompt("Nuværende adgangskode / current password",
                                                               hide_input=True)
    new = os.environ.get("HJERTEKOM_NEW_PASSWORD")
    repeat = new
    if new is None:
        new = click.prompt("Ny adgangskode / new password", hide_input=True)
        repeat = click.prompt("Gentag ny adgangskode / repeat the new password", hide_input=True)
    config = ws.config
    change_own_password(ws.store, account, old, new, repeat or "", max_failures=config.login_max_failures,
                        lockout=dt.timedelta(minutes=config.login_lockout_minutes))
    click.echo(f"Adgangskoden er skiftet / the password of {account} is changed.")


@users.command("review")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The CSV to write (0600).")
@user_option
@click.pass_context
@friendly_errors
def users_review(ctx: click.Context, out_file: Path, username: str | None) -> None:
    """The rights review: every active user, role, municipalities, last login and last change (CSV);
    accounts unused for 90 days are flagged."""
    from hjertekom_core.users import rights_review, write_review_csv

    ws = workspace(ctx)
    rows = rights_review(ws.store, acting_user(ws, username))
    write_review_csv(rows, out_file)
    unused = [r.user.username for r in rows if r.unused]
    click.echo(f"{out_file}: {len(rows)} active user(s); {len(unused)} unused for 90 days or more"
               + (f": {', '.join(unused)}" if unused else ""))
