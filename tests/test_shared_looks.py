"""The page's fixed widgets share their Layout and Style models (issue 16, logins at once).

Every model is a message from the kernel through the server to the page at each login, and its
state again when the page fetches all states. Widgets that look alike share one Layout and one
Style model; a shared one refuses any change, since a change for one widget would reach them all.
"""
from __future__ import annotations

import collections

import ipywidgets as w
import pytest
from ipywidgets.widgets import widget as widget_module

from hjertekom_core.access import SYSTEM
from hjertekom_core.bootstrap import Workspace
from hjertekom_core.users import add_user
from hjertekom_widgets.app import EntryShell
from hjertekom_widgets.session import Session
from hjertekom_widgets.shared_looks import SharedLooks
from hjertekom_widgets.worklist import WorklistView

from factories import TEST_PASSWORD

SILKEBORG = 740
LOOKS = ("LayoutModel", "HTMLStyleModel", "TextStyleModel", "ButtonStyleModel")


def _made(build: object) -> tuple[collections.Counter[str], object]:
    """The models ``build()`` made, by model name, and what it returned."""
    before = set(widget_module._instances)
    built = build()  # type: ignore[operator]
    made = [widget_module._instances[k] for k in set(widget_module._instances) - before]
    return collections.Counter(m._model_name for m in made), built


def test_one_layout_per_look_and_one_style_per_kind() -> None:
    looks = SharedLooks()
    hidden = looks.layout(display="none")
    assert looks.layout(display="none") is hidden and looks.layout() is not hidden
    assert looks.style(w.ButtonStyle) is looks.style(w.ButtonStyle)
    a, b = looks.button("A"), looks.button("B")
    assert a.layout is b.layout and a.style is b.style
    assert hidden._model_name == "LayoutModel" and a.style._model_name == "ButtonStyleModel"


def test_a_shared_layout_or_style_refuses_a_change_and_keeps_its_value() -> None:
    looks = SharedLooks()
    text = looks.text("hk-x", layout={"display": "none"})
    with pytest.raises(AttributeError, match="shared by several widgets"):
        text.layout.display = ""
    assert text.layout.display == "none"
    button = looks.button("Søg")
    with pytest.raises(AttributeError, match="button_color"):
        button.style.button_color = "red"
    assert button.style.button_color is None
    # A widget's own traits stay its own: only the shared models refuse.
    button.description = "Find"
    assert button.description == "Find"


def test_the_shell_and_its_worklist_share_their_looks_and_a_redraw_adds_none(ws: Workspace) -> None:
    made, shell = _made(EntryShell)
    looks = sum(made[name] for name in LOOKS)
    # 8 widgets: header, message, body, the address bar's three, the action channel, the page box;
    # one layout each and a style for each text and HTML would be 13 more models.
    assert sum(made.values()) - looks == 8 and looks <= 6, made
    user = add_user(ws.store, SYSTEM, "kliniker", "Kliniker", "clinician", TEST_PASSWORD, (SILKEBORG,))
    shell.session = Session(ws, user)
    first, view = _made(lambda: WorklistView(shell))
    assert first["LayoutModel"] <= 2, first   # the search field's width, at most one more
    again, _ = _made(lambda: WorklistView(shell))
    assert not any(again[name] for name in LOOKS), again
    assert again == first - collections.Counter({name: first[name] for name in LOOKS})
    assert "hk-search" in view.search._dom_classes and "hk-search-results" in view.results._dom_classes
