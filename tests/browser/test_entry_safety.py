"""Nothing a clinician enters is lost, duplicated or silently changed (issue 13), in a real browser
against a real Voilà: a finished registration is locked (a correction or reopening needs a reason),
every form has its history, a colleague's save is merged into the clinician's input instead of
throwing it away, every message is in the save bar at the bottom of the window, and input typed but
not yet left survives a closed tab, which asks before it closes.

Data a test needs but does not test is made through the Service; what a test is about is done in
the browser, and the store is checked afterwards.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select

from browser_store import audit_rows
from factories import end_data, start_data
from hjertekom_core.config import Config
from hjertekom_core.indicators import settings_from_config
from hjertekom_core.indicators.live import live_indicators
from hjertekom_core.store.schema import courses
from test_entry_app import (
    autosaved,
    choose,
    field,
    form_button,
    form_heading,
    form_revisions,
    message,
    new_citizen_with_course,
    open_course,
    service,
    status_line,
    text_input,
    type_in,
    wait_for_store,
)

pytestmark = pytest.mark.slow


DANISH = ZoneInfo("Europe/Copenhagen")
DRAFT_START = {"meeting_date": "17-02-2025", "weight_kg": "80", "height_cm": "178", "waist_cm": "100"}


def bar(page: Page) -> Locator:
    """The save bar at the bottom of the window."""
    return page.locator(".hk-save-bar")


def danish(saved_at: dt.datetime) -> dt.datetime:
    """A stored time (SQLite: UTC without its zone) in Danish local time."""
    aware = saved_at if saved_at.tzinfo else saved_at.replace(tzinfo=dt.timezone.utc)
    return aware.astimezone(DANISH)


def kernel_id(page: Page) -> str:
    return str(page.evaluate("JSON.parse(document.getElementById('jupyter-config-data').textContent).kernelId"))


def shutdowns(server: Any, kernel: str) -> int:
    """How often the server shut ``kernel`` down at a page's request (Voilà's beacon)."""
    text = (server.data_dir / "hjertekom.log").read_text(encoding="utf-8")
    return len(re.findall(rf"204 POST /voila/api/shutdown/{re.escape(kernel)}", text))


def municipal_k2(server: Any) -> str:
    """Silkeborg's K2 "numerator / denominator" from the live store, as the feedback table shows it."""
    live = live_indicators(server.store, server.contracts, settings_from_config(Config()), [740])
    rows = live[live["indicator"] == "K2"]
    assert len(rows) == 1, rows
    row = rows.iloc[0]
    return f"{int(row.numerator)} / {int(row.denominator)}"


def give_reason(page: Page, reason: str) -> None:
    bar(page).locator(".hk-reason input").fill(reason)
    bar(page).locator(".hk-reason-ok").click()


def detail(row: dict) -> dict:
    return json.loads(row["detail"])


# --- a finished registration ------------------------------------------------------------------------

