"""A new citizen (unless one is given or already registered) and a new course with its course form.

A CPR number that is registered already (in the user's municipalities) opens that citizen: the
registered name is shown, a different typed name is pointed out (and never saved over it), and the
citizen's unfinished courses are offered first. A second course while one is open needs an explicit
reason, which the service checks too (``Service.open_course``).

With more than one programme loaded the clinician chooses the programme first ("Program", each
contract's Danish label) and then gets that programme's course form; with one programme there is
no choice to make and the page is as it always was. A second course needs a reason only beside an
unfinished course of the same programme (as the service counts them).
"""
from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from hjertekom_core.citizen_state import PREVIOUSLY_ERASED_MESSAGE
from hjertekom_core.cpr import InvalidCpr, parse_cpr
from hjertekom_core.errors import CitizenElsewhere, CitizenExists, OpenCourseExists, ValidationFailed
from hjertekom_core.service import SECOND_COURSE_REASONS, Citizen, Course
from hjertekom_widgets.forms import FormView
from hjertekom_widgets.messages import issues_html, message_html
from hjertekom_widgets.programmes import DEFAULT_PROGRAMME, end_form, form_roles, form_word, programme_name, states_text

if TYPE_CHECKING:
    from hjertekom_widgets.app import EntryShell

_CHOOSE_REASON = "— vælg hvorfor —"
_CHOOSE_PROGRAMME = "— vælg program —"


