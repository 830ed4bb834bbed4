"""Entry inputs in a real browser: numbers that are refused say why next to the field, a missing
measurement is given a reason with the keyboard, and a rule that warns asks "Bekræft og gem".

Each test checks the store afterwards, not only the page. The helpers are small copies of those in
test_entry_app.py (fields are found by their visible label).
"""
from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select

from browser_store import new_course
from browser_form import field, text_input, type_in
from factories import start_data
from hjertekom_core.store.schema import registrations

pytestmark = pytest.mark.slow

def message(page: Page, label: str) -> Locator:
    return field(page, label).get_by_role("alert")


def open_course(page: Page, cpr: str, course_id: int) -> None:
    page.locator(".hk-search input").fill(f"{cpr[:6]}-{cpr[6:]}")
    page.get_by_role("button", name="Søg").click()
    page.get_by_role("button", name=re.compile(rf"^Forløb {course_id} \(")).click()
    expect(page.locator(".hk-form:visible")).to_be_visible()




def stored(server: Any, course_id: int, form: str) -> list[tuple[str, dict[str, Any]]]:
    """(status, data) of every revision of one form, oldest first."""
    with server.store.read() as conn:
        rows = conn.execute(select(registrations.c.status, registrations.c.data).where(
            registrations.c.course_id == course_id, registrations.c.form == form)
            .order_by(registrations.c.revision)).all()
    return [(r.status, json.loads(r.data)) for r in rows]


# --- tests -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("label", "typed", "shown"), [
    ("Vægt", "85,55", "Vægt: «85,55» har for mange decimaler. Højst 1 decimal. Ret værdien."),
    ("Vægt", "1e2", "Vægt: «1e2» er skrevet med eksponent (e). Skriv tallet helt ud, fx 100 i stedet for 1e2."),
    ("Vægt", "8 5", "Vægt: «8 5» har et mellemrum inde i tallet. Skriv tallet uden mellemrum."),
    ("Højde", "1.780", "Højde: «1.780» kan læses både som 1780 og som 1,78. Skriv tallet uden "
                       "tusindtalsskilletegn, fx 1780 eller 1,78."),
])
def test_a_refused_number_says_why_next_to_the_field_and_nothing_is_saved(
        hjertekom_server, page, users, sign_in, label: str, typed: str, shown: str) -> None:
    server = hjertekom_server
    seed = 740_100 + sum(map(ord, label + typed))   # one citizen per case
    cpr, course_id = new_course(server, seed, f"Nina Tal {seed}")
    sign_in(page, users.anne)
    open_course(page, cpr, course_id)
    type_in(page, "Dato for afklarende samtale", "17-02-2025")
    type_in(page, label, typed)
    expect(message(page, label)).to_have_text(re.compile(re.escape(shown)))
    page.locator(".hk-save-draft").click()
    expect(page.locator(".hk-status")).to_contain_text(shown)
    assert stored(server, course_id, "start") == []

    type_in(page, label, "85,5" if label == "Vægt" else "178")   # what the clinician meant
    expect(message(page, label)).to_have_count(0)


def test_a_missing_measurement_gets_its_reason_with_the_keyboard(hjertekom_server, page, users, sign_in) -> None:
    server = hjertekom_server
    cpr, course_id = new_course(server, 740_120, "Mads Mangler")
    sign_in(page, users.anne)
    open_course(page, cpr, course_id)
    type_in(page, "Dato for afklarende samtale", "17-02-2025")

    # Beside the weight: "Mangler", named after its field for a screen reader; Tab reaches it.
    reason = page.get_by_role("combobox", name="Vægt: årsag til, at svaret mangler")
    expect(reason).to_have_count(1)
    expect(field(page, "Vægt").get_by_text("Mangler", exact=True)).to_be_visible()
    expect(reason.locator("option")).to_have_text(["Nej", "Uoplyst", "Ikke relevant", "Borgeren ønskede ikke"])
    expect(field(page, "Højde").locator("select")).to_have_count(0)   # no reason for the height
    weight = text_input(page, "Vægt")
    weight.fill("88,4")
    weight.press("Tab")
    expect(reason).to_be_focused()
    for option in ("Uoplyst", "Ikke relevant", "Borgeren ønskede ikke"):
        reason.press("ArrowDown")                  # each step is a choice the kernel answers: wait for it
        expect(reason.locator("option:checked")).to_have_text(option)
        expect(weight).to_be_disabled()
    reason.press("Tab")
    expect(weight).to_be_disabled()                # the reason is the answer now

    page.get_by_role("combobox", name="Taljeomkreds: årsag til, at svaret mangler").select_option(
        label="Ikke relevant")
    expect(text_input(page, "Taljeomkreds")).to_be_disabled()
    page.locator(".hk-save-draft").click()
    expect(page.locator(".hk-status")).to_contain_text("gemt som kladde")
    [(status, data)] = stored(server, course_id, "start")
    assert status == "draft"
    assert (data["weight_kg"], data["waist_cm"]) == ("DECL", "NA")
    assert "bmi" not in data

    # Opened again (the reload keeps the form's address), the reasons are shown as chosen, and
    # "Nej" gives the input back.
    page.reload()
    expect(page.locator(".hk-form:visible h2")).to_have_text("Afklarende samtale", timeout=60_000)
    reason = page.get_by_role("combobox", name="Vægt: årsag til, at svaret mangler")
    expect(reason.locator("option:checked")).to_have_text("Borgeren ønskede ikke")
    expect(text_input(page, "Vægt")).to_be_disabled()
    reason.select_option(label="Nej")
    expect(text_input(page, "Vægt")).to_be_enabled()


def test_a_dietitian_without_a_diet_offer_asks_bekraeft_og_gem(hjertekom_server, page, users, sign_in) -> None:
    server = hjertekom_server
    start = start_data(smoking="never", employment="retired", diet_offered="no", heartqol_status="declined",
                       eq5d_status="declined", who5_status="declined")
    cpr, course_id = new_course(server, 740_121, "Dorit Diæt", start=start)
    sign_in(page, users.anne)
    open_course(page, cpr, course_id)
    expect(page.locator(".hk-form:visible h2")).to_have_text("Afslutning")

    type_in(page, "Dato for afslutning", "19-05-2025")
    field(page, "Diætbehandling ved klinisk diætist").locator("select").select_option(label="Ja")
    warning = "kostvejledning blev ikke tilbudt i planen ved den afklarende samtale"
    expect(message(page, "Diætbehandling ved klinisk diætist")).to_contain_text(warning)
    page.locator(".hk-save-draft").click()
    confirm = page.locator(".hk-confirm")
    expect(confirm).to_have_text("Bekræft og gem")
    assert stored(server, course_id, "end") == []      # nothing before the confirmation
    confirm.click()
    expect(page.locator(".hk-status")).to_contain_text("gemt som kladde")
    [(status, data)] = stored(server, course_id, "end")
    assert (status, data["diet_dietitian_received"]) == ("draft", "yes")

