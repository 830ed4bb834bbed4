"""The channel between the entry app's server and its own kernels: a Unix socket, never TCP.

The socket lives in Voilà's private (0700) folder of kernel connection files, so only processes
of the service account reach it; nothing on it is reachable from a browser. It carries:

- ``/voila/query/<kernel id>``: the request of a page (with the identity token) handed to a
  preheated kernel (Voilà's own handler served this on the public port without a login);
- ``/whoami``: the user behind a kernel's identity token, while its session is open;
- ``/feedback/<course id>``: the feedback after a save, rendered once in the server (it needs
  pandas, SciPy and DuckDB, too heavy for every kernel; see feedback_api.py);
- ``POST /saves/begin`` and ``/saves/end``: a kernel's service save started and finished (outcome,
  seconds), for /metrics and for the drain on SIGTERM (monitoring.py). Nothing about the data.

Kernel side: ``wait_for_request``, ``whoami`` and ``get_json`` speak to it. ``report_saves_to_server``
(from ``wait_for_request``, so every kernel of the entry app has it) registers ``ServerSaveReports``
as the core's save observer (hjertekom_core/save_events.py): the start of a save is answered by the
server before the save touches the store, its end is reported from a thread of its own.
"""
from __future__ import annotations

import http.client
import itertools
import json
import logging
import os
import queue
import socket
import threading
from typing import Any

from tornado import web
from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop
from tornado.netutil import bind_unix_socket

from hjertekom_core.errors import AccessDenied, NotFound
from hjertekom_core.save_events import SaveOutcome, add_save_observer

log = logging.getLogger(__name__)

SOCKET_ENV = "HJERTEKOM_INTERNAL_SOCKET"
IDENTITY_ENV = "HTTP_X_HJERTEKOM_IDENTITY"  # how Voilà names the X-HjerteKom-Identity header for the kernel
SOCKET_NAME = "hjertekom.sock"
_SCHEME = "HjerteKom "


# --- server side -----------------------------------------------------------------------------------

def _request_info_handler() -> type[web.WebSocketHandler]:
    """Voilà's hand-over of a page request to a preheated kernel, on the private socket.

    Voilà's own ``on_close`` removed whichever waiter the loop ended on, so two connections with a
    made-up kernel id left the next two logins waiting forever; here a socket removes only itself.
    ``_waiters`` and ``_cache`` are Voilà's class dictionaries, which its page handler fills.
    Built when the server starts: importing Voilà costs a kernel (which imports this module for
    its client side) about 250 ms and 30 MB, for a class only the server uses.
    """
    from voila.request_info_handler import RequestInfoSocketHandler

    class RequestInfoHandler(RequestInfoSocketHandler):
        def open(self, kernel_id: str) -> None:  # type: ignore[override]
            self._kernel_id = kernel_id
            RequestInfoSocketHandler._waiters[kernel_id] = self
            payload = RequestInfoSocketHandler._cache.pop(kernel_id, None)
            if payload is not None:
                self.write_message(payload)

        def on_close(self) -> None:
            kernel_id = getattr(self, "_kernel_id", None)
            if kernel_id is not None and RequestInfoSocketHandler._waiters.get(kernel_id) is self:
                del RequestInfoSocketHandler._waiters[kernel_id]

    return RequestInfoHandler


class _KernelCaller(web.RequestHandler):
    """A request from one of our kernels, naming its user by its identity token."""

    def initialize(self, guard: Any) -> None:
        self.guard = guard

    async def caller(self) -> tuple[str, Any]:
        """(session id, user) of a live token whose session is open; 403 otherwise."""
        header = self.request.headers.get("Authorization", "")
        found = self.guard.registry.identity(header[len(_SCHEME):]) if header.startswith(_SCHEME) else None
        if found is None:
            raise web.HTTPError(403)
        session_id, username, _kernel = found
        state = await self.guard.state_off_loop(session_id, touch=False)
        if state.user is None or state.user.username != username:
            raise web.HTTPError(403)
        return session_id, state.user

    def reply(self, body: dict[str, Any]) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body, ensure_ascii=False))


class WhoAmIHandler(_KernelCaller):
    async def get(self) -> None:
        _session, user = await self.caller()
        # "proxy": users sign in at an authenticating proxy and have no password in HjerteKom (the
        # questionnaire mode then takes the PIN only).
        self.reply({"username": user.username, "proxy": bool(getattr(self.guard, "proxy_sign_in", False))})


class FeedbackHandler(_KernelCaller):
    async def get(self, course_id: str) -> None:
        from hjertekom_widgets.feedback_api import render_feedback

        _session, user = await self.caller()
        try:
            # DuckDB and pandas work outside the event loop, so other users are not held up.
            body = await IOLoop.current().run_in_executor(None, render_feedback, self.guard.workspace, user,
                                                          int(course_id))
        except (NotFound, AccessDenied):
            raise web.HTTPError(404) from None
        self.reply(body)


class SaveReportHandler(_KernelCaller):
    """A kernel says that a save started or ended (no data: outcome and seconds only)."""

    def initialize(self, guard: Any, monitor: Any = None) -> None:  # type: ignore[override]
        super().initialize(guard)
        self.monitor = monitor

    def post(self, phase: str) -> None:
        header = self.request.headers.get("Authorization", "")
        token = header[len(_SCHEME):] if header.startswith(_SCHEME) else ""
        # The token alone (no store query per save): a live token of this server's kernels.
        found = self.guard.registry.identity(token)
        if found is None:
            raise web.HTTPError(403)
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            raise web.HTTPError(400) from None
        key = f"{found[2] or token[:8]}:{body.get('seq', '')}"
        if self.monitor is not None:
            if phase == "begin":
                self.monitor.save_began(key)
            else:
                self.monitor.save_ended(key, float(body.get("seconds", 0.0)), str(body.get("outcome", "")))
        self.set_status(204)
        self.finish()


