"""The Voilà entry app in a real browser (chromium), end to end, against one server per session.

Every test also checks the store afterwards (SQLAlchemy on the server's SQLite file, or the
Service as the acting user), not only what the page shows. Data a test needs but does not test
(a course, a complete start registration) is created through the Service, which is fast; what a
test is about is done in the browser.

Form fields are found by their visible label: the field boxes carry no CSS class naming the
field and the inputs have no bound <label> (see ``field``).
"""
from __future__ import annotations

import http.client
import json
import random
import re
import stat
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import func, select

from browser_store import audit_rows, wait_for_store
from browser_form import field, text_input, type_in
from factories import course_data, start_data
from hjertekom_core.config import Config
from hjertekom_core.cpr import generate_cpr, parse_cpr
from hjertekom_core.errors import NotFound
from hjertekom_core.indicators import settings_from_config
from hjertekom_core.indicators.course import course_criteria
from hjertekom_core.indicators.live import live_indicators
from hjertekom_core.service import Service
from hjertekom_core.store.schema import audit_log, autosaves, citizens, courses, registrations
from hjertekom_core.users import get_user
from hjertekom_core.validation import validate_form

pytestmark = pytest.mark.slow

SESSION_COOKIE = "hjertekom-session"
DECLINED = "Borgeren ønskede ikke at udfylde"
QUESTIONNAIRES = ("HADS udfyldt", "HeartQoL udfyldt", "EQ-5D-5L udfyldt", "WHO-5 udfyldt")


# --- page helpers ------------------------------------------------------------------------------------

def choose(page: Page, label: str, option: str) -> None:
    field(page, label).locator("select").select_option(label=option)


def expect_hidden(page: Page, label: str) -> None:
    """The field exists in the form but is not shown (branching)."""
    expect(field(page, label)).to_have_count(1)
    expect(field(page, label)).to_be_hidden()


def message(page: Page, label: str) -> Locator:
    """The error or warning line shown next to (under) a field."""
    return field(page, label).get_by_role("alert")


def status_line(page: Page) -> Locator:
    return page.locator(".hk-status")


def form_heading(page: Page) -> Locator:
    return page.locator(".hk-form:visible h2")


def form_button(page: Page, form_label: str) -> Locator:
    """The course view's button for one form, e.g. "Afklarende samtale (kladde)"."""
    return page.get_by_role("button", name=re.compile(rf"^{re.escape(form_label)} \("))


def search(page: Page, text: str) -> None:
    page.locator(".hk-search input").fill(text)
    page.get_by_role("button", name="Søg").click()   # (the name also holds the icon glyph)


def open_course(page: Page, cpr: str, course_id: int) -> None:
    """From the worklist: find the citizen by CPR number and open the course."""
    search(page, f"{cpr[:6]}-{cpr[6:]}")
    page.get_by_role("button", name=re.compile(rf"^Forløb {course_id} \(")).click()
    expect(page.locator(".hk-form:visible")).to_be_visible()


# --- store helpers -----------------------------------------------------------------------------------

def service(server: Any, username: str) -> Service:
    return Service(server.store, server.contracts, get_user(server.store, username))


def new_citizen_with_course(server: Any, username: str, seed: int, name: str, *,
                            start: dict[str, Any] | None = None, start_complete: bool = True) -> tuple[str, int]:
    """A synthetic citizen with a complete course form (and optionally a start registration),
    through the Service as ``username``; returns (CPR digits, course id)."""
    svc = service(server, username)
    cpr = generate_cpr(random.Random(seed))
    citizen = svc.create_citizen(cpr, name, min(svc.user.municipalities))
    course_id = svc.open_course(citizen.id, course_data(), complete=True).course_id
    if start is not None:
        svc.save(course_id, "start", start, 0, complete=start_complete, confirm=True)
    return cpr, course_id


def form_revisions(server: Any, course_id: int, form: str) -> list[dict[str, Any]]:
    """Every stored revision of one form of a course, oldest first, data decoded."""
    with server.store.read() as conn:
        rows = conn.execute(select(registrations).where(registrations.c.course_id == course_id,
                                                        registrations.c.form == form)
                            .order_by(registrations.c.revision)).all()
    return [{**row._mapping, "data": json.loads(row.data)} for row in rows]


def autosaved(server: Any, username: str, course_id: int, form: str) -> dict[str, Any]:
    """The user's autosaved (unsaved) input of the form, read from the store ({} if none)."""
    uid = user_id(server, username)
    with server.store.read() as conn:
        row = conn.execute(select(autosaves.c.data).where(
            autosaves.c.user_id == uid, autosaves.c.course_id == course_id, autosaves.c.form == form)).first()
    return json.loads(row.data) if row else {}


def audit_count(server: Any) -> int:
    with server.store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(audit_log)).scalar_one())


