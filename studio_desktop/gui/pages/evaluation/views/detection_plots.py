"""The object-detection plots: average precision per class and the per-class precision-recall
curves with the operating point marked. The page shows them; the report renders the same builders
to images.

The AP bars come from ``aggregate.json`` (COCO AP@0.5:0.95 and AP@0.5, threshold-free). The PR
curves are recomputed from the cached predictions at the operating point's NMS and match IoU
(:meth:`DetectionResults.pr_curves`), so the dot that marks each class's current score threshold
lies on its curve and moves with the slider without redrawing the curves.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from ....widgets.curves import PALETTE

AP_COLORS = {"ap": "#1f77b4", "ap_50": "#9ecae1"}
AP_LABELS = {"ap": "AP@0.5:0.95", "ap_50": "AP@0.5"}
MAX_CURVES = 12
#: at most this many points of a curve are drawn (a class with 100,000 predictions: subsampled)
MAX_POINTS = 600
CLICK_HINT = " (click a class to see its images)"


def _plot(title: str, x_label: str, y_label: str) -> pg.PlotWidget:
    w = pg.PlotWidget(background="w")
    w.setTitle(title, color="#222", size="10pt")
    w.setLabel("bottom", x_label)
    w.setLabel("left", y_label)
    w.showGrid(x=True, y=True, alpha=0.2)
    w.setMenuEnabled(False)
    w.setMinimumHeight(170)
    w.setMouseEnabled(x=False, y=False)
    for axis in ("left", "bottom"):
        w.getAxis(axis).enableAutoSIPrefix(False)
    return w


def new_plot(kind: str, interactive: bool = True) -> pg.PlotWidget:
    """An empty plot of ``kind`` (``ap``: AP per class, ``pr``: PR curves), drawn by :func:`draw`."""
    if kind == "ap":
        w = _plot("Average precision per class" + (CLICK_HINT if interactive else ""), "", "AP")
        w.setToolTip("COCO average precision of each class: AP@0.5:0.95 averages the areas under the "
                     "precision-recall curve at IoU 0.5, 0.55… 0.95 (boxes must fit tightly); AP@0.5 only at IoU "
                     "0.5 (finding the object is enough). Threshold-free: every prediction is ranked.")
        w.addLegend(offset=(5, 5), labelTextSize="8pt", colCount=2)
    elif kind == "pr":
        w = _plot("Precision–recall per class", "recall", "precision")
        w.setXRange(0, 1, padding=0.02)
        w.setYRange(0, 1, padding=0.02)
        w.setToolTip("Each class's precision against its recall as its score threshold falls from 1 to 0, at "
                     "the match IoU of the operating point; the dot is where the current threshold puts it. "
                     "Curves end where the model stops finding objects (its recall ceiling).")
        w.addLegend(offset=(-5, -5), labelTextSize="8pt")
    else:
        raise KeyError(kind)
    w.kind = kind
    w.interactive = interactive
    return w


def draw(kind: str, w: pg.PlotWidget, report: dict) -> pg.PlotWidget:
    """Draw one subset's report (:meth:`DetectionResults.report`) on a plot of :func:`new_plot`."""
    w.plotItem.clear()
    if w.plotItem.legend is not None:
        w.plotItem.legend.clear()
    (_ap_bars if kind == "ap" else _pr_curves)(w, report)
    return w


def plot_of(kind: str, report: dict) -> pg.PlotWidget:
    """A new plot with the report drawn, without click hints (the report renders these)."""
    return draw(kind, new_plot(kind, interactive=False), report)


def _ap_bars(w: pg.PlotWidget, report: dict) -> None:
    rows = report.get("per_class_ap") or []
    xs = np.arange(len(rows), dtype=float)
    for k, key in enumerate(("ap", "ap_50")):
        heights = [float(r.get(key) or 0.0) for r in rows]
        item = pg.BarGraphItem(x=xs + (k - 0.5) * 0.38, height=heights, width=0.36, brush=pg.mkBrush(AP_COLORS[key]),
                               pen=pg.mkPen(None))
        w.addItem(item)
        w.plotItem.legend.addItem(item, AP_LABELS[key])
    for i, r in enumerate(rows):
        if r.get("ap") is None and r.get("ap_50") is None:
            text = pg.TextItem("no objects", color="#888", anchor=(0.5, 1))
            text.setPos(i, 0.05)
            w.addItem(text)
    w.getAxis("bottom").setTicks([[(i, r["name"]) for i, r in enumerate(rows)]])
    w.getAxis("left").setTicks([[(v / 5, f"{v / 5:.1f}") for v in range(6)]])
    w.setYRange(0, 1.18, padding=0)
    w.setXRange(-0.6, max(0.6, len(rows) - 0.4), padding=0)


def _thin(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(x) <= MAX_POINTS:
        return x, y
    idx = np.unique(np.r_[np.linspace(0, len(x) - 1, MAX_POINTS).astype(int), len(x) - 1])
    return x[idx], y[idx]


def _pr_curves(w: pg.PlotWidget, report: dict) -> None:
    w._dots = []
    ap = {r["name"]: r.get("ap_50") for r in report.get("per_class_ap") or []}
    for i, c in enumerate((report.get("curves") or [])[:MAX_CURVES]):
        color = PALETTE[i % len(PALETTE)]
        recall, precision = np.nan_to_num(np.asarray(c["recall"], dtype=float)), np.asarray(c["precision"], float)
        if not len(recall):
            continue
        x, y = _thin(np.r_[0.0, recall], np.r_[precision[0], precision])
        area = ap.get(c["name"])
        name = f"{c['name']} (AP@0.5 {area:.3f})" if area is not None else c["name"]
        w.plot(x, y, pen=pg.mkPen(color, width=2), name=name)
        dot = pg.ScatterPlotItem(size=11, brush=pg.mkBrush(color), pen=pg.mkPen("#111", width=1.5))
        w.addItem(dot)
        w._dots.append((dot, c["name"]))
    mark(w, report)


def mark(w: pg.PlotWidget, report: dict) -> None:
    """Move each class's dot to where its current threshold puts it (the slider moves only these)."""
    for (dot, name), c in zip(getattr(w, "_dots", []), report.get("curves") or [], strict=False):
        at = int(c.get("at", -1))
        if at < 0 or not len(c["recall"]):
            dot.setData([], [])
            dot.setToolTip(f"{name}: no prediction reaches the threshold {c['threshold']:.2f}")
            continue
        r, p = float(np.nan_to_num(c["recall"][at])), float(c["precision"][at])
        dot.setData([r], [p])
        dot.setToolTip(f"{name} at score ≥ {c['threshold']:.2f}: precision {p:.3f}, recall {r:.3f}")


def class_at(plot: pg.PlotWidget, scene_pos, n: int) -> int | None:
    """The class whose bar pair is under a scene position (AP chart clicks)."""
    vb = plot.plotItem.vb
    if not vb.sceneBoundingRect().contains(scene_pos):
        return None
    x = vb.mapSceneToView(scene_pos).x()
    i = int(round(x))
    return i if 0 <= i < n and abs(x - i) <= 0.45 else None


__all__ = ["class_at", "draw", "mark", "new_plot", "plot_of"]
