"""The citizen sheet and the course summary: real SQLite store, real service, real papermill runs.

What a clinician would check on paper: this citizen's numbers as entered, the change, nobody
else's data, "ikke besvaret" apart from "uoplyst", a sheet before the end meeting, interventions
received in the summary; what the data owner checks: access by municipality and the audit log.
"""
from __future__ import annotations

import datetime as dt
import gc
import json
import random
import re
from collections.abc import Iterator
from typing import Any

import pytest

from hjertekom_core import audit
from hjertekom_core.cpr import generate_cpr, parse_cpr
from hjertekom_core.errors import AccessDenied
from hjertekom_core.reports.citizen import UnknownReportKind, course_report_data, render_course_report
from hjertekom_core.reports.citizen_parts import axis_limits
from hjertekom_core.reports.readability import lix, prose_lix
from hjertekom_core.reports.runner import KernelSession
from hjertekom_core.access import SYSTEM
from hjertekom_core.config import Config
from hjertekom_core.service import Service
from hjertekom_core.store import Store
from hjertekom_core.users import set_contact

from factories import course_data, end_data, start_data
from indicator_fixtures import apply_changes

NAME, OTHER_NAME = "Karen Hjertesen", "Preben Andenborger"


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    """make_user and service_for work on this store: the reports are tested on SQLite only."""
    return sqlite_store


@pytest.fixture(scope="module")
def kernel() -> Iterator[KernelSession]:
    """One kernel for every report in this module (a kernel start costs about a second)."""
    with KernelSession() as session:
        yield session


@pytest.fixture
def clinician(make_user, service_for) -> Service:  # type: ignore[no-untyped-def]
    return service_for(make_user("sygeplejerske", "clinician", (740,)))


def add_course(svc: Service, seed: int, name: str, *, start: dict[str, Any] | None = None,
               end: dict[str, Any] | None = None, with_end: bool = True, end_complete: bool = True) -> tuple[int, str]:
    """A citizen with one course (factories' data plus changes; None removes a key); (course id, CPR)."""
    cpr = generate_cpr(random.Random(seed), birth_date=dt.date(1958, 4, 2 + seed))
    citizen = svc.create_citizen(cpr, name, 740)
    course_id = svc.open_course(citizen.id, course_data(), complete=True).course_id
    svc.mark_complete(course_id, "start", apply_changes(start_data(), start), 0, confirm=True)
    if with_end:
        svc.save(course_id, "end", apply_changes(end_data(), end), 0, complete=end_complete, confirm=True)
    return course_id, cpr


def render(svc: Service, course_id: int, kind: str, kernel: KernelSession, lang: str = "da") -> str:
    """``render_course_report`` on the module's shared kernel; a leaked socket would fail the test
    (filterwarnings=error turns its ResourceWarning into an error), hence the collection."""
    try:
        return render_course_report(svc, course_id, kind, lang, session=kernel)
    finally:
        gc.collect()


def row(page: str, attribute: str, key: str) -> str:
    """The HTML of one table row, e.g. row(page, "measure", "weight_kg")."""
    match = re.search(rf'<tr data-{attribute}="{key}">(.*?)</tr>', page, re.S)
    assert match, f"no row {attribute}={key}"
    return match.group(1)


def report_actions(store: Store) -> list[dict[str, Any]]:
    with store.read() as conn:
        return [e for e in audit.entries(conn) if e["action"].startswith("report.")]


