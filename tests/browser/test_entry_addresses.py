"""Every view of the entry app has an address of its own (widgets/routes.py): Back and Forward move
between views without reloading the app, a reload or a bookmark opens the view it names, and an
address is a request like any other (another municipality's course is refused, and audited)."""
from __future__ import annotations

import random
import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from browser_accounts import FIRST_APP_ELEMENT_MS
from browser_store import audit_rows
from factories import course_data
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.service import Service
from hjertekom_core.users import get_user

pytestmark = pytest.mark.slow

REFUSED = "Borgeren eller forløbet findes ikke, eller du har ikke adgang til det."


def new_course(server: Any, username: str, seed: int, name: str) -> tuple[str, int, int]:
    """A synthetic citizen with a complete course form, through the Service; (CPR, citizen id, course id)."""
    svc = Service(server.store, server.contracts, get_user(server.store, username))
    cpr = generate_cpr(random.Random(seed))
    citizen = svc.create_citizen(cpr, name, min(svc.user.municipalities))
    return cpr, citizen.id, svc.open_course(citizen.id, course_data(), complete=True).course_id


def address(page: Page) -> str:
    return page.evaluate("window.location.hash")


def expect_address(page: Page, fragment: str) -> None:
    expect(page).to_have_url(re.compile(re.escape(fragment) + "$"))


def form_heading(page: Page) -> Any:
    return page.locator(".hk-form:visible h2")


def mark_the_page(page: Page) -> None:
    """A value that lives as long as this page: gone if the app is loaded again."""
    page.evaluate("window.hkSamePage = 'ja'")


def same_page(page: Page) -> bool:
    return page.evaluate("window.hkSamePage === 'ja'")


def test_back_returns_from_a_form_to_the_worklist_without_reloading_the_app(
        hjertekom_server, page, users, sign_in) -> None:
    cpr, _, course_id = new_course(hjertekom_server, "anne", 7_416_001, "Tilbage Tinesen")
    sign_in(page, users.anne)
    expect_address(page, "#/")
    mark_the_page(page)

    page.locator(".hk-search input").fill(f"{cpr[:6]} {cpr[6:]}")
    page.locator(".hk-search input").press("Enter")
    page.get_by_role("button", name=re.compile(rf"^Forløb {course_id} \(")).click()
    expect(form_heading(page)).to_have_text("Afklarende samtale")
    expect_address(page, f"#/forloeb/{course_id}/start")
    # Another form of the course: the address follows, in place.
    page.get_by_role("button", name=re.compile(r"^Afslutning \(")).click()
    expect(form_heading(page)).to_have_text("Afslutning")
    expect_address(page, f"#/forloeb/{course_id}/end")

    page.go_back()
    expect_address(page, "#/")
    expect(page.get_by_role("heading", name="Find borger")).to_be_visible()
    expect(page.locator(".hk-course")).to_be_hidden()   # kept in the page for the next course, not shown
    assert same_page(page), "Back loaded the app again"

    page.go_forward()
    expect(form_heading(page)).to_have_text("Afslutning")
    expect(page.locator(".hk-course h3").first).to_contain_text("Tilbage Tinesen")
    expect_address(page, f"#/forloeb/{course_id}/end")
    assert same_page(page)

    # The app's own "Arbejdsliste" is a step forward in the history, as a link would be.
    page.get_by_role("button", name="Arbejdsliste").click()
    expect_address(page, "#/")
    page.go_back()
    expect(form_heading(page)).to_have_text("Afslutning")
    assert same_page(page)


def test_a_reload_reopens_the_form_and_a_citizens_address_shows_their_courses(
        hjertekom_server, page, users, sign_in) -> None:
    _, citizen_id, course_id = new_course(hjertekom_server, "anne", 7_416_002, "Genindlæs Gertsen")
    sign_in(page, users.anne)
    page.goto(f"{hjertekom_server.base_url}/#/borger/{citizen_id}")       # typed into the address bar
    expect(page.locator(".hk-citizen h3")).to_contain_text("Genindlæs Gertsen")
    expect(page.locator(".hk-citizen-course")).to_have_count(1)
    page.get_by_role("button", name=f"Åbn forløb {course_id}").click()
    expect_address(page, f"#/forloeb/{course_id}/start")
    page.get_by_role("button", name=re.compile(r"^Afslutning \(")).click()
    expect_address(page, f"#/forloeb/{course_id}/end")
    mark_the_page(page)

    page.reload()
    expect(form_heading(page)).to_have_text("Afslutning", timeout=FIRST_APP_ELEMENT_MS)
    expect(page.locator(".hk-course h3").first).to_contain_text("Genindlæs Gertsen")
    assert not same_page(page)                   # loaded again, and back on the same form
    expect_address(page, f"#/forloeb/{course_id}/end")
    page.go_back()                               # the citizen's page is still in the history
    expect(page.locator(".hk-citizen h3")).to_contain_text("Genindlæs Gertsen")
    expect_address(page, f"#/borger/{citizen_id}")


