"""What the lab's security tests need: root, the research account, a Python that account can run,
folders it can reach, and a real `hjertekom lab` started on a demo store.

Imported as a plain module by test_sec_lab.py (tests/security has no __init__.py and no conftest).
"""
from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from hjertekom_core.config import Config
from hjertekom_core.lab_account import Account, ensure_account

TMP = Path("/tmp")  # noqa: S108 - the one place every account can reach; each folder is made by mkdtemp


def require_root() -> None:
    """The account switch needs root: skip elsewhere, but never in CI, where tests run as root."""
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("the lab's security tests must run as root in CI (they create and use the research account)")
        pytest.skip("the lab's account switch needs root")


def research_account() -> Account:
    """The research account of the default configuration, created if missing (as `hjertekom lab` does)."""
    require_root()
    return ensure_account(Config().lab_account)


def runs_as(account: Account, python: Path, code: str = "import jupyterlab, hjertekom_core") -> str | None:
    """None if ``account`` can run ``python -c code``; else what went wrong."""
    try:
        done = subprocess.run([str(python), "-c", code], capture_output=True,  # noqa: S603 - our own code text=True, timeout=120, cwd="/",
                              env={"PATH": "/usr/bin:/bin"}, check=False, **account.popen_kwargs())
    except OSError as exc:
        return f"{python}: {exc.strerror}"
    return None if done.returncode == 0 else (done.stderr.strip().splitlines() or ["?"])[-1]


def shared_folder(prefix: str) -> Path:
    """A new folder under /tmp that every account can traverse (mode 0755, root's): pytest's own
    folders are mode 0700 and unreachable for the research account."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=TMP))
    folder.chmod(0o755)
    return folder


def build_bridge_python(account: Account) -> tuple[Path, Path | None]:
    """A Python the research account can run with this checkout's packages: (python, folder to remove).

    The lab runs JupyterLab as the research account, so that account must be able to execute
    ``lab_python``. This venv's python is often a link into a folder other accounts cannot enter
    (on the machine this was written on: /root/.pyenv/..., and /root is mode 0700), which is exactly
    the case `hjertekom lab` refuses with a message. Then the tests build a small "bridge" venv, once
    per session, in a /tmp folder the account can traverse: Debian's /usr/bin/python3.X (the same
    CPython minor version, hence the same ABI for compiled packages) with ``--without-pip``, whose
    site-packages holds a .pth line ``import site; site.addsitedir(<checkout venv site-packages>)``,
    so it imports the very packages of the checkout (hjertekom_core through its editable install).
    Its share/jupyter and etc/jupyter link to the checkout venv's, so JupyterLab finds its assets,
    kernel spec and server extensions as under the checkout's own Python. Only used when
    sys.executable is not runnable by the account. The checkout must be readable by every account
    (e.g. /work/main, mode 755); if it is not, the fixture fails with a message rather than skip.
    """
    if runs_as(account, Path(sys.executable)) is None:
        return Path(sys.executable), None
    minor = f"{sys.version_info.major}.{sys.version_info.minor}"
    system = Path(f"/usr/bin/python{minor}")
    if not system.exists():
        pytest.fail(f"{sys.executable} cannot be run by {account.name}, and there is no {system} to build a "
                    f"bridge venv from: install python{minor} (apt-get install python{minor}-venv)")
    folder = shared_folder("hk-bridge-")
    venv = folder / "venv"
    subprocess.run([str(system), "-m", "venv", "--without-pip", str(venv)], check=True,  # noqa: S603 - fixed
                   capture_output=True, timeout=120)
    site_packages = Path(sysconfig.get_paths()["purelib"])
    (venv / "lib" / f"python{minor}" / "site-packages" / "hjertekom-checkout.pth").write_text(
        f'import site; site.addsitedir("{site_packages}")\n', encoding="utf-8")
    for part in ("share/jupyter", "etc/jupyter"):
        source = Path(sys.prefix) / part
        if source.is_dir():
            (venv / part).parent.mkdir(parents=True, exist_ok=True)
            (venv / part).symlink_to(source)
    python = venv / "bin" / "python"
    problem = runs_as(account, python)
    if problem is not None:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"the research account {account.name} cannot use the checkout's packages through the bridge "
                    f"venv ({problem}): the checkout {site_packages} must be readable and its folders "
                    "traversable by every account (chmod o+rx), or run the tests from such a checkout")
    return python, folder


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningLab:
    """A `hjertekom lab` started as root: its process, address, token, folders and log."""

    process: subprocess.Popen[bytes]
    port: int
    token: str
    workspace: Path
    data: Path
    log: Path
    protected: dict[str, Path] = field(default_factory=dict)

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """One HTTP request with the token, the path sent exactly as given (no normalising)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers={"Authorization": f"token {self.token}"})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def json(self, method: str, path: str, body: bytes | None = None) -> dict:  # type: ignore[type-arg]
        status, data = self.request(method, path, body)
        assert status in (200, 201), (status, data[:300])
        return json.loads(data)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def start_lab(argv: list[str], env: dict[str, str], port: int, token: str, workspace: Path, data: Path,
              log: Path) -> RunningLab:
    """Start ``argv`` (a `hjertekom lab` command line) and wait until its server answers."""
    out = log.open("wb")
    process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd="/")  # noqa: S603
    out.close()
    lab = RunningLab(process, port, token, workspace, data, log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if lab.request("GET", "/api/status")[0] == 200:
                return lab
        except OSError:
            pass
        time.sleep(0.3)
    stop_lab(lab)
    pytest.fail(f"the lab did not start (exit code {process.poll()}):\n{lab.output()}")


def stop_lab(lab: RunningLab) -> None:
    """Stop the server and every process it started (its kernels), by their ids."""
    try:
        children = psutil.Process(lab.process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    lab.process.terminate()
    try:
        lab.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        lab.process.kill()
        lab.process.wait(timeout=10)
    for child in children:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass


def bridge_session(account: Account) -> Iterator[Path]:
    """Generator body of the session fixture ``lab_python``: the Python, removed afterwards."""
    python, folder = build_bridge_python(account)
    try:
        yield python
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