def test_a_finished_registration_is_locked_and_a_correction_needs_a_reason(
        hjertekom_server, page, users, sign_in) -> None:
    server = hjertekom_server
    cpr, course_id = new_citizen_with_course(server, "anne", 740_401, "Lise Låst", start=start_data())
    sign_in(page, users.anne)
    open_course(page, cpr, course_id)
    expect(form_heading(page)).to_have_text("Afslutning")     # the start form is complete: the end is next
    form_button(page, "Afklarende samtale").click()
    expect(form_heading(page)).to_have_text("Afklarende samtale")

    # Locked: read-only fields, and no button that would quietly make it a draft.
    expect(text_input(page, "Vægt")).to_be_disabled()
    expect(field(page, "Rygning").locator("select")).to_be_disabled()
    expect(bar(page).locator(".hk-save-draft")).to_have_count(0)
    expect(bar(page).locator(".hk-complete")).to_have_count(0)
    expect(bar(page).locator(".hk-reopen")).to_have_text("Genåbn som kladde")
    correct = bar(page).locator(".hk-correct")
    expect(correct).to_have_text("Ret registrering")

    # "Ret registrering" asks why; no reason, no correction.
    correct.click()
    expect(bar(page)).to_contain_text("Hvorfor rettes den færdige registrering? (skal udfyldes)")
    give_reason(page, "   ")
    expect(status_line(page)).to_contain_text("Skriv en begrundelse, før du fortsætter.")
    expect(text_input(page, "Vægt")).to_be_disabled()
    give_reason(page, "Vægten var tastet forkert")
    expect(text_input(page, "Vægt")).to_be_enabled()
    expect(bar(page).locator(".hk-save-correction")).to_have_text("Gem rettelse")

    # The correction must still be a complete registration.
    type_in(page, "Højde", "")
    bar(page).locator(".hk-save-correction").click()
    expect(status_line(page)).to_contain_text("Mangler, før skemaet kan markeres som færdigt")
    assert [r["revision"] for r in form_revisions(server, course_id, "start")] == [1]

    type_in(page, "Højde", "178")
    type_in(page, "Vægt", "86,4")
    bar(page).locator(".hk-save-correction").click()
    expect(status_line(page)).to_contain_text(re.compile(r"^Afklarende samtale er rettet og stadig færdig \(.*version 2\)"))
    revs = form_revisions(server, course_id, "start")
    assert [(r["revision"], r["status"], r["reason"]) for r in revs] == [
        (1, "complete", None), (2, "complete", "Vægten var tastet forkert")]
    assert revs[1]["data"]["weight_kg"] == 86.4
    # The audit says that a reason was given, not what it says (free text may name a person).
    assert detail(audit_rows(server, username="anne", action="registration.save")[-1]) == {
        "form": "start", "revision": 2, "status": "complete", "reason_length": 25}
    # And it is locked again, still finished.
    expect(text_input(page, "Vægt")).to_be_disabled()
    expect(form_button(page, "Afklarende samtale")).to_have_text("Afklarende samtale (færdig)")
    expect(bar(page).locator(".hk-correct")).to_be_visible()


def test_reopening_as_a_draft_needs_a_reason_and_the_feedback_follows(hjertekom_server, page, users,
                                                                     sign_in) -> None:
    server = hjertekom_server
    cpr, course_id = new_citizen_with_course(server, "anne", 740_402, "Mads Genåbnet", start=start_data())
    service(server, "anne").save(course_id, "end", end_data(), 0, complete=True, confirm=True)
    sign_in(page, users.anne)
    open_course(page, cpr, course_id)
    expect(form_heading(page)).to_have_text("Afslutning")
    # This course meets K2 (21 of 24 sessions), and counts in Silkeborg's K2.
    expect(page.locator('tr[data-indicator="K2"][data-state]')).to_have_attribute("data-state", "met")
    municipal = page.locator('tr[data-indicator="K2"][data-status]').get_by_role("cell").nth(1)
    finished = municipal_k2(server)
    expect(municipal).to_have_text(finished)

    bar(page).locator(".hk-reopen").click()
    expect(bar(page)).to_contain_text("Hvorfor genåbnes den færdige registrering som kladde? (skal udfyldes)")
    give_reason(page, "")
    expect(status_line(page)).to_contain_text("Skriv en begrundelse")
    assert [r["revision"] for r in form_revisions(server, course_id, "end")] == [1]
    give_reason(page, "Afslutningssamtalen skal gentages")
    expect(status_line(page)).to_contain_text(re.compile(r"^Afslutning er genåbnet som kladde \(.*version 2\)"))
    revs = form_revisions(server, course_id, "end")
    assert [(r["revision"], r["status"], r["reason"]) for r in revs] == [
        (1, "complete", None), (2, "draft", "Afslutningssamtalen skal gentages")]
    assert revs[1]["data"] == revs[0]["data"]       # reopened as it was, nothing else changed
    assert detail(audit_rows(server, username="anne", action="registration.save")[-1]) == {
        "form": "end", "revision": 2, "status": "draft", "reason_length": 33, "reopened": True}
    expect(form_button(page, "Afslutning")).to_have_text("Afslutning (kladde)")
    expect(text_input(page, "Vægt")).to_be_enabled()
    expect(bar(page).locator(".hk-save-draft")).to_be_visible()

    # The feedback follows the real status at once: a draft end is not a finished course.
    expect(page.locator('tr[data-indicator="K2"][data-state="met"]')).to_have_count(0)
    reopened = municipal_k2(server)
    assert reopened != finished
    expect(municipal).to_have_text(reopened)

    bar(page).locator(".hk-complete").click()
    expect(status_line(page)).to_contain_text("Afslutning er markeret som færdig")
    expect(page.locator('tr[data-indicator="K2"][data-state]')).to_have_attribute("data-state", "met")
    expect(municipal).to_have_text(finished)
    assert [(r["revision"], r["status"]) for r in form_revisions(server, course_id, "end")][-1] == (3, "complete")


