"""Sessions as a clinician meets them in the browser: logging out in one tab, walking away from a
shared PC. A form that can no longer be saved must say so at once, not after the clinician typed."""
from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from sec_world import ANNE, SecurityWorld

pytestmark = pytest.mark.slow


def _sign_in(page, base_url: str, account=ANNE) -> None:
    page.goto(f"{base_url}/login")
    page.locator("#username").fill(account.username)
    page.locator("#password").fill(account.password)
    page.locator("#login").click()
    expect(page.locator(".hk-search input")).to_be_visible(timeout=60_000)


def _kernel_of(page) -> str:
    found = re.search(r'"kernelId":\s*"([\w-]+)"', page.content())
    assert found
    return found.group(1)


def test_logging_out_in_one_tab_closes_the_other_tabs_at_once(security_world: SecurityWorld, browser_context) -> None:
    """Logout was a GET and left other tabs working: a second tab saved after logout."""
    world = security_world
    context = browser_context()
    working, leaving = context.new_page(), context.new_page()
    _sign_in(working, world.server.base_url)
    working_kernel = _kernel_of(working)
    leaving.goto(f"{world.server.base_url}/")
    expect(leaving.locator(".hk-search input")).to_be_visible(timeout=60_000)
    working.locator(".hk-search input").fill("Hansen")  # the clinician is in the middle of something

    leaving.locator("a.hk-logout").click()
    expect(leaving.locator("#login")).to_be_visible()
    expect(leaving.get_by_text("Du er logget ud.")).to_be_visible()

    # The other tab says so within seconds, and nothing behind the notice can be used.
    notice = working.locator(".hk-signed-out")
    expect(notice).to_be_visible(timeout=15_000)
    expect(notice).to_contain_text("Du er logget ud.")
    expect(notice.get_by_role("link", name="Log ind igen")).to_be_visible()
    assert working.locator("#rendered_cells").get_attribute("inert") is not None
    # Its kernel is gone: whatever the page still tried to send, nothing can be saved.
    deadline = time.monotonic() + 30
    while working_kernel in world.server.kernels() and time.monotonic() < deadline:
        time.sleep(0.3)
    assert working_kernel not in world.server.kernels()


def test_an_idle_session_ends_and_the_page_says_why(start_security_server,
                                                    browser_context) -> None:
    """Shared PCs: a session without use ends after the configured minutes (here 0.2 = 12 s)."""
    server = start_security_server("--pool-size", "1", env={"HJERTEKOM_IDLE_TIMEOUT_MINUTES": "0.2"}, name="idle")
    busy, idle = browser_context().new_page(), browser_context().new_page()
    _sign_in(busy, server.base_url)
    _sign_in(idle, server.base_url)
    idle_kernel = _kernel_of(idle)
    search = busy.locator(".hk-search input")
    # The busy clinician types now and then (messages to the kernel count as use); the other does nothing.
    started = time.monotonic()
    notice = idle.locator(".hk-signed-out")
    while time.monotonic() - started < 40 and not notice.is_visible():
        search.fill(f"Hansen {int(time.monotonic())}")
        search.press("Tab")
        time.sleep(2)
    expect(notice).to_be_visible(timeout=30_000)
    expect(notice).to_contain_text("Du er logget ud efter inaktivitet.")
    expect(busy.locator(".hk-signed-out")).to_have_count(0)
    deadline = time.monotonic() + 30
    while idle_kernel in server.kernels() and time.monotonic() < deadline:
        time.sleep(0.3)
    assert idle_kernel not in server.kernels()
