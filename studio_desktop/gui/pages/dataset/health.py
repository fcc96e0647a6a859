"""The data-health panel: charts and warnings from ``core.stats.dataset_stats``.

Statistics need the validated dataset (seconds for 100,000 records), so they are computed in
a worker thread when the panel is first shown after a change. The panel only draws: every
number comes from ``core.stats`` (one definition shared with ``studio dataset stats``).

The chart library (pyqtgraph, ~0.4 s to import) is imported in that same worker thread the
first time the panel is shown, never while the page is built: building the Dataset page at
start-up must not freeze the window (see ``MainWindow._prebuild_next``).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QGridLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from ....core.datasets import DatasetStore
from ....core.stats import dataset_stats
from .background import BackgroundCall

CHARTS_MODULE = "studio_desktop.gui.widgets.charts"


def _charts() -> ModuleType:
    """The chart helpers, imported on first use (cached by ``sys.modules`` afterwards)."""
    return importlib.import_module(CHARTS_MODULE)


def health_charts(stats: dict, colors: dict[str, str]) -> list[tuple[str, object]]:
    """(key, chart builder) for every chart the statistics can feed, in display order.

    ``colors`` maps class names to their colours. Builders are returned unevaluated so that
    what is charted can be tested without creating widgets.
    """
    out: list[tuple[str, object]] = []
    charts = _charts()
    for key, title in (("images_per_class", "Images per class"), ("objects_per_class", "Objects per class")):
        per = stats.get(key) or {}
        if per:
            names = list(per)
            out.append((key, lambda t=title, n=names, p=per: charts.bar_chart(
                t, n, [p[k] for k in n], [colors.get(k, charts.DEFAULT_COLOR) for k in n])))
    if (stats.get("objects_per_image") or {}).get("count"):
        out.append(("objects_per_image", lambda: charts.binned(
            "Objects per image", {"images": stats["objects_per_image"]}, "objects")))
    if (stats.get("image_width") or {}).get("count"):
        out.append(("image_size", lambda: charts.binned(
            "Image size", {"width": stats["image_width"], "height": stats["image_height"]}, "pixels")))
    if (stats.get("box_width") or {}).get("count"):
        out.append(("box_size", lambda: charts.binned(
            "Box size", {"width": stats["box_width"], "height": stats["box_height"]}, "pixels")))
    anomaly = stats.get("anomaly")
    if anomaly:
        out.append(("anomaly", lambda: charts.bar_chart(
            "Normal and anomalous images", ["normal", "anomalous"],
            [anomaly.get("normal", 0), anomaly.get("anomalous", 0)], ["#2ca02c", "#d62728"])))
    for name, hist in (stats.get("targets") or {}).items():
        if hist.get("count"):
            out.append((f"target:{name}", lambda n=name, h=hist: charts.binned(f"Target '{n}'", {n: h}, n)))
    return out


def health_summary(stats: dict) -> str:
    unannotated = (stats.get("images_without_annotations") or {}).get("count", 0)
    duplicates = (stats.get("duplicates") or {}).get("count", 0)
    return (f"<b>{stats.get('images', 0):,}</b> images · <b>{stats.get('annotated', 0):,}</b> annotated · "
            f"<b>{unannotated:,}</b> without annotations · <b>{duplicates:,}</b> exact duplicates")


class HealthPanel(QWidget):
    """Charts (images/objects per class, image sizes, box sizes, objects per image) and warnings."""

    def __init__(self, ctx, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        self.stats: dict | None = None
        self._stale = True
        self._call = BackgroundCall(self)
        self._call.done.connect(self._show)
        self._call.failed.connect(lambda msg: self.summary.setText(f"Statistics unavailable: {msg}"))
        outer = QVBoxLayout(self)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        outer.addWidget(self.summary)
        self.warnings = QLabel("")
        self.warnings.setWordWrap(True)
        outer.addWidget(self.warnings)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        self.body = QWidget()
        self.grid = QGridLayout(self.body)
        scroll.setWidget(self.body)
        outer.addWidget(scroll, 1)
        self.charts: dict[str, QWidget] = {}
        self._building = 0

    def invalidate(self) -> None:
        """The dataset changed: recompute now if visible, else when next shown."""
        self._stale = True
        if self.isVisible():
            self.refresh()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._stale:
            self.refresh()

    def refresh(self) -> None:
        project = self.ctx.project
        if project is None:
            return
        self._stale = False
        self.summary.setText("Computing statistics…")
        store = DatasetStore(self.ctx.workspace, project.id)

        def compute() -> dict:
            _charts()  # import pyqtgraph here, off the GUI thread, before _show needs it
            # dataset_root: semantic masks are PNG files; without it their per-class figures are missing
            return dataset_stats(store.load(), project, dataset_root=store.root)

        self._call.start(compute)

    def _show(self, stats: dict) -> None:
        """Show the figures, then build the charts one per event-loop turn (a pyqtgraph plot
        takes ~20 ms to create; all at once stalled the GUI for ~100 ms). ``stats`` is set
        when the last chart exists."""
        while self.grid.count():
            w = self.grid.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        self.charts = {}
        project = self.ctx.project
        colors = {c.name: c.color for c in (project.classes if project else [])}
        self.summary.setText(health_summary(stats))
        self.warnings.setText("".join(f"<p style='color:#b9770e'>⚠ {w}</p>" for w in stats.get("warnings", [])))
        self._building += 1
        self._build_next(self._building, stats, list(enumerate(health_charts(stats, colors))))

    def _build_next(self, generation: int, stats: dict, todo: list) -> None:
        if generation != self._building:
            return  # newer statistics arrived meanwhile
        if not todo:
            self.stats = stats
            return
        index, (key, build) = todo.pop(0)
        chart = build()
        chart.setToolTip(key.replace("_", " "))
        self.charts[key] = chart
        self.grid.addWidget(chart, index // 2, index % 2)
        QTimer.singleShot(0, self, lambda: self._build_next(generation, stats, todo))
