"""MoEva (issue 19), shipped in data_contracts/ beside hjertekom and run where the setting
``programmes`` names it.

A service configured as it always was (the default ``programmes``: hjertekom) loads hjertekom alone,
so a HjerteKom municipality's entry app and snapshots do not change; ``programmes = hjertekom,moeva``
loads both; a name without a folder is a clear error at start. MoEva's contract is complete as the
issue asks (the offer, first and last questionnaires with self-rated health, WHO-5, EQ-5D-5L, PSS-10
and the three-item loneliness scale, Danish and English), its questionnaires are scored, its
indicators M1 and M2 counted by hand, its demo data plausible, and the command line runs it on a
real SQLite workspace.
"""
from __future__ import annotations

import datetime as dt
import os
import random
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from hjertekom_core.access import SYSTEM
from hjertekom_core.bootstrap import Workspace, initialise, open_workspace
from hjertekom_core.config import Config, load_config
from hjertekom_core.contract import ContractRegistry, UnknownProgramme
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.demo import generate_demo
from hjertekom_core.errors import ConfigError, HjerteKomError
from hjertekom_core.indicators import compute, settings_from_config
from hjertekom_core.indicators.counting import DANISH_TIME
from hjertekom_core.indicators.declarations import load_registry_declarations
from hjertekom_core.reports.guidance import PARTS, load_guidance
from hjertekom_core.service import Service
from hjertekom_core.snapshot import create_snapshot

from paths import CONTRACTS_DIR

BOTH = ("hjertekom", "moeva")
AARHUS = 751
QUESTIONNAIRE_BLOCKS = ("status", "health", "who5", "eq5d", "pss10", "loneliness")


def _today() -> dt.date:
    return dt.datetime.now(DANISH_TIME).date()


def _workspace(root: Path) -> Workspace:
    ws = open_workspace(Config(data_dir=root / "data", contracts_dir=CONTRACTS_DIR, programmes=BOTH))
    initialise(ws)
    return ws


# --- which programmes a service runs -----------------------------------------------------------------

def test_a_service_configured_as_before_runs_hjertekom_alone(tmp_path: Path) -> None:
    """MoEva's folder is there, but the default configuration loads hjertekom only: the entry app
    (no programme choice, no Program column), snapshots and reports of a HjerteKom municipality
    stay as they were (the app itself: test_entry_programmes.py, hjertekom_only)."""
    assert (CONTRACTS_DIR / "moeva" / "contract.yaml").is_file()
    config = load_config(environ={"HJERTEKOM_CONFIG": str(tmp_path / "none.toml"),
                                  "HJERTEKOM_DATA_DIR": str(tmp_path / "data")})
    assert config.programmes == ("hjertekom",)
    ws = open_workspace(config)
    try:
        assert ws.contracts.programmes == ["hjertekom"]
        with pytest.raises(UnknownProgramme) as refused:
            ws.contracts["moeva"]
        assert isinstance(refused.value, KeyError) and isinstance(refused.value, HjerteKomError)
        assert "HJERTEKOM_PROGRAMMES" in str(refused.value) and "hjertekom" in str(refused.value)
        with pytest.raises(ConfigError, match="moeva.*not among the programmes"):
            settings_from_config(config, programme="moeva")
    finally:
        ws.store.dispose()


def test_the_setting_names_the_programmes_from_the_file_or_the_environment(tmp_path: Path) -> None:
    none = str(tmp_path / "none.toml")
    for text in ("hjertekom,moeva", "hjertekom moeva", " hjertekom , moeva, moeva "):
        assert load_config(environ={"HJERTEKOM_CONFIG": none, "HJERTEKOM_PROGRAMMES": text}).programmes == BOTH
    file = tmp_path / "hjertekom.toml"
    file.write_text('[hjertekom]\nprogrammes = ["hjertekom", "moeva"]\n', encoding="utf-8")
    assert load_config(file, environ={}).programmes == BOTH
    file.write_text('[hjertekom]\nprogrammes = "moeva"\n', encoding="utf-8")
    assert load_config(file, environ={}).programmes == ("moeva",)
    assert load_config(file, environ={"HJERTEKOM_PROGRAMMES": "hjertekom"}).programmes == ("hjertekom",)
    for bad in (" , ", "../moeva"):
        with pytest.raises(ConfigError, match="programmes"):
            load_config(environ={"HJERTEKOM_CONFIG": none, "HJERTEKOM_PROGRAMMES": bad})


