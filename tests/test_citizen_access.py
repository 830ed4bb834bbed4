"""The citizen's right of access (``hjertekom citizen export``): everything held about one citizen
(every revision of every form with who saved it and its scores, drafts, DHRD transfers, who looked
at the data), as JSON, HTML and PDF in a new private folder; nothing of anyone else; refusals and
the export audited, never with the CPR number or the name."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from pypdf import PdfReader
from sqlalchemy import insert

from factories import TEST_PASSWORD, course_data, end_data, start_data
from hjertekom_core import audit, scoring
from hjertekom_core.access import ROLE_PERMISSIONS, SYSTEM
from hjertekom_core.audit_report import collect
from hjertekom_core.bootstrap import open_workspace
from hjertekom_core.citizen_access import (
    EXPORT_ACTION,
    PERMISSION,
    ExportExists,
    UnknownCitizen,
    write_export,
)
from hjertekom_core.cli import main
from hjertekom_core.config import Config
from hjertekom_core.cpr import InvalidCpr, generate_cpr
from hjertekom_core.errors import AccessDenied, NotFound, ReportError
from hjertekom_core.service import Service
from hjertekom_core.store import Store
from hjertekom_core.store.schema import citizens, transfer_log
from hjertekom_core.users import add_user
from paths import CONTRACTS_DIR

FILES = ["indsigt.html", "indsigt.json", "indsigt.pdf", "manifest.json"]
REASON = "Vejet med tøj på; rettet efter samtale med borgeren"


def entries(store: Store, action: str) -> list[dict]:
    with store.read() as conn:
        return list(reversed(audit.entries(conn, action=action)))


@pytest.fixture
def world(store, make_user, contracts):  # type: ignore[no-untyped-def]
    """Else (Silkeborg): a finished course whose start was corrected (two revisions, a reason),
    ended by another clinician, read by Anne, an unsaved draft, a DHRD transfer of its month, and a
    second course in København; Ole (København): a course of his own that must never show."""
    admin = make_user("admin", "administrator", ())
    anne = make_user("anne", "clinician", (740,))
    dorte = make_user("dorte", "clinician", (740,))
    carl = make_user("carl", "clinician", (101,))
    rng = random.Random(15)
    cpr_else, cpr_ole = generate_cpr(rng), generate_cpr(rng)
    as_anne, as_dorte, as_carl = (Service(store, contracts, u) for u in (anne, dorte, carl))
    citizen = as_anne.create_citizen(cpr_else, "Else Eriksen", 740)
    course = as_anne.open_course(citizen.id, course_data(municipality=740), complete=True).course_id
    as_anne.save(course, "start", start_data(), 0, complete=True, confirm=True)
    as_anne.save(course, "start", start_data(weight_kg="86,9"), 1, complete=True, confirm=True, reason=REASON)
    as_dorte.save(course, "end", end_data(), 0, complete=True, confirm=True)
    as_anne.get_course(course)
    as_anne.form_history(course, "start")
    with pytest.raises(NotFound):
        as_carl.get_course(course)  # refused: Else's course is Silkeborg's; audited
    as_anne.autosave(course, "end", {"weight_kg": "84,2", "waist_cm": "99"}, 1)
    second = Service(store, contracts, admin).open_course(citizen.id, course_data(municipality=101)).course_id
    with store.write() as conn:
        for period in ("2025-04", "2025-05"):  # the end meeting (19 May 2025) falls in May
            conn.execute(insert(transfer_log).values(
                target="dhrd", period=period, created_at=audit.now(), user_id=admin.id, username="admin",
                export_contract_version="1.0.0", programme_contract_version="1.1.0", snapshot_name="s.duckdb",
                snapshot_hash="h", row_count=3, reject_count=0, data_sha256="ab" * 32, location="/outbox"))

    ole = as_carl.create_citizen(cpr_ole, "Ole Olsen", 101)
    ole_course = as_carl.open_course(ole.id, course_data(municipality=101), complete=True).course_id
    as_carl.save(ole_course, "start", start_data(weight_kg="120,5"), 0, complete=True, confirm=True)
    as_carl.get_course(ole_course)
    return {"admin": admin, "anne": anne, "carl": carl, "citizen": citizen.id, "course": course, "second": second,
            "cpr": cpr_else, "ole": ole.id, "ole_course": ole_course, "cpr_ole": cpr_ole}


def export(store, contracts, world, tmp_path: Path, actor=None):  # type: ignore[no-untyped-def]
    made = write_export(store, contracts, actor or world["admin"], world["cpr"], tmp_path / "out")
    return made, json.loads((made.folder / "indsigt.json").read_text(encoding="utf-8"))


def test_every_revision_of_every_form_is_there_with_its_scores_and_who_saved_it(store, contracts, world,
                                                                                 tmp_path) -> None:
    made, doc = export(store, contracts, world, tmp_path)
    assert doc["citizen"]["id"] == world["citizen"] and doc["citizen"]["name"] == "Else Eriksen"
    assert doc["citizen"]["cpr"] == world["cpr"] and doc["scope"]["complete"]
    assert [c["id"] for c in doc["courses"]] == [world["course"], world["second"]]  # both municipalities
    assert [c["municipality_name"] for c in doc["courses"]] == ["Silkeborg", "København"]
    forms = {f["form"]: f for f in doc["courses"][0]["forms"]}
    assert list(forms) == ["course", "start", "end"]
    assert [f["label"] for f in forms.values()] == ["Forløb", "Afklarende samtale", "Afslutning"]

    first, corrected = forms["start"]["revisions"]
    assert (first["revision"], corrected["revision"]) == (1, 2)
    assert first["data"]["weight_kg"] == 88.4 and corrected["data"]["weight_kg"] == 86.9
    assert first["saved_by"]["name"] == "Anne" and first["saved_by"]["role_label"] == "Kliniker"
    assert first["reason"] is None and corrected["reason"] == REASON
    assert forms["end"]["revisions"][0]["saved_by"]["name"] == "Dorte"
    assert dt.datetime.fromisoformat(first["saved_at"]) <= dt.datetime.fromisoformat(corrected["saved_at"])
    weight = [c for c in corrected["changes"] if c["field"] == "weight_kg"]
    assert weight == [{"field": "weight_kg", "label": "Vægt", "old": 88.4, "new": 86.9, "old_text": "88,4 kg",
                       "new_text": "86,9 kg"}]
    hads_1 = next(f for f in first["fields"] if f["field"] == "hads_01")
    assert (hads_1["label"], hads_1["value"], hads_1["text"]) == ("HADS 1 – angst", 2, "2 – en hel del")

    # The derived scores, as scoring.py computes them from the items saved.
    start = start_data()
    hads = scoring.hads([start[f"hads_{i:02d}"] for i in range(1, 15)])
    expected = {"hads_anxiety": hads.anxiety, "hads_depression": hads.depression,
                "who5_score": scoring.who5([start[f"who5_{i}"] for i in range(1, 6)]),
                "eq5d_index": scoring.eq5d5l_index_dk([1, 2, 3, 4, 5]),
                "heartqol_global": scoring.heartqol([start[f"heartqol_{i:02d}"] for i in range(1, 15)]).global_score}
    for revision in (first, corrected):
        scores = {s["field"]: s["value"] for s in revision["scores"]}
        assert {k: scores[k] for k in expected} == expected
        assert "bmi" in scores
    assert next(s for s in first["scores"] if s["field"] == "hads_anxiety")["label"] == "HADS angstscore (0-21)"
    end_scores = {s["field"] for s in forms["end"]["revisions"][0]["scores"]}
    assert {"fitness_change_pct", "who5_score", "hads_depression"} <= end_scores

    [draft] = doc["courses"][0]["drafts"]
    assert (draft["form"], draft["saved_by"]["name"], draft["data"]) == ("end", "Anne",
                                                                         {"weight_kg": "84,2", "waist_cm": "99"})
    [sent] = doc["courses"][0]["transfers"]
    assert (sent["period"], sent["sent"], sent["target"]) == ("2025-05", True, "dhrd")
    assert doc["courses"][1]["transfers"] == [] and doc["counts"]["revisions"] == 5


def test_who_looked_at_the_data_is_listed_by_name_role_and_what_in_danish(store, contracts, world, tmp_path) -> None:
    made, doc = export(store, contracts, world, tmp_path)
    log = doc["access_log"]
    seen = [(a["who"]["name"], a["who"]["role_label"], a["text"], a["course_id"]) for a in log]
    course = world["course"]
    assert ("Anne", "Kliniker", "registrerede dig i HjerteKom", None) in seen
    assert ("Anne", "Kliniker", "så forløbet", course) in seen
    assert ("Anne", "Kliniker", "så ændringshistorikken for skemaet »Afklarende samtale«", course) in seen
    assert ("Anne", "Kliniker", "gemte skemaet »Afklarende samtale« som færdigt med en begrundelse for rettelsen",
            course) in seen
    assert ("Dorte", "Kliniker", "gemte skemaet »Afslutning« som færdigt", course) in seen
    assert ("Carl", "Kliniker", "forsøgte at se eller ændre oplysningerne, men fik ikke adgang", course) in seen
    assert [a["at"] for a in log] == sorted(a["at"] for a in log)
    page = (made.folder / "indsigt.html").read_text(encoding="utf-8")
    assert "Hvem har set eller ændret dine oplysninger" in page
    assert "<td>Anne</td><td>Kliniker</td><td>så forløbet</td>" in page


def test_another_citizens_data_never_appears(store, contracts, world, tmp_path) -> None:
    made, doc = export(store, contracts, world, tmp_path)
    texts = [(made.folder / n).read_text(encoding="utf-8") for n in ("indsigt.json", "indsigt.html")]
    texts.append(" ".join(p.extract_text() for p in PdfReader(made.folder / "indsigt.pdf").pages))
    for text in texts:
        assert world["cpr_ole"] not in text and f"{world['cpr_ole'][:6]}-{world['cpr_ole'][6:]}" not in text
        assert "Ole Olsen" not in text and "120,5" not in text and "120.5" not in text
    assert {c["id"] for c in doc["courses"]} == {world["course"], world["second"]}
    about = {(a["entity"], a["entity_id"]) for a in doc["access_log"]}
    assert about <= {("citizen", str(world["citizen"]))} | {("course", str(c)) for c in (world["course"],
                                                                                      world["second"])}
    assert ("citizen", str(world["ole"])) not in about and ("course", str(world["ole_course"])) not in about


def test_the_folder_is_owner_only_complete_and_checksummed(store, contracts, world, tmp_path) -> None:
    made, doc = export(store, contracts, world, tmp_path)
    assert made.folder.parent == tmp_path / "out" and made.folder.name.startswith("indsigt-")
    assert world["cpr"] not in made.folder.name
    assert stat.S_IMODE(made.folder.stat().st_mode) == 0o700
    assert sorted(p.name for p in made.folder.iterdir()) == FILES
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in made.folder.iterdir())
    assert [p.name for p in (tmp_path / "out").iterdir()] == [made.folder.name], "no temporary left behind"
    manifest = json.loads((made.folder / "manifest.json").read_text(encoding="utf-8"))
    assert sorted(manifest["files"]) == ["indsigt.html", "indsigt.json", "indsigt.pdf"]
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((made.folder / name).read_bytes()).hexdigest() == digest


def test_the_export_is_audited_without_cpr_or_name_and_reaches_the_yearly_report(store, contracts, world,
                                                                                   tmp_path) -> None:
    made, _doc = export(store, contracts, world, tmp_path)
    [entry] = entries(store, EXPORT_ACTION)
    detail = json.loads(entry["detail"])
    assert (entry["username"], entry["entity"], entry["entity_id"]) == ("admin", "citizen", str(world["citizen"]))
    assert detail["courses"] == 2 and detail["file"] == made.folder.name
    digest = hashlib.sha256((made.folder / "indsigt.json").read_bytes()).hexdigest()
    assert detail["sha256"].replace(":", "") == digest
    written = json.dumps(entry, default=str)
    assert world["cpr"] not in written and world["cpr"][:6] not in written and "Else" not in written

    [row] = [r for r in {s.key: s for s in collect(store, audit.now().year)}["udleveringer"].rows
             if r[1] == EXPORT_ACTION]
    assert row[2] == "admin" and row[3].startswith("borgeren selv") and row[7] == f"sha256:{digest}"


def test_the_page_is_danish_and_readable_and_the_pdf_says_the_same(store, contracts, world, tmp_path) -> None:
    made, _doc = export(store, contracts, world, tmp_path)
    page = (made.folder / "indsigt.html").read_text(encoding="utf-8")
    assert page.startswith('<!DOCTYPE html><html lang="da">')
    for text in ("<h1>Dine oplysninger i HjerteKom</h1>", "<b>Else Eriksen</b>", "<h2>Om dig</h2>",
                 "Forløb 1: HjerteKom – kommunal hjerterehabilitering, Silkeborg", "Forløb 2:",
                 "<h3>Afklarende samtale</h3>", "<h3>Afslutning</h3>", "Beregnede resultater", "HADS angstscore",
                 "Alle versioner af skemaet", "Vægt: 88,4 kg → 86,9 kg", "Indtastninger, der ikke er gemt endnu",
                 "Sendt til landsdækkende kvalitetsdatabase", "Datatilsynet"):
        assert text in page, text
    assert "Vejet med tøj på; rettet efter samtale med borgeren" in page
    assert "<script" not in page.lower()
    pdf = PdfReader(made.folder / "indsigt.pdf")
    text = " ".join(p.extract_text() for p in pdf.pages)
    for words in ("Dine oplysninger i HjerteKom", "Else Eriksen", "Afklarende samtale", "Hvem har set eller ændret",
                  "så forløbet", "HADS angstscore"):
        assert words in text, words
    assert len(pdf.pages) >= 3


def test_a_restricted_citizen_gets_everything_and_is_told_of_the_restriction(store, contracts, world,
                                                                            tmp_path) -> None:
    """Restriction (art. 18) stops processing, not the citizen's access: every column of the
    citizen's row is in the export, the restriction said in plain words."""
    with store.write() as conn:
        conn.execute(citizens.update().where(citizens.c.id == world["citizen"]).values(
            restricted_at=audit.now(), restricted_by=world["admin"].id, restriction_reason="Borgeren bestrider data"))
    made, doc = export(store, contracts, world, tmp_path)
    assert doc["restricted"] is True and doc["citizen"]["restriction_reason"] == "Borgeren bestrider data"
    shown = {r["column"]: r["text"] for r in doc["citizen_readable"]}
    assert shown["restricted_by"] == "Admin" and shown["restriction_reason"] == "Borgeren bestrider data"
    assert "anonymised_at" in doc["citizen"] and "anonymised_at" not in shown  # held, but empty: not on the page
    page = (made.folder / "indsigt.html").read_text(encoding="utf-8")
    assert "Behandlingen af dine oplysninger er begrænset" in page and "Begrænset af" in page
    assert len(doc["courses"]) == 2


