"""The entry app's public routes, each behind a session, and kernels that answer only their owner.

``secure_routes`` takes Voilà's route table and returns ours: every handler is replaced by a
checked one or wrapped so that it needs a valid session, and a handler class this module does not
know makes the server refuse to start (fail closed: a new Voilà route is never served unchecked).

- The page (``PageHandler``): issues the identity token for the kernel it starts and, before the
  browser can learn the kernel's id from the page, gives that kernel to the session.
- Kernels (``KernelAuthorizer``): Jupyter Server asks the authorizer before the kernel's API and
  websocket; only the owning session passes, every refusal is audited.
- The websocket (``KernelWebsocketHandler``): counts connections (a page's liveness) and treats
  messages from the page as use of the session (for the idle timeout).
- Closing a tab (``ShutdownKernelHandler``): needs the _xsrf token (the page's cookie) and ownership.
- ``SessionHandler``: the page's script asks every few seconds whether its session is still open
  (and says its page is still there); it does not count as use. While the server stops (SIGTERM,
  server.py) it answers ``restarting`` and the page says so; new pages get 503 meanwhile, so the
  proxy sends them to another host.
- ``HealthHandler`` and ``MetricsHandler``: ``/healthz`` and ``/metrics`` (monitoring.py).
"""
from __future__ import annotations

import inspect
import json
import logging
import re
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.authorizer import Authorizer
from jupyter_server.auth.decorator import allow_unauthenticated, authorized
from jupyter_server.base.handlers import APIHandler, FileFindHandler, JupyterHandler
from jupyter_server.services.kernels.handlers import KernelHandler
from tornado import web
from voila.request_info_handler import RequestInfoSocketHandler
from voila.shutdown_kernel_handler import VoilaShutdownKernelHandler
from voila.static_file_handler import AllowListFileHandler, MultiStaticFileHandler, TemplateStaticFileHandler
from voila.tornado.handler import TornadoVoilaHandler
from voila.tornado.kernel_websocket_handler import VoilaKernelWebsocketHandler

from hjertekom_widgets.client_address import client_address
from hjertekom_widgets.guard import Guard
from hjertekom_widgets.monitoring import CONTENT_TYPE_LATEST, SETTINGS_KEY, Monitor, health_json

log = logging.getLogger(__name__)

IDENTITY_HEADER = "X-HjerteKom-Identity"
KERNEL_ID = r"(?P<kernel_id>\w+-\w+-\w+-\w+-\w+)"
SESSION_ROUTE = r"/hjertekom/api/session"
HEALTH_ROUTE = r"/healthz"
METRICS_ROUTE = r"/metrics"
_KERNEL_IN_PAGE = re.compile(r'"kernelId":\s*"([\w-]+)"')


def _guard(handler: web.RequestHandler) -> Guard:
    return handler.settings["identity_provider"].guard  # type: ignore[no-any-return]


def _monitor(handler: web.RequestHandler) -> Monitor | None:
    return handler.settings.get(SETTINGS_KEY)  # type: ignore[no-any-return]


def _session_of(handler: web.RequestHandler) -> str | None:
    return getattr(handler.current_user, "session_id", None)


class KernelAuthorizer(Authorizer):
    """Kernels belong to the session whose page started them; nothing else is authorised."""

    def is_authorized(self, handler: JupyterHandler, user: Any, action: str, resource: str) -> bool:
        guard = _guard(handler)
        kernel_id = getattr(handler, "kernel_id", None) or handler.path_kwargs.get("kernel_id")
        session_id = _session_of(handler)
        if resource == "kernels" and kernel_id and session_id \
                and guard.registry.owner(kernel_id) == session_id:
            return True
        guard.deny(getattr(user, "username", None), f"{resource}.{action}", "kernel", kernel_id,
                   "not this session's kernel" if resource == "kernels" else "not served",
                   client_address(handler))
        return False


