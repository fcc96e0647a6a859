"""The classification plots, built from one subset's report: the page shows them, the report
renders the very same widgets to images (so a student hands in what was on screen).

Each builder takes the report as JSON (:meth:`SubsetReport.as_json`) and returns a ready
``PlotWidget``; the click helpers turn a click into a class index or a confidence bin, which the
view turns into a filter on the image grid.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from ....widgets.curves import PALETTE

BAR_COLORS = {"precision": "#1f77b4", "recall": "#ff7f0e", "f1": "#2ca02c"}
MAX_CURVES = 10


def _plot(title: str, x_label: str, y_label: str, *, square: bool = False) -> pg.PlotWidget:
    w = pg.PlotWidget(background="w")
    w.setTitle(title, color="#222", size="10pt")
    w.setLabel("bottom", x_label)
    w.setLabel("left", y_label)
    w.showGrid(x=True, y=True, alpha=0.2)
    w.setMenuEnabled(False)
    w.setMinimumHeight(170)
    for axis in ("left", "bottom"):
        w.getAxis(axis).enableAutoSIPrefix(False)
    if square:
        w.setXRange(0, 1, padding=0.02)
        w.setYRange(0, 1.0, padding=0.02)
        w.setMouseEnabled(x=False, y=False)
    return w


def _clear(w: pg.PlotWidget) -> None:
    w.plotItem.clear()
    if w.plotItem.legend is not None:
        w.plotItem.legend.clear()


CLICK_HINT = {"per_class": " (click a class to see its images)", "reliability": " (click a bar to see its images)"}


def new_plot(kind: str, interactive: bool = True) -> pg.PlotWidget:
    """An empty plot of ``kind`` (per_class, pr, roc, reliability), drawn by :func:`draw`; an
    interactive one says in its title what a click does."""
    if kind == "per_class":
        w = _plot("Per class" + (CLICK_HINT[kind] if interactive else ""), "", "score")
        w.setMouseEnabled(x=False, y=False)
        w.setToolTip("Precision: of the images predicted as the class, the share that are. Recall: of the "
                     "class's images, the share found. F1: their harmonic mean. At the current operating point.")
    elif kind == "pr":
        w = _plot("Precision–recall, one class against the rest", "recall", "precision", square=True)
        w.setToolTip("For each class, precision against recall as its threshold moves from 1 to 0; the area "
                     "is the average precision (AP). Threshold-free: the same at every operating point.")
    elif kind == "roc":
        w = _plot("ROC, one class against the rest", "false positive rate", "true positive rate", square=True)
        w.setToolTip("For each class, the share of its images found against the share of other images "
                     "wrongly taken for it, as the threshold moves; the dashed line is guessing. Threshold-free.")
    elif kind == "reliability":
        w = _plot("Reliability" + (CLICK_HINT[kind] if interactive else ""), "confidence (highest class probability)",
                  "accuracy", square=True)
        w.setToolTip("Images grouped by how sure the model was; each bar is the share right in the group. "
                     "Bars under the diagonal: over-confident. ECE: the average gap, weighted by images.")
    else:
        raise KeyError(kind)
    w.interactive = interactive
    offset = {"per_class": (5, 5), "roc": (-5, -5), "reliability": (5, 5)}.get(kind, (5, -5))
    w.addLegend(offset=offset, labelTextSize="8pt", colCount=3 if kind == "per_class" else 1)
    return w


def draw(kind: str, w: pg.PlotWidget, report: dict) -> pg.PlotWidget:
    """Draw one subset's report (``SubsetReport.as_json()``) on a plot made by :func:`new_plot`."""
    _clear(w)
    {"per_class": _per_class, "pr": _pr, "roc": _roc, "reliability": _reliability}[kind](w, report)
    return w


def plot_of(kind: str, report: dict) -> pg.PlotWidget:
    """A new plot with the report drawn, without click hints (the report renders these to images)."""
    return draw(kind, new_plot(kind, interactive=False), report)


def _per_class(w: pg.PlotWidget, report: dict) -> None:
    """Precision, recall and F1 of each class, grouped."""
    rows = report.get("per_class", [])
    xs = np.arange(len(rows), dtype=float)
    for k, key in enumerate(("precision", "recall", "f1")):
        heights = [float(r.get(key) or 0.0) for r in rows]
        item = pg.BarGraphItem(x=xs + (k - 1) * 0.26, height=heights, width=0.25,
                               brush=pg.mkBrush(BAR_COLORS[key]), pen=pg.mkPen(None))
        w.addItem(item)
        w.plotItem.legend.addItem(item, {"f1": "F1"}.get(key, key))
    w.getAxis("bottom").setTicks([[(i, r["name"]) for i, r in enumerate(rows)]])
    w.setYRange(0, 1.22, padding=0)
    w.setXRange(-0.6, max(0.6, len(rows) - 0.4), padding=0)


