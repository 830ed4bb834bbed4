"""A file handed to a command as a snapshot is checked before anything is computed from it, and
DuckDB never fetches or loads an extension by itself (issue 12, "Low, but fix them": snapshots).

Before the fix ``hjertekom indicators --snapshot`` on the store's SQLite file made DuckDB try to
download its sqlite extension from the internet, and a CSV, an empty DuckDB file or a snapshot of
an unknown contract version ended in "unexpected error" or was computed on.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from hjertekom_core.config import REPO_ROOT
from hjertekom_core.research import open_research

HJERTEKOM = str(Path(sys.executable).with_name("hjertekom"))
#: Any download DuckDB tried would go here and fail at once (there is no network here either way).
NO_NETWORK = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
              "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}


def run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, **NO_NETWORK, "HJERTEKOM_DATA_DIR": str(folder / "var"),
               "HJERTEKOM_CONFIG": str(folder / "none.toml"), "HJERTEKOM_REPORTS_DIR": str(folder / "reports")}
    environ.pop("HJERTEKOM_DATABASE_URL", None)
    return subprocess.run([HJERTEKOM, *args], capture_output=True, text=True, env=environ, cwd=folder,  # noqa: S603
                          timeout=120)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An initialised data folder with one identified and one pseudonymised snapshot."""
    folder = tmp_path_factory.mktemp("snapshot-input")
    for args in (("init",), ("snapshot", "--out", str(folder / "snapshots")),
                 ("snapshot", "--pseudonymise", "--out", str(folder / "research"))):
        done = run(folder, *args)
        assert done.returncode == 0, done.stderr
    return folder


def _snapshot(folder: Path, pseudonymised: bool = False) -> Path:
    [found] = (folder / ("research" if pseudonymised else "snapshots")).glob("snapshot-*.duckdb")
    return found


def _with_contract_version(source: Path, target: Path, version: str) -> Path:
    shutil.copy2(source, target)
    with duckdb.connect(str(target)) as con:  # made as a future HjerteKom would: only its record differs
        con.execute("UPDATE snapshot_info SET contract_versions = ?", [json.dumps({"hjertekom": version})])
    return target


