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
    for step in steps(kind, w, report):
        step()
    return w


def steps(kind: str, w: pg.PlotWidget, report: dict) -> list:
    """:func:`draw` as small steps (one curve each: a curve with its legend entry costs ~10 ms),
    so that the page can spread drawing ten classes over several event-loop turns."""
    if kind == "per_class" and _update_bars(w, report):
        return []  # same classes: new heights on the same bars (no new items, no legend rebuilt)
    if kind in ("pr", "roc"):
        key, xk, yk = ("pr", "recall", "precision") if kind == "pr" else ("roc", "fpr", "tpr")
        out = [lambda: (_clear(w), _diagonal(w) if kind == "roc" else None)]
        for i, c in enumerate(report.get("curves", [])[:MAX_CURVES]):
            out.append(lambda i=i, c=c: _curve(w, i, c, key, xk, yk))
        return out
    fn = {"per_class": _per_class, "reliability": _reliability}[kind]
    return [lambda: (_clear(w), fn(w, report))]


def plot_of(kind: str, report: dict) -> pg.PlotWidget:
    """A new plot with the report drawn, without click hints (the report renders these to images)."""
    return draw(kind, new_plot(kind, interactive=False), report)


BAR_KEYS = ("precision", "recall", "f1")


def _update_bars(w: pg.PlotWidget, report: dict) -> bool:
    rows = report.get("per_class", [])
    bars = getattr(w, "_bars", None)
    if not bars or getattr(w, "_bar_names", None) != [r["name"] for r in rows]:
        return False
    for item, key in zip(bars, BAR_KEYS, strict=True):
        item.setOpts(height=[float(r.get(key) or 0.0) for r in rows])
    return True


def _per_class(w: pg.PlotWidget, report: dict) -> None:
    """Precision, recall and F1 of each class, grouped."""
    rows = report.get("per_class", [])
    xs = np.arange(len(rows), dtype=float)
    w._bars, w._bar_names = [], [r["name"] for r in rows]
    for k, key in enumerate(BAR_KEYS):
        heights = [float(r.get(key) or 0.0) for r in rows]
        item = pg.BarGraphItem(x=xs + (k - 1) * 0.26, height=heights, width=0.25,
                               brush=pg.mkBrush(BAR_COLORS[key]), pen=pg.mkPen(None))
        w.addItem(item)
        w.plotItem.legend.addItem(item, {"f1": "F1"}.get(key, key))
        w._bars.append(item)
    w.getAxis("bottom").setTicks([[(i, r["name"]) for i, r in enumerate(rows)]])
    w.getAxis("left").setTicks([[(v / 5, f"{v / 5:.1f}") for v in range(6)]])  # no "1.1": scores end at 1
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


def _diagonal(w: pg.PlotWidget) -> None:
    w.plot([0, 1], [0, 1], pen=pg.mkPen("#aaaaaa", width=1, style=Qt.PenStyle.DashLine))


def _curve(w: pg.PlotWidget, i: int, c: dict, key: str, xk: str, yk: str) -> None:
    """One class's curve (one against the rest) with its area in the legend."""
    pts = c.get(key) or {}
    xs, ys = pts.get(xk) or [], pts.get(yk) or []
    if not xs:
        return
    area = c.get("auc" if key == "roc" else "ap")
    name = f"{c['name']} ({'AUC' if key == 'roc' else 'AP'} {area:.3f})" if area is not None else c["name"]
    w.plot(xs, ys, pen=pg.mkPen(PALETTE[i % len(PALETTE)], width=2), name=name)


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


def mark_threshold(plot: pg.PlotWidget, report: dict, class_index: int, threshold: float):
    """A star on a class's PR curve where the current threshold puts it (the operating point);
    returns the item (None when the class is not in the report)."""
    per = report.get("per_class") or []
    if not 0 <= class_index < len(per):
        return None
    row = per[class_index]
    item = pg.ScatterPlotItem([row["recall"]], [row["precision"]], symbol="star", size=16,
                              brush=pg.mkBrush("#111"), pen=None)
    item.setToolTip(f"the operating point: '{row['name']}' when its probability is at least {threshold:.2f}")
    plot.addItem(item)
    return item


__all__ = ["bin_at", "class_at", "draw", "mark_threshold", "new_plot", "plot_of"]
