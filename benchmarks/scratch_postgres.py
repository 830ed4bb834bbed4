"""A PostgreSQL server of the benchmark's own, sized as docs/deployment.md says a region's server
must be (``max_connections``), started from the machine's PostgreSQL binaries in a temporary folder.

Why: the hosted load at 100 clinicians needs more connections than the default 100 of the machine's
shared server (about 15 per host plus one per open page and preheated kernel). Raising that server's
setting would change the machine for everyone; a server of its own is what an operator following
the deployment guide runs. It keeps the defaults that matter for the figures (fsync and
synchronous_commit on), so a commit costs what it costs in production.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ADMINISTRATION_CONNECTIONS = 20  # psql, monitoring, migrations (docs/deployment.md)
CONNECTIONS_PER_HOST = 15        # a server's pool: 5 idle, up to 15 busy


def connections_needed(hosts: int, clinicians: int, preheated_per_host: int) -> int:
    """docs/deployment.md's rule: 15 per host + one per open page + the preheated kernels + 20."""
    return CONNECTIONS_PER_HOST * hosts + clinicians + preheated_per_host * hosts + ADMINISTRATION_CONNECTIONS


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("no PostgreSQL binaries (initdb) on this machine")
    return Path(initdb).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def scratch_postgres(max_connections: int) -> Iterator[str]:
    """Start a server; yield its admin URL (user postgres, trust on 127.0.0.1 only); stop and delete it."""
    bin_dir = _bin_dir()
    folder = Path(tempfile.mkdtemp(prefix="hjertekom_pg_"))
    # PostgreSQL refuses to run as root: then the cluster belongs to the system's postgres account.
    prefix: list[str] = []
    if os.geteuid() == 0:
        account = pwd.getpwnam("postgres")
        os.chown(folder, account.pw_uid, account.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", _free_port()
    log = folder / "server.log"
    subprocess.run([*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",  # noqa: S603
                    "-E", "UTF8", "--no-sync"], check=True, capture_output=True)
    options = (f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections={max_connections}")
    try:
        subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options,  # noqa: S603
                        "-w", "-t", "60", "start"], check=True, capture_output=True)
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w",  # noqa: S603
                            "stop"], check=False, capture_output=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
