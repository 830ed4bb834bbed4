"""Serving the entry app with Voilà: configuration in one place (``voila_config``).

- Identity: ``HjerteKomIdentityProvider`` (login page or trusted proxy header); the kernel gets a
  signed identity through ``http_header_envs`` (see auth.py), which works with preheated kernels
  (Voilà refuses ``prelaunch_hook`` together with ``preheat_kernel``).
- The browser may only talk to widgets: ``allowed_message_types`` lets comm and kernel-info
  messages through and drops ``execute_request``, so nobody can run code in a kernel.
- Kernels of closed tabs are shut down: Voilà 0.5.13's shutdown beacon carries the _xsrf token
  only when the page has that cookie, and is refused by Jupyter Server without it, so a
  replacement handler accepts it from a signed-in user.
  Idle culling never culls a connected (open) form (``cull_connected=False``).
- Kernels talk to the server over Unix sockets (``transport = "ipc"``) in Voilà's private (0700)
  folder of connection files, never over TCP (why: hjertekom_core/kernel_sockets.py).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.base.handlers import APIHandler
from tornado import web
from traitlets.config import Config as TraitletsConfig
from voila.app import Voila
from voila.shutdown_kernel_handler import VoilaShutdownKernelHandler

from hjertekom_core import kernel_sockets
from hjertekom_core.bootstrap import ensure_secret, open_workspace
from hjertekom_core.config import Config
from hjertekom_widgets.auth import IDENTITY_HEADER, AccountCache, HjerteKomIdentityProvider
from hjertekom_widgets.feedback_api import ROUTE as FEEDBACK_ROUTE
from hjertekom_widgets.feedback_api import SERVER_URL_ENV, FeedbackHandler
from hjertekom_widgets.reports_api import ROUTES as REPORT_ROUTES
from hjertekom_widgets.reports_api import ReportHandler
from hjertekom_widgets.session import SESSION_KEY_ENV

log = logging.getLogger(__name__)

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "entry.ipynb"

# What the browser may send to a kernel: widgets' comm traffic and the handshake, nothing that runs code.
ALLOWED_MESSAGE_TYPES = ["comm_open", "comm_msg", "comm_close", "comm_info_request", "kernel_info_request"]


class ShutdownKernelHandler(APIHandler):
    """Shut down the kernel of a closed tab (Voilà's beacon, which cannot carry the _xsrf token)."""

    def check_xsrf_cookie(self) -> None:
        # The beacon is a cookie-authenticated POST naming an unguessable kernel id; the only
        # effect is closing that kernel, so the missing token does not open a real hole.
        return None

    @web.authenticated
    async def post(self, kernel_id: str) -> None:
        if kernel_id in self.kernel_manager:
            await ensure_async(self.kernel_manager.shutdown_kernel(kernel_id))
        self.set_status(204)
        self.finish()


class HjerteKomVoila(Voila):
    name = "hjertekom-voila"

    def init_handlers(self) -> list[Any]:
        handlers = super().init_handlers()
        handlers = [(h[0], ShutdownKernelHandler, *h[2:]) if h[1] is VoilaShutdownKernelHandler else h
                    for h in handlers]
        # Ours come before Voilà's catch-all "/(.*)".
        return [(FEEDBACK_ROUTE, FeedbackHandler), *REPORT_ROUTES, *handlers]


def _absolute_environment(config: Config) -> None:
    """Kernels start in notebooks/ and inherit this environment: make every path absolute."""
    data_dir = config.data_dir.resolve()
    os.environ["HJERTEKOM_DATA_DIR"] = str(data_dir)
    url = config.database_url
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        url = f"sqlite:///{Path(url[len('sqlite:///'):]).resolve()}"
    os.environ["HJERTEKOM_DATABASE_URL"] = url
    os.environ["HJERTEKOM_CONTRACTS_DIR"] = str(Path(config.contracts_dir).resolve())
    assert config.log_file is not None
    os.environ["HJERTEKOM_LOG_FILE"] = str(Path(config.log_file).resolve())
    os.environ["HJERTEKOM_CLUSTERS_FILE"] = str(Path(config.clusters_file).resolve())
    os.environ["HJERTEKOM_REPORTS_DIR"] = str(Path(config.reports_dir).resolve())
    if config.pseudonym_key_file is not None:
        os.environ["HJERTEKOM_PSEUDONYM_KEY_FILE"] = str(Path(config.pseudonym_key_file).resolve())
    if os.environ.get("HJERTEKOM_CONFIG"):
        os.environ["HJERTEKOM_CONFIG"] = str(Path(os.environ["HJERTEKOM_CONFIG"]).resolve())


def voila_config(config: Config, port: int, *, preheat: bool = True, pool_size: int = 2,
                 trusted_header: str = "") -> TraitletsConfig:
    c = TraitletsConfig()
    c.Voila.ip = "127.0.0.1"
    c.Voila.port = port
    c.Voila.port_retries = 0  # kernels are told this port (feedback): never drift to another
    c.Voila.open_browser = False
    c.Voila.identity_provider_class = HjerteKomIdentityProvider
    c.Voila.cookie_secret = ensure_secret(config.data_dir.resolve() / "cookie.secret")  # sessions survive a restart
    c.HjerteKomIdentityProvider.trusted_header = trusted_header
    c.VoilaConfiguration.http_header_envs = [IDENTITY_HEADER]
    c.VoilaConfiguration.show_tracebacks = False
    c.VoilaConfiguration.preheat_kernel = preheat
    c.VoilaConfiguration.default_pool_size = pool_size
    c.VoilaConfiguration.file_allowlist = []      # serve no files from the notebook folder
    c.MappingKernelManager.allowed_message_types = ALLOWED_MESSAGE_TYPES
    c.KernelManager.transport = "ipc"  # sockets beside the connection file, in a 0700 folder
    # Voilà makes a private (0700) voila_XXXXXXXX folder below this root for each server.
    c.Voila.connection_dir_root = kernel_sockets.temp_root("voila_XXXXXXXX")
    c.MappingKernelManager.cull_idle_timeout = 4 * 3600
    c.MappingKernelManager.cull_interval = 300
    c.MappingKernelManager.cull_connected = False  # an open form is connected: never culled
    return c


def serve(config: Config, port: int = 8866, *, preheat: bool = True, pool_size: int = 2,
          trusted_header: str = "") -> None:
    """Serve the entry app until interrupted."""
    _absolute_environment(config)
    workspace = open_workspace(config)
    key_file = config.data_dir.resolve() / "session.key"
    HjerteKomIdentityProvider.accounts = AccountCache(workspace.store)
    HjerteKomIdentityProvider.identity_key = ensure_secret(key_file)
    os.environ[SESSION_KEY_ENV] = str(key_file)
    os.environ[SERVER_URL_ENV] = f"http://127.0.0.1:{port}/"
    FeedbackHandler.workspace = workspace
    ReportHandler.workspace = workspace
    assert config.pseudonym_key_file is not None
    ensure_secret(config.pseudonym_key_file)
    app = HjerteKomVoila(config=voila_config(config, port, preheat=preheat, pool_size=pool_size,
                                             trusted_header=trusted_header))
    app.initialize([str(NOTEBOOK)])
    log.info("entry app at http://127.0.0.1:%d/", port)
    app.start()
