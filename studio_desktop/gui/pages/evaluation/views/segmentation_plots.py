"""The segmentation plots: IoU per class (horizontal bars in the class colours, best to worst readable
with a dozen classes and long names) and the distribution of the images' IoU with the grid's colour
thresholds. The page shows them; the report renders the same builders to images."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from ..segmentation_results import FAIR_IOU, GOOD_IOU

IMAGE_BINS = 20


def _plot(title: str, x_label: str, y_label: str) -> pg.PlotWidget:
    w = pg.PlotWidget(background="w")
    w.setTitle(title, color="#222", size="10pt")
    w.setLabel("bottom", x_label)
    if y_label:
        w.setLabel("left", y_label)
    w.showGrid(x=True, y=False, alpha=0.2)
    w.setMenuEnabled(False)
    w.setMinimumHeight(170)
    w.setMouseEnabled(x=False, y=False)
    for axis in ("left", "bottom"):
        w.getAxis(axis).enableAutoSIPrefix(False)
    return w


def new_plot(kind: str, interactive: bool = True) -> pg.PlotWidget:
    """An empty plot of ``kind``: ``iou`` (IoU per class) or ``images`` (IoU of the images)."""
    if kind == "iou":
        w = _plot("IoU per class", "IoU", "")
        w.setToolTip("Each class's intersection over union over every pixel of the subset: the pixels both the "
                     "truth and the prediction call that class, divided by the pixels either calls it. 'not "
                     "present': the class is in neither, its IoU is undefined and left out of mIoU." +
                     (" Click a bar: the images with that class, worst first, and its errors in the detail."
                      if interactive else ""))
    elif kind == "images":
        w = _plot("IoU of the images", "image IoU", "images")
        w.setToolTip(f"How many images reach each IoU (an image's IoU: the mean over the classes in its truth or "
                     f"prediction). The lines are the grid's colours: red under {FAIR_IOU:.2f}, amber to "
                     f"{GOOD_IOU:.2f}, green above.")
    else:
        raise KeyError(kind)
    w.kind = kind
    w.interactive = interactive
    return w


def draw(kind: str, w: pg.PlotWidget, report: dict) -> pg.PlotWidget:
    """Draw a subset's report (:meth:`SegmentationResults.report`) on a plot of :func:`new_plot`."""
    w.plotItem.clear()
    (_iou_bars if kind == "iou" else _image_histogram)(w, report)
    return w


def plot_of(kind: str, report: dict) -> pg.PlotWidget:
    """A new plot with the report drawn, without click hints (the report renders these)."""
    return draw(kind, new_plot(kind, interactive=False), report)


def _iou_bars(w: pg.PlotWidget, report: dict) -> None:
    rows = report.get("per_class") or []
    colours = report.get("colours") or ["#1f77b4"] * len(rows)
    n = len(rows)
    ys = np.arange(n, dtype=float)
    widths = [float(r.get("iou") or 0.0) for r in rows]
    brushes = [pg.mkBrush(c) for c in colours[:n]]
    bars = pg.BarGraphItem(x0=np.zeros(n), y=ys, width=widths, height=0.7, brushes=brushes,
                           pen=pg.mkPen("#555", width=0.5))
    w.addItem(bars)
    w._bars = bars
    for i, r in enumerate(rows):
        text = "not present" if r.get("iou") is None else f"{r['iou']:.3f}"
        label = pg.TextItem(text, color="#888" if r.get("iou") is None else "#222", anchor=(0, 0.5))
        label.setPos(widths[i] + 0.01, i)
        w.addItem(label)
    miou = (report.get("metrics") or {}).get("miou")
    if miou is not None:  # dashed: the mean, named in the title (a label on the line covers a bar)
        w.addItem(pg.InfiniteLine(pos=miou, angle=90, pen=pg.mkPen("#222", width=1,
                                                                   style=pg.QtCore.Qt.PenStyle.DashLine)))
        w.setTitle(f"IoU per class · mIoU {miou:.3f} (dashed)", color="#222", size="10pt")
    axis = w.getAxis("left")
    axis.setTicks([[(i, r["name"]) for i, r in enumerate(rows)]])
    w.getViewBox().invertY(True)  # the first class on top
    w.setXRange(0, 1.18, padding=0)
    w.setYRange(-0.6, max(0.6, n - 0.4), padding=0)
    w.getAxis("bottom").setTicks([[(v / 5, f"{v / 5:.1f}") for v in range(6)]])


def _image_histogram(w: pg.PlotWidget, report: dict) -> None:
    values = np.asarray([v for v in report.get("image_ious") or [] if v is not None], dtype=float)
    edges = np.linspace(0, 1, IMAGE_BINS + 1)
    counts, _ = np.histogram(values, bins=edges)
    centres = (edges[:-1] + edges[1:]) / 2
    colours = ["#d62728" if c < FAIR_IOU else "#f0a30a" if c < GOOD_IOU else "#2ca02c" for c in centres]
    w.addItem(pg.BarGraphItem(x=centres, height=counts, width=0.9 / IMAGE_BINS, brushes=[pg.mkBrush(c) for c in colours],
                              pen=pg.mkPen(None)))
    for x in (FAIR_IOU, GOOD_IOU):
        w.addItem(pg.InfiniteLine(pos=x, angle=90, pen=pg.mkPen("#888", width=1,
                                                                style=pg.QtCore.Qt.PenStyle.DashLine)))
    w.setXRange(0, 1, padding=0.02)
    top = max(1, int(counts.max(initial=0)))
    w.setYRange(0, top * 1.1, padding=0)
    step = max(1, int(np.ceil(top / 6)))
    w.getAxis("left").setTicks([[(v, str(v)) for v in range(0, top + 1, step)]])


def class_at(plot: pg.PlotWidget, scene_pos, n: int) -> int | None:
    """The class whose bar is under a scene position (IoU chart clicks)."""
    vb = plot.plotItem.vb
    if not vb.sceneBoundingRect().contains(scene_pos):
        return None
    y = vb.mapSceneToView(scene_pos).y()
    i = int(round(y))
    return i if 0 <= i < n and abs(y - i) <= 0.45 else None


__all__ = ["class_at", "draw", "new_plot", "plot_of"]
