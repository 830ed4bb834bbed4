"""``hjertekom lab``: JupyterLab for researchers, opened on notebooks/research.

Researchers work on pseudonymised snapshots only. The command makes one first if the research
folder holds none (or always, with ``--fresh``), then starts JupyterLab from this venv (so its
``python3`` kernel is the project's Python), on 127.0.0.1 only, rooted at the repository and
opened on notebooks/research. The kernels find the snapshots through $HJERTEKOM_RESEARCH_SNAPSHOTS,
and every path setting is passed on absolute: a notebook's kernel runs in the notebook's folder.
Pseudonymised data are still personal data: the kernels listen on Unix sockets in Jupyter's
private runtime folder, not on TCP ports (hjertekom_core/kernel_sockets.py).
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
from hjertekom_core.config import REPO_ROOT, Config
from hjertekom_core.research.cohort import RESEARCH_DIR_ENV, research_dir
from hjertekom_core.snapshot import create_audited_snapshot, newest_snapshot

NOTEBOOKS = REPO_ROOT / "notebooks" / "research"


@dataclass(frozen=True)
class LabLaunch:
    """What starting JupyterLab takes: the command line, its environment and the address."""

    argv: list[str]
    env: dict[str, str]
    url: str
    snapshots: Path

    def describe(self) -> str:
        return (f"JupyterLab: {self.url} (adressen med token skrives nedenfor / the address with its token "
                f"follows below)\nForskningssnapshots / research snapshots: {self.snapshots} "
                f"(${RESEARCH_DIR_ENV}); stop med / stop with Ctrl+C")


def lab_launch(config: Config, *, port: int, root: Path = REPO_ROOT, open_browser: bool = True,
               token: str | None = None, config_file: Path | None = None, allow_root: bool = False) -> LabLaunch:
    """The JupyterLab command line and environment for ``config`` (nothing is started)."""
    env = dict(os.environ)
    snapshots = research_dir(config)
    env[RESEARCH_DIR_ENV] = str(snapshots)
    # Absolute paths: the kernel of notebooks/research/x.ipynb runs in notebooks/research.
    env["HJERTEKOM_DATA_DIR"] = str(config.data_dir.resolve())
    env["HJERTEKOM_CONTRACTS_DIR"] = str(config.contracts_dir.resolve())
    env["HJERTEKOM_CLUSTERS_FILE"] = str(config.clusters_file.resolve())
    if config_file is not None:
        env["HJERTEKOM_CONFIG"] = str(config_file.resolve())
    if not kernel_sockets.fits(jupyter_runtime_dir()):  # $JUPYTER_RUNTIME_DIR or the default
        # A runtime folder too deep for the kernels' socket paths: a short private one instead.
        env["JUPYTER_RUNTIME_DIR"] = str(kernel_sockets.private_folder("hjertekom-lab"))
    # The venv first on PATH, so that "python" in a kernel spec is this venv's Python too.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    root = root.resolve()
    try:
        start = NOTEBOOKS.relative_to(root).as_posix()
    except ValueError:
        start = ""
    argv = [sys.executable, "-m", "jupyterlab",
            f"--ServerApp.root_dir={root}",
            "--ServerApp.ip=127.0.0.1",  # this machine only
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",  # the address printed is the address served
            "--KernelManager.transport=ipc",  # kernels on Unix sockets in the runtime folder
            f"--ServerApp.open_browser={open_browser}",
            f"--LabApp.default_url=/lab/tree/{start}" if start else "--LabApp.default_url=/lab"]
    if token is not None:
        argv.append(f"--IdentityProvider.token={token}")
    if allow_root:  # Jupyter refuses root unless told (e.g. in a container that runs as root)
        argv.append("--ServerApp.allow_root=True")
    return LabLaunch(argv, env, f"http://127.0.0.1:{port}/lab/tree/{start}", snapshots)


def ensure_research_snapshot(ws: Workspace, user: User, fresh: bool = False) -> tuple[Path, bool]:
    """The newest pseudonymised snapshot, made first if there is none (or ``fresh``); (path, made)."""
    folder = research_dir(ws.config)
    found = None if fresh else newest_snapshot(folder, pseudonymised=True)
    if found is not None:
        return found, False
    info = create_audited_snapshot(ws.store, ws.contracts, folder, user, pseudonymise=True,
                                   key_file=ws.config.pseudonym_key_file, by="lab")
    return info.path, True


def _config_file(ctx: click.Context) -> Path | None:
    given = ctx.ensure_object(dict).get("config_file") or os.environ.get("HJERTEKOM_CONFIG")
    if given:
        return Path(given)
    return Path("hjertekom.toml") if Path("hjertekom.toml").exists() else None


@click.command()
@click.option("--port", type=click.IntRange(1, 65535), default=8888, show_default=True)
@click.option("--fresh", is_flag=True, help="Make a new pseudonymised snapshot first, even if one exists.")
@click.option("--browser/--no-browser", default=True, show_default=True, help="Open a web browser.")
@click.option("--dry-run", is_flag=True, help="Print the command line and the research folder; start nothing.")
@click.option("--allow-root", is_flag=True, help="Let Jupyter run as root (containers); not recommended.")
@user_option
@click.pass_context
@friendly_errors
def lab(ctx: click.Context, port: int, fresh: bool, browser: bool, dry_run: bool, allow_root: bool,
        username: str | None) -> None:
    """JupyterLab on the research notebooks, with pseudonymised snapshots only."""
    ws = workspace(ctx)
    user = acting_user(ws, username)
    user.require("snapshot.pseudonymised")
    launch = lab_launch(ws.config, port=port, open_browser=browser, config_file=_config_file(ctx),
                        allow_root=allow_root)
    if dry_run:
        click.echo(" ".join(launch.argv))
        click.echo(f"{RESEARCH_DIR_ENV}={launch.snapshots}")
        return
    path, made = ensure_research_snapshot(ws, user, fresh)
    with ws.store.write() as conn:
        audit.record(conn, user, "lab.start", "snapshot", path.name, None, {"port": port})
    click.echo(("Ny pseudonymiseret snapshot / new pseudonymised snapshot: " if made else
                "Nyeste pseudonymiserede snapshot / newest pseudonymised snapshot: ") + str(path))
    click.echo(launch.describe())
    sys.stdout.flush()
    if os.name == "posix":  # become JupyterLab: Ctrl+C and signals reach it directly
        os.execve(launch.argv[0], launch.argv, launch.env)
    raise SystemExit(subprocess.call(launch.argv, env=launch.env))  # pragma: no cover - not POSIX
