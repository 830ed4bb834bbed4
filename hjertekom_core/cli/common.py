"""What every command shares: the workspace of the configuration, and friendly errors."""
from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import time
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from hjertekom_core.access import SYSTEM, User
from hjertekom_core.bootstrap import Workspace, open_workspace
from hjertekom_core.config import load_config
from hjertekom_core.errors import AuthenticationFailed, HjerteKomError, LoginLocked
from hjertekom_core.logs import setup_logging
from hjertekom_core.users import PasswordChangeRequired, authenticate, must_change_password

log = logging.getLogger("hjertekom.cli")
F = TypeVar("F", bound=Callable[..., Any])


def workspace(ctx: click.Context) -> Workspace:
    obj = ctx.ensure_object(dict)
    if "workspace" not in obj:
        config = load_config(obj.get("config_file"))
        setup_logging(config.log_file, config.log_level)
        obj["workspace"] = open_workspace(config)
        from hjertekom_core.audit_report import record_software_start

        # Which version ran which command, for the yearly audit (the command's name, never its arguments).
        record_software_start(obj["workspace"].store, ctx.command_path.partition(" ")[2] or ctx.command_path)
    return obj["workspace"]


def friendly_errors(func: F) -> F:
    """Known errors become a one-line message and exit code 1; unknown ones are logged in full."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (HjerteKomError, ValueError) as exc:
            log.warning("%s failed: %s", func.__name__, type(exc).__name__)
            raise click.ClickException(str(exc)) from None
        except click.ClickException:
            raise
        except BrokenPipeError:  # e.g. `hjertekom status | head`: the reader has gone, not an error
            sys.stderr.close()
            raise SystemExit(0) from None
        except Exception:
            log.exception("unexpected error in %s", func.__name__)
            raise click.ClickException("unexpected error; see the log file for details") from None

    return wrapper  # type: ignore[return-value]


def user_option(func: F) -> F:
    """``--user NAME``: act as this user (password from $HJERTEKOM_PASSWORD, or asked for).

    Without it a command acts as the system data owner: whoever runs the command line holds the
    configuration and the store already. With it, the user's role and municipalities are checked
    and the audit log names the user.
    """
    return click.option("--user", "username", envvar="HJERTEKOM_USER", default=None,
                        help="Act as this user (password from $HJERTEKOM_PASSWORD or a prompt).")(func)


def acting_user(ws: Workspace, username: str | None) -> User:
    """The user a command acts as (see ``user_option``); a wrong password is a clear error.

    Throttled like the web login (``login_max_failures``, ``login_lockout_minutes``), counted per
    account name only: the command line has no client address. The growing delay after a failure
    is slept here, since a command serves one person; a lock is reported at once (no password was
    checked, and the message says until when).
    """
    if username is None:
        return SYSTEM
    password = os.environ.get("HJERTEKOM_PASSWORD")
    if password is None:
        password = click.prompt(f"Password for {username}", hide_input=True)
    config = ws.config
    try:
        user = authenticate(ws.store, username, password, max_failures=config.login_max_failures,
                            lockout=dt.timedelta(minutes=config.login_lockout_minutes))
    except LoginLocked:
        raise
    except AuthenticationFailed as exc:
        time.sleep(exc.delay_seconds)
        raise
    if must_change_password(ws.store, user.id):  # reset by an administrator: nothing else until changed
        raise PasswordChangeRequired(username)
    return user


def snapshot_file(ws: Workspace, given: Path | None, *, pseudonymised: bool = False) -> Path:
    """The snapshot a command reads: the one given, else the newest in <data_dir>/snapshots (a
    pseudonymised one: in the research workspace's snapshots/ folder), else a new one made now
    (audited like `hjertekom snapshot`). The newest is passed over when a citizen was restricted,
    lifted or erased after it was made: it would still show them (citizen_erasure.py)."""
    from hjertekom_core.citizen_erasure import predates_rights_change
    from hjertekom_core.research.cohort import research_dir
    from hjertekom_core.snapshot import create_audited_snapshot, newest_snapshot

    if given is not None:
        return given
    folder = research_dir(ws.config) if pseudonymised else ws.config.data_dir / "snapshots"
    found = newest_snapshot(folder, pseudonymised=pseudonymised)
    if found is not None and not predates_rights_change(ws.store, found):
        return found
    from hjertekom_core.indicators import settings_from_config

    info = create_audited_snapshot(ws.store, ws.contracts, folder, SYSTEM, pseudonymise=pseudonymised,
                                   key_file=ws.config.pseudonym_key_file,
                                   indicator_settings=settings_from_config(ws.config))  # for a pseudonymised one
    why = "No snapshot yet" if found is None else "The newest snapshot predates a restriction or erasure"
    click.echo(f"{why}; made {info.path}", err=True)
    return info.path
