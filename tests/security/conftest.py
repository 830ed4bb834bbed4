"""The security tests' server: ``hjertekom serve`` on a fresh SQLite store with a few users of
different roles and municipalities (synthetic people), shared by the session. Tests that need a
server with other settings (no preheating, a short idle timeout, behind a proxy) start their own
on the same data folder with ``start_security_server``."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hjertekom_core.access import SYSTEM
from hjertekom_core.store import Store
from hjertekom_core.users import add_user
from live_server import VIEWPORT, RunningServer, init_data_dir, start_server
from sec_world import ACCOUNTS, SecurityWorld


@pytest.fixture(scope="session")
def security_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecurityWorld]:
    data_dir = tmp_path_factory.mktemp("hjertekom-security")
    init_data_dir(data_dir)
    store = Store(f"sqlite:///{data_dir / 'hjertekom.sqlite'}")
    for account in ACCOUNTS:
        add_user(store, SYSTEM, account.username, account.username.title(), account.role, account.password,
                 account.municipalities)
    server = start_server(data_dir, "--pool-size", "2", name="security")
    try:
        yield SecurityWorld(data_dir, store, server)
    finally:
        server.stop()
        store.dispose()


@pytest.fixture
def start_security_server(security_world: SecurityWorld) -> Iterator[Callable[..., RunningServer]]:
    """Start another server on the security data folder (stopped after the test)."""
    started: list[RunningServer] = []

    def start(*args: str, **kwargs: Any) -> RunningServer:
        server = start_server(security_world.data_dir, *args, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def browser_context(browser: Any) -> Iterator[Callable[..., Any]]:
    """``browser_context(**options)``: a fresh context (own cookies), closed after the test."""
    contexts: list[Any] = []

    def make(**options: Any) -> Any:
        context = browser.new_context(viewport=VIEWPORT, locale="da-DK", **options)
        context.set_default_timeout(30_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