# --- history ---------------------------------------------------------------------------------------

def test_the_history_shows_who_when_why_and_what_changed(hjertekom_server, page, users, sign_in) -> None:
    server = hjertekom_server
    cpr, course_id = new_citizen_with_course(server, "anne", 740_403, "Nina Historik")
    service(server, "anne").save(course_id, "start", {"meeting_date": "17-02-2025", "weight_kg": "88,4",
                                                      "smoking": "daily"}, 0)
    bo = service(server, "bo")
    bo.save(course_id, "start", start_data(weight_kg="90,0", smoking="never"), 1, complete=True, confirm=True)
    bo.save(course_id, "start", start_data(weight_kg="91,0", smoking="never"), 2, complete=True, confirm=True,
            reason="Vejet igen efter samtalen")
    revs = form_revisions(server, course_id, "start")
    smoking = server.contracts["hjertekom"].form("start").field("smoking").codelist
    sign_in(page, users.anne)
    open_course(page, cpr, course_id)
    form_button(page, "Afklarende samtale").click()
    expect(form_heading(page)).to_have_text("Afklarende samtale")

    bar(page).locator(".hk-history").click()
    history = page.locator(".hk-history-panel")
    expect(history.locator(".hk-revision")).to_have_count(3)
    expect(history.locator(".hk-revision").first).to_have_attribute("data-revision", "3")   # newest first
    expect(history).to_be_in_viewport()

    def when(rev: dict[str, Any]) -> str:
        return f"{danish(rev['saved_at']):%d-%m-%Y} kl. {danish(rev['saved_at']):%H:%M}"

    newest = history.locator('.hk-revision[data-revision="3"]')
    expect(newest).to_contain_text(f"gemt af Bo Bertelsen {when(revs[2])}")
    expect(newest).to_contain_text("Begrundelse: Vejet igen efter samtalen")
    expect(newest.locator('tr[data-field="weight_kg"] td')).to_have_text(["Vægt", "90,0 kg", "91,0 kg"])
    second = history.locator('.hk-revision[data-revision="2"]')
    expect(second).to_contain_text("kladde → færdig")
    expect(second).to_contain_text(f"gemt af Bo Bertelsen {when(revs[1])}")
    expect(second.locator('tr[data-field="smoking"] td')).to_have_text(
        ["Rygning", smoking.label_of("daily"), smoking.label_of("never")])     # code labels, not codes
    first = history.locator('.hk-revision[data-revision="1"]')
    expect(first).to_contain_text(f"gemt af Anne Andersen {when(revs[0])}")
    expect(first.locator('tr[data-field="weight_kg"] td')).to_have_text(["Vægt", "–", "88,4 kg"])
    expect(first).not_to_contain_text("Begrundelse")
    # Reading the history is a read of identified data: audited.
    assert detail(audit_rows(server, username="anne", action="registration.history")[-1]) == {
        "form": "start", "revisions": 3}

    bar(page).locator(".hk-history").click()                       # "Skjul historik"
    expect(page.locator(".hk-history-panel")).to_have_count(0)


# --- conflicts -------------------------------------------------------------------------------------