def user_id(server: Any, username: str) -> int:
    found = get_user(server.store, username).id
    assert found is not None
    return found


def plain_request(base_url: str, method: str, path: str, cookie: str = "") -> tuple[int, str]:
    """An HTTP request (without a cookie unless given), redirects not followed: (status, Location)."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    headers = {"Content-Type": "application/json"} if method == "POST" else {}
    if cookie:
        headers["Cookie"] = cookie
    try:
        conn.request(method, path, body=b"{}" if method == "POST" else None, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("Location") or ""
    finally:
        conn.close()


def is_login_redirect(status: int, location: str) -> bool:
    return status in (301, 302, 303, 307) and urlsplit(location).path == "/login"


# --- tests -------------------------------------------------------------------------------------------

def test_the_app_and_the_kernel_api_need_a_login(hjertekom_server, page, users, sign_in) -> None:
    base = hjertekom_server.base_url
    before = audit_count(hjertekom_server)

    # Without a cookie: the page redirects to the login page, the kernel API refuses.
    status, location = plain_request(base, "GET", "/")
    assert is_login_redirect(status, location), (status, location)
    assert urlsplit(location).query == "next=%2F"
    for method in ("GET", "POST"):
        status, location = plain_request(base, method, "/api/kernels")
        assert status == 403 or is_login_redirect(status, location), (method, status, location)
    status, location = plain_request(base, "GET", "/api/sessions")
    assert status == 403 or is_login_redirect(status, location), (status, location)

    page.goto(f"{base}/")
    expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator(".hk-app")).to_have_count(0)
    # Nothing ran for the anonymous visitor: no kernel read anything (every read is audited).
    assert audit_count(hjertekom_server) == before

    # Signed in, the app is there; after "Log ud" it is not, and the session cookie is gone.
    sign_in(page, users.anne)
    reads = len(audit_rows(hjertekom_server, username="anne", action="worklist.read"))
    assert reads >= 1
    page.locator("a.hk-logout").click()
    expect(page.get_by_text("Du er logget ud.")).to_be_visible()
    assert SESSION_COOKIE not in {c["name"] for c in page.context.cookies()}
    page.goto(f"{base}/")
    expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
    expect(page.locator("#username")).to_be_visible()
    expect(page.locator(".hk-search input")).to_have_count(0)
    assert len(audit_rows(hjertekom_server, username="anne", action="worklist.read")) == reads


def test_the_kernels_channels_are_unix_sockets_in_a_private_folder(
        hjertekom_server, page, users, sign_in) -> None:
    """A kernel holds the data its form shows, and its output channel hands every message to any
    subscriber, key or not. So its channels must not be TCP ports that any local account can
    reach, but Unix sockets in a folder that only the server's own account can enter."""
    sign_in(page, users.anne)  # Anne's form is open: one of the kernels now holds her worklist
    kernels = [p for p in psutil.Process(hjertekom_server.pid).children(recursive=True)
               if "ipykernel_launcher" in " ".join(p.cmdline())]
    assert len(kernels) >= 2, "the signed-in form's kernel and at least one preheated kernel"
    for kernel in kernels:
        cmdline = kernel.cmdline()
        connection_file = Path(cmdline[cmdline.index("-f") + 1])
        info = json.loads(connection_file.read_text(encoding="utf-8"))
        assert info["transport"] == "ipc", info["transport"]
        folder = connection_file.parent
        assert stat.S_IMODE(folder.stat().st_mode) & 0o077 == 0, oct(folder.stat().st_mode)
        # shell, iopub, stdin, control and heartbeat: all bound beside the connection file (a kernel
        # that refills the pool may still be binding them)
        deadline = time.monotonic() + 30
        while True:
            sockets = {Path(c.laddr) for c in kernel.net_connections(kind="unix") if c.laddr}
            if len({s for s in sockets if s.name.startswith(f"{connection_file.stem}-ipc-")}) == 5:
                break
            assert time.monotonic() < deadline, f"the kernel's five channels are not all bound: {sockets}"
            time.sleep(0.25)
        assert all(s.parent == folder for s in sockets), sockets


