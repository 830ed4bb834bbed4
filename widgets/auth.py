"""Who is signed in: a Jupyter Server identity provider for the Voilà entry app.

Embedded set-up: a Danish login page against the project's users (argon2id passwords), the
session in a signed, http-only cookie. Hosted set-up: the username from a trusted reverse-proxy
header (``trusted_header``), switched on by configuration.

How the kernel learns who the user is: on every authenticated request the server REPLACES the
header ``X-HjerteKom-Identity`` with a signed, short-lived token of the username (any value the
browser sent is discarded first). Voilà hands the configured request headers to the kernel
(``VoilaConfiguration.http_header_envs``, in preheated and fresh kernels alike), and the kernel
accepts the identity only if the signature holds (``session.py``). Nothing the browser sends can
become an identity, and the kernel runs no code the browser sends (see ``server.py``).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import html
import logging
import time
from urllib.parse import urlparse

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.auth.identity import IdentityProvider
from jupyter_server.auth.identity import User as JupyterUser
from jupyter_server.base.handlers import JupyterHandler
from tornado import web
from traitlets import Unicode

from hjertekom_core.access import User
from hjertekom_core.errors import AuthenticationFailed
from hjertekom_core.store import Store
from hjertekom_core.users import active_user, authenticate, close_web_session, open_web_session, web_session_user
from hjertekom_widgets.text import t

log = logging.getLogger(__name__)

IDENTITY_HEADER = "X-HjerteKom-Identity"
IDENTITY_ENV = "HTTP_X_HJERTEKOM_IDENTITY"
TOKEN_SECONDS = 12 * 3600
SESSION_MAX_AGE = dt.timedelta(hours=12)
COOKIE_NAME = "hjertekom-session"


# --- the signed identity the kernel receives -------------------------------------------------------

def sign_identity(key: bytes, username: str, now: float | None = None) -> str:
    expires = int((now or time.time()) + TOKEN_SECONDS)
    payload = f"{username}|{expires}"
    mac = hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()
    return f"{payload}|{mac}"


def verify_identity(key: bytes, token: str | None, now: float | None = None) -> str | None:
    """The username in a valid, unexpired token; None otherwise."""
    if not token or token.count("|") != 2:
        return None
    username, expires, mac = token.split("|")
    expected = hmac.new(key, f"{username}|{expires}".encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac, expected) or not expires.isdigit():
        return None
    return username if int(expires) >= (now or time.time()) else None


# --- the identity provider ------------------------------------------------------------------------

class AccountCache:
    """Active users by name, re-read after a short time so a deactivated account stops quickly."""

    def __init__(self, store: Store, seconds: float = 30.0) -> None:
        self.store = store
        self.seconds = seconds
        self._cache: dict[str, tuple[float, User | None]] = {}

    def get(self, username: str) -> User | None:
        hit = self._cache.get(username)
        if hit and time.monotonic() - hit[0] < self.seconds:
            return hit[1]
        user = active_user(self.store, username)
        self._cache[username] = (time.monotonic(), user)
        return user


class HjerteKomIdentityProvider(IdentityProvider):
    """Jupyter Server identity from the HjerteKom user table (or a trusted proxy header)."""

    trusted_header = Unicode(
        "", config=True,
        help="Hosted set-up: take the username from this request header, set by a trusted reverse "
             "proxy that authenticates users (e.g. X-Forwarded-User). Empty: the embedded login page.")

    # Set by hjertekom_widgets.server before Voilà starts (one process, one store).
    accounts: AccountCache | None = None
    identity_key: bytes = b""

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
        raw = handler.get_secure_cookie(COOKIE_NAME, max_age_days=SESSION_MAX_AGE.total_seconds() / 86400)
        return raw.decode() if raw else None

    def start_session(self, handler: web.RequestHandler, user: User) -> None:
        assert self.accounts is not None
        session_id = open_web_session(self.accounts.store, user)
        secure = handler.request.protocol == "https"
        handler.set_secure_cookie(COOKIE_NAME, session_id, expires_days=None, httponly=True, secure=secure,
                                  samesite="Strict", path=handler.base_url)  # type: ignore[attr-defined]

    def end_session(self, handler: web.RequestHandler) -> None:
        session_id = self.session_id(handler)
        if session_id and self.accounts is not None:
            close_web_session(self.accounts.store, session_id)
        handler.clear_cookie(COOKIE_NAME, path=handler.base_url)  # type: ignore[attr-defined]

    def get_handlers(self) -> list[tuple[str, object]]:
        # Behind an authenticating proxy there is no login form: a request that reaches the
        # server without the proxy's header is refused rather than sent round in a redirect loop.
        login = LoginHandler if self.login_available else ProxyLoginHandler
        return [(r"/login", login), (r"/logout", LogoutHandler)]

    async def get_user(self, handler: web.RequestHandler) -> JupyterUser | None:  # type: ignore[override]
        # Whatever the browser sent under our header is never an identity.
        if IDENTITY_HEADER in handler.request.headers:
            del handler.request.headers[IDENTITY_HEADER]
        if self.accounts is None:
            return None
        account: User | None
        if self.trusted_header:
            username = handler.request.headers.get(self.trusted_header) or None
            account = self.accounts.get(username) if username else None
        else:
            # The cookie holds only a session id; the session row says who and whether it is
            # still open (logging out revokes it, so a copied cookie is worthless afterwards).
            session_id = self.session_id(handler)
            account = web_session_user(self.accounts.store, session_id, SESSION_MAX_AGE) if session_id else None
        if account is None or account.role == "researcher":  # researchers never use the entry app
            return None
        handler.request.headers[IDENTITY_HEADER] = sign_identity(self.identity_key, account.username)
        return JupyterUser(username=account.username, name=account.display_name,
                           display_name=account.display_name)


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
</main></body></html>"""


