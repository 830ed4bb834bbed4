"""The citizen answers their own questionnaire on a tablet (widgets/questionnaire_mode.py): the
clinician hands the page over, the citizen taps their HADS answers and cannot leave (Back, a typed
address, a forged address report, a click where the header was, a reload), a wrong password is
refused and audited, the right one returns to the form with the answers marked "Besvaret af
borgeren", and the saved revision records them as the citizen's."""
from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from browser_accounts import FIRST_APP_ELEMENT_MS
from browser_form import field
from browser_store import audit_rows, new_course, wait_for_store
from hjertekom_core.store.schema import autosaves, registrations

pytestmark = pytest.mark.slow

NAME = "Tabletta Spørgesen"
#: The citizen's answers, as the labels of the buttons they tap (the code list hads_item).
ANSWERS = ["0 – slet ikke / ingen symptomer", "1 – lidt", "2 – en hel del", "3 – meget / det meste af tiden"]
HADS = [f"hads_{i:02d}" for i in range(1, 15)]
TAPPED = {name: i % 4 for i, name in enumerate(HADS)}
STAY = "Spørgeskemaet kan kun forlades med behandlerens adgangskode"


def expect_address(page: Page, fragment: str) -> None:
    expect(page).to_have_url(re.compile(re.escape(fragment) + "$"))


def expect_held(page: Page, course_id: int) -> None:
    """Still the questionnaire, and nothing of the clinician's page."""
    expect(page.locator(".hk-qm")).to_be_visible()
    expect_address(page, f"#/forloeb/{course_id}/start/spoergeskema")
    expect(page.locator(".hk-course")).to_have_count(0)
    expect(page.locator("a.hk-logout, a.hk-profile, .hk-search")).to_have_count(0)
    expect(page.locator("body")).not_to_contain_text(NAME)


#: Clicks on the clinician's save buttons and a switch of the form, sent from the page straight to
#: the kernel through Voilà's widget manager (as a hostile script would); the number of messages.
HOSTILE = """async () => {
    const manager = window.jupyterapp.widgetManager;
    const pending = manager._models instanceof Map ? Array.from(manager._models.values())
                                                   : Object.values(manager._models);
    const models = await Promise.all(pending);
    let sent = 0;
    for (const model of models) {
        const name = model.get('_model_name'), text = model.get('description');
        if (name === 'ButtonModel' && (text === 'Gem kladde' || text === 'Markér som færdig')) {
            model.send({event: 'click'}, {}); sent += 1;
        }
        if (name === 'ToggleButtonsModel' && model.get('_dom_classes').includes('hk-form-selector')) {
            model.set('index', 2); model.save_changes(); sent += 1;
        }
    }
    return sent;
}"""


def refusals(server: Any, course_id: int, attempted: str) -> list[dict[str, Any]]:
    rows = audit_rows(server, action="access.denied", entity_id=str(course_id))
    return [detail for r in rows if (detail := json.loads(r["detail"]))["attempted"] == attempted]


def chosen(page: Page, name: str) -> Any:
    return page.locator(f".hk-qm-item-{name} button.mod-active")