def test_login_with_a_wrong_password_is_refused_in_danish_and_the_right_one_opens_the_worklist(
        hjertekom_server, page, users, sign_in) -> None:
    anne = users.anne
    failed_before = len(audit_rows(hjertekom_server, username=anne.username, action="login.failed"))
    logins_before = len(audit_rows(hjertekom_server, username=anne.username, action="login"))

    page.goto(f"{hjertekom_server.base_url}/login")
    page.locator("#username").fill(anne.username)
    page.locator("#password").fill("forkert-kodeord")
    page.locator("#login").click()
    expect(page.get_by_role("alert")).to_have_text("Forkert brugernavn eller adgangskode. Prøv igen.")
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.locator(".hk-app")).to_have_count(0)
    assert SESSION_COOKIE not in {c["name"] for c in page.context.cookies()}

    sign_in(page, anne)
    expect(page.locator(".hk-user")).to_contain_text("Anne Andersen · Silkeborg")
    expect(page.get_by_role("heading", name="Find borger")).to_be_visible()
    for section in (".hk-missing-end", ".hk-drafts", ".hk-overdue"):
        expect(page.locator(section)).to_be_visible()
    expect(page.get_by_role("button", name="Ny borger og forløb")).to_be_visible()

    failed = audit_rows(hjertekom_server, username=anne.username, action="login.failed")
    logins = audit_rows(hjertekom_server, username=anne.username, action="login")
    # The failure is the account's (the throttle counts it; the auditor sees whose login was tried).
    assert len(failed) == failed_before + 1 and failed[-1]["user_id"] == user_id(hjertekom_server, "anne")
    assert len(logins) == logins_before + 1 and logins[-1]["user_id"] == user_id(hjertekom_server, "anne")


def test_create_a_citizen_and_a_course_then_the_start_form_opens(hjertekom_server, page, users, sign_in) -> None:
    cpr = generate_cpr(random.Random(740_001))
    shown_cpr = f"{cpr[:6]}-{cpr[6:]}"
    name = "Birthe Browsertest"
    sign_in(page, users.anne)

    search(page, shown_cpr)
    expect(page.get_by_text("Ingen borger fundet i din kommune.")).to_be_visible()
    page.get_by_role("button", name="Ny borger og forløb").click()
    expect(page.get_by_role("heading", name="Ny borger og forløb")).to_be_visible()
    expect(page.get_by_label("CPR-nummer")).to_have_value(shown_cpr)  # carried over from the search
    expect(page.get_by_text(f"Født {parse_cpr(cpr).birth_date:%d-%m-%Y}.")).to_be_visible()
    page.get_by_label("Navn", exact=True).fill(name)
    expect(field(page, "Kommune").locator("select")).to_have_value("Silkeborg")  # the user's one municipality
    type_in(page, "Henvisningsdato", "03-02-2025")
    field(page, "Diagnose og indgreb").get_by_role("checkbox", name="Blodprop i hjertet (AMI)").check()
    page.get_by_role("button", name="Opret forløb").click()

    expect(form_heading(page)).to_have_text("Afklarende samtale")
    expect(page.locator(".hk-app")).to_contain_text("Forløbet er oprettet. Udfyld den afklarende samtale.")
    expect(page.get_by_role("heading", name=f"{name} · {shown_cpr}")).to_be_visible()

    info = parse_cpr(cpr)
    with hjertekom_server.store.read() as conn:
        found = conn.execute(select(citizens).where(citizens.c.cpr == cpr)).all()
        assert len(found) == 1
        citizen = found[0]
        course_rows = conn.execute(select(courses).where(courses.c.citizen_id == citizen.id)).all()
    assert (citizen.name, citizen.municipality_code, citizen.sex) == (name, 740, info.sex)
    assert citizen.birth_date == info.birth_date
    assert citizen.created_by == user_id(hjertekom_server, "anne")
    assert len(course_rows) == 1
    course = course_rows[0]
    assert (course.programme, course.municipality_code) == ("hjertekom", 740)
    expect(page.get_by_text(f"Forløb {course.id} · Silkeborg")).to_be_visible()
    revs = form_revisions(hjertekom_server, course.id, "course")
    assert [(r["revision"], r["status"]) for r in revs] == [(1, "complete")]
    assert revs[0]["data"] == {"municipality": 740, "referral_date": "2025-02-03",
                               "diagnosis_groups": ["acute_myocardial_infarction"]}
    assert form_revisions(hjertekom_server, course.id, "start") == []


