"""What a printed figure must satisfy, read from the matplotlib objects themselves: its width, the
size of every piece of text once drawn, tick labels on every panel, and every data point inside
its axes at an x the data really has (no dodge, no clipping to a stand-in value)."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.image import AxesImage
from matplotlib.text import Text

from cotrepro.outputs.plots import MAX_HEIGHT, TEXT_WIDTH

MIN_POINTS = 7.0


def _visible_text(fig) -> list[Text]:
    # Drawn first: tick labels exist only once the figure is laid out.
    fig.canvas.draw()
    # A tick outside its axis's view is kept by matplotlib but not drawn: not text on the page.
    hidden = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not low - 1e-9 * abs(low) <= tick.get_loc() <= high + 1e-9 * abs(high):
                    hidden |= {id(tick.label1), id(tick.label2)}
    return [
        t
        for t in fig.findobj(Text)
        if t.get_visible() and t.get_text().strip() and t.get_figure() is fig and id(t) not in hidden
    ]


def _tick_labels(axis) -> list[str]:
    low, high = sorted(axis.get_view_interval())
    return [
        t.get_text()
        for tick, t in zip(axis.get_majorticklocs(), axis.get_ticklabels(), strict=False)
        if t.get_visible() and t.get_text().strip() and low - 1e-9 * abs(low) <= tick <= high + 1e-9 * abs(high)
    ]


def data_x(ax) -> list[float]:
    """Every x value that a line, a scatter point or a bar puts in ``ax`` (error bars and interval
    bands are read through the line or point they belong to)."""
    xs: list[float] = []
    for line in ax.get_lines():
        # Horizontal reference lines (axhline) span the axes in axes coordinates: not data points.
        if line.get_transform().contains_branch(ax.transData) and line.get_marker() not in (None, "None", "", " "):
            xs += [float(x) for x in np.asarray(line.get_xdata(), dtype=float)]
    for coll in ax.collections:
        if isinstance(coll, PathCollection) and not isinstance(coll, PolyCollection):
            xs += [float(x) for x in np.asarray(coll.get_offsets())[:, 0]]
    for patch in ax.patches:
        xs.append(float(patch.get_x() + patch.get_width() / 2))
    return [x for x in xs if not math.isnan(x)]


def figure_problems(fig, name: str, allowed_x: dict[str, set[float]] | None = None) -> list[str]:
    """Everything wrong with ``fig`` as printed at the text width (empty when it is fine).
    ``allowed_x`` maps a panel title to the x values its data has, for panels on a data x axis."""
    problems = []
    width, height = fig.get_size_inches()
    if abs(width - TEXT_WIDTH) > 1e-6:
        problems.append(f"{name}: {width:.2f} in wide, not the text width {TEXT_WIDTH} in")
    if height > MAX_HEIGHT:
        problems.append(f"{name}: {height:.2f} in high")
    page = fig.bbox
    for text in _visible_text(fig):
        if text.get_fontsize() < MIN_POINTS:
            problems.append(f"{name}: {text.get_text()!r} at {text.get_fontsize():.1f} pt")
        box = text.get_window_extent()
        # A pixel of slack: anti-aliasing, not text cut off at the edge of the page.
        if box.x0 < page.x0 - 1 or box.y0 < page.y0 - 1 or box.x1 > page.x1 + 1 or box.y1 > page.y1 + 1:
            problems.append(f"{name}: {text.get_text()!r} runs off the figure")
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.axison and not hasattr(ax, "_colorbar")]
    if not panels and not fig.texts:
        problems.append(f"{name}: no panel and no note saying why")
    for ax in panels:
        title = ax.get_title() or ax.get_label()
        heat = any(isinstance(im, AxesImage) for im in ax.get_images())
        if not (ax.get_lines() or ax.collections or ax.patches or heat):
            problems.append(f"{name} [{title}]: empty panel")
        for which, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            if not _tick_labels(axis):
                problems.append(f"{name} [{title}]: no {which} tick label")
        low, high = sorted(ax.get_xlim())
        for x in data_x(ax):
            if not low <= x <= high:
                problems.append(f"{name} [{title}]: point at x={x:g} outside the axis {low:g}-{high:g}")
            if ax.get_xscale() == "log" and x <= 0:
                problems.append(f"{name} [{title}]: point at x={x:g} on a log axis")
        if allowed_x is not None and title in allowed_x:
            fake = sorted(
                {x for x in data_x(ax) if not any(math.isclose(x, a, rel_tol=1e-9) for a in allowed_x[title])}
            )
            if fake:
                problems.append(f"{name} [{title}]: points at x={fake[:5]}, values the data does not have")
    return problems
