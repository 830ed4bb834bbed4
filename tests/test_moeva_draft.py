"""The draft MoEva programme (tests/data/moeva, issue 19) beside hjertekom, with no code change.

The draft stays out of data_contracts/ until the entry app can choose a programme (every workspace
would load it); this keeps it valid and working for the next session: its contract and indicators
load against the schemas, its questionnaires are scored (WHO-5, EQ-5D-5L, PSS-10, loneliness), its
demo data, snapshot tables and indicators M1 and M2 come from its files alone.
"""
from __future__ import annotations

import datetime as dt
import random
import shutil
from pathlib import Path

import duckdb

from hjertekom_core.access import SYSTEM
from hjertekom_core.bootstrap import Workspace, initialise, open_workspace
from hjertekom_core.config import Config
from hjertekom_core.contract import ContractRegistry
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.demo import generate_demo
from hjertekom_core.indicators import compute, settings_from_config
from hjertekom_core.indicators.declarations import load_registry_declarations
from hjertekom_core.service import Service
from hjertekom_core.snapshot import create_snapshot

from paths import CONTRACTS_DIR

DRAFT = Path(__file__).parent / "data" / "moeva"
AARHUS = 751


def contracts_with_moeva(root: Path) -> Path:
    folder = root / "contracts"
    shutil.copytree(CONTRACTS_DIR, folder)
    shutil.copytree(DRAFT / "moeva", folder / "moeva")
    for codelist in (DRAFT / "codelists").iterdir():
        shutil.copy(codelist, folder / "codelists" / codelist.name)
    return folder


def _workspace(root: Path) -> Workspace:
    ws = open_workspace(Config(data_dir=root / "data", contracts_dir=contracts_with_moeva(root)))
    initialise(ws)
    return ws


def _questionnaire(day: str, who5: list[int], pss10: list[int], lonely: list[int], eq5d: list[int]) -> dict:
    data: dict = {"answer_date": day, "questionnaire_status": "completed", "self_rated_health": "good",
                  "eq5d_vas": 70}
    data.update({f"who5_{i}": v for i, v in enumerate(who5, start=1)})
    data.update({f"pss10_{i}": v for i, v in enumerate(pss10, start=1)})
    data.update({f"loneliness_{i}": v for i, v in enumerate(lonely, start=1)})
    data.update(dict(zip(("eq5d_mobility", "eq5d_selfcare", "eq5d_activities", "eq5d_pain", "eq5d_anxiety"), eq5d)))
    return data


def test_the_draft_loads_beside_hjertekom(tmp_path: Path) -> None:
    registry = ContractRegistry(contracts_with_moeva(tmp_path))
    assert registry.programmes == ["hjertekom", "moeva"]
    moeva = registry["moeva"]
    assert list(moeva.forms) == ["course", "start", "end"]
    assert {f.name for f in moeva.form("end").fields.values() if f.is_derived} == {
        "who5_score", "eq5d_index", "pss10_score", "loneliness_score"}
    declared = load_registry_declarations(registry)
    assert [i.id for i in declared["moeva"].indicators] == ["M1", "M2"]


def test_its_questionnaires_are_scored_and_counted(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    service = Service(ws.store, ws.contracts, SYSTEM)
    rng = random.Random(5)
    courses = []
    # Course A: WHO-5 40 -> 56 (+16, M2 met); course B: 60 -> 64 (+4, not met); course C: no last
    # questionnaire yet, 30 days after the first (M1: not in the denominator yet).
    plans = [([2] * 5, [3, 3, 3, 3, 2]), ([3] * 5, [3, 3, 3, 4, 3]), ([2] * 5, None)]
    today = dt.date.today()
    for i, (start_who5, end_who5) in enumerate(plans):
        citizen = service.create_citizen(generate_cpr(rng), f"Borger {i}", AARHUS)
        enrolled = today - dt.timedelta(days=120)
        opened = service.open_course(citizen.id, {"municipality": AARHUS, "enrolment_date": enrolled.isoformat(),
                                                  "offer_type": "patient_education", "organisation": "municipality"},
                                     programme="moeva", complete=True)
        first = (today - dt.timedelta(days=100 if end_who5 else 30)).isoformat()
        saved = service.save(opened.course_id, "start", _questionnaire(first, start_who5, [2] * 10, [1, 2, 3],
                                                                       [1, 1, 2, 2, 1]), 0, complete=True)
        if i == 0:
            # PSS-10 all "2": the reversed items (4, 5, 7, 8) give 2 as well; loneliness 1 + 2 + 3.
            assert (saved.data["who5_score"], saved.data["pss10_score"], saved.data["loneliness_score"]) == (40, 20, 6)
            assert 0 < saved.data["eq5d_index"] < 1
        if end_who5:
            last = (today - dt.timedelta(days=5)).isoformat()
            end = _questionnaire(last, end_who5, [1, 1, 1, 3, 3, 1, 3, 3, 1, 1], [1, 1, 1], [1, 1, 1, 1, 1])
            saved = service.save(opened.course_id, "end", {**end, "offer_completed": "yes"}, 0, complete=True)
            if i == 0:  # PSS-10: six items of 1, and 4 - 3 for each of the four reversed ones
                assert (saved.data["pss10_score"], saved.data["loneliness_score"], saved.data["eq5d_index"]) == (
                    10, 3, 1.0)
        courses.append(opened.course_id)
    info = create_snapshot(ws.store, ws.contracts, tmp_path / "snapshots")
    with duckdb.connect(str(info.path), read_only=True) as con:
        scores = con.execute("SELECT course_id, who5_score, pss10_score FROM moeva_end ORDER BY course_id").fetchall()
        df = compute(con, settings_from_config(ws.config, programme="moeva"), levels=["municipality"], period="year")
    ws.store.dispose()
    assert scores == [(courses[0], 56, 10), (courses[1], 64, 10)]
    counts = {r.indicator: (int(r.numerator), int(r.denominator)) for r in df[df["unit"] == str(AARHUS)].itertuples()
              if int(r.denominator) or int(r.numerator)}
    assert counts == {"M1": (2, 2), "M2": (1, 2)}


def test_its_demo_data_come_from_the_draft(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    summary = generate_demo(ws, 30, seed=2, programme="moeva")
    assert summary.courses == 30
    info = create_snapshot(ws.store, ws.contracts, tmp_path / "snapshots")
    with duckdb.connect(str(info.path), read_only=True) as con:
        finished = con.execute("""SELECT count(*) FROM moeva_start s JOIN moeva_end e USING (course_id)
                                  WHERE s.status = 'complete' AND e.status = 'complete'
                                    AND s.who5_score IS NOT NULL""").fetchone()[0]
        df = compute(con, settings_from_config(ws.config, programme="moeva"), levels=["national"], period="year")
    ws.store.dispose()
    assert finished > 0
    assert int(df[df["indicator"] == "M2"]["denominator"].sum()) == finished
    m1 = df[df["indicator"] == "M1"]
    assert int(m1["denominator"].sum()) > 0 and (m1["numerator"] <= m1["denominator"]).all()
