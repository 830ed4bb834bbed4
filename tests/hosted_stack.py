"""The hosted set-up, brought up for real: nginx in front of two ``hjertekom serve`` hosts on one
PostgreSQL database (docs/deployment.md). For tests and for benchmarks; a plain module.

    from hosted_stack import hosted_stack

    with hosted_stack(tmp_path, users=[alice, bob]) as stack:
        stack.url                  # nginx, e.g. "http://127.0.0.1:41234" (what the browser opens)
        stack.hosts                # [RunningServer, RunningServer] (live_server.py): .base_url, .pid,
                                   #   .kernels(), .log_file; host "a" first
        stack.host_of_kernel(kid)  # which host runs that kernel (None: neither)
        stack.kill(stack.hosts[0]) # SIGKILL a host and its kernels (a machine that dies)
        stack.database_url         # the scratch database; stack.store() opens a Store on it
        stack.metrics(host)        # a host's /metrics text (read with its token)

``hosted_stack(work_dir, *, users=(), mode="login", hosts=2, pool_size=1, server_args=(),
env=None)``: ``users`` are objects with ``username``, ``password``, ``display_name``, ``role`` and
``municipality`` (e.g. tests/browser/browser_accounts.ACCOUNTS), added before the hosts start.
``mode="proxy"``: nginx authenticates (basic authentication with the users' passwords) and passes
``X-Forwarded-User`` with the proxy secret; the hosts run with ``--trusted-header``.

What is real: Debian's nginx (``/usr/sbin/nginx``, run as a foreground process of our own with
its config, pid, logs and temp files in ``work_dir/nginx``; the system service is never touched),
including the shipped snippets of ``deploy/nginx/hjertekom/`` unchanged; a fresh PostgreSQL
database (dropped at the end); each host with its own data folder, sharing the secrets that must
be equal on every host (cookie.secret, pseudonym.key, proxy.secret). All ports are picked free.
Everything started is stopped at the end, also when the body fails.

Building blocks for other set-ups: ``scratch_database``, ``init_store``, ``share_secrets``,
``write_nginx_config`` (the snippets around any list of upstream addresses), ``start_nginx``,
``stop_nginx``, ``http_get``.
"""
from __future__ import annotations

import base64
import hashlib
import http.client
import os
import secrets
import shutil
import signal
import subprocess
import time
import urllib.parse
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from hjertekom_core.bootstrap import ensure_secret
from live_server import RunningServer, free_port, hjertekom_command, log_tail, server_env, start_server
from paths import PG_URL

REPO = Path(__file__).resolve().parents[1]
NGINX = Path("/usr/sbin/nginx")
NGINX_SNIPPETS = REPO / "deploy" / "nginx" / "hjertekom"
SHARED_SECRETS = ("cookie.secret", "pseudonym.key", "proxy.secret")
TRUSTED_HEADER = "X-Forwarded-User"
START_TIMEOUT_S = 30