class PageHandler(TornadoVoilaHandler):
    """The entry app's page, with the kernel that serves it given to the session asking."""

    @web.authenticated
    async def get(self, path: str | None = None) -> None:
        guard = _guard(self)
        monitor = _monitor(self)
        if monitor is not None and monitor.draining:
            # Stopping: no new kernel here; the proxy tries the next host (proxy_next_upstream http_503).
            self.set_header("Retry-After", "5")
            raise web.HTTPError(503)
        user = self.current_user
        token = guard.registry.issue(user.session_id, user.username)
        self.request.headers[IDENTITY_HEADER] = token  # Voilà hands this header to the kernel
        _ = self.xsrf_token  # sets the _xsrf cookie: the page's API calls and its shutdown beacon carry it
        tail, assigned = "", False
        async for html in self.get_generator(path=path):
            if not assigned:
                found = _KERNEL_IN_PAGE.search(tail + html)
                if found:
                    # Before the browser can read the id, the kernel must be this session's.
                    if not guard.registry.assign(found.group(1), token):
                        log.error("kernel %s could not be given to a session", found.group(1))
                        raise web.HTTPError(500)
                    assigned = True
                tail = (tail + html)[-200:]
            self.write(html)
            self.flush()


class KernelWebsocketHandler(VoilaKernelWebsocketHandler):
    """The kernel's channels; ownership is checked by ``KernelAuthorizer`` in ``pre_get``."""

    async def open(self, kernel_id: str) -> None:  # type: ignore[override]
        _guard(self).registry.connected(kernel_id)
        self._hk_counted = kernel_id
        await super().open(kernel_id)

    def on_message(self, ws_message: Any) -> None:
        session_id = _session_of(self)
        if session_id:
            _guard(self).touch(session_id)
        super().on_message(ws_message)

    def on_close(self) -> None:
        counted = getattr(self, "_hk_counted", None)
        if counted:
            _guard(self).registry.disconnected(counted)
        super().on_close()


class ShutdownKernelHandler(APIHandler):
    """Close the kernel of a tab being closed (Voilà's beacon carries the page's _xsrf cookie)."""

    auth_resource = "kernels"

    @web.authenticated
    @authorized
    async def post(self, kernel_id: str) -> None:
        await _guard(self).shutdown(kernel_id, "its page was closed")
        self.set_status(204)
        self.finish()


class SessionHandler(APIHandler):
    """``GET /hjertekom/api/session?kernel=<id>``: is my session open, is my kernel alive?"""

    passive_session_check = True  # asking does not count as use (see HjerteKomIdentityProvider)

    @allow_unauthenticated  # answers "signed out" itself, with the reason, instead of a redirect
    def get(self) -> None:
        self.set_header("Cache-Control", "no-store")
        user = self.current_user
        if user is None:
            self.set_status(401)
            # No session cookie at all, on a page that had one: it was cleared by logging out.
            reason = getattr(self, "hk_session_ended", None) or "logout"
            self.finish(json.dumps({"signed_in": False, "reason": reason}))
            return
        kernel_id = self.get_argument("kernel", "")
        guard = _guard(self)
        alive = bool(kernel_id) and guard.registry.heartbeat(kernel_id, user.session_id)
        answer = {"signed_in": True, "kernel": alive, "idle_timeout_seconds": int(guard.idle.total_seconds())}
        monitor = _monitor(self)
        if monitor is not None and monitor.draining:
            answer["restarting"] = True   # the page says so (its input is autosaved) and stops asking
            if alive:
                monitor.told.add(kernel_id)
        self.finish(json.dumps(answer))


class SessionRequired:
    """Mixin for Voilà's and Jupyter's static file handlers: no file without a valid session."""

    async def prepare(self) -> None:
        done = super().prepare()  # type: ignore[misc]
        if inspect.isawaitable(done):
            await done
        if isinstance(self, JupyterHandler):
            user = self.current_user
        else:
            user = await ensure_async(self.settings["identity_provider"].get_user(self))  # type: ignore[attr-defined]
        if user is None:
            raise web.HTTPError(403)


