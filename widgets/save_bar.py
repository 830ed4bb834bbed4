"""The save bar: always at the bottom of the window, whatever part of a long form is in view.

It holds the form's buttons, the save state ("Gemt: version 3" or "Ikke gemt som version endnu"),
every message of saving (errors, warnings, conflicts, refusals, "gemt"), with a link to the first
field in error, and what the clinician must decide before saving (confirming unusual values,
choosing between their own and a colleague's value, a reason for changing a finished registration,
the history). A message at the top of a 4,000-pixel form is a message nobody reads.

Position: ``fixed`` at the bottom of the viewport (``sticky`` does not hold inside ipywidgets'
boxes, which scroll themselves). Voilà's lab template puts the cells in ``#rendered_cells`` with
``contain: strict``, and layout or paint containment makes an element the containing block of
its fixed descendants (the bar would scroll away with the page): while a course is shown, that
element keeps only size and style containment (``!important``: Lumino sets it inline). The page script (hjertekom.js) keeps a spacer at the end of the
course as tall as the bar, so that the end of the page can be scrolled into view above it, and
follows the "go to the field" links (scroll and focus).
"""
from __future__ import annotations

import html
from collections.abc import Sequence

import ipywidgets as w

from hjertekom_widgets.messages import message_html
from hjertekom_widgets.text import t

__all__ = ["SaveBar", "goto_link"]

_CSS = (
    "<style>"
    "#rendered_cells{contain:size style !important}"
    ".hk-save-bar{position:fixed;left:0;right:0;bottom:0;z-index:900;background:#fff;"
    "border-top:2px solid #8b1e2d;box-shadow:0 -2px 8px rgba(0,0,0,.18);padding:4px 16px 8px 16px;"
    "max-height:60vh;overflow-y:auto;box-sizing:border-box}"
    ".hk-save-bar>*{max-width:1180px}"
    ".hk-save-bar .hk-msg{margin:4px 0}"
    ".hk-save-state{color:#3d4a5c;font-size:0.95em}"
    ".hk-save-bar a.hk-goto-error{font-weight:bold;margin-left:8px}"
    ".hk-save-bar-spacer{min-height:96px}"
    # JupyterLab's green and orange buttons carry white text below 4.5:1 (WCAG AA): darker shades.
    ".hk-course .jupyter-button.mod-success{background-color:#2e7d32}"
    ".hk-course .jupyter-button.mod-warning{background-color:#a84f00}"
    "</style>"
)


def goto_link(name: str, label: str, lang: str = "da") -> str:
    """A link that scrolls to a form field and puts the cursor in it (hjertekom.js follows it)."""
    return (f'<a href="#" class="hk-goto-error" data-field="{html.escape(name)}">'
            f'{html.escape(t("entry.go_to", lang, label=label))}</a>')


class SaveBar:
    """``widget`` (the fixed bar) and ``spacer`` (the room it needs at the end of the page).

    ``status`` (class ``hk-status``) holds the latest message, ``actions`` what must be decided
    now, ``buttons`` the form's buttons and ``state`` the save state."""

    def __init__(self) -> None:
        self.status = w.HTML()
        self.status.add_class("hk-status")
        self.actions = w.VBox()
        self.actions.add_class("hk-save-actions")
        self.buttons = w.HBox(layout=w.Layout(gap="8px", flex_flow="row wrap", align_items="center"))
        self.buttons.add_class("hk-save-buttons")
        self.state = w.HTML()
        self.state.add_class("hk-save-state")
        row = w.HBox([self.buttons, self.state],
                     layout=w.Layout(gap="16px", align_items="center", flex_flow="row wrap"))
        self.widget = w.VBox([w.HTML(_CSS), self.status, self.actions, row])
        self.widget.add_class("hk-save-bar")
        self.spacer = w.Box()
        self.spacer.add_class("hk-save-bar-spacer")

    # --- messages --------------------------------------------------------------------------------
    def show(self, kind: str, body_html: str, *, css_class: str = "") -> None:
        """Show a message box (``kind``: ok, error, warn, info; ``body_html`` is HTML); the
        previous one goes. ``css_class`` marks its kind for the page (``hk-saved``, ``hk-conflict``)."""
        for old in ("hk-saved", "hk-conflict", "hk-refused"):
            self.status.remove_class(old)
        self.status.value = message_html(kind, body_html) if body_html else ""
        if css_class:
            self.status.add_class(css_class)

    def show_text(self, kind: str, text: str, *, css_class: str = "") -> None:
        self.show(kind, html.escape(text), css_class=css_class)

    def clear(self) -> None:
        self.show("info", "")

    def mirror(self, message_box_html: str) -> None:
        """Show a message box made elsewhere (the page's general error message)."""
        for old in ("hk-saved", "hk-conflict", "hk-refused"):
            self.status.remove_class(old)
        self.status.value = message_box_html

    # --- what to decide, and the buttons -----------------------------------------------------------
    def set_actions(self, children: Sequence[w.Widget]) -> None:
        self.actions.children = tuple(children)

    def set_buttons(self, buttons: Sequence[w.Widget]) -> None:
        self.buttons.children = tuple(buttons)

    def set_state(self, text: str) -> None:
        self.state.value = html.escape(text)
