"""The administrators' pages, behind the same login as the entry forms.

- ``/hjertekom/brugere``: the users with role, municipalities, programmes, active and last login. An
  administrator (``user.admin``) also deactivates and reactivates, resets passwords (shown once),
  and changes roles, municipalities and programmes; a coordinator (``user.read``) sees the users of their own
  municipalities, read-only. Each change is one POST with the _xsrf token, carried out and audited
  by ``hjertekom_core.users`` (which also ends the user's sessions).
- ``/hjertekom/profil`` ("Min profil"): every signed-in user sets their own work phone and e-mail,
  which sign their course summaries for hospital and GP (``users.set_contact``; an administrator
  sets anyone's on "Brugere"). The page only ever changes the signed-in user's own details.
- ``/hjertekom/pin`` ("Min PIN-kode"): every signed-in user sets or changes their own PIN, the key
  that takes the tablet back from a citizen in questionnaire mode (``users.set_own_pin``: with the
  current password, or in the hosted set-up on the proxy's session); an administrator removes a
  user's PIN on "Brugere" (``users.clear_pin``).
- ``/hjertekom/revisionsspor``: the audit log for administrators (``audit.read``): filters by user,
  citizen, action, municipality and period, paged; ``/hjertekom/revisionsspor.csv`` exports the
  same selection. A CPR number typed in the filter is sent by POST, looked up to the citizen id
  here and never shown back, put in an address or logged. Viewing and exporting are audited.

Every refusal is audited: by the core (roles), or here (a POST without a valid _xsrf token).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import functools
import html
import logging
from typing import Any
from urllib.parse import urlencode

from tornado import web
from tornado.ioloop import IOLoop

from hjertekom_core import audit
from hjertekom_core.access import ALL_PROGRAMMES, ROLE_LABELS, ROLES, User
from hjertekom_core.contract import Text
from hjertekom_core.audit_search import (
    AuditFilter,
    BadFilter,
    citizen_id_for_cpr,
    csv_text,
    describe_detail,
    export_rows,
    parse_filter,
    search,
)
from hjertekom_core.cpr import InvalidCpr
from hjertekom_core.errors import AccessDenied, AuthenticationFailed, LoginLocked, NotFound, WeakPassword, WeakPin
from hjertekom_core.users import (
    ContactDetails,
    PinRefusedWhileHandedOver,
    UserAdminRefused,
    UserRecord,
    active_user,
    clear_pin,
    contact_of,
    has_pin,
    deactivate_user,
    local_text,
    reactivate_user,
    reset_password,
    set_contact,
    set_municipalities,
    set_programmes,
    set_own_pin,
    set_role,
    user_records,
)
from hjertekom_widgets.client_address import client_address
from hjertekom_widgets.reports_api import ReportHandler
from hjertekom_widgets.text import t

#: The programmes column of "Brugere" and its change (a user's rights are per programme and
#: municipality: the programmes ticked, in each of the user's municipalities).
PROGRAMMES_LABEL = Text("Programmer", "Programmes")
EVERY_PROGRAMME = Text("alle programmer", "every programme")
SET_PROGRAMMES = Text("Gem programmer", "Save programmes")
PROGRAMMES_DONE = Text("Programmerne er ændret. Brugeren skal logge ind igen.",
                       "The programmes are changed. The user must log in again.")

log = logging.getLogger(__name__)

USERS_ROUTE = r"/hjertekom/brugere/?"
USER_ACTION_ROUTE = r"/hjertekom/brugere/([^/]*)/([^/]*)"
PROFILE_ROUTE = r"/hjertekom/profil/?"
PIN_ROUTE = r"/hjertekom/pin/?"
AUDIT_ROUTE = r"/hjertekom/revisionsspor/?"
AUDIT_CSV_ROUTE = r"/hjertekom/revisionsspor\.csv"

_CSS = ("body{font-family:system-ui,Arial,sans-serif;max-width:80em;margin:1.5em auto;padding:0 1em;color:#222}"
        "h1{color:#8b1e2d}td,th{padding:.35em .6em;text-align:left;border-bottom:1px solid #ddd;vertical-align:top}"
        "form.hk-inline{display:inline-block;margin:0 .4em .3em 0}input,select,button{font-size:.95em}"
        ".hk-ok{background:#e7f4ea;padding:.6em}.hk-error{background:#fdecea;color:#8a1020;padding:.6em}"
        ".hk-password{font-family:monospace;font-size:1.3em;background:#fff8e1;padding:.2em .5em}"
        ".hk-filter label{display:inline-block;margin:0 .8em .5em 0}.hk-muted{color:#666}"
        "tr.hk-inactive td{color:#888}")


#: The contact details' words (Danish, English beside), kept with the pages that use them.
_CONTACT_TEXT: dict[str, Text] = {
    "phone": Text("Telefon (arbejde)", "Phone (work)"),
    "email": Text("E-mail (arbejde)", "E-mail (work)"),
    "phone_placeholder": Text("fx 87 22 33 44", "e.g. 87 22 33 44"),
    "email_placeholder": Text("fx navn@kommune.dk", "e.g. name@municipality.dk"),
    "save_contact": Text("Gem kontakt", "Save contact"),
    "contact_saved": Text("Kontaktoplysningerne er gemt.", "The contact details are saved."),
    "profile_title": Text("Min profil", "My profile"),
    "profile_intro": Text("Din telefon og e-mail på arbejdet står under dit navn på forløbsopsummeringen til "
                          "sygehus og egen læge, så de kan kontakte dig. Lad et felt stå tomt for at fjerne det; "
                          "står begge tomme, bruges teamets kontaktoplysninger. Ændringen skrives i "
                          "revisionssporet (uden numre og adresser).",
                          "Your work phone and e-mail appear under your name on the course summary for the "
                          "hospital and the GP, so that they can reach you. Leave a field blank to remove it; if "
                          "both are blank, the team's contact details are used. The change is written to the "
                          "audit log (without numbers and addresses)."),
    "profile_saved": Text("Dine kontaktoplysninger er gemt. De bruges på forløbsopsummeringer fra nu af.",
                          "Your contact details are saved. Course summaries use them from now on."),
    "save": Text("Gem", "Save"),
    "username": Text("Brugernavn", "Username"),
}


#: "Min PIN-kode": the questionnaire mode's key (docs/questionnaire-mode.md).
_PIN_TEXT: dict[str, Text] = {
    "title": Text("Min PIN-kode", "My PIN"),
    "intro": Text("Med PIN-koden tager du tabletten tilbage, når borgeren har udfyldt sit spørgeskema "
                  "(\"Borgerens spørgeskema (tablet)\"). Vælg 4-8 cifre, som kun du kender, uden mønster: ikke "
                  "det samme ciffer gentaget (0000), ikke tal i rækkefølge (1234) og ikke et årstal. PIN-koden "
                  "kan ikke bruges til at logge ind.",
                  "With the PIN you take the tablet back when the citizen has filled in their questionnaire. "
                  "Choose 4-8 digits only you know, without a pattern. The PIN cannot be used to log in."),
    "proxy_note": Text("Du logger ind via kommunens login og har ingen adgangskode i HjerteKom: PIN-koden er den "
                       "eneste måde at tage tabletten tilbage på.",
                       "You sign in through the municipality's login and have no password in HjerteKom: the PIN "
                       "is the only way to take the tablet back."),
    "has_pin": Text("Du har en PIN-kode. Skriv en ny for at skifte den.", "You have a PIN. Enter a new one to change it."),
    "no_pin": Text("Du har ingen PIN-kode endnu.", "You have no PIN yet."),
    "new": Text("Ny PIN-kode", "New PIN"),
    "repeat": Text("Gentag den nye PIN-kode", "Repeat the new PIN"),
    "password": Text("Din nuværende adgangskode", "Your current password"),
    "save": Text("Gem PIN-kode", "Save PIN"),
    "saved": Text("Din PIN-kode er gemt. Brug den til at tage tabletten tilbage fra borgeren.",
                  "Your PIN is saved. Use it to take the tablet back from the citizen."),
    "wrong_password": Text("Den nuværende adgangskode er forkert. PIN-koden er ikke ændret.",
                           "The current password is wrong. The PIN is not changed."),
    "locked": Text("For mange forkerte forsøg. Prøv igen efter kl. {time}. PIN-koden er ikke ændret.",
                   "Too many wrong attempts. Try again after {time}. The PIN is not changed."),
    "clear": Text("Fjern PIN-kode", "Remove PIN"),
    "cleared": Text("PIN-koden er fjernet. Brugeren vælger en ny under \"Min PIN-kode\".",
                    "The PIN is removed. The user chooses a new one under \"My PIN\"."),
    "column": Text("har PIN-kode", "has a PIN"),
}


def pt(key: str, lang: str = "da", **values: str) -> str:
    """One of the PIN page's words."""
    return _PIN_TEXT[key].get(lang).format(**values)


