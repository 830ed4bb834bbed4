"""``hjertekom users``: add and list users (role and the municipalities each may act in)."""
from __future__ import annotations

import json

import click

from hjertekom_core.access import ROLES, SYSTEM
from hjertekom_core.cli.common import friendly_errors, workspace


@click.group()
def users() -> None:
    """Add and list users (role and the municipalities each may act in)."""


@users.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--name", "display_name", default=None, help="Display name (default: the username).")
@click.option("--municipality", "-m", "codes", type=int, multiple=True,
              help="Municipality code the user acts in; repeat for several.")
@click.option("--password", envvar="HJERTEKOM_NEW_PASSWORD", prompt=True, hide_input=True,
              confirmation_prompt=True, help="Prompted for unless HJERTEKOM_NEW_PASSWORD is set.")
@click.pass_context
@friendly_errors
def users_add(ctx: click.Context, username: str, role: str, display_name: str | None, codes: tuple[int, ...],
              password: str) -> None:
    """Add a user."""
    from hjertekom_core.users import add_user

    ws = workspace(ctx)
    user = add_user(ws.store, SYSTEM, username, display_name or username, role, password, codes)
    click.echo(f"Added {user.username} ({user.role}) for municipalities {sorted(user.municipalities) or 'all'}")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@friendly_errors
def users_list(ctx: click.Context, as_json: bool) -> None:
    """List users."""
    from hjertekom_core.users import list_users

    found = list_users(workspace(ctx).store, SYSTEM)
    if as_json:
        click.echo(json.dumps([{"username": u.username, "name": u.display_name, "role": u.role,
                                "municipalities": sorted(u.municipalities)} for u in found], ensure_ascii=False))
        return
    for u in found:
        click.echo(f"{u.username:20} {u.role:14} {','.join(map(str, sorted(u.municipalities))) or 'alle'}")