def test_the_citizen_answers_on_the_tablet_and_the_clinician_takes_it_back(
        hjertekom_server, page, users, sign_in) -> None:
    server = hjertekom_server
    _, course_id = new_course(server, 1_919_001, NAME)
    sign_in(page, users.anne)
    page.goto(f"{server.base_url}/#/forloeb/{course_id}/start")
    expect(page.locator(".hk-form:visible h2")).to_have_text("Afklarende samtale")
    expect(page.locator(".hk-course h3").first).to_contain_text(NAME)
    # The clinician's own unsaved input stays through the hand-over.
    meeting = field(page, "Dato for afklarende samtale").locator("input").first
    meeting.fill("03-03-2025")
    meeting.press("Tab")

    page.get_by_role("button", name="Borgerens spørgeskema (tablet)").click()
    expect_held(page, course_id)
    expect(page.locator(".hk-qm h3").first).to_have_text("Angst og depression (HADS)")
    expect(page.locator(".hk-qm-save, .hk-save-draft, .hk-complete, .hk-form-selector")).to_have_count(0)
    for name, answer in TAPPED.items():
        page.locator(f".hk-qm-item-{name} button", has_text=ANSWERS[answer]).click()
        expect(chosen(page, name)).to_have_text(ANSWERS[answer])
    expect(page.locator(".hk-qm-item-hads_01 button").first).to_have_css("font-size", "20px")   # for a finger
    page.get_by_role("button", name="English").click()                 # in English, answers kept
    expect(page.locator(".hk-qm h3").first).to_have_text("Anxiety and depression (HADS)")
    expect(chosen(page, "hads_02")).to_have_text("1 – a little")
    page.get_by_role("button", name="Dansk").click()
    expect(chosen(page, "hads_02")).to_have_text(ANSWERS[1])

    # --- the citizen tries to leave ----------------------------------------------------------------
    page.go_back()
    expect(page.locator(".hk-qm-note")).to_contain_text(STAY)
    expect_held(page, course_id)
    page.goto(f"{server.base_url}/#/")                                  # a typed address
    expect_held(page, course_id)
    page.goto(f"{server.base_url}/#/forloeb/{course_id}/end")
    expect_held(page, course_id)
    page.mouse.click(1200, 12)                                          # where the header's links were
    expect_held(page, course_id)
    # A forged report on the address channel, as a script in the page would send it.
    page.evaluate("""() => { const input = document.querySelector('.hk-route-channel input');
        input.value = JSON.stringify({seq: 100000, hash: '#/'});
        input.dispatchEvent(new Event('change', {bubbles: true})); }""")
    expect_held(page, course_id)
    wait_for_store(lambda: len(refusals(server, course_id, "questionnaire.address")) >= 3,
                   "the refused addresses audited")
    # A script in the page talks to the widgets the page drew before: "Gem kladde", "Markér som
    # færdig" and the form selector still exist in the browser's widget manager.
    sent = page.evaluate(HOSTILE)
    assert sent >= 3, sent
    wait_for_store(lambda: len(refusals(server, course_id, "questionnaire.widget_message")) >= 3,
                   "the refused widget messages audited")
    expect_held(page, course_id)
    with server.store.read() as conn:
        assert conn.execute(select(registrations.c.id).where(registrations.c.course_id == course_id,
                                                             registrations.c.form == "start")).all() == []

    page.reload()                                                       # a new page of the same login
    expect(page.locator(".hk-qm")).to_be_visible(timeout=FIRST_APP_ELEMENT_MS)
    expect_held(page, course_id)
    for name, answer in TAPPED.items():                                 # nothing the citizen gave is lost
        expect(chosen(page, name)).to_have_text(ANSWERS[answer])

    # --- handing back ------------------------------------------------------------------------------
    page.get_by_role("button", name="Færdig – giv tabletten tilbage").click()
    expect(page.locator(".hk-qm")).to_contain_text("Kun for behandleren")
    password = page.locator(".hk-qm-password input")
    password.fill("forkert-kodeord-1")
    page.get_by_role("button", name="Lås op").click()
    expect(page.locator(".hk-qm-note")).to_contain_text("Forkert adgangskode. Spørgeskemaet er stadig låst.")
    expect_held(page, course_id)
    assert {"attempted": "questionnaire.unlock", "reason": "wrong password", "failures": 1} in refusals(
        server, course_id, "questionnaire.unlock")
    assert audit_rows(server, action="login.failed")[-1]["username"] == "anne"   # counted by the login's throttle
    expect(password).to_have_value("")

    password.fill(users.anne.password)
    page.get_by_role("button", name="Lås op").click()
    expect(page.locator(".hk-form:visible h2")).to_have_text("Afklarende samtale")
    expect_address(page, f"#/forloeb/{course_id}/start")
    expect(page.locator("a.hk-logout")).to_be_visible()
    expect(page.locator(".hk-qm-returned")).to_contain_text("Borgeren har besvaret 14 spørgsmål")
    expect(field(page, "Dato for afklarende samtale").locator("input").first).to_have_value("03-03-2025")
    for name in ("HADS 1 – angst", "HADS 14 – depression"):
        expect(field(page, name).locator(".hk-self-reported")).to_have_text(re.compile("Besvaret af borgeren"))
    expect(page.locator(".hk-form:visible .hk-self-reported")).to_have_count(14)

    # --- the clinician reviews and saves -----------------------------------------------------------
    page.locator(".hk-save-draft").click()
    expect(page.locator(".hk-saved")).to_be_visible()
    expect(page.locator(".hk-form:visible .hk-self-reported")).to_have_count(0)
    with server.store.read() as conn:
        row = conn.execute(select(registrations.c.self_reported, registrations.c.data).where(
            registrations.c.course_id == course_id, registrations.c.form == "start")).one()
        left = conn.execute(select(autosaves).where(autosaves.c.course_id == course_id)).all()
    assert json.loads(row.self_reported) == HADS
    data = json.loads(row.data)
    assert {name: data[name] for name in HADS} == TAPPED and data["hads_status"] == "completed"
    assert left == []                                                   # nothing holds the tablet any more
    page.locator(".hk-history").click()
    expect(page.locator(".hk-history-self-reported")).to_contain_text("Besvaret af borgeren (14)")
