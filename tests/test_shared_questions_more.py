"""Shared questions, the finishing slice (issue 19), on a real store (SQLite and PostgreSQL):

* a save whose correction would be carried over to the other programme's registration, saved by
  someone since, writes nothing and says so (``SharedRevisionConflict``, not a conflict on the form);
* the form history shows where shared answers came from and where a correction was carried over to,
  from the saves' audit rows, and nothing of a programme the user does not act in;
* the bulk import fills in a blank shared instrument from the other programme's registration of the
  same day (provenance in the audit row) and reports answers that differ, overwriting nothing.

The entry app's side (the tablet, the message) is tests/test_entry_shared_more.py.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from hjertekom_core.access import SYSTEM, User
from hjertekom_core.contract import ContractRegistry
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.errors import RevisionConflict, SharedRevisionConflict
from hjertekom_core.importer import import_file
from hjertekom_core.service import Service
from hjertekom_core.store import Store
from hjertekom_core.store.schema import audit_log
from hjertekom_core.users import add_user, get_user
from hjertekom_widgets.history import history_html

from factories import TEST_PASSWORD, course_data, start_data
from shared_questions_files import contracts_with_moeva

SILKEBORG = 740
TODAY = dt.date(2025, 6, 2)
DAY = dt.date(2025, 2, 17)
WHO5_HEART = [3, 3, 2, 2, 3]


def moeva_start(day: str = "2025-02-17", **changes: Any) -> dict[str, Any]:
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
    contracts = ContractRegistry(contracts_with_moeva(tmp_path))
    system = Service(store, contracts, SYSTEM, today=TODAY)
    rng = random.Random(1977)
    citizen = system.create_citizen(generate_cpr(rng), "Freja Fælles", SILKEBORG)
    heart = system.open_course(citizen.id, course_data(), complete=True).course_id
    moeva = system.open_course(citizen.id, {"municipality": SILKEBORG, "enrolment_date": "2025-02-10",
                                            "offer_type": "patient_education", "organisation": "municipality"},
                               programme="moeva", complete=True).course_id
    known = contracts.programmes
    users = {name: add_user(store, SYSTEM, name, name.title(), "clinician", TEST_PASSWORD, (SILKEBORG,), grants,
                            known_programmes=known)
             for name, grants in (("both", ("hjertekom", "moeva")), ("other", ("hjertekom", "moeva")),
                                  ("heart_only", ("hjertekom",)))}
    return SimpleNamespace(store=store, contracts=contracts, heart=heart, moeva=moeva, rng=rng, system=system,
                           **users)


def svc(w: SimpleNamespace, user: User) -> Service:
    return Service(w.store, w.contracts, get_user(w.store, user.username), today=TODAY)


# --- 3. the other programme's registration saved meanwhile -----------------------------------------------
def test_a_correction_over_answers_saved_since_in_the_other_programme_writes_nothing(world: SimpleNamespace) -> None:
    s = svc(world, world.both)
    s.save(world.heart, "start", start_data(), 0, complete=True)
    shown = s.shared_answers(world.moeva, "start", DAY)            # what the MoEva form showed
    # Meanwhile a colleague corrects WHO-5 in HjerteKom (revision 2).
    svc(world, world.other).save(world.heart, "start", dict(start_data()) | who5([1, 1, 1, 1, 1]), 1,
                                 complete=True, reason="Tastefejl")
    # "Ret svarene" on the answers shown (revision 1), then save: it would overwrite revision 2 unseen.
    with pytest.raises(SharedRevisionConflict) as caught:
        s.save(world.moeva, "start", moeva_start(**who5([4, 3, 2, 2, 3])), 0, shared_edit=("who5",),
               shared_seen=shown)
    assert isinstance(caught.value, RevisionConflict)               # old handlers still catch it
    message = caught.value.message("da")
    assert "HjerteKom – afklarende samtale 17.02.2025" in message and "er gemt af en anden" in message
    assert "Intet er gemt" in message and "Genindlæs siden" in message
    assert "was saved by someone else" in caught.value.message("en")
    assert s.get_course(world.moeva).forms == {} or "start" not in s.get_course(world.moeva).forms
    heart = s.get_course(world.heart).forms["start"]
    assert heart.revision == 2 and who5_of(heart.data) == [1] * 5
    # Reloaded (shown again): the newest answers, and the correction goes through.
    shown = s.shared_answers(world.moeva, "start", DAY)
    saved = s.save(world.moeva, "start", moeva_start(**who5([4, 3, 2, 2, 3])), 0, shared_edit=("who5",),
                   shared_seen=shown)
    assert [n.kind for n in saved.shared][:1] == ["updated"]
    assert who5_of(s.get_course(world.heart).forms["start"].data) == [4, 3, 2, 2, 3]


def test_a_save_there_that_left_the_answers_as_shown_is_no_obstacle(world: SimpleNamespace) -> None:
    s = svc(world, world.both)
    s.save(world.heart, "start", start_data(), 0, complete=True)
    shown = s.shared_answers(world.moeva, "start", DAY)
    svc(world, world.other).save(world.heart, "start", start_data(weight_kg="87,0"), 1, complete=True,
                                 reason="Vægt rettet")
    saved = s.save(world.moeva, "start", moeva_start(**who5([4, 3, 2, 2, 3])), 0, shared_edit=("who5",),
                   shared_seen=shown)
    assert ("updated", "who5", 3) in [(n.kind, n.instrument, n.revision) for n in saved.shared]
    heart = s.get_course(world.heart).forms["start"]
    assert heart.revision == 3 and who5_of(heart.data) == [4, 3, 2, 2, 3] and heart.data["weight_kg"] == 87.0


def test_a_race_on_the_other_programmes_revision_names_it_and_writes_nothing(world: SimpleNamespace) -> None:
    s = svc(world, world.both)
    s.save(world.heart, "start", start_data(), 0, complete=True)
    first = s.save(world.moeva, "start", moeva_start(), 0)
    original = Service._carried_revision

    def racing(self: Service, *args: Any, **kwargs: Any) -> Any:
        row, entry = original(self, *args, **kwargs)
        row["revision"] = 1   # as if HjerteKom's revision 2 ... had been taken meanwhile: a duplicate key
        return row, entry

    Service._carried_revision = racing  # type: ignore[method-assign]
    try:
        with pytest.raises(SharedRevisionConflict, match="HjerteKom"):
            s.save(world.moeva, "start", dict(first.data) | who5([5, 5, 5, 5, 5]), first.revision)
    finally:
        Service._carried_revision = original  # type: ignore[method-assign]
    assert s.get_course(world.moeva).forms["start"].revision == 1
    assert s.get_course(world.heart).forms["start"].revision == 1
    # A conflict on the form itself stays an ordinary RevisionConflict.
    s.save(world.moeva, "start", dict(first.data), first.revision)
    with pytest.raises(RevisionConflict) as caught:
        s.save(world.moeva, "start", dict(first.data) | who5([5, 5, 5, 5, 5]), first.revision)
    assert not isinstance(caught.value, SharedRevisionConflict)


# --- 4. the history ---------------------------------------------------------------------------------------
def test_the_history_shows_where_shared_answers_came_from_and_went(world: SimpleNamespace) -> None:
    s = svc(world, world.both)
    s.save(world.heart, "start", start_data(), 0, complete=True)
    first = s.save(world.moeva, "start", moeva_start(), 0)                        # taken from HjerteKom
    s.save(world.moeva, "start", dict(first.data) | who5([5, 3, 2, 2, 3]), 1)     # corrected, carried over
    s.save(world.moeva, "start", dict(first.data) | who5([5, 3, 2, 2, 3]) | {"self_rated_health": "fair"}, 2)

    moeva = s.form_history(world.moeva, "start")
    texts = {c.revision: [link.text() for link in c.shared] for c in moeva}
    assert texts[1] == ["Overført fra HjerteKom – afklarende samtale 17.02.2025 (Trivsel (WHO-5), version 1)",
                        "Overført fra HjerteKom – afklarende samtale 17.02.2025 (Helbredstilstand (EQ-5D-5L), version 1)"]
    assert texts[2] == ["Overført til HjerteKom – afklarende samtale 17.02.2025 (Trivsel (WHO-5), version 2)"]
    assert texts[3] == []   # WHO-5 unchanged in this revision: nothing said
    heart = s.form_history(world.heart, "start")
    assert [link.text() for link in heart[1].shared] == [
        "Overført fra MoEva – første spørgeskema 17.02.2025 (Trivsel (WHO-5), version 2)"]
    assert heart[0].shared == ()
    page = history_html(world.contracts["hjertekom"], "start", heart)
    assert 'class="hk-history-shared" data-shared="from"' in page
    assert "Overført fra MoEva – første spørgeskema 17.02.2025" in page
    english = history_html(world.contracts["hjertekom"], "start", heart, "en")
    assert "Carried over from MoEva" in english

    # A HjerteKom-only clinician sees the revision, not the programme it came from.
    alone = svc(world, world.heart_only).form_history(world.heart, "start")
    assert [c.shared for c in alone] == [(), ()]


# --- 2. the bulk import -----------------------------------------------------------------------------------
def _moeva_row(cpr: str, day: str = "17-02-2025", **cells: Any) -> dict[str, Any]:
    row = {"cpr": cpr, "name": "", "course.municipality": "740", "course.enrolment_date": "10-02-2025",
           "course.offer_type": "patient_education", "course.organisation": "municipality",
           "start.answer_date": day, "start.questionnaire_status": "completed", "start.self_rated_health": "good"}
    row.update({f"start.pss10_{i}": "2" for i in range(1, 11)})
    row.update({f"start.loneliness_{i}": "1" for i in range(1, 4)})
    row.update({f"start.{k}": str(v) for k, v in cells.items()})
    return row


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    columns = sorted({c for r in rows for c in r}, key=lambda c: (c != "cpr", c))
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=";")
        writer.writerow(columns)
        writer.writerows([[r.get(c, "") for c in columns] for r in rows])
    return path


def test_the_import_fills_in_blank_shared_answers_and_reports_differing_ones(world: SimpleNamespace,
                                                                              tmp_path: Path) -> None:
    s = svc(world, world.both)
    # Two citizens with HjerteKom's start form of 17.02.2025 (WHO-5 3,3,2,2,3; EQ-5D-5L) and no MoEva course.
    cprs = []
    for name in ("Gerda Import", "Hans Import"):
        cpr = generate_cpr(world.rng)
        citizen = world.system.create_citizen(cpr, name, SILKEBORG)
        heart = world.system.open_course(citizen.id, course_data(), complete=True).course_id
        s.save(heart, "start", start_data(), 0, complete=True)
        cprs.append(cpr)
    path = _write_csv(tmp_path / "moeva.csv", [
        _moeva_row(cprs[0]),                                                  # WHO-5, EQ-5D-5L blank: filled
        _moeva_row(cprs[1], **{f"who5_{i}": 1 for i in range(1, 6)}),         # WHO-5 differs: kept and reported
    ])
    result = import_file(s, path, programme="moeva")
    assert result.courses == 2 and result.shared_filled == 3   # row 2: WHO-5 and EQ-5D-5L; row 3: EQ-5D-5L

    with world.store.read() as conn:
        rows = conn.execute(select(audit_log.c.entity_id, audit_log.c.detail)
                            .where(audit_log.c.action == "import.course").order_by(audit_log.c.id)).all()
    courses = [int(r.entity_id) for r in rows]
    details = [json.loads(r.detail) for r in rows]
    filled = s.get_course(courses[0]).forms["start"]
    assert who5_of(filled.data) == WHO5_HEART and filled.data["who5_score"] == 52
    assert filled.data["eq5d_vas"] == 60 and filled.data["eq5d_index"] is not None
    assert details[0]["shared_from"]["start"]["who5"]["programme"] == "hjertekom"
    assert details[0]["shared_from"]["start"]["who5"]["day"] == "2025-02-17"
    kept = s.get_course(courses[1]).forms["start"]
    assert who5_of(kept.data) == [1] * 5                                   # the file's own answers
    assert set(details[1]["shared_from"]["start"]) == {"eq5d"}

    said = result.describe()
    assert "3 delte spørgeskemaer" in said and "kilden står i auditloggen" in said
    assert "række 3, start.who5: Trivsel (WHO-5): rækkens svar er andre end i HjerteKom – afklarende samtale " \
           "17.02.2025" in said
    assert "the row's answers differ from HjerteKom" in said
    # HjerteKom's registrations are untouched by the import.
    for cpr in cprs:
        citizen = s.find_citizen(cpr)
        assert citizen is not None
        heart = next(c for c in s.courses_of(citizen.id) if c.programme == "hjertekom")
        assert heart.forms["start"].revision == 1 and who5_of(heart.forms["start"].data) == WHO5_HEART


def test_the_import_shares_nothing_from_a_programme_the_importer_does_not_act_in(world: SimpleNamespace,
                                                                                 tmp_path: Path) -> None:
    cpr = generate_cpr(world.rng)
    citizen = world.system.create_citizen(cpr, "Ida Import", SILKEBORG)
    heart = world.system.open_course(citizen.id, course_data(), complete=True).course_id
    world.system.save(heart, "start", start_data(), 0, complete=True)
    moeva_only = add_user(world.store, SYSTEM, "moeva_importer", "M", "clinician", TEST_PASSWORD, (SILKEBORG,),
                          ("moeva",), known_programmes=world.contracts.programmes)
    result = import_file(svc(world, moeva_only), _write_csv(tmp_path / "m.csv", [_moeva_row(cpr)]),
                         programme="moeva")
    assert result.shared_filled == 0 and result.shared == []
    assert "delte" not in result.describe()


def test_the_import_command_prints_and_reports_the_shared_answers(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from hjertekom_core.bootstrap import initialise, open_workspace
    from hjertekom_core.cli import main
    from hjertekom_core.config import Config
    from shared_questions_files import BOTH_ENV, BOTH_PROGRAMMES

    contracts = contracts_with_moeva(tmp_path)
    data_dir = tmp_path / "var"
    ws = open_workspace(Config(data_dir=data_dir, contracts_dir=contracts, programmes=BOTH_PROGRAMMES))
    initialise(ws)
    system = Service(ws.store, ws.contracts, SYSTEM)
    cprs = [generate_cpr(random.Random(seed)) for seed in (31, 32)]
    for cpr in cprs:
        citizen = system.create_citizen(cpr, "Jens Kommando", SILKEBORG)
        heart = system.open_course(citizen.id, course_data(), complete=True).course_id
        system.save(heart, "start", start_data(), 0, complete=True)
    ws.store.dispose()
    path = _write_csv(tmp_path / "moeva.csv", [_moeva_row(cprs[0]),
                                               _moeva_row(cprs[1], **{f"who5_{i}": 1 for i in range(1, 6)})])
    env: dict[str, str | None] = {"HJERTEKOM_DATA_DIR": str(data_dir), "HJERTEKOM_CONTRACTS_DIR": str(contracts),
                                  "HJERTEKOM_DATABASE_URL": None, **BOTH_ENV}   # the store above, whatever is set
    done = CliRunner().invoke(main, ["import", str(path), "--programme", "moeva", "--report",
                                     str(tmp_path / "report.csv")], env=env)
    assert done.exit_code == 0, done.output
    assert "3 delte spørgeskemaer" in done.output and "række 3, start.who5:" in done.output
    with (tmp_path / "report.csv").open(encoding="utf-8-sig") as fh:
        report = list(csv.reader(fh, delimiter=";"))
    assert report[0] == ["række", "kolonne", "fejl"]
    assert [(r[0], r[1]) for r in report[1:]] == [("2", "start.who5"), ("2", "start.eq5d"),
                                                  ("3", "start.who5 (delt spørgsmål)"), ("3", "start.eq5d")]
