"""Programme reports on the "Rapporter" page (issue 19, docs/security.md M23): a file of
``<reports_dir>/<programme>/<period>/`` is served only to a user with ``report.read`` who acts in
that programme in the file's municipality, only for a loaded programme, and only by its exact name.
Path tricks, another programme's file, another municipality's file and a folder that is not a loaded
programme all get the same "not found", each refusal audited once (never a CPR-shaped name).

Run against the page's own functions (widgets/reports_api.find_report), which the file handler calls
with the decoded path of ``/hjertekom/rapporter/<first>/<rest>``; the browser side (the real HTTP
route) is tests/browser/test_entry_programmes_browser.py.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hjertekom_core import audit
from hjertekom_core.access import SYSTEM, User
from hjertekom_core.bootstrap import Workspace, initialise, open_workspace
from hjertekom_core.config import Config
from hjertekom_core.cpr import CPR_PATTERN
from hjertekom_core.errors import AccessDenied, NotFound
from hjertekom_core.users import add_user
from hjertekom_widgets.reports_api import find_report

from factories import TEST_PASSWORD
from invented_programme_files import BOTH, PROGRAMME, contracts_with_invented

SILKEBORG = 740
SECRET = "hemmelig"


@dataclass
class World:
    ws: Workspace
    root: Path
    fald: User      # coordinator, Silkeborg, faldforebyggelse only
    hjerte: User    # coordinator, Silkeborg, hjertekom only
    clinician: User

    def denials(self) -> list[dict]:
        with self.ws.store.read() as conn:
            return list(reversed(audit.entries(conn, action=audit.DENIED)))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    ws = open_workspace(Config(data_dir=tmp_path / "data", contracts_dir=contracts_with_invented(tmp_path),
                               reports_dir=tmp_path / "reports", programmes=BOTH))
    initialise(ws)
    for relative in (f"{PROGRAMME}/2025/740-silkeborg.pdf", f"{PROGRAMME}/2025/101-koebenhavn.pdf",
                     "hjertekom/2025/740-silkeborg.pdf", "2025/740-silkeborg.pdf", "moeva/2025/740-silkeborg.pdf"):
        path = tmp_path / "reports" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{SECRET} {relative}")
    (tmp_path / "data" / "secret.txt").write_text(SECRET)
    made = World(
        ws, tmp_path,
        add_user(ws.store, SYSTEM, "fald", "Fald", "coordinator", TEST_PASSWORD, (SILKEBORG,), [PROGRAMME]),
        add_user(ws.store, SYSTEM, "hjerte", "Hjerte", "coordinator", TEST_PASSWORD, (SILKEBORG,), ["hjertekom"]),
        add_user(ws.store, SYSTEM, "klinik", "Klinik", "clinician", TEST_PASSWORD, (SILKEBORG,), [PROGRAMME]))
    yield made
    ws.store.dispose()


TRICKS = [
    (PROGRAMME, "2025/../2025/101-koebenhavn.pdf"),
    (PROGRAMME, "../2025/740-silkeborg.pdf"),
    (PROGRAMME, "2025/../../data/secret.txt"),
    (PROGRAMME, "2025/740-silkeborg.pdf/../101-koebenhavn.pdf"),
    (PROGRAMME, "2025"),
    (PROGRAMME, "2025/"),
    (PROGRAMME, "2025/740-silkeborg.PDF"),
    (PROGRAMME, "1999/740-silkeborg.pdf"),
    (PROGRAMME, "2025/0740-silkeborg.pdf"),
    (PROGRAMME, "/etc/passwd"),
    ("..", f"{PROGRAMME}/2025/740-silkeborg.pdf"),
    ("../reports", f"{PROGRAMME}/2025/740-silkeborg.pdf"),
    (f"{PROGRAMME}/2025", "740-silkeborg.pdf"),
    ("Faldforebyggelse", "2025/740-silkeborg.pdf"),
    ("moeva", "2025/740-silkeborg.pdf"),            # a folder there and a contract, but not a programme run here
    ("data", "secret.txt"),
    (PROGRAMME, "2025/010190-1234.pdf"),             # CPR-shaped: refused, and never written to the audit
]


@pytest.mark.parametrize(("first", "rest"), TRICKS)
def test_path_tricks_and_unknown_programmes_are_not_found_and_audited(world: World, first: str, rest: str) -> None:
    with pytest.raises((NotFound, AccessDenied)):
        find_report(world.ws, world.fald, first, rest)
    (row,) = world.denials()
    text = json.dumps({k: str(v) for k, v in row.items()})
    assert row["username"] == "fald" and not CPR_PATTERN.search(text)
    assert "moeva" not in text and ".." not in text


def test_another_programmes_report_is_refused_in_the_users_own_municipality(world: World) -> None:
    with pytest.raises(AccessDenied):
        find_report(world.ws, world.hjerte, PROGRAMME, "2025/740-silkeborg.pdf")
    with pytest.raises(AccessDenied):
        find_report(world.ws, world.fald, "hjertekom", "2025/740-silkeborg.pdf")   # HjerteKom's programme report
    with pytest.raises(AccessDenied):
        find_report(world.ws, world.fald, "2025", "740-silkeborg.pdf")             # HjerteKom's management report
    rows = world.denials()
    assert [(r["username"], r["entity_id"], r["municipality_code"]) for r in rows] == [
        ("hjerte", "2025/740-silkeborg.pdf", SILKEBORG), ("fald", "2025/740-silkeborg.pdf", SILKEBORG),
        ("fald", "2025/740-silkeborg.pdf", SILKEBORG)]
    details = [json.loads(r["detail"]) for r in rows]
    assert [d.get("programme") for d in details] == [PROGRAMME, "hjertekom", None]
    assert "not in programme" in details[0]["reason"]
    # Allowed in their own programme: the same file name is theirs there.
    assert find_report(world.ws, world.fald, PROGRAMME, "2025/740-silkeborg.pdf").programme == PROGRAMME


def test_another_municipality_and_a_role_without_reports_are_refused(world: World) -> None:
    with pytest.raises(AccessDenied):
        find_report(world.ws, world.fald, PROGRAMME, "2025/101-koebenhavn.pdf")
    with pytest.raises(AccessDenied):
        find_report(world.ws, world.clinician, PROGRAMME, "2025/740-silkeborg.pdf")
    rows = world.denials()
    assert [(r["username"], r["municipality_code"]) for r in rows] == [("fald", 101), ("klinik", SILKEBORG)]
    assert json.loads(rows[1]["detail"])["reason"].startswith("role clinician")
