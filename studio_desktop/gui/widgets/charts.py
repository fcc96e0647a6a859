"""Small pyqtgraph chart helpers: labelled bar charts, histograms and scatter plots.

Each helper takes plain Python numbers and returns a ready ``PlotWidget``, so pages describe
*what* to plot and never repeat axis, colour and tick boilerplate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg

DEFAULT_COLOR = "#1f77b4"


def _plot(title: str, x_label: str = "", y_label: str = "") -> pg.PlotWidget:
    w = pg.PlotWidget(background="w")
    w.setTitle(title, color="#222", size="10pt")
    if x_label:
        w.setLabel("bottom", x_label)
    if y_label:
        w.setLabel("left", y_label)
    w.showGrid(y=True, alpha=0.25)
    w.setMenuEnabled(False)
    w.setMinimumHeight(180)
    return w


def bar_chart(title: str, labels: Sequence[str], values: Sequence[float],
              colors: Sequence[str] | None = None, y_label: str = "count") -> pg.PlotWidget:
    """Vertical bars, one per label, each in its own colour (class colours)."""
    w = _plot(title, "", y_label)
    xs = np.arange(len(labels))
    brushes = [pg.mkBrush(c) for c in (colors or [DEFAULT_COLOR] * len(labels))]
    w.addItem(pg.BarGraphItem(x=xs, height=list(values), width=0.7, brushes=brushes))
    ticks = [(i, str(lbl)) for i, lbl in enumerate(labels)]
    w.getAxis("bottom").setTicks([ticks])
    w.setMouseEnabled(x=False, y=False)
    return w


def histogram(title: str, values: Sequence[float], bins: int = 20, x_label: str = "",
              color: str = DEFAULT_COLOR) -> pg.PlotWidget:
    """Histogram of ``values`` (an empty list gives an empty chart, not an error)."""
    w = _plot(title, x_label, "count")
    vals = np.asarray(list(values), dtype=float)
    if vals.size:
        counts, edges = np.histogram(vals, bins=min(bins, max(1, len(np.unique(vals)))))
        w.addItem(pg.PlotDataItem(edges, counts, stepMode="center", fillLevel=0,
                                  brush=pg.mkBrush(color), pen=pg.mkPen(color)))
    return w


def binned(title: str, series: dict[str, dict], x_label: str = "",
           colors: Sequence[str] = ("#1f77b4", "#ff7f0e", "#2ca02c")) -> pg.PlotWidget:
    """Histograms already binned elsewhere ({"edges": [...], "counts": [...]} per series),
    drawn as outlined steps with a legend when there is more than one series."""
    w = _plot(title, x_label, "count")
    if len(series) > 1:
        w.addLegend(offset=(-10, 10))
    for (name, hist), color in zip(series.items(), colors, strict=False):
        edges, counts = hist.get("edges") or [], hist.get("counts") or []
        if len(edges) == len(counts) + 1 and counts:
            fill = pg.mkColor(color)
            fill.setAlpha(90)
            w.addItem(pg.PlotDataItem(edges, counts, stepMode="center", fillLevel=0, brush=fill,
                                      pen=pg.mkPen(color, width=2), name=name))
    return w


def scatter(title: str, xs: Sequence[float], ys: Sequence[float], x_label: str = "", y_label: str = "",
            color: str = DEFAULT_COLOR) -> pg.PlotWidget:
    """Points (x, y); thousands of points stay fast (one ScatterPlotItem)."""
    w = _plot(title, x_label, y_label)
    w.addItem(pg.ScatterPlotItem(list(xs), list(ys), size=6, brush=pg.mkBrush(color), pen=None))
    return w
