"""The audit log for administrators and for the external auditor: searching it (filters, a CPR
number looked up but never shown or logged, CSV export, every search audited) and the yearly
evidence pack (PDF and CSV per control, 0600 files in a 0700 folder)."""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import random
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import insert, select

from factories import course_data
from hjertekom_core import __version__, audit
from hjertekom_core.indicators.counting import DANISH_TIME
from hjertekom_core.access import SYSTEM
from hjertekom_core.audit_report import (
    _users_at_year_end,
    collect,
    record_software_start,
    unusual_days,
    write_report,
)
from hjertekom_core.audit_search import BadFilter, citizen_id_for_cpr, export_rows, parse_filter, search
from hjertekom_core.cpr import generate_cpr
from hjertekom_core.errors import AccessDenied, AuthenticationFailed
from hjertekom_core.service import Service
from hjertekom_core.store import Store
from hjertekom_core.store.schema import audit_log, transfer_log
from hjertekom_core.users import authenticate, deactivate_user, set_role

from factories import TEST_PASSWORD

HJERTEKOM = str(Path(sys.executable).with_name("hjertekom"))
YEAR = audit.now().year


def actions(store: Store, action: str) -> list[dict]:
    with store.read() as conn:
        return list(reversed(audit.entries(conn, action=action)))


@pytest.fixture
def world(store, make_user, contracts):  # type: ignore[no-untyped-def]
    """An administrator, two clinicians (Silkeborg, København), a citizen each, reads and logins."""
    admin = make_user("admin", "administrator", ())
    anne = make_user("anne", "clinician", (740,))
    carl = make_user("carl", "clinician", (101,))
    rng = random.Random(7)
    cpr_anne, cpr_carl = generate_cpr(rng), generate_cpr(rng)
    citizen = Service(store, contracts, anne).create_citizen(cpr_anne, "Else Eriksen", 740)
    course = Service(store, contracts, anne).open_course(citizen.id, course_data(municipality=740)).course_id
    other = Service(store, contracts, carl).create_citizen(cpr_carl, "Ole Olsen", 101)
    Service(store, contracts, anne).get_course(course)
    Service(store, contracts, carl).get_citizen(other.id)
    with pytest.raises(Exception):  # noqa: B017, PT011 - anne may not read København's citizen
        Service(store, contracts, anne).get_citizen(other.id)
    return {"admin": admin, "anne": anne, "carl": carl, "citizen": citizen.id, "course": course,
            "other": other.id, "cpr": cpr_anne}


# --- searching ------------------------------------------------------------------------------------------

def test_the_audit_log_is_searched_by_citizen_action_user_and_period_and_each_search_is_audited(store, world) -> None:
    admin = world["admin"]
    page = search(store, admin, parse_filter({"citizen": str(world["citizen"])}))
    assert {(r["entity"], r["entity_id"]) for r in page.rows} == {("citizen", str(world["citizen"])),
                                                                  ("course", str(world["course"]))}
    assert {"citizen.create", "course.create", "course.read"} <= {r["action"] for r in page.rows}
    assert actions(store, "audit.read")[-1]["detail"] == json.dumps({"citizen_id": world["citizen"], "hits": page.total,
                                                                     "page": 1}, sort_keys=True)

    denied = search(store, admin, parse_filter({"action": "access"}))  # a family: access.denied
    assert denied.total >= 1 and {r["action"] for r in denied.rows} == {"access.denied"}
    carl = search(store, admin, parse_filter({"user": "carl", "municipality": "101"}))
    assert carl.rows and {r["username"] for r in carl.rows} == {"carl"}
    # The filter's dates are Danish dates (between 23:00 and 00:00 UTC the Danish date is tomorrow's).
    today = dt.datetime.now(DANISH_TIME).date().strftime("%d-%m-%Y")
    assert search(store, admin, parse_filter({"from": today, "to": today, "user": "anne"})).total >= 3
    assert search(store, admin, parse_filter({"to": "01-01-2000"})).total == 0

    paged = search(store, admin, parse_filter({}), per_page=2, page=2)
    assert paged.page == 2 and len(paged.rows) == 2 and paged.pages >= 3
    with pytest.raises(BadFilter, match="skal være en dato"):
        parse_filter({"from": "i går"})


def test_a_cpr_number_finds_the_citizen_but_goes_nowhere(store, world) -> None:
    assert citizen_id_for_cpr(store, world["cpr"]) == world["citizen"]
    assert citizen_id_for_cpr(store, generate_cpr(random.Random(99))) is None
    search(store, world["admin"], parse_filter({"citizen": str(world["citizen"])}), detail={"by_cpr": True})
    with store.read() as conn:
        every = " ".join(f"{e['entity_id']} {e['detail']}" for e in audit.entries(conn))
    assert world["cpr"] not in every and world["cpr"][:6] not in every


