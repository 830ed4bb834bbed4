"""The citizen's questionnaire on a tablet, without a browser: which items the contract marks as the
citizen's, what the saved revision records as self-reported, the form's marks and history, the
address that is held, and the kernel's gate that refuses every widget message outside the
questionnaire (docs/questionnaire-mode.md)."""
from __future__ import annotations

import datetime as dt
import json
import random
import shutil
from pathlib import Path
from typing import Any

import ipywidgets as w
import pytest
import yaml
from sqlalchemy import select

from hjertekom_core.contract import ContractRegistry
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.errors import ContractError
from hjertekom_core.service import Service
from hjertekom_core.store.schema import audit_log, registrations
from hjertekom_widgets.forms import FormView
from hjertekom_widgets.history import history_html
from hjertekom_widgets.questionnaire_mode import CommGate, citizen_sections
from hjertekom_widgets.routes import AddressBar, Route, parse

from factories import course_data, start_data
from paths import CONTRACTS_DIR

CPR = generate_cpr(random.Random(19), birth_date=dt.date(1950, 6, 2), sex="F")
HADS = [f"hads_{i:02d}" for i in range(1, 15)]


# --- the contract's marker ------------------------------------------------------------------------------
def test_the_contract_marks_the_four_questionnaires_as_the_citizens(contract: Any) -> None:
    start = contract.form("start")
    sections = citizen_sections(start)
    assert [s.name for s, _ in sections] == ["hads", "heartqol", "eq5d", "who5"]
    hads = dict((s.name, items) for s, items in sections)["hads"]
    assert [f.name for f in hads] == HADS            # the status and the scores are not the citizen's
    assert sections[0][0].self_report.status == "hads_status"
    assert sections[0][0].self_report.answered == "completed"
    assert "Tryk på det svar" in sections[0][0].self_report.intro.get("da")
    assert "eq5d_vas" in start.self_report_items() and "hads_anxiety" not in start.self_report_items()
    assert contract.form("course").self_report_items() == ()


def _contract_copy(tmp_path: Path, change: Any) -> Path:
    root = tmp_path / "data_contracts"
    shutil.copytree(CONTRACTS_DIR, root)
    path = root / "hjertekom" / "contract.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(doc["blocks"]["hads"])
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return root


@pytest.mark.parametrize(("marker", "message"), [
    ({"status": "hads_01", "answered": "completed"}, "not a choice field"),
    ({"status": "no_such_field", "answered": "completed"}, "not a choice field"),
    ({"status": "hads_status", "answered": "answered_by_cat"}, "not a code"),
    ({"answered": "completed"}, "needs a status"),
])
def test_a_wrong_marker_is_refused_when_the_contract_is_loaded(tmp_path: Path, marker: dict, message: str) -> None:
    root = _contract_copy(tmp_path, lambda block: block.__setitem__("self_report", marker))
    with pytest.raises(ContractError, match=message):
        ContractRegistry(root)["hjertekom"]


# --- what the saved revision records ----------------------------------------------------------------------
@pytest.fixture
def svc(service_for: Any, make_user: Any) -> Service:
    return service_for(make_user("tablet_sygeplejerske", "clinician", (740,)))


@pytest.fixture
def course_id(svc: Service) -> int:
    citizen = svc.create_citizen(CPR, "Karen Tabletsen", 740)
    return svc.open_course(citizen.id, course_data(), complete=True).course_id


def _stored(store: Any, course_id: int) -> list[Any]:
    with store.read() as conn:
        return [json.loads(r) if r else None for r in conn.execute(
            select(registrations.c.self_reported).where(registrations.c.course_id == course_id,
                                                        registrations.c.form == "start")
            .order_by(registrations.c.revision)).scalars()]