def test_a_colleagues_save_is_merged_into_my_input_and_nothing_is_dropped_without_a_choice(
        hjertekom_server, page, users, sign_in) -> None:
    server = hjertekom_server
    cpr, course_id = new_citizen_with_course(server, "anne", 740_404, "Ole Samtidig", start=DRAFT_START,
                                             start_complete=False)
    sign_in(page, users.anne)
    open_course(page, cpr, course_id)
    expect(form_heading(page)).to_have_text("Afklarende samtale")
    type_in(page, "Vægt", "81,5")          # both Anne and Bo change the weight
    type_in(page, "Taljeomkreds", "98")    # only Anne

    # Meanwhile Bo saves the form (his own tab): weight and height.
    service(server, "bo").save(course_id, "start", {**DRAFT_START, "weight_kg": "82,0", "height_cm": "180"}, 1)
    bo_saved = danish(form_revisions(server, course_id, "start")[1]["saved_at"])

    bar(page).locator(".hk-save-draft").click()
    conflict = page.locator(".hk-status.hk-conflict")
    expect(conflict).to_contain_text(f"Bo Bertelsen gemte skemaet kl. {bo_saved:%H:%M}, efter du åbnede det.")
    expect(conflict).to_contain_text("Dine indtastninger er bevaret; intet er gemt endnu.")
    expect(conflict).to_contain_text("Hentet ind fra den nye version, fordi kun den ændrede dem: Højde.")
    expect(conflict).not_to_contain_text("kollega har gemt")
    expect(text_input(page, "Højde")).to_have_value("180")          # only Bo changed it: his
    expect(text_input(page, "Taljeomkreds")).to_have_value("98")    # only Anne changed it: hers
    expect(text_input(page, "Vægt")).to_have_value("81,5")          # both: hers until she chooses
    row = bar(page).locator(".hk-conflict-weight_kg")
    expect(row.locator(".hk-mine-value")).to_have_text("81,5 kg")
    expect(row.locator(".hk-theirs-value")).to_have_text("82,0 kg")
    expect(row).to_be_in_viewport()

    # Nothing is discarded without an explicit choice.
    bar(page).locator(".hk-save-draft").click()
    expect(status_line(page)).to_contain_text("Vælg først for hvert felt, der er ændret begge steder")
    assert len(form_revisions(server, course_id, "start")) == 2

    row.locator(".hk-take-theirs").click()
    expect(text_input(page, "Vægt")).to_have_value("82,0")
    expect(row.locator(".hk-take-theirs")).to_contain_text("valgt")
    bar(page).locator(".hk-save-draft").click()
    expect(status_line(page)).to_contain_text(re.compile(r"gemt som kladde \(.*version 3\)"))
    revs = form_revisions(server, course_id, "start")
    assert [r["user_id"] for r in revs][1:] == [service(server, "bo").user.id, service(server, "anne").user.id]
    assert {k: revs[2]["data"].get(k) for k in ("meeting_date", "weight_kg", "height_cm", "waist_cm")} == {
        "meeting_date": "2025-02-17", "weight_kg": 82.0, "height_cm": 180, "waist_cm": 98.0}
    assert detail(audit_rows(server, username="anne", action="registration.conflict")[-1]) == {
        "form": "start", "base_revision": 1, "latest_revision": 2}


def test_the_same_user_in_two_tabs_is_told_it_was_their_other_tab(hjertekom_server, new_page, users,
                                                                  sign_in) -> None:
    server = hjertekom_server
    cpr, course_id = new_citizen_with_course(server, "anne", 740_405, "Pia Tofaner", start=DRAFT_START,
                                             start_complete=False)
    first, second = new_page(), new_page()
    for tab in (first, second):
        sign_in(tab, users.anne)
        open_course(tab, cpr, course_id)
        expect(form_heading(tab)).to_have_text("Afklarende samtale")
    type_in(first, "Vægt", "81,0")
    bar(first).locator(".hk-save-draft").click()
    expect(status_line(first)).to_contain_text("gemt som kladde")
    saved = danish(form_revisions(server, course_id, "start")[1]["saved_at"])

    type_in(second, "Højde", "181")
    bar(second).locator(".hk-save-draft").click()
    conflict = second.locator(".hk-status.hk-conflict")
    expect(conflict).to_contain_text(f"Du har selv gemt skemaet i en anden fane kl. {saved:%H:%M}.")
    expect(conflict).not_to_contain_text("kollega")
    expect(text_input(second, "Vægt")).to_have_value("81,0")       # taken from the other tab
    expect(text_input(second, "Højde")).to_have_value("181")       # kept
    bar(second).locator(".hk-save-draft").click()
    expect(status_line(second)).to_contain_text("version 3")
    data = form_revisions(server, course_id, "start")[2]["data"]
    assert (data["weight_kg"], data["height_cm"]) == (81.0, 181)


# --- nothing out of sight ----------------------------------------------------------------------------