def test_only_administrators_read_the_audit_log_and_a_refusal_is_audited(store, world) -> None:
    for who in ("anne",):
        with pytest.raises(AccessDenied):
            search(store, world[who], parse_filter({}))
        with pytest.raises(AccessDenied):
            export_rows(store, world[who], parse_filter({}))
    refused = [json.loads(e["detail"]) for e in actions(store, audit.DENIED) if e["username"] == "anne"]
    assert [r["attempted"] for r in refused][-2:] == ["audit.read", "audit.read"]
    assert actions(store, "audit.read") == [] and actions(store, "audit.export") == []


def test_the_export_has_every_match_quoted_for_spreadsheets_and_is_audited(store, world) -> None:
    with store.write() as conn:
        audit.record(conn, SYSTEM, "=HYPERLINK", "x", "=1+1")
    rows = export_rows(store, world["admin"], parse_filter({"user": "system"}))
    assert rows[0][:5] == ["id", "at", "user_id", "username", "action"]
    assert any(r[4] == "'=HYPERLINK" and r[6] == "'=1+1" for r in rows[1:])
    assert json.loads(actions(store, "audit.export")[-1]["detail"])["rows"] == len(rows) - 1


# --- the yearly report ----------------------------------------------------------------------------------

def test_users_and_rights_at_the_years_end_are_rebuilt_from_later_changes(store, world, make_user) -> None:
    admin = world["admin"]
    with store.read() as conn:  # the changes below happen "after the year's end"
        end = conn.execute(select(audit_log.c.at).order_by(audit_log.c.id.desc())).scalars().first()
    end = (end if end.tzinfo else end.replace(tzinfo=dt.timezone.utc)) + dt.timedelta(microseconds=1)
    import time

    time.sleep(0.01)
    set_role(store, admin, "anne", "coordinator")
    deactivate_user(store, admin, "carl")
    make_user("nyansat")
    with store.read() as conn:
        then = {r[1]: r for r in _users_at_year_end(conn, end).rows}
        now = {r[1]: r for r in _users_at_year_end(conn, audit.now() + dt.timedelta(days=1)).rows}
    assert then["anne"][2] == "clinician" and then["carl"][4] == "ja" and "nyansat" not in then
    assert now["anne"][2] == "coordinator" and now["carl"][4] == "nej" and "nyansat" in now


def test_unusual_reading_is_flagged_by_the_documented_rule() -> None:
    days = [dt.date(2025, 3, d) for d in range(1, 29)]
    usual = {day: 10 for day in days}
    flagged = unusual_days({"anne": {**usual, days[5]: 31, days[6]: 29}, "bo": {days[0]: 3, days[1]: 15}})
    assert [(u, d, n) for u, d, n, _m, _why in flagged] == [("anne", days[5], 31)]  # 29 is not > 3 x 10
    assert "3 x egen median" in flagged[0][4]