def test_enabling_moeva_loads_both(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    try:
        assert ws.contracts.programmes == ["hjertekom", "moeva"]
        assert ws.contracts["moeva"].label.da.startswith("MoEva")
    finally:
        ws.store.dispose()


def test_a_programme_without_a_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        open_workspace(Config(data_dir=tmp_path / "data", programmes=("hjertekom", "moeeva")))
    message = str(refused.value)
    assert "'moeeva'" in message and "HJERTEKOM_PROGRAMMES" in message
    assert "the programmes there are: hjertekom, moeva" in message


def test_the_server_hands_its_programmes_to_its_kernels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernel of `hjertekom serve` reads its configuration from the environment the server leaves
    (load_config() with no file of the server's): the programmes named in the server's file reach it."""
    from hjertekom_widgets.server import _absolute_environment

    monkeypatch.setattr(os, "environ", {"PATH": os.environ.get("PATH", "")})
    server = Config(data_dir=tmp_path / "data", programmes=BOTH)    # e.g. from the server's hjertekom.toml
    _absolute_environment(server)
    kernel = load_config(environ={**os.environ, "HJERTEKOM_CONFIG": str(tmp_path / "none.toml")})
    assert kernel.programmes == BOTH and kernel.contracts_dir == CONTRACTS_DIR.resolve()


# --- the contract ---------------------------------------------------------------------------------

def test_the_contract_holds_what_the_issue_asks() -> None:
    registry = ContractRegistry(CONTRACTS_DIR, programmes=BOTH)
    moeva = registry["moeva"]
    assert list(moeva.forms) == ["course", "start", "end"] and moeva.start_and_end() == ("start", "end")
    course = moeva.form("course")
    assert {"municipality", "enrolment_date", "offer_type", "organisation"} <= set(course.fields)
    assert "patient_education" in course.field("offer_type").codelist
    assert {"municipality", "hospital"} <= set(course.field("organisation").codelist.values)
    for name in ("start", "end"):
        form = moeva.form(name)
        assert [s.block for s in form.sections if s.block] == list(QUESTIONNAIRE_BLOCKS)
        assert {f.name for f in form.fields.values() if f.is_derived} == {
            "who5_score", "eq5d_index", "pss10_score", "loneliness_score"}
        assert [c.code for c in form.field("self_rated_health").codelist.codes][:5] == [
            "excellent", "very_good", "good", "fair", "poor"]
        assert sum(f.name.startswith("pss10_") and not f.is_derived for f in form.fields.values()) == 10
        assert sum(f.name.startswith("loneliness_") and not f.is_derived for f in form.fields.values()) == 3
    assert "offer_completed" in moeva.form("end").fields
    texts = [moeva.label, *(f.label for f in moeva.forms.values()),
             *(s.label for f in moeva.forms.values() for s in f.sections),
             *(fld.label for f in moeva.forms.values() for fld in f.fields.values())]
    assert all(t.da.strip() and t.en.strip() for t in texts)
    declared = load_registry_declarations(registry)
    assert [i.id for i in declared["moeva"].indicators] == ["M1", "M2"]
    guidance = load_guidance(CONTRACTS_DIR, "moeva")
    assert all(guidance.get(i, part, lang) for i in ("M1", "M2") for part in PARTS for lang in ("da", "en"))


# --- the pipeline ---------------------------------------------------------------------------------

def _questionnaire(day: str, who5: list[int], pss10: list[int], lonely: list[int], eq5d: list[int]) -> dict:
    data: dict = {"answer_date": day, "questionnaire_status": "completed", "self_rated_health": "good",
                  "eq5d_vas": 70}
    data.update({f"who5_{i}": v for i, v in enumerate(who5, start=1)})
    data.update({f"pss10_{i}": v for i, v in enumerate(pss10, start=1)})
    data.update({f"loneliness_{i}": v for i, v in enumerate(lonely, start=1)})
    data.update(dict(zip(("eq5d_mobility", "eq5d_selfcare", "eq5d_activities", "eq5d_pain", "eq5d_anxiety"), eq5d)))
    return data


def test_its_questionnaires_are_scored_and_counted(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    service = Service(ws.store, ws.contracts, SYSTEM)
    rng = random.Random(5)
    courses = []
    # Course A: WHO-5 40 -> 56 (+16, M2 met); course B: 60 -> 64 (+4, not met); course C: no last
    # questionnaire yet, 30 days after the first (M1: not in the denominator yet).
    plans = [([2] * 5, [3, 3, 3, 3, 2]), ([3] * 5, [3, 3, 3, 4, 3]), ([2] * 5, None)]
    today = _today()
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


def test_its_demo_data_read_plausibly(tmp_path: Path) -> None:
    """Dates in order, most courses with an answered last questionnaire, and on average better
    wellbeing, less stress and loneliness at the end (demo_moeva)."""
    ws = _workspace(tmp_path)
    summary = generate_demo(ws, 60, seed=2, programme="moeva")
    assert summary.courses == 60
    info = create_snapshot(ws.store, ws.contracts, tmp_path / "snapshots")
    with duckdb.connect(str(info.path), read_only=True) as con:
        finished = con.execute("""SELECT count(*) FROM moeva_start s JOIN moeva_end e USING (course_id)
                                  WHERE s.status = 'complete' AND e.status = 'complete'
                                    AND s.who5_score IS NOT NULL""").fetchone()[0]
        out_of_order = con.execute("""SELECT count(*) FROM moeva_course c JOIN moeva_start s USING (course_id)
                                      LEFT JOIN moeva_end e USING (course_id)
                                      WHERE s.answer_date < c.enrolment_date OR e.answer_date < s.answer_date""").fetchone()[0]
        started, answered_end = con.execute("""SELECT count(*), count(*) FILTER (WHERE e.questionnaire_status = 'completed')
                                               FROM moeva_start s LEFT JOIN moeva_end e USING (course_id)""").fetchone()
        who5, pss10, lonely = con.execute("""SELECT avg(e.who5_score - s.who5_score), avg(e.pss10_score - s.pss10_score),
                                                    avg(e.loneliness_score - s.loneliness_score)
                                             FROM moeva_start s JOIN moeva_end e USING (course_id)""").fetchone()
        df = compute(con, settings_from_config(ws.config, programme="moeva"), levels=["national"], period="year")
    ws.store.dispose()
    assert finished > 0 and out_of_order == 0
    assert answered_end > started / 2
    assert who5 > 3 and pss10 < 0 and lonely < 0
    assert int(df[df["indicator"] == "M2"]["denominator"].sum()) == finished
    m1, m2 = (df[df["indicator"] == i] for i in ("M1", "M2"))
    assert int(m1["denominator"].sum()) > 0 and (m1["numerator"] <= m1["denominator"]).all()
    assert 0 < int(m2["numerator"].sum()) < int(m2["denominator"].sum())


def test_the_command_line_runs_moeva_on_a_sqlite_workspace(tmp_path: Path) -> None:
    """`hjertekom init`, `demo --programme moeva`, `snapshot`, `indicators --programme moeva` and
    `report programme`, with HJERTEKOM_PROGRAMMES=hjertekom,moeva; without it moeva is refused."""
    command = str(Path(sys.executable).with_name("hjertekom"))
    base = {**os.environ, "HJERTEKOM_DATA_DIR": str(tmp_path / "var"), "HJERTEKOM_CONFIG": str(tmp_path / "none.toml")}
    for name in ("HJERTEKOM_DATABASE_URL", "HJERTEKOM_CONTRACTS_DIR", "HJERTEKOM_PROGRAMMES"):
        base.pop(name, None)
    env = {**base, "HJERTEKOM_PROGRAMMES": "hjertekom,moeva"}

    def run(*args: str, environ: dict[str, str] = env, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([command, *args], capture_output=True, text=True, env=environ, cwd=tmp_path, timeout=180)
        assert (done.returncode == 0) == ok, done.stderr
        return done

    assert "programmes: hjertekom, moeva" in run("init").stdout
    assert "30 forløb/courses" in run("demo", "--programme", "moeva", "--citizens", "30", "--no-users").stdout
    run("snapshot")
    snapshot = next((tmp_path / "var" / "snapshots").glob("*.duckdb"))
    out = run("indicators", "--snapshot", str(snapshot), "--programme", "moeva", "--by", "national",
              "--format", "csv").stdout
    assert {line.split(",")[0] for line in out.splitlines()[1:]} == {"M1", "M2"}
    year = str(_today().year)
    page = Path(run("report", "programme", "--programme", "moeva", "--municipality", "740", "--period", year,
                    "--snapshot", str(snapshot), "--out", str(tmp_path / "moeva.html")).stdout.strip())
    assert "M2 Bedre trivsel (WHO-5)" in page.read_text(encoding="utf-8")
    # The same workspace as a HjerteKom-only service: moeva is not run, and says how to run it.
    refused = run("indicators", "--snapshot", str(snapshot), "--programme", "moeva", environ=base, ok=False)
    assert "HJERTEKOM_PROGRAMMES" in refused.stderr and "Traceback" not in refused.stderr
    refused = run("demo", "--programme", "moeva", "--citizens", "1", "--no-users", environ=base, ok=False)
    assert "HJERTEKOM_PROGRAMMES" in refused.stderr and "unexpected" not in refused.stderr
    wrong = run("init", environ={**base, "HJERTEKOM_PROGRAMMES": "hjertekom,moeeva"}, ok=False)
    assert "'moeeva'" in wrong.stderr and "hjertekom, moeva" in wrong.stderr


def test_switched_off_its_courses_stay_in_the_store_unseen(tmp_path: Path) -> None:
    """A service that ran MoEva and runs hjertekom alone again: the MoEva course is neither in the
    worklist nor among the citizen's courses, reading it is "not found", and a snapshot is made
    without MoEva's tables; switched on again, it is all there."""
    from hjertekom_core.errors import NotFound

    ws = _workspace(tmp_path)
    service = Service(ws.store, ws.contracts, SYSTEM)
    citizen = service.create_citizen(generate_cpr(random.Random(8)), "Borger Slukket", AARHUS)
    enrolled = (_today() - dt.timedelta(days=20)).isoformat()
    opened = service.open_course(citizen.id, {"municipality": AARHUS, "enrolment_date": enrolled,
                                              "offer_type": "physical_training", "organisation": "hospital"},
                                 programme="moeva", complete=True)
    assert [i.course_id for i in service.worklist()] == [opened.course_id]
    ws.store.dispose()

    heart_only = open_workspace(Config(data_dir=tmp_path / "data", contracts_dir=CONTRACTS_DIR))
    try:
        service = Service(heart_only.store, heart_only.contracts, SYSTEM)
        assert service.worklist() == [] and service.courses_of(citizen.id) == []
        with pytest.raises(NotFound):
            service.get_course(opened.course_id)
        info = create_snapshot(heart_only.store, heart_only.contracts, tmp_path / "snapshots")
        with duckdb.connect(str(info.path), read_only=True) as con:
            tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        assert "hjertekom_course" in tables and not any(t.startswith("moeva_") for t in tables)
    finally:
        heart_only.store.dispose()
    again = _workspace(tmp_path)
    try:
        assert Service(again.store, again.contracts, SYSTEM).get_course(opened.course_id).programme == "moeva"
    finally:
        again.store.dispose()