def test_the_revision_records_which_items_the_citizen_answered(svc: Service, store: Any, course_id: int) -> None:
    answered = [*HADS, "who5_1", "meeting_date", "no_such_field"]   # only questionnaire items count
    first = svc.save(course_id, "start", start_data(), 0, self_reported=answered)
    assert _stored(store, course_id) == [[*HADS, "who5_1"]]
    course = svc.get_course(course_id)
    assert course.forms["start"].self_reported == (*HADS, "who5_1")
    # Saved again by the clinician: what nobody changed stays the citizen's; a changed item is not.
    svc.save(course_id, "start", start_data(hads_03=3), first.revision)
    assert _stored(store, course_id)[-1] == [h for h in HADS if h != "hads_03"] + ["who5_1"]
    history = svc.form_history(course_id, "start")
    assert [len(c.self_reported) for c in history] == [15, 14]
    with store.read() as conn:
        detail = json.loads(conn.execute(select(audit_log.c.detail).where(
            audit_log.c.action == "registration.save").order_by(audit_log.c.id.desc())).scalars().first())
    assert detail["self_reported"] == 14


def test_a_revision_without_the_citizen_records_none(svc: Service, store: Any, course_id: int) -> None:
    svc.save(course_id, "start", start_data(), 0)
    assert _stored(store, course_id) == [None]
    assert svc.get_course(course_id).forms["start"].self_reported == ()


def test_the_history_says_which_answers_were_the_citizens(svc: Service, course_id: int, contract: Any) -> None:
    svc.save(course_id, "start", start_data(), 0, self_reported=["hads_01", "hads_02"])
    page = history_html(contract, "start", svc.form_history(course_id, "start"))
    assert 'class="hk-history-self-reported">Besvaret af borgeren (2): HADS 1 – angst, HADS 2 – depression' in page
    assert "HADS 1 – angst (besvaret af borgeren)" in page
    assert "HADS 3 – angst (besvaret af borgeren)" not in page


# --- the clinician's form afterwards --------------------------------------------------------------------
def test_the_form_marks_the_citizens_answers_until_it_is_loaded_again(contract: Any) -> None:
    view = FormView(contract, "start", today=dt.date(2025, 3, 1))
    view.apply_values({"hads_status": "completed", "hads_01": 2, "hads_02": 1})
    view.mark_self_reported(["hads_01", "hads_02"])
    assert "Besvaret af borgeren" in view.fields["hads_01"].reference
    assert view.fields["hads_03"].reference == ""
    view.mark_self_reported(["hads_02"])
    assert view.fields["hads_01"].reference == "" and "Besvaret af borgeren" in view.fields["hads_02"].reference
    view.reset()                                    # the next course: nothing of the marks stays
    assert view.self_reported == frozenset() and view.fields["hads_02"].reference == ""


# --- the address is held ----------------------------------------------------------------------------------
def test_the_questionnaires_address_is_held_and_opens_nothing_when_typed() -> None:
    heard: list[str] = []
    refused: list[str] = []
    bar = AddressBar(heard.append)
    bar.inbox.value = json.dumps({"seq": 1, "hash": "#/forloeb/12/start"})
    held = Route("questionnaire", 12, "start")
    assert held.fragment == "#/forloeb/12/start/spoergeskema"
    assert parse(held.fragment, ("course", "start", "end")) is None
    bar.hold(held, refused.append)
    assert 'data-route="#/forloeb/12/start/spoergeskema"' in bar.outbox.value
    for seq, fragment in enumerate(["#/forloeb/12/start", "#/", "#/borger/3"], start=2):   # Back, typed
        bar.inbox.value = json.dumps({"seq": seq, "hash": fragment})
        assert 'data-route="#/forloeb/12/start/spoergeskema"' in bar.outbox.value
        assert 'data-mode="replace"' in bar.outbox.value
    assert refused == ["#/forloeb/12/start", "#/", "#/borger/3"] and heard == ["#/forloeb/12/start"]
    bar.show(Route("worklist"))                     # nothing in the kernel moves it either
    assert "spoergeskema" in bar.outbox.value
    bar.release()
    bar.show(Route("course", 12, "start"), replace=True)
    assert 'data-route="#/forloeb/12/start"' in bar.outbox.value
    bar.inbox.value = json.dumps({"seq": 9, "hash": "#/"})
    assert heard[-1] == "#/"


