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
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullLocator

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


def _grid(count: int, height_per_row: float, *, sharex: bool, sharey: bool = True) -> tuple[Figure, list[Axes]]:
    """Panels two by two on one A4-wide figure, fixed margins (a layout engine would double the cost).

    The bottom margin holds the shared legend, and with ``sharex`` the rotated quarter labels too.
    """
    rows = (count + 1) // 2
    legend, labels = 0.55, (0.55 if sharex else 0.3)  # inches
    height = height_per_row * rows + legend
    fig = Figure(figsize=(2 * WIDTH_IN, height))
    axes = fig.subplots(rows, 2, sharex=sharex, sharey=sharey, squeeze=False).ravel()
    fig.subplots_adjust(left=0.08, right=0.98, top=1 - 0.3 / height, bottom=(legend + labels) / height,
                        hspace=0.35 if sharex else 0.55, wspace=0.08 if sharey else 0.22)
    for ax in axes[count:]:
        ax.set_visible(False)
    return fig, list(axes[:count])


#: The forest plot's axis in per cent of the start value reaches at most this far (unless a mean does).
_FOREST_CAP = 100.0
#: Tick values of the funnel plots' logarithmic denominator axis.
_LOG_TICKS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000)


def funnel_charts(panels: Sequence[tuple[FunnelData, str]], text: Mapping[str, str], own_name: str,
                  own_labels: Mapping[str, str] | None = None) -> str:
    """One funnel plot per (data, title): proportion against denominator for every municipality that
    may be shown, the national proportion as the centre line, control limits at FUNNEL_LEVELS, the
    own municipality as a black diamond with its 95 % CI and its label. Only ``data.points`` is drawn.

    The denominator axis is logarithmic, so the many small municipalities do not crowd the left
    edge, and each panel's share axis is zoomed to its points, centre line, standard and the own CI
    (``funnel_range``): K6 near 100 % does not waste most of its axis.

    ``text`` keys: xlabel, ylabel, others, centre, limit_inner, limit_outer, standard.
    ``own_labels``: per indicator the own municipality's label (name, share and CI); default the name.
    Each panel's points are an SVG group ``hk-funnel-<indicator>-others`` / ``-own``.
    """
    with _style("funnel-" + "-".join(d.indicator for d, _ in panels)):
        fig, axes = _grid(len(panels), 2.3, sharex=False, sharey=False)
        for ax, (data, title) in zip(axes, panels, strict=True):
            points = data.points
            others, own = points[~points["own"]], points[points["own"]]
            denominators = points["denominator"].astype(float)
            left = max(0.5, float(denominators.min()) / 1.6) if len(points) else 1.0
            right = max(left * 10, float(denominators.max()) * 1.6 if len(points) else 10.0)
            low_y, high_y = funnel_range(data)
            if data.centre is not None:
                n = np.geomspace(left, right, 120)
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
                x, y = float(own["denominator"].iloc[0]), float(own["proportion"].iloc[0])
                ci = (own["ci_low"].iloc[0], own["ci_high"].iloc[0]) if "ci_low" in own else (np.nan, np.nan)
                if all(np.isfinite(float(v)) for v in ci):
                    ax.plot([x, x], [float(ci[0]), float(ci[1])], color=INK, linewidth=1.1, zorder=4,
                            gid=f"hk-funnel-{data.indicator}-own-ci")
                ax.scatter(own["denominator"], own["proportion"], s=40, marker="D", color=INK, label=own_name,
                           gid=f"hk-funnel-{data.indicator}-own", zorder=5)
                label = (own_labels or {}).get(data.indicator, own_name)
                # Label on the side with room: left of a point in the right part, below one near the top.
                right_side = np.log(x / left) < 0.6 * np.log(right / left)
                above = y < low_y + 0.75 * (high_y - low_y)
                ax.annotate(label, (x, y), xytext=(6 if right_side else -6, 6 if above else -11),
                            textcoords="offset points", ha="left" if right_side else "right", fontsize=6.2,
                            fontweight="bold", color=INK, gid=f"hk-funnel-{data.indicator}-label",
                            bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none",
                                  "alpha": 0.8})
            ax.set_xscale("log")
            ax.set_xlim(left, right)
            ax.xaxis.set_major_locator(FixedLocator([v for v in _LOG_TICKS if left <= v <= right]))
            ax.xaxis.set_minor_locator(NullLocator())
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}".replace(",", ".")))
            ax.set_ylim(low_y, high_y)
            ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v * 100:.0f} %"))
            _frame(ax)
            ax.set_title(title, loc="left")
            ax.set_xlabel(text["xlabel"], labelpad=1)
        for ax in axes[::2]:
            ax.set_ylabel(text["ylabel"])
        _legend(fig, axes)
        return to_svg(fig)


