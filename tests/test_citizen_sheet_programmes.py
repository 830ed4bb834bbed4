"""The citizen sheet with several programmes (issue 19): the citizen's courses of each programme
the user may see, in the course's municipality (rights are per programme and municipality).

Carl has a HjerteKom course and a course of the invented programme ``faldforebyggelse``
(tests/invented_programme_files.py), both with start and end. A clinician granted both programmes
sees both on the sheet of either course: HjerteKom's sheet content as before, and the fall
prevention course's start and end measures (fields of the same name in both forms, labels from its
contract). A clinician granted HjerteKom only, or the invented programme only, sees nothing of the
other programme. The sheet of a course of the invented programme shows its own declared measures.
"""
from __future__ import annotations

import random
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from hjertekom_core.access import SYSTEM
from hjertekom_core.bootstrap import sync_municipalities
from hjertekom_core.config import Config
from hjertekom_core.contract import ContractRegistry
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.reports.citizen import course_report_data, render_course_report
from hjertekom_core.reports.citizen_parts import sheet_header, sheet_other_programmes
from hjertekom_core.reports.runner import KernelSession
from hjertekom_core.service import Service
from hjertekom_core.store import Store
from hjertekom_core.users import add_user, get_user

from factories import TEST_PASSWORD, course_data, end_data, start_data
from invented_programme_files import PROGRAMME, contracts_with_invented

SILKEBORG = 740
HJERTEKOM = "hjertekom"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """Read only by the tests (each read is audited, which none of them counts)."""
    tmp_path = tmp_path_factory.mktemp("citizen-sheet-programmes")
    contracts = ContractRegistry(contracts_with_invented(tmp_path))
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    store.migrate()
    sync_municipalities(store, contracts)
    system = Service(store, contracts, SYSTEM)
    carl = system.create_citizen(generate_cpr(random.Random(1919)), "Carl Rask", SILKEBORG)
    heart = system.open_course(carl.id, course_data(), complete=True).course_id
    system.save(heart, "start", start_data(), 0, complete=True, confirm=True)
    system.save(heart, "end", end_data(), 0, complete=True, confirm=True)
    fall = system.open_course(carl.id, {"municipality": SILKEBORG, "referral_date": "2025-01-08"},
                              programme=PROGRAMME, complete=True).course_id
    system.save(fall, "start", {"visit_date": "2025-02-05", "falls_last_year": 2, "fall_risk": "high",
                                "chair_stands": 8}, 0, complete=True, confirm=True)
    system.save(fall, "end", {"visit_date": "2025-05-05", "completed": True, "fall_risk": "low",
                              "chair_stands": 11, "note": "Faldt i haven"}, 0, complete=True, confirm=True)
    known = contracts.programmes
    users = {name: add_user(store, SYSTEM, name, name.title(), "clinician", TEST_PASSWORD, (SILKEBORG,), grants,
                            known_programmes=known)
             for name, grants in (("both", (HJERTEKOM, PROGRAMME)), ("heart_only", (HJERTEKOM,)),
                                  ("fall_only", (PROGRAMME,)))}
    yield SimpleNamespace(store=store, contracts=contracts, heart=heart, fall=fall, **users)
    store.dispose()


def _svc(w: SimpleNamespace, name: str) -> Service:
    return Service(w.store, w.contracts, get_user(w.store, name))


def _data(w: SimpleNamespace, name: str, course: int) -> dict[str, Any]:
    return course_report_data(_svc(w, name), course, "da", Config(), others=True)


def _rows(block: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["key"]: row for row in block["measures"]}


def test_a_user_of_both_programmes_sees_the_other_programmes_course_on_the_hjertekom_sheet(
        world: SimpleNamespace) -> None:
    data = _data(world, "both", world.heart)
    (other,) = data["other_programmes"]
    assert (other["course_id"], other["programme"]["code"], other["programme"]["label"]) == (
        world.fall, PROGRAMME, "Faldforebyggelse")
    assert other["start"] == {"registered": True, "label": "Første samtale", "date": "2025-02-05"}
    assert other["end"] == {"registered": True, "label": "Afslutning", "date": "2025-05-05"}
    assert other["duration_days"] == 89
    rows = _rows(other)
    # Measured at both ends (the contract's labels): chair stands and fall risk; not the date, the
    # free-text note, nor weight or falls (start only) or "completed" (end only).
    assert list(rows) == ["chair_stands", "fall_risk"]
    stands = rows["chair_stands"]
    assert stands["label"] == "Rejse-sætte-sig på 30 sekunder"
    assert (stands["start"]["text"], stands["end"]["text"], stands["change"]["text"]) == ("8", "11", "+3")
    assert stands["scale"]["zones"] == [] and stands["meaning"] == {"start": None, "end": None}  # no cardiac scales
    assert (rows["fall_risk"]["start"]["text"], rows["fall_risk"]["end"]["text"]) == ("Høj", "Lav")

    html = sheet_other_programmes(data, "da")
    assert "Dit forløb i Faldforebyggelse" in html and f'data-course="{world.fall}"' in html
    assert "Rejse-sætte-sig på 30 sekunder" in html and "Faldt i haven" not in html


