"""Shared questions (issue 19): WHO-5 and EQ-5D-5L answered at meetings on the same day in HjerteKom
and MoEva are entered once, and each programme's registration holds them.

On a real store (SQLite and PostgreSQL, the ``store`` fixture): answers are filled in from the other
programme's registration of the same day, with their provenance audited; a correction of a shared
answer is carried over to the other registration as a new revision in the same transaction; other
answers found there are left and reported; nothing comes from a programme the user does not act in.
The contract check: blocks declaring the same instrument must ask the same items.
"""
from __future__ import annotations

import datetime as dt
import json
import random
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from hjertekom_core.access import SYSTEM, User
from hjertekom_core.contract import ContractRegistry
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.errors import ContractError
from hjertekom_core.service import Service
from hjertekom_core.store import Store
from hjertekom_core.store.schema import audit_log
from hjertekom_core.users import add_user, get_user

from factories import TEST_PASSWORD, course_data, start_data
from shared_questions_files import contracts_with_moeva

SILKEBORG = 740
TODAY = dt.date(2025, 6, 2)
DAY = dt.date(2025, 2, 17)          # start_data's meeting date
WHO5_HEART = [3, 3, 2, 2, 3]        # start_data's WHO-5
EQ5D_HEART = [1, 2, 3, 4, 5]


def moeva_course(municipality: int = SILKEBORG) -> dict[str, Any]:
    return {"municipality": municipality, "enrolment_date": "2025-02-10", "offer_type": "patient_education",
            "organisation": "municipality"}


def moeva_start(day: str = "2025-02-17", **changes: Any) -> dict[str, Any]:
    """MoEva's first questionnaire without WHO-5 and EQ-5D-5L (those are shared)."""
    data: dict[str, Any] = {"answer_date": day, "questionnaire_status": "completed", "self_rated_health": "good"}
    data.update({f"pss10_{i}": 2 for i in range(1, 11)})
    data.update({f"loneliness_{i}": 1 for i in range(1, 4)})
    data.update(changes)
    return data


def who5(values: list[int]) -> dict[str, int]:
    return {f"who5_{i}": v for i, v in enumerate(values, start=1)}


def who5_of(data: Any) -> list[Any]:
    return [data.get(f"who5_{i}") for i in range(1, 6)]


@pytest.fixture
def world(store: Store, tmp_path: Path) -> SimpleNamespace:
    """In Silkeborg: a citizen with a HjerteKom course and a MoEva course; users acting in both
    programmes, in MoEva only and in HjerteKom only."""
    contracts = ContractRegistry(contracts_with_moeva(tmp_path))
    rng = random.Random(1919)
    system = Service(store, contracts, SYSTEM, today=TODAY)
    citizen = system.create_citizen(generate_cpr(rng), "Dorte Delt", SILKEBORG)
    heart = system.open_course(citizen.id, course_data(), complete=True).course_id
    moeva = system.open_course(citizen.id, moeva_course(), programme="moeva", complete=True).course_id
    known = contracts.programmes
    users = {name: add_user(store, SYSTEM, name, name.title(), "clinician", TEST_PASSWORD, (SILKEBORG,), grants,
                            known_programmes=known)
             for name, grants in (("both", ("hjertekom", "moeva")), ("moeva_only", ("moeva",)),
                                  ("heart_only", ("hjertekom",)))}
    return SimpleNamespace(store=store, contracts=contracts, heart=heart, moeva=moeva, **users)


def svc(w: SimpleNamespace, user: User) -> Service:
    return Service(w.store, w.contracts, get_user(w.store, user.username), today=TODAY)


def audit_details(store: Store, action: str) -> list[tuple[str, dict[str, Any]]]:
    with store.read() as conn:
        rows = conn.execute(select(audit_log.c.entity_id, audit_log.c.detail)
                            .where(audit_log.c.action == action).order_by(audit_log.c.id)).all()
    return [(r.entity_id, json.loads(r.detail)) for r in rows]


