"""Browser tests of the Voilà entry app: one real server for the session, Debian's chromium.

The session starts ``hjertekom serve`` on a fresh SQLite store in a temporary data folder (its
own process group, killed at the end), with three clinicians: two of Silkeborg (740) and one of
København (101), and a coordinator of Silkeborg. Its reports folder is ``reports/`` of that data
folder (empty at the start; tests put report files there). Tests drive the page with Playwright's sync API and check the store directly.

A failed test leaves a screenshot of every page it opened in ``test-artifacts/browser/`` (and the
server's log as ``test-artifacts/browser/server.log``).
"""
from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from hjertekom_core.access import SYSTEM
from hjertekom_core.contract import ContractRegistry
from hjertekom_core.store import Store
from hjertekom_core.users import add_user
from browser_accounts import (
    ACCOUNTS,
    ACTION_TIMEOUT_MS,
    ANNE,
    BO,
    CARL,
    DORTE,
    EXPECT_TIMEOUT_MS,
    Account,
    log_in,
)
from live_server import (
    VIEWPORT,
    free_port,
    hjertekom_command,
    server_env,
    stop_process_group,
    wait_for_login_page,
)

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"

expect.set_options(timeout=EXPECT_TIMEOUT_MS)


@dataclass(frozen=True)
class HjerteKomServer:
    base_url: str
    store: Store
    contracts: ContractRegistry
    data_dir: Path
    log_file: Path
    reports_dir: Path
    pid: int  # the server process (the leader of its own process group; its kernels are its children)


def _reports_dir(data_dir: Path) -> Path:
    return data_dir / "reports"


@pytest.fixture(scope="session")
def hjertekom_server(tmp_path_factory: pytest.TempPathFactory, contracts: ContractRegistry,
                     request: pytest.FixtureRequest) -> Iterator[HjerteKomServer]:
    """``hjertekom serve`` on a fresh SQLite store with the users of ACCOUNTS."""
    data_dir = tmp_path_factory.mktemp("hjertekom-browser")
    for old in (*ARTIFACTS.glob("*.png"), ARTIFACTS / "server.log"):   # this run's artifacts only
        old.unlink(missing_ok=True)
    env = server_env(data_dir)
    command = hjertekom_command()
    init = subprocess.run([command, "init"], cwd=data_dir, env=env, capture_output=True, text=True, timeout=120)
    if init.returncode != 0:
        pytest.fail(f"hjertekom init failed ({init.returncode}):\n{init.stdout}\n{init.stderr}")

    store = Store(f"sqlite:///{data_dir / 'hjertekom.sqlite'}")
    for account in ACCOUNTS:
        add_user(store, SYSTEM, account.username, account.display_name, account.role, account.password,
                 [account.municipality])
    _reports_dir(data_dir).mkdir(exist_ok=True)

    port = free_port()
    log_file = data_dir / "serve.log"
    with log_file.open("wb") as log:
        proc = subprocess.Popen([command, "serve", "--port", str(port)], cwd=data_dir, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_for_login_page(f"{base_url}/login", proc, log_file)
        yield HjerteKomServer(base_url, store, contracts, data_dir, log_file, _reports_dir(data_dir), proc.pid)
    finally:
        stop_process_group(proc)
        store.dispose()
        if getattr(request.session, "browser_failures", 0):
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(log_file, ARTIFACTS / "server.log")


@pytest.fixture
def hosted_server(hjertekom_server: HjerteKomServer) -> Iterator[str]:
    """A second server on the same store in the hosted set-up: the username comes from the
    X-Forwarded-User header of an authenticating proxy (here: the test). Yields its base URL."""
    data_dir = hjertekom_server.data_dir
    port = free_port()
    log_file = data_dir / "serve-hosted.log"
    with log_file.open("wb") as log:
        proc = subprocess.Popen([hjertekom_command(), "serve", "--port", str(port), "--pool-size", "1",
                                 "--trusted-header", "X-Forwarded-User"], cwd=data_dir, env=server_env(data_dir),
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_for_login_page(f"{base_url}/login", proc, log_file, status=403)  # no login form when hosted
        yield base_url
    finally:
        stop_process_group(proc)


# --- the browser -------------------------------------------------------------------------------------

@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the item (``item.rep_call``) for the screenshot on failure."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    if report.failed:
        item.session.browser_failures = getattr(item.session, "browser_failures", 0) + 1  # type: ignore[attr-defined]
    return report


def _artifact_name(node_name: str, index: int) -> str:
    name = re.sub(r"[^\w.-]+", "_", node_name)
    return f"{name}.png" if index == 0 else f"{name}-{index + 1}.png"


@pytest.fixture
def new_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Callable[[], Page]]:
    """Open a page in a fresh browser context (own cookies: one signed-in user each), 1280x800.
    A failed test saves a screenshot of each page as test-artifacts/browser/<test>[-n].png."""
    pages: list[Page] = []

    def make() -> Page:
        context = browser.new_context(viewport=VIEWPORT, locale="da-DK")
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        page = context.new_page()
        pages.append(page)
        return page

    yield make

    report = getattr(request.node, "rep_call", None)
    failed = report is None or report.failed
    if failed and pages:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for index, page in enumerate(pages):
        if failed:
            try:
                page.screenshot(path=str(ARTIFACTS / _artifact_name(request.node.name, index)), full_page=True)
            except Exception as exc:  # noqa: BLE001 - a missing screenshot must not hide the failure
                print(f"screenshot of page {index + 1} failed: {exc}")
        try:
            # run_before_unload lets Voilà send its shutdown beacon, so the tab's kernel is closed.
            page.close(run_before_unload=True)
            page.context.close()
        except Exception as exc:  # noqa: BLE001
            print(f"closing page {index + 1} failed: {exc}")


@pytest.fixture
def page(new_page: Callable[[], Page]) -> Page:
    return new_page()


# --- helpers -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Users:
    anne: Account   # clinician, Silkeborg (740)
    bo: Account     # clinician, Silkeborg (740)
    carl: Account   # clinician, København (101)
    dorte: Account  # coordinator, Silkeborg (740): may read reports


@pytest.fixture(scope="session")
def users() -> Users:
    return Users(ANNE, BO, CARL, DORTE)


@pytest.fixture(scope="session")
def sign_in(hjertekom_server: HjerteKomServer) -> Callable[[Page, Account], Page]:
    """``sign_in(page, account)``: log in on the login page and wait for the worklist (the first app
    element may have to wait for a kernel)."""

    def login(page: Page, account: Account) -> Page:
        return log_in(page, hjertekom_server.base_url, account)

    return login
