"""The object-detection result view: mAP with its intervals, the counts at the operating point,
the confusion matrix with a background row and column, AP per class, PR curves per class and the
operating point editor (score threshold slider, per-class thresholds, NMS and match IoU).

mAP ranks every prediction, so it does not move with the threshold (it comes from
``aggregate.json``); everything else is at the operating point and follows it live: dragging the
threshold recomputes the counts, the matrix, the PR dots, the grid's colours and the boxes from the
cached predictions (milliseconds; a new NMS or match IoU rematches once). The counts table, the
matrix and the grid are the same numbers: each TP/FP/FN total equals the matrix's (diagonal,
off-diagonal column and row sums) and the sum over the grid's images. A click on a cell or a bar
shows exactly its images.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..controller import SUBSET_WORDS
from ..detection_results import HEADLINE, MORE_METRICS
from . import detection_plots as plots
from .base import ResultView
from .detection_operating_point import DetectionOperatingPointEditor
from .detection_tables import (
    COUNT_COLUMNS,
    COUNT_HELP,
    INTERVAL_TEXT,
    METRIC_HELP,
    DetectionConfusionView,
    fit_columns,
    fmt_ratio,
    plain_table,
    table_cell,
)

PLOT_TABS = (("ap", "AP per class", "COCO average precision of each class (threshold-free); click a class"),
             ("pr", "PR curves", "Precision against recall per class; the dot is the current threshold"))
#: the counts and the matrix follow a dragged threshold at most this often (ms)
REFRESH_MS = 15
#: Alt+Left / Alt+Right move the score threshold by this much
THRESHOLD_STEP = 0.05


class DetectionView(ResultView):
    """The Metrics section's content for object detection."""

    section_help = ("mAP with 95 % intervals; at the operating point the counts, the confusion matrix and the PR "
                    "dots, which follow the threshold slider; click a cell or a bar to filter the images")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.results = None
        self.quick: dict | None = None
        self._curves: list[dict] = []
        self._curves_key = None
        self._drawn: dict[str, object] = {}
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        self.subset = QComboBox()
        self.subset.setToolTip("Which evaluated images the metrics describe (the test subset is the honest "
                               "estimate; validation images helped choose the checkpoint)")
        head.addWidget(QLabel("Metrics of"))
        head.addWidget(self.subset)
        self.summary = QLabel("")
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        head.addWidget(self.summary, 1)
        lay.addLayout(head)

        split = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Metric", "Value", "95 % interval"])
        self.table.horizontalHeaderItem(2).setToolTip(INTERVAL_TEXT)
        plain_table(self.table)
        self.table.setToolTip("COCO mAP: threshold-free, it ranks every prediction; hover a metric for what it "
                              "measures")
        ll.addWidget(self.table, 3)
        self.counts_label = QLabel("")
        self.counts_label.setTextFormat(Qt.TextFormat.RichText)
        self.counts_label.setWordWrap(True)
        ll.addWidget(self.counts_label)
        self.counts_table = QTableWidget(0, len(COUNT_COLUMNS) + 1)
        self.counts_table.setHorizontalHeaderLabels(["Class"] + [t for _k, t in COUNT_COLUMNS])
        for i, (key, _t) in enumerate(COUNT_COLUMNS, 1):
            self.counts_table.horizontalHeaderItem(i).setToolTip(COUNT_HELP[key])
        plain_table(self.counts_table)
        self.counts_table.setToolTip("At the operating point: click a class to show the images with its objects")
        self.counts_table.cellClicked.connect(self._count_clicked)
        ll.addWidget(self.counts_table, 2)
        split.addWidget(left)

        cm_box = QWidget()
        cl = QVBoxLayout(cm_box)
        cl.setContentsMargins(0, 0, 0, 0)
        self.confusion = DetectionConfusionView()
        self.confusion.cellClicked.connect(self._cell_clicked)
        cl.addWidget(self.confusion, 1)
        self.confusion_note = QLabel("")
        self.confusion_note.setWordWrap(True)
        self.confusion_note.setStyleSheet("color:#555;")
        cl.addWidget(self.confusion_note)
        split.addWidget(cm_box)

        self.tabs = QTabWidget()
        self.editor = DetectionOperatingPointEditor()
        scroll = QScrollArea()
        scroll.setWidget(self.editor)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.tabs.addTab(scroll, "Operating point")
        self.tabs.setTabToolTip(0, "Which boxes are shown and counted: score threshold (per class if you want), "
                                   "NMS and match IoU, or chosen from a goal; saved with the model")
        self._plots: dict[str, object] = {}
        self._holders: dict[str, QWidget] = {}
        for key, title, tip in PLOT_TABS:
            holder = QWidget()
            QVBoxLayout(holder).setContentsMargins(0, 0, 0, 0)
            self._holders[key] = holder
            self.tabs.addTab(holder, title)
            self.tabs.setTabToolTip(self.tabs.count() - 1, tip)
        self.tabs.currentChanged.connect(lambda _i: self._draw_visible())
        split.addWidget(self.tabs)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setStretchFactor(2, 3)
        split.setSizes([430, 320, 430])
        lay.addWidget(split, 1)

        self.subset.currentIndexChanged.connect(self._subset_changed)
        self.editor.changed.connect(self.set_operating_point)
        self.editor.saveRequested.connect(self.save_operating_point)
        self.editor.revertRequested.connect(self.revert_operating_point)
        self._refresh_timer = QTimer(self, singleShot=True, interval=REFRESH_MS)
        self._refresh_timer.timeout.connect(self.refresh)
        for keys, step in (("Alt+Left", -THRESHOLD_STEP), ("Alt+Right", THRESHOLD_STEP)):
            sc = QShortcut(QKeySequence(keys), self, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(lambda s=step: self.editor.threshold.setValue(self.editor.threshold.value() + s))

    # --------------------------------------------------------------- contract
    def show_selection(self, flt) -> None:
        """The grid's filter changed: the matrix keeps its cell outlined only while the grid shows it."""
        cell = self.confusion.selected
        if cell is not None and (flt.truth, flt.predicted, flt.subset) != (*cell, self.current_subset()):
            self.confusion.select(None)

    def show_image(self, _row: int) -> None:
        """An image was selected in the grid (its boxes are in the detail)."""

    def section_summary(self) -> str:
        r, rep = self.results, self.quick
        if r is None or rep is None:
            return ""
        subset = self.current_subset()
        m = rep["metrics"].get("map")
        c = rep["counts"]
        head = f"{SUBSET_WORDS.get(subset, subset)} mAP <b>{fmt_ratio(m)}</b>" if m is not None else \
            f"{SUBSET_WORDS.get(subset, subset)}"
        return f"{head} · TP {c['tp']} · FP {c['fp']} · FN {c['fn']} at score ≥ {r.score_threshold:.2f}"

    # ------------------------------------------------------------------ data
    def set_results(self, results) -> None:
        self.results = results
        self._curves_key = None
        self._drawn.clear()
        self.fill_subsets(results)
        self.confusion.select(None)
        self.editor.set_results(results)
        self.refresh()

    def _subset_changed(self) -> None:
        self.confusion.select(None)
        self.refresh()
        self.subsetChanged.emit(self.current_subset())

    def refresh(self) -> None:
        """Every number at the current operating point and subset (milliseconds)."""
        r = self.results
        if r is None:
            return
        subset = self.current_subset()
        self.quick = r.report(subset, full=False)
        self._show_table(self.quick)
        self._show_counts(self.quick)
        self.confusion.set_matrix(self.quick["confusion"], r.matrix_names)
        self.confusion_note.setText(f"Boxes at {r.describe_rule()}.")
        self._show_summary()
        self._update_curves()
        self._draw_visible()
        self.editor.show_operating_point(r.op, r.dirty)
        self.refreshed.emit()
        self.reportReady.emit(self.quick)

    def _update_curves(self) -> None:
        """PR curves when their matching or subset changed; else only each class's dot moves."""
        r = self.results
        key = (id(r), id(r.outcome.matching), self.current_subset())
        if key != self._curves_key:
            self._curves = r.pr_curves(self.current_subset())
            self._curves_key = key
            self._drawn.pop("pr", None)
        else:
            for k, c in enumerate(self._curves):
                c["threshold"] = float(r.outcome.thresholds[k])
                c["at"] = int(np.searchsorted(-c["thresholds"], -c["threshold"], side="right")) - 1

    def full_report(self) -> dict:
        """The quick report with the curves (what the plots draw)."""
        return dict(self.quick or {}, curves=self._curves)

    def _show_summary(self) -> None:
        r = self.results
        ck = r.info.checkpoint if r.info is not None else {}
        epoch = f", epoch {ck.get('epoch')}" if ck.get("epoch") else ""
        c = self.quick["counts"]
        dirty = " · <span style='color:#b35900'>operating point not saved</span>" if r.dirty else ""
        self.summary.setText(f"{c['images']} images · {c['missed']} with missed objects · {c['false_alarms']} "
                             f"with false alarms · {ck.get('which', '?')} checkpoint{epoch}{dirty}")
        self.summary.setToolTip(f"Operating point: {r.describe_rule()}")

    def _show_table(self, rep: dict) -> None:
        """The threshold-free mAP figures: filled when the subset (or the NMS, which they were not
        measured at) changes, not at every threshold."""
        r = self.results
        key = (id(r), rep["subset"], r.op.nms_iou is None)
        if getattr(self, "_table_key", None) == key:
            return
        self._table_key = key
        metrics, intervals = rep["metrics"], rep["intervals"]
        rows = [(k, label) for k, label in (*HEADLINE, *MORE_METRICS) if k in metrics]
        self.table.setUpdatesEnabled(False)
        self.table.setRowCount(len(rows))
        bold = QFont(self.table.font())
        bold.setBold(True)
        nms_note = ("" if r.op.nms_iou is None else "\nMeasured at the evaluated NMS: the NMS IoU you chose changes "
                    "the counts and the curves here, not this number (evaluate again to measure it).")
        for i, (key, label) in enumerate(rows):
            name = table_cell(self.table, i, 0)
            name.setText(label)
            name.setData(Qt.ItemDataRole.UserRole, key)
            how = r.how(key)
            name.setToolTip(METRIC_HELP.get(key, key) + (f"\nComputed as: {how}" if how else "") + nms_note)
            value = table_cell(self.table, i, 1)
            value.setText(fmt_ratio(metrics.get(key)))
            value.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            value.setToolTip(name.toolTip())
            iv = intervals.get(key)
            interval = table_cell(self.table, i, 2)
            interval.setText(f"{iv[0]:.3f}–{iv[1]:.3f}" if iv else "")
            interval.setToolTip(INTERVAL_TEXT if iv else "no interval for this metric")
            font = bold if key in dict(HEADLINE) else self.table.font()
            name.setFont(font)
            value.setFont(font)
        fit_columns(self.table)
        self.table.resizeRowsToContents()
        self.table.setUpdatesEnabled(True)

    def _show_counts(self, rep: dict) -> None:
        c = rep["counts"]
        rows = [("All classes", {**c, "objects": c["tp"] + c["fn"], "threshold": None})]
        rows += [(pc["name"], {**pc, "objects": pc["tp"] + pc["fn"]}) for pc in c["per_class"]]
        table = self.counts_table
        table.setUpdatesEnabled(False)
        if table.rowCount() != len(rows):
            table.setRowCount(len(rows))
        bold = QFont(table.font())
        bold.setBold(True)
        colors = {"tp": "#2ca02c", "fp": "#b35900", "fn": "#d62728"}
        for i, (name, d) in enumerate(rows):
            item = table_cell(table, i, 0)
            item.setText(name)
            item.setData(Qt.ItemDataRole.UserRole, i - 1)  # class index, -1: all
            if i == 0:
                item.setFont(bold)
            for j, (key, _t) in enumerate(COUNT_COLUMNS, 1):
                v = d.get(key)
                text = (str(v) if key in ("objects", "tp", "fp", "fn") else
                        ("" if v is None else f"{v:.2f}") if key == "threshold" else fmt_ratio(v))
                cell = table_cell(table, i, j)
                cell.setText(text)
                if cell.toolTip() != COUNT_HELP[key]:
                    cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                    cell.setToolTip(COUNT_HELP[key])
                    if i == 0:
                        cell.setFont(bold)
                cell.setForeground(QBrush(QColor(colors[key] if key in colors and v else "#222222")))
        fit_columns(table)
        table.setUpdatesEnabled(True)
        r = self.results
        self.counts_label.setText(
            f"<b>At the operating point</b> (score ≥ {r.score_threshold:.2f}, match IoU {r.match_iou:.2f}): "
            f"<span style='color:#2ca02c'><b>{c['tp']}</b> found</span> · <span style='color:#b35900'><b>{c['fp']}"
            f"</b> false alarms</span> · <span style='color:#d62728'><b>{c['fn']}</b> missed</span> · precision "
            f"{fmt_ratio(c['precision'])} · recall {fmt_ratio(c['recall'])}")

    def count_text(self, row_name: str, key: str) -> str:
        """A cell of the counts table as shown (tests): ``row_name`` "All classes" or a class."""
        col = 1 + [k for k, _t in COUNT_COLUMNS].index(key)
        for i in range(self.counts_table.rowCount()):
            if self.counts_table.item(i, 0).text() == row_name:
                return self.counts_table.item(i, col).text()
        raise KeyError(row_name)

    def metric_text(self, key: str) -> tuple[str, str]:
        """(value, interval) of a headline metric as shown (tests)."""
        for i in range(self.table.rowCount()):
            if self.table.item(i, 0).data(Qt.ItemDataRole.UserRole) == key:
                return self.table.item(i, 1).text(), self.table.item(i, 2).text()
        raise KeyError(key)

    # ----------------------------------------------------------------- plots
    @property
    def plots(self) -> dict:
        for key in self._holders:
            self.plot(key)
        return self._plots

    def plot(self, kind: str):
        w = self._plots.get(kind)
        if w is None:
            w = self._plots[kind] = plots.new_plot(kind)
            self._holders[kind].layout().addWidget(w)
            if kind == "ap":
                w.scene().sigMouseClicked.connect(lambda ev: self._bars_clicked(w, ev))
        return w

    def _draw_visible(self, every: bool = False) -> None:
        """Draw the plot on screen when what it shows changed; the PR dots follow the threshold."""
        r = self.results
        if r is None:
            return
        current = self.tabs.currentWidget()
        for kind, holder in self._holders.items():
            if not every and holder is not current:
                continue
            w = self.plot(kind)
            key = (id(r), self.current_subset(), self._curves_key if kind == "pr" else None)
            if self._drawn.get(kind) != key:
                plots.draw(kind, w, self.full_report())
                self._drawn[kind] = key
            elif kind == "pr":
                plots.mark(w, self.full_report())

    def draw_all(self) -> None:
        """Every plot drawn now (tests, screenshots)."""
        self._draw_visible(every=True)

    # ---------------------------------------------------------------- clicks
    def _cell_clicked(self, truth: int, predicted: int) -> None:
        """Exactly the images with a box in that cell (background: the last row / column)."""
        self.filterRequested.emit({"subset": self.current_subset(), "truth": truth, "predicted": predicted,
                                   "outcome": "any", "label_issues": False, "confidence": None, "ids": None,
                                   "why": ""})

    def _count_clicked(self, row: int, _col: int) -> None:
        k = self.counts_table.item(row, 0).data(Qt.ItemDataRole.UserRole)
        if k is not None and k >= 0:
            self.confusion.select(None)
            self.filterRequested.emit({"subset": self.current_subset(), "truth": int(k), "predicted": None,
                                       "outcome": "any", "confidence": None, "ids": None, "why": ""})

    def _bars_clicked(self, widget, event) -> None:
        r = self.results
        i = plots.class_at(widget, event.scenePos(), len(r.class_names) if r else 0)
        if i is not None:
            self.confusion.select(None)
            self.filterRequested.emit({"subset": self.current_subset(), "truth": i, "predicted": None,
                                       "outcome": "any", "confidence": None, "ids": None, "why": ""})

    # -------------------------------------------------------- operating point
    def set_operating_point(self, op) -> None:
        if self.results is None:
            return
        self.results.set_operating_point(op)
        self.operatingPointChanged.emit()
        self._refresh_timer.start()


__all__ = ["DetectionView"]
