"""A clinician's browser, without the browser: HTTP (login, the page, the session check) and the
Jupyter kernel websocket speaking ipywidgets' comm messages, as Voilà's page script does.

Used by the load benchmark (hosted_load.py). What it sends is what the page sends, and nothing
else (the server lets only comm and kernel_info messages through, widgets/server.py):

* ``kernel_info_request`` when the socket opens, then a ``comm_open`` on ipywidgets' control
  target and ``request_states`` on it: the kernel answers with the state of every widget on the
  page (``update_states``), which is how the page's widget manager gets the models it renders;
* ``comm_msg`` ``update`` with a widget's new state (typing into a field, the page script's
  hidden channels) and ``custom`` ``{"event": "click"}`` (a button).

The kernel announces new widgets with ``comm_open`` and changes with ``comm_msg`` ``update``
(``echo_update`` for the changes we sent); the client keeps every model's state, so widgets are
found as the page finds them: by their CSS classes (``_dom_classes``) and their place in the tree.
A click counts as answered when the kernel reports ``idle`` for it: by then every change it
caused has been sent (iopub keeps the order).

The socket speaks the protocol the page negotiates, ``v1.kernel.websocket.jupyter.org`` (Voilà's
@jupyterlab/services asks for it): the server relays the kernel's frames without decoding them.
The legacy JSON protocol, used when a server does not offer v1, makes the server decode and encode
every message, work a real page never costs it (measured: about 45% of the server's thread in a
wave of 20 logins, 2026-12-07).
"""
from __future__ import annotations

import asyncio
import html
import json
import re
import struct
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse
from tornado.websocket import WebSocketClientConnection, websocket_connect

_KERNEL_IN_PAGE = re.compile(r'"kernelId":\s*"([\w-]+)"')
WIDGET_TARGET = "jupyter.widget"
CONTROL_TARGET = "jupyter.widget.control"
PROTOCOL_VERSION = "2.1.0"   # ipywidgets 8's comm protocol
CONTROL_PROTOCOL_VERSION = "1.0.0"  # and that of its control comm
V1_PROTOCOL = "v1.kernel.websocket.jupyter.org"  # the kernel websocket protocol the page asks for


class ClientError(RuntimeError):
    """A step of a clinician did not give what the browser would show."""


def _unpack_binary(frame: bytes) -> dict[str, Any]:
    """Jupyter's legacy binary websocket frame: n, n offsets (uint32 big-endian), the JSON message,
    then its buffers (which widget states carry for bytes; not used by this app's widgets)."""
    n = struct.unpack("!I", frame[:4])[0]
    offsets = struct.unpack(f"!{n}I", frame[4:4 + 4 * n])
    end = offsets[1] if n > 1 else len(frame)
    msg = json.loads(frame[offsets[0]:end])
    msg["buffers"] = [frame[offsets[i]:(offsets[i + 1] if i + 1 < n else len(frame))] for i in range(1, n)]
    return msg


def _pack_v1(channel: str, parts: list[bytes]) -> bytes:
    """The v1 frame: the number of offsets, the offsets (uint64 little-endian), the channel's name,
    then the message's parts (header, parent header, metadata, content, buffers)."""
    chunks = [channel.encode(), *parts]
    offsets = [8 * (len(chunks) + 2)]
    for chunk in chunks:
        offsets.append(offsets[-1] + len(chunk))
    return b"".join([len(offsets).to_bytes(8, "little"), *(o.to_bytes(8, "little") for o in offsets), *chunks])


def _unpack_v1(frame: bytes) -> dict[str, Any]:
    n = int.from_bytes(frame[:8], "little")
    offsets = [int.from_bytes(frame[8 * (i + 1):8 * (i + 2)], "little") for i in range(n)]
    chunks = [frame[offsets[i]:offsets[i + 1]] for i in range(n - 1)]
    channel, header, parent, metadata, content, *buffers = chunks
    return {"channel": channel.decode(), "header": json.loads(header), "parent_header": json.loads(parent),
            "metadata": json.loads(metadata), "content": json.loads(content), "buffers": buffers}


