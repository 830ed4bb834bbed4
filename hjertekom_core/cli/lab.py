"""``hjertekom lab``: JupyterLab for researchers, on the research workspace only.

The lab serves the research WORKSPACE (``research_workspace``, default ``<data_dir>-research``):
pseudonymised snapshots in ``snapshots/``, copies of notebooks/research in ``notebooks/`` and the
researchers' own files; never the data folder, the store, the keys or identified snapshots
(hjertekom_core/lab_workspace.py refuses any overlap). The command makes a pseudonymised snapshot
there if none exists (or always, with ``--fresh``), records ``lab.start``, and becomes JupyterLab
on 127.0.0.1.

Who JupyterLab runs as decides what its kernels can open:

* started by root: the research account (``lab_account``, hjertekom_core/lab_account.py), made on
  demand, that cannot read the data folder (mode 0700); the workspace is handed to it, and the
  command checks as that account that it can run ``lab_python`` and cannot read a protected file;
* started by anyone else (who must own the store to make the snapshot): that user, serving the
  workspace only, with a printed warning that this separates by folder only.

Pseudonymised data are still personal data: the kernels listen on Unix sockets in a private
runtime folder, not on TCP ports (hjertekom_core/kernel_sockets.py), and new files are mode 0600.
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import click
from jupyter_core.paths import jupyter_runtime_dir

from hjertekom_core import audit, kernel_sockets
from hjertekom_core.access import User
from hjertekom_core.bootstrap import Workspace
from hjertekom_core.cli.common import acting_user, friendly_errors, user_option, workspace
from hjertekom_core.config import SETTINGS, Config, load_config
from hjertekom_core.indicators import settings_from_config
from hjertekom_core.lab_account import Account, LabRefused, become, check_name, ensure_account, explain, probe
from hjertekom_core.lab_workspace import (
    JUPYTER,
    NOTEBOOKS,
    Owner,
    check_separation,
    install_snapshot,
    lock_data_folder,
    prepare_workspace,
    protected_paths,
    runtime_folder,
    snapshots_folder,
    staging_folder,
    workspace_root,
)
from hjertekom_core.research.cohort import RESEARCH_DIR_ENV
from hjertekom_core.snapshot import create_audited_snapshot, newest_snapshot

#: The settings the research code reads (hjertekom_core.research), handed to the kernels as values:
#: never the configuration file, which may name the store or hold its password.
KERNEL_SETTINGS = ("contracts_dir", "programmes", "clusters_file", "language", "completion_limit_days",
                   "standards", "suppress_below", "log_level")
#: What of the starting environment the research account's lab keeps: locale, time zone, terminal,
#: and a token set for the lab (hosted set-ups, tests). Nothing else of root's environment.
KEPT_FOR_ACCOUNT = ("LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "TERM", "JUPYTER_TOKEN")
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"

ACCOUNT, FOLDER = "account", "folder"
FOLDER_ONLY_WARNING = (
    "ADVARSEL: denne opsætning adskiller kun efter mappe: JupyterLab og dets kerner kører som dig og kan "
    "læse alt, hvad du kan, også lageret og nøglerne; start den som root for at køre den som forskerkontoen "
    "(docs/research.md) / WARNING: this set-up separates by folder only: JupyterLab and its kernels run as "
    "you and can read whatever you can, the store and the keys included; start it as root to run it as the "
    "research account (docs/research.md)")


def lab_mode(euid: int | None = None) -> str:
    """``"account"`` when started by root (the lab runs as the research account), else ``"folder"``
    (the lab runs as the user who starts it and separates by folder only)."""
    return ACCOUNT if (os.geteuid() if euid is None else euid) == 0 else FOLDER


def mode_notice(mode: str, account: str) -> str:
    """What the start prints about the separation, Danish and English."""
    if mode == ACCOUNT:
        return (f"Kører som forskerkontoen {account}, der ikke kan læse datamappen, lageret eller nøglerne / "
                f"runs as the research account {account}, which cannot read the data folder, the store or the keys")
    return FOLDER_ONLY_WARNING


@dataclass(frozen=True)
class LabLaunch:
    """What starting JupyterLab takes: the command line, its environment, folder and address, and
    the account it runs as (None: the user who starts it, folder-only separation)."""

    argv: list[str]
    env: dict[str, str]
    url: str
    workspace: Path
    snapshots: Path
    account: Account | None
    runtime: Path
    private_runtime: bool  # the runtime folder is /tmp/hjertekom-lab-<uid>, made before the start

    @property
    def mode(self) -> str:
        return FOLDER if self.account is None else ACCOUNT

    def describe(self) -> str:
        name = self.account.name if self.account is not None else ""
        return (f"JupyterLab: {self.url} (adressen med token skrives nedenfor / the address with its token "
                f"follows below)\nForskningsarbejdsmappe / research workspace: {self.workspace}\n"
                f"Forskningssnapshots / research snapshots: {self.snapshots} (${RESEARCH_DIR_ENV})\n"
                f"{mode_notice(self.mode, name)}\nstop med / stop with Ctrl+C")


def _setting_value(config: Config, name: str) -> str:
    value = getattr(config, name)
    if isinstance(value, Path):
        return str(value.resolve())
    if name == "standards":
        return ",".join(f"{k}={v}" for k, v in value.items())
    if name == "programmes":
        return ",".join(value)
    return str(value)


def lab_launch(config: Config, *, port: int, open_browser: bool = True, token: str | None = None,
               account: Account | None = None) -> LabLaunch:
    """The JupyterLab command line and environment for ``config`` (nothing is started or made).

    ``account``: the research account it will run as (root start); None: the current user."""
    root = workspace_root(config)
    snapshots = snapshots_folder(config)
    python = os.path.abspath(config.lab_python)  # not resolved: a venv's python is a link into its base
    if account is not None:
        # Nothing of root's environment but the locale: its HOME, Jupyter folders and secrets stay.
        env = {k: os.environ[k] for k in KEPT_FOR_ACCOUNT if k in os.environ}
        jupyter = root / JUPYTER
        env.update(HOME=str(root), USER=account.name, LOGNAME=account.name,
                   SHELL="/bin/bash" if Path("/bin/bash").exists() else "/bin/sh",
                   JUPYTER_CONFIG_DIR=str(jupyter), JUPYTER_DATA_DIR=str(jupyter / "data"))
        runtime, path = jupyter / "runtime", SYSTEM_PATH
        owner_uid = account.uid
    else:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HJERTEKOM_")}  # e.g. HJERTEKOM_PASSWORD
        runtime, path = Path(jupyter_runtime_dir()), env.get("PATH", SYSTEM_PATH)
        owner_uid = os.geteuid()
    private_runtime = not kernel_sockets.fits(runtime)
    if private_runtime:  # too deep for the kernels' socket paths: a short private folder instead
        runtime = Path("/tmp") / f"hjertekom-lab-{owner_uid}"  # noqa: S108 - made 0700 for its owner alone
    env["JUPYTER_RUNTIME_DIR"] = str(runtime)
    # lab_python's folder first on PATH, so that "python" in a kernel spec is that Python too.
    env["PATH"] = os.pathsep.join([str(Path(python).parent), path])
    env[RESEARCH_DIR_ENV] = str(snapshots)
    by_name = {s.name: s for s in SETTINGS}
    for name in KERNEL_SETTINGS:
        env[by_name[name].env] = _setting_value(config, name)
    if token is not None:  # in the environment, not on the command line that every account can read
        env["JUPYTER_TOKEN"] = token
    argv = [python, "-m", "jupyterlab",
            f"--ServerApp.root_dir={root}",  # the workspace, nothing above it
            "--ContentsManager.allow_hidden=False",  # .jupyter/ and other dot files are not served
            "--ServerApp.ip=127.0.0.1",  # this machine only
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",  # the address printed is the address served
            "--KernelManager.transport=ipc",  # kernels on Unix sockets in the runtime folder
            f"--ServerApp.open_browser={open_browser}",
            f"--LabApp.default_url=/lab/tree/{NOTEBOOKS}"]
    return LabLaunch(argv, env, f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOKS}", root, snapshots, account,
                     runtime, private_runtime)


def ensure_research_snapshot(ws: Workspace, user: User, fresh: bool = False, *,
                             owner: Owner | None = None) -> tuple[Path, bool]:
    """The newest pseudonymised snapshot in the workspace's snapshots/ folder, made first if there is
    none (or ``fresh``); (path, made). A new one is written in a private folder in the data folder and
    then moved in as ``owner``'s file (default: the current user), never written through the
    workspace, whose files the research account controls."""
    folder = snapshots_folder(ws.config)
    found = None if fresh else newest_snapshot(folder, pseudonymised=True)
    from hjertekom_core.citizen_erasure import predates_rights_change

    # One made before a restriction or erasure may still hold that citizen: a new one instead.
    if found is not None and not predates_rights_change(ws.store, found):
        return found, False
    owner = owner or Owner.me()
    if not folder.is_dir():
        prepare_workspace(ws.config, owner)
    with staging_folder(ws.config) as staging:
        info = create_audited_snapshot(ws.store, ws.contracts, staging, user, pseudonymise=True,
                                       key_file=ws.config.pseudonym_key_file, by="lab",
                                       indicator_settings=settings_from_config(ws.config))  # dates: the default
        return install_snapshot(info.path, folder, owner), True


def _check_python_for(account: Account, launch: LabLaunch, config: Config) -> None:
    """LabRefused unless ``account`` can run lab_python with JupyterLab, enter the workspace, read none
    of the protected paths and not connect to a server database without its password (all checked
    as that account, with the lab's environment)."""
    python = Path(launch.argv[0])
    problem = probe(account, python, launch.workspace, protected_paths(config), launch.env,
                    None if config.is_sqlite else config.database_url)
    if problem is not None:
        raise LabRefused(explain(problem, account, python, launch.workspace))


def _start(launch: LabLaunch) -> None:
    """Become JupyterLab (POSIX: exec, so Ctrl+C and signals reach it directly), as its account."""
    if launch.account is not None:
        become(launch.account)  # for good: root cannot be taken back after this
    os.chdir(launch.workspace)
    os.umask(0o077)  # notebooks, outputs and checkpoints: their owner only
    if os.name == "posix":
        os.execve(launch.argv[0], launch.argv, launch.env)  # noqa: S606 - our own argv, no shell
    raise SystemExit(subprocess.call(launch.argv, env=launch.env))  # noqa: S603  # pragma: no cover - not POSIX


@click.command()
@click.option("--port", type=click.IntRange(1, 65535), default=8888, show_default=True)
@click.option("--fresh", is_flag=True, help="Make a new pseudonymised snapshot first, even if one exists.")
@click.option("--browser/--no-browser", default=True, show_default=True, help="Open a web browser.")
@click.option("--dry-run", is_flag=True, help="Print the command line, the workspace and who it runs as; "
              "start and make nothing.")
@click.option("--allow-root", is_flag=True, hidden=True,
              help="No longer needed: started by root, the lab runs as the research account.")
@user_option
@click.pass_context
@friendly_errors
def lab(ctx: click.Context, port: int, fresh: bool, browser: bool, dry_run: bool, allow_root: bool,
        username: str | None) -> None:
    """JupyterLab on the research workspace, with pseudonymised snapshots only."""
    config = load_config(ctx.ensure_object(dict).get("config_file"))
    check_separation(config)
    mode = lab_mode()
    data = Path(config.data_dir)
    if mode == FOLDER and data.exists() and not os.access(data, os.R_OK | os.X_OK):
        raise LabRefused(f"Denne konto kan ikke læse datamappen {data}; start `hjertekom lab` som root, så kører "
                         "den selv som forskerkontoen / this account cannot read the data folder: start "
                         "`hjertekom lab` as root, and it runs as the research account itself")
    if dry_run:
        account = None
        if mode == ACCOUNT:  # the account is not made by a dry run; a stand-in shows the name
            account = Account.lookup(check_name(config.lab_account)) or Account(config.lab_account, -1, -1, ())
        launch = lab_launch(config, port=port, open_browser=browser, account=account)
        click.echo(" ".join(launch.argv))
        click.echo(f"{RESEARCH_DIR_ENV}={launch.snapshots}")
        click.echo(f"workspace={launch.workspace}")
        click.echo(f"run_as={account.name if account is not None else Account.current().name}")
        click.echo(mode_notice(mode, config.lab_account))
        return
    ws = workspace(ctx)
    user = acting_user(ws, username)
    audit.require(ws.store, user, "snapshot.pseudonymised", "lab")
    account = ensure_account(config.lab_account) if mode == ACCOUNT else None
    owner = Owner.of(account) if account is not None else Owner.me()
    if account is not None:
        lock_data_folder(config, account)
    prepare_workspace(config, owner)
    path, made = ensure_research_snapshot(ws, user, fresh, owner=owner)
    launch = lab_launch(config, port=port, open_browser=browser, account=account)
    if launch.private_runtime:
        runtime_folder(owner)
    if account is not None:
        _check_python_for(account, launch, config)
    with ws.store.write() as conn:
        audit.record(conn, user, "lab.start", "snapshot", path.name, None,
                     {"port": port, "mode": mode, "run_as": account.name if account is not None else None})
    ws.store.dispose()
    click.echo(("Ny pseudonymiseret snapshot / new pseudonymised snapshot: " if made else
                "Nyeste pseudonymiserede snapshot / newest pseudonymised snapshot: ") + str(path))
    click.echo(launch.describe())
    sys.stdout.flush()
    _start(launch)
