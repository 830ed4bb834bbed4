"""The report charts as inline SVG text: funnel plot, run chart, start-to-end change, simple bars.

matplotlib without pyplot (a ``Figure`` per chart, no global state in a kernel that renders one
report after another) and without colour as the only carrier of meaning: markers, line styles and
hatching tell the series apart on a black-and-white print. Text stays text in the SVG
(``svg.fonttype = none``): smaller files, and the words can be found and read by a screen reader.

Every function takes the words it shows (already in the reader's language) and returns SVG text
ready to be placed in HTML. The data behind a chart is the caller's: a funnel plot draws exactly
the points of its ``FunnelData``, which is where suppression happens.
"""
from __future__ import annotations

import io
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from hjertekom_core.reports.municipality import FUNNEL_LEVELS, FunnelData, RunChartData

INK, MUTED, LIGHT = "#000000", "#555555", "#bbbbbb"
WIDTH_IN = 3.55  # half the text width of an A4 page
_STYLE = {
    "svg.fonttype": "none",
    "font.family": ["DejaVu Sans"],
    "font.size": 7.0,
    "axes.titlesize": 8.0,
    # A fixed title position: left to itself, matplotlib measures every panel's tick labels at
    # each draw to lift titles clear of top ticks, which these charts do not have. Same SVG, and
    # the funnel and run charts take about a sixth less time to draw.
    "axes.titley": 1.0,
    "axes.linewidth": 0.6,
    "axes.edgecolor": INK,
    "axes.labelcolor": INK,
    "xtick.color": INK,
    "ytick.color": INK,
    "legend.fontsize": 6.0,
    "legend.frameon": False,
}
_SVG_PROLOGUE = re.compile(r"^\s*<\?xml[^>]*\?>\s*(<!DOCTYPE[^>]*>\s*)?", re.S)


@contextmanager
def _style(salt: str) -> Iterator[None]:
    # A per-chart salt keeps the SVG's internal ids (clip paths, markers) stable between runs and
    # distinct between the charts of one page.
    with mpl.rc_context({**_STYLE, "svg.hashsalt": salt}):
        yield