# --- the citizen sheet --------------------------------------------------------------------------
def test_sheet_shows_this_citizens_values_changes_and_meaning(clinician: Service, kernel: KernelSession) -> None:
    course_id, cpr = add_course(clinician, 1, NAME)
    page = render(clinician, course_id, "citizen", kernel)

    assert NAME in page and parse_cpr(cpr).formatted in page
    weight = row(page, "measure", "weight_kg")
    assert "88,4 kg" in weight and "85,0 kg" in weight and "\u22123,4 kg" in weight
    pressure = row(page, "measure", "bp_systolic")
    assert "142 mmHg" in pressure and "132 mmHg" in pressure and "\u221210 mmHg" in pressure
    assert "+63 m (+15,0 %)" in row(page, "measure", "fitness")  # 420 -> 483 m, same test
    # HADS anxiety: items 1,3,...,13 sum to 9 at start, 6 at the end (factories)
    anxiety = row(page, "measure", "hads_anxiety")
    assert ">9<" in anxiety and ">6<" in anxiety and "\u22123" in anxiety
    assert "grænseområdet (8-10)" in anxiety and "normalområdet (0-7)" in anxiety and "bedre" in anxiety
    assert "holdt op med at ryge" in row(page, "measure", "smoking")
    assert "<svg" in page  # the start/end charts, inline


def test_sheet_holds_only_this_citizen(clinician: Service, kernel: KernelSession) -> None:
    course_id, _ = add_course(clinician, 1, NAME)
    _, other_cpr = add_course(clinician, 2, OTHER_NAME, start={"weight_kg": "101,3"}, end={"weight_kg": "97,7"})
    for kind in ("citizen", "summary"):
        page = render(clinician, course_id, kind, kernel)
        assert NAME in page
        assert OTHER_NAME not in page
        assert other_cpr not in page and parse_cpr(other_cpr).formatted not in page
        assert "101,3" not in page and "97,7" not in page


def test_a_course_without_end_gets_a_sheet_of_start_values(clinician: Service, kernel: KernelSession) -> None:
    no_end, _ = add_course(clinician, 1, NAME, with_end=False)
    draft_end, _ = add_course(clinician, 2, OTHER_NAME, end={"weight_kg": "79,9"}, end_complete=False)
    for course_id in (no_end, draft_end):
        page = render(clinician, course_id, "citizen", kernel)
        assert "afslutning ikke registreret endnu" in page.lower()
        assert "88,4 kg" in row(page, "measure", "weight_kg")
        assert "85,0" not in page and "79,9" not in page  # a draft end is not a result yet
        summary = render(clinician, course_id, "summary", kernel)
        assert "ikke registreret endnu" in row(summary, "intervention", "diet")


def test_not_answered_and_unknown_are_told_apart(clinician: Service, kernel: KernelSession) -> None:
    course_id, _ = add_course(clinician, 1, NAME, start={"waist_cm": None, "ldl": "UNK"},
                              end={"hads_status": "declined"})
    page = render(clinician, course_id, "citizen", kernel)
    assert "ikke besvaret" in row(page, "measure", "waist_cm")
    ldl = row(page, "measure", "ldl")
    assert "uoplyst" in ldl and "ikke besvaret" not in ldl and "1,6 mmol/L" in ldl
    assert "borgeren ønskede ikke at udfylde" in row(page, "measure", "hads_depression")


# --- the course summary -------------------------------------------------------------------------
def test_summary_lists_referral_status_and_interventions_received(clinician: Service, kernel: KernelSession) -> None:
    course_id, cpr = add_course(clinician, 1, NAME, end={
        "course_status": "dropped_out", "dropout_reason": "transport", "training_sessions_attended": 9,
        "diet_dietitian_received": "no", "psychosocial_received": "UNK"})
    page = render(clinician, course_id, "summary", kernel)

    assert NAME in page and parse_cpr(cpr).formatted in page and "Silkeborg (740)" in page
    assert "3. februar 2025" in page and "Sygehus" in page and "Blodprop i hjertet (AMI)" in page
    assert "17. februar 2025" in page and "19. maj 2025" in page and "91 dage" in page
    assert "Ophørt før tid" in page and "Transportproblemer" in page
    training = row(page, "intervention", "training")
    assert "9 af 24 planlagte træningsgange (38 %)" in training
    # Like with like: dietary advice was offered (start), a dietitian's treatment was not received
    # (end); the contract records neither the other way round, and the rows say so.
    diet = row(page, "intervention", "diet")
    assert "Diætbehandling ved klinisk diætist" in diet and ">Nej<" in diet and ">Ja<" not in diet
    assert "registreres ikke" in diet
    advice = row(page, "intervention", "diet_advice")
    assert "Kostvejledning" in advice and ">Ja<" in advice and "registreres ikke" in advice
    assert "uoplyst" in row(page, "intervention", "psychosocial")
    assert ">Ja<" in row(page, "intervention", "smoking_cessation")
    assert "\u22123,4 kg" in row(page, "measure", "weight_kg")
    assert "hjerterehabiliteringen i Silkeborg" in page