def test_the_evidence_pack_has_every_section_as_pdf_and_csv_private_and_checksummed(store, world, tmp_path) -> None:
    admin = world["admin"]
    for _ in range(2):
        with pytest.raises(AuthenticationFailed):
            authenticate(store, "anne", "forkert-adgangskode", max_failures=2)
    with pytest.raises(AuthenticationFailed):
        authenticate(store, "anne", TEST_PASSWORD, max_failures=2)  # locked
    authenticate(store, "carl", TEST_PASSWORD)
    set_role(store, admin, "anne", "coordinator")
    record_software_start(store, "serve")
    with store.write() as conn:
        transfer_id = conn.execute(insert(transfer_log).values(
            target="dhrd", period=f"{YEAR}-01", created_at=audit.now(), user_id=admin.id, username="admin",
            export_contract_version="1", programme_contract_version="1", snapshot_name="s.duckdb",
            snapshot_hash="h", row_count=12, reject_count=0, data_sha256="ab" * 32, location="/outbox/dhrd")
            .returning(transfer_log.c.id)).scalar_one()
        audit.record(conn, admin, "dhrd.export", "transfer", transfer_id, None, {"rows": 12})

    sections = {s.key: s for s in collect(store, YEAR)}
    assert sections["sletning_begraensning_opbevaring"].summary == ["ingen"]
    with store.write() as conn:
        audit.record(conn, admin, "citizen.erase", "citizen", world["other"], 101, {"reason": "art. 17"})
        audit.record(conn, admin, "retention.run", "store", None, None, {"erased": 0})

    made = write_report(store, admin, YEAR, tmp_path / "revision")
    assert stat.S_IMODE(made.folder.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in made.files)
    manifest = json.loads((made.folder / "manifest.json").read_text())
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((made.folder / name).read_bytes()).hexdigest() == digest

    def table(key: str) -> list[dict[str, str]]:
        text = (made.folder / f"{key}.csv").read_text(encoding="utf-8-sig")
        return list(csv.DictReader(io.StringIO(text), delimiter=";"))

    logins = {r["brugernavn"]: r for r in table("logins")}
    assert logins["anne"]["mislykkede"] == "2" and int(logins["anne"]["spaerringer"]) >= 2
    assert logins["carl"]["login"] == "1"
    assert any(r["handling"] == "login.locked" for r in table("login_fejl_og_spaerringer"))
    changes = table("brugeraendringer")
    assert any(r["handling"] == "user.change" and r["felt"] == "role" and r["foer"] == '"clinician"'
               and r["efter"] == '"coordinator"' and r["aendret_af"] == "admin" for r in changes)
    reads = {r["brugernavn"]: r for r in table("opslag_pr_bruger")}
    assert int(reads["anne"]["opslag_i_alt"]) >= 1 and int(reads["carl"]["opslag_i_alt"]) >= 1
    [dhrd] = [r for r in table("udleveringer") if r["handling"] == "dhrd.export"]
    assert dhrd["kontrolsum"] == "sha256:" + "ab" * 32 and dhrd["modtager"].startswith("DHRD")
    assert {r["handling"] for r in table("sletning_begraensning_opbevaring")} == {"citizen.erase", "retention.run"}
    assert any(r["forsoegt"] == "citizen.read" and r["bruger"] == "anne" for r in table("afviste_adgange"))
    migrations = {r["revision"]: r for r in table("skemamigreringer")}
    assert migrations["0008"]["anvendt"] == "ja" and migrations["0001"]["dato"]
    assert any(r["version"] == __version__ and "serve" in r["kommandoer"] for r in table("softwareversioner"))

    text = " ".join(page.extract_text() for page in PdfReader(made.folder / f"revision-{YEAR}.pdf").pages)
    for heading in ("Brugere og rettigheder", "Afviste adgange", "Kontrol / control", "Databaseskema og migreringer",
                    "Sletning, begrænsning"):
        assert heading.lower() in text.lower()
    every = " ".join(p.read_text(encoding="utf-8-sig", errors="replace") for p in made.files if p.suffix == ".csv")
    assert world["cpr"] not in every and "Else Eriksen" not in every
    assert json.loads(actions(store, "audit.report")[-1]["detail"])["year"] == YEAR


# --- the command line -----------------------------------------------------------------------------------

@pytest.mark.slow
def test_the_command_line_records_its_version_searches_by_cpr_and_writes_the_report(tmp_path: Path) -> None:
    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HJERTEKOM_")}
        env.update({"HJERTEKOM_DATA_DIR": str(tmp_path / "var"), "HJERTEKOM_NEW_PASSWORD": TEST_PASSWORD})
        done = subprocess.run([HJERTEKOM, *args], capture_output=True, text=True, env=env, cwd=tmp_path,
                              timeout=180, input=stdin)
        assert done.returncode == 0, done.stderr
        return done

    run("init")
    run("demo", "--citizens", "5", "--seed", "3", "--no-users")
    store = Store(f"sqlite:///{tmp_path / 'var' / 'hjertekom.sqlite'}")
    try:
        with store.read() as conn:
            cpr = conn.execute(select(audit_log.c.id)).first() and conn.exec_driver_sql(
                "SELECT cpr FROM citizens LIMIT 1").scalar_one()
        found = run("audit", "search", "--cpr", stdin=f"{cpr}\n").stdout
        assert "entries" in found and cpr not in found
        assert run("audit", "search", "--action", "software").stdout.count("software.start") >= 3
        report = run("audit", "report", "--year", str(YEAR), "--out", str(tmp_path / "rev")).stdout
        assert "softwareversioner: 1 row(s)" in report
        with store.read() as conn:
            every = " ".join(f"{e['entity_id']} {e['detail']}" for e in audit.entries(conn, limit=10_000))
            starts = [json.loads(e["detail"]) for e in audit.entries(conn, action="software.start")]
        assert cpr not in every
        with store.read() as conn:
            looked_up = json.loads(audit.entries(conn, action="audit.read")[-1]["detail"])  # the first search
        assert looked_up["by_cpr"] and looked_up["found"] and looked_up["citizen_id"] >= 1
        assert {"version": __version__, "command": "audit report"} in starts
        assert cpr not in (tmp_path / "var" / "hjertekom.log").read_text(encoding="utf-8")
    finally:
        store.dispose()


def test_a_checksum_with_ten_digits_in_a_row_can_still_be_audited(store) -> None:
    from hjertekom_core.audit_report import audit_safe_hex

    digest = "ab1234567890cd" + "e" * 50  # one SHA-256 hex digest in about twelve has such a run
    with store.write() as conn:
        with pytest.raises(ValueError, match="CPR-shaped"):
            audit.record(conn, SYSTEM, "store.backup", "store", None, None, {"sha256": digest})
    with store.write() as conn:
        audit.record(conn, SYSTEM, "store.backup", "store", None, None, {"sha256": audit_safe_hex(digest)})
    assert audit_safe_hex(digest).replace(":", "") == digest
