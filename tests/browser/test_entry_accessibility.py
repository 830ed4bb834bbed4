"""Accessibility of the entry app in a real browser (chromium).

axe-core (through axe-playwright-python) finds no critical or serious violation on the login page,
the worklist, the start form and the end form; and every control on them has an accessible name,
as chromium itself computes it for screen readers (its accessibility tree), counted one by one.
The forms are shown with their questionnaires opened and partly answered, so that every kind of
control is there (text, lists, the answer buttons of a question, "Mangler", messages).
"""
from __future__ import annotations


import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from browser_store import new_course
from factories import end_data, start_data

pytestmark = pytest.mark.slow

#: The impacts that fail a page (axe also reports "moderate" and "minor").
FAILING_IMPACTS = {"critical", "serious"}
#: The roles of controls a person operates (chromium's accessibility tree).
CONTROL_ROLES = {"textbox", "searchbox", "combobox", "listbox", "checkbox", "radio", "radiogroup", "button",
                 "spinbutton", "slider", "switch", "link", "tab", "menuitem"}
QUESTIONNAIRES_OPEN = {"hads_status": "completed", "heartqol_status": "completed", "eq5d_status": "completed",
                       "who5_status": "completed", "hads_01": 2, "who5_1": 4, "eq5d_mobility": 3}


def serious_violations(page: Page) -> list[str]:
    """axe's critical and serious violations of the page, one readable line each."""
    found = Axe().run(page).response["violations"]
    return [f"{v['id']} ({v['impact']}): {v['help']}: {[n['target'] for n in v['nodes'][:5]]}"
            for v in found if v["impact"] in FAILING_IMPACTS]


def controls_and_unnamed(page: Page) -> tuple[int, list[str]]:
    """How many controls the page offers, and those without an accessible name (as chromium names
    them for a screen reader): role and HTML of each."""
    cdp = page.context.new_cdp_session(page)
    try:
        nodes = cdp.send("Accessibility.getFullAXTree")["nodes"]
        controls, unnamed = 0, []
        for node in nodes:
            if node.get("ignored") or node.get("role", {}).get("value") not in CONTROL_ROLES:
                continue
            controls += 1
            if not str((node.get("name") or {}).get("value", "")).strip():
                element = cdp.send("DOM.resolveNode", {"backendNodeId": node["backendDOMNodeId"]})["object"]
                markup = cdp.send("Runtime.callFunctionOn", {
                    "objectId": element["objectId"], "returnByValue": True,
                    "functionDeclaration": "function () { return this.outerHTML.slice(0, 200); }"})
                unnamed.append(f"{node['role']['value']}: {markup['result']['value']}")
        return controls, unnamed
    finally:
        cdp.detach()


def check_page(page: Page, *, at_least: int) -> None:
    controls, unnamed = controls_and_unnamed(page)
    assert controls >= at_least, f"only {controls} controls: the page is not what the test means to check"
    assert unnamed == [], f"{len(unnamed)} of {controls} controls have no accessible name:\n" + "\n".join(unnamed)
    assert serious_violations(page) == []




def open_course(page: Page, cpr: str, course_id: int, form_heading: str) -> None:
    page.locator(".hk-search input").fill(f"{cpr[:6]}-{cpr[6:]}")
    page.get_by_role("button", name="Søg").click()
    page.get_by_role("button", name=f"Forløb {course_id} (").click()
    expect(page.locator(".hk-form:visible h2")).to_have_text(form_heading)


# --- tests -------------------------------------------------------------------------------------------

def test_the_login_page_is_accessible(hjertekom_server, page) -> None:
    page.goto(f"{hjertekom_server.base_url}/login")
    expect(page.locator("#login")).to_be_visible()
    check_page(page, at_least=3)   # username, password, "Log ind"


def test_the_worklist_is_accessible(hjertekom_server, page, users, sign_in) -> None:
    sign_in(page, users.anne)
    expect(page.get_by_role("heading", name="Find borger")).to_be_visible()
    check_page(page, at_least=3)


def test_the_start_form_is_accessible(hjertekom_server, page, users, sign_in) -> None:
    cpr, course_id = new_course(hjertekom_server, 741_001, "Asta Tilgængelig",
                                start={"meeting_date": "17-02-2025", **QUESTIONNAIRES_OPEN}, start_complete=False)
    sign_in(page, users.anne)
    open_course(page, cpr, course_id, "Afklarende samtale")
    # A question's answers are one radio group named after it; the chosen answer is checked.
    hads = page.get_by_role("radiogroup", name="HADS 1 – angst")
    expect(hads.get_by_role("radio")).to_have_count(5)   # 0-3 and "Uoplyst"
    expect(hads.get_by_role("radio", checked=True)).to_have_text("2 – en hel del")
    expect(page.get_by_role("radiogroup", name="HADS 2 – depression").get_by_role("radio", checked=True)) \
        .to_have_count(0)
    # Text boxes and lists are named after their field (and unit), not only by a tooltip.
    expect(page.get_by_role("textbox", name="Vægt (kg)", exact=True)).to_have_count(1)
    expect(page.get_by_role("combobox", name="Rygning", exact=True)).to_have_count(1)
    # An error message is part of what is checked (its colours, its role).
    weight = page.get_by_role("textbox", name="Vægt (kg)", exact=True)
    weight.fill("500")
    weight.press("Tab")
    expect(page.locator(".hk-form:visible .hk-field-weight_kg").get_by_role("alert")).to_be_visible()
    check_page(page, at_least=150)


