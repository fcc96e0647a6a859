"""The anomaly-detection plots: the score histogram by ground truth with the threshold line, and the
ROC and precision-recall curves with the operating point marked. The page shows them (the line is
draggable there); the report renders the same builders to images.

Everything is drawn from the cached scores (:meth:`AnomalyResults.curves`): the curves are exact
(one point per distinct score), the dots sit where the current threshold puts the subset, and only
the dots and the line move when the threshold does.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

NORMAL_HEX, ANOMALOUS_HEX, LINE_HEX = "#1f77b4", "#d62728", "#222222"
BINS = 40
MAX_POINTS = 800


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
    """An empty plot of ``kind``: ``histogram`` (scores by truth, threshold line), ``roc``, ``pr``."""
    if kind == "histogram":
        w = _plot("Anomaly scores by ground truth" + (" (drag the line)" if interactive else ""), "anomaly score",
                  "images")
        w.setToolTip("How many normal (blue) and defective (red) images got each score. Images right of the line "
                     "are flagged anomalous: blue there are false alarms, red left of it are missed defects. "
                     + ("Drag the line to move the threshold: the counts follow at once; release to apply it "
                        "(Save keeps it)." if interactive else ""))
        w.addLegend(offset=(-5, 5), labelTextSize="8pt")
        w.line = pg.InfiniteLine(angle=90, movable=interactive, pen=pg.mkPen(LINE_HEX, width=2),
                                 hoverPen=pg.mkPen("#ff7f0e", width=3),
                                 label="threshold {value:.4g}", labelOpts={"position": 0.93, "color": LINE_HEX,
                                                                          "fill": (255, 255, 255, 200)})
        w.line.setZValue(10)
        w.addItem(w.line, ignoreBounds=True)
    elif kind == "roc":
        w = _plot("ROC curve", "false-positive rate (normal images flagged)", "recall (defects flagged)")
        w.setXRange(0, 1, padding=0.02)
        w.setYRange(0, 1, padding=0.02)
        w.setToolTip("Recall of defective images against the share of normal images flagged as the threshold falls; "
                     "the area under it is the image AUROC; the dot is the current threshold; the dashed diagonal "
                     "is guessing.")
        w.addLegend(offset=(-5, -5), labelTextSize="8pt")
    elif kind == "pr":
        w = _plot("Precision–recall", "recall (defects flagged)", "precision (flagged that are defects)")
        w.setXRange(0, 1, padding=0.02)
        w.setYRange(0, 1, padding=0.02)
        w.setToolTip("Precision against recall of the 'anomalous' verdict as the threshold falls; the dot is the "
                     "current threshold.")
        w.addLegend(offset=(-5, -5), labelTextSize="8pt")
    else:
        raise KeyError(kind)
    w.kind = kind
    w.interactive = interactive
    w.dot = None
    return w


def _thin(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(x) <= MAX_POINTS:
        return x, y
    idx = np.unique(np.r_[np.linspace(0, len(x) - 1, MAX_POINTS).astype(int), len(x) - 1])
    return x[idx], y[idx]


def _bulk(values: np.ndarray) -> tuple[float, float] | None:
    """Where one group's scores lie, outliers left out (3 interquartile ranges beyond the quartiles)."""
    v = values[np.isfinite(values)]
    if not len(v):
        return None
    q1, q3 = np.percentile(v, [25, 75])
    return max(float(v.min()), q1 - 3 * (q3 - q1)), min(float(v.max()), q3 + 3 * (q3 - q1))


def bin_edges(normal: np.ndarray, anomalous: np.ndarray, threshold: float, bins: int = BINS) -> np.ndarray:
    """Bins over each group's bulk and the threshold, so that one wild score does not squeeze the rest
    into a bar; scores outside fall into the end bins."""
    spans = [b for b in (_bulk(np.asarray(normal, float)), _bulk(np.asarray(anomalous, float))) if b is not None]
    if np.isfinite(threshold):
        spans.append((float(threshold), float(threshold)))
    lo, hi = (min(a for a, _ in spans), max(b for _, b in spans)) if spans else (0.0, 1.0)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    pad = 0.02 * (hi - lo)
    return np.linspace(lo - pad, hi + pad, bins + 1)