def test_moeva_start_takes_hjertekoms_answers_of_the_same_day(world: SimpleNamespace) -> None:
    s = svc(world, world.both)
    heart = s.save(world.heart, "start", start_data(), 0, complete=True)
    assert who5_of(heart.data) == WHO5_HEART

    shown = s.shared_answers(world.moeva, "start", DAY)
    assert [a.instrument for a in shown] == ["who5", "eq5d"]
    assert shown[0].note() == "Besvaret i HjerteKom – afklarende samtale 17.02.2025 — udfyldes ikke igen"
    assert (shown[0].programme, shown[0].course_id, shown[0].form, shown[0].revision) == (
        "hjertekom", world.heart, "start", 1)
    assert dict(shown[1].values)["eq5d_vas"] == 60

    saved = s.save(world.moeva, "start", moeva_start(), 0, complete=True)
    assert who5_of(saved.data) == WHO5_HEART
    assert saved.data["who5_score"] == heart.data["who5_score"]
    assert [saved.data[k] for k in ("eq5d_mobility", "eq5d_selfcare", "eq5d_activities", "eq5d_pain",
                                    "eq5d_anxiety")] == EQ5D_HEART
    assert saved.data["eq5d_index"] == heart.data["eq5d_index"]
    assert [(n.kind, n.instrument) for n in saved.shared] == [("from", "who5"), ("from", "eq5d")]
    assert "svarene fra HjerteKom – afklarende samtale 17.02.2025 er gemt her også" in saved.shared[0].message()

    # The provenance is in the audit row of the save; the read of the other programme's answers too.
    saves = [d for entity, d in audit_details(world.store, "registration.save") if entity == str(world.moeva)]
    assert saves[-1]["shared_from"]["who5"] == {"programme": "hjertekom", "course_id": world.heart,
                                                "form": "start", "revision": 1, "day": "2025-02-17"}
    reads = audit_details(world.store, "registration.shared_read")
    assert {(e, d["instrument"], d["for_course"]) for e, d in reads} == {
        (str(world.heart), "who5", world.moeva), (str(world.heart), "eq5d", world.moeva)}
    # HjerteKom's registration is untouched.
    assert s.get_course(world.heart).forms["start"].revision == 1


def test_hjertekom_start_takes_moevas_answers_and_sets_its_status(world: SimpleNamespace) -> None:
    s = svc(world, world.both)
    s.save(world.moeva, "start", moeva_start(**who5([4, 4, 4, 4, 4])), 0)
    data = start_data()
    for key in [k for k in data if k.startswith("who5")]:
        del data[key]
    saved = s.save(world.heart, "start", data, 0, complete=True)
    assert saved.data["who5_status"] == "completed"
    assert who5_of(saved.data) == [4] * 5 and saved.data["who5_score"] == 80
    assert [n.kind for n in saved.shared] == ["from"]   # MoEva's draft holds no EQ-5D-5L yet: its own kept
    assert saved.data["eq5d_vas"] == 60


def test_another_day_or_a_declined_questionnaire_shares_nothing(world: SimpleNamespace) -> None:
    s = svc(world, world.both)
    s.save(world.heart, "start", start_data(), 0, complete=True)
    assert s.shared_answers(world.moeva, "start", DAY + dt.timedelta(days=1)) == []
    other_day = s.save(world.moeva, "start", moeva_start("2025-02-18"), 0)
    assert who5_of(other_day.data) == [None] * 5 and other_day.shared == ()
    # HjerteKom's clinician recorded the citizen declined WHO-5: not overruled by MoEva's answers.
    s.save(world.moeva, "start", moeva_start(**who5([1, 1, 1, 1, 1])), other_day.revision)
    declined = {k: v for k, v in start_data(meeting_date="18-02-2025", who5_status="declined").items()
                if not (k.startswith("who5_") and k[5:].isdigit())}
    saved = s.save(world.heart, "start", declined, 1, complete=True, reason="Ny dato")
    assert saved.data["who5_status"] == "declined" and who5_of(saved.data) == [None] * 5


def test_nothing_is_shown_or_taken_from_a_programme_the_user_does_not_act_in(world: SimpleNamespace) -> None:
    svc(world, world.both).save(world.heart, "start", start_data(), 0, complete=True)
    s = svc(world, world.moeva_only)
    assert s.shared_answers(world.moeva, "start", DAY) == []
    saved = s.save(world.moeva, "start", moeva_start(), 0)
    assert who5_of(saved.data) == [None] * 5 and saved.shared == ()
    assert audit_details(world.store, "registration.shared_read") == []