# --- the kernel's gate -------------------------------------------------------------------------------------
class FakeKernel:
    """The one thing of an ipykernel the gate touches: its shell message handlers."""

    def __init__(self) -> None:
        self.delivered: list[tuple[str, str]] = []
        self.shell_handlers = {kind: self._handler(kind) for kind in ("comm_open", "comm_msg", "comm_close",
                                                                      "kernel_info_request")}

    def _handler(self, kind: str) -> Any:
        def handle(_stream: Any, _idents: Any, msg: dict) -> None:
            self.delivered.append((kind, msg["content"].get("comm_id")))
        return handle

    def send(self, kind: str, comm_id: str, method: str = "update", state: dict | None = None) -> None:
        msg = {"header": {"msg_type": kind}, "content": {"comm_id": comm_id, "data": {"method": method,
                                                                                      "state": state or {}}}}
        self.shell_handlers[kind](None, [], msg)


def test_the_gate_refuses_every_widget_message_outside_the_questionnaire() -> None:
    answer = w.ToggleButtons(options=[("0", 0), ("1", 1)], value=None)
    done = w.Button(description="Færdig")
    questionnaire = w.VBox([w.HTML("spørgsmål"), w.HBox([answer]), done])
    save = w.Button(description="Gem kladde")          # the clinician's, outside the questionnaire
    selector = w.ToggleButtons(options=["course", "start"], value="start")
    refusals: list[tuple[str, dict]] = []
    gate = CommGate(lambda: {m for x in (questionnaire, answer, done) for m in [x.model_id]},
                    lambda kind, detail: refusals.append((kind, detail)))
    kernel = FakeKernel()
    assert gate.install(kernel) and gate.install(kernel)   # once, however often it is asked
    kernel.send("comm_msg", save.model_id, "custom", {"event": "click"})
    assert kernel.delivered == [("comm_msg", save.model_id)]   # off: everything passes
    kernel.delivered.clear()

    gate.active = True
    kernel.send("comm_msg", save.model_id, "custom", {"event": "click"})      # a save
    kernel.send("comm_msg", selector.model_id, "update", {"index": 0})       # another form
    kernel.send("comm_msg", save.model_id, "request_state")                  # read what it holds
    kernel.send("comm_open", "new-comm", "request_states")                    # the widget manager's
    kernel.send("comm_close", save.model_id)
    assert kernel.delivered == []
    assert [kind for kind, _ in refusals] == ["comm_msg", "comm_msg", "comm_msg", "comm_open", "comm_close"]
    assert refusals[0][1] == {"method": "custom"}
    # A page loading after a reload: the widget manager's control comm may ask for the states.
    kernel.shell_handlers["comm_open"](None, [], {"content": {"comm_id": "control-1", "data": {},
                                                              "target_name": "jupyter.widget.control"}})
    kernel.send("comm_msg", "control-1", "request_states")
    assert kernel.delivered == [("comm_open", "control-1"), ("comm_msg", "control-1")]
    kernel.delivered.clear()
    kernel.send("comm_msg", answer.model_id, "update", {"index": 1})           # the citizen's answer
    kernel.send("comm_msg", done.model_id, "custom", {"event": "click"})
    assert kernel.delivered == [("comm_msg", answer.model_id), ("comm_msg", done.model_id)]
    kernel.shell_handlers["kernel_info_request"](None, [], {"content": {}})   # not a widget: untouched
    assert kernel.delivered[-1] == ("kernel_info_request", None)

    gate.active = False
    kernel.send("comm_msg", save.model_id, "custom", {"event": "click"})
    assert kernel.delivered[-1] == ("comm_msg", save.model_id)