def class_at(plot: pg.PlotWidget, scene_pos, n: int) -> int | None:
    """The class whose bar group is under a scene position (per-class chart clicks)."""
    vb = plot.plotItem.vb
    if not vb.sceneBoundingRect().contains(scene_pos):
        return None
    x = vb.mapSceneToView(scene_pos).x()
    i = int(round(x))
    return i if 0 <= i < n and abs(x - i) <= 0.45 else None


def _curves(w: pg.PlotWidget, report: dict, key: str, xk: str, yk: str, diagonal: bool) -> None:
    if diagonal:
        w.plot([0, 1], [0, 1], pen=pg.mkPen("#aaaaaa", width=1, style=Qt.PenStyle.DashLine))
    for i, c in enumerate(report.get("curves", [])[:MAX_CURVES]):
        pts = c.get(key) or {}
        xs, ys = pts.get(xk) or [], pts.get(yk) or []
        if not xs:
            continue
        area = c.get("auc" if key == "roc" else "ap")
        name = f"{c['name']} ({'AUC' if key == 'roc' else 'AP'} {area:.3f})" if area is not None else c["name"]
        w.plot(xs, ys, pen=pg.mkPen(PALETTE[i % len(PALETTE)], width=2), name=name)


def _pr(w: pg.PlotWidget, report: dict) -> None:
    _curves(w, report, "pr", "recall", "precision", False)


def _roc(w: pg.PlotWidget, report: dict) -> None:
    _curves(w, report, "roc", "fpr", "tpr", True)


def _reliability(w: pg.PlotWidget, report: dict) -> None:
    """Accuracy against confidence per bin; the diagonal is perfect calibration."""
    cal = report.get("calibration") or {}
    ece = cal.get("ece")
    hint = CLICK_HINT["reliability"] if getattr(w, "interactive", True) else ""
    w.setTitle("Reliability" + hint + (f" · ECE {ece:.3f}" if ece is not None else ""),
               color="#222", size="10pt")
    w.plot([0, 1], [0, 1], pen=pg.mkPen("#aaaaaa", width=1, style=Qt.PenStyle.DashLine))
    bins = cal.get("bins") or []
    if bins:
        xs = [(b["lo"] + b["hi"]) / 2 if b["hi"] > b["lo"] else b["lo"] for b in bins]
        widths = [max(0.02, (b["hi"] - b["lo"]) * 0.9) for b in bins]
        bars = pg.BarGraphItem(x=xs, height=[b["accuracy"] for b in bins], width=widths,
                               brush=pg.mkBrush(31, 119, 180, 170), pen=pg.mkPen("#1f4e79"))
        w.addItem(bars)
        w.plotItem.legend.addItem(bars, "accuracy of the bin")
        w.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], pen=None, symbol="o",
               symbolSize=5, symbolBrush="#d62728", symbolPen=None, name="mean confidence")


def bin_at(plot: pg.PlotWidget, scene_pos, report: dict) -> tuple[float, float] | None:
    """The reliability bin (``[lo, hi)``) under a scene position."""
    vb = plot.plotItem.vb
    if not vb.sceneBoundingRect().contains(scene_pos):
        return None
    x = vb.mapSceneToView(scene_pos).x()
    for b in (report.get("calibration") or {}).get("bins") or []:
        lo, hi = b["lo"], b["hi"]
        if (lo <= x < hi) or (hi <= lo and abs(x - lo) < 0.02):
            return (lo, hi if hi > lo else 1.0)
    return None


def mark_threshold(plot: pg.PlotWidget, report: dict, class_index: int, threshold: float) -> None:
    """A dot on a class's PR curve where the current threshold puts it (the operating point)."""
    per = report.get("per_class") or []
    if not 0 <= class_index < len(per):
        return
    row = per[class_index]
    plot.plot([row["recall"]], [row["precision"]], pen=None, symbol="star", symbolSize=14,
              symbolBrush="#111", symbolPen=None, name=f"operating point (threshold {threshold:.2f})")


__all__ = ["bin_at", "class_at", "draw", "mark_threshold", "new_plot", "plot_of"]
