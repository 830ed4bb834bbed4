"""The research account `hjertekom lab` runs JupyterLab as when root starts it.

Started by root, the lab must not run as root (or as the service account that owns the store):
its kernels run whatever a researcher types, so they must be unable to open the store, the keys
and the identified snapshots. The lab therefore runs as a dedicated operating-system account
(``lab_account``, default ``hjertekom-forsker``), created here on demand, that has no access to
the data folder. ``become`` switches to it for good before JupyterLab is executed; ``probe``
checks beforehand, as that account, that it can run ``lab_python`` with JupyterLab and this
package and that it cannot read any protected file.
"""
from __future__ import annotations

import ctypes
import os
import pwd
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from hjertekom_core.errors import ConfigError

#: A portable account name (useradd's own rule, and no leading '-' that would read as an option).
ACCOUNT_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
PR_SET_NO_NEW_PRIVS = 38
NOLOGIN = "/usr/sbin/nologin"

#: Run as the research account: the imports the lab needs, then an attempt to read every protected
#: path and to connect to a server database without its password, and the kernel's Python. Prints
#: one line "ok" or "<problem>: <detail>"; run with the lab's own environment.
PROBE = r"""
import os, shutil, subprocess, sys
try:
    import jupyterlab, hjertekom_core
except BaseException as exc:
    print(f"import: {type(exc).__name__}: {exc}"); sys.exit(2)
database, workspace, protected = sys.argv[1], sys.argv[2], sys.argv[3:]
if not os.access(workspace, os.R_OK | os.W_OK | os.X_OK):
    print(f"workspace: {workspace}"); sys.exit(3)
readable = []
for path in protected:
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            open(path, "rb").close()
    except OSError:
        continue
    readable.append(path)
if readable:
    print("readable: " + ", ".join(readable)); sys.exit(4)
if database:
    import sqlalchemy
    engine = sqlalchemy.create_engine(database, connect_args={"connect_timeout": 5})
    try:
        engine.connect().close()
    except Exception:
        pass
    else:
        print(f"database: {engine.url.render_as_string(hide_password=True)}"); sys.exit(6)
    finally:
        engine.dispose()
from jupyter_client.kernelspec import KernelSpecManager
argv = KernelSpecManager().get_kernel_spec("python3").argv
kernel = shutil.which(argv[0]) or argv[0]
done = subprocess.run([kernel, "-c", "import ipykernel, hjertekom_core"], capture_output=True, text=True)
if done.returncode:
    print(f"kernel: {kernel}: {(done.stderr.strip().splitlines() or ['?'])[-1]}"); sys.exit(5)
print("ok")
"""


class LabRefused(ConfigError):
    """The lab will not start: its separation from the identified data does not hold."""


@dataclass(frozen=True)
class Account:
    """An operating-system account: name, uid, primary gid and every group it is in."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]

    @classmethod
    def lookup(cls, name: str) -> Account | None:
        """The account called ``name``, or None if there is none."""
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            return None
        return cls(name, entry.pw_uid, entry.pw_gid, tuple(os.getgrouplist(name, entry.pw_gid)))

    @classmethod
    def current(cls) -> Account:
        """The account this process runs as."""
        uid, gid = os.geteuid(), os.getegid()
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:  # a uid without a passwd entry (some containers)
            name = str(uid)
        return cls(name, uid, gid, tuple(os.getgroups()))

    def popen_kwargs(self) -> dict[str, Any]:
        """``subprocess`` arguments that run the child as this account (set in the child, before exec)."""
        return {"user": self.uid, "group": self.gid, "extra_groups": list(self.groups)}


def check_name(name: str) -> str:
    """``name`` if it is a usable account name; LabRefused otherwise."""
    if not ACCOUNT_NAME.match(name):
        raise LabRefused(f"lab_account {name!r} er ikke et gyldigt kontonavn / is not a valid account name "
                         "(lower-case letters, digits, '_' and '-')")
    return name


def ensure_account(name: str) -> Account:
    """The research account ``name``, created first if missing (root only): a system account with a
    group of its own, no home folder and no login shell."""
    check_name(name)
    found = Account.lookup(name)
    if found is None:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        done = subprocess.run(  # noqa: S603 - fixed program, a validated name, no shell
            [useradd, "--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", NOLOGIN,
             "--user-group", "--comment", "HjerteKom research lab", name],
            capture_output=True, text=True, check=False)
        found = Account.lookup(name)
        if found is None:
            raise LabRefused(f"kunne ikke oprette forskerkontoen / could not create the research account {name}: "
                             f"{done.stderr.strip() or done.returncode}")
    if found.uid == 0 or found.gid == 0 or 0 in found.groups:
        raise LabRefused(f"forskerkontoen / the research account {name} must not be root or in group root")
    return found


def _no_new_privileges() -> None:
    """Set no_new_privs: setuid programs (su, passwd, ...) cannot raise a kernel's rights again."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - not Linux: the uid switch is what matters
        pass