@pytest.fixture(scope="module")
def bad_inputs(workspace: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, what the one line must say)."""
    folder = workspace / "bad"
    folder.mkdir()
    csv_file = folder / "forløb.csv"
    csv_file.write_text("cpr;name;course.municipality\n010150-1234;Jens;740\n", encoding="utf-8")
    empty = folder / "tom.duckdb"
    duckdb.connect(str(empty)).close()
    future = _with_contract_version(_snapshot(workspace), folder / "snapshot-20990101T000000.duckdb", "9.0.0")
    return {
        "csv": (csv_file, "ikke et HjerteKom-snapshot"),
        "sqlite": (workspace / "var" / "hjertekom.sqlite", "SQLite"),
        "empty duckdb": (empty, "ikke et HjerteKom-snapshot"),
        "unknown contract version": (future, "9.0.0"),
    }


def _one_clear_line(done: subprocess.CompletedProcess[str], words: str) -> None:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1, done.stderr
    assert len(lines) == 1, done.stderr
    assert words in lines[0], lines[0]
    assert "Traceback" not in done.stderr and "unexpected error" not in done.stderr
    assert "extension" not in done.stderr.lower(), "DuckDB tried to fetch an extension"


@pytest.mark.parametrize("case", ["csv", "sqlite", "empty duckdb", "unknown contract version"])
def test_indicators_refuse_what_is_not_a_known_snapshot(workspace: Path, bad_inputs: dict[str, tuple[Path, str]],
                                                        case: str) -> None:
    path, words = bad_inputs[case]
    done = run(workspace, "indicators", "--snapshot", str(path))
    _one_clear_line(done, words)
    assert done.stdout == "", "nothing was computed"
    log = (workspace / "var" / "hjertekom.log").read_text(encoding="utf-8")
    assert "extensions.duckdb.org" not in log and "Failed to download" not in log


def test_indicators_still_read_a_real_snapshot(workspace: Path) -> None:
    done = run(workspace, "indicators", "--snapshot", str(_snapshot(workspace)), "--format", "csv")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("indicator,") or "indicator" in done.stdout.splitlines()[0]


@pytest.mark.parametrize("case", ["sqlite", "unknown contract version"])
def test_reports_refuse_them_too(workspace: Path, bad_inputs: dict[str, tuple[Path, str]], case: str) -> None:
    path, words = bad_inputs[case]
    for command in (("report", "municipality", "--municipality", "740"), ("report", "all")):
        done = run(workspace, *command, "--period", "2025", "--snapshot", str(path), "--format", "html")
        _one_clear_line(done, words)
    assert not (workspace / "reports").exists()


@pytest.mark.parametrize("case", ["csv", "unknown contract version"])
def test_the_research_report_refuses_them_before_a_kernel_starts(workspace: Path, case: str,
                                                                 bad_inputs: dict[str, tuple[Path, str]]) -> None:
    path, words = bad_inputs[case]
    done = run(workspace, "report", "research", "change", "--snapshot", str(path), "--out", str(workspace / "r.html"))
    _one_clear_line(done, words)
    assert not (workspace / "r.html").exists()


def test_research_refuses_them(workspace: Path, bad_inputs: dict[str, tuple[Path, str]], tmp_path: Path) -> None:
    from hjertekom_core.config import Config
    from hjertekom_core.errors import HjerteKomError

    config = Config(data_dir=tmp_path)
    future = _with_contract_version(_snapshot(workspace, pseudonymised=True),
                                    tmp_path / "snapshot-20990101T000000-pseudo.duckdb", "9.0.0")
    for path, words in [*(bad_inputs[c] for c in ("csv", "sqlite", "empty duckdb")), (future, "9.0.0")]:
        with pytest.raises(HjerteKomError, match=re.escape(words)):
            open_research(path, config)
    with open_research(_snapshot(workspace, pseudonymised=True), config) as research:
        assert research.info.pseudonymised


def test_every_connection_has_extension_autoloading_off(workspace: Path) -> None:
    from hjertekom_core.duck import connect
    from hjertekom_core.snapshot import open_snapshot

    settings = "SELECT current_setting('autoinstall_known_extensions'), current_setting('autoload_known_extensions')"
    with connect() as con:
        assert con.execute(settings).fetchone() == (False, False)
    con, info = open_snapshot(_snapshot(workspace))
    with con:
        assert con.execute(settings).fetchone() == (False, False)
        assert not info.pseudonymised


@pytest.mark.parametrize("trap", ["view", "macro"])
def test_a_snapshot_with_code_of_its_own_is_refused(workspace: Path, tmp_path: Path, trap: str) -> None:
    """A view or macro in a handed-over file runs its author's SQL when our queries touch it: a view
    can read any file of this machine, a macro named like a built-in function replaces it."""
    from hjertekom_core.errors import HjerteKomError
    from hjertekom_core.snapshot import open_snapshot

    secret = tmp_path / "secret.csv"
    secret.write_text("key\nhemmelig\n", encoding="utf-8")
    booby = tmp_path / "snapshot-20250101T000000.duckdb"
    shutil.copy2(_snapshot(workspace), booby)
    with duckdb.connect(str(booby)) as con:
        con.execute(f"CREATE VIEW leak AS SELECT * FROM read_csv('{secret}')"  # noqa: S608 - the test's own path
                    if trap == "view" else "CREATE MACRO year(d) AS 1999")
    with pytest.raises(HjerteKomError, match="views eller makroer"):
        open_snapshot(booby)
    done = run(workspace, "indicators", "--snapshot", str(booby))
    _one_clear_line(done, "views eller makroer")


SOURCES = ("hjertekom_core", "widgets", "notebooks", "benchmarks")
HELPER = REPO_ROOT / "hjertekom_core" / "duck.py"


def test_no_duckdb_connection_outside_the_helper() -> None:
    bare = re.compile(r"duckdb\s*\.\s*connect\s*\(|from\s+duckdb\s+import\s+[^\n]*\bconnect\b")
    found = []
    for top in SOURCES:
        for path in (REPO_ROOT / top).rglob("*"):
            if path.suffix not in (".py", ".ipynb") or path == HELPER or ".ipynb_checkpoints" in path.parts:
                continue
            text = path.read_text(encoding="utf-8")
            found += [f"{path.relative_to(REPO_ROOT)}:{text.count(chr(10), 0, m.start()) + 1}"
                      for m in bare.finditer(text)]
    assert found == [], f"open DuckDB through hjertekom_core.duck.connect: {found}"