def test_start_registration_limits_draft_and_complete(hjertekom_server, page, users, sign_in) -> None:
    server = hjertekom_server
    cpr, course_id = new_citizen_with_course(server, "anne", 740_002, "Carsten Startskema")
    sign_in(page, users.anne)
    open_course(page, cpr, course_id)
    expect(form_heading(page)).to_have_text("Afklarende samtale")
    save_draft, complete, status = page.locator(".hk-save-draft"), page.locator(".hk-complete"), status_line(page)

    # A hard limit: the Danish message next to the field as soon as it is left; saving is blocked.
    type_in(page, "Dato for afklarende samtale", "17-02-2025")
    type_in(page, "Vægt", "500")
    expect(message(page, "Vægt")).to_contain_text(
        "Vægt: 500 kg er over den højeste mulige værdi (350 kg). Ret værdien.")
    save_draft.click()
    expect(status).to_contain_text("Ret fejlene, før der kan gemmes:")
    expect(status).to_contain_text("Vægt: 500 kg er over den højeste mulige værdi")
    assert form_revisions(server, course_id, "start") == []

    # A soft limit: a warning next to the field, and saving asks for confirmation first.
    type_in(page, "Vægt", "205")
    expect(message(page, "Vægt")).to_contain_text(
        "Vægt: 205 kg er usædvanligt højt (over 200 kg). Kontrollér værdien, og bekræft den, hvis den er rigtig.")
    save_draft.click()
    confirm = page.locator(".hk-confirm")
    expect(confirm).to_have_text("Bekræft og gem")
    expect(page.get_by_text("Kontrollér, før der gemmes – er det rigtigt?")).to_be_visible()
    assert form_revisions(server, course_id, "start") == []
    confirm.click()
    expect(status).to_contain_text("gemt som kladde")
    revs = form_revisions(server, course_id, "start")
    assert [(r["revision"], r["status"]) for r in revs] == [(1, "draft")]
    assert revs[0]["data"] == {"meeting_date": "2025-02-17", "weight_kg": 205.0}  # Danish date stored as ISO
    assert revs[0]["user_id"] == user_id(server, "anne")
    # Saving must leave the clinician in the form just saved.
    expect(status).to_contain_text(re.compile(r"^Afklarende samtale er gemt som kladde \(.*version 1\)"))
    expect(form_heading(page)).to_have_text("Afklarende samtale")
    expect(form_button(page, "Afklarende samtale")).to_have_text("Afklarende samtale (kladde)")
    expect(form_button(page, "Afklarende samtale")).to_have_class(re.compile(r"\bmod-active\b"))
    expect(confirm).to_have_count(0)

    # Completing with required fields missing: the Danish list of what is missing, nothing saved.
    course_form = service(server, "anne").get_course(course_id).data_of("course")
    missing = validate_form(server.contracts["hjertekom"], "start",
                            {"meeting_date": "17-02-2025", "weight_kg": "205"},
                            context={"course": course_form}, complete=True).missing
    complete.click()
    expect(status).to_contain_text(f"Mangler, før skemaet kan markeres som færdigt ({len(missing)}):")
    for line in ("• Højde og BMI: Højde", "• Levevaner: Rygning", "• Fysisk kapacitet: Test",
                 "• Angst og depression (HADS): HADS udfyldt", "• Arbejde: Arbejdssituation",
                 "• Plan: tilbud: Fysisk træning tilbudt"):
        expect(status).to_contain_text(line)
    expect(status).not_to_contain_text("Vægt")
    expect(message(page, "Højde")).to_contain_text("Højde mangler.")
    # The status line must not keep the class of the earlier, successful save.
    expect(status).not_to_have_class(re.compile(r"\bhk-saved\b"))
    assert [(r["revision"], r["status"]) for r in form_revisions(server, course_id, "start")] == [(1, "draft")]

    # Fill in the rest (questionnaires declined, fitness test not done: their items stay hidden).
    type_in(page, "Højde", "178")
    expect(field(page, "BMI")).to_contain_text("64,7 kg/m²")   # derived live by the core
    choose(page, "Rygning", "Aldrig ryger")
    choose(page, "Test", "Ikke udført")
    expect_hidden(page, "6 minutters gangtest, distance")
    for questionnaire in QUESTIONNAIRES:
        choose(page, questionnaire, DECLINED)
    expect_hidden(page, "HADS 1 – angst")
    choose(page, "Arbejdssituation", "Folkepension eller efterløn")
    for offer, answer in (("Fysisk træning tilbudt", "Ja"), ("Patientundervisning tilbudt", "Ja"),
                          ("Kostvejledning tilbudt", "Ja"), ("Psykosocial støtte tilbudt", "Nej")):
        choose(page, offer, answer)
    expect(message(page, "Højde")).to_have_count(0)

    complete.click()
    expect(confirm).to_be_visible()          # the soft-limit weight must be confirmed again
    assert len(form_revisions(server, course_id, "start")) == 1
    confirm.click()
    expect(status).to_contain_text(re.compile(r"^Afklarende samtale er (markeret som )?færdigt? \(.*version 2\)"))
    expect(status).to_have_class(re.compile(r"\bhk-saved\b"))

    revs = form_revisions(server, course_id, "start")
    assert [(r["revision"], r["status"]) for r in revs] == [(1, "draft"), (2, "complete")]
    data = revs[1]["data"]
    expected = {"meeting_date": "2025-02-17", "weight_kg": 205.0, "height_cm": 178, "bmi": 64.7,
                "smoking": "never", "fitness_test_type": "not_done", "hads_status": "declined",
                "heartqol_status": "declined", "eq5d_status": "declined", "who5_status": "declined",
                "employment": "retired", "training_offered": "yes", "patient_education_offered": "yes",
                "diet_offered": "yes", "psychosocial_offered": "no"}
    assert {k: data.get(k) for k in expected} == expected
    raw = {"meeting_date": "17-02-2025", "weight_kg": "205", "height_cm": "178", "smoking": "never",
           "fitness_test_type": "not_done", "hads_status": "declined", "heartqol_status": "declined",
           "eq5d_status": "declined", "who5_status": "declined", "employment": "retired",
           "training_offered": "yes", "patient_education_offered": "yes", "diet_offered": "yes",
           "psychosocial_offered": "no"}
    cleaned = validate_form(server.contracts["hjertekom"], "start", raw, context={"course": course_form},
                            complete=True).cleaned
    assert data == cleaned   # exactly what the core makes of the same answers, nothing more