def to_svg(fig: Figure) -> str:
    """The figure as an <svg> element: no XML prologue, no DOCTYPE (it names a URL), no metadata."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    return _SVG_PROLOGUE.sub("", buffer.getvalue()).strip()


def _percent_axis(ax: Axes) -> None:
    # Five ticks: every tick is several matplotlib objects, and a batch draws hundreds of them.
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1])
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v * 100:.0f} %"))


def _frame(ax: Axes) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color=LIGHT, linewidth=0.4)
    ax.set_axisbelow(True)


def _grid(count: int, height_per_row: float, *, sharex: bool) -> tuple[Figure, list[Axes]]:
    """Panels two by two on one A4-wide figure, fixed margins (a layout engine would double the cost).

    The bottom margin holds the shared legend, and with ``sharex`` the rotated quarter labels too.
    """
    rows = (count + 1) // 2
    legend, labels = 0.55, (0.55 if sharex else 0.3)  # inches
    height = height_per_row * rows + legend
    fig = Figure(figsize=(2 * WIDTH_IN, height))
    axes = fig.subplots(rows, 2, sharex=sharex, sharey=True, squeeze=False).ravel()
    fig.subplots_adjust(left=0.08, right=0.98, top=1 - 0.3 / height, bottom=(legend + labels) / height,
                        hspace=0.35 if sharex else 0.55, wspace=0.08)
    for ax in axes[count:]:
        ax.set_visible(False)
    return fig, list(axes[:count])


def funnel_charts(panels: Sequence[tuple[FunnelData, str]], text: Mapping[str, str], own_name: str) -> str:
    """One funnel plot per (data, title): proportion against denominator for every municipality that
    may be shown, the national proportion as the centre line, control limits at FUNNEL_LEVELS, the
    own municipality as a black diamond with its name. Only ``data.points`` is drawn.

    ``text`` keys: xlabel, ylabel, others, centre, limit_inner, limit_outer, standard. Each panel's
    points are an SVG group ``hk-funnel-<indicator>-others`` / ``-own``.
    """
    with _style("funnel-" + "-".join(d.indicator for d, _ in panels)):
        fig, axes = _grid(len(panels), 2.3, sharex=False)
        for ax, (data, title) in zip(axes, panels, strict=True):
            points = data.points
            others, own = points[~points["own"]], points[points["own"]]
            top = max(10.0, float(points["denominator"].max()) * 1.15 if len(points) else 10.0)
            if data.centre is not None:
                n = np.linspace(1, top, 120)
                ax.axhline(data.centre, color=INK, linewidth=0.9, label=text["centre"])
                for level, style, key in ((FUNNEL_LEVELS[0], "--", "limit_inner"),
                                          (FUNNEL_LEVELS[1], ":", "limit_outer")):
                    low, high = data.limits(n, level)
                    ax.plot(n, low, style, color=INK, linewidth=0.8, label=text[key])
                    ax.plot(n, high, style, color=INK, linewidth=0.8)
            if data.standard is not None:
                ax.axhline(data.standard, color=MUTED, linewidth=1.2, linestyle="-.", label=text["standard"])
            ax.scatter(others["denominator"], others["proportion"], s=14, marker="o", facecolors="white",
                       edgecolors=MUTED, linewidths=0.8, label=text["others"],
                       gid=f"hk-funnel-{data.indicator}-others", zorder=3)
            if len(own):
                ax.scatter(own["denominator"], own["proportion"], s=40, marker="D", color=INK, label=own_name,
                           gid=f"hk-funnel-{data.indicator}-own", zorder=4)
                x, y = float(own["denominator"].iloc[0]), float(own["proportion"].iloc[0])
                # Label on the side with room: left of a point near the right edge, below one near the top.
                right = x < 0.6 * top
                ax.annotate(own_name, (x, y), xytext=(5 if right else -5, 5 if y < 0.85 else -10),
                            textcoords="offset points", ha="left" if right else "right", fontsize=6.5,
                            fontweight="bold", color=INK)
            ax.set_xlim(0, top)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
            _frame(ax)
            ax.set_title(title, loc="left")
            ax.set_xlabel(text["xlabel"], labelpad=1)
        axes[0].set_ylim(-0.02, 1.02)
        _percent_axis(axes[0])
        for ax in axes[::2]:
            ax.set_ylabel(text["ylabel"])
        _legend(fig, axes)
        return to_svg(fig)


def _legend(fig: Figure, axes: Sequence[Axes]) -> None:
    """One legend for all panels: every distinct label once (a panel may lack a series)."""
    seen: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    fig.legend(list(seen.values()), list(seen), loc="lower center", ncol=min(len(seen), 6), handlelength=2.4,
               columnspacing=1.2, bbox_to_anchor=(0.5, 0.0))


def run_charts(panels: Sequence[tuple[RunChartData, str]], text: Mapping[str, str],
               quarter_labels: Sequence[str]) -> str:
    """Per (data, title): the own municipality per quarter (solid line, filled circles) with its
    median (dotted), the nation (dashed, open squares) and the standard (dash-dot). A quarter
    without courses is a gap in the line.

    ``text`` keys: own, national, median, standard.
    """
    with _style("run-" + "-".join(d.indicator for d, _ in panels)):
        fig, axes = _grid(len(panels), 1.75, sharex=True)
        x = np.arange(len(quarter_labels))
        for ax, (data, title) in zip(axes, panels, strict=True):
            own = data.own["proportion"].to_numpy(dtype=float)
            national = data.national["proportion"].to_numpy(dtype=float)
            ax.plot(x, national, linestyle="--", marker="s", markersize=3.2, markerfacecolor="white", color=MUTED,
                    linewidth=0.9, label=text["national"])
            ax.plot(x, own, linestyle="-", marker="o", markersize=3.8, color=INK, linewidth=1.2, label=text["own"],
                    gid=f"hk-run-{data.indicator}-own")
            median = data.median
            if median is not None:
                ax.axhline(median, color=INK, linestyle=":", linewidth=0.9, label=text["median"])
            if data.standard is not None:
                ax.axhline(data.standard, color=MUTED, linestyle="-.", linewidth=1.2, label=text["standard"])
            _frame(ax)
            ax.set_title(title, loc="left")
        axes[0].set_xticks(x, list(quarter_labels))
        for ax in axes[-2:]:
            ax.tick_params(axis="x", labelrotation=90, labelbottom=True)
        axes[0].set_xlim(-0.5, len(x) - 0.5)
        axes[0].set_ylim(-0.02, 1.02)
        _percent_axis(axes[0])
        _legend(fig, axes)
        return to_svg(fig)


def change_chart(labels: Sequence[str], changes: Sequence[float], lows: Sequence[float], highs: Sequence[float],
                 notes: Sequence[str], title: str) -> str:
    """Mean change (square) with its 95 % CI (bar) per measure, the zero line marked.

    The measures have different units, so each row is scaled to its own largest value and the
    numbers are written beside it (``notes``): the picture shows direction and whether the CI
    crosses zero, the text the size.
    """
    rows = max(len(labels), 1)
    height = 0.45 + 0.26 * rows
    with _style("change"):
        fig = Figure(figsize=(2 * WIDTH_IN, height))
        fig.subplots_adjust(left=0.34, right=0.66, top=1 - 0.28 / height, bottom=0.08 / height)
        ax = fig.add_subplot()
        y = np.arange(len(labels))[::-1]
        for yi, change, low, high, note in zip(y, changes, lows, highs, notes, strict=True):
            scale = max((abs(v) for v in (change, low, high) if np.isfinite(v)), default=0.0) or 1.0
            if np.isfinite(low) and np.isfinite(high):
                ax.plot([low / scale, high / scale], [yi, yi], color=INK, linewidth=1.2, solid_capstyle="butt")
                ax.plot([low / scale, high / scale], [yi, yi], linestyle="none", marker="|", markersize=6, color=INK)
            if np.isfinite(change):
                ax.plot([change / scale], [yi], marker="s", markersize=4.5, color=INK, linestyle="none")
            ax.text(1.04, yi, note, transform=ax.get_yaxis_transform(), va="center", ha="left", fontsize=6.5)
        ax.axvline(0, color=MUTED, linewidth=0.8)
        ax.set_xlim(-1.1, 1.1)
        ax.set_ylim(-0.6, len(labels) - 0.4)
        ax.set_yticks(y, list(labels))
        ax.set_xticks([])
        ax.tick_params(axis="y", length=0)
        ax.spines[["top", "right", "left", "bottom"]].set_visible(False)
        ax.grid(axis="y", color=LIGHT, linewidth=0.4)
        ax.set_axisbelow(True)
        ax.set_title(title, loc="left")
        return to_svg(fig)


def bar_chart(labels: Sequence[str], values: Sequence[int], title: str, xlabel: str, salt: str) -> str:
    """Horizontal hatched bars with the count at each bar's end (first label at the top)."""
    height = 0.75 + 0.22 * max(len(labels), 1)
    with _style(salt):
        fig = Figure(figsize=(2 * WIDTH_IN, height))
        fig.subplots_adjust(left=0.3, right=0.95, top=1 - 0.25 / height, bottom=0.42 / height)
        ax = fig.add_subplot()
        y = np.arange(len(labels))[::-1]
        ax.barh(y, values, color="white", edgecolor=INK, hatch="///", linewidth=0.7, height=0.65)
        for yi, value in zip(y, values, strict=True):
            ax.text(value, yi, f" {value}", va="center", ha="left", fontsize=6.5)
        ax.set_yticks(y, list(labels))
        ax.set_xlim(0, max(max(values, default=0), 1) * 1.2)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
        ax.spines[["top", "right"]].set_visible(False)
        ax.set_title(title, loc="left")
        ax.set_xlabel(xlabel)
        return to_svg(fig)
