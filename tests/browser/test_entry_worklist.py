"""The worklist in a real browser, on a demo store (``hjertekom demo --citizens 2000 --seed 1``, as
``make run`` makes it) served by a server of this module's own: the lists of Silkeborg's day.

What the page shows is compared with what the service gives the same user.
"""
from __future__ import annotations

import random
import re
import subprocess
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from browser_accounts import FIRST_APP_ELEMENT_MS
from factories import course_data
from hjertekom_core.bootstrap import Workspace, open_workspace
from hjertekom_core.config import Config
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.demo import demo_password
from hjertekom_core.name_search import danish_sort_key
from hjertekom_core.service import Service, WorklistItem
from hjertekom_core.users import get_user
from live_server import RunningServer, hjertekom_command, init_data_dir, server_env, start_server
from paths import CONTRACTS_DIR

pytestmark = pytest.mark.slow

DEMO_CITIZENS = 2000


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Workspace]]:
    """``hjertekom serve`` on a demo store of its own (demo users: kliniker of Silkeborg, ...)."""
    data_dir = tmp_path_factory.mktemp("hjertekom-demo-browser")
    init_data_dir(data_dir)
    done = subprocess.run([hjertekom_command(), "demo", "--citizens", str(DEMO_CITIZENS), "--seed", "1"],
                          cwd=data_dir, env=server_env(data_dir), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    ws = open_workspace(Config(data_dir=data_dir, contracts_dir=CONTRACTS_DIR))
    server = start_server(data_dir, "--pool-size", "1")
    try:
        yield server, ws
    finally:
        server.stop()
        ws.store.dispose()


def sign_in_demo(page: Page, base_url: str, username: str = "kliniker", role: str = "clinician") -> None:
    page.goto(f"{base_url}/login")
    page.locator("#username").fill(username)
    page.locator("#password").fill(demo_password(role))
    page.locator("#login").click()
    expect(page.locator(".hk-search input")).to_be_visible(timeout=FIRST_APP_ELEMENT_MS)


def worklist_of(ws: Workspace, username: str = "kliniker") -> list[WorklistItem]:
    return Service(ws.store, ws.contracts, get_user(ws.store, username)).worklist(
        completion_limit_days=ws.config.completion_limit_days)


def test_silkeborg_sees_the_referred_citizens_awaiting_their_start_meeting(demo_server, page) -> None:
    server, ws = demo_server
    awaiting = [i for i in worklist_of(ws) if "awaiting_start" in i.groups]
    assert len(awaiting) >= 5
    sign_in_demo(page, server.base_url)
    section = page.locator(".hk-awaiting-start")
    expect(section.get_by_role("heading")).to_have_text(f"Afventer afklarende samtale ({len(awaiting)})")
    shown = min(len(awaiting), 50)
    expect(section.locator(".hk-worklist-row")).to_have_count(shown)
    for item in awaiting[:3]:
        expect(section).to_contain_text(item.citizen.name)
    # The list comes first: it is where a referred citizen is called in.
    first = page.locator(".hk-awaiting-start, .hk-missing-end, .hk-drafts, .hk-overdue").first
    expect(first).to_have_class(re.compile(r"\bhk-awaiting-start\b"))


def test_each_row_shows_cpr_referral_days_and_form_statuses_and_each_column_sorts(demo_server, page) -> None:
    server, ws = demo_server
    items = worklist_of(ws)
    awaiting = [i for i in items if "awaiting_start" in i.groups]
    sign_in_demo(page, server.base_url)
    section = page.locator(".hk-awaiting-start")
    first = awaiting[0]
    row = section.locator(".hk-worklist-row").first
    expect(row.locator(".hk-cell-name")).to_have_text(first.citizen.name)
    expect(row.locator(".hk-cell-cpr")).to_have_text(f"{first.citizen.cpr[:6]}-{first.citizen.cpr[6:]}")
    expect(row.locator(".hk-cell-referral")).to_have_text(f"{first.referral_date:%d-%m-%Y}")
    expect(row.locator(".hk-cell-days")).to_have_text(f"{first.days} siden henvisning")
    expect(row.locator(".hk-cell-status-course")).to_have_text("færdig")
    expect(row.locator(".hk-cell-status-start")).to_have_text("ikke startet")
    expect(row.locator(".hk-cell-status-end")).to_have_text("ikke startet")

    # "Henvist": oldest referral first, then newest first on the second click.
    heading = section.locator(".hk-worklist-head .hk-sort-referral")
    heading.click()
    expect(heading).to_have_text("Henvist ▲")
    expected = [f"{d:%d-%m-%Y}" for d in sorted(i.referral_date for i in awaiting)]
    expect(section.locator(".hk-worklist-row .hk-cell-referral")).to_have_text(expected)
    heading.click()
    expect(heading).to_have_text("Henvist ▼")
    expect(section.locator(".hk-worklist-row .hk-cell-referral")).to_have_text(expected[::-1])

    # "Navn": Danish alphabetical order; the other heading loses its arrow.
    names = section.locator(".hk-worklist-head .hk-sort-name")
    names.click()
    expect(names).to_have_text("Navn ▲")
    expect(heading).to_have_text("Henvist")
    by_name = sorted((i.citizen.name for i in awaiting), key=danish_sort_key)
    expect(section.locator(".hk-worklist-row .hk-cell-name")).to_have_text(by_name)

    # "Dage" of the lists of started courses: most days first on the second click.
    assert any("missing_end" in i.groups or "overdue" in i.groups for i in items)
    for css, group in ((".hk-missing-end", "missing_end"), (".hk-overdue", "overdue")):
        rows = [i for i in items if group in i.groups]
        if not rows:
            continue
        part = page.locator(css)
        days = part.locator(".hk-worklist-head .hk-sort-days")
        days.click()
        days.click()
        expect(days).to_have_text("Dage ▼")
        most_first = [f"{d} siden start" for d in sorted((i.days for i in rows), reverse=True)]
        expect(part.locator(".hk-worklist-row .hk-cell-days")).to_have_text(most_first)

    # A status column: not begun, draft, finished.
    drafts = page.locator(".hk-drafts")
    drafts.locator(".hk-worklist-head .hk-sort-status-end").click()
    words = {None: "ikke startet", "draft": "kladde", "complete": "færdig"}
    rank = {None: 0, "draft": 1, "complete": 2}
    ends = sorted((i.statuses.get("end") for i in items if "drafts" in i.groups), key=rank.__getitem__)
    expect(drafts.locator(".hk-worklist-row .hk-cell-status-end")).to_have_text([words[e] for e in ends])


# --- search ----------------------------------------------------------------------------------------------

def search_with_enter(page: Page, text: str) -> None:
    box = page.locator(".hk-search input")
    box.fill(text)
    box.press("Enter")


def test_enter_searches_and_a_name_with_a_wrong_letter_is_found(demo_server, page) -> None:
    server, ws = demo_server
    svc = Service(ws.store, ws.contracts, get_user(ws.store, "kliniker"))
    expected = [c.name for c in svc.search_citizens("Mortensn")]
    assert any("Mortensen" in name.split() for name in expected)
    sign_in_demo(page, server.base_url)
    search_with_enter(page, "Mortensn")
    hits = page.locator(".hk-search-results .hk-search-hit")
    expect(hits).to_have_count(len(expected))
    for name in expected:
        expect(page.locator(".hk-search-results")).to_contain_text(name)
    # Word order and case do not matter either.
    first, *rest = expected[0].split()
    search_with_enter(page, " ".join([*rest, first]).upper())
    expect(hits.first).to_contain_text(expected[0])


def test_a_cpr_number_typed_with_a_space_is_found_and_an_old_error_goes(demo_server, page) -> None:
    server, ws = demo_server
    citizen = next(i.citizen for i in worklist_of(ws) if i.awaiting_start)
    sign_in_demo(page, server.base_url)

    search_with_enter(page, citizen.cpr[:5])           # too short: refused, said in the banner
    banner = page.locator(".hk-app .hk-msg.hk-error")
    expect(banner).to_contain_text("CPR-nummeret skal have 10 cifre")

    search_with_enter(page, f"{citizen.cpr[:6]} {citizen.cpr[6:]}")
    expect(page.locator(".hk-search-results .hk-search-hit")).to_have_count(1)
    expect(page.locator(".hk-search-results")).to_contain_text(citizen.name)
    expect(banner).to_have_count(0)                     # the earlier search's error is gone

    search_with_enter(page, "22084 2")                  # and comes back only for a new refusal
    expect(banner).to_contain_text("CPR-nummeret skal have 10 cifre")
    expect(page.locator(".hk-search-results .hk-search-hit")).to_have_count(0)
    page.get_by_role("button", name="Søg").click()
    expect(banner).to_have_count(1)
    search_with_enter(page, citizen.name)
    expect(banner).to_have_count(0)
    expect(page.locator(".hk-search-results")).to_contain_text(citizen.name)


# --- the rows and headings are HTML: links and buttons over the page's action channel -------------------

def test_a_rows_link_opens_its_course_and_back_returns_to_the_same_worklist(demo_server, page) -> None:
    server, ws = demo_server
    first = next(i for i in worklist_of(ws) if "awaiting_start" in i.groups)
    sign_in_demo(page, server.base_url)
    page.evaluate("window.hkSamePage = 'ja'")
    row = page.locator(".hk-awaiting-start .hk-worklist-row").first
    link = row.get_by_role("link", name=f"Åbn forløbet for {first.citizen.name}")
    expect(link).to_have_attribute("href", f"#/forloeb/{first.course_id}")
    link.click()
    expect(page.locator(".hk-form:visible h2")).to_have_text("Afklarende samtale")
    expect(page.locator(".hk-course h3").first).to_contain_text(first.citizen.name)
    expect(page).to_have_url(re.compile(rf"#/forloeb/{first.course_id}/start$"))
    page.go_back()
    expect(page).to_have_url(re.compile(r"#/$"))
    expect(page.locator(".hk-awaiting-start .hk-worklist-row").first).to_contain_text(first.citizen.name)
    assert page.evaluate("window.hkSamePage === 'ja'"), "Back loaded the app again"


def test_a_heading_sorts_from_the_keyboard_and_keeps_the_focus(demo_server, page) -> None:
    server, ws = demo_server
    awaiting = [i for i in worklist_of(ws) if "awaiting_start" in i.groups]
    sign_in_demo(page, server.base_url)
    section = page.locator(".hk-awaiting-start")
    names = section.locator(".hk-worklist-head .hk-sort-name")
    expect(section.locator("th:has(.hk-sort-name)")).to_have_attribute("aria-sort", "none")
    names.focus()
    page.keyboard.press("Enter")
    expect(names).to_have_text("Navn ▲")
    expect(section.locator("th:has(.hk-sort-name)")).to_have_attribute("aria-sort", "ascending")
    by_name = sorted((i.citizen.name for i in awaiting), key=danish_sort_key)
    expect(section.locator(".hk-worklist-row .hk-cell-name")).to_have_text(by_name[:50])
    # The list was drawn anew; the keyboard is still on the heading, so Space sorts the other way.
    expect(names).to_be_focused()
    page.keyboard.press(" ")
    expect(names).to_have_text("Navn ▼")
    expect(section.locator(".hk-worklist-row .hk-cell-name")).to_have_text(by_name[::-1][:50])
    expect(names).to_be_focused()


def test_a_long_list_shows_fifty_rows_and_all_of_them_on_request(demo_server, page) -> None:
    server, ws = demo_server
    svc = Service(ws.store, ws.contracts, get_user(ws.store, "kliniker"))
    rng = random.Random(16_050)
    waiting = [i for i in worklist_of(ws) if "awaiting_start" in i.groups]
    for n in range(max(0, 55 - len(waiting))):   # referred citizens until the list is longer than a page
        citizen = svc.create_citizen(generate_cpr(rng), f"Vente Borger {n}", min(svc.user.municipalities))
        svc.open_course(citizen.id, course_data(), complete=True)
    waiting = [i for i in worklist_of(ws) if "awaiting_start" in i.groups]
    assert len(waiting) >= 55
    sign_in_demo(page, server.base_url)
    section = page.locator(".hk-awaiting-start")
    expect(section.locator(".hk-worklist-row")).to_have_count(50)
    expect(section).to_contain_text(f"Viser 50 af {len(waiting)}.")
    section.get_by_role("button", name=f"Vis alle {len(waiting)}").click()
    expect(section.locator(".hk-worklist-row")).to_have_count(len(waiting))
    expect(section.get_by_role("button", name=re.compile("^Vis alle"))).to_have_count(0)