def start_internal_server(guard: Any, socket_path: str, monitor: Any = None) -> HTTPServer:
    """Serve the kernels' API on ``socket_path`` (mode 0600, in a 0700 folder)."""
    app = web.Application([
        (r"/voila/query/(?P<kernel_id>[\w-]+)", _request_info_handler()),
        (r"/whoami", WhoAmIHandler, {"guard": guard}),
        (r"/feedback/(\d{1,12})", FeedbackHandler, {"guard": guard}),
        (r"/saves/(begin|end)", SaveReportHandler, {"guard": guard, "monitor": monitor}),
    ])
    server = HTTPServer(app)
    server.add_socket(bind_unix_socket(socket_path, mode=0o600))
    log.info("kernel channel on %s", socket_path)
    return server


# --- kernel side -----------------------------------------------------------------------------------

class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self._path)
        except OSError:
            sock.close()   # a server gone or stopping: no socket left behind for each report
            raise
        self.sock = sock


class ServerUnavailable(OSError):
    """The server's private socket does not answer (or answered with an error)."""


def get_json(path: str, timeout: float = 15.0) -> dict[str, Any]:
    """GET ``path`` on the server's private socket as this kernel's user."""
    socket_path, token = os.environ.get(SOCKET_ENV), os.environ.get(IDENTITY_ENV)
    if not socket_path or not token:
        raise ServerUnavailable("no server channel or no identity")
    conn = _UnixConnection(socket_path, timeout)
    try:
        conn.request("GET", path, headers={"Authorization": _SCHEME + token})
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise ServerUnavailable(type(exc).__name__) from None
    finally:
        conn.close()
    if response.status != 200:
        raise ServerUnavailable(f"HTTP {response.status}")
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ServerUnavailable("unexpected answer")
    return data


def whoami() -> str | None:
    """The username behind this kernel's identity, or None (no identity, or its session ended)."""
    found = whoami_details()
    return found[0] if found else None


def whoami_details() -> tuple[str, bool] | None:
    """(username, signed in at an authenticating proxy) behind this kernel's identity, or None."""
    try:
        body = get_json("/whoami", timeout=10.0)
        return str(body["username"]), body.get("proxy") is True
    except (ServerUnavailable, KeyError, ValueError, TypeError, AttributeError):
        return None


def post_json(path: str, body: dict[str, Any], timeout: float = 5.0) -> None:
    """POST ``body`` to ``path`` on the server's private socket as this kernel's user."""
    socket_path, token = os.environ.get(SOCKET_ENV), os.environ.get(IDENTITY_ENV)
    if not socket_path or not token:
        raise ServerUnavailable("no server channel or no identity")
    conn = _UnixConnection(socket_path, timeout)
    try:
        conn.request("POST", path, body=json.dumps(body).encode(),
                     headers={"Authorization": _SCHEME + token, "Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise ServerUnavailable(type(exc).__name__) from None
    finally:
        conn.close()
    if response.status >= 300:
        raise ServerUnavailable(f"HTTP {response.status}")


class ServerSaveReports:
    """The kernel's save observer (hjertekom_core.save_events): tells the server of every save.

    ``begin`` is delivered before the save touches the store, synchronously (at most
    ``BEGIN_TIMEOUT`` seconds), so a drain that starts after it counts the save as in flight.
    A server that does not answer in time costs the save that wait and nothing else.
    ``end`` goes from a thread of its own, in order; the save never waits for it.
    """

    BEGIN_TIMEOUT = 0.5

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self._seq = itertools.count(1)
        threading.Thread(target=self._run, name="hjertekom-save-reports", daemon=True).start()

    def begin(self) -> int:
        seq = next(self._seq)
        try:
            post_json("/saves/begin", {"seq": seq}, timeout=self.BEGIN_TIMEOUT)
        except ServerUnavailable as exc:   # the save goes on; only the server's count misses it
            log.debug("save start not delivered (%s)", exc)
        return seq

    def end(self, token: int, outcome: SaveOutcome, seconds: float) -> None:
        self._queue.put({"seq": token, "outcome": outcome, "seconds": round(seconds, 6)})

    def _run(self) -> None:
        while True:
            body = self._queue.get()
            try:
                post_json("/saves/end", body, timeout=2.0)
            except ServerUnavailable as exc:   # metrics only: the save itself is not affected
                log.debug("save end not delivered (%s)", exc)


_reports: ServerSaveReports | None = None


def report_saves_to_server() -> None:
    """In a kernel of the entry app: register the observer that reports every ``Service.save``
    (start, end, outcome, seconds) to the server. Once per kernel; a kernel without the server's
    channel reports nothing."""
    global _reports
    if not os.environ.get(SOCKET_ENV) or _reports is not None:
        return
    _reports = ServerSaveReports()
    add_save_observer(_reports)


def wait_for_request(timeout: float | None = None) -> None:
    """In a preheated kernel, block until the server hands over the page request (with the identity).

    Voilà's own ``wait_for_request`` asks the public port; ours asks the private socket.
    """
    report_saves_to_server()
    if os.environ.get("VOILA_PREHEAT", "False") == "False":
        return
    from websockets.sync.client import unix_connect

    socket_path, kernel_id = os.environ.get(SOCKET_ENV), os.environ.get("VOILA_KERNEL_ID")
    if not socket_path or not kernel_id:
        return
    with unix_connect(socket_path, f"ws://localhost/voila/query/{kernel_id}") as ws:
        message = ws.recv(timeout=timeout)
    for key, value in json.loads(message).items():
        os.environ[key] = value
