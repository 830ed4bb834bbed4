"""Entry at the speed of the keyboard, in a real browser (chromium).

A question answered with buttons (HADS 0-3, HeartQoL 0-3, EQ-5D 1-5, WHO-5 0-5) is one Tab stop:
arrow keys move between its answers, Space or Enter chooses one, and the digit of an answer chooses
it and goes on to the next question. Every key is pressed on the page's keyboard (whatever has
focus gets it) and counted; what is saved is read back from the store. Enter never saves.

The end form shows each measurement's start value (and the start's test) beside the input, and the
change once the field is left. "Gem og gå videre" saves a draft and opens the next form, with the
cursor in its first field.
"""
from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select

from browser_store import new_course
from factories import start_data
from hjertekom_core.store.schema import registrations

pytestmark = pytest.mark.slow

#: The issue's bound for a complete HADS (14 items), starting on its status list.
HADS_KEY_BUDGET = 30


class Keyboard:
    """The page's keyboard, counting every key pressed (a key with Shift counts once)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.presses = 0

    def press(self, *keys: str) -> None:
        for key in keys:
            self.page.keyboard.press(key)
            self.presses += 1




def open_course(page: Page, cpr: str, course_id: int, heading: str = "Afklarende samtale") -> None:
    page.locator(".hk-search input").fill(f"{cpr[:6]}-{cpr[6:]}")
    page.get_by_role("button", name="Søg").click()
    page.get_by_role("button", name=f"Forløb {course_id} (").click()
    expect(page.locator(".hk-form:visible h2")).to_have_text(heading)


def stored(server: Any, course_id: int, form: str = "start") -> list[tuple[str, dict[str, Any]]]:
    """(status, data) of every revision of one form, oldest first."""
    with server.store.read() as conn:
        rows = conn.execute(select(registrations.c.status, registrations.c.data).where(
            registrations.c.course_id == course_id, registrations.c.form == form)
            .order_by(registrations.c.revision)).all()
    return [(r.status, json.loads(r.data)) for r in rows]


def question(page: Page, name: str) -> Locator:
    return page.get_by_role("radiogroup", name=name, exact=True)


def chosen(page: Page, name: str) -> Locator:
    return question(page, name).get_by_role("radio", checked=True)


def save_draft(page: Page) -> None:
    page.locator(".hk-save-draft").click()
    expect(page.locator(".hk-status")).to_contain_text("gemt som kladde")


HADS = [f"HADS {i} – {'angst' if i % 2 else 'depression'}" for i in range(1, 15)]


# --- tests -------------------------------------------------------------------------------------------

def test_a_complete_hads_takes_15_key_presses(hjertekom_server, page, users, sign_in) -> None:
    server = hjertekom_server
    cpr, course_id = new_course(server, 742_001, "Hans Tastatur", start={"meeting_date": "17-02-2025",
                                                                   "hads_status": "completed"},
                                start_complete=False)
    sign_in(page, users.anne)
    open_course(page, cpr, course_id)
    keyboard = Keyboard(page)
    page.get_by_role("combobox", name="HADS udfyldt", exact=True).focus()   # where the clinician is

    keyboard.press("Tab")                                  # to the first item: one stop
    expect(question(page, HADS[0]).get_by_role("radio").first).to_be_focused()
    answers = [2, 1, 1, 2, 3, 0, 1, 2, 0, 3, 1, 2, 1, 0]
    for answer in answers:
        keyboard.press(str(answer))                        # chooses, and on to the next item
    expect(page.get_by_role("combobox", name="HeartQoL udfyldt", exact=True)).to_be_focused()

    assert keyboard.presses == 15 <= HADS_KEY_BUDGET
    for name, answer in zip(HADS, answers):
        expect(chosen(page, name)).to_have_text(re.compile(rf"^{answer} – "))
    # The scores the core works out from them (anxiety: the odd items, depression: the even ones).
    anxiety, depression = sum(answers[0::2]), sum(answers[1::2])
    expect(page.locator(".hk-form:visible .hk-field-hads_anxiety")).to_contain_text(f"{anxiety} – ")
    expect(page.locator(".hk-form:visible .hk-field-hads_depression")).to_contain_text(f"{depression} – ")
    assert len(stored(server, course_id)) == 1   # choosing saved no revision

    save_draft(page)
    status, data = stored(server, course_id)[-1]
    assert status == "draft"
    assert [data[f"hads_{i:02d}"] for i in range(1, 15)] == answers
    assert (data["hads_anxiety"], data["hads_depression"]) == (anxiety, depression)


def test_arrow_keys_move_within_a_question_space_chooses_and_enter_never_saves(
        hjertekom_server, page, users, sign_in) -> None:
    server = hjertekom_server
    cpr, course_id = new_course(server, 742_002, "Ida Piletast", start={"meeting_date": "17-02-2025",
                                                                  "hads_status": "completed"},
                                start_complete=False)
    sign_in(page, users.anne)
    open_course(page, cpr, course_id)
    keyboard = Keyboard(page)
    page.get_by_role("combobox", name="HADS udfyldt", exact=True).focus()
    keyboard.press("Tab")
    first = question(page, HADS[0]).get_by_role("radio")
    expect(first.nth(0)).to_be_focused()

    # Arrows move the focus only: nothing is chosen until Space (or Enter, or a digit).
    keyboard.press("ArrowRight", "ArrowRight")
    expect(first.nth(2)).to_be_focused()
    expect(chosen(page, HADS[0])).to_have_count(0)
    keyboard.press("ArrowLeft", "ArrowLeft", "ArrowLeft")       # from the first answer round to the last
    expect(first.nth(4)).to_have_text("Uoplyst")
    expect(first.nth(4)).to_be_focused()
    keyboard.press("Home", "ArrowDown")
    expect(first.nth(1)).to_be_focused()
    keyboard.press("Space")
    expect(chosen(page, HADS[0])).to_have_text("1 – lidt")
    expect(page.locator(".hk-save-state")).to_contain_text("Ikke gemt som version endnu")   # the kernel has it
    expect(first.nth(1)).to_be_focused()                        # and the focus is still there

    # One Tab stop per question: Tab goes to the next question, Shift+Tab back to the chosen answer.
    keyboard.press("Tab")
    expect(question(page, HADS[1]).get_by_role("radio").nth(0)).to_be_focused()
    keyboard.press("Shift+Tab")
    expect(first.nth(1)).to_be_focused()

    # Enter chooses the answer with focus, and never saves; nor does Enter in a text box.
    keyboard.press("ArrowUp", "Enter")
    expect(chosen(page, HADS[0])).to_have_text("0 – slet ikke / ingen symptomer")
    weight = page.get_by_role("textbox", name="Vægt (kg)", exact=True)
    weight.fill("81,5")
    weight.press("Enter")
    expect(page.locator(".hk-save-state")).to_contain_text("Ikke gemt som version endnu")
    expect(page.locator(".hk-form:visible .hk-field-bmi")).to_contain_text("beregnes")   # the kernel had the weight
    assert len(stored(server, course_id)) == 1
    expect(page.locator(".hk-status")).to_have_text("")

    save_draft(page)
    _, data = stored(server, course_id)[-1]
    assert (data["hads_01"], data["weight_kg"]) == (0, 81.5)
    assert "hads_02" not in data


def test_digits_answer_eq5d_and_who5_by_their_codes(hjertekom_server, page, users, sign_in) -> None:
    server = hjertekom_server
    cpr, course_id = new_course(server, 742_003, "Jens Ciffer", start={"meeting_date": "17-02-2025",
                                                                 "eq5d_status": "completed",
                                                                 "who5_status": "completed"},
                                start_complete=False)
    sign_in(page, users.anne)
    open_course(page, cpr, course_id)
    keyboard = Keyboard(page)
    page.get_by_role("combobox", name="EQ-5D-5L udfyldt", exact=True).focus()
    keyboard.press("Tab")
    mobility = question(page, "Bevægelighed")
    expect(mobility.get_by_role("radio").first).to_be_focused()
    keyboard.press("0", "7")                     # no EQ-5D answer has these digits: nothing happens
    expect(mobility.get_by_role("radio").first).to_be_focused()
    expect(chosen(page, "Bevægelighed")).to_have_count(0)
    eq5d = {"Bevægelighed": 2, "Personlig pleje": 1, "Sædvanlige aktiviteter": 5, "Smerter/ubehag": 3,
            "Angst/depression": 4}
    for answer in eq5d.values():
        keyboard.press(str(answer))
    expect(page.get_by_role("textbox", name="Helbred i dag (EQ VAS)", exact=False)).to_be_focused()
    keyboard.press("7", "0", "Tab")               # the VAS is a text box: digits are typed into it

    # WHO-5 lists its answers from 5 down to 0: a digit is the answer's value, not its place.
    page.get_by_role("combobox", name="WHO-5 udfyldt", exact=True).focus()
    keyboard.press("Tab")
    who5 = {"Glad og i godt humør": 5, "Rolig og afslappet": 0, "Aktiv og energisk": 3,
            "Vågnet frisk og udhvilet": 1, "Dagligdagen fyldt med ting, der interesserer mig": 4}
    for answer in who5.values():
        keyboard.press(str(answer))
    for name, answer in {**eq5d, **who5}.items():
        expect(chosen(page, name)).to_have_text(re.compile(rf"^{answer} – "))
    expect(page.locator(".hk-form:visible .hk-field-who5_score")).to_contain_text(str(4 * sum(who5.values())))

    save_draft(page)
    _, data = stored(server, course_id)[-1]
    assert [data[k] for k in ("eq5d_mobility", "eq5d_selfcare", "eq5d_activities", "eq5d_pain",
                              "eq5d_anxiety")] == list(eq5d.values())
    assert [data[f"who5_{i}"] for i in range(1, 6)] == list(who5.values())
    assert data["eq5d_vas"] == 70


def test_the_end_form_shows_the_start_value_and_test_beside_each_measurement(
        hjertekom_server, page, users, sign_in) -> None:
    server = hjertekom_server
    # Start: 88,4 kg, waist 104 cm, daily smoker, 6-minute walk 420 m.
    cpr, course_id = new_course(server, 742_004, "Karen Sammenlign", start=start_data())
    sign_in(page, users.anne)
    open_course(page, cpr, course_id, "Afslutning")

    def beside(field: str) -> Locator:
        return page.locator(f".hk-form:visible .hk-field-{field} .hk-reference")

    expect(beside("weight_kg")).to_have_text("Start: 88,4 kg")
    expect(beside("waist_cm")).to_have_text("Start: 104,0 cm")
    expect(beside("smoking")).to_have_text("Start: Dagligryger")
    expect(beside("fitness_test_type")).to_have_text("Start: 6 minutters gangtest")
    expect(beside("weight_kg").locator("input, select, textarea, button")).to_have_count(0)   # read-only
    weight = page.get_by_role("textbox", name="Vægt (kg)", exact=True)
    expect(weight).to_have_accessible_description(re.compile(r"Start: 88,4 kg"))
    # Not beside a questionnaire's answers (the citizen answers afresh), nor beside the meeting date.
    expect(page.locator(".hk-form:visible .hk-field-meeting_date .hk-reference, .hk-form:visible .hk-field-hads_status .hk-reference")) \
        .to_have_count(0)

    # The change shows once the field is left.
    weight.fill("85,0")
    weight.press("Tab")
    expect(beside("weight_kg")).to_have_text("Start: 88,4 kg · ændring −3,4 kg")
    test = page.get_by_role("combobox", name="Test", exact=True)
    test.select_option(label="6 minutters gangtest")
    distance = page.get_by_role("textbox", name="6 minutters gangtest, distance (m)", exact=True)
    expect(beside("walk_6min_m")).to_have_text("Start: 420 m (6 minutters gangtest)")
    distance.fill("483")
    distance.press("Tab")
    expect(beside("walk_6min_m")).to_have_text("Start: 420 m (6 minutters gangtest) · ændring +63 m")
    # Another test than at the start: no start value, and the start's test is named.
    test.select_option(label="30 sekunders rejse-sætte-sig-test")
    expect(beside("chair_stand_30s")).to_have_text("Start: – (6 minutters gangtest)")
    test.select_option(label="6 minutters gangtest")
    expect(beside("walk_6min_m")).to_have_text("Start: 420 m (6 minutters gangtest) · ændring +63 m")

    # What is shown beside is never saved as the end's.
    save_draft(page)
    [(status, data)] = stored(server, course_id, "end")
    assert status == "draft"
    assert {k: data.get(k) for k in ("weight_kg", "fitness_test_type", "walk_6min_m", "waist_cm", "smoking")} == {
        "weight_kg": 85.0, "fitness_test_type": "six_minute_walk", "walk_6min_m": 483, "waist_cm": None,
        "smoking": None}

    # The start form itself shows no such values.
    page.locator(".hk-form-selector button").filter(has_text="Afklarende samtale").click()
    expect(page.locator(".hk-form:visible h2")).to_have_text("Afklarende samtale")
    expect(page.locator(".hk-form:visible .hk-reference")).to_have_count(0)


def test_gem_og_gaa_videre_saves_a_draft_and_opens_the_next_form(hjertekom_server, page, users, sign_in) -> None:
    server = hjertekom_server
    cpr, course_id = new_course(server, 742_005, "Lise Videre")
    sign_in(page, users.anne)
    open_course(page, cpr, course_id)
    go_on = page.locator(".hk-save-next")
    expect(go_on).to_have_text("Gem og gå videre")
    status = page.locator(".hk-status")
    date = page.get_by_role("textbox", name="Dato for afklarende samtale", exact=True)
    date.fill("17-02-2025")
    date.press("Tab")
    weight = page.get_by_role("textbox", name="Vægt (kg)", exact=True)

    # An error: nothing is saved, and the clinician stays in the form.
    weight.fill("500")
    weight.press("Tab")
    go_on.click()
    expect(status).to_contain_text("Ret fejlene, før der kan gemmes:")
    expect(page.locator(".hk-form:visible h2")).to_have_text("Afklarende samtale")
    assert stored(server, course_id) == []

    # An unusual value is confirmed first ("Bekræft og gem"), then the next form opens.
    weight.fill("205")
    weight.press("Tab")
    go_on.click()
    confirm = page.locator(".hk-confirm")
    expect(confirm).to_have_text("Bekræft og gem")
    assert stored(server, course_id) == []
    confirm.click()
    expect(page.locator(".hk-form:visible h2")).to_have_text("Afslutning")
    expect(status).to_have_text(re.compile(r"^Afklarende samtale er gemt som kladde \([\d:]+, version 1\)\. "
                                           r"Afslutning er åbnet\.\s*$"))
    assert stored(server, course_id) == [("draft", {"meeting_date": "2025-02-17", "weight_kg": 205.0})]
    expect(page.locator(".hk-form-selector button")).to_have_text(
        ["Forløb (færdig)", "Afklarende samtale (kladde)", "Afslutning (ikke startet)"])
    expect(page.locator(".hk-form-selector button", has_text="Afslutning")).to_have_attribute("aria-pressed", "true")

    # The cursor is in the next form's first field: typing goes on from the keyboard.
    end_date = page.get_by_role("textbox", name="Dato for afslutning", exact=True)
    expect(end_date).to_be_focused()
    page.keyboard.type("19-05-2025")
    page.keyboard.press("Tab")
    expect(page.get_by_role("combobox", name="Samtalen holdt af", exact=True)).to_be_focused()
    expect(end_date).to_have_value("19-05-2025")
    # The last form has no next one.
    expect(go_on).to_have_count(0)
    page.locator(".hk-save-draft").click()
    expect(status).to_contain_text("Afslutning er gemt som kladde")
    assert stored(server, course_id, "end") == [("draft", {"meeting_date": "2025-05-19"})]