def test_summary_leaves_out_what_did_not_apply(clinician: Service, kernel: KernelSession) -> None:
    course_id, _ = add_course(clinician, 1, NAME, start={"smoking": "never", "employment": "retired"},
                              end={"smoking": "never"})
    page = render(clinician, course_id, "summary", kernel)
    assert 'data-intervention="smoking_cessation"' not in page
    assert 'data-intervention="work_retention"' not in page
    assert "Årsag til ophør" not in page  # completed: no drop-out reason


def conclusion(page: str) -> str:
    match = re.search(r'<section class="hk-box hk-conclusion">(.*?)</section>', page, re.S)
    assert match, "no conclusion"
    return match.group(1)


def test_summary_opens_with_what_the_gp_should_follow_up(clinician: Service, kernel: KernelSession) -> None:
    course_id, _ = add_course(clinician, 1, NAME, end={"bp_systolic": 148, "smoking": "daily",
                                                       "alcohol_units_week": 14})
    page = render(clinician, course_id, "summary", kernel)
    assert page.index("Konklusion og opfølgning") < page.index("Henvisning") < page.index("Indsatser")
    found = conclusion(page)
    assert "Forløbsstatus: Gennemført" in found
    ldl = row(found, "flag", "ldl")  # 1,6 at the end against the default target below 1,4
    assert "1,6 mmol/L" in ldl and "under 1,4" in ldl and "kolesterolsænkende" in ldl
    assert "148/82" in row(found, "flag", "bp") and "under 140/90" in row(found, "flag", "bp")
    assert "Ryger fortsat (dagligryger)" in row(found, "flag", "smoking")
    assert "14 genstande" in row(found, "flag", "alcohol") and "højst 10" in row(found, "flag", "alcohol")
    assert 'data-flag="hads' not in found  # HADS 6 and 4 at the end: nothing to follow up


def test_follow_up_targets_come_from_the_configuration(clinician: Service) -> None:
    course_id, _ = add_course(clinician, 1, NAME)
    flags = course_report_data(clinician, course_id, config=Config())["follow_up"]["flags"]
    assert [f["key"] for f in flags] == ["ldl"]
    relaxed = Config(followup_targets={"ldl": 1.8})
    data = course_report_data(clinician, course_id, config=relaxed)
    assert data["follow_up"]["flags"] == [] and "Ingen af de fulgte værdier" in data["follow_up"]["none"]


def test_hads_of_eight_or_more_is_flagged_from_the_start_meeting(clinician: Service) -> None:
    course_id, _ = add_course(clinician, 1, NAME, with_end=False)  # HADS anxiety 9 at the start
    flags = {f["key"]: f for f in course_report_data(clinician, course_id, config=Config())["follow_up"]["flags"]}
    assert "HADS angst 9" in flags["hads_anxiety"]["finding"]
    assert "ldl" in flags and "2,1 mmol/L" in flags["ldl"]["finding"]  # no end yet: the start's value


