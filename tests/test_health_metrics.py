"""``/healthz`` and ``/metrics`` of a real ``hjertekom serve`` on PostgreSQL, directly and through
the shipped nginx snippets (deploy/nginx/hjertekom/), and the authenticating-proxy mode of those
snippets. What an operator relies on: the health check needs no session and names nobody, says 503
when the store is gone; the metrics need the token of a private file and never leave through the
public proxy; behind the proxy, the user is the one nginx signed in, whatever the browser claims.
"""
from __future__ import annotations

import base64
import json
import re
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from hjertekom_core.store import Store
from hjertekom_core.store.schema import users as users_table
from hjertekom_core.store.schema import web_sessions
from hosted_stack import Person, init_store, start_nginx, stop_nginx, hosted_stack, http_get, scratch_database, \
    write_nginx_config
from live_server import RunningServer, WebClient, free_port, start_server

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


ANNE = Person("anne", "solsikke-bakke-740", "Anne Andersen")
BO = Person("bo", "havtorn-mark-740", "Bo Bertelsen")
HEALTH_KEYS = {"status", "store", "kernels", "version", "draining", "time"}


@dataclass
class Served:
    host: RunningServer
    proxy_url: str
    database_url: str
    token: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One host on a scratch PostgreSQL database, and nginx with the shipped snippets in front."""
    work = tmp_path_factory.mktemp("health")
    data_dir = work / "host"
    data_dir.mkdir(mode=0o700)
    with scratch_database() as database_url:
        env = {"HJERTEKOM_DATABASE_URL": database_url}
        init_store(data_dir, env, [ANNE])
        host = start_server(data_dir, "--pool-size", "1", env=env)
        try:
            port = free_port()
            conf = write_nginx_config(work / "nginx", port, [f"127.0.0.1:{host.port}"], mode="login")
            nginx = start_nginx(conf, f"http://127.0.0.1:{port}", 200)
            try:
                token = (data_dir / "metrics.token").read_text(encoding="ascii").strip()
                yield Served(host, f"http://127.0.0.1:{port}", database_url, token)
            finally:
                stop_nginx(nginx)
        finally:
            host.stop()


def metric(text_: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text_, re.M)
    assert found, f"{name} not in /metrics"
    return float(found.group(1))


def test_healthz_needs_no_session_and_names_nobody(served: Served) -> None:
    client = WebClient(served.host.base_url)
    # The preheated kernel is forked once the server's zygote has imported the app: it shows up
    # within seconds of the server answering, and the health check counts it.
    deadline = time.monotonic() + 60
    while True:
        answer = client.get("/healthz")
        assert answer.status == 200
        body = answer.json()
        assert set(body) == HEALTH_KEYS
        assert (body["status"], body["store"], body["draining"]) == ("ok", True, False)
        if body["kernels"] >= 1 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert body["kernels"] >= 1   # the preheated one
    assert answer.headers["cache-control"] == "no-store"
    assert client.cookies == {}, "a health check must not start a session"
    # Through the proxy, from this machine (nginx allows 127.0.0.1 only).
    status, proxied = http_get(served.proxy_url + "/healthz")
    assert status == 200 and json.loads(proxied)["status"] == "ok"


def test_metrics_need_the_token_of_the_private_file(served: Served) -> None:
    token_file = served.host.data_dir / "metrics.token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    url = served.host.base_url + "/metrics"
    assert http_get(url)[0] == 401
    assert http_get(url, {"Authorization": "Bearer " + "0" * 64})[0] == 401
    assert http_get(url, {"Authorization": served.token})[0] == 401   # the scheme is part of it
    # Signed in is not enough either: metrics are for the monitoring, not for users.
    client = WebClient(served.host.base_url)
    client.login(ANNE.username, ANNE.password)
    assert client.get("/metrics").status == 401
    status, body = http_get(url, {"Authorization": f"Bearer {served.token}"})
    assert status == 200
    for name in ("hjertekom_saves_total", "hjertekom_save_seconds_bucket", "hjertekom_logins_total",
                 "hjertekom_login_failures_total", "hjertekom_kernels", "hjertekom_kernel_memory_bytes"):
        assert f"\n{name}" in body, name
    # Never through the public name, not even with the token.
    assert http_get(served.proxy_url + "/metrics", {"Authorization": f"Bearer {served.token}"})[0] == 404


def test_metrics_count_logins_and_refusals_and_name_nobody(served: Served) -> None:
    def read() -> str:
        return http_get(served.host.base_url + "/metrics", {"Authorization": f"Bearer {served.token}"})[1]

    before = read()
    bad = WebClient(served.proxy_url)
    assert bad.login(ANNE.username, "forkert-kodeord").status == 403
    good = WebClient(served.proxy_url)
    assert good.login(ANNE.username, ANNE.password).status == 302
    after = read()
    assert metric(after, "hjertekom_login_failures_total") == metric(before, "hjertekom_login_failures_total") + 1
    assert metric(after, "hjertekom_logins_total") == metric(before, "hjertekom_logins_total") + 1
    assert metric(after, "hjertekom_kernel_memory_bytes") > 10e6   # a kernel is tens of MB
    for personal in (ANNE.username, ANNE.display_name, "Andersen", "740"):
        assert personal not in after, personal


def test_healthz_says_503_when_the_store_is_gone(served: Served) -> None:
    """Last in this module: the database is dropped under the running host."""
    admin_url = make_url(served.database_url).set(database="postgres")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = make_url(served.database_url).database
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
    status, body = http_get(served.host.base_url + "/healthz", timeout=15)
    assert status == 503
    assert (json.loads(body)["status"], json.loads(body)["store"]) == ("unavailable", False)


def _sessions_of(store: Store) -> list[str]:
    with store.read() as conn:
        rows = conn.execute(select(users_table.c.username).join(web_sessions, web_sessions.c.user_id == users_table.c.id)
                            .order_by(users_table.c.username)).all()
    return [row.username for row in rows]


def test_behind_the_authenticating_proxy_the_user_is_the_one_nginx_signed_in(tmp_path: Path) -> None:
    with hosted_stack(tmp_path, users=[ANNE, BO], mode="proxy", hosts=1) as stack:
        store: Any = stack.store()
        assert http_get(stack.url + "/hjertekom/api/session")[0] == 401   # nginx asks for a login
        anne = "Basic " + base64.b64encode(f"{ANNE.username}:{ANNE.password}".encode()).decode()
        wrong = "Basic " + base64.b64encode(f"{ANNE.username}:forkert".encode()).decode()
        assert http_get(stack.url + "/hjertekom/api/session", {"Authorization": wrong})[0] == 401
        # Signed in by nginx as Anne while the browser claims to be Bo: the host sees Anne.
        status, body = http_get(stack.url + "/hjertekom/api/session",
                                {"Authorization": anne, "X-Forwarded-User": BO.username})
        assert status == 200 and json.loads(body)["signed_in"] is True
        assert _sessions_of(store) == [ANNE.username]
        # Straight to the host with the header but without the proxy's secret: nobody.
        direct = http_get(stack.hosts[0].base_url + "/hjertekom/api/session", {"X-Forwarded-User": BO.username})
        assert direct[0] == 401
        assert _sessions_of(store) == [ANNE.username]
