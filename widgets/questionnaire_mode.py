"""The citizen answers their own questionnaires on a tablet the clinician hands over.

"Borgerens spørgeskema (tablet)" on a form with questionnaire items (the contract's sections with
``self_report``: HADS, HeartQoL, EQ-5D-5L, WHO-5 in HjerteKom) turns the page into questionnaire
mode: only that form's items, in large type, answered by tapping; no header links, no worklist,
no other form, no save button. The page leaves the mode only with the signed-in clinician's
password or PIN ("Færdig – giv tabletten tilbage", then "Lås op"; signed in at an authenticating
proxy, where users have no password in HjerteKom, the PIN only, and the mode does not start
without one); the answers are then put into the clinician's form, each marked "Besvaret af
borgeren", and saved as the citizen's (``Service.save(self_reported=...)``) when the clinician
saves.

What holds the citizen in, since everything from the browser is hostile:

* the page shows nothing else: the header's links are removed, the course view is taken out of
  the page;
* the address is held (``routes.AddressBar.hold``): Back, Forward and a typed fragment put the
  browser back on the questionnaire's address;
* the kernel refuses every widget message from the browser to a widget outside the questionnaire
  (``CommGate``, installed in the kernel's message handlers), audited as ``access.denied``;
  the course view's own callbacks refuse as well (for a kernel without the gate, e.g. a test);
* a reload starts a new page of the same login: the hand-over is kept in the form's autosave
  (key ``_tablet``), and a new page of that login opens straight into the questionnaire
  (``resume_held``, called when the page starts).

Shared questions (docs/programmes.md): an instrument the form shows read-only as answered the same
day in another programme (``CourseView.shared``) is not asked on the tablet; one the other programme
lacks, or opened with "Ret svarene", is, and the clinician's save treats the answers like typed ones.

Docs: docs/questionnaire-mode.md.
"""
from __future__ import annotations

import html
import json
import logging
import time
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

import ipywidgets as w
from sqlalchemy import select

from hjertekom_core import audit
from hjertekom_core.contract import UNKNOWN, Field, Section
from hjertekom_core.errors import AuthenticationFailed, LoginLocked
from hjertekom_core.store.schema import autosaves, courses
from hjertekom_core.users import authenticate, has_pin, unlock_with_pin_or_password
from hjertekom_widgets import routes
from hjertekom_widgets.danish_time import danish
from hjertekom_widgets.routes import Route
from hjertekom_widgets.text import t

if TYPE_CHECKING:
    from hjertekom_widgets.app import EntryShell
    from hjertekom_widgets.course_view import CourseView

log = logging.getLogger("hjertekom.entry.questionnaire")

#: The key of the hand-over in the form's autosave: {"open": the tablet is with the citizen,
#: "items": the fields the citizen answered}. The form's widgets ignore keys that are no field.
TABLET_KEY = "_tablet"
#: Refused messages audited per hand-over; more are only counted (a script can send thousands).
MAX_AUDITED_REFUSALS = 20
#: The longest a wrong password makes the page wait (the login's throttling delay, capped).
MAX_WAIT_SECONDS = 4.0
#: Per key (``QuestionnaireMode.key``): the unlock page's words and the audited reason of a refusal.
UNLOCK_FOR = {"password": "qm.unlock_for", "pin": "qm.unlock_for_pin", "pin_or_password": "qm.unlock_for_pin_or_password"}
WRONG = {"password": "wrong password", "pin": "wrong PIN", "pin_or_password": "wrong PIN or password"}

_CSS = (
    "<style>"
    ".hk-qm{font-size:22px;line-height:1.4;max-width:900px}"
    ".hk-qm h2{font-size:30px;margin:8px 0}.hk-qm h3{font-size:26px;margin:16px 0 6px 0}"
    ".hk-qm .hk-qm-question{font-size:22px;font-weight:600;margin:14px 0 6px 0}"
    ".hk-qm .widget-toggle-buttons .widget-toggle-button,.hk-qm .jupyter-button{"
    "font-size:20px;min-height:60px;height:auto;width:auto;min-width:120px;white-space:normal;"
    "padding:8px 16px;margin:4px}"
    ".hk-qm .widget-toggle-buttons .widget-toggle-button.mod-active{background:#1f5fa8;color:#fff;font-weight:bold}"
    ".hk-qm .widget-toggle-buttons{flex-wrap:wrap;height:auto}"
    ".hk-qm input{font-size:22px;height:48px}"
    ".hk-qm .widget-text,.hk-qm .widget-password{width:auto;height:auto}"
    "</style>"
)