@dataclass
class HostedStack:
    url: str
    hosts: list[RunningServer]
    database_url: str
    mode: str
    work_dir: Path
    nginx: subprocess.Popen[bytes]
    _stores: list[Any] = field(default_factory=list)

    @property
    def nginx_dir(self) -> Path:
        return self.work_dir / "nginx"

    def host_of_kernel(self, kernel_id: str) -> RunningServer | None:
        for host in self.hosts:
            if host.proc.poll() is None and kernel_id in host.kernels():
                return host
        return None

    def kill(self, host: RunningServer) -> None:
        """SIGKILL the host and its kernels at once (no drain, no goodbye), as a machine that dies.
        Kernels run in process groups of their own (setsid), so the host's group alone would leave
        them running after the test: every descendant is found first and killed with it."""
        import psutil

        try:
            kernels = psutil.Process(host.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            kernels = []
        try:
            os.killpg(host.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for kernel in kernels:
            try:
                kernel.kill()
            except psutil.NoSuchProcess:
                pass
        host.proc.wait(timeout=10)

    def store(self) -> Any:
        """A Store on the stack's database (disposed at the end of the stack)."""
        from hjertekom_core.store import Store

        store = Store(self.database_url, key_file=self.hosts[0].data_dir / "pseudonym.key")
        self._stores.append(store)
        return store

    def metrics(self, host: RunningServer) -> str:
        token = (host.data_dir / "metrics.token").read_text(encoding="ascii").strip()
        status, body = http_get(host.base_url + "/metrics", {"Authorization": f"Bearer {token}"})
        assert status == 200, (status, body[:200])
        return body

    def nginx_log(self) -> str:
        return log_tail(self.nginx_dir / "error.log")


def http_get(url: str, headers: Mapping[str, str] | None = None, timeout: float = 10) -> tuple[int, str]:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers=dict(headers or {}))
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", errors="replace")
    finally:
        conn.close()


# --- the users and the database ----------------------------------------------------------------------

@dataclass(frozen=True)
class Person:
    """A synthetic user of the stack (``hosted_stack(users=...)``)."""

    username: str
    password: str
    display_name: str
    municipality: int = 740
    role: str = "clinician"


@contextmanager
def scratch_database(prefix: str = "hjertekom_stack", server_url: str | None = None) -> Iterator[str]:
    """A fresh PostgreSQL database (dropped at the end) on ``server_url`` (default: the tests' server);
    skipped without a server (failed in CI)."""
    admin_url = make_url(server_url or PG_URL)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any connection problem means "no server"
        admin.dispose()
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI but not reachable at {admin_url!r}: {exc}")
        pytest.skip(f"no PostgreSQL server at {admin_url!r}")
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def init_store(data_dir: Path, env: Mapping[str, str], users: Sequence[Any]) -> None:
    """``hjertekom init`` on ``data_dir`` with ``env`` (the database URL), then add ``users``."""
    done = subprocess.run([hjertekom_command(), "init"], cwd=data_dir, env=server_env(data_dir, env),
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        pytest.fail(f"hjertekom init failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    if not users:
        return
    from hjertekom_core.access import SYSTEM
    from hjertekom_core.store import Store
    from hjertekom_core.users import add_user

    store = Store(env["HJERTEKOM_DATABASE_URL"], key_file=data_dir / "pseudonym.key")
    try:
        for user in users:
            add_user(store, SYSTEM, user.username, user.display_name, user.role, user.password, [user.municipality])
    finally:
        store.dispose()


def share_secrets(first: Path, other: Path) -> None:
    """The secrets every host must share (sessions, CPR hashes, the proxy's secret), copied 0600."""
    other.mkdir(mode=0o700, exist_ok=True)
    for name in SHARED_SECRETS:
        ensure_secret(first / name)
        target = other / name
        shutil.copyfile(first / name, target)
        target.chmod(0o600)


# --- nginx -----------------------------------------------------------------------------------------

def _htpasswd_line(username: str, password: str) -> str:
    """nginx's salted SHA-1 ({SSHA}) entry: good enough for a test's basic authentication."""
    salt = secrets.token_bytes(8)
    digest = hashlib.sha1(password.encode() + salt).digest()  # noqa: S324 - nginx's {SSHA} format, test only
    return f"{username}:{{SSHA}}{base64.b64encode(digest + salt).decode()}"


def write_nginx_config(nginx_dir: Path, port: int, upstreams: Sequence[str], *, mode: str,
                       users: Sequence[Any] = (), proxy_secret: str = "") -> Path:
    """nginx.conf for a foreground nginx in ``nginx_dir``: the shipped snippets of
    deploy/nginx/hjertekom/ (copied unchanged), an upstream of ``upstreams`` and plain HTTP on
    127.0.0.1:``port`` (TLS is in the Debian site file of the docs, not in the test)."""
    conf_dir = nginx_dir / "hjertekom"
    conf_dir.mkdir(parents=True, exist_ok=True)
    for snippet in NGINX_SNIPPETS.glob("*.conf"):
        shutil.copyfile(snippet, conf_dir / snippet.name)
    identity = "identity-proxy.conf" if mode == "proxy" else "identity-login.conf"
    shutil.copyfile(NGINX_SNIPPETS / identity, conf_dir / "identity.conf")
    if mode == "proxy":
        (conf_dir / "htpasswd").write_text("".join(_htpasswd_line(u.username, u.password) + "\n" for u in users))
        secret_file = conf_dir / "proxy-secret.conf"
        secret_file.write_text(f'proxy_set_header X-HjerteKom-Proxy-Secret "{proxy_secret}";\n')
        secret_file.chmod(0o600)
    for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (nginx_dir / temp).mkdir(exist_ok=True)
    servers = "\n".join(f"        server {u} max_fails=1 fail_timeout=10s;" for u in upstreams)
    conf = nginx_dir / "nginx.conf"
    # Started by root (CI), nginx's workers would switch to nobody, who cannot enter the private
    # (0700) test folders holding the password file and the temp paths: they stay the caller.
    user = "user root root;" if os.geteuid() == 0 else ""
    conf.write_text(f"""# Generated by tests/hosted_stack.py
{user}
worker_processes 1;
pid {nginx_dir}/nginx.pid;
error_log {nginx_dir}/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log {nginx_dir}/access.log;
    client_body_temp_path {nginx_dir}/client_body;
    proxy_temp_path {nginx_dir}/proxy;
    fastcgi_temp_path {nginx_dir}/fastcgi;
    uwsgi_temp_path {nginx_dir}/uwsgi;
    scgi_temp_path {nginx_dir}/scgi;

    include hjertekom/http.conf;

    upstream hjertekom {{
        hash $hjertekom_sticky consistent;
{servers}
        keepalive 16;
    }}

    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        include hjertekom/locations.conf;
    }}
}}
""")
    return conf


def start_nginx(conf: Path, url: str, ready_status: int) -> subprocess.Popen[bytes]:
    """nginx in the foreground on ``conf`` (checked with ``nginx -t`` first); waits until
    ``url``/login answers ``ready_status`` (200, or 401 when nginx asks for a login)."""
    nginx_dir = conf.parent
    if not NGINX.exists():
        pytest.fail(f"the hosted tests need Debian's nginx at {NGINX} (make nginx)")
    check = subprocess.run([str(NGINX), "-t", "-p", str(nginx_dir), "-c", str(conf)], capture_output=True,
                           text=True, timeout=30)
    if check.returncode != 0:
        pytest.fail(f"nginx -t refused the generated config:\n{check.stderr}")
    with (nginx_dir / "nginx.out").open("wb") as out:
        proc = subprocess.Popen([str(NGINX), "-p", str(nginx_dir), "-c", str(conf), "-g", "daemon off;"],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT_S
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"nginx exited with {proc.returncode}:\n{log_tail(nginx_dir / 'error.log')}")
        try:
            status, _ = http_get(url + "/login")
            if status == ready_status:
                return proc
            last = f"HTTP {status}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.2)
    stop_nginx(proc)
    pytest.fail(f"nginx at {url} did not answer {ready_status} ({last}):\n{log_tail(nginx_dir / 'error.log')}")


def stop_nginx(proc: subprocess.Popen[bytes]) -> None:
    """Graceful stop (SIGQUIT), killed after 10 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGQUIT)  # graceful: finishes what it is sending
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# --- the stack ---------------------------------------------------------------------------------------

@contextmanager
def hosted_stack(work_dir: Path, *, users: Sequence[Any] = (), mode: str = "login", hosts: int = 2,
                 pool_size: int = 1, server_args: Sequence[str] = (),
                 env: Mapping[str, str] | None = None, postgres_url: str | None = None) -> Iterator[HostedStack]:
    """nginx on a free port in front of ``hosts`` hjertekom servers on one scratch PostgreSQL
    database (see the module docstring)."""
    if mode not in ("login", "proxy"):
        raise ValueError(f"mode is 'login' or 'proxy', not {mode!r}")
    with scratch_database(server_url=postgres_url) as database_url, ExitStack() as cleanup:  # the hosts stop before the drop
        names = [chr(ord("a") + i) for i in range(hosts)]
        data_dirs = [work_dir / f"host-{name}" for name in names]
        data_dirs[0].mkdir(mode=0o700, parents=True, exist_ok=True)
        host_env = {"HJERTEKOM_DATABASE_URL": database_url, "HJERTEKOM_TRUSTED_PROXIES": "127.0.0.1",
                    **(env or {})}
        init_store(data_dirs[0], host_env, users)
        for other in data_dirs[1:]:
            share_secrets(data_dirs[0], other)
        args = ["--pool-size", str(pool_size), *server_args]
        if mode == "proxy":
            args += ["--trusted-header", TRUSTED_HEADER]

        def start(i: int) -> RunningServer:
            return start_server(data_dirs[i], *args, env=host_env, login_status=403 if mode == "proxy" else 200,
                                name=f"serve-{names[i]}")

        # Both at once: a host's start is mostly waiting for its preheated kernels.
        with ThreadPoolExecutor(hosts) as pool:
            futures = [pool.submit(start, i) for i in range(hosts)]
            servers = []
            for future in futures:
                try:
                    servers.append(future.result())
                except BaseException:
                    for other in futures:
                        if other.done() and other.exception() is None:
                            other.result().stop()
                    raise
        for server in servers:
            cleanup.callback(server.stop)

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proxy_secret = ensure_secret(data_dirs[0] / "proxy.secret").hex()
        conf = write_nginx_config(work_dir / "nginx", port, [f"127.0.0.1:{s.port}" for s in servers], mode=mode,
                                  users=users, proxy_secret=proxy_secret)
        nginx = start_nginx(conf, url, 401 if mode == "proxy" else 200)
        cleanup.callback(stop_nginx, nginx)
        stack = HostedStack(url, servers, database_url, mode, work_dir, nginx)
        try:
            yield stack
        finally:
            for store in stack._stores:
                store.dispose()
