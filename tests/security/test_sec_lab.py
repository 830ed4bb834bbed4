"""The researchers' lab serves the research workspace only, and cannot read the identified data.

Threat: `hjertekom lab` served JupyterLab rooted at the repository, with the data folder inside it,
as the account that owns the store: `/files/var/hjertekom.sqlite` returned the store (CPR numbers
and names), and any kernel could open the store, the keys and the identified snapshots.

Checked the way a researcher (or an attacker with a researcher's token) would try: a real
`hjertekom lab`, started by root on a demo store, then (1) code in a lab kernel opens the store,
the keys, the log and an identified snapshot (PermissionError each) and the workspace's
pseudonymised snapshot (readable); (2) the lab's HTTP API is asked for those files by relative,
absolute and URL-encoded paths and through a link made in the workspace (never served), and its
root lists the workspace's folders only; (3) the folder-only set-up says what it is; and the lab
refuses a workspace that overlaps the data folder and a Python the research account cannot run.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import json
import os
import shutil
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psutil
import pytest
from click.testing import CliRunner
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from hjertekom_core.bootstrap import ensure_secret, initialise, open_workspace
from hjertekom_core.cli import main
from hjertekom_core.cli.lab import FOLDER_ONLY_WARNING, lab_mode, mode_notice
from hjertekom_core.config import Config
from hjertekom_core.demo import generate_demo
from hjertekom_core.lab_account import Account
from hjertekom_core.snapshot import create_snapshot

from lab_fixtures import (
    RunningLab,
    bridge_session,
    free_port,
    research_account,
    runs_as,
    shared_folder,
    start_lab,
    stop_lab,
)
from paths import CONTRACTS_DIR

HJERTEKOM = str(Path(sys.executable).with_name("hjertekom"))
SECRETS = ("session.key", "cookie.secret", "proxy.secret")


@pytest.fixture(scope="session")
def account() -> Account:
    return research_account()


@pytest.fixture(scope="session")
def lab_python(account: Account) -> Iterator[Path]:
    """A Python the research account can run (see lab_fixtures.build_bridge_python)."""
    yield from bridge_session(account)


def lab_env(data: Path, workspace: Path, python: Path, **extra: str) -> dict[str, str]:
    """The environment of a `hjertekom lab` run: this data folder, workspace and lab Python only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HJERTEKOM_")}
    env.update(HJERTEKOM_DATA_DIR=str(data), HJERTEKOM_RESEARCH_WORKSPACE=str(workspace),
               HJERTEKOM_LAB_PYTHON=str(python), HJERTEKOM_CONTRACTS_DIR=str(CONTRACTS_DIR), **extra)
    return env


def make_store(data: Path, citizens: int = 30) -> Path:
    """A demo store in ``data`` with its keys and an identified snapshot; the snapshot's path."""
    ws = open_workspace(Config(data_dir=data, contracts_dir=CONTRACTS_DIR))
    initialise(ws)
    generate_demo(ws, citizens, seed=3)
    identified = create_snapshot(ws.store, ws.contracts, data / "snapshots").path
    ws.store.dispose()
    for name in SECRETS:
        ensure_secret(data / name)
    return identified


