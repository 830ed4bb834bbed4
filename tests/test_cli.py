"""The hjertekom command as a user runs it: a real process against a real store."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HJERTEKOM = str(Path(sys.executable).with_name("hjertekom"))


def run(tmp_path: Path, *args: str, env: dict[str, str] | None = None, ok: bool = True) -> subprocess.CompletedProcess:
    environ = {**os.environ, "HJERTEKOM_DATA_DIR": str(tmp_path / "var"), **(env or {})}
    environ.pop("HJERTEKOM_DATABASE_URL", None)
    done = subprocess.run([HJERTEKOM, *args], capture_output=True, text=True, env=environ, cwd=tmp_path, timeout=120)
    if ok:
        assert done.returncode == 0, done.stderr
    return done


def test_help_lists_the_commands(tmp_path: Path) -> None:
    out = run(tmp_path, "--help").stdout
    for command in ("init", "users", "demo", "import", "status", "serve", "snapshot", "indicators"):
        assert f"  {command} " in out


def test_init_users_and_status(tmp_path: Path) -> None:
    assert "schema 0013" in run(tmp_path, "init").stdout
    assert (tmp_path / "var" / "hjertekom.sqlite").exists()
    assert (tmp_path / "var" / "pseudonym.key").stat().st_mode & 0o077 == 0  # owner only
    run(tmp_path, "users", "add", "mette", "--role", "coordinator", "-m", "740", "-m", "741", "--name", "Mette K",
        env={"HJERTEKOM_NEW_PASSWORD": "Lyngbakke-testkode-2026"})
    listed = json.loads(run(tmp_path, "users", "list", "--json").stdout)
    assert listed == [{"username": "mette", "name": "Mette K", "role": "coordinator", "municipalities": [740, 741],
                       "programmes": {"hjertekom": [740, 741]}}]
    status = json.loads(run(tmp_path, "status", "--json").stdout)
    assert status["schema"] == "0013" and status["counts"] == []
    assert (tmp_path / "var" / "hjertekom.log").exists()


def test_errors_are_one_clear_line_and_a_failing_exit_code(tmp_path: Path) -> None:
    run(tmp_path, "init")
    done = run(tmp_path, "users", "add", "bo", "--role", "clinician", "-m", "999",
               env={"HJERTEKOM_NEW_PASSWORD": "Lyngbakke-testkode-2026"}, ok=False)
    assert done.returncode == 1
    assert "unknown municipality code(s): [999]" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_broken_configuration_is_reported(tmp_path: Path) -> None:
    (tmp_path / "hjertekom.toml").write_text('[hjertekom]\ncolour = "red"\n')
    done = run(tmp_path, "status", ok=False)
    assert "unknown setting 'colour'" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.postgres
def test_the_store_can_be_postgresql(tmp_path: Path, pg_database_url: str) -> None:
    env = {"HJERTEKOM_DATABASE_URL": pg_database_url}
    environ = {**os.environ, "HJERTEKOM_DATA_DIR": str(tmp_path / "var"), **env}
    done = subprocess.run([HJERTEKOM, "init"], capture_output=True, text=True, env=environ, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "postgresql" in done.stdout
