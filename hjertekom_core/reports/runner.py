"""Running a report notebook with papermill and turning it into a self-contained HTML page.

A report is a parameterised notebook under ``notebooks/`` (a ``parameters`` cell, then thin cells
that call the core and display). ``execute`` runs it in a kernel, ``to_html`` turns the outputs
(never the code) into one HTML file with its images inline and no script or style fetched from
anywhere: municipal networks are closed, and a report must read the same in ten years.

A kernel can be kept and reused for many runs (``KernelSession``): starting a kernel and
importing pandas, DuckDB and matplotlib costs about a second, which a batch of 98 reports would
otherwise pay 98 times. Each notebook assigns every name it uses, so a run does not see the
previous run's state in any way that matters.
"""
from __future__ import annotations

import functools
import html
import logging
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nbformat
from nbconvert import HTMLExporter

from hjertekom_core import kernel_sockets
from hjertekom_core.config import REPO_ROOT
from hjertekom_core.errors import ReportFailed
from hjertekom_core.private_files import write_private_bytes, write_private_text

log = logging.getLogger("hjertekom.reports")

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
KERNEL_NAME = "python3"
_CSS = (Path(__file__).with_name("page.css")).read_text(encoding="utf-8")


def notebook_path(name: str) -> Path:
    """``reports/municipality`` -> notebooks/reports/municipality.ipynb."""
    path = NOTEBOOKS_DIR / f"{name}.ipynb"
    if not path.is_file():
        raise FileNotFoundError(f"no report notebook {path}")
    return path


class KernelSession:
    """One started kernel and its client, running several notebooks in turn (a context manager).

    The client is kept too: papermill would otherwise make a new one per run and wait for it to
    be ready (about 0.2 s, a fifth of a municipality report).
    """

    def __init__(self, cwd: Path | None = None) -> None:
        from jupyter_client.manager import KernelManager

        # IPC sockets in a private (0700) folder, not TCP on localhost: nothing else on the machine
        # can reach a kernel that holds a citizen's data. The path is absolute because the kernel
        # runs in another working directory than its client.
        self._sockets = Path(tempfile.mkdtemp(prefix="hjertekom-kernel-",
                                              dir=kernel_sockets.temp_root("hjertekom-kernel-XXXXXXXX")))
        self.km = KernelManager(kernel_name=KERNEL_NAME, transport="ipc", ip=str(self._sockets / "k"))
        self.kc: Any = None
        self._cwd = cwd

    def __enter__(self) -> KernelSession:
        self.km.start_kernel(cwd=str(self._cwd or REPO_ROOT))
        try:
            self.kc = self.km.client()
            self.kc.start_channels()
            self.kc.wait_for_ready(timeout=120)
            self.kc.allow_stdin = False
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.kc is not None:
                self.kc.stop_channels()
            self.km.shutdown_kernel(now=True)
        finally:
            shutil.rmtree(self._sockets, ignore_errors=True)

    def alive(self) -> bool:
        return bool(self.km.has_kernel and self.km.is_alive())


@functools.cache
def _kept_client_engine() -> type:
    """A papermill engine that runs in a KernelSession's kernel through its kept client.

    papermill passes engine keyword arguments on to nbclient, which can be handed a kernel
    manager but not a client; this engine gives the notebook client the session's client before
    it starts, so nbclient neither makes nor closes one.
    """
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine

    class KeptClientEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, log_output: bool = False,
                                     stdout_file: Any = None, stderr_file: Any = None, start_timeout: int = 60,
                                     execution_timeout: int | None = None, **kwargs: Any) -> Any:
            session: KernelSession = kwargs["session"]
            client = PapermillNotebookClient(nb_man, km=session.km, timeout=execution_timeout,
                                             startup_timeout=start_timeout, kernel_name=kernel_name, log=log,
                                             log_output=log_output, stdout_file=stdout_file,
                                             stderr_file=stderr_file)
            client.kc = session.kc
            return client.execute()

    return KeptClientEngine


_ENGINE = "hjertekom-kept-kernel"


def execute(name: str, parameters: Mapping[str, Any], *, session: KernelSession | None = None,
            timeout: int = 600) -> nbformat.NotebookNode:
    """Run notebook ``name`` with ``parameters``; ReportFailed if a cell raised.

    The executed notebook stays in memory: it may hold personal data (a citizen sheet), so it is
    written nowhere; only the HTML made from it is kept.
    """
    import papermill
    from papermill.engines import papermill_engines

    if session is None:
        with KernelSession() as own:
            return execute(name, parameters, session=own, timeout=timeout)
    papermill_engines.register(_ENGINE, _kept_client_engine())  # the same class each time: idempotent
    source = nbformat.read(notebook_path(name), as_version=4)
    try:
        return papermill.execute_notebook(
            source, None, parameters=dict(parameters), engine_name=_ENGINE, kernel_name=KERNEL_NAME,
            progress_bar=False, log_output=False, execution_timeout=timeout, session=session)
    except papermill.PapermillExecutionError as exc:
        # The notebook's own exception: its type and message, without the traceback's context.
        raise ReportFailed(name, f"{exc.ename}: {exc.evalue}") from None


def to_html(nb: nbformat.NotebookNode, title: str, lang: str = "da") -> str:
    """The notebook's outputs as one HTML page: no code, no prompts, no external resources."""
    exporter = HTMLExporter(template_name="basic", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb)
    return (f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(title)}</title>\n<style>\n{_CSS}</style>\n</head>\n"
            f'<body>\n<main class="report">\n{body}\n</main>\n</body>\n</html>\n')


def write_atomically(path: Path, data: bytes | str) -> None:
    """Write to a temporary file beside ``path``, then rename: never a half-written report.

    Owner-only (0600, missing folders 0700) whatever the umask: a citizen sheet or course summary
    holds one citizen's data, and municipality reports are served by the entry app, which runs as
    the same account, so nothing needs them readable by others either.
    """
    if isinstance(data, str):
        write_private_text(path, data)
    else:
        write_private_bytes(path, data)