def test_a_bookmark_of_another_municipalitys_course_is_refused_and_audited(
        hjertekom_server, page, users, sign_in) -> None:
    server = hjertekom_server
    _, citizen_id, course_id = new_course(server, "anne", 7_416_003, "Bogmærke Bertelsen")
    sign_in(page, users.carl)                                              # København
    before = len(audit_rows(server, username="carl", action="access.denied"))
    page.goto("about:blank")
    page.goto(f"{server.base_url}/#/forloeb/{course_id}/start")            # a bookmark, in a new load
    expect(page.get_by_role("alert").filter(has_text=REFUSED)).to_be_visible(timeout=FIRST_APP_ELEMENT_MS)
    expect(page.get_by_role("heading", name="Find borger")).to_be_visible()
    expect(page.locator(".hk-course")).to_have_count(0)
    expect(page.locator(".hk-app")).not_to_contain_text("Bogmærke")
    expect_address(page, "#/")
    denied = audit_rows(server, username="carl", action="access.denied")[before:]
    assert [(r["entity"], r["entity_id"]) for r in denied] == [("course", str(course_id))]

    # The citizen's address, typed in the same page: refused the same way.
    page.goto(f"{server.base_url}/#/borger/{citizen_id}")
    expect(page.get_by_role("alert").filter(has_text=REFUSED)).to_be_visible()
    expect(page.locator(".hk-citizen")).to_have_count(0)
    expect_address(page, "#/")
    denied = audit_rows(server, username="carl", action="access.denied")[before:]
    assert [(r["entity"], r["entity_id"]) for r in denied] == [("course", str(course_id)),
                                                               ("citizen", str(citizen_id))]


def test_a_bookmark_of_an_own_course_opens_it_and_a_wrong_address_shows_the_worklist(
        hjertekom_server, page, users, sign_in) -> None:
    server = hjertekom_server
    _, _, course_id = new_course(server, "anne", 7_416_004, "Egen Eriksen")
    sign_in(page, users.anne)
    page.goto("about:blank")
    page.goto(f"{server.base_url}/#/forloeb/{course_id}")                  # no form: the next one to fill
    expect(form_heading(page)).to_have_text("Afklarende samtale", timeout=FIRST_APP_ELEMENT_MS)
    expect_address(page, f"#/forloeb/{course_id}/start")

    page.goto(f"{server.base_url}/#/forloeb/{course_id}/diagnose")
    expect(page.get_by_text("Adressen findes ikke i HjerteKom. Her er arbejdslisten.")).to_be_visible()
    expect(page.get_by_role("heading", name="Find borger")).to_be_visible()
    expect_address(page, "#/")


def test_a_bookmark_opened_while_signed_out_opens_its_view_after_the_login(
        hjertekom_server, page, users) -> None:
    """The login page is in between (the address holds only ids and form names, never data)."""
    server = hjertekom_server
    _, _, course_id = new_course(server, "anne", 7_416_005, "Bogmærke Bentsen")
    page.goto(f"{server.base_url}/#/forloeb/{course_id}/start")
    expect(page.locator("#username")).to_be_visible()
    page.locator("#username").fill(users.anne.username)
    page.locator("#password").fill("forkert-kodeord-1")   # a failed attempt keeps the address too
    page.locator("#login").click()
    expect(page.get_by_role("alert")).to_be_visible()
    page.locator("#username").fill(users.anne.username)
    page.locator("#password").fill(users.anne.password)
    page.locator("#login").click()
    expect(form_heading(page)).to_have_text("Afklarende samtale", timeout=FIRST_APP_ELEMENT_MS)
    expect_address(page, f"#/forloeb/{course_id}/start")
