"""Serving the entry app with Voilà: configuration and wiring in one place (``voila_config``, ``serve``).

- Identity: ``HjerteKomIdentityProvider`` (login page or trusted proxy, auth.py); sessions in the
  store; the security state of the process in one ``Guard`` (guard.py).
- Every route needs a session, and a kernel answers only the session it serves
  (web_handlers.py: ``secure_routes``, ``KernelAuthorizer``); a route Voilà adds that we do not
  know stops the server from starting.
- The browser may only talk to widgets: ``allowed_message_types`` lets comm and kernel-info
  messages through and drops ``execute_request`` and ``shutdown_request``, so nobody can run code in
  a kernel or restart it. (Voilà passes its own list, with ``shutdown_request``, to the kernel
  manager's constructor, which beats configuration; ours is set on the manager afterwards.)
- Kernels talk to the server over Unix sockets (``transport = "ipc"``) in Voilà's private (0700)
  folder, never over TCP (why: hjertekom_core/kernel_sockets.py); the server's API for its kernels
  is a Unix socket in the same folder (internal_api.py).
- Kernels die with their session (logout, idle timeout, deactivation) and with their page (closed,
  or gone without a word: no heartbeat); the sweep runs every ``SWEEP_SECONDS``.
- ``/healthz`` and ``/metrics`` (monitoring.py). SIGTERM drains (``HjerteKomVoila.drain``): new
  pages get 503, open pages are told that the server restarts (their input is autosaved), saves in
  flight finish, then the kernels stop; the process is gone within ``STOP_SECONDS``.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from jupyter_core.utils import ensure_async, run_sync
from tornado.ioloop import PeriodicCallback
from traitlets.config import Config as TraitletsConfig
from voila.app import Voila

from hjertekom_core import kernel_sockets
from hjertekom_core.bootstrap import ensure_secret, open_workspace
from hjertekom_core.config import Config
from hjertekom_core.contract.schema_check import CHECKED_ENV
from hjertekom_widgets.admin_pages import ROUTES as ADMIN_ROUTES
from hjertekom_widgets.auth import HjerteKomIdentityProvider
from hjertekom_widgets.guard import SWEEP_SECONDS, Guard
from hjertekom_widgets.internal_api import SOCKET_ENV, SOCKET_NAME, start_internal_server
from hjertekom_widgets import kernel_zygote
from hjertekom_widgets.kernel_pool import CHECK_SECONDS, GrowingPool, configured_max
from hjertekom_widgets.kernel_zygote import ZYGOTE_ENV, ZYGOTE_SOCKET_NAME, Zygote
from hjertekom_widgets.monitoring import SETTINGS_KEY, Monitor
from hjertekom_widgets.reports_api import ROUTES as REPORT_ROUTES
from hjertekom_widgets import activity_watch, page_config_cache, static_path_cache, template_cache
from hjertekom_widgets.web_handlers import (
    HEALTH_ROUTE,
    METRICS_ROUTE,
    SESSION_ROUTE,
    HealthHandler,
    KernelAuthorizer,
    MetricsHandler,
    SessionHandler,
    secure_routes,
)

log = logging.getLogger(__name__)

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "entry.ipynb"
#: Our Voilà template (the lab template plus the page script), found through JUPYTER_PATH.
SHARE = Path(__file__).resolve().parent / "share"
TEMPLATE = "hjertekom"

# What the browser may send to a kernel: widgets' comm traffic and the handshake, nothing that runs code.
ALLOWED_MESSAGE_TYPES = ["comm_open", "comm_msg", "comm_close", "comm_info_request", "kernel_info_request"]

#: After SIGTERM the process is gone within this time (systemd's TimeoutStopSec is longer).
STOP_SECONDS = 10.0
#: Of which at most this long for open pages to hear of the restart (they ask every 5 s,
#: hjertekom.js) and for saves in flight to finish.
DRAIN_SECONDS = 6.0
#: After the last page was told: time for the input it flushes on the notice to be autosaved.
AUTOSAVE_GRACE_SECONDS = 0.7
#: After the drain, a page's kernel gets this long to stop cleanly before it is killed (its saves
#: and autosaves are done by then).
KERNEL_STOP_SECONDS = 1.0


class HjerteKomVoila(Voila):
    name = "hjertekom-voila"
    guard: Guard | None = None  # set by serve()
    monitor: Monitor | None = None  # set by serve()
    zygote: Zygote | None = None  # forks the kernels (kernel_zygote.py); None: normal starts
    pool: GrowingPool | None = None  # with preheated kernels: the pool follows demand (kernel_pool.py)

    def init_settings(self) -> dict[str, Any]:
        # The kernels (preheated ones are started inside super()) inherit this environment.
        os.environ[SOCKET_ENV] = str(Path(self.connection_dir) / SOCKET_NAME)
        template_cache.install()  # the page templates compiled once, not once per page
        page_config_cache.install()  # the extensions' page configuration read once, not once per page
        static_path_cache.install()  # the template's static files found once, not at every include
        self._start_zygote()
        settings = super().init_settings()
        self.kernel_manager.allowed_message_types = list(ALLOWED_MESSAGE_TYPES)
        activity_watch.install(self.kernel_manager)  # the kernels' activity without parsing dates
        if self.guard is not None:
            self.guard.kernel_manager = self.kernel_manager
        if self.monitor is not None:
            self.monitor.kernel_manager = self.kernel_manager
            settings[SETTINGS_KEY] = self.monitor
        if self.voila_configuration.preheat_kernel:
            self.pool = GrowingPool(self.kernel_manager, self.voila_configuration.default_pool_size,
                                    max_size=configured_max())
            self.pool.install()
        return settings

    def _start_zygote(self) -> None:
        """Before the first kernel: the zygote, with this process's environment (the kernels' own)."""
        if os.environ.get(ZYGOTE_ENV, "1") == "0":
            log.info("%s=0: kernels start the normal way", ZYGOTE_ENV)
            return
        if not kernel_zygote.use_provisioner():
            return
        self.zygote = Zygote(Path(self.connection_dir) / ZYGOTE_SOCKET_NAME)
        self.zygote.start()
        kernel_zygote.ZYGOTE = self.zygote

    def init_handlers(self) -> list[Any]:
        own = [(SESSION_ROUTE, SessionHandler), (HEALTH_ROUTE, HealthHandler), (METRICS_ROUTE, MetricsHandler),
               *REPORT_ROUTES, *ADMIN_ROUTES]
        return secure_routes(super().init_handlers(), own)

    def listen(self) -> None:
        if self.guard is None:
            raise RuntimeError("HjerteKomVoila needs its guard: start it with serve()")
        start_internal_server(self.guard, os.environ[SOCKET_ENV], self.monitor)
        PeriodicCallback(self.guard.sweep, SWEEP_SECONDS * 1000).start()
        if self.pool is not None:
            PeriodicCallback(self.pool.adjust, CHECK_SECONDS * 1000).start()
        super().listen()

    # --- stopping -------------------------------------------------------------------------------------
    def _handle_signal_stop(self, sig: int, frame: Any) -> None:
        # Voilà stops the loop at once; we drain first (and a second SIGTERM changes nothing).
        self.log.info("signal %s: draining before the stop", sig)
        self.ioloop.add_callback_from_signal(self.drain)

    def _open_pages(self) -> set[str]:
        """Kernels with a page connected (an open websocket)."""
        registry = self.guard.registry if self.guard else None
        if registry is None:
            return set()
        open_pages = set()
        for session_id in registry.sessions():
            for kernel_id in registry.kernels_of(session_id):
                claim = registry.claim(kernel_id)
                if claim is not None and claim.connections > 0:
                    open_pages.add(kernel_id)
        return open_pages

    async def drain(self) -> None:
        """SIGTERM: refuse new pages, tell the open ones, let saves finish, then stop the loop."""
        monitor = self.monitor
        if monitor is None or monitor.draining:
            if monitor is None:
                self.ioloop.stop()
            return
        monitor.draining_since = time.monotonic()
        deadline = monitor.draining_since + DRAIN_SECONDS
        told_at: float | None = None
        while time.monotonic() < deadline:
            waiting_pages = self._open_pages() - monitor.told
            saving = monitor.saves_in_flight()
            if not waiting_pages and told_at is None:
                told_at = time.monotonic()
            if not waiting_pages and not saving and time.monotonic() - (told_at or 0) >= AUTOSAVE_GRACE_SECONDS:
                break
            await asyncio.sleep(0.1)
        else:
            log.warning("stopping with %d page(s) not told and %d save(s) in flight",
                        len(self._open_pages() - monitor.told), monitor.saves_in_flight())
        log.info("drained in %.1f s; stopping", time.monotonic() - monitor.draining_since)
        self.ioloop.stop()

    def stop(self) -> None:
        """After the loop: stop every kernel. A page's kernel gets ``KERNEL_STOP_SECONDS`` to stop
        cleanly; a preheated one, still waiting for its request, is ended at once (it would never
        answer)."""
        km = self.kernel_manager
        registry = self.guard.registry if self.guard else None

        async def shutdown_all() -> None:
            ids = list(km.list_kernel_ids())
            for kid in ids:
                km.get_kernel(kid).shutdown_wait_time = KERNEL_STOP_SECONDS
            await asyncio.gather(*(ensure_async(km.shutdown_kernel(kid, now=registry is None or registry.owner(kid) is None))
                                   for kid in ids), return_exceptions=True)

        started = time.monotonic()
        try:
            run_sync(shutdown_all)()
        finally:
            if self.zygote is not None:
                kernel_zygote.ZYGOTE = None
                self.zygote.stop()
            shutil.rmtree(self.connection_dir, ignore_errors=True)
            log.info("kernels stopped in %.1f s", time.monotonic() - started)


def _absolute_environment(config: Config) -> None:
    """Kernels start in notebooks/ and inherit this environment: make every path absolute."""
    data_dir = config.data_dir.resolve()
    os.environ["HJERTEKOM_DATA_DIR"] = str(data_dir)
    url = config.database_url
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        url = f"sqlite:///{Path(url[len('sqlite:///'):]).resolve()}"
    os.environ["HJERTEKOM_DATABASE_URL"] = url
    os.environ["HJERTEKOM_CONTRACTS_DIR"] = str(Path(config.contracts_dir).resolve())
    # The kernels load the server's programmes, whichever source (file, environment) named them.
    os.environ["HJERTEKOM_PROGRAMMES"] = ",".join(config.programmes)
    os.environ["HJERTEKOM_LOG_FILE"] = str(Path(config.log_file).resolve())
    os.environ["HJERTEKOM_CLUSTERS_FILE"] = str(Path(config.clusters_file).resolve())
    os.environ["HJERTEKOM_REPORTS_DIR"] = str(Path(config.reports_dir).resolve())
    if config.pseudonym_key_file is not None:
        os.environ["HJERTEKOM_PSEUDONYM_KEY_FILE"] = str(Path(config.pseudonym_key_file).resolve())
    if os.environ.get("HJERTEKOM_CONFIG"):
        os.environ["HJERTEKOM_CONFIG"] = str(Path(os.environ["HJERTEKOM_CONFIG"]).resolve())
    # Our Voilà template comes first on Jupyter's data path.
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(SHARE), os.environ.get("JUPYTER_PATH")]))


def voila_config(config: Config, port: int, *, ip: str = "127.0.0.1", preheat: bool = True, pool_size: int = 2,
                 trusted_header: str = "") -> TraitletsConfig:
    c = TraitletsConfig()
    c.Voila.ip = ip
    c.Voila.port = port
    c.Voila.port_retries = 0  # the address printed is the address served
    c.Voila.open_browser = False
    c.Voila.identity_provider_class = HjerteKomIdentityProvider
    c.Voila.authorizer_class = KernelAuthorizer
    c.Voila.cookie_secret = ensure_secret(config.data_dir.resolve() / "cookie.secret")  # sessions survive a restart
    c.HjerteKomIdentityProvider.trusted_header = trusted_header
    c.VoilaConfiguration.template = TEMPLATE
    c.VoilaConfiguration.http_header_envs = ["X-HjerteKom-Identity"]
    c.VoilaConfiguration.show_tracebacks = False
    c.VoilaConfiguration.preheat_kernel = preheat
    c.VoilaConfiguration.default_pool_size = pool_size
    c.VoilaConfiguration.file_allowlist = []      # serve no files from the notebook folder
    c.MappingKernelManager.allowed_message_types = ALLOWED_MESSAGE_TYPES
    c.KernelManager.transport = "ipc"  # sockets beside the connection file, in a 0700 folder
    # After a cell's reply, Voilà waits this long for the cell's output (nbclient's default: 4 s)
    # and then renders the page without it. With many logins at once a busy machine delays a
    # kernel's output past 4 s, and a page without its widget never showed the worklist (a lost
    # login, issue 16); waiting longer only costs time on such a machine.
    c.VoilaExecutor.iopub_timeout = 120
    # nbconvert checks the notebook against its schema after each of the exporter's dozen
    # preprocessors, for every page: once, after the last, is the same check (a twentieth of the
    # server's main thread in a wave of logins, py-spy 2026-12-07).
    c.Exporter.optimistic_validation = True
    c.VoilaExporter.language_code = "da"  # <html lang="da">: screen readers read the page as Danish
    # Voilà makes a private (0700) voila_XXXXXXXX folder below this root for each server.
    c.Voila.connection_dir_root = kernel_sockets.temp_root("voila_XXXXXXXX")
    c.MappingKernelManager.cull_idle_timeout = 4 * 3600
    c.MappingKernelManager.cull_interval = 300
    c.MappingKernelManager.cull_connected = False  # an open form is connected: never culled
    return c


def serve(config: Config, port: int = 8866, *, ip: str = "127.0.0.1", preheat: bool = True, pool_size: int = 2,
          trusted_header: str = "") -> None:
    """Serve the entry app until interrupted."""
    _absolute_environment(config)
    os.environ.pop(CHECKED_ENV, None)       # the server itself checks the contracts in full ...
    workspace = open_workspace(config)
    os.environ[CHECKED_ENV] = workspace.contracts.digest   # ... so that its kernels need not (memory)
    guard = Guard(workspace, idle=dt.timedelta(minutes=config.idle_timeout_minutes),
                  proxy_sign_in=bool(trusted_header))
    HjerteKomIdentityProvider.guard = guard
    HjerteKomIdentityProvider.trusted_proxies = tuple(config.trusted_proxies)
    if trusted_header:
        HjerteKomIdentityProvider.proxy_secret = ensure_secret(config.proxy_secret_file).hex()
    HjerteKomVoila.guard = guard
    HjerteKomVoila.monitor = Monitor.for_data_dir(config.data_dir.resolve())
    from hjertekom_widgets.reports_api import ReportHandler

    ReportHandler.workspace = workspace
    ensure_secret(config.pseudonym_key_file)
    app = HjerteKomVoila(config=voila_config(config, port, ip=ip, preheat=preheat, pool_size=pool_size,
                                             trusted_header=trusted_header))
    app.initialize([str(NOTEBOOK)])
    from hjertekom_widgets.feedback_api import warm_live_counts

    warm_live_counts(workspace)  # the indicators of every municipality, counted before the first save
    log.info("entry app at http://%s:%d/", ip, port)
    app.start()
