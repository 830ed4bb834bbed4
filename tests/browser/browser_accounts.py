"""The browser tests' accounts and timeouts (a plain module: test files import from it, never from
a conftest, whose module name is shared by every conftest of the run)."""
from __future__ import annotations

from dataclasses import dataclass

from playwright.sync_api import Page, expect

FIRST_APP_ELEMENT_MS = 60_000   # a kernel may have to start first (CI under load)
ACTION_TIMEOUT_MS = 30_000      # clicks, fills, waits for an element
EXPECT_TIMEOUT_MS = 20_000      # a kernel round trip: validation, saving, feedback

@dataclass(frozen=True)
class Account:
    username: str
    password: str
    display_name: str
    municipality: int
    role: str = "clinician"


#: The users of the browser session (synthetic people, passwords that pass the password policy).
ANNE = Account("anne", "solsikke-bakke-740", "Anne Andersen", 740)
BO = Account("bo", "havtorn-mark-740", "Bo Bertelsen", 740)
CARL = Account("carl", "kastanje-gade-101", "Carl Christensen", 101)
DORTE = Account("dorte", "birkeskov-sti-740", "Dorte Dahl", 740, "coordinator")
ACCOUNTS = (ANNE, BO, CARL, DORTE)


def log_in(page: Page, base_url: str, account: Account, ready: str = ".hk-search input") -> Page:
    """Log in on the login page and wait for the app (``ready``: an element of the first view; the
    first app element may have to wait for a kernel)."""
    page.goto(f"{base_url}/login")
    page.locator("#username").fill(account.username)
    page.locator("#password").fill(account.password)
    page.locator("#login").click()
    expect(page.locator(ready)).to_be_visible(timeout=FIRST_APP_ELEMENT_MS)
    return page


def open_header_page(app: Page, link: str, title: str) -> Page:
    """Follow the app header's link ``link`` (a CSS selector) to its page, which opens in a new tab
    with the heading ``title`` (the link reads the same)."""
    anchor = app.locator(link)
    expect(anchor).to_have_text(title)
    with app.context.expect_page() as opened:
        anchor.click()
    page = opened.value
    expect(page.locator("h1")).to_have_text(title)
    return page
