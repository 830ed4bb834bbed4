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
for one widget changes for all of them.
"""
from __future__ import annotations

from typing import Any, TypeVar

import ipywidgets as w
from ipywidgets.widgets.widget_string import HTMLStyle

S = TypeVar("S", bound=w.widgets.widget.Widget)


class SharedLooks:
    """The shared Layout (per set of layout traits) and Style (per style class) models of a view."""

    def __init__(self) -> None:
        self._layouts: dict[tuple[tuple[str, Any], ...], w.Layout] = {}
        self._styles: dict[type, w.widgets.widget.Widget] = {}

    def layout(self, **traits: Any) -> w.Layout:
        """The one Layout with exactly these traits (``width="auto"``, ``align_items="center"`` ...)."""
        key = tuple(sorted(traits.items()))
        found = self._layouts.get(key)
        if found is None:
            found = self._layouts[key] = w.Layout(**traits)
        return found

    def style(self, kind: type[S]) -> S:
        """The one default style of ``kind`` (``w.ButtonStyle``, ``HTMLStyle``)."""
        found = self._styles.get(kind)
        if found is None:
            found = self._styles[kind] = kind()
        return found  # type: ignore[return-value]

    def button(self, description: str, *classes: str, tooltip: str | None = None, **layout: Any) -> w.Button:
        """A plain button (no icon, no button_style) with a shared layout and style."""
        return w.Button(description=description, tooltip=tooltip, layout=self.layout(**layout),
                        style=self.style(w.ButtonStyle), _dom_classes=classes)

    def html(self, value: str, *classes: str, **layout: Any) -> w.HTML:
        return w.HTML(value, layout=self.layout(**layout), style=self.style(HTMLStyle), _dom_classes=classes)

    def hbox(self, children: list[w.Widget], *classes: str, **layout: Any) -> w.HBox:
        return w.HBox(children, layout=self.layout(**layout), _dom_classes=classes)