def _session_required(cls: type) -> type:
    return type(f"SessionRequired{cls.__name__}", (SessionRequired, cls), {})


#: Voilà's handler classes and what serves their routes here.
_REPLACED: dict[type, type | None] = {
    TornadoVoilaHandler: PageHandler,
    VoilaKernelWebsocketHandler: KernelWebsocketHandler,
    VoilaShutdownKernelHandler: ShutdownKernelHandler,
    RequestInfoSocketHandler: None,  # served on the private socket only (internal_api.py)
}
#: Checked by Jupyter Server itself: login required, and ``KernelAuthorizer`` asked.
_CHECKED: frozenset[type] = frozenset({KernelHandler})
#: Static files (no data, but still only for signed-in users).
_STATIC: frozenset[type] = frozenset({TemplateStaticFileHandler, MultiStaticFileHandler, AllowListFileHandler,
                                      FileFindHandler})


def _static_kind(cls: type) -> bool:
    return any(issubclass(cls, s) for s in _STATIC)


def secure_routes(voila_routes: list[Any], own: list[Any]) -> list[Any]:
    """Our routes first, then Voilà's, each replaced, wrapped or refused (see module docstring)."""
    out: list[Any] = list(own)
    for route in voila_routes:
        pattern, cls, *rest = route
        if cls in _REPLACED:
            replacement = _REPLACED[cls]
            if replacement is None:
                continue
            if replacement is ShutdownKernelHandler:
                pattern = pattern.replace("(.*)", KERNEL_ID)
            out.append((pattern, replacement, *rest))
        elif cls in _CHECKED or issubclass(cls, HjerteKomHandler):
            out.append(route)
        elif _static_kind(cls):
            out.append((pattern, _session_required(cls), *rest))
        else:
            raise RuntimeError(f"route {pattern} of {cls.__name__} has no security policy; refusing to serve it")
    return out


class HjerteKomHandler(JupyterHandler):
    """Base of our own pages: a login is required unless a method says otherwise; errors are a
    short Danish page, never a traceback. The login form's answers are counted for /metrics."""

    def on_finish(self) -> None:
        super().on_finish()
        monitor = _monitor(self)
        if monitor is not None and self.request.method == "POST" and self.request.path.endswith("/login"):
            monitor.count_login(self.get_status())

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        from hjertekom_widgets.text import t

        key = {403: "error.forbidden", 404: "error.not_found"}.get(status_code, "unexpected")
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(f'<!doctype html><html lang="da"><head><meta charset="utf-8"><title>HjerteKom</title></head>'
                    f'<body><p role="alert">{t(key)}</p><p><a href="{self.base_url}">{t("reports.back")}</a></p>'
                    "</body></html>")


class HealthHandler(HjerteKomHandler):
    """``GET /healthz``: 200 when this host can serve, 503 when its store does not answer or it
    is stopping. No session needed; the answer names no person (monitoring.py)."""

    @allow_unauthenticated
    async def get(self) -> None:
        monitor = _monitor(self)
        if monitor is None:
            raise web.HTTPError(503)
        status, body = await monitor.health(_guard(self).store)
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(health_json(body))


class MetricsHandler(HjerteKomHandler):
    """``GET /metrics`` (Prometheus text format), only with the bearer token of the private file
    ``metrics.token``; anything else is 401 and says nothing more."""

    @allow_unauthenticated
    def get(self) -> None:
        monitor = _monitor(self)
        self.set_header("Cache-Control", "no-store")
        if monitor is None or not monitor.token_ok(self.request.headers.get("Authorization", "")):
            log.warning("refused /metrics from %s: no valid token", client_address(self))
            self.set_status(401)
            self.set_header("WWW-Authenticate", 'Bearer realm="hjertekom-metrics"')
            self.finish()
            return
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(monitor.metrics_text())