def test_end_registration_and_feedback(hjertekom_server, page, users, sign_in) -> None:
    server = hjertekom_server
    start = start_data(smoking="never", employment="retired", heartqol_status="declined",
                       eq5d_status="declined", who5_status="declined")   # HADS completed, 6-minute walk 420 m
    cpr, course_id = new_citizen_with_course(server, "anne", 740_003, "Ditte Afslutning", start=start)
    sign_in(page, users.anne)
    open_course(page, cpr, course_id)
    expect(form_heading(page)).to_have_text("Afslutning")   # the start form is complete: the end is next

    type_in(page, "Dato for afslutning", "19-05-2025")
    choose(page, "Forløbsstatus", "Gennemført")
    type_in(page, "Planlagte træningsgange", "24")
    type_in(page, "Gennemførte træningsgange", "21")
    choose(page, "Patientundervisning", "Ja")
    choose(page, "Diætbehandling ved klinisk diætist", "Nej")
    choose(page, "Psykosocial støtte", "Nej")
    # Branching on the start form: never smoker and retired, so these are not asked.
    for hidden in ("Rygestopforløb", "Støtte til fastholdelse i arbejde", "Arbejdssituation ved afslutning"):
        expect_hidden(page, hidden)
    type_in(page, "Vægt", "85,0")
    choose(page, "Rygning", "Aldrig ryger")
    choose(page, "Test", "6 minutters gangtest")
    type_in(page, "6 minutters gangtest, distance", "483")
    expect(field(page, "Ændring i fysisk kapacitet")).to_contain_text("+15,0 %")
    for questionnaire in QUESTIONNAIRES:
        choose(page, questionnaire, DECLINED)
    page.locator(".hk-complete").click()

    status = status_line(page)
    expect(status).to_contain_text(re.compile(r"er (markeret som )?færdigt? \("))
    revs = form_revisions(server, course_id, "end")
    assert [(r["revision"], r["status"]) for r in revs] == [(1, "complete")]
    data = revs[0]["data"]
    expected = {"meeting_date": "2025-05-19", "course_status": "completed", "training_sessions_planned": 24,
                "training_sessions_attended": 21, "patient_education_received": "yes",
                "diet_dietitian_received": "no", "psychosocial_received": "no", "weight_kg": 85.0,
                "smoking": "never", "fitness_test_type": "six_minute_walk", "walk_6min_m": 483,
                "fitness_change_pct": 15.0, "bmi": 26.8, "hads_status": "declined", "heartqol_status": "declined",
                "eq5d_status": "declined", "who5_status": "declined"}
    assert {k: data.get(k) for k in expected} == expected
    assert not {"smoking_cessation_received", "work_retention_received", "return_to_work"} & set(data)

    # The citizen's results: start against end.
    expect(page.get_by_role("heading", name="Dine resultater")).to_be_visible()

    def result_row(label: str) -> Locator:
        return page.get_by_role("row").filter(has=page.get_by_role("cell", name=label, exact=True))

    expect(result_row("Vægt").get_by_role("cell")).to_have_text(["Vægt", "88,4 kg", "85,0 kg", "−3,4 kg"])
    expect(result_row("6 minutters gangtest, distance").get_by_role("cell")).to_have_text(
        ["6 minutters gangtest, distance", "420 m", "483 m", "+63 m (+15,0 %)"])

    # This course's K1-K6, as the core decides them from the stored registrations.
    course = service(server, "anne").get_course(course_id)
    states = course_criteria(server.contracts["hjertekom"], {f: r.data for f, r in course.forms.items()},
                             statuses={f: r.status for f, r in course.forms.items()})
    assert states == {"K1": "met", "K2": "met", "K3": "met", "K4": "not_applicable", "K5": "not_met", "K6": "met"}
    expect(page.get_by_role("heading", name="Kvalitetsindikatorer for forløbet")).to_be_visible()
    for indicator, state in states.items():
        expect(page.locator(f'tr[data-indicator="{indicator}"][data-state]')).to_have_attribute("data-state", state)

    # The municipality's K1-K6 table, with the counts of the live store.
    expect(page.get_by_role("heading", name="Kvalitetsindikatorer K1-K6")).to_be_visible()
    live = live_indicators(server.store, server.contracts, settings_from_config(Config()), [740])
    assert live["period"].nunique() == 1   # every finished course of 740 in this session ended in 2025
    for row in live.itertuples(index=False):
        shown = page.locator(f'tr[data-indicator="{row.indicator}"][data-status]')
        expect(shown.get_by_role("cell").nth(1)).to_have_text(f"{int(row.numerator)} / {int(row.denominator)}")
        # The status the live store gives (K1 counts this session's never-ended courses too, so it
        # depends on what the other tests left behind): the page must agree with it.
        expect(shown).to_have_attribute("data-status", row.status)
    # Rendered by the server (the form kernel stays free of pandas/DuckDB), not as a fallback.
    access_log = (server.data_dir / "hjertekom.log").read_text(encoding="utf-8")
    assert re.search(r"200 GET /feedback/\d+", access_log)  # on the server's private socket
    assert "rendering in the kernel" not in access_log

    # Saving must leave the clinician in the form just saved.
    expect(status).to_contain_text(re.compile(r"^Afslutning er (markeret som )?færdigt? \(.*version 1\)"))
    expect(form_heading(page)).to_have_text("Afslutning")
    expect(form_button(page, "Afslutning")).to_have_text("Afslutning (færdig)")