def test_hjertekoms_sheet_content_is_unchanged_by_the_other_programme(world: SimpleNamespace) -> None:
    both = _data(world, "both", world.heart)
    heart_only = _data(world, "heart_only", world.heart)
    plain = course_report_data(_svc(world, "heart_only"), world.heart, "da", Config())
    assert heart_only["other_programmes"] == [] and plain["other_programmes"] == []
    for data in (both, heart_only):
        rest = {k: v for k, v in data.items() if k not in ("other_programmes", "prepared_by", "responsible")}
        assert rest == {k: v for k, v in plain.items() if k not in ("other_programmes", "prepared_by", "responsible")}
    assert "Dine resultater fra hjerterehabiliteringen" in sheet_header(both, "da")
    assert sheet_other_programmes(heart_only, "da") == ""


def test_a_user_of_one_programme_sees_nothing_of_the_other(world: SimpleNamespace) -> None:
    assert _data(world, "heart_only", world.heart)["other_programmes"] == []
    fall_only = _data(world, "fall_only", world.fall)
    assert fall_only["other_programmes"] == []
    assert "Hjerte" not in sheet_other_programmes(fall_only, "da")


def test_the_sheet_of_another_programmes_course_shows_its_declared_measures(world: SimpleNamespace) -> None:
    data = _data(world, "fall_only", world.fall)
    assert data["programme"]["code"] == PROGRAMME
    assert [g["key"] for g in data["groups"]] == ["declared"]
    assert [row["key"] for row in data["measures"]] == ["chair_stands", "fall_risk"]
    assert data["start"]["date"] == "2025-02-05" and data["end"]["date"] == "2025-05-05"
    assert "Dine resultater – Faldforebyggelse" in sheet_header(data, "da")
    # A user of both: the HjerteKom course appears on it, with HjerteKom's own measures.
    (heart,) = _data(world, "both", world.fall)["other_programmes"]
    assert heart["programme"]["code"] == HJERTEKOM and heart["course_id"] == world.heart
    assert {"weight_kg", "bp_systolic", "who5_score"} <= set(_rows(heart))


def test_the_rendered_sheet_shows_both_programmes_to_a_user_of_both_only(world: SimpleNamespace) -> None:
    with KernelSession() as session:
        both = render_course_report(_svc(world, "both"), world.heart, "citizen", "da", session=session,
                                    config=Config())
        heart_only = render_course_report(_svc(world, "heart_only"), world.heart, "citizen", "da",
                                          session=session, config=Config())
    assert "Dine resultater fra hjerterehabiliteringen" in both and "Dit forløb i Faldforebyggelse" in both
    assert "Rejse-sætte-sig på 30 sekunder" in both
    assert "Dine resultater fra hjerterehabiliteringen" in heart_only
    assert "Faldforebyggelse" not in heart_only and "Rejse-sætte-sig" not in heart_only


def test_the_course_summary_stays_hjertekoms_and_the_pdf_footer_names_the_programme(world: SimpleNamespace) -> None:
    """The entry app links another programme's citizen sheet, never a course summary: that is
    HjerteKom's (for hospital and GP), and by its address it is "not found" for such a course,
    nothing rendered or audited as a summary. A sheet's PDF footer takes the page's own title."""
    from sqlalchemy import select

    from hjertekom_core.errors import NotFound
    from hjertekom_core.reports.citizen import rendered_title
    from hjertekom_core.store.schema import audit_log

    with pytest.raises(NotFound):
        render_course_report(_svc(world, "both"), world.fall, "summary", "da", config=Config())
    with world.store.read() as conn:
        summaries = conn.execute(select(audit_log.c.id).where(audit_log.c.action == "report.summary")).all()
    assert summaries == []
    page = "<html><head><title>Dine resultater – Faldforebyggelse &amp; co</title></head></html>"
    assert rendered_title(page, "citizen") == "Dine resultater – Faldforebyggelse & co"
    assert rendered_title("<html></html>", "citizen", "en") == "Your results from cardiac rehabilitation"