@pytest.fixture(scope="module")
def lab(account: Account, lab_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    """`hjertekom lab` started by root on a demo store, with the data folder in a folder every account
    can traverse and left readable by all (as an older version or a careless hand left it): only the
    lab's own separation stands between the research account and the data."""
    shared = shared_folder("hk-lab-")
    data, workspace = shared / "data", shared / "ws"
    identified = make_store(data)
    for path in [data, *data.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    port, token = free_port(), "t-" + uuid.uuid4().hex
    # --allow-root, as old scripts pass it: it must not keep the lab running as root.
    argv = [HJERTEKOM, "lab", "--no-browser", "--port", str(port), "--allow-root"]
    log = tmp_path_factory.mktemp("lab") / "lab.log"
    running = start_lab(argv, lab_env(data, workspace, lab_python, JUPYTER_TOKEN=token), port, token,
                        workspace, data, log)
    running.protected = {
        "store": data / "hjertekom.sqlite", "pseudonym.key": data / "pseudonym.key",
        "session.key": data / "session.key", "cookie.secret": data / "cookie.secret",
        "proxy.secret": data / "proxy.secret", "identified snapshot": identified, "log": data / "hjertekom.log"}
    try:
        yield running
    finally:
        stop_lab(running)
        shutil.rmtree(shared, ignore_errors=True)


def pseudonymised(lab: RunningLab) -> Path:
    [found] = (lab.workspace / "snapshots").glob("snapshot-*-pseudo.duckdb")
    return found


async def _execute(lab: RunningLab, kernel_id: str, code: str) -> str:
    """Run ``code`` in the kernel over the lab's websocket, as the browser does; its printed output."""
    request = HTTPRequest(f"ws://127.0.0.1:{lab.port}/api/kernels/{kernel_id}/channels",
                          headers={"Authorization": f"token {lab.token}"})
    conn = await websocket_connect(request)
    msg_id = uuid.uuid4().hex
    conn.write_message(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "forsker",
                   "session": uuid.uuid4().hex, "version": "5.3",
                   "date": dt.datetime.now(dt.UTC).isoformat()},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True}}))
    out: list[str] = []
    try:
        while True:
            raw = await asyncio.wait_for(conn.read_message(), 120)
            assert raw is not None, "the kernel's websocket closed"
            message = json.loads(raw)
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind == "error":
                raise AssertionError(f"{content['ename']}: {content['evalue']}")
            elif kind == "status" and content["execution_state"] == "idle":
                return "".join(out)
    finally:
        conn.close()
        # Wait for the server's closing frame: a socket still open when asyncio.run() ends is left to
        # the garbage collector, whose ResourceWarning then fails whichever test runs at that moment.
        with contextlib.suppress(TimeoutError):
            while await asyncio.wait_for(conn.read_message(), 10) is not None:
                pass


def run_in_kernel(lab: RunningLab, code: str) -> str:
    kernel = lab.json("POST", "/api/kernels", b"{}")
    try:
        # In a thread of its own: Playwright's sync API (the browser tests' session fixture) keeps an
        # event loop running in this one, where asyncio.run() refuses to start another.
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, _execute(lab, kernel["id"], code)).result()
    finally:
        lab.request("DELETE", f"/api/kernels/{kernel['id']}")


TRY_OPEN = """
import json, os
result = {}
for name, path in json.loads(PATHS).items():
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            with open(path, "rb") as fh:
                fh.read(16)
        result[name] = "read"
    except Exception as exc:
        result[name] = type(exc).__name__
open_files = []  # what this kernel and the server (its parent) hold open: nothing of the data folder
for pid in (os.getpid(), os.getppid()):
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            open_files.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass
print(json.dumps({"uid": os.getuid(), "euid": os.geteuid(), "result": result, "open": open_files}))
"""


# --- (1) a researcher's kernel -------------------------------------------------------------------

def test_a_lab_kernel_cannot_open_the_store_keys_or_identified_snapshots(lab: RunningLab, account: Account) -> None:
    paths = {name: str(path) for name, path in lab.protected.items()}
    paths |= {"data folder": str(lab.data), "identified snapshots folder": str(lab.data / "snapshots"),
              "pseudonymised snapshot": str(pseudonymised(lab))}
    assert all(Path(p).exists() for p in paths.values()), paths
    seen = json.loads(run_in_kernel(lab, f"PATHS = {json.dumps(json.dumps(paths))}\n{TRY_OPEN}"))
    assert seen["uid"] == seen["euid"] == account.uid  # the kernel runs as the research account, not root
    expected = {name: "PermissionError" for name in paths} | {"pseudonymised snapshot": "read"}
    assert seen["result"] == expected
    # No descriptor of the store, the log or a key survived the switch from root into the lab.
    assert seen["open"] and not [f for f in seen["open"] if f.startswith(str(lab.data))], seen["open"]
    # What the lab is for still works there: the research code opens the workspace's snapshot.
    opened = run_in_kernel(lab, "from hjertekom_core.research import open_research\n"
                                "r = open_research('')\nprint(r.path, r.info.pseudonymised)\nr.close()")
    assert opened.split() == [str(pseudonymised(lab)), "True"]


def test_a_link_made_in_the_workspace_does_not_reach_the_store(lab: RunningLab) -> None:
    """A researcher links the store into the workspace: neither the kernel nor the file server can read it."""
    store = lab.protected["store"]
    code = (f"import os\nos.symlink({str(store)!r}, 'store-link.sqlite')\n"
            "try:\n    open('store-link.sqlite', 'rb').read(16)\n    print('read')\n"
            "except PermissionError:\n    print('PermissionError')\n")
    assert run_in_kernel(lab, code).strip() == "PermissionError"
    link = lab.workspace / "store-link.sqlite"  # the kernel started in the workspace's root
    assert link.is_symlink()
    try:
        for path in ("/files/store-link.sqlite", "/api/contents/store-link.sqlite?content=1"):
            status, body = lab.request("GET", path)
            assert status != 200 and b"SQLite format 3" not in body, (path, status)
    finally:
        link.unlink()