def test_summary_is_signed_by_the_responsible_clinician(make_user, service_for, store: Store,
                                                       kernel: KernelSession) -> None:
    nurse = make_user("hjertesygeplejerske", "clinician", (740,))
    set_contact(store, nurse, "hjertesygeplejerske", "87 22 33 44", "hjerte@silkeborg.dk")
    course_id, _ = add_course(service_for(nurse), 1, NAME)
    # Printed by the system account (the command line without --user): still signed by the nurse.
    page = render(service_for(SYSTEM), course_id, "summary", kernel)
    signature = re.search(r'<p class="hk-signature">(.*?)</p>', page, re.S)
    assert signature and "Hjertesygeplejerske" in signature.group(1) and "Kliniker" in signature.group(1)
    assert "87 22 33 44" in signature.group(1) and "hjerte@silkeborg.dk" in signature.group(1)
    assert "System" not in page
    assert "System" not in render(service_for(SYSTEM), course_id, "citizen", kernel)
    assert "Hjertesygeplejerske" in conclusion(page) and "87 22 33 44" in conclusion(page)


def test_the_municipality_contact_stands_in_for_an_empty_profile(clinician: Service) -> None:
    course_id, _ = add_course(clinician, 1, NAME)
    bare = course_report_data(clinician, course_id, config=Config())["responsible"]
    assert bare["name"] == "Sygeplejerske" and bare["phone"] is None and bare["email"] is None
    team = Config(municipality_contacts={740: {"name": "Sundhedscenter Silkeborg", "phone": "89 70 00 00"}})
    who = course_report_data(clinician, course_id, config=team)["responsible"]
    assert who["name"] == "Sygeplejerske" and who["team"] == "Sundhedscenter Silkeborg"
    assert who["phone"] == "89 70 00 00" and not who["from_profile"]


# --- access, audit, page ------------------------------------------------------------------------
def test_another_municipality_is_denied_and_nothing_is_reported(make_user, service_for, clinician: Service,
                                                                store: Store) -> None:
    course_id, _ = add_course(clinician, 1, NAME)
    aarhus = service_for(make_user("aarhus", "clinician", (751,)))
    for kind in ("citizen", "summary"):
        with pytest.raises(AccessDenied):
            render_course_report(aarhus, course_id, kind)
    with pytest.raises(AccessDenied):
        course_report_data(aarhus, course_id)
    with pytest.raises(AccessDenied):  # the same answer for a course that does not exist
        course_report_data(aarhus, course_id + 100)
    with pytest.raises(UnknownReportKind):
        render_course_report(clinician, course_id, "letter")
    assert report_actions(store) == []


def test_the_audit_log_records_each_report(clinician: Service, kernel: KernelSession, store: Store) -> None:
    course_id, _ = add_course(clinician, 1, NAME)
    render(clinician, course_id, "citizen", kernel)
    render(clinician, course_id, "summary", kernel, "en")
    entries = sorted(report_actions(store), key=lambda e: e["id"])
    assert [(e["action"], e["username"], e["entity_id"], e["municipality_code"]) for e in entries] == [
        ("report.citizen", "sygeplejerske", str(course_id), 740),
        ("report.summary", "sygeplejerske", str(course_id), 740)]
    assert json.loads(entries[1]["detail"]) == {"kind": "summary", "lang": "en"}


def test_pages_are_self_contained(clinician: Service, kernel: KernelSession) -> None:
    course_id, _ = add_course(clinician, 1, NAME)
    for kind, lang, title in (("citizen", "da", "Dine resultater"), ("summary", "en", "Course summary")):
        page = render(clinician, course_id, kind, kernel, lang)
        assert f'<html lang="{lang}">' in page and title in page
        links = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']*)', page)
        assert all(link.startswith("#") for link in links), links
        assert all(u.startswith("#") for u in re.findall(r"url\(\s*['\"]?([^)'\"]*)", page))
        assert "<script" not in page and "<link" not in page and "@import" not in page
        assert "display(HTML" not in page and "course: dict" not in page  # no code in the page


