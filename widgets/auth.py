"""Who is signed in: a Jupyter Server identity provider for the Voilà entry app.

Embedded set-up: a Danish login page against the project's users (argon2id passwords, throttled),
the session id in a signed, http-only cookie and the session itself in the store
(``hjertekom_core.web_sessions``): ended at logout, after the idle timeout, after 12 hours, or when
the user is deactivated. Hosted set-up: the username from the header of an authenticating reverse
proxy (``trusted_header``), believed only from the configured proxy addresses and only with the
proxy's shared secret; the server then keeps a session of its own for that user, as at a login.

How a kernel learns who its user is: the page handler (web_handlers.PageHandler) issues an opaque
token that means something only to this server, only while the session lives and only on the
server's private socket (internal_api.py). Nothing the browser sends can become an identity, and
the kernel runs no code the browser sends (see server.py).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hmac
import html
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.auth.identity import IdentityProvider
from jupyter_server.auth.identity import User as JupyterUser
from tornado import web
from tornado.ioloop import IOLoop
from traitlets import Unicode

from hjertekom_core import web_sessions
from hjertekom_core.access import User
from hjertekom_core.errors import AuthenticationFailed, LoginLocked, WeakPassword
from hjertekom_core.store import Store
from hjertekom_core.users import UserAdminRefused, authenticate, change_own_password, must_change_password
from hjertekom_widgets.client_address import client_address, is_trusted_proxy
from hjertekom_widgets.guard import Guard
from hjertekom_widgets.text import t
from hjertekom_widgets.web_handlers import IDENTITY_HEADER, HjerteKomHandler

log = logging.getLogger(__name__)

COOKIE_NAME = "hjertekom-session"
PROXY_SECRET_HEADER = "X-HjerteKom-Proxy-Secret"


@dataclass
class SessionUser(JupyterUser):
    """Jupyter's user, with the server session it came through (kernels belong to sessions)."""

    session_id: str = ""