def test_a_correction_of_a_shared_answer_is_saved_in_both_programmes(world: SimpleNamespace) -> None:
    s = svc(world, world.both)
    s.save(world.heart, "start", start_data(), 0, complete=True)
    first = s.save(world.moeva, "start", moeva_start(), 0)
    corrected = dict(first.data) | who5([5, 3, 2, 2, 3])
    second = s.save(world.moeva, "start", corrected, first.revision, complete=True)
    assert [(n.kind, n.instrument, n.revision) for n in second.shared] == [("updated", "who5", 2)]
    assert "rettelsen er også gemt i HjerteKom – afklarende samtale 17.02.2025" in second.shared[0].message()

    heart = s.get_course(world.heart, with_history=True).forms["start"]
    assert heart.revision == 2 and heart.status == "complete"          # finished stays finished
    assert who5_of(heart.data) == [5, 3, 2, 2, 3] and heart.data["who5_score"] == 60
    assert heart.reason and "Delt spørgsmål (Trivsel (WHO-5)) rettet i MoEva" in heart.reason
    assert heart.data["eq5d_vas"] == 60                                # the rest as it was
    saves = audit_details(world.store, "registration.save")
    heart_rows = [d for entity, d in saves if entity == str(world.heart) and d.get("form") == "start"]
    assert heart_rows[-1]["shared_from"]["who5"] == {"programme": "moeva", "course_id": world.moeva,
                                                    "form": "start", "revision": 2}
    moeva_rows = [d for entity, d in saves if entity == str(world.moeva)]
    assert moeva_rows[-1]["shared_to"] == [{"instrument": "who5", "programme": "hjertekom", "course_id": world.heart,
                                           "form": "start", "revision": 2, "day": "2025-02-17"}]


def test_answers_entered_apart_are_flagged_not_overwritten(world: SimpleNamespace) -> None:
    s = svc(world, world.both)
    s.save(world.heart, "start", start_data(), 0, complete=True)
    typed = s.save(world.moeva, "start", moeva_start(**who5([1, 1, 1, 1, 1])), 0)
    assert [(n.kind, n.instrument) for n in typed.shared] == [("differs", "who5"), ("from", "eq5d")]
    assert "har andre svar, som ikke er ændret" in typed.shared[0].message()
    assert s.get_course(world.heart).forms["start"].revision == 1
    # Chosen as an edit of the offered answers ("Ret svarene" in the entry app): carried over.
    s2 = s.save(world.moeva, "start", moeva_start(**who5([2, 2, 2, 2, 2])), 0 + typed.revision,
                shared_edit=("who5",))
    # Before, this registration held [1]*5, HjerteKom [3,3,2,2,3]: not the same answer, left alone.
    assert [n.kind for n in s2.shared] == ["differs"]
    assert who5_of(s.get_course(world.heart).forms["start"].data) == WHO5_HEART


def test_an_edit_of_offered_answers_before_the_first_save_is_carried_over(world: SimpleNamespace) -> None:
    s = svc(world, world.both)
    s.save(world.heart, "start", start_data(), 0, complete=True)
    saved = s.save(world.moeva, "start", moeva_start(**who5([4, 3, 2, 2, 3])), 0, shared_edit=("who5",))
    assert [(n.kind, n.instrument) for n in saved.shared] == [("updated", "who5"), ("from", "eq5d")]
    assert who5_of(s.get_course(world.heart).forms["start"].data) == [4, 3, 2, 2, 3]


def test_a_carried_over_correction_refused_there_writes_nothing(world: SimpleNamespace) -> None:
    """The two revisions are one transaction: when the other's revision cannot be inserted (someone
    saved it meanwhile), neither is."""
    s = svc(world, world.both)
    s.save(world.heart, "start", start_data(), 0, complete=True)
    first = s.save(world.moeva, "start", moeva_start(), 0)
    original = Service._carried_revision

    def racing(self: Service, *args: Any, **kwargs: Any) -> Any:
        row, entry = original(self, *args, **kwargs)
        row["revision"] = 1   # as if HjerteKom's revision had been taken meanwhile
        return row, entry

    Service._carried_revision = racing  # type: ignore[method-assign]
    try:
        from hjertekom_core.errors import RevisionConflict
        with pytest.raises(RevisionConflict):
            s.save(world.moeva, "start", dict(first.data) | who5([5, 5, 5, 5, 5]), first.revision)
    finally:
        Service._carried_revision = original  # type: ignore[method-assign]
    assert s.get_course(world.moeva).forms["start"].revision == 1
    assert s.get_course(world.heart).forms["start"].revision == 1


def test_blocks_sharing_an_instrument_must_ask_the_same_items(tmp_path: Path) -> None:
    folder = contracts_with_moeva(tmp_path)
    path = folder / "moeva" / "contract.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("{name: who5_5, type: int, codelist: who5_item",
                                 "{name: who5_5, type: int, codelist: eq5d_level", 1), encoding="utf-8")
    with pytest.raises(ContractError, match="who5_5.*differ from who5_5 of the same instrument"):
        ContractRegistry(folder)
    other = tmp_path / "other"
    shutil.copytree(folder, other)
    (other / "moeva" / "contract.yaml").write_text(
        text.replace("instrument: eq5d", "instrument: who5"), encoding="utf-8")
    with pytest.raises(ContractError, match="the items .* differ from"):
        ContractRegistry(other)