@dataclass
class Browser:
    """One clinician's browser tab against one base URL (a host, or the proxy in front of them)."""

    base_url: str
    cookies: dict[str, str] = field(default_factory=dict)
    http: AsyncHTTPClient = field(default_factory=AsyncHTTPClient)
    kernel_id: str = ""
    ws: WebSocketClientConnection | None = None
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    session: str = field(default_factory=lambda: uuid.uuid4().hex)
    _idle: dict[str, asyncio.Future[None]] = field(default_factory=dict)
    _reader: asyncio.Task[None] | None = None
    _watch: tuple[str, Any, list[float]] | None = None  # (model id, predicate on its state, [time seen])
    _closed: bool = False
    messages_in: int = 0
    _route_seq: int = 0   # the page script's numbering of its address reports

    # --- HTTP --------------------------------------------------------------------------------------
    def _cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def _keep_cookies(self, response: HTTPResponse) -> None:
        for value in response.headers.get_list("Set-Cookie"):
            cookie = value.split(";", 1)[0]
            key, _, val = cookie.partition("=")
            if val in ('""', "") or "Max-Age=0" in value or "expires=Thu, 01 Jan 1970" in value:
                self.cookies.pop(key.strip(), None)
            else:
                self.cookies[key.strip()] = val.strip()

    async def request(self, method: str, path: str, body: dict[str, str] | None = None,
                      headers: dict[str, str] | None = None, timeout: float = 120) -> HTTPResponse:
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = self._cookie_header()
        data = None
        if body is not None:
            data = urllib.parse.urlencode(body)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        elif method == "POST":
            data = ""
        req = HTTPRequest(self.base_url + path, method=method, headers=sent, body=data, follow_redirects=False,
                          request_timeout=timeout, connect_timeout=timeout)
        try:
            response = await self.http.fetch(req, raise_error=False)
        except HTTPClientError as exc:  # pragma: no cover - raise_error=False leaves only transport errors
            raise ClientError(f"{method} {path}: {exc}") from None
        if response.code == 599:
            raise ClientError(f"{method} {path}: {response.error}")
        self._keep_cookies(response)
        return response

    @property
    def xsrf(self) -> str:
        return urllib.parse.unquote(self.cookies.get("_xsrf", ""))

    async def login(self, username: str, password: str) -> None:
        page = await self.request("GET", "/login")
        if page.code != 200 or not self.xsrf:
            raise ClientError(f"login page: HTTP {page.code}")
        answer = await self.request("POST", "/login?next=%2F",
                                    {"username": username, "password": password, "_xsrf": self.xsrf})
        if answer.code not in (302, 303):
            raise ClientError(f"login refused: HTTP {answer.code}")

    async def open_page(self) -> None:
        """GET / (Voilà hands a kernel to the page and runs the app's start in it)."""
        page = await self.request("GET", "/", timeout=180)
        if page.code != 200:
            raise ClientError(f"app page: HTTP {page.code} {page.headers.get('Location', '')}")
        found = _KERNEL_IN_PAGE.search(page.body.decode("utf-8", "replace"))
        if not found:
            raise ClientError("app page without a kernel")
        self.kernel_id = found.group(1)

    async def check_session(self) -> bool:
        """The page script's check every 5 s: the session is open and this page's kernel runs."""
        answer = await self.request("GET", f"/hjertekom/api/session?kernel={self.kernel_id}")
        if answer.code != 200:
            return False
        body = json.loads(answer.body)
        return bool(body.get("signed_in")) and bool(body.get("kernel", True))

    async def close_tab(self) -> None:
        """What closing the tab does: the socket closes and Voilà's beacon shuts the kernel down."""
        self._closed = True
        if self.ws is not None:
            self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
        if self.kernel_id:
            await self.request("POST", f"/voila/api/shutdown/{self.kernel_id}",
                               headers={"X-XSRFToken": self.xsrf})

    async def logout(self) -> None:
        await self.request("POST", "/logout", {"_xsrf": self.xsrf})

    # --- the kernel websocket ------------------------------------------------------------------------
    async def connect(self) -> None:
        url = (self.base_url.replace("http://", "ws://").replace("https://", "wss://")
               + f"/api/kernels/{self.kernel_id}/channels?session_id={self.session}")
        req = HTTPRequest(url, headers={"Cookie": self._cookie_header()}, connect_timeout=120, request_timeout=120)
        self.ws = await websocket_connect(req, max_message_size=256 * 1024 * 1024, subprotocols=[V1_PROTOCOL])
        self._reader = asyncio.ensure_future(self._read())
        await self.send_and_wait("kernel_info_request", {}, timeout=120)
        control = uuid.uuid4().hex
        await self.send_and_wait("comm_open", {"comm_id": control, "target_name": CONTROL_TARGET, "data": {}},
                                 metadata={"version": CONTROL_PROTOCOL_VERSION})
        await self.send_and_wait("comm_msg", {"comm_id": control, "data": {"method": "request_states"}},
                                 metadata={"version": CONTROL_PROTOCOL_VERSION})
        if not self.models:
            raise ClientError("the kernel sent no widget states")

    def _message(self, msg_type: str, content: dict[str, Any], metadata: dict[str, Any] | None = None,
                 channel: str = "shell") -> tuple[str, str | bytes]:
        msg_id = uuid.uuid4().hex
        header = {"msg_id": msg_id, "msg_type": msg_type, "session": self.session, "username": "",
                  "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "version": "5.3"}
        if self._v1:
            parts = [json.dumps(part).encode() for part in (header, {}, metadata or {}, content)]
            return msg_id, _pack_v1(channel, parts)
        msg = {"header": header, "parent_header": {}, "metadata": metadata or {}, "content": content,
               "channel": channel, "buffers": []}
        return msg_id, json.dumps(msg)

    @property
    def _v1(self) -> bool:
        return self.ws is not None and self.ws.selected_subprotocol == V1_PROTOCOL

    async def send_and_wait(self, msg_type: str, content: dict[str, Any], *, metadata: dict[str, Any] | None = None,
                            timeout: float = 120) -> float:
        """Send a shell message and wait until the kernel is idle after it; seconds taken."""
        if self.ws is None:
            raise ClientError("no websocket")
        msg_id, text = self._message(msg_type, content, metadata)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._idle[msg_id] = done
        t0 = time.perf_counter()
        await self.ws.write_message(text, binary=isinstance(text, bytes))
        try:
            await asyncio.wait_for(done, timeout)
        except asyncio.TimeoutError:
            raise ClientError(f"{msg_type}: no answer within {timeout:.0f} s") from None
        finally:
            self._idle.pop(msg_id, None)
        return time.perf_counter() - t0

    async def _read(self) -> None:
        assert self.ws is not None
        while True:
            frame = await self.ws.read_message()
            if frame is None:
                if not self._closed:
                    for fut in self._idle.values():
                        if not fut.done():
                            fut.set_exception(ClientError("the kernel websocket closed"))
                return
            if self._v1:
                msg = _unpack_v1(frame if isinstance(frame, bytes) else frame.encode())
            else:
                msg = _unpack_binary(frame) if isinstance(frame, bytes) else json.loads(frame)
            self.messages_in += 1
            self._handle(msg)

    def _handle(self, msg: dict[str, Any]) -> None:
        kind = msg.get("msg_type") or msg.get("header", {}).get("msg_type")
        content = msg.get("content", {})
        if kind == "status" and content.get("execution_state") == "idle":
            parent = msg.get("parent_header", {}).get("msg_id")
            fut = self._idle.get(parent)
            if fut is not None and not fut.done():
                fut.set_result(None)
        elif kind == "comm_open" and content.get("target_name") == WIDGET_TARGET:
            self.models[content["comm_id"]] = dict(content.get("data", {}).get("state", {}))
        elif kind == "comm_msg":
            data = content.get("data", {})
            method = data.get("method")
            if method in ("update", "echo_update"):
                self.models.setdefault(content["comm_id"], {}).update(data.get("state", {}))
            elif method == "update_states":
                for model_id, state in data.get("states", {}).items():
                    self.models[model_id] = dict(state.get("state", state))
        elif kind == "comm_close":
            self.models.pop(content.get("comm_id"), None)
        if self._watch is not None and not self._watch[2]:
            model_id, predicate, seen = self._watch
            if model_id in self.models and predicate(self.models[model_id]):
                seen.append(time.perf_counter())

    # --- widgets -----------------------------------------------------------------------------------
    def with_class(self, css: str) -> list[str]:
        return [mid for mid, s in self.models.items() if css in (s.get("_dom_classes") or ())]

    def one(self, css: str) -> str:
        found = self.with_class(css)
        if not found:
            raise ClientError(f"no widget .{css} on the page")
        return found[0]

    def children(self, model_id: str) -> list[str]:
        return [c.removeprefix("IPY_MODEL_") for c in self.models.get(model_id, {}).get("children", ())
                if isinstance(c, str)]

    def descendants(self, model_id: str) -> list[str]:
        out, todo = [], [model_id]
        while todo:
            for child in self.children(todo.pop()):
                out.append(child)
                todo.append(child)
        return out

    def shown(self, model_id: str) -> bool:
        """Whether ``model_id`` is in the page's tree (under the app's root box)."""
        root = self.with_class("hk-app")
        return bool(root) and model_id in self.descendants(root[0])

    async def set_value(self, model_id: str, value: Any) -> float:
        return await self.send_and_wait("comm_msg", {"comm_id": model_id, "data": {
            "method": "update", "state": {"value": value}, "buffer_paths": []}},
            metadata={"version": PROTOCOL_VERSION})

    async def click(self, model_id: str) -> float:
        return await self.send_and_wait("comm_msg", {"comm_id": model_id, "data": {
            "method": "custom", "content": {"event": "click"}}}, metadata={"version": PROTOCOL_VERSION})

    async def go_to(self, fragment: str) -> float:
        """What a click on a link to ``fragment`` (``#/forloeb/12``) does in the page: the page
        script reports the browser's new address over the route channel (widgets/routes.py)."""
        self._route_seq += 1
        return await self.set_value(self.one("hk-route-channel"),
                                    json.dumps({"seq": self._route_seq, "hash": fragment}))

    def link_in_row_of(self, css: str, text: str) -> str | None:
        """The link of the first table row that holds ``text`` in an HTML widget of class ``css``
        (the worklist's lists are HTML tables whose rows link to their course)."""
        for model_id in self.with_class(css):
            page = str(self.models.get(model_id, {}).get("value", ""))
            for row in re.findall(r"<tr class='hk-worklist-row'>(.*?)</tr>", page):
                if html.escape(text, quote=True) in row:
                    found = re.search(r"href='(#/[^']*)'", row)
                    if found:
                        return found.group(1)
        return None

    async def click_until(self, button_id: str, model_id: str, predicate: Any) -> tuple[float | None, float]:
        """Click, and return (seconds until ``predicate(state of model_id)`` first held, None if it
        never did before the kernel was idle; seconds until the kernel was idle)."""
        seen: list[float] = []
        self._watch = (model_id, predicate, seen)
        t0 = time.perf_counter()
        try:
            idle = await self.click(button_id)
        finally:
            self._watch = None
        return (seen[0] - t0 if seen else None), idle