def funnel_range(data: FunnelData, margin: float = 0.06, least: float = 0.25) -> tuple[float, float]:
    """The share axis of one funnel plot: what must be seen (the points, the centre line, the
    standard, the own CI) with a margin, at least ``least`` wide, within 0-100 %."""
    values = [float(v) for v in data.points["proportion"].dropna()]
    own = data.points[data.points["own"]]
    for column in ("ci_low", "ci_high"):
        if column in own:
            values += [float(v) for v in own[column].dropna()]
    values += [v for v in (data.centre, data.standard) if v is not None]
    if not values:
        return -0.02, 1.02
    low, high = min(values) - margin, max(values) + margin
    if high - low < least:
        middle = (low + high) / 2
        low, high = middle - least / 2, middle + least / 2
    if low < 0:
        low, high = -0.02, max(high, least)
    if high > 1:
        low, high = min(low, 1 - least), 1.02
    return low, high


def _legend(fig: Figure, axes: Sequence[Axes]) -> None:
    """One legend for all panels: every distinct label once (a panel may lack a series)."""
    seen: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    fig.legend(list(seen.values()), list(seen), loc="lower center", ncol=min(len(seen), 6), handlelength=2.4,
               columnspacing=1.2, bbox_to_anchor=(0.5, 0.0))


def run_charts(panels: Sequence[tuple[RunChartData, str]], text: Mapping[str, str],
               quarter_labels: Sequence[str], n_labels: Mapping[str, Sequence[str]] | None = None) -> str:
    """Per (data, title): the own municipality per quarter (solid line, filled circles) with its
    median (dotted), the nation (dashed, open squares) and the standard (dash-dot). A quarter
    without courses is a gap in the line.

    Beside each point its n (``n_labels[indicator]``, already formatted; default the denominator).
    Unfinished quarters are hatched (\\\\), start-up quarters dotted (...); both are left out of the
    median and the runs analysis (Anhøj's rules, ``data.runs``). A signal is drawn on the chart: the
    points of an unusually long run ringed, and the panel's note names the signal.

    ``text`` keys: own, national, median, standard, unfinished, startup, shift, crossings.
    """
    with _style("run-" + "-".join(d.indicator for d, _ in panels)):
        fig, axes = _grid(len(panels), 1.9, sharex=True)
        x = np.arange(len(quarter_labels))
        for ax, (data, title) in zip(axes, panels, strict=True):
            own = data.own["proportion"].to_numpy(dtype=float)
            national = data.national["proportion"].to_numpy(dtype=float)
            for i, mark in enumerate(data.marks):
                if mark:
                    ax.axvspan(i - 0.5, i + 0.5, facecolor="white", edgecolor=LIGHT, linewidth=0,
                               hatch="\\\\\\" if mark == "unfinished" else "...", zorder=0,
                               label=text[mark], gid=f"hk-run-{data.indicator}-{mark}-{i}")
            ax.plot(x, national, linestyle="--", marker="s", markersize=3.2, markerfacecolor="white", color=MUTED,
                    linewidth=0.9, label=text["national"])
            ax.plot(x, own, linestyle="-", marker="o", markersize=3.8, color=INK, linewidth=1.2, label=text["own"],
                    gid=f"hk-run-{data.indicator}-own")
            labels = (n_labels or {}).get(data.indicator) or [str(v) for v in data.own["denominator"]]
            for xi, yi, label in zip(x, own, labels, strict=True):
                if np.isfinite(yi):
                    ax.annotate(label, (xi, yi), xytext=(0, 4 if yi < 0.85 else -8), textcoords="offset points",
                                ha="center", fontsize=5.2, color=INK, gid=f"hk-run-{data.indicator}-n-{xi}")
            median = data.median
            if median is not None:
                ax.axhline(median, color=INK, linestyle=":", linewidth=0.9, label=text["median"])
            if data.standard is not None:
                ax.axhline(data.standard, color=MUTED, linestyle="-.", linewidth=1.2, label=text["standard"])
            result = data.runs
            if result is not None and result.shift:
                ring = list(result.run)
                ax.scatter(x[ring], own[ring], s=70, facecolors="none", edgecolors=INK, linewidths=0.9,
                           label=text["shift"], gid=f"hk-run-{data.indicator}-signal", zorder=4)
            if result is not None and result.few_crossings:
                ax.text(0.99, 0.03, text["crossings"], transform=ax.transAxes, ha="right", va="bottom",
                        fontsize=5.8, fontweight="bold", gid=f"hk-run-{data.indicator}-crossings",
                        bbox={"boxstyle": "square,pad=0.15", "facecolor": "white", "edgecolor": INK,
                              "linewidth": 0.5})
            _frame(ax)
            ax.set_title(title, loc="left")
        axes[0].set_xticks(x, list(quarter_labels))
        for ax in axes[-2:]:
            ax.tick_params(axis="x", labelrotation=90, labelbottom=True)
        axes[0].set_xlim(-0.5, len(x) - 0.5)
        axes[0].set_ylim(-0.02, 1.1)
        _percent_axis(axes[0])
        _legend(fig, axes)
        return to_svg(fig)


