"""Charts as SVG text: readable in black and white (markers and line styles, never colour alone).

Figures are ``matplotlib.figure.Figure`` objects (no pyplot state), drawn by the SVG backend and
returned as text; ``figure_html`` puts one inline in a page with its text alternative.
"""
from __future__ import annotations

import html
import io

import matplotlib
from matplotlib.figure import Figure

#: (marker, line style, grey) per series, in order.
STYLES: tuple[tuple[str, str, str], ...] = (
    ("o", "-", "#000000"), ("s", "--", "#444444"), ("^", "-.", "#000000"), ("D", ":", "#555555"),
    ("v", "-", "#777777"), ("x", "--", "#000000"), ("P", "-.", "#555555"), ("*", ":", "#000000"),
)


def svg(fig: Figure) -> str:
    """The figure as SVG text, the same bytes for the same figure (no date, fixed ids)."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": "hjertekom", "svg.fonttype": "path"}):
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    return buffer.getvalue()


def figure_html(fig: Figure, description: str) -> str:
    """The figure as inline SVG in a <figure> that screen readers announce by ``description``."""
    text = svg(fig)
    start = text.index("<svg")  # without the XML declaration and doctype: it sits inside a page
    label = html.escape(description, quote=True)
    return f'<figure class="hk-figure" role="img" aria-label="{label}">{text[start:]}</figure>'


def thin_ticks(labels: list[str], at_most: int = 8) -> list[int]:
    """Positions of the tick labels to show, so that no more than ``at_most`` crowd an axis."""
    step = max(1, -(-len(labels) // at_most))
    return list(range(0, len(labels), step))
