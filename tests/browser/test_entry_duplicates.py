"""No duplicate citizens or courses from "Ny borger og forløb" (issue 13): a registered CPR opens that
citizen, a different typed name is pointed out and not saved, an open course is offered instead of a
new one, and a second open course needs an explicit reason."""
from __future__ import annotations

import json
import random

from playwright.sync_api import expect
from sqlalchemy import select

from browser_store import audit_rows
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.store.schema import citizens, courses
from test_entry_app import field, form_heading, new_citizen_with_course, search, type_in


def _new_course_for(page, cpr: str, typed_name: str) -> None:
    search(page, f"{cpr[:6]}-{cpr[6:]}")
    page.get_by_role("button", name="Ny borger og forløb").click()
    page.get_by_label("Navn", exact=True).fill(typed_name)
    type_in(page, "Henvisningsdato", "01-09-2025")
    field(page, "Diagnose og indgreb").get_by_role("checkbox", name="Blodprop i hjertet (AMI)").check()


def _citizens_and_courses(server, cpr: str) -> tuple[list, list]:
    with server.store.read() as conn:
        found = conn.execute(select(citizens).where(citizens.c.cpr == cpr)).all()
        course_rows = conn.execute(select(courses).where(courses.c.citizen_id.in_([c.id for c in found]))).all()
    return found, course_rows


def test_a_registered_cpr_opens_that_citizen_and_offers_the_open_course(hjertekom_server, page, users,
                                                                        sign_in) -> None:
    server = hjertekom_server
    cpr, course_id = new_citizen_with_course(server, "anne", 740_301, "Ellen Dobbelt")
    sign_in(page, users.anne)
    _new_course_for(page, cpr, "Ellen Dobelt")  # a typo in the name

    known = page.locator(".hk-known-citizen")
    expect(known).to_contain_text("Borgeren er allerede registreret: Ellen Dobbelt")
    expect(page.get_by_role("heading", name="Nyt forløb for Ellen Dobbelt")).to_be_visible()
    expect(page.locator(".hk-name-differs")).to_contain_text(
        "Du har skrevet navnet Ellen Dobelt, men borgeren er registreret som Ellen Dobbelt.")
    expect(known).to_contain_text("Borgeren har et forløb, der ikke er afsluttet.")

    # "Opret forløb" without a reason makes nothing and says why.
    page.get_by_role("button", name="Opret forløb").click()
    expect(page.get_by_role("alert").filter(has_text="Borgeren har et forløb, der ikke er afsluttet")).to_be_visible()
    found, course_rows = _citizens_and_courses(server, cpr)
    assert [c.name for c in found] == ["Ellen Dobbelt"] and [c.id for c in course_rows] == [course_id]

    # The open course is what is offered: it opens.
    page.get_by_role("button", name=f"Åbn forløb {course_id}").click()
    expect(form_heading(page)).to_have_text("Afklarende samtale")
    expect(page.get_by_text(f"Forløb {course_id} · Silkeborg")).to_be_visible()
    assert _citizens_and_courses(server, cpr)[1] == course_rows


def test_a_second_open_course_needs_a_chosen_reason(hjertekom_server, page, users, sign_in) -> None:
    server = hjertekom_server
    cpr, first = new_citizen_with_course(server, "anne", 740_302, "Frede Parallel")
    sign_in(page, users.anne)
    _new_course_for(page, cpr, "Frede Parallel")
    expect(page.locator(".hk-name-differs")).to_have_text("")  # the same name: nothing to point out
    page.locator(".hk-second-course-reason select").select_option(
        label="Ny henvisning (nyt hjertetilfælde eller ny diagnose)")
    page.get_by_role("button", name="Opret forløb").click()
    expect(form_heading(page)).to_have_text("Afklarende samtale")

    found, course_rows = _citizens_and_courses(server, cpr)
    assert len(found) == 1 and len(course_rows) == 2
    second = max(c.id for c in course_rows)
    created = [r for r in audit_rows(server, username="anne", action="course.create") if r["entity_id"] == str(second)]
    assert json.loads(created[0]["detail"])["second_open_reason"] == "new_referral"
    assert json.loads(created[0]["detail"])["open_courses"] == [first]


def test_a_new_cpr_still_creates_citizen_and_course(hjertekom_server, page, users, sign_in) -> None:
    """The lookup while typing finds nobody: the usual way, unchanged."""
    cpr = generate_cpr(random.Random(740_303))  # noqa: S311 - synthetic
    sign_in(page, users.anne)
    _new_course_for(page, cpr, "Gerda Ganskeny")
    expect(page.locator(".hk-known-citizen")).to_have_text("")
    page.get_by_role("button", name="Opret forløb").click()
    expect(form_heading(page)).to_have_text("Afklarende samtale")
    found, course_rows = _citizens_and_courses(hjertekom_server, cpr)
    assert [c.name for c in found] == ["Gerda Ganskeny"] and len(course_rows) == 1