def test_a_refused_municipality_is_told_in_the_save_bar_and_never_comes_back(
        hjertekom_server, page, users, sign_in) -> None:
    server = hjertekom_server
    cpr, course_id = new_citizen_with_course(server, "anne", 740_406, "Per Kommuneskift")
    sign_in(page, users.anne)
    open_course(page, cpr, course_id)
    form_button(page, "Forløb").click()
    expect(form_heading(page)).to_have_text("Forløb")
    bar(page).locator(".hk-correct").click()
    give_reason(page, "Borgeren er flyttet")
    choose(page, "Kommune", "København")
    bar(page).locator(".hk-save-correction").click()

    refusal = page.locator(".hk-status.hk-refused")
    expect(refusal).to_contain_text("Ikke gemt: du har ikke adgang til at flytte forløbet til København. "
                                    "\"Kommune\" er sat tilbage til den gemte værdi (Silkeborg).")
    expect(refusal).to_be_in_viewport()
    # Not shown as if saved: the stored value is back in the field, with a note.
    expect(field(page, "Kommune").locator("select")).to_have_value("Silkeborg")
    expect(message(page, "Kommune")).to_contain_text("Ikke gemt: København")
    assert [r["revision"] for r in form_revisions(server, course_id, "course")] == [1]
    with server.store.read() as conn:
        assert conn.execute(select(courses.c.municipality_code).where(courses.c.id == course_id)).scalar_one() == 740
    assert autosaved(server, "anne", course_id, "course").get("municipality") != 101
    assert detail(audit_rows(server, username="anne", action="access.denied")[-1])["attempted"] == "course.write"

    # Opened again (the reload keeps the form's address), the course shows what is stored, and
    # nothing is "restored".
    page.reload()
    expect(form_heading(page)).to_have_text("Forløb", timeout=60_000)
    expect(field(page, "Kommune").locator("select")).to_have_value("Silkeborg")
    expect(page.locator(".hk-restored")).to_have_count(0)


def test_the_save_bar_stays_in_sight_and_leads_to_the_first_field_in_error(
        hjertekom_server, page, users, sign_in) -> None:
    server = hjertekom_server
    cpr, course_id = new_citizen_with_course(server, "anne", 740_407, "Rikke Rulle")
    sign_in(page, users.anne)
    open_course(page, cpr, course_id)
    expect(form_heading(page)).to_have_text("Afklarende samtale")
    type_in(page, "Vægt", "500")
    last = field(page, "Psykosocial støtte tilbudt")
    last.scroll_into_view_if_needed()          # the foot of a long form
    expect(text_input(page, "Vægt")).not_to_be_in_viewport()
    assert page.evaluate("document.querySelector('.hk-course').getBoundingClientRect().height") > 2000

    save_bar = bar(page)
    expect(save_bar).to_be_in_viewport()
    assert save_bar.evaluate("e => getComputedStyle(e).position") in ("fixed", "sticky")
    save_bar.locator(".hk-save-draft").click()
    status = status_line(page)
    expect(status).to_contain_text("Ret fejlene, før der kan gemmes:")
    expect(status).to_contain_text("Vægt: 500 kg er over den højeste mulige værdi")
    expect(status).to_be_in_viewport()
    link = status.locator("a.hk-goto-error")
    expect(link).to_have_text('Gå til feltet "Vægt"')
    link.click()
    expect(text_input(page, "Vægt")).to_be_focused()
    expect(text_input(page, "Vægt")).to_be_in_viewport()
    assert form_revisions(server, course_id, "start") == []

    # The last field is not hidden behind the bar when the page is scrolled to its end.
    last.hover()
    page.mouse.wheel(0, 20_000)                # as far down as the page goes
    box, bar_box = last.bounding_box(), save_bar.bounding_box()
    assert box is not None and bar_box is not None and box["y"] + box["height"] <= bar_box["y"] + 1


# --- nothing half-typed lost ---------------------------------------------------------------------------

