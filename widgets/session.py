"""Kernel side: who is signed in, learned only from what the server put in the environment."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hjertekom_core.access import User
from hjertekom_core.bootstrap import Workspace, open_workspace
from hjertekom_core.config import load_config
from hjertekom_core.errors import HjerteKomError
from hjertekom_core.users import active_user
from hjertekom_widgets.auth import IDENTITY_ENV, verify_identity

SESSION_KEY_ENV = "HJERTEKOM_SESSION_KEY_FILE"


class NotSignedIn(HjerteKomError):
    """No valid identity from the server: the page must not show anything."""


@dataclass
class Session:
    workspace: Workspace
    user: User


def wait_for_request() -> None:
    """In a preheated kernel, block until Voilà hands over the request (and with it the identity)."""
    from voila.utils import wait_for_request as voila_wait

    voila_wait()


def start_session(workspace: Workspace | None = None) -> Session:
    """The workspace (opened here unless given, e.g. by a preheated kernel) and the signed-in user;
    raises NotSignedIn without a valid server identity."""
    config = workspace.config if workspace is not None else load_config()
    key_file = Path(os.environ.get(SESSION_KEY_ENV) or config.data_dir / "session.key")
    try:
        key = bytes.fromhex(key_file.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        raise NotSignedIn("no session key") from None
    username = verify_identity(key, os.environ.get(IDENTITY_ENV))
    if username is None:
        raise NotSignedIn("no valid identity from the server")
    workspace = workspace if workspace is not None else open_workspace(config)
    user = active_user(workspace.store, username)
    if user is None:
        raise NotSignedIn("account unknown or inactive")
    return Session(workspace, user)
