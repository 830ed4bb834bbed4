"""Feedback computed once per server instead of in every form kernel.

The feedback after a save needs pandas, SciPy and DuckDB (about 150 MB). Loading them into each
kernel would put every open form far above its memory budget, so the Voilà server, which is one
process, renders the feedback and the kernels fetch it over loopback HTTP. The kernel proves who
its user is with the signed identity the server gave it (see auth.py); the server then reads the
course through the service layer (authorised and audited) as that user.
"""
from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import JupyterHandler
from tornado import web
from tornado.ioloop import IOLoop

from hjertekom_core.access import User
from hjertekom_core.bootstrap import Workspace
from hjertekom_core.errors import AccessDenied, NotFound
from hjertekom_widgets.auth import IDENTITY_ENV, HjerteKomIdentityProvider, verify_identity

log = logging.getLogger(__name__)

SERVER_URL_ENV = "HJERTEKOM_SERVER_URL"
ROUTE = r"/hjertekom/api/feedback/(\d+)"
_SCHEME = "HjerteKom "


def render_feedback(workspace: Workspace, user: User, course_id: int) -> dict[str, str]:
    """The citizen's and the municipality's feedback for one course, as HTML."""
    from hjertekom_core.indicators import settings_from_config
    from hjertekom_core.indicators.live import live_indicators
    from hjertekom_core.service import Service
    from hjertekom_widgets.feedback import course_feedback_html, municipality_feedback_html

    service = Service(workspace.store, workspace.contracts, user)
    course = service.get_course(course_id)
    contract = workspace.contracts[course.programme]
    settings = settings_from_config(workspace.config)
    municipal = live_indicators(workspace.store, workspace.contracts, settings, [course.municipality_code])
    return {"course": course_feedback_html(contract, course, settings=settings),
            "municipality": municipality_feedback_html(municipal,
                                                       completion_limit_days=settings.completion_limit_days)}


class FeedbackHandler(JupyterHandler):
    """GET the feedback of a course for the kernel's user (Authorization: HjerteKom <identity>)."""

    workspace: Workspace | None = None  # set by server.serve()

    @allow_unauthenticated  # a kernel has no cookie; it proves its user with the signed identity
    async def get(self, course_id: str) -> None:
        provider: HjerteKomIdentityProvider = self.identity_provider  # type: ignore[assignment]
        header = self.request.headers.get("Authorization", "")
        username = verify_identity(provider.identity_key, header[len(_SCHEME):]) if header.startswith(_SCHEME) \
            else None
        account = provider.accounts.get(username) if username and provider.accounts else None
        if account is None or self.workspace is None:
            raise web.HTTPError(403)
        try:
            # DuckDB and pandas work outside the event loop, so other users are not held up.
            body = await IOLoop.current().run_in_executor(None, render_feedback, self.workspace, account,
                                                          int(course_id))
        except (NotFound, AccessDenied):
            raise web.HTTPError(404) from None
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(body, ensure_ascii=False))


def fetch_feedback(course_id: int, timeout: float = 15.0) -> dict[str, str] | None:
    """Kernel side: the feedback from the server, or None when no server answers (then the caller
    renders it itself)."""
    base, token = os.environ.get(SERVER_URL_ENV), os.environ.get(IDENTITY_ENV)
    if not base or not token:
        return None
    request = urllib.request.Request(f"{base.rstrip('/')}/hjertekom/api/feedback/{course_id}",
                                     headers={"Authorization": _SCHEME + token})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - our own server
            data: Any = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        log.warning("feedback service unavailable (%s); rendering in the kernel", type(exc).__name__)
        return None
    return {"course": str(data["course"]), "municipality": str(data["municipality"])}