def become(account: Account) -> None:
    """Turn this (root) process into ``account`` for good: groups, then gid, then uid (real,
    effective and saved, so that root cannot be taken back), then no new privileges."""
    os.setgroups(list(account.groups))
    os.setresgid(account.gid, account.gid, account.gid)
    os.setresuid(account.uid, account.uid, account.uid)
    if os.getresuid() != (account.uid,) * 3 or os.getresgid() != (account.gid,) * 3:
        raise LabRefused(f"skift til / switch to {account.name} failed")
    try:
        os.setresuid(0, 0, 0)
    except PermissionError:
        pass
    else:  # pragma: no cover - would mean the switch did not drop root
        raise LabRefused(f"skift til / switch to {account.name} left root reachable")
    _no_new_privileges()


def probe(account: Account, python: Path, workspace: Path, protected: Sequence[Path],
          env: Mapping[str, str], database_url: str | None = None) -> str | None:
    """Run PROBE as ``account`` with ``python``: None if all is well, else what is wrong (one line).

    ``database_url``: a server database's URL; the probe tries it without the password (the account
    has none), so that a database that lets any local account in (``trust``) is caught."""
    database = ""
    if database_url:
        database = make_url(database_url).set(password=None).render_as_string(hide_password=False)
    try:
        done = subprocess.run(  # noqa: S603 - our own script, as the research account
            [str(python), "-c", PROBE, database, str(workspace), *map(str, protected)], capture_output=True, text=True,
            env=dict(env), cwd=str(workspace), timeout=180, check=False, **account.popen_kwargs())
    except OSError as exc:  # the exec itself failed: the account cannot reach the program
        return f"run: {python}: {exc.strerror}"
    except subprocess.TimeoutExpired:
        return f"run: {python}: no answer in 180 s"
    lines = done.stdout.strip().splitlines()
    if done.returncode == 0 and lines and lines[-1] == "ok":
        return None
    detail = lines[-1] if lines else (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
    return detail if ":" in detail else f"run: {python}: {detail}"


def explain(problem: str, account: Account, python: Path, workspace: Path) -> str:
    """A one-line message, Danish and English, for what ``probe`` found."""
    kind, _, detail = problem.partition(": ")
    if kind == "readable":
        return (f"Forskerkontoen {account.name} kan læse beskyttede filer ({detail}); ret deres rettigheder "
                f"(kun tjenestekontoen, chmod 600/700) / the research account {account.name} can read "
                f"protected files ({detail}): make them readable by the service account only")
    if kind == "database":
        return (f"Forskerkontoen {account.name} kan forbinde til lagerets database uden adgangskode ({detail}); "
                "kræv adgangskode (scram-sha-256) eller peer-godkendelse af tjenestekontoen i pg_hba.conf / "
                f"the research account {account.name} can connect to the store's database without its password: "
                "require a password or peer authentication of the service account (pg_hba.conf), never trust")
    if kind == "workspace":
        return (f"Forskerkontoen {account.name} kan ikke åbne arbejdsmappen {workspace}: alle dens overmapper "
                f"skal kunne gennemløbes (o+x) / the research account cannot enter the workspace {workspace}: "
                "every folder above it must be traversable (o+x), or set research_workspace elsewhere")
    return (f"Forskerkontoen {account.name} kan ikke køre {python} med jupyterlab og hjertekom_core ({problem}); "
            "installér Python og projektet, hvor alle konti kan læse dem, eller sæt lab_python "
            f"(HJERTEKOM_LAB_PYTHON) til en sådan venv / the research account {account.name} cannot run "
            f"{python} with jupyterlab and hjertekom_core: install Python where every account can read it, "
            "or point lab_python at such a venv (docs/research.md)")