def test_a_user_of_another_municipality_can_neither_find_nor_open_the_course(
        hjertekom_server, page, users, sign_in) -> None:
    server = hjertekom_server
    name = "Ejnar Kommunegrænse"
    cpr, course_id = new_citizen_with_course(server, "anne", 740_004, name,
                                             start={"meeting_date": "17-02-2025", "weight_kg": "80"},
                                             start_complete=False)   # a draft: on Silkeborg's worklist
    sign_in(page, users.carl)
    expect(page.locator(".hk-user")).to_contain_text("Carl Christensen · København")
    expect(page.locator(".hk-app")).not_to_contain_text(name)

    for text, action in ((f"{cpr[:6]}-{cpr[6:]}", "citizen.find"), (name, "citizen.search")):
        search(page, text)
        # What the search found is audited before the page shows it: wait for that, then look.
        wait_for_store(lambda action=action: bool(audit_rows(server, username="carl", action=action)),
                       f"Carl's {action}")
        expect(page.get_by_text("Ingen borger fundet i din kommune.")).to_be_visible()
        expect(page.get_by_role("button", name=re.compile(r"^Forløb \d+"))).to_have_count(0)
        expect(page.locator(".hk-app")).not_to_contain_text(name)
    assert [json.loads(r["detail"]) for r in audit_rows(server, username="carl", action="citizen.search")] \
        == [{"hits": 0}]

    # Nor can the course be reached by registering the citizen again in København.
    search(page, f"{cpr[:6]}-{cpr[6:]}")
    page.get_by_role("button", name="Ny borger og forløb").click()
    page.get_by_label("Navn", exact=True).fill(name)
    type_in(page, "Henvisningsdato", "03-02-2025")
    field(page, "Diagnose og indgreb").get_by_role("checkbox", name="Blodprop i hjertet (AMI)").check()
    page.get_by_role("button", name="Opret forløb").click()
    refused = page.get_by_role("alert").filter(has_text="Borgeren kan ikke oprettes med dette CPR-nummer")
    expect(refused).to_be_visible()
    expect(refused).not_to_contain_text("kommune")            # nothing of where the citizen is
    expect(page.locator(".hk-save-draft")).to_have_count(0)   # no course was opened
    attempt = [json.loads(r["detail"]) for r in audit_rows(server, username="carl", action="access.denied")]
    assert {"attempted": "citizen.write", "reason": "citizen registered elsewhere"}.items() <= attempt[-1].items()

    with server.store.read() as conn:
        found = conn.execute(select(citizens).where(citizens.c.cpr == cpr)).all()
        course_rows = conn.execute(select(courses).where(courses.c.citizen_id == found[0].id)).all()
    assert [c.municipality_code for c in found] == [740]
    assert [(c.id, c.municipality_code) for c in course_rows] == [(course_id, 740)]
    carl = service(server, "carl")
    assert carl.find_citizen(cpr) is None
    assert carl.courses_of(found[0].id) == []
    with pytest.raises(NotFound):
        carl.get_course(course_id)
    finds = audit_rows(server, username="carl", action="citizen.find")
    assert finds and all(json.loads(r["detail"]) == {"found": False} for r in finds)
    assert not audit_rows(server, username="carl", action="course.read")


