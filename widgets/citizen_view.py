"""One citizen (address ``#/borger/<id>``): who, and their courses with each form's status, with
the way into each course and to a new one."""
from __future__ import annotations

import html
from typing import TYPE_CHECKING

import ipywidgets as w

from hjertekom_core.service import Course
from hjertekom_widgets.programmes import programme_name, states_text

if TYPE_CHECKING:
    from hjertekom_widgets.app import EntryShell


class CitizenView:
    def __init__(self, shell: EntryShell, citizen_id: int) -> None:
        svc = shell.service
        self.citizen = citizen = svc.get_citizen(citizen_id)   # in the user's municipalities, audited
        courses = svc.courses_of(citizen_id)
        back = w.Button(description="Arbejdsliste", icon="arrow-left")
        back.on_click(shell.guarded("back")(lambda _: shell.open_worklist()))
        sex = "mand" if citizen.sex == "M" else "kvinde"
        title = w.HTML(f"<h3 style='margin:4px 0'>{html.escape(citizen.name)} · {citizen.cpr[:6]}-{citizen.cpr[6:]}"
                       f"</h3><div style='color:#555'>Født {citizen.birth_date:%d-%m-%Y}, {sex}</div>")
        rows: list[w.Widget] = []
        for course in reversed(courses):   # newest first
            if course.programme not in shell.contracts:
                continue   # a programme this workspace no longer loads: its forms cannot be shown
            button = w.Button(description=f"Åbn forløb {course.id}", icon="folder-open",
                              layout=w.Layout(width="auto"))
            button.add_class("hk-open-course")
            button.on_click(shell.guarded("open course")(lambda _, cid=course.id: shell.open_course(cid)))
            row = w.HBox([button, w.HTML(self._describe(shell, course))],
                         layout=w.Layout(gap="10px", align_items="center"))
            row.add_class("hk-citizen-course")
            rows.append(row)
        if not rows:
            rows.append(w.HTML("<span style='color:#555'>Ingen forløb endnu.</span>"))
        new = w.Button(description="Nyt forløb", icon="plus", layout=w.Layout(width="auto"))
        new.add_class("hk-new-course")
        new.on_click(shell.guarded("new course")(lambda _: shell.open_new_citizen(citizen=citizen)))
        self.widget = w.VBox([w.HBox([back, title], layout=w.Layout(gap="12px", align_items="center")),
                              w.HTML("<h4 style='margin:12px 0 4px 0'>Forløb</h4>"), *rows, new])
        self.widget.add_class("hk-citizen")

    @staticmethod
    def _describe(shell: EntryShell, course: Course) -> str:
        """The course in one line, with its own programme's forms (and, with several programmes,
        which programme: class hk-course-programme)."""
        contract = shell.contract_of(course.programme)
        # The course form's date (the referral: a course is created when the referral arrives).
        date_field = contract.form(contract.course_form).date_field or "referral_date"
        referral = course.data_of(contract.course_form).get(date_field)
        when = f"henvist {referral[8:10]}-{referral[5:7]}-{referral[:4]} · " if isinstance(referral, str) and \
            len(referral) == 10 else ""
        states = states_text(contract, contract.forms, lambda name: getattr(course.forms.get(name), "status", None))
        which = (f"<b class='hk-course-programme'>{html.escape(programme_name(contract))}</b> · "
                 if shell.several_programmes else "")
        return f"<span class='hk-course-info'>{which}{when}{html.escape(states)}</span>"