def test_input_typed_but_not_left_survives_a_lost_tab_and_the_notice_is_at_the_top(
        hjertekom_server, new_page: Callable[[], Page], users, sign_in) -> None:
    server = hjertekom_server
    cpr, course_id = new_citizen_with_course(server, "anne", 740_408, "Søren Skrivende", start=DRAFT_START,
                                             start_complete=False)
    page = new_page()
    sign_in(page, users.anne)
    open_course(page, cpr, course_id)
    text_input(page, "Vægt").fill("83,5")        # typed, never left: no blur, no change event
    wait_for_store(lambda: autosaved(server, "anne", course_id, "start").get("weight_kg") == "83,5",
                   "the autosave of what was typed")
    assert [r["revision"] for r in form_revisions(server, course_id, "start")] == [1]   # not saved behind her back
    page.context.close()                          # the tab is gone without a word (no unload, no blur)

    again = new_page()
    sign_in(again, users.anne)
    open_course(again, cpr, course_id)
    expect(text_input(again, "Vægt")).to_have_value("83,5")
    notice = again.locator(".hk-restored")
    expect(notice).to_contain_text("Dine ikke-gemte indtastninger fra")
    expect(notice).to_be_in_viewport()
    top, heading = notice.bounding_box(), form_heading(again).bounding_box()
    assert top is not None and heading is not None and top["y"] < heading["y"]   # above the form, not at its foot
    expect(again.locator(".hk-course.hk-dirty")).to_have_count(1)
    again.once("dialog", lambda dialog: dialog.accept())


def test_unsaved_input_from_before_a_colleagues_save_is_merged_when_the_form_is_opened_again(
        hjertekom_server, new_page: Callable[[], Page], users, sign_in) -> None:
    """An autosave started from an older revision used to be ignored without a word; it is merged."""
    server = hjertekom_server
    cpr, course_id = new_citizen_with_course(server, "anne", 740_410, "Ulla Uafsluttet", start=DRAFT_START,
                                             start_complete=False)
    page = new_page()
    sign_in(page, users.anne)
    open_course(page, cpr, course_id)
    type_in(page, "Taljeomkreds", "97")
    wait_for_store(lambda: autosaved(server, "anne", course_id, "start").get("waist_cm") == "97",
                   "the autosave of the waist")
    page.context.close()                                   # the tab is lost
    service(server, "bo").save(course_id, "start", {**DRAFT_START, "height_cm": "182"}, 1)

    again = new_page()
    sign_in(again, users.anne)
    open_course(again, cpr, course_id)
    conflict = again.locator(".hk-status.hk-conflict")
    expect(conflict).to_contain_text("Bo Bertelsen gemte skemaet kl.")
    expect(text_input(again, "Taljeomkreds")).to_have_value("97")    # hers, from the autosave
    expect(text_input(again, "Højde")).to_have_value("182")          # his, from the new revision
    bar(again).locator(".hk-save-draft").click()
    expect(status_line(again)).to_contain_text("version 3")
    data = form_revisions(server, course_id, "start")[2]["data"]
    assert (data["waist_cm"], data["height_cm"]) == (97.0, 182)


def test_leaving_with_unsaved_input_asks_first_and_staying_keeps_the_kernel(
        hjertekom_server, new_page: Callable[[], Page], users, sign_in) -> None:
    server = hjertekom_server
    cpr, course_id = new_citizen_with_course(server, "anne", 740_409, "Tove Tilbage", start=DRAFT_START,
                                             start_complete=False)
    page = new_page()
    sign_in(page, users.anne)
    open_course(page, cpr, course_id)
    kernel = kernel_id(page)
    type_in(page, "Vægt", "84,0")
    expect(page.locator(".hk-course.hk-dirty")).to_have_count(1)

    # Closing asks; the clinician stays: the page and its kernel go on working.
    with page.expect_event("dialog") as asked:
        page.close(run_before_unload=True)
    assert asked.value.type == "beforeunload"
    asked.value.dismiss()
    bar(page).locator(".hk-save-draft").click()
    expect(status_line(page)).to_contain_text(re.compile(r"gemt som kladde \(.*version 2\)"))
    assert form_revisions(server, course_id, "start")[1]["data"]["weight_kg"] == 84.0
    expect(page.locator(".hk-course.hk-dirty")).to_have_count(0)
    assert shutdowns(server, kernel) == 0

    # Typed again and closed again; this time the clinician leaves: the kernel is shut down.
    type_in(page, "Højde", "181")
    expect(page.locator(".hk-course.hk-dirty")).to_have_count(1)
    with page.expect_event("dialog") as asked_again:
        page.close(run_before_unload=True)
    assert asked_again.value.type == "beforeunload"
    with page.expect_event("close"):
        asked_again.value.accept()
    wait_for_store(lambda: shutdowns(server, kernel) == 1, "the kernel's shutdown", 30)
    # What was typed is kept for next time, as every change is.
    assert autosaved(server, "anne", course_id, "start").get("height_cm") == "181"
