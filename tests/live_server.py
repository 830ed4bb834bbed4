"""A real ``hjertekom serve`` for tests, and an HTTP/websocket client that behaves like a browser
(or like an attacker with curl): cookies, the _xsrf token, no redirects followed.

Imported as a plain module by the conftest files that need a server (tests/browser,
tests/security); the servers run in process groups of their own and are killed at the end.
"""
from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

SERVER_START_TIMEOUT_S = 90
SESSION_COOKIE = "hjertekom-session"
_KERNEL_IN_PAGE = re.compile(r'"kernelId":\s*"([\w-]+)"')


def hjertekom_command() -> str:
    """The venv's ``hjertekom`` (beside the Python that runs pytest)."""
    beside = Path(sys.executable).parent / "hjertekom"
    if beside.exists():
        return str(beside)
    found = shutil.which("hjertekom")
    if found is None:
        pytest.fail("the hjertekom command is not installed beside the test Python (make install)")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(data_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment without any HjerteKom setting of the caller, and the temporary data folder
    (with its own reports folder, never the checkout's reports/)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HJERTEKOM_")}
    env["HJERTEKOM_DATA_DIR"] = str(data_dir)
    env["HJERTEKOM_REPORTS_DIR"] = str(data_dir / "reports")
    env.update(extra or {})
    return env


def log_tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


@dataclass
class RunningServer:
    """One ``hjertekom serve`` process (the leader of its own process group; kernels are its children)."""

    base_url: str
    data_dir: Path
    proc: subprocess.Popen[bytes]
    output: Path
    host: str = "127.0.0.1"
    port: int = 0

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def log_file(self) -> Path:
        return self.data_dir / "hjertekom.log"

    def kernels(self) -> dict[str, psutil.Process]:
        """The server's running kernels by kernel id (from each kernel's connection file name)."""
        found = {}
        for child in psutil.Process(self.pid).children(recursive=True):
            try:
                cmd = " ".join(child.cmdline())
            except psutil.Error:
                continue
            match = re.search(r"kernel-([\w-]+)\.json", cmd)
            if "ipykernel_launcher" in cmd and match:
                found[match.group(1)] = child
        return found

    def wait_for_kernels(self, count: int = 1, timeout: float = 60.0) -> dict[str, psutil.Process]:
        """The running kernels once there are ``count`` (a preheated kernel is forked seconds after
        the server answers, once its kernel zygote has imported the app)."""
        deadline = time.monotonic() + timeout
        while len(found := self.kernels()) < count:
            assert time.monotonic() < deadline, f"fewer than {count} kernel(s) after {timeout} s"
            time.sleep(0.2)
        return found

    def connection_dir(self) -> Path:
        match = re.search(r"Storing connection files in (\S+?)\.?$", self.output.read_text(errors="replace"), re.M)
        assert match, log_tail(self.output)
        return Path(match.group(1))

    def internal_socket(self) -> Path:
        return self.connection_dir() / "hjertekom.sock"

    def stop(self) -> None:
        stop_process_group(self.proc)


def wait_for_login_page(url: str, proc: subprocess.Popen[bytes], output: Path, status: int = 200) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    parts = urllib.parse.urlsplit(url)
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"hjertekom serve exited with {proc.returncode}:\n{log_tail(output)}")
        try:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
            try:  # closed also when the half-started server times out: no socket left to the garbage collector
                conn.request("GET", parts.path)
                answer = conn.getresponse().status
            finally:
                conn.close()
            if answer == status:
                return
            last = f"HTTP {answer}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.25)
    pytest.fail(f"{url} did not answer {status} within {SERVER_START_TIMEOUT_S} s ({last}):\n{log_tail(output)}")


def stop_process_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server's process group (Voilà shuts its kernels down on SIGTERM)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)


def start_server(data_dir: Path, *args: str, env: Mapping[str, str] | None = None, host: str = "127.0.0.1",
                 login_status: int = 200, name: str = "serve") -> RunningServer:
    """``hjertekom serve`` on ``data_dir`` (initialised already) with extra arguments; waits until the
    login page answers ``login_status`` (403 behind a proxy: there is no login form)."""
    port = free_port()
    output = data_dir / f"{name}-{port}.out"
    with output.open("wb") as out:
        proc = subprocess.Popen([hjertekom_command(), "serve", "--port", str(port), *args], cwd=data_dir,
                                env=server_env(data_dir, env), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    base_url = f"http://{host}:{port}"
    try:
        wait_for_login_page(f"{base_url}/login", proc, output, login_status)
    except BaseException:
        stop_process_group(proc)
        raise
    return RunningServer(base_url, data_dir, proc, output, host, port)


@contextmanager
def running_server(data_dir: Path, *args: str, **kwargs: Any) -> Iterator[RunningServer]:
    server = start_server(data_dir, *args, **kwargs)
    try:
        yield server
    finally:
        server.stop()


def init_data_dir(data_dir: Path) -> None:
    done = subprocess.run([hjertekom_command(), "init"], cwd=data_dir, env=server_env(data_dir),
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        pytest.fail(f"hjertekom init failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


# --- a client that speaks HTTP and the kernel websocket like a browser --------------------------------

@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @property
    def location(self) -> str:
        return self.headers.get("location", "")

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebClient:
    """Cookies, the _xsrf token and nothing else a browser adds; redirects are not followed."""

    base_url: str
    cookies: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    source_address: str | None = None  # another "host" on loopback, e.g. 127.0.0.3

    def _conn(self) -> http.client.HTTPConnection:
        parts = urllib.parse.urlsplit(self.base_url)
        source = (self.source_address, 0) if self.source_address else None
        return http.client.HTTPConnection(parts.hostname, parts.port, timeout=120, source_address=source)

    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def request(self, method: str, path: str, body: Mapping[str, str] | bytes | None = None,
                headers: Mapping[str, str] | None = None) -> Answer:
        sent = {**self.headers, **(headers or {})}
        if self.cookies:
            sent["Cookie"] = self.cookie_header()
        data = None
        if isinstance(body, Mapping):
            data = urllib.parse.urlencode(body).encode()
            sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
        elif body is not None:
            data = body
        conn = self._conn()
        try:
            conn.request(method, path, body=data, headers=sent)
            response = conn.getresponse()
            answer = Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
            for name, value in response.getheaders():
                if name.lower() == "set-cookie":
                    cookie, _, _ = value.partition(";")
                    key, _, val = cookie.partition("=")
                    if val in ('""', "") or "expires=Thu, 01 Jan 1970" in value or "Max-Age=0" in value:
                        self.cookies.pop(key.strip(), None)
                    else:
                        self.cookies[key.strip()] = val.strip()
            return answer
        finally:
            conn.close()

    def get(self, path: str, **kwargs: Any) -> Answer:
        return self.request("GET", path, **kwargs)

    @property
    def xsrf(self) -> str:
        return urllib.parse.unquote(self.cookies.get("_xsrf", ""))

    def post(self, path: str, data: Mapping[str, str] | None = None, *, xsrf: bool = True,
             headers: Mapping[str, str] | None = None) -> Answer:
        body = dict(data or {})
        if xsrf:
            body["_xsrf"] = self.xsrf
        return self.request("POST", path, body=body, headers=headers)

    def login(self, username: str, password: str) -> Answer:
        self.get("/login")
        return self.post("/login?next=%2F", {"username": username, "password": password})

    def open_app(self) -> str:
        """Load the app's page; returns the id of the kernel that serves it."""
        page = self.get("/")
        assert page.status == 200, (page.status, page.location)
        found = _KERNEL_IN_PAGE.search(page.text)
        assert found, page.text[:2000]
        return found.group(1)

    def websocket(self, path: str, **kwargs: Any) -> Any:
        """A websocket to ``path`` with this client's cookies (raises InvalidStatus when refused)."""
        from websockets.sync.client import connect

        ws_url = self.base_url.replace("http://", "ws://") + path
        headers = dict(self.headers)
        if self.cookies:
            headers["Cookie"] = self.cookie_header()
        parts = urllib.parse.urlsplit(self.base_url)
        sock = socket.create_connection((parts.hostname, parts.port), timeout=30,
                                        source_address=(self.source_address, 0) if self.source_address else None)
        return connect(ws_url, sock=sock, additional_headers=headers, open_timeout=30, **kwargs)


# --- the browser --------------------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 800}


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's chromium through Playwright (browser downloads are impossible here)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"the browser tests need Debian's chromium at {CHROMIUM} (make chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def kernel_message(msg_type: str, content: Mapping[str, Any] | None = None, channel: str = "shell",
                   session: str = "test-session") -> str:
    """One message of the Jupyter kernel protocol as the browser sends it over the websocket."""
    return json.dumps({
        "header": {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "session": session, "username": "",
                   "date": "2026-01-01T00:00:00Z", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "content": dict(content or {}), "channel": channel, "buffers": []})


def status_of_refused_websocket(open_it: Any) -> int:
    """The HTTP status with which a websocket handshake was refused (0 if it was accepted)."""
    from websockets.exceptions import InvalidStatus

    try:
        with open_it():
            pass
    except InvalidStatus as refused:
        return int(refused.response.status_code)
    except ValueError as redirected:  # sent round to the login page
        if "redirect" in str(redirected):
            return 302
        raise
    return 0