def test_an_unknown_or_invalid_cpr_number_says_so_and_writes_nothing(store, contracts, world, tmp_path) -> None:
    unknown = generate_cpr(random.Random(999))
    with pytest.raises(UnknownCitizen, match="ingen borger med dette CPR-nummer") as refused:
        write_export(store, contracts, world["admin"], unknown, tmp_path / "out")
    assert unknown not in str(refused.value)
    with pytest.raises(InvalidCpr, match="10 cifre"):
        write_export(store, contracts, world["admin"], "12345", tmp_path / "out")
    assert not (tmp_path / "out").exists() and entries(store, EXPORT_ACTION) == []


def test_an_existing_export_is_never_overwritten(store, contracts, world, tmp_path) -> None:
    made, _doc = export(store, contracts, world, tmp_path)
    before = {p.name: p.read_bytes() for p in made.folder.iterdir()}
    with pytest.raises(ExportExists, match="overskrives ikke"):
        export(store, contracts, world, tmp_path)
    assert {p.name: p.read_bytes() for p in made.folder.iterdir()} == before
    assert [p.name for p in (tmp_path / "out").iterdir()] == [made.folder.name]
    assert len(entries(store, EXPORT_ACTION)) == 1


def test_without_chromium_the_export_fails_clearly_and_writes_nothing(store, contracts, world, tmp_path) -> None:
    with pytest.raises(ReportError, match="chromium not found"):
        write_export(store, contracts, world["admin"], world["cpr"], tmp_path / "out",
                     chromium=tmp_path / "no-chromium")
    assert not (tmp_path / "out").exists() and entries(store, EXPORT_ACTION) == []


