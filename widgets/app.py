"""The clinician's workbench in Voilà: the page's shell, which shows the worklist
(worklist.py), a new citizen and course (new_course.py), one citizen (citizen_view.py) or one
course (course_view.py). Each view has an address of its own (routes.py), so that Back, Forward,
a reload and a bookmark work. Every programme loaded is entered here: a course is shown with its
own programme's contract (``contract_of(course.programme)``), and only with more than one programme
does the app ask for or show the programme (docs/programmes.md).

The notebook (notebooks/entry.ipynb) only calls ``prepare()`` before the request arrives (so that
a preheated kernel has imported and built everything it can without knowing the user) and
``shell.start()`` after it. Every callback runs through ``guarded``: a known problem becomes a
short Danish message, anything else is logged with its context and shown as a general message,
never as a traceback.
"""
from __future__ import annotations

import functools
import html
import logging
import os
from collections.abc import Callable
from typing import Any, TypeVar

import ipywidgets as w

from hjertekom_core.bootstrap import Workspace, open_workspace
from hjertekom_core.config import load_config
from hjertekom_core.contract import Contract, ContractRegistry
from hjertekom_core.contract.schema_check import CHECKED_ENV
from hjertekom_core.errors import AccessDenied, HjerteKomError, NotFound, RevisionConflict, SharedRevisionConflict
from hjertekom_core.logs import setup_logging
from hjertekom_core.service import Citizen, Service
from hjertekom_widgets import routes
from hjertekom_widgets.citizen_view import CitizenView
from hjertekom_widgets.course_view import CourseView
from hjertekom_widgets.messages import message_html
from hjertekom_widgets.new_course import NewCourseView
from hjertekom_widgets.page_actions import ActionChannel
from hjertekom_widgets.programmes import DEFAULT_PROGRAMME
from hjertekom_widgets.questionnaire_mode import resume_held
from hjertekom_widgets.routes import AddressBar, Route
from hjertekom_widgets.session import NotSignedIn, Session, start_session
from hjertekom_widgets.shared_looks import SharedLooks
from hjertekom_widgets.text import t as app_t
from hjertekom_widgets.worklist import WorklistView

log = logging.getLogger("hjertekom.entry")
F = TypeVar("F", bound=Callable[..., Any])