class HjerteKomIdentityProvider(IdentityProvider):
    """Jupyter Server identity from the HjerteKom sessions (or a trusted proxy's header)."""

    trusted_header = Unicode(
        "", config=True,
        help="Hosted set-up: take the username from this request header, set by a trusted reverse "
             "proxy that authenticates users (e.g. X-Forwarded-User). Empty: the embedded login page.")

    # Set by hjertekom_widgets.server before Voilà starts (one process, one store).
    guard: Guard | None = None
    proxy_secret: str = ""
    trusted_proxies: tuple[str, ...] = ("127.0.0.1",)

    def the_guard(self) -> Guard:
        """The server's guard; a server without one was never set up by ``serve()``."""
        if self.guard is None:
            raise RuntimeError("the entry app's identity provider has no guard: start it with hjertekom serve")
        return self.guard

    @property
    def auth_enabled(self) -> bool:
        return True

    @property
    def login_available(self) -> bool:
        return not self.trusted_header

    @property
    def logout_available(self) -> bool:
        return True

    def get_cookie_name(self, handler: web.RequestHandler) -> str:
        return COOKIE_NAME

    def session_id(self, handler: web.RequestHandler) -> str | None:
        max_days = web_sessions_max_days(self.guard)
        raw = handler.get_secure_cookie(COOKIE_NAME, max_age_days=max_days)
        return raw.decode() if raw else None

    async def start_session(self, handler: web.RequestHandler, user: User) -> str:
        """A new session for ``user`` and its cookie. The session row is written in a worker thread:
        a store write on the server's one event loop holds up every page's kernel messages (in a
        wave of logins it was 8% of the loop's time, py-spy 2026-12-07)."""
        guard = self.the_guard()
        session_id = await guard.off_loop(web_sessions.open_session, guard.store, user)
        handler.set_secure_cookie(COOKIE_NAME, session_id, expires_days=None, httponly=True,
                                  secure=_is_https(handler, self.trusted_proxies), samesite="Strict",
                                  path=handler.base_url)  # type: ignore[attr-defined]
        return session_id

    async def end_session(self, handler: web.RequestHandler, reason: str = web_sessions.LOGOUT) -> None:
        """Log out: the session row, its tokens and every kernel of that login."""
        session_id = self.session_id(handler)
        if session_id and self.guard is not None:
            await self.guard.end(session_id, reason)
        handler.clear_cookie(COOKIE_NAME, path=handler.base_url)  # type: ignore[attr-defined]

    def get_handlers(self) -> list[tuple[str, object]]:
        # Behind an authenticating proxy there is no login form: a request that reaches the
        # server without the proxy's header is refused rather than sent round in a redirect loop.
        login = LoginHandler if self.login_available else ProxyLoginHandler
        return [(r"/login", login), (r"/logout", LogoutHandler)]

    async def get_user(self, handler: web.RequestHandler) -> SessionUser | None:  # type: ignore[override]
        # Whatever the browser sent under our header is never an identity.
        if IDENTITY_HEADER in handler.request.headers:
            del handler.request.headers[IDENTITY_HEADER]
        if self.guard is None:
            return None
        if self.trusted_header:
            found = await self._proxy_session(handler)
        else:
            found = await self._cookie_session(handler)
        if found is None:
            return None
        account, session_id = found
        return SessionUser(username=account.username, name=account.display_name,
                           display_name=account.display_name, session_id=session_id)

    async def _cookie_session(self, handler: web.RequestHandler) -> tuple[User, str] | None:
        session_id = self.session_id(handler)
        if not session_id:
            return None
        # A passive check (the page asking whether it is still signed in) is not use of the session.
        state = await self.the_guard().state_off_loop(
            session_id, touch=not getattr(handler, "passive_session_check", False))
        if state.user is None:
            handler.hk_session_ended = state.ended  # type: ignore[attr-defined]
            return None
        if state.user.role == "researcher":  # researchers never use the entry app
            return None
        return state.user, session_id

    async def _proxy_session(self, handler: web.RequestHandler) -> tuple[User, str] | None:
        """The proxy's user, if the request came from the proxy; our session for that user."""
        guard = self.the_guard()
        request = handler.request
        username = request.headers.get(self.trusted_header) or None
        if username is None:
            return None
        secret = request.headers.get(PROXY_SECRET_HEADER, "")
        if not is_trusted_proxy(request.remote_ip, self.trusted_proxies):
            guard.deny(username, "proxy.identity", "request", request.path, "not from a trusted proxy",
                       client_address(handler))
            return None
        if not self.proxy_secret or not hmac.compare_digest(secret.encode(), self.proxy_secret.encode()):
            guard.deny(username, "proxy.identity", "request", request.path, "wrong or missing proxy secret",
                       client_address(handler))
            return None
        account = guard.accounts.get(username)
        if account is None or account.role == "researcher":
            return None
        session_id = self.session_id(handler)
        if session_id:
            state = await guard.state_off_loop(session_id, touch=not getattr(handler, "passive_session_check", False))
            if state.user is not None and state.user.username == username:
                return state.user, session_id
            if state.user is not None:  # the proxy now names someone else: the old session ends
                web_sessions.end_session(guard.store, session_id, web_sessions.REPLACED)
            elif getattr(handler, "passive_session_check", False):
                handler.hk_session_ended = state.ended  # type: ignore[attr-defined]
                return None
        return account, await self.start_session(handler, account)


def web_sessions_max_days(guard: Guard | None) -> float:
    return (guard.max_age.total_seconds() if guard else 12 * 3600) / 86400


def _is_https(handler: web.RequestHandler, trusted_proxies: tuple[str, ...]) -> bool:
    """The browser's connection is TLS: ours, or the trusted proxy's (it says so in a header)."""
    if handler.request.protocol == "https":
        return True
    return is_trusted_proxy(handler.request.remote_ip, trusted_proxies) and \
        handler.request.headers.get("X-Forwarded-Proto", "").lower() == "https"


# --- login and logout pages -----------------------------------------------------------------------

def _safe_next(value: str | None, base_url: str) -> str:
    """Only a path on this server: never another site (open redirect)."""
    if not value:
        return base_url
    parsed = urlparse(value)
    if parsed.scheme or parsed.netloc or not value.startswith("/") or value.startswith("//"):
        return base_url
    return value


_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; background: #f4f6f8; margin: 0; }}
main {{ max-width: 380px; margin: 12vh auto; background: #fff; padding: 32px; border-radius: 8px;
        box-shadow: 0 1px 4px rgba(0,0,0,.15); }}