def test_a_role_without_the_permission_is_refused_audited_and_nothing_written(store, contracts, world,
                                                                             make_user, tmp_path) -> None:
    coordinator = make_user("bo", "coordinator", (740,))
    for actor in (world["anne"], coordinator):
        with pytest.raises(AccessDenied):
            write_export(store, contracts, actor, world["cpr"], tmp_path / "out")
    refused = [e for e in entries(store, audit.DENIED) if json.loads(e["detail"])["attempted"] == PERMISSION]
    assert [e["username"] for e in refused] == ["anne", "bo"]
    assert all(world["cpr"] not in json.dumps(e, default=str) for e in refused)
    assert not (tmp_path / "out").exists() and entries(store, EXPORT_ACTION) == []


def test_a_user_limited_to_municipalities_gets_only_theirs(store, contracts, world, make_user, tmp_path,
                                                          monkeypatch) -> None:
    """Only administrators export today; were the right given to a coordinator, their municipalities
    would bound it: their courses only, said to be partial, and nothing of a citizen elsewhere."""
    monkeypatch.setitem(ROLE_PERMISSIONS, "coordinator", ROLE_PERMISSIONS["coordinator"] | {PERMISSION})
    silkeborg, kobenhavn = make_user("bo", "coordinator", (740,)), make_user("kaj", "coordinator", (101,))
    made = write_export(store, contracts, silkeborg, world["cpr"], tmp_path / "bo")
    doc = json.loads((made.folder / "indsigt.json").read_text(encoding="utf-8"))
    assert [c["id"] for c in doc["courses"]] == [world["course"]]
    assert doc["scope"] == {"complete": False, "municipalities": [740]}
    assert str(world["second"]) not in {a["entity_id"] for a in doc["access_log"] if a["entity"] == "course"}
    assert "Denne kopi viser kun forløb i kommunerne 740" in (made.folder / "indsigt.html").read_text("utf-8")
    with pytest.raises(UnknownCitizen):  # Else is Silkeborg's citizen, though one course is København's
        write_export(store, contracts, kobenhavn, world["cpr"], tmp_path / "kaj")
    assert not (tmp_path / "kaj").exists()
    assert entries(store, audit.DENIED)[-1]["username"] == "kaj"