# --- (2) the lab's HTTP API ----------------------------------------------------------------------

def _encoded(path: str) -> str:
    return path.replace(".", "%2e").replace("/", "%2f")


def test_the_lab_serves_nothing_outside_the_workspace(lab: RunningLab) -> None:
    secrets = {name: path.read_bytes()[:64] for name, path in lab.protected.items() if path.suffix != ".log"}
    for name, target in lab.protected.items():
        relative = os.path.relpath(target, lab.workspace)  # e.g. ../data/hjertekom.sqlite
        assert relative.startswith("../")
        for path in (f"/files/{relative}", f"/files/notebooks/../{relative}", f"/files/{_encoded(relative)}",
                     f"/files/{quote(relative, safe='')}", f"/files/{target}", f"/files/{quote(str(target), safe='')}",
                     f"/files/{_encoded(str(target))}",
                     f"/api/contents/{relative}?content=1", f"/api/contents/{_encoded(relative)}?content=1",
                     f"/api/contents/{quote(relative, safe='')}?content=1&format=base64",
                     f"/api/contents/{target}?content=1", f"/api/contents/{_encoded(str(target))}?content=1",
                     f"/api/contents/notebooks/{_encoded('../' + relative)}?content=1&type=file&format=base64"):
            status, body = lab.request("GET", path)
            assert status != 200, (name, path, body[:200])
            assert b"SQLite format 3" not in body and not any(s and s in body for s in secrets.values()), (name, path)
    root = lab.json("GET", "/api/contents?content=1")
    assert {entry["name"] for entry in root["content"]} == {"notebooks", "snapshots"}
    notebooks = lab.json("GET", "/api/contents/notebooks?content=1")
    assert {"change.ipynb", "dropout.ipynb", "trends.ipynb"} <= {e["name"] for e in notebooks["content"]}
    snapshots = lab.json("GET", "/api/contents/snapshots?content=1")
    assert [e["name"] for e in snapshots["content"]] == [pseudonymised(lab).name]
    status, body = lab.request("GET", f"/files/snapshots/{pseudonymised(lab).name}")  # what it is for: served
    assert status == 200 and body == pseudonymised(lab).read_bytes()


def test_the_lab_and_its_workspace_belong_to_the_research_account(lab: RunningLab, account: Account) -> None:
    server = psutil.Process(lab.process.pid)  # the command became JupyterLab (exec): same process
    assert server.uids().real == server.uids().effective == server.uids().saved == account.uid
    assert "jupyterlab" in " ".join(server.cmdline())
    data = lab.data.stat()
    assert stat.S_IMODE(data.st_mode) == 0o700 and data.st_uid != account.uid
    for path in [lab.workspace, *(lab.workspace / "snapshots").rglob("*"), *(lab.workspace / "notebooks").rglob("*")]:
        info = path.lstat()
        assert (info.st_uid, info.st_gid) == (account.uid, account.gid), path
        assert stat.S_IMODE(info.st_mode) == (0o700 if path.is_dir() else 0o600), path
    assert not (lab.data / "snapshots" / "research").exists()  # nothing pseudonymised lands in the data folder


# --- refusals --------------------------------------------------------------------------------------

def test_the_lab_refuses_a_workspace_that_overlaps_the_data_folder(tmp_path: Path) -> None:
    data = tmp_path / "var"
    runner = CliRunner()
    cases = {"inside the data folder": {"HJERTEKOM_RESEARCH_WORKSPACE": str(data / "research")},
             "the data folder inside it": {"HJERTEKOM_RESEARCH_WORKSPACE": str(tmp_path)},
             "the key inside it": {"HJERTEKOM_RESEARCH_WORKSPACE": str(tmp_path / "ws"),
                                   "HJERTEKOM_PSEUDONYM_KEY_FILE": str(tmp_path / "ws" / "pseudonym.key")}}
    for case, extra in cases.items():
        for dry in (["--dry-run"], []):
            env = {"HJERTEKOM_DATA_DIR": str(data), "HJERTEKOM_RESEARCH_SNAPSHOTS": "", **extra}
            done = runner.invoke(main, ["lab", "--no-browser", *dry], env=env)
            assert done.exit_code == 1, (case, done.output)
            message = done.output.strip()
            assert message.startswith("Error: ") and "\n" not in message, (case, message)
            assert "research workspace" in message and "Traceback" not in message, (case, message)
    assert not (data / "research").exists() and not (tmp_path / "ws").exists()