h1 {{ font-size: 1.4em; margin-top: 0; color: #8b1e2d; }}
label {{ display: block; margin-top: 14px; font-weight: 600; }}
input {{ width: 100%; box-sizing: border-box; padding: 8px; font-size: 1em; margin-top: 4px; }}
button {{ margin-top: 20px; width: 100%; padding: 10px; font-size: 1em; background: #8b1e2d; color: #fff;
          border: 0; border-radius: 4px; cursor: pointer; }}
.error {{ color: #b00020; margin-top: 14px; }}
.info {{ color: #333; margin-top: 14px; }}
</style></head><body><main>
<h1>HjerteKom</h1>
{body}
</main>
<script>
// A bookmarked view (#/forloeb/12/start) survives the login: the browser keeps a request's
// fragment across the redirect after the POST, so the form's address carries it. Only the
// app's own address shapes are carried (widgets/routes.py).
if (new RegExp("^#/[a-z0-9_/-]{{0,80}}$").test(location.hash)) {{
  for (const form of document.querySelectorAll("form")) form.action += location.hash;
}}
</script></body></html>"""


class LoginHandler(HjerteKomHandler):
    """The embedded login page (Danish). Every failure gets the same answer and, through the
    throttle, a growing delay; a locked login says so and until when."""

    def _render(self, message: str = "", status: int = 200) -> None:
        xsrf = self.xsrf_form_html()
        nxt = html.escape(_safe_next(self.get_argument("next", None), self.base_url))
        error = f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
        info = f'<p class="info" role="status">{t("logged_out")}</p>' if self.get_argument("ud", None) else ""
        body = f"""{info}<p>{t("login_intro")}</p>
<form method="post" action="{html.escape(self.base_url)}login?next={nxt}" autocomplete="on">
{xsrf}
<label for="username">{t("username")}</label>
<input id="username" name="username" autocomplete="username" required autofocus>
<label for="password">{t("password")}</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
{error}
<button type="submit" id="login">{t("log_in")}</button>
</form>
<p class="note">{t("login_researcher_note")}</p>"""
        self.set_status(status)
        self.set_header("Cache-Control", "no-store")
        self.finish(_PAGE.format(lang="da", title=t("log_in"), body=body))

    @allow_unauthenticated
    def get(self) -> None:
        if self.current_user:
            self.redirect(_safe_next(self.get_argument("next", None), self.base_url))
            return
        self._render()

    def _render_change(self, username: str, message: str = "", status: int = 200) -> None:
        """"Skift adgangskode": after an administrator's reset, before anything else (no session
        exists until the new password is chosen; the form proves the old one again)."""
        nxt = html.escape(_safe_next(self.get_argument("next", None), self.base_url))
        error = f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
        body = f"""<h2 id="hk-change-password">{t("pw_change.title")}</h2><p>{t("pw_change.intro")}</p>
<form method="post" action="{html.escape(self.base_url)}login?next={nxt}" autocomplete="off">
{self.xsrf_form_html()}
<input type="hidden" name="step" value="change">
<input type="hidden" name="username" value="{html.escape(username)}">
<label for="old_password">{t("pw_change.old")}</label>
<input id="old_password" name="old_password" type="password" autocomplete="current-password" required autofocus>
<label for="new_password">{t("pw_change.new")}</label>
<input id="new_password" name="new_password" type="password" autocomplete="new-password" required>
<label for="repeat_password">{t("pw_change.repeat")}</label>
<input id="repeat_password" name="repeat_password" type="password" autocomplete="new-password" required>
<p class="info">{t("pw_change.policy")}</p>
{error}
<button type="submit" id="change-password">{t("pw_change.submit")}</button>
</form>"""
        self.set_status(status)
        self.set_header("Cache-Control", "no-store")
        self.finish(_PAGE.format(lang="da", title=t("pw_change.title"), body=body))

    async def _change_password(self, username: str) -> None:
        """The second step: the old password again, the new one twice; then the session starts."""
        provider: HjerteKomIdentityProvider = self.identity_provider  # type: ignore[assignment]
        guard = provider.the_guard()
        config = guard.workspace.config
        address = client_address(self)
        try:
            user = change_own_password(guard.store, username, self.get_body_argument("old_password", ""),
                                       self.get_body_argument("new_password", ""),
                                       self.get_body_argument("repeat_password", ""), address=address,
                                       max_failures=config.login_max_failures,
                                       lockout=_minutes(config.login_lockout_minutes))
        except LoginLocked as locked:
            _log_failure(address, locked)
            await asyncio.sleep(locked.delay_seconds)
            return self._render(t("login_locked", until=_local_time(locked.until)), status=429)
        except AuthenticationFailed as failed:
            _log_failure(address, failed)
            await asyncio.sleep(failed.delay_seconds)
            return self._render_change(username, t("pw_change.old_wrong"), status=403)
        except (UserAdminRefused, WeakPassword) as refused:
            return self._render_change(username, refused.messages["da"], status=400)
        if user.role == "researcher":  # as at the login: researchers do not use data entry
            guard.deny(user.username, "entry_app.login", "user", user.id, "researchers do not use data entry",
                       address)
            return self._render(t("login_failed"), status=403)
        await provider.start_session(self, user)
        self.redirect(_safe_next(self.get_argument("next", None), self.base_url))

    @allow_unauthenticated
    async def post(self) -> None:
        username = self.get_body_argument("username", "").strip()
        if self.get_body_argument("step", "") == "change":
            return await self._change_password(username)
        password = self.get_body_argument("password", "")
        provider: HjerteKomIdentityProvider = self.identity_provider  # type: ignore[assignment]
        guard = provider.the_guard()
        address = client_address(self)  # behind nginx: the browser's, not nginx's (client_address.py)
        try:
            # In a worker thread: the password hash takes about 0.1 to 0.3 s of CPU (argon2 releases
            # the GIL), which would hold up every other request and websocket of the server.
            user, change_first = await IOLoop.current().run_in_executor(None, functools.partial(
                _signed_in, guard.store, username, password, address=address,
                max_failures=guard.workspace.config.login_max_failures,
                lockout=_minutes(guard.workspace.config.login_lockout_minutes)))
            if user.role == "researcher":  # the same answer as a wrong password: no oracle
                guard.deny(user.username, "entry_app.login", "user", user.id, "researchers do not use data entry",
                           address)
                raise AuthenticationFailed()
        except AuthenticationFailed as failed:
            _log_failure(address, failed)
            # The throttle's growing delay, without holding up anyone else's requests.
            await asyncio.sleep(failed.delay_seconds)
            if isinstance(failed, LoginLocked):
                self._render(t("login_locked", until=_local_time(failed.until)), status=429)
            else:
                self._render(t("login_failed"), status=403)
            return
        if change_first:  # reset by an administrator: a new one first
            return self._render_change(username)
        log.info("login of user %s from %s", user.id, address or "?")  # the id: no name in the log
        await provider.start_session(self, user)
        self.redirect(_safe_next(self.get_argument("next", None), self.base_url))


def _signed_in(store: Store, username: str, password: str, **throttle: Any) -> tuple[User, bool]:
    """``authenticate``, and whether the user must change the password first: both store round
    trips in the one worker thread, off the event loop."""
    user = authenticate(store, username, password, **throttle)
    return user, must_change_password(store, user.id)


def _log_failure(address: str | None, failed: AuthenticationFailed) -> None:
    """One log line per refused login, with the client's address and never the name typed (it may
    be a password or a CPR number); the audit row says more."""
    if isinstance(failed, LoginLocked):
        log.warning("login refused from %s: locked until %s", address or "?",
                    failed.until.isoformat(timespec="seconds"))
    else:
        log.info("login failed from %s", address or "?")


def _minutes(n: float) -> dt.timedelta:
    return dt.timedelta(minutes=n)


def _local_time(moment: dt.datetime) -> str:
    """HH:MM in Danish time, for a lockout message."""
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo("Europe/Copenhagen")).strftime("%H:%M")


class ProxyLoginHandler(HjerteKomHandler):
    """Hosted set-up: signing in happens at the proxy, never here."""

    @allow_unauthenticated
    def get(self) -> None:
        self.set_status(403)
        self.set_header("Cache-Control", "no-store")
        self.finish(_PAGE.format(lang="da", title=t("log_in"), body=f'<p class="error">{t("login_via_proxy")}</p>'))


class LogoutHandler(HjerteKomHandler):
    """``POST /logout`` (with the _xsrf token) ends the session and every kernel of it.

    ``GET /logout`` changes nothing: a link or an image on another site must not sign anyone out
    (and a GET that did would be a cross-site request forgery); it offers the button instead.
    """

    @allow_unauthenticated
    def get(self) -> None:
        if self.current_user is None:
            return self._page(f'<p class="info">{t("logged_out")}</p><p><a href="{html.escape(self.base_url)}login">'
                              f'{t("log_in_again")}</a></p>')
        self._page(f'<form method="post" action="{html.escape(self.base_url)}logout">{self.xsrf_form_html()}'
                   f'<p>{t("log_out_confirm")}</p><button type="submit" id="logout">{t("log_out")}</button></form>')

    @allow_unauthenticated
    async def post(self) -> None:
        provider: HjerteKomIdentityProvider = self.identity_provider  # type: ignore[assignment]
        await provider.end_session(self)
        self.redirect(f"{self.base_url}login?ud=1")

    def _page(self, body: str) -> None:
        self.set_header("Cache-Control", "no-store")
        self.finish(_PAGE.format(lang="da", title=t("log_out"), body=body))