def test_a_concurrent_edit_gives_a_conflict_and_keeps_the_first_save(
        hjertekom_server, new_page, users, sign_in) -> None:
    server = hjertekom_server
    cpr, course_id = new_citizen_with_course(server, "anne", 740_005, "Frida Samtidig")
    first, second = new_page(), new_page()
    sign_in(first, users.anne)
    open_course(first, cpr, course_id)
    sign_in(second, users.bo)
    open_course(second, cpr, course_id)
    for page in (first, second):
        expect(form_heading(page)).to_have_text("Afklarende samtale")

    type_in(first, "Dato for afklarende samtale", "17-02-2025")
    type_in(first, "Vægt", "81,5")
    type_in(second, "Dato for afklarende samtale", "18-02-2025")
    type_in(second, "Vægt", "92,0")

    first.locator(".hk-save-draft").click()
    expect(status_line(first)).to_contain_text("gemt som kladde")
    expect(status_line(first)).to_contain_text("version 1")
    anne_saved = form_revisions(server, course_id, "start")
    assert [(r["revision"], r["status"], r["user_id"]) for r in anne_saved] == [(1, "draft", user_id(server, "anne"))]

    second.locator(".hk-save-draft").click()
    conflict = second.locator(".hk-status.hk-conflict")
    expect(conflict).to_contain_text("Anne Andersen gemte skemaet kl.")
    expect(conflict).to_contain_text("Dine indtastninger er bevaret; intet er gemt endnu.")
    expect(second.locator(".hk-take-theirs")).to_have_count(2)   # both changed date and weight: Bo chooses

    revs = form_revisions(server, course_id, "start")
    assert revs == anne_saved   # exactly the first save, at the new revision; nothing of the second
    assert revs[0]["data"] == {"meeting_date": "2025-02-17", "weight_kg": 81.5}

    for name in ("meeting_date", "weight_kg"):
        second.locator(f".hk-conflict-{name} .hk-take-theirs").click()
    expect(text_input(second, "Vægt")).to_have_value("81,5")
    expect(text_input(second, "Dato for afklarende samtale")).to_have_value("17-02-2025")
    assert form_revisions(server, course_id, "start") == anne_saved


def test_enter_in_a_field_never_saves(hjertekom_server, page, users, sign_in) -> None:
    server = hjertekom_server
    cpr, course_id = new_citizen_with_course(server, "anne", 740_006, "Gunnar Returtast",
                                             start={"meeting_date": "17-02-2025", "weight_kg": "80"},
                                             start_complete=False)
    before = form_revisions(server, course_id, "start")
    assert [(r["revision"], r["status"]) for r in before] == [(1, "draft")]
    saves_before = len(audit_rows(server, action="registration.save"))
    sign_in(page, users.anne)
    open_course(page, cpr, course_id)
    expect(text_input(page, "Vægt")).to_have_value("80,0")

    type_in(page, "Vægt", "81,0", leave_with="Enter")
    type_in(page, "Højde", "178", leave_with="Enter")
    type_in(page, "Dato for afklarende samtale", "18-02-2025", leave_with="Enter")
    expect(field(page, "BMI")).to_contain_text("25,6 kg/m²")   # the kernel did get the values

    # Each Enter did reach the kernel (the answers are autosaved), yet no revision was written.
    wait_for_store(lambda: autosaved(server, "anne", course_id, "start").get("meeting_date") == "18-02-2025",
                   "the autosave of the Enter")
    assert autosaved(server, "anne", course_id, "start") == {"meeting_date": "18-02-2025", "weight_kg": "81,0", "height_cm": "178"}
    assert form_revisions(server, course_id, "start") == before
    expect(status_line(page)).to_have_text("")
    expect(page.locator(".hk-confirm")).to_have_count(0)
    assert len(audit_rows(server, action="registration.save")) == saves_before


def test_unsaved_input_survives_a_closed_tab(hjertekom_server, new_page, users, sign_in) -> None:
    server = hjertekom_server
    cpr, course_id = new_citizen_with_course(server, "anne", 740_007, "Hanne Lukketfane",
                                             start={"meeting_date": "17-02-2025", "weight_kg": "80"},
                                             start_complete=False)
    before = form_revisions(server, course_id, "start")
    page = new_page()
    sign_in(page, users.anne)
    open_course(page, cpr, course_id)
    type_in(page, "Vægt", "83,5")
    type_in(page, "Højde", "171")
    wait_for_store(lambda: autosaved(server, "anne", course_id, "start").get("height_cm") == "171",
                   "the autosave of the height")
    page.once("dialog", lambda dialog: dialog.accept())   # "leave the page?": yes
    page.close(run_before_unload=True)            # the tab is closed without saving

    again = new_page()
    sign_in(again, users.anne)
    open_course(again, cpr, course_id)
    expect(text_input(again, "Vægt")).to_have_value("83,5")
    expect(text_input(again, "Højde")).to_have_value("171")
    expect(again.locator(".hk-restored")).to_contain_text("ikke-gemte indtastninger")
    assert form_revisions(server, course_id, "start") == before   # restored, not saved behind her back