class NewCourseView:
    """Create a citizen (unless known) and open a course with its course form."""

    def __init__(self, shell: EntryShell, cpr: str = "", citizen: Citizen | None = None) -> None:
        self.shell = shell
        self.known: Citizen | None = citizen      # the registered citizen the course is for, once known
        self.open_courses: list[Course] = []
        user = shell.session.user if shell.session else None
        self.cpr = w.Text(value=cpr, description="CPR-nummer", placeholder="ddmmåå-xxxx", continuous_update=True,
                          style={"description_width": "140px"})
        self.cpr.add_class("hk-new-cpr")
        self.name = w.Text(description="Navn", style={"description_width": "140px"},
                           layout=w.Layout(width="420px"))
        self.name.add_class("hk-new-name")
        self.cpr_hint = w.HTML()
        self.known_box = w.VBox()
        self.known_box.add_class("hk-known-citizen")
        self.name_note = w.HTML()
        self.name_note.add_class("hk-name-differs")
        self.reason = w.Dropdown(options=[(_CHOOSE_REASON, "")] + [(t["da"], k) for k, t in SECOND_COURSE_REASONS.items()],
                                 value="", description="Nyt forløb fordi", style={"description_width": "140px"},
                                 layout=w.Layout(width="560px"))
        self.reason.add_class("hk-second-course-reason")
        self.cpr.observe(shell.guarded("check cpr")(self._check_cpr), names="value")
        self.name.observe(lambda _: self._compare_names(), names="value")
        self._user_municipalities = set(user.municipalities) if user else set()
        self._forms: dict[str, FormView] = {}   # programme -> its course form, built at its first choice
        self.form_box = w.VBox()
        self.form_box.add_class("hk-new-course-form")
        self.programme = w.Dropdown(
            options=[(_CHOOSE_PROGRAMME, "")] + [(shell.contract_of(p).label.get("da"), p) for p in shell.programmes],
            value="", description="Program", style={"description_width": "140px"}, layout=w.Layout(width="560px"))
        self.programme.add_class("hk-new-programme")
        self.form: FormView | None = None
        if shell.several_programmes:
            self.programme.observe(shell.guarded("choose programme")(lambda _: self._programme_chosen()),
                                   names="value")
        else:
            self._use_programme(shell.programmes[0])
        self.save = w.Button(description="Opret forløb", button_style="primary", icon="check")
        self.save.add_class("hk-create-course")
        self.save.on_click(shell.guarded("create course")(self._create))
        back = w.Button(description="Tilbage", icon="arrow-left")
        back.on_click(shell.guarded("back")(lambda _: shell.open_worklist()))
        self.heading = w.HTML("<h3>Ny borger og forløb</h3>")
        who = [self.heading] if citizen else [self.heading, self.cpr, self.cpr_hint, self.name, self.name_note]
        # One programme: the page exactly as before (its course form straight in the page).
        if shell.several_programmes:
            form_part: list[w.Widget] = [self.programme, self.known_box, self.form_box]
        else:
            form_part = [self.known_box, self._forms[self.chosen].widget]
        self.widget = w.VBox([*who, *form_part, w.HBox([self.save, back])])
        if citizen is not None:
            self._show_known(citizen)
        elif cpr:
            self._check_cpr({"new": cpr})

    # --- which programme ---------------------------------------------------------------------------
    @property
    def chosen(self) -> str:
        """The programme the course is for ("" while none is chosen)."""
        return self.programme.value if self.shell.several_programmes else self.shell.programmes[0]

    def _use_programme(self, programme: str) -> None:
        """Show ``programme``'s course form (built once per page and programme)."""
        form = self._forms.get(programme)
        if form is None:
            contract = self.shell.contract_of(programme)
            form = self._forms[programme] = FormView(contract, contract.course_form)
            form.widget.add_class(f"hk-programme-{programme}")
            if len(self._user_municipalities) == 1:
                form.load({contract.municipality_field: next(iter(self._user_municipalities))})
        self.form = form
        if self.shell.several_programmes:   # one programme: the form stands in the page itself
            self.form_box.children = (form.widget,)

    def _programme_chosen(self) -> None:
        programme = self.programme.value
        if programme:
            self._use_programme(programme)
        else:
            self.form, self.form_box.children = None, ()
        if self.known is not None:   # which unfinished courses matter depends on the programme
            self._show_known(self.known)

    # --- who the course is for ----------------------------------------------------------------------
    def _check_cpr(self, change: dict[str, Any]) -> None:
        text = change["new"].strip()
        self._forget_known()
        if len(text.replace("-", "").replace(" ", "")) < 10:
            self.cpr_hint.value = ""
            return
        try:
            info = parse_cpr(text)
        except InvalidCpr as exc:
            self.cpr_hint.value = f"<span class='hk-cpr-error' style='color:#b00020'>{html.escape(exc.message('da'))}</span>"
            return
        self.cpr_hint.value = ("<span class='hk-cpr-warning' style='color:#8a5300'>Bemærk: kontrolcifferet "
                               "stemmer ikke (modulus 11). Kontrollér nummeret.</span>" if not info.modulus11_ok
                               else f"<span style='color:#1e6b34'>Født {info.birth_date:%d-%m-%Y}.</span>")
        found = self.shell.service.find_citizen(info.digits)
        if found is not None:
            self._show_known(found)

    def _forget_known(self) -> None:
        """Another CPR number is being typed: the citizen found for the last one no longer applies."""
        self.known, self.open_courses = None, []
        self.known_box.children = ()
        self.name_note.value = ""
        self.reason.value = ""
        self.heading.value = "<h3>Ny borger og forløb</h3>"

    def _show_known(self, citizen: Citizen) -> None:
        """The citizen is registered already: say so, and offer the courses that are not finished."""
        self.known = citizen
        courses = self.shell.service.courses_of(citizen.id)
        loaded, chosen = self.shell.contracts, self.chosen
        # Unfinished: the last form of the course's own programme is not complete. Before a
        # programme is chosen every programme's unfinished courses are offered; after, that one's.
        self.open_courses = [c for c in courses if c.programme in loaded and (not chosen or c.programme == chosen)
                             and getattr(c.forms.get(end_form(loaded[c.programme])), "status", None) != "complete"]
        self.heading.value = f"<h3>Nyt forløb for {html.escape(citizen.name)}</h3>"
        parts: list[w.Widget] = [w.HTML(message_html(
            "info", f"Borgeren er allerede registreret: <b>{html.escape(citizen.name)}</b>, født "
                    f"{citizen.birth_date:%d-%m-%Y}. Forløbet oprettes for den registrerede borger."))]
        if self.open_courses:
            parts.append(w.HTML(message_html(
                "warn", "Borgeren har et forløb, der ikke er afsluttet. Fortsæt i det, hvis det er det samme "
                        "forløb; et nyt forløb ved siden af kræver en begrundelse.")))
            for course in self.open_courses:
                button = w.Button(description=f"Åbn forløb {course.id}", button_style="primary", icon="folder-open")
                button.add_class("hk-open-existing")
                button.on_click(self.shell.guarded("open existing course")(
                    lambda _, cid=course.id: self.shell.open_course(cid)))
                parts.append(w.HBox([button, w.HTML(self._describe(course))],
                                    layout=w.Layout(gap="10px", align_items="center")))
            parts.append(self.reason)
        self.known_box.children = tuple(parts)
        self._compare_names()

    def _describe(self, course: Course) -> str:
        contract = self.shell.contract_of(course.programme)
        date_field = contract.form(contract.course_form).date_field or "referral_date"
        referral = course.data_of(contract.course_form).get(date_field)
        states = states_text(contract, contract.forms, lambda name: getattr(course.forms.get(name), "status", None))
        when = f"henvist {referral[8:10]}-{referral[5:7]}-{referral[:4]} · " if isinstance(referral, str) else ""
        which = f"{programme_name(contract)} · " if self.shell.several_programmes else ""
        return f"<span class='hk-open-course-info'>{html.escape(which)}{when}{html.escape(states)}</span>"

    def _compare_names(self) -> None:
        """A typed name that differs from the registered one is pointed out, never dropped silently."""
        typed = " ".join(self.name.value.split())
        if self.known is None or not typed or typed.casefold() == " ".join(self.known.name.split()).casefold():
            self.name_note.value = ""
            return
        self.name_note.value = message_html(
            "warn", f"Du har skrevet navnet <b>{html.escape(typed)}</b>, men borgeren er registreret som "
                    f"<b>{html.escape(self.known.name)}</b>. Navnet ændres ikke her; kontakt en administrator, "
                    "hvis det registrerede navn er forkert.")

    # --- creating -----------------------------------------------------------------------------------
    def _create(self, _: Any) -> None:
        svc = self.shell.service
        programme = self.chosen
        if not programme or self.form is None:
            self.shell.show("error", "Vælg først, hvilket program forløbet hører til.")
            return
        contract = self.shell.contract_of(programme)
        report = self.form.validate(complete=True)
        if report.errors or report.missing:
            self.shell.show("error", issues_html(report.errors + report.missing, "Ret forløbsoplysningerne:"))
            return
        citizen = self.known
        if citizen is None:
            municipality = report.cleaned.get(contract.municipality_field)
            try:
                citizen = svc.create_citizen(self.cpr.value, self.name.value, int(municipality))
            except ValidationFailed as exc:
                self.shell.show("error", issues_html(exc.errors, "Ret borgeroplysningerne:"))
                return
            except CitizenExists as exists:  # registered meanwhile, under another name
                self._show_known(exists.citizen)
                self.shell.show("warn", "Borgeren er allerede registreret. Kontrollér oplysningerne nedenfor.")
                return
            except CitizenElsewhere:
                # Only what the user's rights allow: not where, not even that it is another municipality.
                self.shell.show("error", "Borgeren kan ikke oprettes med dette CPR-nummer. Kontrollér nummeret, "
                                         "eller kontakt en administrator.")
                return
        reason = self.reason.value or None
        try:
            result = svc.open_course(citizen.id, self.form.data(), programme=programme, complete=True, confirm=True,
                                     second_open_reason=reason)
        except OpenCourseExists:
            if self.known is None or not self.open_courses:
                self._show_known(citizen)
            self.shell.show("error", "Borgeren har et forløb, der ikke er afsluttet. Åbn det, eller vælg hvorfor "
                                     "der skal oprettes et nyt forløb ved siden af.")
            return
        except ValidationFailed as exc:
            self.form.validate(complete=True)
            self.shell.show("error", issues_html(exc.errors, "Ret forløbsoplysningerne:"))
            return
        roles = form_roles(contract)
        first = roles.get("start")
        # HjerteKom's words as they have always been; another programme's from its start form's label.
        note = ("Forløbet er oprettet. Udfyld den afklarende samtale." if programme == DEFAULT_PROGRAMME
                else f"Forløbet er oprettet. Udfyld nu: {html.escape(form_word(contract, first))}." if first
                else "Forløbet er oprettet.")
        if citizen.previously_erased:  # a tombstone of the CPR number: the clinician checks (citizen_state.py)
            note += " " + PREVIOUSLY_ERASED_MESSAGE["da"]
        if self.name_note.value:
            note += f" Borgeren står fortsat som {html.escape(citizen.name)}."
        self.shell.open_course(result.course_id, first, note=note)