# --- the command line -----------------------------------------------------------------------------------

def test_the_command_line_asks_for_the_cpr_number_and_refuses_what_it_must(tmp_path: Path,
                                                                          cli_env: dict[str, str | None]) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["init"], env=cli_env).exit_code == 0
    ws = open_workspace(Config(data_dir=tmp_path / "data", contracts_dir=CONTRACTS_DIR))
    try:
        add_user(ws.store, SYSTEM, "admin", "Ada Admin", "administrator", TEST_PASSWORD, ())
        add_user(ws.store, SYSTEM, "anne", "Anne", "clinician", TEST_PASSWORD, (740,))
        cpr = generate_cpr(random.Random(4))
        citizen = Service(ws.store, ws.contracts, SYSTEM).create_citizen(cpr, "Else Eriksen", 740)
        Service(ws.store, ws.contracts, SYSTEM).open_course(citizen.id, course_data(), complete=True)
    finally:
        ws.store.dispose()
    out = tmp_path / "indsigt"
    as_admin = {**cli_env, "HJERTEKOM_USER": "admin", "HJERTEKOM_PASSWORD": TEST_PASSWORD}
    done = runner.invoke(main, ["citizen", "export", "--out", str(out)], env=as_admin, input=f"{cpr}\n")
    assert done.exit_code == 0, done.output
    [folder] = list(out.iterdir())
    assert str(folder) in done.stdout and "1 forløb" in done.stdout and cpr not in done.stdout
    assert sorted(p.name for p in folder.iterdir()) == FILES

    again = runner.invoke(main, ["citizen", "export", "--cpr", cpr, "--out", str(out)], env=cli_env)
    assert again.exit_code == 1 and "overskrives ikke" in again.stderr
    unknown = runner.invoke(main, ["citizen", "export", "--out", str(tmp_path / "x")], env=cli_env,
                            input=f"{generate_cpr(random.Random(5))}\n")
    assert unknown.exit_code == 1 and "ingen borger med dette CPR-nummer" in unknown.stderr
    refused = runner.invoke(main, ["citizen", "export", "--cpr", cpr, "--out", str(tmp_path / "y")],
                            env={**cli_env, "HJERTEKOM_USER": "anne", "HJERTEKOM_PASSWORD": TEST_PASSWORD})
    assert refused.exit_code == 1 and "access denied: citizen.access_export" in refused.stderr
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
    assert cpr not in (tmp_path / "data" / "hjertekom.log").read_text(encoding="utf-8")

    store = Store(f"sqlite:///{tmp_path / 'data' / 'hjertekom.sqlite'}")
    try:
        [entry] = entries(store, EXPORT_ACTION)
        assert entry["username"] == "admin" and entry["entity_id"] == str(citizen.id)
    finally:
        store.dispose()
