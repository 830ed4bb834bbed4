"""Layout and style models shared by the many alike widgets of a list.

Every ipywidgets control brings two more models with it, its Layout and its Style, and every
model is a comm of its own: a message from the kernel, through the server and its ZeroMQ threads,
to the page, and its state again when the page asks for all states. The worklist at login was
239 models (89 layouts, 36 button styles, 23 HTML styles for 36 buttons and 23 texts), so 20
clinicians logging in at once queued about 5,000 such messages on one server (issue 16). Widgets
that look alike can share one Layout and one Style model: a layout is a model like any other and
the page draws every view of it. CSS classes given at construction (``_dom_classes``) travel in
the widget's first message instead of an update of their own.

Only for widgets whose layout and style are never changed one by one: a shared layout changed
for one widget changes for all of them, so a shared layout refuses any change (AttributeError):
a widget whose layout changes (shown, hidden) needs a Layout of its own. The page shell and the
worklist share one ``SharedLooks`` for the page's lifetime, so drawing the worklist again adds no
layout or style model.
"""
from __future__ import annotations

import functools
from typing import Any, TypeVar

import ipywidgets as w
from ipywidgets.widgets.widget_string import HTMLStyle, TextStyle

S = TypeVar("S", bound=w.widgets.widget.Widget)


class _Sealed:
    """A model several widgets show: its synced traits are set at construction, then never
    changed from Python (a change for one widget would change all of them)."""

    def seal(self) -> None:
        object.__setattr__(self, "_sealed", True)

    def __setattr__(self, name: str, value: Any) -> None:
        if self.__dict__.get("_sealed") and name in self.keys:  # type: ignore[attr-defined]
            raise AttributeError(
                f"{type(self).__name__} is shared by several widgets and cannot change {name!r}: "
                "give the widget a layout or style of its own")
        super().__setattr__(name, value)


class SharedLayout(_Sealed, w.Layout):
    pass


@functools.cache
def _shared_kind(kind: type[S]) -> type[S]:
    """``kind`` (a style class) that refuses changes once sealed; the same model on the page."""
    return type(f"Shared{kind.__name__}", (_Sealed, kind), {})  # type: ignore[return-value]


class SharedLooks:
    """The shared Layout (per set of layout traits) and Style (per style class) models of a view."""

    def __init__(self) -> None:
        self._layouts: dict[tuple[tuple[str, Any], ...], SharedLayout] = {}
        self._styles: dict[type, w.widgets.widget.Widget] = {}

    def layout(self, **traits: Any) -> SharedLayout:
        """The one Layout with exactly these traits (``width="auto"``, ``display="none"`` ...)."""
        key = tuple(sorted(traits.items()))
        found = self._layouts.get(key)
        if found is None:
            found = self._layouts[key] = SharedLayout(**traits)
            found.seal()
        return found

    def style(self, kind: type[S]) -> S:
        """The one default style of ``kind`` (``w.ButtonStyle``, ``HTMLStyle``)."""
        found = self._styles.get(kind)
        if found is None:
            found = self._styles[kind] = _shared_kind(kind)()
            found.seal()  # type: ignore[attr-defined]
        return found  # type: ignore[return-value]

    def button(self, description: str, *classes: str, tooltip: str | None = None, **layout: Any) -> w.Button:
        """A plain button (no icon, no button_style) with a shared layout and style."""
        return w.Button(description=description, tooltip=tooltip, layout=self.layout(**layout),
                        style=self.style(w.ButtonStyle), _dom_classes=classes)

    def html(self, value: str, *classes: str, **layout: Any) -> w.HTML:
        return w.HTML(value, layout=self.layout(**layout), style=self.style(HTMLStyle), _dom_classes=classes)

    def text(self, *classes: str, layout: dict[str, Any] | None = None, **traits: Any) -> w.Text:
        return w.Text(layout=self.layout(**(layout or {})), style=self.style(TextStyle), _dom_classes=classes,
                      **traits)

    def hbox(self, children: list[w.Widget], *classes: str, **layout: Any) -> w.HBox:
        return w.HBox(children, layout=self.layout(**layout), _dom_classes=classes)

    def vbox(self, children: list[w.Widget], *classes: str, **layout: Any) -> w.VBox:
        return w.VBox(children, layout=self.layout(**layout), _dom_classes=classes)