def change_chart(labels: Sequence[str], changes: Sequence[float], lows: Sequence[float], highs: Sequence[float],
                 notes: Sequence[str], title: str, starts: Sequence[float] | None = None,
                 xlabel: str = "") -> str:
    """A forest plot: mean change (square) with its 95 % CI (bar) per measure, the zero line marked.

    With ``starts`` (the mean start values) every row is on one scale, the change in per cent of
    the start mean, so rows can be compared; the numbers in their own units are written beside
    each row (``notes``). Without it each row is scaled to its own largest value (the older layout).
    """
    rows = max(len(labels), 1)
    height = 0.7 + 0.26 * rows
    relative = starts is not None
    with _style("change"):
        fig = Figure(figsize=(2 * WIDTH_IN, height))
        fig.subplots_adjust(left=0.30, right=0.62, top=1 - 0.28 / height, bottom=(0.42 if relative else 0.08) / height)
        ax = fig.add_subplot()
        y = np.arange(len(labels))[::-1]
        scales = []
        for i, (change, low, high) in enumerate(zip(changes, lows, highs, strict=True)):
            if relative:
                start = abs(float(starts[i])) if starts is not None and np.isfinite(starts[i]) else 0.0
                scales.append(start / 100 if start > 0 else np.nan)
            else:
                scales.append(max((abs(v) for v in (change, low, high) if np.isfinite(v)), default=0.0) or 1.0)
        # One scale: wide enough for every mean change and CI, but a CI of two or three courses may
        # reach far; beyond CAP the bar is cut with an arrowhead, so it does not flatten the others.
        ends = [abs(v / sc) for v, sc in zip([*changes, *lows, *highs], scales * 3, strict=True)
                if np.isfinite(v) and np.isfinite(sc)]
        means = [abs(c / sc) for c, sc in zip(changes, scales, strict=True) if np.isfinite(c) and np.isfinite(sc)]
        extent = max(1.0, min(max(ends, default=1.0), max(_FOREST_CAP, 1.2 * max(means, default=0.0))))
        for yi, change, low, high, note, scale in zip(y, changes, lows, highs, notes, scales, strict=True):
            if relative and not np.isfinite(scale):
                pass
            elif np.isfinite(low) and np.isfinite(high):
                left, right = max(low / scale, -extent), min(high / scale, extent)
                ax.plot([left, right], [yi, yi], color=INK, linewidth=1.2, solid_capstyle="butt")
                for end, cut, arrow in ((left, low / scale < -extent, "<"), (right, high / scale > extent, ">")):
                    ax.plot([end], [yi], linestyle="none", marker=arrow if cut else "|", markersize=4 if cut else 6,
                            color=INK)
            if np.isfinite(change) and np.isfinite(scale):
                ax.plot([change / scale], [yi], marker="s", markersize=4.5, color=INK, linestyle="none")
            ax.text(1.04, yi, note, transform=ax.get_yaxis_transform(), va="center", ha="left", fontsize=6.5)
        ax.axvline(0, color=MUTED, linewidth=0.8)
        ax.set_ylim(-0.6, len(labels) - 0.4)
        ax.set_yticks(y, list(labels))
        ax.tick_params(axis="y", length=0)
        if relative:
            ax.set_xlim(-extent * 1.1, extent * 1.1)
            ax.xaxis.set_major_locator(MaxNLocator(nbins=5, symmetric=True))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:+.0f} %".replace("+0 %", "0 %")
                                                       .replace("-", "−")))
            ax.set_xlabel(xlabel)
            ax.spines[["top", "right", "left"]].set_visible(False)
        else:
            ax.set_xlim(-1.1, 1.1)
            ax.set_xticks([])
            ax.spines[["top", "right", "left", "bottom"]].set_visible(False)
        ax.grid(axis="y", color=LIGHT, linewidth=0.4)
        ax.set_axisbelow(True)
        # The title from the figure's left edge: the axes start a third in, and a long title would be cut.
        fig.text(0.01, 1 - 0.05 / height, title, ha="left", va="top", fontsize=8.0)
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