class LoginHandler(JupyterHandler):
    """The embedded login page (Danish)."""

    def _render(self, message: str = "", status: int = 200) -> None:
        xsrf = self.xsrf_form_html()
        nxt = html.escape(_safe_next(self.get_argument("next", None), self.base_url))
        error = f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
        body = f"""<p>{t("login_intro")}</p>
<form method="post" action="{html.escape(self.base_url)}login?next={nxt}" autocomplete="on">
{xsrf}
<label for="username">{t("username")}</label>
<input id="username" name="username" autocomplete="username" required autofocus>
<label for="password">{t("password")}</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
{error}
<button type="submit" id="login">{t("log_in")}</button>
</form>"""
        self.set_status(status)
        self.set_header("Cache-Control", "no-store")
        self.finish(_PAGE.format(lang="da", title=t("log_in"), body=body))

    @allow_unauthenticated
    def get(self) -> None:
        if self.current_user:
            self.redirect(_safe_next(self.get_argument("next", None), self.base_url))
            return
        self._render()

    @allow_unauthenticated
    def post(self) -> None:
        username = self.get_body_argument("username", "").strip()
        password = self.get_body_argument("password", "")
        provider: HjerteKomIdentityProvider = self.identity_provider  # type: ignore[assignment]
        assert provider.accounts is not None
        try:
            user = authenticate(provider.accounts.store, username, password)
        except AuthenticationFailed:
            log.info("failed login")
            self._render(t("login_failed"), status=403)
            return
        if user.role == "researcher":
            self._render(t("login_researcher"), status=403)
            return
        provider.start_session(self, user)
        self.redirect(_safe_next(self.get_argument("next", None), self.base_url))


class ProxyLoginHandler(JupyterHandler):
    """Hosted set-up: signing in happens at the proxy, never here."""

    @allow_unauthenticated
    def get(self) -> None:
        self.set_status(403)
        self.set_header("Cache-Control", "no-store")
        self.finish(_PAGE.format(lang="da", title=t("log_in"), body=f'<p class="error">{t("login_via_proxy")}</p>'))


class LogoutHandler(JupyterHandler):
    @allow_unauthenticated
    def get(self) -> None:
        provider: HjerteKomIdentityProvider = self.identity_provider  # type: ignore[assignment]
        provider.end_session(self)
        body = f'<p class="info">{t("logged_out")}</p><p><a href="{html.escape(self.base_url)}login">' \
               f'{t("log_in_again")}</a></p>'
        self.set_header("Cache-Control", "no-store")
        self.finish(_PAGE.format(lang="da", title=t("logged_out"), body=body))