# --- the data behind both pages (no kernel) ---------------------------------------------------------
def test_report_data_is_json_with_labels_from_the_contract(clinician: Service) -> None:
    course_id, _ = add_course(clinician, 1, NAME, start={"fitness_test_type": "watt", "ergometer_watt": 100,
                                                         "walk_6min_m": None},
                              end={"fitness_test_type": "six_minute_walk"})
    data = json.loads(json.dumps(course_report_data(clinician, course_id, "en")))
    assert data["start"]["date"] == "2025-02-17" and data["end"]["date"] == "2025-05-19"
    rows = {r["key"]: r for r in data["measures"]}
    assert rows["weight_kg"]["label"] == "Weight" and rows["weight_kg"]["unit"] == "kg"
    assert rows["weight_kg"]["change"]["value"] == pytest.approx(-3.4)
    assert rows["hads_anxiety"]["meaning"] == {"start": "borderline (8-10)", "end": "normal range (0-7)"}
    # watt at the start, walk at the end: shown, never compared or drawn together
    fitness = rows["fitness"]
    assert fitness["comparable"] is False and fitness["change"]["value"] is None
    assert "100 W" in fitness["start"]["text"] and "483 m" in fitness["end"]["text"]
    assert data["municipality"] == {"code": 740, "name": "Silkeborg", "label": "Municipality"}


# --- plain Danish ---------------------------------------------------------------------------------
def test_the_sheet_is_plain_danish_lix_35_or_less(clinician: Service, kernel: KernelSession) -> None:
    """LIX of everything the citizen reads on the sheet (tables, explanations, chart labels)."""
    finished, _ = add_course(clinician, 1, NAME)
    started, _ = add_course(clinician, 2, OTHER_NAME, with_end=False)
    for course_id in (finished, started):
        page = render(clinician, course_id, "citizen", kernel)
        score, running = lix(page), prose_lix(page)
        assert score.words > 150 and score.value <= 35, score.longest()
        # the explanations alone, without the table's short cells to bring the index down
        assert running.words > 150 and running.value <= 35, running.longest()
        for plain in ("HADS angst går fra 0 til 21", "EQ-5D er fem spørgsmål", "HeartQoL viser",
                      "For en hjertepatient er målet under 140/90", "For en hjertepatient er målet under 1,4"):
            assert plain in page


def test_blood_pressure_and_ldl_are_read_against_the_heart_patients_targets(clinician: Service) -> None:
    course_id, _ = add_course(clinician, 1, NAME)  # LDL 2,1 -> 1,6; blood pressure 142/86 -> 132/82
    rows = {r["key"]: r for r in course_report_data(clinician, course_id, config=Config())["measures"]}
    assert rows["ldl"]["meaning"]["end"] == "over målet på 1,4 – tal med din læge"
    assert rows["bp_systolic"]["meaning"] == {"start": "over målet på 140 – tal med din læge",
                                              "end": "under målet på 140"}
    assert rows["ldl"]["change"]["verdict"] == "better"
    assert rows["ldl"]["scale"]["zones"][0]["low"] == 1.4  # the chart hatches what is above the target
    relaxed = course_report_data(clinician, course_id, config=Config(followup_targets={"ldl": 1.8}))
    ldl = next(r for r in relaxed["measures"] if r["key"] == "ldl")
    assert ldl["meaning"]["end"] == "under målet på 1,8" and ldl["scale"]["zones"][0]["low"] == 1.8


def test_chart_axes_start_at_zero_or_show_the_whole_scale(clinician: Service) -> None:
    course_id, _ = add_course(clinician, 1, NAME, start={"weight_kg": "84,6"}, end={"weight_kg": "84,1"})
    rows = {r["key"]: r for r in course_report_data(clinician, course_id, config=Config())["measures"]}
    low, high = axis_limits(rows["weight_kg"], [84.6, 84.1])
    assert low == 0 and high > 84.6  # half a kilo looks as small as it is
    assert axis_limits(rows["hads_anxiety"], [9, 6]) == (0, 21)
    assert axis_limits(rows["bp_systolic"], [142, 132]) == (0, 200)
    assert axis_limits(rows["eq5d_index"], [-0.074, 0.847])[0] <= 0

