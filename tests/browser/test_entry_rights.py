"""Restriction as the clinician meets it in the entry app (issue 15): a restricted citizen looked up
by CPR number is said to be restricted (GDPR art. 18) and is listed nowhere; lifted, they are back."""
from __future__ import annotations

from playwright.sync_api import expect

from hjertekom_core.access import SYSTEM
from hjertekom_core.citizen_erasure import lift, restrict
from test_entry_app import new_citizen_with_course, search


def test_a_restricted_citizen_is_said_to_be_so_and_listed_nowhere(hjertekom_server, page, users, sign_in) -> None:
    server = hjertekom_server
    cpr, course_id = new_citizen_with_course(server, "anne", 1518_001, "Rita Spærring")
    new_citizen_with_course(server, "anne", 1518_002, "Rita Naboen")   # both await their start meeting
    restrict(server.store, SYSTEM, cpr, "Sag 60")
    try:
        sign_in(page, users.anne)
        worklist = page.locator(".hk-awaiting-start")
        expect(worklist).to_contain_text("Rita Naboen")
        expect(worklist).not_to_contain_text("Rita Spærring")
        search(page, f"{cpr[:6]}-{cpr[6:]}")
        expect(page.get_by_role("alert")).to_contain_text("Borgeren er begrænset (GDPR art. 18)")
        expect(page.locator(".hk-search-results .hk-search-hit")).to_have_count(0)
        search(page, "Rita")
        expect(page.locator(".hk-search-results")).to_contain_text("Rita Naboen")
        expect(page.locator(".hk-search-results")).not_to_contain_text("Rita Spærring")
    finally:
        lift(server.store, SYSTEM, cpr, "Sag 60 slut")
    page.reload()
    expect(page.locator(".hk-awaiting-start")).to_contain_text("Rita Spærring")
    search(page, f"{cpr[:6]}-{cpr[6:]}")
    expect(page.get_by_role("button", name=f"Forløb {course_id} (")).to_be_visible()
