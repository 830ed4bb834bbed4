"""Shared questions in a real browser (issue 19): a clinician enters WHO-5 in HjerteKom's start
meeting and finds it answered, read-only and saying where, in MoEva's first questionnaire of the
same day. A server of this module's own loads HjerteKom and the MoEva draft side by side
(tests/shared_questions_files.py), as tests/browser/test_entry_programmes_browser.py does.
"""
from __future__ import annotations

import datetime as dt
import random
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from browser_accounts import ANNE, log_in
from browser_form import field, type_in
from factories import course_data
from hjertekom_core.access import SYSTEM
from hjertekom_core.bootstrap import Workspace, open_workspace
from hjertekom_core.config import Config
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.indicators.counting import DANISH_TIME
from hjertekom_core.service import Service
from hjertekom_core.users import add_user, get_user
from live_server import RunningServer, hjertekom_command, server_env, start_server
from shared_questions_files import BOTH_ENV, BOTH_PROGRAMMES, contracts_with_moeva

pytestmark = pytest.mark.slow

WHO5 = {"Glad og i godt humør": "3 – lidt mere end halvdelen af tiden",
        "Rolig og afslappet": "4 – det meste af tiden",
        "Aktiv og energisk": "2 – lidt mindre end halvdelen af tiden",
        "Vågnet frisk og udhvilet": "1 – lidt af tiden",
        "Dagligdagen fyldt med ting, der interesserer mig": "5 – hele tiden"}


@dataclass(frozen=True)
class Shared:
    server: RunningServer
    ws: Workspace
    heart: int
    moeva: int

    def service(self) -> Service:
        return Service(self.ws.store, self.ws.contracts, get_user(self.ws.store, ANNE.username))


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    """``hjertekom serve`` over HjerteKom and MoEva, with Anne (clinician, Silkeborg, every programme)
    and a citizen with a course in each (their course forms saved)."""
    root = tmp_path_factory.mktemp("hjertekom-shared-browser")
    contracts = contracts_with_moeva(root)
    data_dir = root / "data"
    data_dir.mkdir()
    extra = {"HJERTEKOM_CONTRACTS_DIR": str(contracts), **BOTH_ENV}
    done = subprocess.run([hjertekom_command(), "init"], cwd=data_dir, env=server_env(data_dir, extra),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    ws = open_workspace(Config(data_dir=data_dir, contracts_dir=contracts, programmes=BOTH_PROGRAMMES))
    assert sorted(ws.contracts.programmes) == ["hjertekom", "moeva"]
    add_user(ws.store, SYSTEM, ANNE.username, ANNE.display_name, ANNE.role, ANNE.password, [ANNE.municipality])
    system = Service(ws.store, ws.contracts, SYSTEM)
    citizen = system.create_citizen(generate_cpr(random.Random(19_905)), "Ebba Ens", ANNE.municipality)  # noqa: S311
    today = dt.datetime.now(DANISH_TIME).date()
    heart = system.open_course(citizen.id, course_data(ANNE.municipality, referral_date=f"{today:%d-%m-%Y}",
                                                      index_event_date=f"{today:%Y-%m-%d}"),
                               complete=True).course_id
    moeva = system.open_course(citizen.id, {"municipality": ANNE.municipality, "enrolment_date": today.isoformat(),
                                            "offer_type": "patient_education", "organisation": "municipality"},
                               programme="moeva", complete=True).course_id
    server = start_server(data_dir, "--pool-size", "1", env=extra)
    try:
        yield Shared(server, ws, heart, moeva)
    finally:
        server.stop()
        ws.store.dispose()


def test_who5_entered_in_hjertekom_is_answered_in_moevas_start_questionnaire(shared: Shared, page: Page) -> None:
    today = dt.datetime.now(DANISH_TIME).date()
    log_in(page, shared.server.base_url, ANNE)

    # HjerteKom: the start meeting today, WHO-5 answered, saved as a draft.
    page.goto(f"{shared.server.base_url}/#/forloeb/{shared.heart}/start")
    expect(page.locator(".hk-form:visible h2")).to_have_text("Afklarende samtale")
    type_in(page, "Dato for afklarende samtale", f"{today:%d-%m-%Y}")
    field(page, "WHO-5 udfyldt").locator("select").select_option(label="Udfyldt")
    for question, answer in WHO5.items():
        page.get_by_role("radiogroup", name=question).get_by_role("radio", name=answer).click()
    page.locator(".hk-save-draft").click()
    expect(page.locator(".hk-saved")).to_be_visible()
    heart = shared.service().get_course(shared.heart).data_of("start")
    assert [heart[f"who5_{i}"] for i in range(1, 6)] == [3, 4, 2, 1, 5]

    # MoEva: its first questionnaire, the same day: WHO-5 is there, read-only, saying where.
    page.goto(f"{shared.server.base_url}/#/forloeb/{shared.moeva}/start")
    expect(page.locator(".hk-form:visible h2")).to_have_text("Første spørgeskema")
    type_in(page, "Dato for besvarelse", f"{today:%d-%m-%Y}")
    field(page, "Spørgeskemaet er").locator("select").select_option(label="Udfyldt")
    note = page.locator(".hk-form:visible .hk-shared-note").first
    expect(note).to_have_text(f"Besvaret i HjerteKom – afklarende samtale {today:%d.%m.%Y} — udfyldes ikke igen")
    for question, answer in WHO5.items():
        group = page.get_by_role("radiogroup", name=question)
        expect(group.get_by_role("radio", checked=True)).to_have_text(answer)
        expect(group.get_by_role("radio", name=answer)).to_be_disabled()
    expect(page.locator(".hk-form:visible .hk-field-who5_score")).to_contain_text("60")
    expect(page.locator(".hk-form:visible .hk-shared-edit").first).to_be_visible()   # "Ret svarene"

    page.locator(".hk-save-draft").click()
    expect(page.locator(".hk-saved")).to_contain_text("svarene fra HjerteKom")
    moeva = shared.service().get_course(shared.moeva).data_of("start")
    assert [moeva[f"who5_{i}"] for i in range(1, 6)] == [3, 4, 2, 1, 5] and moeva["who5_score"] == 60