def test_a_session_cookie_is_void_after_logout(hjertekom_server, page, users, sign_in) -> None:
    """After "Log ud" the session must be over on the server too, not only deleted in this browser:
    a copy of the cookie (another tab's request, a proxy log, a shared computer) must not open the app."""
    server = hjertekom_server
    sign_in(page, users.bo)
    cookie = next(c for c in page.context.cookies() if c["name"] == SESSION_COOKIE)
    page.locator("a.hk-logout").click()
    expect(page.get_by_text("Du er logget ud.")).to_be_visible()
    reads = len(audit_rows(server, username="bo", action="worklist.read"))

    status, location = plain_request(server.base_url, "GET", "/",
                                     cookie=f"{SESSION_COOKIE}={cookie['value']}")
    assert is_login_redirect(status, location), \
        f"the cookie of a logged-out session still opens the app (HTTP {status})"
    assert len(audit_rows(server, username="bo", action="worklist.read")) == reads


def test_closing_the_tab_shuts_its_kernel_down(hjertekom_server, new_page, sign_in, users) -> None:
    """Voilà's shutdown beacon carries the page's _xsrf cookie; the server honours it."""
    log_file = hjertekom_server.data_dir / "hjertekom.log"
    before = len(re.findall(r"204 POST /voila/api/shutdown/", log_file.read_text(encoding="utf-8")))
    refused = len(re.findall(r"403 POST /voila/api/shutdown/", log_file.read_text(encoding="utf-8")))
    page = new_page()
    sign_in(page, users.anne)
    page.close(run_before_unload=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = log_file.read_text(encoding="utf-8")
        if len(re.findall(r"204 POST /voila/api/shutdown/", text)) > before:
            break
        time.sleep(0.5)
    else:
        pytest.fail("the kernel of the closed tab was not shut down (no 204 for the shutdown beacon)")
    # (Earlier tests' pages may have sent a beacon after their session ended: those 403s are theirs.)
    assert len(re.findall(r"403 POST /voila/api/shutdown/", text)) == refused


def _proxy_headers(server, username: str) -> dict[str, str]:
    """What the authenticating proxy sends: the user, and the secret only it knows."""
    secret = (server.data_dir / "proxy.secret").read_text(encoding="ascii").strip()
    return {"X-Forwarded-User": username, "X-HjerteKom-Proxy-Secret": secret}


def test_hosted_set_up_takes_the_user_from_the_proxy_header(hosted_server, hjertekom_server, browser, users) -> None:
    status, location = plain_request(hosted_server, "GET", "/")
    assert is_login_redirect(status, location)              # no proxy header: not signed in
    assert plain_request(hosted_server, "GET", "/login")[0] == 403   # and no login form to fall back on

    context = browser.new_context(viewport={"width": 1280, "height": 800},
                                  extra_http_headers=_proxy_headers(hjertekom_server, users.anne.username))
    try:
        page = context.new_page()
        page.goto(hosted_server + "/")
        expect(page.locator(".hk-search input")).to_be_visible(timeout=60_000)
        expect(page.locator(".hk-user")).to_contain_text(users.anne.display_name)
    finally:
        context.close()

    unknown = browser.new_context(extra_http_headers=_proxy_headers(hjertekom_server, "nobody-here"))
    try:
        page = unknown.new_page()
        response = page.goto(hosted_server + "/")
        assert response is not None and response.status == 403
        expect(page.locator(".hk-search input")).to_have_count(0)
    finally:
        unknown.close()


def test_closing_a_hosted_tab_shuts_its_kernel_down(hosted_server, hjertekom_server, browser, users) -> None:
    """Behind a proxy no login form sets the _xsrf cookie; the page itself does, so Voilà's beacon
    carries it and the kernel is shut down."""
    log_file = hjertekom_server.data_dir / "hjertekom.log"

    def shutdowns(status: int) -> int:
        return len(re.findall(rf"{status} POST /voila/api/shutdown/", log_file.read_text(encoding="utf-8")))

    before, refused = shutdowns(204), shutdowns(403)
    context = browser.new_context(extra_http_headers=_proxy_headers(hjertekom_server, users.bo.username))
    try:
        page = context.new_page()
        page.goto(hosted_server + "/")
        expect(page.locator(".hk-search input")).to_be_visible(timeout=60_000)
        assert [c for c in context.cookies() if c["name"] == "_xsrf"]
        page.close(run_before_unload=True)
        wait_for_store(lambda: shutdowns(204) > before or shutdowns(403) > refused, "the shutdown beacon", 30)
    finally:
        context.close()
    assert (shutdowns(204) - before, shutdowns(403) - refused) == (1, 0)