def ct(key: str, lang: str = "da") -> str:
    """One of the contact details' words."""
    return _CONTACT_TEXT[key].get(lang)


def _page(title: str, body: str, base_url: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="da"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
            f'<p><a href="{html.escape(base_url)}">{t("reports.back")}</a></p>{body}</body></html>')


class AdminHandler(ReportHandler):
    """Our pages' shared parts: the signed-in user, fresh from the store; audited xsrf refusals."""

    def account(self) -> User:
        who = self.current_user
        user = active_user(self.ws().store, who.username) if who is not None else None
        if user is None:
            raise web.HTTPError(403)
        return user

    def check_xsrf_cookie(self) -> None:
        try:
            super().check_xsrf_cookie()
        except web.HTTPError:
            provider = self.identity_provider
            guard = getattr(provider, "guard", None)
            who = getattr(self.current_user, "username", None)
            if guard is not None:
                guard.deny(who, "xsrf", "request", self.request.path, "missing or wrong _xsrf token",
                           client_address(self))
            raise

    def show(self, title: str, body: str, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")  # personal data, a password shown once: never cached
        self.set_header("X-Content-Type-Options", "nosniff")
        self.finish(_page(title, body, self.base_url))

    def municipality_name(self, code: int) -> str:
        return self.ws().contracts.codelists["municipalities"].label_of(code)  # shared by every programme


# --- users ---------------------------------------------------------------------------------------------

def _notice(kind: str, text: str) -> str:
    return f'<p class="hk-{kind}" role="{"alert" if kind == "error" else "status"}">{text}</p>' if text else ""


class UsersHandler(AdminHandler):
    """``GET /hjertekom/brugere``: the list (and, for administrators, the actions)."""

    @web.authenticated
    def get(self) -> None:
        user = self.account()
        done = self.get_argument("udfoert", "")
        notice = _notice("ok", html.escape(t(f"admin.done.{done}"))) if f"admin.done.{done}" in _DONE_KEYS else ""
        if done == "contact":
            notice = _notice("ok", html.escape(ct("contact_saved")))
        if done == "programmes":
            notice = _notice("ok", html.escape(PROGRAMMES_DONE.get("da")))
        if done == "pin":
            notice = _notice("ok", html.escape(pt("cleared")))
        self.render_list(user, notice)

    def render_list(self, user: User, notice: str = "", status: int = 200) -> None:
        try:
            records = user_records(self.ws().store, user)
        except AccessDenied:
            return self.show(t("admin.users_title"), _notice("error", html.escape(t("admin.no_access"))), 403)
        may_change = user.can("user.admin")
        intro = t("admin.users_intro_admin") if may_change else t("admin.users_intro_coordinator")
        head = "".join(f"<th>{html.escape(t(k))}</th>" for k in (
            "username", "admin.name", "admin.role", "admin.municipalities"))
        head += f"<th>{html.escape(PROGRAMMES_LABEL.get('da'))}</th>"
        head += "".join(f"<th>{html.escape(t(k))}</th>" for k in ("admin.active", "admin.last_login"))
        if may_change:
            head += f"<th>{html.escape(t('admin.actions'))}</th>"
        contacts: dict[int, ContactDetails] = {}
        if may_change:  # the contact form of each row shows what is set now
            with self.ws().store.read() as conn:
                contacts = {r.id: contact_of(conn, r.id) for r in records}
        rows = "\n".join(self._row(r, may_change, user, contacts.get(r.id, ContactDetails())) for r in records)
        self.show(t("admin.users_title"), f"{notice}<p>{html.escape(intro)}</p>"
                                           f'<table class="hk-users"><tr>{head}</tr>\n{rows}\n</table>', status)

    def _row(self, record: UserRecord, may_change: bool, user: User, contact: ContactDetails) -> str:
        where = ", ".join(f"{c} {self.municipality_name(c)}" for c in record.municipalities) or t("admin.all")
        state = t("yes") if record.active else t("admin.closed")
        if record.must_change_password:
            state += f" ({t('admin.must_change')})"
        if record.has_pin:
            state += f" ({pt('column')})"
        cells = [record.username, record.display_name, ROLE_LABELS[record.role]["da"], where,
                 self.programmes_text(record), state, local_text(record.last_login_at) or t("admin.never")]
        row = "".join(f"<td>{html.escape(c)}</td>" for c in cells)
        if may_change:
            row += f"<td>{self._actions(record, user, contact)}</td>"
        css = "" if record.active else ' class="hk-inactive"'
        return f'<tr{css} data-user="{html.escape(record.username)}">{row}</tr>'

    def programmes_text(self, record: UserRecord) -> str:
        """The user's programmes by their Danish names: the same in every municipality, or per
        municipality where they differ; every programme for an administrator or a ``*`` grant."""
        if not record.grants or record.role == "administrator":
            return EVERY_PROGRAMME.get("da")
        contracts = self.ws().contracts

        def name(programme: str) -> str:
            if programme == ALL_PROGRAMMES:
                return EVERY_PROGRAMME.get("da")
            return contracts[programme].label.get("da") if programme in contracts.programmes else programme

        granted = record.as_user().granted()
        if len(set(granted.values())) <= 1:
            return ", ".join(name(p) for p in granted)
        return "; ".join(f"{name(p)}: {', '.join(map(str, codes))}" for p, codes in granted.items())

    def _form(self, record: UserRecord, action: str, inner: str, button: str) -> str:
        return (f'<form class="hk-inline" method="post" action="{html.escape(self.base_url)}hjertekom/brugere/'
                f'{record.id}/{action}">{self.xsrf_form_html()}{inner}<button type="submit" name="{action}">'
                f"{html.escape(button)}</button></form>")

    def _actions(self, record: UserRecord, user: User, contact: ContactDetails) -> str:
        parts = []
        if record.id != user.id:
            parts.append(self._form(record, "deaktiver" if record.active else "genaktiver", "",
                                    t("admin.deactivate") if record.active else t("admin.reactivate")))
        parts.append(self._form(record, "nulstil", f'<input name="password" type="password" autocomplete="new-password" '
                                f'placeholder="{html.escape(t("admin.password_optional"))}" size="18">',
                                t("admin.reset_password")))
        if record.id != user.id:
            options = "".join(f'<option value="{r}"{" selected" if r == record.role else ""}>'
                              f'{html.escape(ROLE_LABELS[r]["da"])}</option>' for r in ROLES)
            parts.append(self._form(record, "rolle", f'<select name="role" aria-label="{t("admin.role")}">{options}'
                                    "</select>", t("admin.set_role")))
        codes = ",".join(map(str, record.municipalities))
        parts.append(self._form(record, "kommuner", f'<input name="municipalities" value="{codes}" size="12" '
                                f'aria-label="{t("admin.municipalities")}" placeholder="740,741">',
                                t("admin.set_municipalities")))
        if record.municipalities:  # programmes hold in municipalities (an administrator acts in all)
            contracts = self.ws().contracts
            ticks = "".join(
                f'<label><input type="checkbox" name="programme" value="{html.escape(p)}"'
                f'{" checked" if record.as_user().acts_in_programme(p) else ""}> '
                f"{html.escape(contracts[p].label.get('da'))}</label> " for p in contracts.programmes)
            parts.append(self._form(record, "programmer", f'<span role="group" aria-label='
                                    f'"{html.escape(PROGRAMMES_LABEL.get("da"))}">{ticks}</span>',
                                    SET_PROGRAMMES.get("da")))
        parts.append(self._form(record, "kontakt", _contact_inputs(contact, size=14), ct("save_contact")))
        if record.has_pin:
            parts.append(self._form(record, "pin", "", pt("clear")))
        return "".join(parts)


#: URL word -> (the core's change, the message key after it).
_ACTIONS: dict[str, str] = {"deaktiver": "deactivated", "genaktiver": "reactivated", "rolle": "role",
                            "kommuner": "municipalities", "nulstil": "password", "kontakt": "contact",
                            "programmer": "programmes", "pin": "pin"}
_DONE_KEYS = {f"admin.done.{v}" for v in _ACTIONS.values() if v not in ("contact", "programmes", "pin")}


class UserActionHandler(UsersHandler):
    """``POST /hjertekom/brugere/<id>/<action>`` (with _xsrf): one change, then the list again."""

    @web.authenticated
    def get(self, *_args: str) -> None:  # type: ignore[override]
        raise web.HTTPError(405)  # a change is never a GET (links and images must change nothing)

    @web.authenticated
    def post(self, user_id: str, action: str) -> None:
        user = self.account()
        store = self.ws().store
        if action not in _ACTIONS or not user_id.isdigit():
            raise web.HTTPError(404)
        target = next((r for r in self._all() if r.id == int(user_id)), None)
        if target is None:
            audit.deny(store, user, "user.admin", "user", user_id, reason="no such user")
            raise web.HTTPError(404)
        try:
            if action == "deaktiver":
                deactivate_user(store, user, target.username)
            elif action == "genaktiver":
                reactivate_user(store, user, target.username)
            elif action == "rolle":
                set_role(store, user, target.username, self.get_body_argument("role", ""))
            elif action == "kommuner":
                set_municipalities(store, user, target.username, _codes(self.get_body_argument("municipalities", "")))
            elif action == "programmer":  # the ticked programmes; none ticked is refused by the core
                set_programmes(store, user, target.username, self.get_body_arguments("programme"),
                               known_programmes=self.ws().contracts.programmes)
            elif action == "pin":
                clear_pin(store, user, target.username)
            elif action == "kontakt":  # the core lets a user set their own; anyone else's: administrators
                set_contact(store, user, target.username, self.get_body_argument("phone", ""),
                            self.get_body_argument("email", ""))
            else:
                done = reset_password(store, user, target.username, self.get_body_argument("password", "") or None)
                note = (t("admin.password_shown_once", user=html.escape(target.username)) +
                        f' <span class="hk-password" id="hk-new-password">{html.escape(done.password)}</span>'
                        if done.generated else html.escape(t("admin.password_set", user=target.username)))
                return self.render_list(user, _notice("ok", note))
        except AccessDenied:
            return self.show(t("admin.users_title"), _notice("error", html.escape(t("admin.no_access"))), 403)
        except (UserAdminRefused, WeakPassword) as refused:
            return self.render_list(user, _notice("error", html.escape(refused.messages["da"])), 400)
        self.redirect(f"{self.base_url}hjertekom/brugere?{urlencode({'udfoert': _ACTIONS[action]})}", status=303)

    def _all(self) -> list[UserRecord]:
        from hjertekom_core.access import SYSTEM

        return user_records(self.ws().store, SYSTEM)  # finding the target; the change itself checks the actor


def _contact_inputs(contact: ContactDetails, size: int = 24, labelled: bool = False) -> str:
    """The phone and e-mail fields, filled in with what is set now (blank removes a value): with
    visible labels on "Min profil" (``labelled``), with aria-labels in a row of "Brugere"."""
    fields = []
    # type="text" with an inputmode (the phone's keyboard): the browser's own check would stop the
    # form before the server's Danish message could say what is wrong.
    for name, value, kind in (("phone", contact.phone, "tel"), ("email", contact.email, "email")):
        label = html.escape(ct(name))
        common = (f'name="{name}" type="text" inputmode="{kind}" autocomplete="{kind}" '
                  f'value="{html.escape(value or "")}" '
                  f'size="{size}" placeholder="{html.escape(ct(f"{name}_placeholder"))}"')
        if labelled:
            fields.append(f'<p><label for="hk-{name}">{label}</label> <input id="hk-{name}" {common}></p>')
        else:
            fields.append(f'<input {common} aria-label="{label}">')
    return "".join(fields)


class ProfileHandler(AdminHandler):
    """``GET /hjertekom/profil``: the signed-in user's own contact details; ``POST`` (with _xsrf)
    saves them. Only ever the user's own: the page takes no name of whom to change."""

    @web.authenticated
    def get(self) -> None:
        user = self.account()
        with self.ws().store.read() as conn:
            contact = contact_of(conn, user.id)
        notice = _notice("ok", html.escape(ct("profile_saved"))) if self.get_argument("gemt", "") == "1" else ""
        self.render_profile(user, contact, notice)

    @web.authenticated
    def post(self) -> None:
        user = self.account()
        phone, email = self.get_body_argument("phone", ""), self.get_body_argument("email", "")
        try:
            set_contact(self.ws().store, user, user.username, phone, email)
        except UserAdminRefused as refused:  # nothing stored: the form again with what was typed
            return self.render_profile(user, ContactDetails(phone, email),
                                       _notice("error", html.escape(refused.messages["da"])), 400)
        except AccessDenied:
            return self.show(ct("profile_title"), _notice("error", html.escape(t("admin.no_access"))), 403)
        self.redirect(f"{self.base_url}hjertekom/profil?gemt=1", status=303)

    def render_profile(self, user: User, contact: ContactDetails, notice: str = "", status: int = 200) -> None:
        facts = "".join(f"<tr><th>{html.escape(label)}</th><td>{html.escape(value)}</td></tr>" for label, value in (
            (ct("username"), user.username), (t("admin.name"), user.display_name),
            (t("admin.role"), ROLE_LABELS[user.role]["da"])))
        form = (f'<form class="hk-profile" method="post" action="{html.escape(self.base_url)}hjertekom/profil">'
                f"{self.xsrf_form_html()}{_contact_inputs(contact, labelled=True)}"
                f'<p><button type="submit" id="hk-save-profile">{html.escape(ct("save"))}</button></p></form>')
        self.show(ct("profile_title"), f'{notice}<table class="hk-facts">{facts}</table>'
                                       f"<p>{html.escape(ct('profile_intro'))}</p>{form}", status)


class PinHandler(AdminHandler):
    """``GET /hjertekom/pin`` ("Min PIN-kode"): whether the signed-in user has a PIN; ``POST`` (with
    _xsrf) sets or changes it: with the current password when users sign in with the login form,
    on the proxy's authenticated session in the hosted set-up (``users.set_own_pin``). Only ever
    the user's own: the page takes no name of whom to change."""

    def proxy(self) -> bool:
        return bool(getattr(self.identity_provider, "trusted_header", ""))

    @web.authenticated
    def get(self) -> None:
        user = self.account()
        notice = _notice("ok", html.escape(pt("saved"))) if self.get_argument("gemt", "") == "1" else ""
        self.render_pin(user, notice)

    @web.authenticated
    async def post(self) -> None:
        user = self.account()
        pin, repeat = self.get_body_argument("pin", ""), self.get_body_argument("repeat", "")
        password = None if self.proxy() else self.get_body_argument("password", "")
        config = self.ws().config
        try:
            # In a worker thread: argon2 (the PIN's hash, the password's check) would hold up the server.
            await IOLoop.current().run_in_executor(None, functools.partial(
                set_own_pin, self.ws().store, user.username, pin, repeat, password=password,
                address=client_address(self), max_failures=config.login_max_failures,
                lockout=dt.timedelta(minutes=config.login_lockout_minutes)))
        except (WeakPin, UserAdminRefused) as refused:   # nothing stored
            return self.render_pin(user, _notice("error", html.escape(refused.messages["da"])),
                                   409 if isinstance(refused, PinRefusedWhileHandedOver) else 400)
        except LoginLocked as locked:
            await asyncio.sleep(min(locked.delay_seconds, 4.0))
            until = local_text(locked.until)[-5:]   # HH:MM, Danish time
            return self.render_pin(user, _notice("error", html.escape(pt("locked", time=until))), 429)
        except AuthenticationFailed as failed:
            await asyncio.sleep(min(failed.delay_seconds, 4.0))
            return self.render_pin(user, _notice("error", html.escape(pt("wrong_password"))), 403)
        except NotFound:
            raise web.HTTPError(403) from None
        self.redirect(f"{self.base_url}hjertekom/pin?gemt=1", status=303)

    def render_pin(self, user: User, notice: str = "", status: int = 200) -> None:
        proxy = self.proxy()
        state = pt("has_pin") if has_pin(self.ws().store, user.id) else pt("no_pin")
        # type="password" with inputmode="numeric": a number keyboard on a tablet, the PIN not shown.
        inputs = "".join(
            f'<p><label for="hk-{name}">{html.escape(pt(label))}</label> <input id="hk-{name}" name="{name}" '
            f'type="password" inputmode="numeric" autocomplete="off" size="10" maxlength="8"></p>'
            for name, label in (("pin", "new"), ("repeat", "repeat")))
        if not proxy:
            inputs += (f'<p><label for="hk-password">{html.escape(pt("password"))}</label> <input id="hk-password" '
                       'name="password" type="password" autocomplete="current-password" size="24"></p>')
        form = (f'<form class="hk-pin" method="post" action="{html.escape(self.base_url)}hjertekom/pin">'
                f"{self.xsrf_form_html()}{inputs}"
                f'<p><button type="submit" id="hk-save-pin">{html.escape(pt("save"))}</button></p></form>')
        about = f"<p>{html.escape(pt('intro'))}</p>" + (f"<p>{html.escape(pt('proxy_note'))}</p>" if proxy else "")
        self.show(pt("title"), f'{notice}{about}<p id="hk-pin-state">{html.escape(state)}</p>{form}', status)


def _codes(text: str) -> list[int]:
    parts = [p.strip() for p in text.replace(";", ",").replace(" ", ",").split(",") if p.strip()]
    if not all(p.isdigit() and len(p) <= 4 for p in parts):
        raise UserAdminRefused("Kommunerne skal skrives som koder adskilt af komma, fx 740,741.",
                               "Write the municipalities as codes separated by commas, e.g. 740,741.")
    return [int(p) for p in parts]


# --- the audit log -------------------------------------------------------------------------------------

_FILTER_FIELDS = ("user", "citizen", "action", "municipality", "from", "to")


class AuditHandler(AdminHandler):
    """``GET /hjertekom/revisionsspor``: the filtered, paged audit log. ``POST`` (with _xsrf) takes the
    filter form, looks a CPR number up to its citizen id and sends the browser to the GET address."""

    def params(self) -> dict[str, str]:
        return {k: self.get_argument(k, "") for k in _FILTER_FIELDS}

    @web.authenticated
    def get(self) -> None:
        user = self.account()
        params = self.params()
        notice = ""
        if self.get_argument("via", "") == "cpr-ukendt":
            notice = _notice("error", html.escape(t("audit_view.cpr_unknown")))
        try:
            flt = parse_filter(params)
        except BadFilter as bad:
            return self.render_audit(user, params, None, _notice("error", html.escape(bad.messages["da"])), 400)
        via_cpr = self.get_argument("via", "") in ("cpr", "cpr-ukendt")
        try:
            page = search(self.ws().store, user, flt, page=_int(self.get_argument("side", "1")),
                          detail={"by_cpr": True} if via_cpr else None)
        except AccessDenied:
            return self.show(t("audit_view.title"), _notice("error", html.escape(t("admin.no_access"))), 403)
        self.render_audit(user, params, (flt, page), notice)

    @web.authenticated
    def post(self) -> None:
        user = self.account()
        try:
            audit.require(self.ws().store, user, "audit.read", "audit_log")
        except AccessDenied:
            return self.show(t("audit_view.title"), _notice("error", html.escape(t("admin.no_access"))), 403)
        params = {k: self.get_body_argument(k, "").strip() for k in _FILTER_FIELDS}
        cpr = self.get_body_argument("cpr", "").strip()
        via = ""
        if cpr:
            try:
                found = citizen_id_for_cpr(self.ws().store, cpr)
            except InvalidCpr as bad:  # its message never holds the number
                return self.render_audit(user, params, None, _notice("error", html.escape(bad.messages["da"])), 400)
            params["citizen"] = str(found) if found is not None else "0"  # no citizen has id 0: no rows
            via = "cpr" if found is not None else "cpr-ukendt"
        query = {k: v for k, v in params.items() if v}
        if via:
            query["via"] = via
        self.redirect(f"{self.base_url}hjertekom/revisionsspor?{urlencode(query)}", status=303)

    def render_audit(self, user: User, params: dict[str, str], found: tuple[AuditFilter, Any] | None, notice: str = "",
               status: int = 200) -> None:
        base = html.escape(self.base_url)
        fields = "".join(
            f'<label>{html.escape(t(f"audit_view.{k}"))} <input name="{k}" value="{html.escape(params.get(k, ""))}"'
            f' size="{12 if k in ("from", "to") else 14}"></label>' for k in _FILTER_FIELDS)
        form = (f'<form class="hk-filter" method="post" action="{base}hjertekom/revisionsspor">{self.xsrf_form_html()}'
                f"{fields}<label>{html.escape(t('audit_view.cpr'))} <input name=\"cpr\" type=\"password\" "
                'autocomplete="off" size="12"></label>'
                f'<button type="submit" id="hk-filter">{html.escape(t("audit_view.search"))}</button></form>'
                f'<p class="hk-muted">{html.escape(t("audit_view.help"))}</p>')
        body = notice + form
        if found is not None:
            flt, page = found
            query = flt.query_params()
            head = "".join(f"<th>{html.escape(t(f'audit_view.col.{c}'))}</th>" for c in (
                "at", "user", "action", "entity", "municipality", "detail"))
            rows = "\n".join(
                f"<tr><td>{local_text(r['at'])}</td><td>{html.escape(r['username'])}</td>"
                f"<td>{html.escape(r['action'])}</td><td>{html.escape(r['entity'])} "
                f"{html.escape(r['entity_id'] or '')}</td><td>{r['municipality_code'] or ''}</td>"
                f"<td>{html.escape(describe_detail(r['detail']))}</td></tr>" for r in page.rows)
            links = []
            if page.page > 1:
                links.append(f'<a href="{base}hjertekom/revisionsspor?{html.escape(urlencode({**query, "side": page.page - 1}))}">'
                             f"{html.escape(t('audit_view.previous'))}</a>")
            if page.page < page.pages:
                links.append(f'<a id="hk-next" href="{base}hjertekom/revisionsspor?'
                             f'{html.escape(urlencode({**query, "side": page.page + 1}))}">'
                             f"{html.escape(t('audit_view.next'))}</a>")
            body += (f'<p id="hk-hits">{html.escape(t("audit_view.hits", n=page.total, page=page.page, pages=page.pages))}'
                     f' · <a id="hk-export" href="{base}hjertekom/revisionsspor.csv?{html.escape(urlencode(query))}">'
                     f"{html.escape(t('audit_view.export'))}</a></p>"
                     f'<table class="hk-audit"><tr>{head}</tr>\n{rows}\n</table><p>{" · ".join(links)}</p>')
        self.show(t("audit_view.title"), body, status)


class AuditCsvHandler(AuditHandler):
    """``GET /hjertekom/revisionsspor.csv?<filters>``: every matching entry as CSV, audited."""

    @web.authenticated
    def get(self) -> None:
        user = self.account()
        try:
            flt = parse_filter(self.params())
            rows = export_rows(self.ws().store, user, flt)
        except BadFilter as bad:
            return self.show(t("audit_view.title"), _notice("error", html.escape(bad.messages["da"])), 400)
        except AccessDenied:
            return self.show(t("audit_view.title"), _notice("error", html.escape(t("admin.no_access"))), 403)
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Content-Disposition", 'attachment; filename="revisionsspor.csv"')
        self.finish(("\ufeff" + csv_text(rows)).encode("utf-8"))


def _int(text: str) -> int:
    return int(text) if text.isdigit() and len(text) < 9 else 1


ROUTES: list[tuple[str, type[AdminHandler]]] = [
    (USERS_ROUTE, UsersHandler), (USER_ACTION_ROUTE, UserActionHandler), (PROFILE_ROUTE, ProfileHandler),
    (PIN_ROUTE, PinHandler),
    (AUDIT_CSV_ROUTE, AuditCsvHandler), (AUDIT_ROUTE, AuditHandler)]