def draw(kind: str, w: pg.PlotWidget, report: dict) -> pg.PlotWidget:
    """Draw one subset's report (:meth:`AnomalyResults.report` with ``full``) on a :func:`new_plot`."""
    line = getattr(w, "line", None)
    w.plotItem.clear()
    if w.plotItem.legend is not None:
        w.plotItem.legend.clear()
    curves = report.get("curves") or {}
    if kind == "histogram":
        normal, anomalous = np.asarray(curves.get("normal", [])), np.asarray(curves.get("anomalous", []))
        edges = bin_edges(normal, anomalous, report["threshold"])
        top = 1
        for values, color, name in ((normal, NORMAL_HEX, "normal"), (anomalous, ANOMALOUS_HEX, "anomalous")):
            if not len(values):
                continue
            counts, _ = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)
            top = max(top, int(counts.max()))
            fill = pg.mkColor(color)
            fill.setAlpha(90)
            w.plot(edges, counts, stepMode="center", fillLevel=0, brush=fill, pen=pg.mkPen(color, width=1.5),
                   name=f"{name} ({len(values)})")
        w.setXRange(float(edges[0]), float(edges[-1]), padding=0)
        w.setYRange(0, top * 1.45, padding=0)  # room for the legend and the line's label
        w.addItem(line, ignoreBounds=True)
    elif kind in ("roc", "pr"):
        if kind == "roc":
            c = curves.get("roc") or {}
            x, y = np.asarray(c.get("fpr", []), float), np.asarray(c.get("tpr", []), float)
            w.plot([0, 1], [0, 1], pen=pg.mkPen("#999", width=1, style=pg.QtCore.Qt.PenStyle.DashLine))
            au = (report.get("metrics") or {}).get("image_auroc")
            name = f"AUROC {au:.3f}" if au is not None else "ROC"
        else:
            c = curves.get("pr") or {}
            x, y = np.asarray(c.get("recall", []), float), np.asarray(c.get("precision", []), float)
            if len(x):
                x, y = np.r_[0.0, x], np.r_[y[0], y]
            ap = c.get("ap")
            name = f"AP {ap:.3f}" if ap is not None else "precision–recall"
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.any():
            xs, ys = _thin(x[ok], y[ok])
            w.plot(xs, ys, pen=pg.mkPen(ANOMALOUS_HEX, width=2), name=name)
        else:
            text = pg.TextItem("needs normal and defective images", color="#888", anchor=(0.5, 0.5))
            text.setPos(0.5, 0.5)
            w.addItem(text)
        w.dot = pg.ScatterPlotItem(size=11, brush=pg.mkBrush("#ff7f0e"), pen=pg.mkPen("#111", width=1.5))
        w.addItem(w.dot)
    mark(w, report)
    return w


def mark(w: pg.PlotWidget, report: dict) -> None:
    """Move the line or the dot to the report's threshold (the threshold moves only these)."""
    c = report.get("counts") or {}
    thr = float(report["threshold"])
    if w.kind == "histogram":
        if abs(w.line.value() - thr) > 1e-12:
            w.line.setValue(thr)  # the view ignores a move to the threshold it already has
        return
    if w.dot is None:
        return
    x, y = (c.get("fpr"), c.get("recall")) if w.kind == "roc" else (c.get("recall"), c.get("precision"))
    if x is None or y is None:
        w.dot.setData([], [])
        return
    w.dot.setData([float(x)], [float(y)])
    w.dot.setToolTip(f"threshold {thr:.4g}: recall {c.get('recall') or 0:.3f}, false-positive rate "
                     f"{c.get('fpr') or 0:.3f}, precision {c.get('precision') or 0:.3f}")


def plot_of(kind: str, report: dict) -> pg.PlotWidget:
    """A new plot with the report drawn, without hints (the report renders these)."""
    return draw(kind, new_plot(kind, interactive=False), report)


__all__ = ["ANOMALOUS_HEX", "NORMAL_HEX", "bin_edges", "draw", "mark", "new_plot", "plot_of"]
