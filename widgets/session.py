"""Kernel side: who is signed in, learned only from the server over its private socket."""
from __future__ import annotations

from dataclasses import dataclass

from hjertekom_core.access import User
from hjertekom_core.bootstrap import Workspace, open_workspace
from hjertekom_core.config import load_config
from hjertekom_core.errors import HjerteKomError
from hjertekom_core.users import active_user
from hjertekom_widgets import internal_api


class NotSignedIn(HjerteKomError):
    """No valid identity from the server: the page must not show anything."""


@dataclass
class Session:
    workspace: Workspace
    user: User
    #: Signed in at an authenticating proxy (``hjertekom serve --trusted-header``): the user has no
    #: password in HjerteKom, so the questionnaire mode takes their PIN only.
    proxy: bool = False


def wait_for_request() -> None:
    """In a preheated kernel, block until the server hands over the request (and with it the identity)."""
    internal_api.wait_for_request()


def start_session(workspace: Workspace | None = None) -> Session:
    """The workspace (opened here unless given, e.g. by a preheated kernel) and the signed-in user;
    raises NotSignedIn unless the server vouches for this kernel's identity token."""
    found = internal_api.whoami_details()
    if found is None:
        raise NotSignedIn("no valid identity from the server")
    username, proxy = found
    workspace = workspace if workspace is not None else open_workspace(load_config(), pool_size=1)
    user = active_user(workspace.store, username)
    if user is None:
        raise NotSignedIn("account unknown or inactive")
    return Session(workspace, user, proxy)