def citizen_sections(form: Any) -> list[tuple[Section, tuple[Field, ...]]]:
    """The form's questionnaire sections and the citizen's items of each, in contract order."""
    return [(s, items) for s in form.sections if (items := s.self_report_items())]


def _model_ids(widget: w.Widget) -> set[str]:
    """The comm ids of ``widget`` and every widget inside it."""
    ids: set[str] = set()
    stack: list[Any] = [widget]
    while stack:
        current = stack.pop()
        model_id = getattr(current, "model_id", None)
        if model_id:
            ids.add(model_id)
        stack.extend(getattr(current, "children", ()) or ())
    return ids


class CommGate:
    """Refuses, while ``active``, every widget message from the browser except those to the widgets
    ``allowed()`` names (their comm ids): installed in front of the kernel's comm handlers, so that
    no click, value or state request reaches any other widget (a save button, the form selector,
    the worklist). ``refused(msg_type, detail)`` hears of each refusal.

    The one exception is the widget manager's control comm (a page loading after a reload asks it
    for the widgets' states, or it shows nothing): it only reads, and in a page that starts in the
    questionnaire it holds no other citizen (see ``resume_held``)."""

    MSG_TYPES = ("comm_open", "comm_msg", "comm_close")
    CONTROL_TARGET = "jupyter.widget.control"

    def __init__(self, allowed: Callable[[], Collection[str]], refused: Callable[[str, dict[str, str]], None]) -> None:
        self.allowed = allowed
        self.refused = refused
        self.active = False
        self.installed_on: Any = None
        self._control: set[str] = set()   # the control comms the page's widget manager opened

    def install(self, kernel: Any) -> bool:
        """Put the gate in front of ``kernel``'s comm handlers (once); False without a kernel."""
        handlers = getattr(kernel, "shell_handlers", None)
        if not isinstance(handlers, dict):
            return False
        if self.installed_on is kernel:
            return True
        for msg_type in self.MSG_TYPES:
            original = handlers.get(msg_type)
            if original is not None:
                handlers[msg_type] = self._wrap(msg_type, original)
        self.installed_on = kernel
        return True

    def _wrap(self, msg_type: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def gated(stream: Any, idents: Any, msg: Any) -> Any:
            if self.active and not self.admits(msg_type, msg):
                return None
            return original(stream, idents, msg)

        gated.__wrapped__ = original  # type: ignore[attr-defined]
        return gated

    def admits(self, msg_type: str, msg: Any) -> bool:
        """Whether the message may reach its widget; a refusal is reported (never its content)."""
        content = msg.get("content") if isinstance(msg, Mapping) else None
        content = content if isinstance(content, Mapping) else {}
        comm_id = content.get("comm_id")
        if msg_type == "comm_open" and content.get("target_name") == self.CONTROL_TARGET and isinstance(comm_id, str):
            self._control.add(comm_id)
            return True
        if msg_type == "comm_msg" and isinstance(comm_id, str) and (comm_id in self._control
                                                                    or comm_id in self.allowed()):
            return True
        data = content.get("data")
        method = data.get("method") if isinstance(data, Mapping) else None
        self.refused(msg_type, {"method": str(method)[:40] if method is not None else "-"})
        return False


def _kernel() -> Any:
    """The running IPython kernel, or None (a plain interpreter, a test)."""
    try:
        from IPython import get_ipython   # present wherever ipywidgets is
    except ImportError:  # pragma: no cover
        return None
    shell = get_ipython()
    return getattr(shell, "kernel", None) if shell is not None else None


class QuestionnaireMode:
    """The questionnaire mode of the page's course view (one per page)."""

    def __init__(self, course_view: CourseView) -> None:
        self.cv = course_view
        self.shell: EntryShell = course_view.shell
        self.active = False
        self.lang = "da"
        self.course_id = 0
        self.form_name = ""
        self.answers: dict[str, Any] = {}     # this hand-over's answers: field -> value
        self.marked: set[str] = set()         # the citizen's answers in the form, until it is saved
        self.failures = 0
        self._refusals = 0
        self._header = ""
        self._inputs: dict[str, w.Widget] = {}
        self._filling = False
        self.gate = CommGate(self._allowed_ids, self._message_refused)
        self.note = w.HTML()
        self.note.add_class("hk-qm-note")
        self.widget = w.VBox(layout=w.Layout(padding="8px 16px"))
        self.widget.add_class("hk-qm")

    # --- which forms ----------------------------------------------------------------------------------
    def shared_elsewhere(self) -> set[str]:
        """The form's instruments already answered the same day in another programme and shown
        read-only (shared questions, ``SharedAnswersPanel``): the citizen is not asked them again.
        An instrument the clinician chose to correct ("Ret svarene") is asked."""
        return {name for name, state in self.cv.shared.state.items() if state == "shared"}

    def sections(self) -> list[tuple[Section, tuple[Field, ...]]]:
        """The questionnaire sections the citizen answers on the tablet: the form's, less those
        answered the same day in another programme."""
        skipped = self.shared_elsewhere()
        form = self.shell.contract.form(self.cv.form_name if not self.active else self.form_name)
        return [(s, items) for s, items in citizen_sections(form) if s.instrument not in skipped]

    def offered(self) -> bool:
        """Whether the form shown has questionnaire items the citizen can answer now (not all of
        them answered already in another programme the same day)."""
        return bool(self.sections())

    def key(self) -> str:
        """What takes the tablet back: ``pin`` (signed in at an authenticating proxy: no password in
        HjerteKom), ``pin_or_password`` or ``password`` (the login form, with or without a PIN)."""
        session = self.shell.session
        if session is None:
            return "password"
        if session.proxy:
            return "pin"
        return "pin_or_password" if has_pin(self.shell.service.store, session.user.id) else "password"

    def way_back(self) -> bool:
        """Whether the clinician can take the tablet back: a password, or (hosted set-up) a PIN."""
        session = self.shell.session
        return session is not None and (not session.proxy or has_pin(self.shell.service.store, session.user.id))

    # --- entering -------------------------------------------------------------------------------------
    def enter(self, *, resumed: bool = False) -> None:
        """Hand the tablet to the citizen: the page shows only this form's questionnaire. Not without
        a way back (a proxy user without a PIN is told to choose one first); a reload of a hand-over
        (``resumed``) always comes back into it, so that the citizen stays in."""
        cv = self.cv
        if self.active or cv.view.locked:
            return
        if not self.offered():
            if self.shared_elsewhere():   # every questionnaire of the form answered elsewhere today
                self.shell.show("info", t("qm.all_shared", self.lang))
            return
        if not resumed and not self.way_back():
            self.shell.show("error", t("qm.need_pin", self.lang))
            return
        self.course_id, self.form_name = cv.course_id, cv.form_name
        self.answers = {}
        self.failures = self._refusals = 0
        self.active = True
        self.gate.active = True
        kernel = _kernel()
        if kernel is not None:
            self.gate.install(kernel)
        shell = self.shell
        self._header = shell.header.value
        shell.header.value = (f'<div style="border-bottom:2px solid #8b1e2d;padding:6px 0;font-size:1.3em;'
                              f'color:#8b1e2d;font-weight:600">{html.escape(t("qm.title", self.lang))}</div>')
        shell.show("", "")
        self._show_questions()
        shell.body.children = (self.widget,)
        shell.address.hold(Route(routes.QUESTIONNAIRE, self.course_id, self.form_name), self._address_refused)
        self._persist()
        self._audit("questionnaire.start", {"form": self.form_name, "resumed": resumed})

    # --- the questions --------------------------------------------------------------------------------
    def _current_value(self, name: str) -> Any:
        if name in self.answers:
            return self.answers[name]
        fw = self.cv.view.fields.get(name)
        value = fw.value if fw is not None else None
        return None if value == UNKNOWN else value

    def _show_questions(self) -> None:
        lang = self.lang
        form = self.shell.contract.form(self.form_name)
        self._inputs = {}
        language = w.ToggleButtons(options=[("Dansk", "da"), ("English", "en")], value=lang)
        language.add_class("hk-qm-language")
        language.observe(self._language_chosen, names="value")
        children: list[w.Widget] = [w.HTML(_CSS), language,
                                    w.HTML(f"<p>{html.escape(t('qm.welcome', lang))}</p>"), self.note]
        skipped = [s.label.get(lang) for s in form.sections if s.instrument in self.shared_elsewhere()]
        if skipped:   # answered today in another programme: not asked again (no answers, no place shown)
            already = w.HTML(f"<p>{html.escape(t('qm.shared_skipped', lang, sections=', '.join(skipped)))}</p>")
            already.add_class("hk-qm-shared-skipped")
            children.append(already)
        for section, items in self.sections():
            report = section.self_report
            intro = report.intro.get(lang) if report is not None and report.intro else ""
            children.append(w.HTML(f"<h3>{html.escape(section.label.get(lang))}</h3>"
                                   + (f"<p>{html.escape(intro)}</p>" if intro else "")))
            for f in items:
                children.append(self._question(f))
        done = w.Button(description=t("qm.done", lang), button_style="primary", icon="check")
        done.add_class("hk-qm-done")
        done.on_click(self._safely("done", lambda _: self._show_unlock()))
        children.append(w.HTML("<hr>"))
        children.append(done)
        self.widget.children = tuple(children)

    def _question(self, f: Field) -> w.Widget:
        lang = self.lang
        label = w.HTML(f'<div class="hk-qm-question">{html.escape(f.label.get(lang))}</div>'
                       + (f"<div>{html.escape(f.help.get(lang))}</div>" if f.help and f.codelist is None else ""))
        value = self._current_value(f.name)
        control: w.Widget
        if f.codelist is not None or f.type == "bool":
            options: list[tuple[str, Any]]
            if f.codelist is not None:
                options = [(c.label.get(lang), c.code) for c in f.codelist.codes if c.code != UNKNOWN]
            else:
                options = [(t("yes", lang), True), (t("no", lang), False)]
            known = value if any(code == value for _, code in options) else None
            control = w.ToggleButtons(options=options, value=known, style={"button_width": "auto"})
        else:
            low = f.hard.min if f.hard and f.hard.min is not None else 0
            high = f.hard.max if f.hard and f.hard.max is not None else 100
            control = w.Text(value="" if value is None else str(value), continuous_update=False,
                             placeholder=t("qm.number_hint", lang, low=f"{low:g}", high=f"{high:g}"),
                             layout=w.Layout(width="8em"))
        control.add_class(f"hk-qm-item-{f.name}")
        control.observe(self._safely("answer", lambda change, f=f: self._answered(f, change["new"])), names="value")
        self._inputs[f.name] = control
        box = w.VBox([label, control])
        box.add_class("hk-qm-item")
        return box

    def _language_chosen(self, change: dict[str, Any]) -> None:
        if change["new"] in ("da", "en") and change["new"] != self.lang and self.active:
            self.lang = change["new"]
            self._show_questions()

    def _answered(self, f: Field, value: Any) -> None:
        if not self.active or self._filling:
            return
        if isinstance(value, str):   # a number typed on the tablet
            text = value.strip()
            if not text:
                self.answers.pop(f.name, None)
                self._persist()
                return
            low = f.hard.min if f.hard and f.hard.min is not None else 0
            high = f.hard.max if f.hard and f.hard.max is not None else 100
            try:
                number = int(text)
            except ValueError:
                number = None
            if number is None or not low <= number <= high:
                self.note.value = _box("warn", t("qm.number_wrong", self.lang, low=f"{low:g}", high=f"{high:g}"))
                return
            value = number
        self.note.value = ""
        self.answers[f.name] = value
        self._persist()

    # --- handing back ---------------------------------------------------------------------------------
    def _show_unlock(self) -> None:
        lang = self.lang
        user = self.shell.session.user if self.shell.session else None
        name = user.display_name if user else ""
        key = self.key()
        self._password = w.Password(placeholder=t(f"qm.{key}", lang), layout=w.Layout(width="20em"))
        self._password.add_class("hk-qm-password")
        unlock = w.Button(description=t("qm.unlock", lang), button_style="warning", icon="unlock")
        unlock.add_class("hk-qm-unlock")
        unlock.on_click(self._safely("unlock", lambda _: self.unlock(self._password.value)))
        back = w.Button(description=t("qm.back_to_questions", lang), icon="arrow-left")
        back.add_class("hk-qm-back")
        back.on_click(self._safely("back to questions", lambda _: self._show_questions()))
        self.note.value = ""
        self.widget.children = (w.HTML(_CSS), w.HTML(f"<h2>{html.escape(t('qm.handed_back', lang))}</h2>"),
                                w.HTML(f"<p>{html.escape(t(UNLOCK_FOR[key], lang, name=name))}</p>"),
                                self._password, w.HBox([unlock, back]), self.note)

    def unlock(self, password: str) -> bool:
        """The clinician's password or PIN (``key``): back to the form (True), or refused, counted and
        audited by the login's own throttle (``users.authenticate``, ``unlock_with_pin_or_password``)."""
        if not self.active:
            return False
        session = self.shell.session
        if session is None:
            return False
        if hasattr(self, "_password"):
            self._password.value = ""   # never left in the page
        store = self.shell.service.store
        key = self.key()
        try:
            if key == "password":
                authenticate(store, session.user.username, password)
            else:
                unlock_with_pin_or_password(store, session.user.username, password, password_allowed=key != "pin")
        except LoginLocked as exc:
            self._audit_refusal("questionnaire.unlock", "locked")
            self.note.value = _box("error", t("qm.locked_out", self.lang, time=f"{danish(exc.until):%H:%M}"))
            return False
        except AuthenticationFailed as exc:
            self.failures += 1
            self._audit_refusal("questionnaire.unlock", WRONG[key], {"failures": self.failures})
            time.sleep(min(float(getattr(exc, "delay_seconds", 0.0) or 0.0), MAX_WAIT_SECONDS))
            self.note.value = _box("error", t(f"qm.wrong_{key}", self.lang, n=self.failures))
            return False
        self._return()
        return True

    def _return(self) -> None:
        """Back to the clinician's form, with the citizen's answers in it and marked."""
        cv, shell = self.cv, self.shell
        self.active = False
        self.gate.active = False
        shell.address.release()
        shell.header.value = self._header
        asked = {f.name for _, items in self.sections() for f in items}
        given = {name: value for name, value in self.answers.items() if value is not None and name in asked}
        statuses = {s.self_report.status: s.self_report.answered for s, items in self.sections()
                    if s.self_report is not None and s.self_report.status
                    and any(f.name in given for f in items)}
        if given:
            cv.view.apply_values({**statuses, **given})
        self.marked |= set(given)
        cv.view.mark_self_reported(self.marked)
        shell.body.children = (cv.widget,)
        cv.widget.layout.display = ""
        shell.address.show(Route(routes.COURSE, self.course_id, self.form_name), replace=True)
        cv.after_questionnaire(len(self.marked))   # with those given before a reload
        self._audit("questionnaire.end", {"form": self.form_name, "answered": len(given)})
        self.answers = {}

    # --- the clinician's form afterwards --------------------------------------------------------------
    def form_shown(self, restored: Mapping[str, Any] | None) -> None:
        """A form was (re)opened in the course view: its marks come back from its autosave."""
        hand_over = restored.get(TABLET_KEY) if restored else None
        items = hand_over.get("items") if isinstance(hand_over, Mapping) else None
        self.marked = {n for n in items if isinstance(n, str)} if isinstance(items, list) else set()
        self.cv.view.mark_self_reported(self.marked)

    def clinician_changed(self, name: str) -> None:
        """The clinician changed a field: if the citizen had answered it, it is the clinician's now."""
        if name in self.marked:
            self.marked.discard(name)
            self.cv.view.mark_self_reported(self.marked)

    def saved(self) -> None:
        """The form was saved (with the marks, see ``Service.save(self_reported=)``)."""
        self.marked = set()
        self.cv.view.mark_self_reported(())

    def autosave_extra(self) -> dict[str, Any]:
        """What the course view's autosave keeps of the hand-over (the marks), if anything."""
        return {TABLET_KEY: {"open": False, "items": sorted(self.marked)}} if self.marked else {}

    def _persist(self) -> None:
        """Keep the hand-over in the form's autosave: a reload comes back into the questionnaire."""
        cv = self.cv
        given = {name: value for name, value in self.answers.items() if value is not None}
        statuses = {s.self_report.status: s.self_report.answered for s, items in self.sections()
                    if s.self_report is not None and s.self_report.status
                    and any(f.name in given for f in items)}
        data = {**cv.view.data(), **cv.typed_values(), **statuses, **given,
                TABLET_KEY: {"open": True, "items": sorted(self.marked | set(given))}}
        self.shell.service.autosave(self.course_id, self.form_name, data, cv.autosave_base)

    # --- refusals -------------------------------------------------------------------------------------
    def _allowed_ids(self) -> set[str]:
        return _model_ids(self.widget) | {self.shell.address.inbox.model_id}

    def _message_refused(self, msg_type: str, detail: dict[str, str]) -> None:
        self._audit_refusal("questionnaire.widget_message", "questionnaire mode", {"message": msg_type, **detail})
        self._tell_stay()

    def _address_refused(self, _fragment: str) -> None:
        # The fragment is not logged: whatever was typed into the address bar stays out of the log.
        self._audit_refusal("questionnaire.address", "questionnaire mode")
        self._tell_stay()

    def refused(self, context: str) -> None:
        """A callback of the course view that ran while the tablet is with the citizen (refused)."""
        self._audit_refusal("questionnaire.widget_message", "questionnaire mode", {"call": context[:40]})
        self._tell_stay()

    def _tell_stay(self) -> None:
        self.note.value = _box("warn", t("qm.stay", self.lang, done=t("qm.done", self.lang)))

    def _audit_refusal(self, attempted: str, reason: str, detail: Mapping[str, Any] | None = None) -> None:
        self._refusals += 1
        log.warning("questionnaire mode refused %s (%s) on course %s", attempted, reason, self.course_id)
        if self._refusals > MAX_AUDITED_REFUSALS and attempted != "questionnaire.unlock":
            return
        session = self.shell.session
        try:
            audit.deny(self.shell.service.store, session.user if session else None, attempted, "course",
                       self.course_id, self.cv.course.municipality_code, reason, detail)
        except Exception:  # noqa: BLE001 - the refusal stands even if the audit write fails
            log.exception("could not audit a refusal in questionnaire mode")

    def _audit(self, action: str, detail: Mapping[str, Any]) -> None:
        session = self.shell.session
        if session is None:
            return
        with self.shell.service.store.write() as conn:
            audit.record(conn, session.user, action, "course", self.course_id, self.cv.course.municipality_code,
                         detail)

    def _safely(self, context: str, action: Callable[[Any], None]) -> Callable[[Any], None]:
        """The shell's ``guarded``: a problem becomes a short Danish message, never a traceback."""
        return self.shell.guarded(f"questionnaire {context}")(action)


def _box(kind: str, text: str) -> str:
    colour = {"error": "#b42318", "warn": "#93370d"}.get(kind, "#1f5fa8")
    return (f'<div role="alert" style="border-left:6px solid {colour};padding:8px 12px;margin:8px 0;'
            f'background:#fff8f0;color:{colour}">{html.escape(text)}</div>')


def held_tablet(shell: EntryShell) -> tuple[int, str] | None:
    """The course and form of this user's tablet that is still with the citizen (an autosave with
    an open hand-over), or None."""
    session = shell.session
    if session is None or session.user.id is None:
        return None
    with shell.service.store.read() as conn:
        rows = conn.execute(select(autosaves.c.course_id, autosaves.c.form, autosaves.c.data, courses.c.programme)
                            .join(courses, courses.c.id == autosaves.c.course_id)
                            .where(autosaves.c.user_id == session.user.id,
                                   autosaves.c.data.contains(f'"{TABLET_KEY}"', autoescape=True))
                            .order_by(autosaves.c.saved_at.desc())).all()
    for row in rows:
        try:
            hand_over = json.loads(row.data).get(TABLET_KEY)
        except (ValueError, AttributeError):
            continue
        # The form as the course's own programme names it (not the default programme's names).
        forms = shell.contracts[row.programme].forms if row.programme in shell.contracts else {}
        if isinstance(hand_over, Mapping) and hand_over.get("open") is True and row.form in forms:
            return int(row.course_id), str(row.form)
    return None


def resume_held(shell: EntryShell) -> bool:
    """A new page (a reload) of a login whose tablet is with the citizen opens the questionnaire
    again, whatever address it asked for; True when it did."""
    held = held_tablet(shell)
    if held is None:
        return False
    course_id, form = held
    shell.guarded("resume questionnaire")(shell.open_course)(course_id, form)
    view = shell._course_view()   # noqa: SLF001 - the page's one course view
    if view.course_id == course_id and view.form_name == form:
        view.questionnaire.enter(resumed=True)
    return view.questionnaire.active


__all__ = ["TABLET_KEY", "CommGate", "QuestionnaireMode", "citizen_sections", "held_tablet", "resume_held"]