def test_the_end_form_is_accessible(hjertekom_server, page, users, sign_in) -> None:
    cpr, course_id = new_course(hjertekom_server, 741_002, "Bent Tilgængelig", start=start_data(),
                                end={"meeting_date": "19-05-2025", **QUESTIONNAIRES_OPEN})
    sign_in(page, users.anne)
    open_course(page, cpr, course_id, "Afslutning")
    expect(page.get_by_role("radiogroup", name="Glad og i godt humør").get_by_role("radio", checked=True)) \
        .to_have_text("4 – det meste af tiden")
    check_page(page, at_least=150)


# --- layout: whole texts at the screen sizes the municipalities use ----------------------------------------

SCREENS = [{"width": 1366, "height": 768}, {"width": 1920, "height": 1080}]

#: Buttons of the course view (form buttons, the save bar's, a prompt's) whose text is cut off:
#: wider than the button shows, or reaching past the window's right edge.
_CUT_BUTTONS_JS = """
() => Array.from(document.querySelectorAll('.hk-course button'))
  .filter(b => b.getClientRects().length > 0)
  .filter(b => b.scrollWidth > b.clientWidth || b.getBoundingClientRect().right > window.innerWidth)
  .map(b => `${b.textContent.trim()}: ${b.scrollWidth} > ${b.clientWidth}`)
"""
#: What each blank list of the form shows in its box (the text of its selected option).
_BLANK_SELECTS_JS = """
() => Array.from(document.querySelectorAll('.hk-form select'))
  .filter(s => s.getClientRects().length > 0 && !s.closest('.hk-missing-reason'))
  .filter(s => s.selectedIndex <= 0)
  .map(s => s.selectedIndex < 0 ? '' : s.options[s.selectedIndex].text.replace(/\u00a0/g, ' '))
"""


def buttons_cut_off(page: Page) -> list[str]:
    return page.evaluate(_CUT_BUTTONS_JS)


@pytest.mark.parametrize("screen", SCREENS, ids=lambda s: f"{s['width']}x{s['height']}")
def test_buttons_show_their_whole_text_and_a_blank_list_says_vaelg(
        hjertekom_server, page, users, sign_in, screen: dict[str, int]) -> None:
    cpr, course_id = new_course(hjertekom_server, 741_010 + screen["width"], f"Cecilie Skærm {screen['width']}",
                                start=start_data())
    finished = new_course(hjertekom_server, 741_020 + screen["width"], f"Dennis Skærm {screen['width']}",
                          start=start_data(), end=end_data(), end_complete=True)
    page.set_viewport_size(screen)
    sign_in(page, users.anne)
    open_course(page, cpr, course_id, "Afslutning")
    selector = page.locator(".hk-form-selector button")
    expect(selector).to_have_text(["Forløb (færdig)", "Afklarende samtale (færdig)", "Afslutning (ikke startet)"])
    expect(page.locator(".hk-save-draft")).to_be_visible()
    assert buttons_cut_off(page) == []

    # A blank list shows "— vælg —", not an empty box.
    shown = page.evaluate(_BLANK_SELECTS_JS)
    assert len(shown) >= 10, shown   # the end form has many lists, all blank
    assert set(shown) == {"— vælg —"}
    profession = page.get_by_role("combobox", name="Samtalen holdt af")
    profession.select_option(label="Fysioterapeut")
    profession.select_option(label="— vælg —")   # chosen back: blank again, and says so
    # A later choice the kernel answers visibly (a field shown) means it has answered the earlier ones.
    page.get_by_role("combobox", name="Forløbsstatus").select_option(label="Ophørt før tid")
    expect(page.get_by_role("combobox", name="Årsag til ophør")).to_be_visible()
    expect(profession.locator("option:checked")).to_have_text("— vælg —")
    assert set(page.evaluate(_BLANK_SELECTS_JS)) == {"— vælg —"}   # the new "Årsag til ophør" too

    # A finished form's buttons, and those of the question before a correction. (A course whose
    # forms are all finished opens on its last one.)
    page.locator(".hk-course .widget-button", has_text="Arbejdsliste").click()
    open_course(page, *finished, "Afslutning")
    expect(page.locator(".hk-reopen")).to_have_text("Genåbn som kladde")
    assert buttons_cut_off(page) == []
    page.locator(".hk-correct").click()
    expect(page.locator(".hk-reason-ok")).to_be_visible()
    assert buttons_cut_off(page) == []
