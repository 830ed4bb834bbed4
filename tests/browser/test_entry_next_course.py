"""One course view per page: its forms' widgets are built once per kernel and refilled for every
course opened after (widgets/course_view.py). A clinician going from one citizen to the next must
never see anything of the citizen before: values, scores, the start values beside the end form,
feedback, the lock of a finished registration, or a note about restored input."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from browser_store import new_course
from factories import end_data, start_data
from hjertekom_core.service import Service
from hjertekom_core.users import get_user

pytestmark = pytest.mark.slow


def open_course(page: Page, cpr: str, course_id: int) -> None:
    page.locator(".hk-search input").fill(cpr)
    page.locator(".hk-search input").press("Enter")
    page.get_by_role("button", name=re.compile(rf"^Forløb {course_id} \(")).click()
    expect(page.locator(".hk-course h3").first).to_contain_text(f"{cpr[:6]}-{cpr[6:]}")


def to_worklist(page: Page) -> None:
    page.get_by_role("button", name="Arbejdsliste").click()
    expect(page.get_by_role("heading", name="Find borger")).to_be_visible()


def form_switch(page: Page, label: str) -> None:
    page.get_by_role("button", name=re.compile(rf"^{label} \(")).click()


def test_the_next_citizens_course_shows_nothing_of_the_one_before(hjertekom_server, page, users, sign_in) -> None:
    first_cpr, first = new_course(hjertekom_server, 7_416_301, "Første Fenger", start=start_data(weight_kg="91,5"),
                                  end=end_data(weight_kg="87,0"), end_complete=True)
    next_cpr, following = new_course(hjertekom_server, 7_416_302, "Næste Nygaard")
    sign_in(page, users.anne)

    # The first citizen: a finished course, locked, with its feedback and start values.
    open_course(page, first_cpr, first)
    end = page.locator(".hk-form-end")
    expect(end.locator(".hk-field-weight_kg input")).to_have_value("87,0")
    expect(end.locator(".hk-field-weight_kg input")).to_be_disabled()
    expect(end.locator(".hk-field-weight_kg .hk-reference")).to_contain_text("91,5")
    expect(page.locator(".hk-feedback [data-indicator]").first).to_be_visible()
    form_switch(page, "Afklarende samtale")
    start = page.locator(".hk-form-start")
    expect(start.locator(".hk-field-weight_kg input")).to_have_value("91,5")
    expect(start.locator(".hk-field-bmi")).to_contain_text("28,9")

    # The next citizen, opened in the same page: the same widgets, nothing of the first citizen.
    page.evaluate("document.querySelector('.hk-form-start .hk-field-weight_kg input').hkDrawn = 'ja'")
    to_worklist(page)
    open_course(page, next_cpr, following)
    # The browser did not draw the form again (that took most of the time to open a course).
    assert page.evaluate("document.querySelector('.hk-form-start .hk-field-weight_kg input').hkDrawn") == "ja"
    # The end form stays in the page, hidden: it holds nothing of the first citizen either.
    expect(end.locator(".hk-field-weight_kg input")).to_be_hidden()
    expect(end.locator(".hk-field-weight_kg input")).to_have_value("")
    expect(page.locator(".hk-course h3").first).to_contain_text("Næste Nygaard")
    expect(page.locator(".hk-course h3").first).not_to_contain_text("Første Fenger")
    expect(page.locator(".hk-form:visible h2")).to_have_text("Afklarende samtale")
    weight = start.locator(".hk-field-weight_kg input")
    expect(weight).to_have_value("")
    expect(weight).to_be_enabled()                           # the first citizen's start was finished: locked
    expect(start.locator(".hk-field-bmi")).not_to_contain_text("28,9")
    expect(page.locator(".hk-feedback [data-indicator]")).to_have_count(0)
    expect(page.locator(".hk-restored")).to_have_count(0)
    expect(page.locator(".hk-save-draft")).to_be_visible()   # not "Ret registrering"
    expect(page.locator(".hk-correct")).to_have_count(0)
    form_switch(page, "Afslutning")
    expect(end.locator(".hk-field-weight_kg input")).to_have_value("")
    expect(end.locator(".hk-field-weight_kg")).not_to_contain_text("91,5")   # no start value of the first

    # The next citizen's own input is theirs: saved to their course, and the first is unchanged.
    form_switch(page, "Afklarende samtale")
    weight.fill("77,5")
    weight.press("Tab")
    page.locator(".hk-save-draft").click()
    expect(page.locator(".hk-status")).to_contain_text("version 1")
    anne = Service(hjertekom_server.store, hjertekom_server.contracts, get_user(hjertekom_server.store, "anne"))
    assert anne.get_course(following).data_of("start")["weight_kg"] == 77.5
    assert anne.get_course(first).data_of("start")["weight_kg"] == 91.5

    # And back to the first citizen: their values again.
    to_worklist(page)
    open_course(page, first_cpr, first)
    expect(end.locator(".hk-field-weight_kg input")).to_have_value("87,0")   # finished: it opens on the last form
    expect(end.locator(".hk-field-weight_kg .hk-reference")).to_contain_text("91,5")
    form_switch(page, "Afklarende samtale")
    expect(start.locator(".hk-field-weight_kg input")).to_have_value("91,5")
    expect(start.locator(".hk-field-weight_kg input")).to_be_disabled()
