"""The regression plots of one target: predicted against true with the identity line, the
histogram of the errors, and the error against the true value. The page shows them, the report
renders the very same builders to images.

Each builder takes the target's residuals (:meth:`RegressionResults.residuals`: true, predicted,
residual, the border code and the results row of every point) and draws on a ``PlotWidget``;
points are coloured like the grid's borders. The click helpers turn a click into the nearest
point (its results row) or a histogram bin (its range), which the view turns into "show this
image" or "show these images".
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt

from ..results import STATUS_HEX

#: how near (in screen pixels) a click must be to a point to select it
PICK_PX = 10
IDENTITY_PEN = {"color": "#888888", "width": 1}
MAX_BINS = 30
KINDS = ("scatter", "histogram", "residual_vs_true")
CLICK_HINT = {"scatter": "click a point to see its image", "histogram": "click a bar to see its images",
              "residual_vs_true": "click a point to see its image"}


def _plot(title: str) -> pg.PlotWidget:
    w = pg.PlotWidget(background="w")
    w.setTitle(title, color="#222", size="10pt")
    w.showGrid(x=True, y=True, alpha=0.2)
    w.setMenuEnabled(False)
    w.setMinimumHeight(170)
    for axis in ("left", "bottom"):
        w.getAxis(axis).enableAutoSIPrefix(False)
    return w


def new_plot(kind: str, interactive: bool = True) -> pg.PlotWidget:
    """An empty plot of ``kind`` (scatter, histogram, residual_vs_true), drawn by :func:`draw`."""
    if kind == "scatter":
        w = _plot("Predicted vs true")
        w.setToolTip("Each image at (true value, predicted value). On the dashed identity line the prediction is "
                     "exactly right; points above it were over-estimated, below it under-estimated. Colours as "
                     "in the image grid.")
    elif kind == "histogram":
        w = _plot("Errors (predicted − true)")
        w.setToolTip("How many images have each error. A narrow peak at 0 is good; a peak away from 0 means "
                     "the model is biased (always too high or too low); long tails are the large errors.")
    elif kind == "residual_vs_true":
        w = _plot("Error against the true value")
        w.setToolTip("The error of each image against its true value. A slope or a curve means the model is "
                     "systematically wrong for small or large values (often: it pulls predictions towards "
                     "the mean); a band widening to one side means larger errors there.")
    else:
        raise KeyError(kind)
    w.kind = kind
    w.interactive = interactive
    w.setMouseEnabled(x=False, y=False)
    return w


def _title(w: pg.PlotWidget, text: str) -> None:
    """The plot's title; an interactive plot says under it what a click does."""
    hint = (f"<br><span style='font-size:8pt; color:#666'>{CLICK_HINT[w.kind]}</span>"
            if getattr(w, "interactive", True) else "")
    w.setTitle(text + hint, color="#222", size="10pt")


def _name(data: dict) -> str:
    """The target's name without its unit (the axes carry the unit)."""
    unit = data.get("unit") or ""
    return data["label"].removesuffix(f" ({unit})") if unit else data["label"]


def _axis_label(what: str, data: dict) -> str:
    unit = data.get("unit") or ""
    return f"{what} {_name(data)}" + (f" ({unit})" if unit else "")


def draw(kind: str, w: pg.PlotWidget, data: dict) -> pg.PlotWidget:
    """Draw one target's residuals (``RegressionResults.residuals``) on a plot of :func:`new_plot`."""
    w.plotItem.clear()
    w.points = None
    w.marker = None
    {"scatter": _scatter, "histogram": _histogram, "residual_vs_true": _residual_vs_true}[kind](w, data)
    return w


def plot_of(kind: str, data: dict) -> pg.PlotWidget:
    """A new plot with the data drawn, without click hints (the report renders these to images)."""
    return draw(kind, new_plot(kind, interactive=False), data)


def _points(w: pg.PlotWidget, xs: np.ndarray, ys: np.ndarray, data: dict) -> None:
    """The points, one item per colour (a brush per point costs ~40 ms per 1,000 points)."""
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    size = 7 if len(xs) <= 500 else 5 if len(xs) <= 5000 else 3
    status = np.asarray(data["status"])
    pen = pg.mkPen("#ffffff", width=0.5) if len(xs) <= 5000 else None
    for code, hex_ in STATUS_HEX.items():
        mask = status == code
        if mask.any():
            w.addItem(pg.ScatterPlotItem(xs[mask], ys[mask], size=size, brush=pg.mkBrush(hex_), pen=pen))
    w.points = (xs, ys, np.asarray(data["rows"]))


def _scatter(w: pg.PlotWidget, data: dict) -> None:
    y, p = np.asarray(data["truth"], dtype=float), np.asarray(data["predicted"], dtype=float)
    _title(w, f"Predicted vs true · {_name(data)}")
    w.setLabel("bottom", _axis_label("true", data))
    w.setLabel("left", _axis_label("predicted", data))
    if len(y):
        lo, hi = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
        pad = (hi - lo) * 0.05 or 1.0
        lo, hi = lo - pad, hi + pad
        w.plot([lo, hi], [lo, hi], pen=pg.mkPen(**IDENTITY_PEN, style=Qt.PenStyle.DashLine))
        _points(w, y, p, data)
        w.setXRange(lo, hi, padding=0)
        w.setYRange(lo, hi, padding=0)