def test_a_python_the_research_account_cannot_run_is_refused_with_advice(account: Account, lab_python: Path,
                                                                        tmp_path: Path) -> None:
    hidden = tmp_path / "private-python"  # pytest's folders are mode 0700: unreachable for the account
    hidden.mkdir()
    (hidden / "python").symlink_to(lab_python)
    assert runs_as(account, hidden / "python") is not None
    shared = shared_folder("hk-lab-")
    try:
        make_store(shared / "data", citizens=5)
        done = subprocess.run([HJERTEKOM, "lab", "--no-browser", "--port", str(free_port())],  # noqa: S603
                              capture_output=True, text=True, timeout=300, cwd="/", check=False,
                              env=lab_env(shared / "data", shared / "ws", hidden / "python"))
    finally:
        shutil.rmtree(shared, ignore_errors=True)
    assert done.returncode == 1, done.stdout + done.stderr
    message = done.stderr.strip()
    assert "\n" not in message and "Traceback" not in message, message
    assert f"research account {account.name} cannot run {hidden / 'python'}" in message
    assert "lab_python" in message and "every account can read" in message


@pytest.mark.postgres
def test_a_store_database_that_lets_any_local_account_in_is_refused(account: Account, lab_python: Path,
                                                                     pg_database_url: str) -> None:
    """A PostgreSQL store that trusts local connections would let a kernel read everything without a
    file: the lab checks, as the research account and without the password, and refuses."""
    from sqlalchemy.engine import make_url

    passwordless = make_url(pg_database_url).set(password=None).render_as_string(hide_password=False)
    code = f"import sqlalchemy; sqlalchemy.create_engine({passwordless!r}).connect().close()"
    if runs_as(account, lab_python, code) is not None:
        pytest.skip("this PostgreSQL server does not let the research account in: nothing to refuse")
    shared = shared_folder("hk-lab-")
    try:
        env = lab_env(shared / "data", shared / "ws", lab_python, HJERTEKOM_DATABASE_URL=pg_database_url)
        subprocess.run([HJERTEKOM, "init"], env=env, cwd="/", check=True, capture_output=True,  # noqa: S603
                       timeout=300)
        done = subprocess.run([HJERTEKOM, "lab", "--no-browser", "--port", str(free_port())],  # noqa: S603
                              capture_output=True, text=True, timeout=300, cwd="/", env=env, check=False)
    finally:
        shutil.rmtree(shared, ignore_errors=True)
    assert done.returncode == 1, done.stdout + done.stderr
    message = done.stderr.strip()
    assert "\n" not in message and "can connect to the store's database without its password" in message, message


# --- (3) the folder-only set-up ------------------------------------------------------------------

def test_who_the_lab_runs_as_is_decided_by_who_starts_it() -> None:
    assert lab_mode(0) == "account" and lab_mode(1000) == "folder"
    notice = mode_notice("folder", "hjertekom-forsker")
    assert notice == FOLDER_ONLY_WARNING
    assert "adskiller kun efter mappe" in notice and "separates by folder only" in notice
    assert "hjertekom-forsker" in mode_notice("account", "hjertekom-forsker")


def test_started_by_a_user_who_owns_the_store_the_lab_says_it_separates_by_folder_only(
        account: Account, lab_python: Path) -> None:
    """`hjertekom lab --dry-run` run by an ordinary account (here the research account, which owns
    this data folder): it runs as that account, serves the workspace only, and warns."""
    shared = shared_folder("hk-lab-")
    try:
        for folder in (shared / "data", shared / "ws"):
            folder.mkdir(mode=0o700)
            os.chown(folder, account.uid, account.gid)
        env = lab_env(shared / "data", shared / "ws", lab_python)
        env["PATH"] = f"{lab_python.parent}:/usr/bin:/bin"
        done = subprocess.run([str(lab_python), "-c", "from hjertekom_core.cli import main; main()", "lab",  # noqa: S603
                               "--dry-run", "--no-browser"], capture_output=True, text=True, timeout=120,
                              cwd=str(shared), env=env, check=False, **account.popen_kwargs())
    finally:
        shutil.rmtree(shared, ignore_errors=True)
    assert done.returncode == 0, done.stderr
    assert f"--ServerApp.root_dir={shared / 'ws'} " in done.stdout
    assert f"run_as={account.name}" in done.stdout
    assert FOLDER_ONLY_WARNING in done.stdout