class EntryShell:
    """The page: built before the user is known, filled once the session starts."""

    def __init__(self) -> None:
        self.session: Session | None = None
        self.workspace: Workspace | None = None  # opened before the request when possible
        # One Layout and Style model per look for the page's fixed widgets (shared_looks.py): fewer
        # models for each login to send and fetch (issue 16).
        self.looks = SharedLooks()
        self.header = self.looks.html("", margin="0 0 8px 0")
        self.message = self.looks.html("")
        self.body = self.looks.vbox([])
        self.address = AddressBar(self._address_reported, self.looks)
        self.actions = ActionChannel(self.looks)  # clicks on buttons drawn as HTML (page_actions.py)
        self.shown: Route | None = None          # the view in the body
        self._courses: CourseView | None = None   # made once, at the first course opened
        self._pending_address: str | None = None  # reported before the session started
        self._following = False                   # showing what the browser's address asks for
        self.widget = self.looks.vbox([self.header, self.message, self.body, self.address.widget,
                                       self.actions.widget], "hk-app", max_width="1200px", padding="4px 12px")

    # --- infrastructure ---------------------------------------------------------------------------
    @property
    def service(self) -> Service:
        assert self.session is not None
        return Service(self.session.workspace.store, self.session.workspace.contracts, self.session.user)

    @property
    def contracts(self) -> ContractRegistry:
        """Every programme loaded (issue 19): each course is shown with its own one's contract."""
        assert self.session is not None
        return self.session.workspace.contracts

    @property
    def programmes(self) -> list[str]:
        """The programmes loaded, HjerteKom first when it is one of them (then the others by name)."""
        names = self.contracts.programmes
        return sorted(names, key=lambda p: (p != DEFAULT_PROGRAMME, p))

    @property
    def several_programmes(self) -> bool:
        """Whether the clinician chooses a programme and sees which one a course belongs to; with
        one programme the app looks as it always has."""
        return len(self.contracts.programmes) > 1

    def contract_of(self, programme: str) -> Contract:
        return self.contracts[programme]

    @property
    def contract(self) -> Contract:
        """The contract of the course the course view shows, else the default programme's
        (HjerteKom's when loaded). Code that knows its course asks ``contract_of`` instead; this
        is for code that acts on the course shown (questionnaire_mode.py)."""
        courses = self._courses
        if courses is not None and courses.course_id:
            return courses.contract
        return self.contracts[self.programmes[0]]

    @property
    def form_names(self) -> set[str]:
        """Every form name of every programme (an address may name any course's form)."""
        return {name for contract in self.contracts for name in contract.forms}

    def show(self, kind: str, text: str) -> None:
        self.message.value = message_html(kind, text) if text else ""

    def guarded(self, context: str) -> Callable[[F], F]:
        def wrap(func: F) -> F:
            @functools.wraps(func)
            def run(*args: Any, **kwargs: Any) -> Any:
                try:
                    return func(*args, **kwargs)
                except NotFound:
                    self.show("error", "Borgeren eller forløbet findes ikke, eller du har ikke adgang til det.")
                except AccessDenied as exc:  # a restricted citizen (GDPR art. 18) is said to be so
                    self.show("error", getattr(exc, "user_message", None)
                              or "Det har du ikke adgang til. Kontakt din koordinator, hvis det er en fejl.")
                except SharedRevisionConflict as exc:   # the other programme's registration changed
                    self.show("error", exc.message("da"))
                except RevisionConflict:
                    self.show("error", "En kollega har gemt samtidig med dig. Genindlæs siden og prøv igen.")
                except HjerteKomError as exc:
                    # Known, but not one a clinician can act on: logged with context, shown in Danish.
                    log.warning("%s failed (user %s): %s", context,
                                self.session.user.username if self.session else "-", type(exc).__name__)
                    self.show("error", app_t("unexpected"))
                except Exception:
                    user = self.session.user.username if self.session else "-"
                    log.exception("unexpected error in %s (user %s)", context, user)
                    self.show("error", app_t("unexpected"))
                return None

            return run  # type: ignore[return-value]

        return wrap

    # --- start -----------------------------------------------------------------------------------
    def start(self) -> None:
        try:
            self.session = start_session(self.workspace)
        except NotSignedIn:
            self.body.children = ()
            self.show("error", app_t("not_signed_in"))
            return
        config = self.session.workspace.config
        setup_logging(config.log_file, config.log_level)
        user = self.session.user
        names = self.contracts.codelists["municipalities"]   # shared by every programme
        where = ", ".join(names.label_of(c) for c in sorted(user.municipalities)) or "alle kommuner"
        reports_link = (f'<a href="hjertekom/rapporter" target="_blank" class="hk-reports">{app_t("reports.link")}</a> · '
                        if user.can("report.read") else "")
        # Administrators and coordinators (read-only): the users; administrators: the audit log.
        reports_link += (f'<a href="hjertekom/brugere" target="_blank" class="hk-users">{app_t("admin.link")}</a> · '
                         if user.can("user.read") else "")
        reports_link += (f'<a href="hjertekom/revisionsspor" target="_blank" class="hk-audit">'
                         f'{app_t("audit_view.link")}</a> · ' if user.can("audit.read") else "")
        reports_link += '<a href="hjertekom/profil" target="_blank" class="hk-profile">Min profil</a> · '  # own contact
        # The questionnaire mode's key (questionnaire_mode.py): the user's own PIN.
        reports_link += '<a href="hjertekom/pin" target="_blank" class="hk-pin">Min PIN-kode</a> · '
        self.header.value = (
            '<div style="display:flex;justify-content:space-between;align-items:center;'
            'border-bottom:2px solid #8b1e2d;padding:6px 0">'
            '<span style="font-size:1.3em;color:#8b1e2d;font-weight:600">HjerteKom</span>'
            f'<span class="hk-user">{html.escape(user.display_name)} · {html.escape(where)} · '
            f'{reports_link}<a href="logout" class="hk-logout">{app_t("log_out")}</a></span></div>')
        if resume_held(self):
            # This login's tablet is with a citizen (questionnaire_mode.py): a reload or a new page
            # opens that questionnaire again, whatever address it asked for.
            return
        if self._pending_address is not None:
            # A reload or a bookmark reported its address first: open that view straight away. The
            # worklist first would be a history entry of its own, and Back would then return to
            # the same address instead of the view before the reload.
            self._address_reported(self._pending_address)
        else:
            self.open_worklist()

    # --- addresses -------------------------------------------------------------------------------
    def _moved(self, route: Route) -> None:
        """The body shows ``route`` now: say so to the browser (a history entry of its own, or the
        current one corrected when the browser asked for it)."""
        self.shown = route
        self.address.show(route, replace=self._following)

    def _address_reported(self, fragment: str) -> None:
        """The browser is at ``fragment`` (the first load, a reload, a bookmark, Back or Forward)."""
        if self.session is None:
            self._pending_address = fragment
            return
        self._pending_address = None
        route = routes.parse(fragment, self.form_names)
        self._following = True
        try:
            if route is None:                        # no such address: the worklist, and say so
                self.open_worklist()
                self.show("info", "Adressen findes ikke i HjerteKom. Her er arbejdslisten.")
            elif route == self.shown:
                self.address.show(route, replace=True)
            else:
                self.guarded("open address")(self._open_route)(route)
        finally:
            self._following = False

    def _open_route(self, route: Route) -> None:
        """Open what an address names, through the service like any click: a citizen or course
        outside the user's municipalities (or none at all) is refused in Danish, and the refusal
        audited; the browser's address then becomes the worklist's."""
        try:
            if route.view == routes.NEW:
                self.open_new_citizen()
            elif route.view == routes.CITIZEN and route.id is not None:
                self.open_citizen(route.id)
            elif route.view == routes.NEW_COURSE and route.id is not None:
                self.open_new_citizen(citizen=self.service.get_citizen(route.id))
            elif route.view == routes.COURSE and route.id is not None:
                self.open_course(route.id, route.form)
            else:
                self.open_worklist()
        except (NotFound, AccessDenied):
            self.open_worklist()
            raise   # guarded() says why, in Danish

    # --- views -----------------------------------------------------------------------------------
    def _put(self, widget: w.Widget) -> None:
        """Show ``widget`` in the body. The course view, once made, stays first in the body and is
        only hidden while another view is shown: the browser keeps its form's ~500 views drawn
        (it keeps the views of a box's first children that did not change), so that opening the
        next course only updates values instead of drawing the form again."""
        courses = self._courses
        if courses is None or not courses.course_id:   # made, but no course was ever shown in it
            self.body.children = (widget,)
        elif widget is courses.widget:
            self.body.children = (widget,)
            widget.layout.display = ""
        else:
            courses.widget.layout.display = "none"
            self.body.children = (courses.widget, widget)

    @property
    def course_shown(self) -> bool:
        """Whether the body shows the course view (not hidden behind another view)."""
        return self._courses is not None and self.body.children == (self._courses.widget,)

    def open_worklist(self, note: str = "") -> None:
        self.show("ok" if note else "info", note)
        self._put(WorklistView(self).widget)
        self._moved(Route(routes.WORKLIST))

    def open_new_citizen(self, cpr: str = "", citizen: Citizen | None = None) -> None:
        self.show("", "")
        self._put(NewCourseView(self, cpr, citizen).widget)
        self._moved(Route(routes.NEW_COURSE, citizen.id) if citizen else Route(routes.NEW))

    def open_citizen(self, citizen_id: int) -> None:
        view = CitizenView(self, citizen_id)
        self.show("", "")
        self._put(view.widget)
        self._moved(Route(routes.CITIZEN, citizen_id))

    def open_course(self, course_id: int, form: str | None = None, note: str = "") -> None:
        view = self._course_view()
        view.open(course_id, form)
        self._put(view.widget)
        self.show("ok" if note else "", note)
        self._moved(Route(routes.COURSE, course_id, view.form_name))

    def _course_view(self) -> CourseView:
        """The page's one course view, made at the first course opened (its forms' widgets are
        built once and refilled for every course after, see CourseView)."""
        if self._courses is None:
            view = self._courses = CourseView(self)
            # Another form of the course: the address follows, in place (Back leaves the course).
            view.selector.observe(lambda _: self._form_switched(view), names="value")
        return self._courses

    def _form_switched(self, view: CourseView) -> None:
        shown = self.shown
        # Not while the view is being filled with another course (open_course says where it is).
        if self.course_shown and shown is not None and shown.view == routes.COURSE and shown.id == view.course_id:
            self.shown = Route(routes.COURSE, view.course_id, view.form_name)
            self.address.show(self.shown, replace=True)


def prepare() -> EntryShell:
    """Everything that does not depend on the user (runs before a preheated kernel is claimed):
    the widgets, and the workspace (configuration, contracts parsed from YAML, the store's engine),
    which costs about 0.5 s and would otherwise be paid after the request arrived."""
    shell = EntryShell()
    try:
        shell.workspace = open_workspace(load_config(), pool_size=1)
    except Exception:  # noqa: BLE001 - start() opens it again and reports the problem properly
        log.exception("could not open the workspace before the request")
    return shell


def warm() -> None:
    """What the kernel zygote does once before it forks kernels (kernel_zygote.py): load the
    contracts, so that every kernel's ``prepare`` finds them parsed (the loader keeps what it
    loaded, by the files' digest). No store connection: a forked kernel must not share one."""
    config = load_config()
    ContractRegistry(config.contracts_dir, checked_digest=os.environ.get(CHECKED_ENV), programmes=config.programmes)
