"""Shared fixtures: real stores (a SQLite file and a PostgreSQL database), contracts, users.

The store tests run on both backends. PostgreSQL comes from HJERTEKOM_TEST_POSTGRES_URL (default:
the local server, database ``test``); each test session creates a database of its own there and
drops it afterwards. Where no server answers, the PostgreSQL tests skip locally but FAIL in CI
(CI=true), because there they must run.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any
from pathlib import Path

import pytest
from sqlalchemy import text

from hjertekom_core.access import SYSTEM, User
from hjertekom_core.bootstrap import Workspace, ensure_secret, initialise, open_workspace, sync_municipalities
from hjertekom_core.config import Config
from hjertekom_core.contract import ContractRegistry
from hjertekom_core.demo import create_demo_users, generate_demo
from hjertekom_core.service import Service
from hjertekom_core.snapshot import create_snapshot
from hjertekom_core.store import Store
from hjertekom_core.users import add_user

from hosted_stack import scratch_database
from live_server import chromium
from factories import TEST_PASSWORD
from paths import CONTRACTS_DIR

TABLES_TO_CLEAR = ("tombstones", "transfer_log", "audit_log", "login_failures", "autosaves", "web_sessions", "registrations", "courses", "citizens", "user_municipalities", "users")
#: The password of every user the tests make: passes the policy and holds no test's username.



@pytest.fixture
def keyed(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    """The store with its pseudonymisation key known, as open_workspace gives it (tombstones of
    erased citizens are keyed hashes of their CPR numbers)."""
    key_file = tmp_path / "pseudonym.key"
    ensure_secret(key_file)
    monkeypatch.setattr(store, "key_file", key_file)
    return store


@pytest.fixture(scope="session")
def contracts() -> ContractRegistry:
    return ContractRegistry(CONTRACTS_DIR, programmes=["hjertekom"])


@pytest.fixture(scope="session")
def contract(contracts: ContractRegistry):  # type: ignore[no-untyped-def]
    return contracts["hjertekom"]


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (dropped at the end)."""
    with scratch_database("hjertekom_test") as url:
        yield url


@pytest.fixture(scope="session")
def pg_store(pg_database_url: str, contracts: ContractRegistry) -> Iterator[Store]:
    store = Store(pg_database_url)
    store.migrate()
    sync_municipalities(store, contracts)
    yield store
    store.dispose()


def _clear(store: Store) -> None:
    with store.write() as conn:
        # audit_log is append-only: its trigger refuses DELETE (migration 0006). Only this test
        # cleanup steps past it, with replica mode for this one transaction, which fires no ordinary
        # triggers and which only a superuser may set (the tests connect as one; the service's own
        # role never can, see docs/operations-database.md).
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        for table in TABLES_TO_CLEAR:
            conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - names from TABLES_TO_CLEAR


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path, contracts: ContractRegistry) -> Iterator[Store]:
    """An initialised, empty store on each backend."""
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
        s.migrate()
        sync_municipalities(s, contracts)
        yield s
        s.dispose()
    else:
        s = request.getfixturevalue("pg_store")
        _clear(s)
        yield s
        _clear(s)


@pytest.fixture
def sqlite_store(tmp_path: Path, contracts: ContractRegistry) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    s.migrate()
    sync_municipalities(s, contracts)
    yield s
    s.dispose()


@pytest.fixture
def make_user(store: Store) -> Callable[..., User]:
    def make(username: str, role: str = "clinician", municipalities: tuple[int, ...] = (740,)) -> User:
        return add_user(store, SYSTEM, username, username.title(), role, TEST_PASSWORD, municipalities)

    return make


@pytest.fixture
def service_for(store: Store, contracts: ContractRegistry) -> Callable[[User], Service]:
    def make(user: User) -> Service:
        return Service(store, contracts, user)

    return make


# --- a demo workspace and its snapshots, shared by the report, export and research tests ---------
DEMO_CITIZENS = 700


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    """An initialised workspace of its own (SQLite store, the project's contracts) in tmp_path."""
    workspace = open_workspace(Config(data_dir=tmp_path / "data", contracts_dir=CONTRACTS_DIR))
    initialise(workspace)
    yield workspace
    workspace.store.dispose()


@pytest.fixture(scope="session")
def demo_workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A SQLite workspace filled by the demo generator (seed 1), demo users included.

    Read-only for tests: a test that writes must make a store of its own.
    """
    data_dir = tmp_path_factory.mktemp("demo-workspace")
    ws = open_workspace(Config(data_dir=data_dir, contracts_dir=CONTRACTS_DIR))
    initialise(ws)
    create_demo_users(ws.store)
    generate_demo(ws, DEMO_CITIZENS, seed=1)
    return ws


@pytest.fixture(scope="session")
def demo_snapshot(demo_workspace: Workspace) -> Path:
    """An identified snapshot of the demo workspace."""
    info = create_snapshot(demo_workspace.store, demo_workspace.contracts, demo_workspace.config.data_dir / "snapshots")
    return info.path


@pytest.fixture(scope="session")
def demo_research_snapshot(demo_workspace: Workspace) -> Path:
    """A pseudonymised snapshot of the demo workspace."""
    ws = demo_workspace
    info = create_snapshot(ws.store, ws.contracts, ws.config.data_dir / "snapshots" / "research", pseudonymise=True,
                           key_file=ws.config.pseudonym_key_file)
    return info.path


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's chromium through Playwright, one for the whole session: Playwright's sync API
    allows one instance per process (tests/browser and tests/security share it)."""
    with chromium() as launched:
        yield launched


@pytest.fixture
def cli_env(tmp_path: Path) -> Iterator[dict[str, str | None]]:
    """The environment of a CLI run (click's CliRunner) on a data folder of its own, no config file."""
    yield {"HJERTEKOM_DATA_DIR": str(tmp_path / "data"), "HJERTEKOM_CONFIG": str(tmp_path / "none.toml"),
           "HJERTEKOM_DATABASE_URL": None}
    root = logging.getLogger()  # the CLI logs to a file in the data folder: close it
    for handler in [h for h in root.handlers if getattr(h, "_hjertekom", False)]:
        root.removeHandler(handler)
        handler.close()