def _histogram(w: pg.PlotWidget, data: dict) -> None:
    res = np.asarray(data["residual"], dtype=float)
    _title(w, f"Errors (predicted − true) · {_name(data)}")
    w.setLabel("bottom", _axis_label("error of", data))
    w.setLabel("left", "images")
    w.bins = None
    if not len(res):
        return
    bins = int(min(MAX_BINS, max(5, np.ceil(np.sqrt(len(res))))))
    span = float(np.max(np.abs(res))) or 1.0
    counts, edges = np.histogram(res, bins=bins, range=(-span, span))  # symmetric: 0 in the middle
    w.addItem(pg.BarGraphItem(x0=edges[:-1], x1=edges[1:], height=counts, brush=pg.mkBrush(31, 119, 180, 170),
                              pen=pg.mkPen("#1f4e79")))
    w.addItem(pg.InfiniteLine(0, angle=90, pen=pg.mkPen("#555", width=1, style=Qt.PenStyle.DashLine)))
    w.bins = (edges, counts)
    w.setXRange(-span, span, padding=0.02)
    w.setYRange(0, max(1, int(counts.max())) * 1.08, padding=0)


def _residual_vs_true(w: pg.PlotWidget, data: dict) -> None:
    y, res = np.asarray(data["truth"], dtype=float), np.asarray(data["residual"], dtype=float)
    _title(w, f"Error against the true value · {_name(data)}")
    w.setLabel("bottom", _axis_label("true", data))
    w.setLabel("left", _axis_label("error of", data))
    if len(y):
        w.addItem(pg.InfiniteLine(0, angle=0, pen=pg.mkPen(**IDENTITY_PEN, style=Qt.PenStyle.DashLine)))
        _points(w, y, res, data)
        span = float(np.max(np.abs(res))) or 1.0
        w.setYRange(-span * 1.08, span * 1.08, padding=0)
        w.enableAutoRange(axis="x")


def scene_pos_of(w: pg.PlotWidget, x: float, y: float):
    """Where a data point is in the plot's scene (tests click there)."""
    return w.plotItem.vb.mapViewToScene(QPointF(float(x), float(y)))


def point_at(w: pg.PlotWidget, scene_pos) -> int | None:
    """The results row of the point nearest a click, within :data:`PICK_PX` screen pixels."""
    points = getattr(w, "points", None)
    vb = w.plotItem.vb
    if points is None or not len(points[0]) or not vb.sceneBoundingRect().contains(scene_pos):
        return None
    xs, ys, rows = points
    # data -> scene through the view's scale (linear: two corners are enough for every point)
    o = vb.mapViewToScene(QPointF(0.0, 0.0))
    ex = vb.mapViewToScene(QPointF(1.0, 0.0))
    ey = vb.mapViewToScene(QPointF(0.0, 1.0))
    sx = o.x() + xs * (ex.x() - o.x()) + ys * (ey.x() - o.x())
    sy = o.y() + xs * (ex.y() - o.y()) + ys * (ey.y() - o.y())
    d2 = (sx - scene_pos.x()) ** 2 + (sy - scene_pos.y()) ** 2
    i = int(np.argmin(d2))
    return int(rows[i]) if d2[i] <= PICK_PX ** 2 else None


def bin_at(w: pg.PlotWidget, scene_pos) -> tuple[float, float] | None:
    """The histogram bin ``(low, high)`` under a click (None outside the bars or on an empty bin)."""
    bins = getattr(w, "bins", None)
    vb = w.plotItem.vb
    if bins is None or not vb.sceneBoundingRect().contains(scene_pos):
        return None
    edges, counts = bins
    x = vb.mapSceneToView(scene_pos).x()
    i = int(np.searchsorted(edges, x, side="right")) - 1
    if i == len(counts) and x <= edges[-1]:
        i -= 1
    if 0 <= i < len(counts) and counts[i] > 0:
        return float(edges[i]), float(edges[i + 1])
    return None


def mark(w: pg.PlotWidget, row: int | None):
    """Ring the point of results row ``row`` (the image selected in the grid); returns the item."""
    old = getattr(w, "marker", None)
    if old is not None:
        w.removeItem(old)
        w.marker = None
    points = getattr(w, "points", None)
    if row is None or points is None:
        return None
    hits = np.nonzero(points[2] == row)[0]
    if not len(hits):
        return None
    i = int(hits[0])
    item = pg.ScatterPlotItem([points[0][i]], [points[1][i]], size=16, brush=pg.mkBrush(None),
                              pen=pg.mkPen("#111111", width=2))
    w.addItem(item)
    w.marker = item
    return item


__all__ = ["KINDS", "bin_at", "draw", "mark", "new_plot", "plot_of", "point_at", "scene_pos_of"]
