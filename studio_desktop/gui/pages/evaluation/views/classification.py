"""The classification result view: metrics with their intervals, the confusion matrix, per-class
bars, PR / ROC / reliability plots and the decision-rule editor.

Everything is computed by the results object under its current operating point: the quick part
(counts, confusion, per class: milliseconds) at once, the curves and the 1,000-resample bootstrap
intervals (about a second for 10,000 images) in a background thread, so dragging the threshold
never stalls the window. Clicks become "show these images" requests (``filterRequested``) that the
Images section obeys.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ....widgets.confusion import ConfusionMatrixView
from ...dataset.background import BackgroundCall
from ..controller import SUBSET_WORDS, percent
from . import classification_plots as plots
from .base import ResultView
from .operating_point import OperatingPointEditor

#: (metric key, label, shown as a percentage)
METRICS = (("accuracy", "Accuracy", True), ("balanced_accuracy", "Balanced accuracy", True),
           ("precision_macro", "Precision (macro)", True), ("recall_macro", "Recall (macro)", True),
           ("f1_macro", "F1 (macro)", True), ("f1_weighted", "F1 (weighted)", True),
           ("top5_accuracy", "Top-5 accuracy", True), ("roc_auc_macro", "ROC AUC (macro)", False),
           ("average_precision_macro", "Average precision (macro)", False),
           ("ece", "Calibration error (ECE)", False))
#: the plot tabs: kind, title, tooltip
PLOT_TABS = (("per_class", "Per class", "Precision, recall and F1 of each class"),
             ("pr", "PR", "Precision-recall curve of each class"),
             ("roc", "ROC", "ROC curve of each class"),
             ("reliability", "Reliability", "Whether the probabilities mean what they say"))
#: GUI-thread time spent drawing plot steps per event-loop turn
STEP_BUDGET_S = 0.02
#: the operating point must rest this long before curves and intervals are recomputed
FULL_DELAY_MS = 250
INTERVAL_TEXT = ("95 % bootstrap interval: the images were resampled with replacement 1,000 times; the "
                 "metric fell inside this range in 95 % of the resamples. Two models whose intervals overlap "
                 "may not really differ on images like these.")


def fmt(value, pct: bool) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.1f} %" if pct else f"{value:.3f}"


def fmt_interval(iv, pct: bool) -> str:
    if not iv:
        return ""
    return f"{100 * iv[0]:.1f}–{100 * iv[1]:.1f} %" if pct else f"{iv[0]:.3f}–{iv[1]:.3f}"


def how_text(results, key: str, subset: str, counted: int, flagged: int) -> str:
    """The tooltip of one metric: how it is computed, under which rule, on which images."""
    info = results.info
    ck = info.checkpoint
    epoch = f", epoch {ck.get('epoch')}" if ck.get("epoch") else ""
    how = results.how(key) or key.replace("_", " ")
    flagged_text = f" ({flagged} flagged uncertain, not counted)" if flagged else ""
    return (f"{how[0].upper()}{how[1:]}.\nDecision rule: {results.describe_rule()}.\n"
            f"Images: the {SUBSET_WORDS.get(subset, subset)} subset, {counted} counted{flagged_text}.\n"
            f"Checkpoint: {ck.get('which', '?')}{epoch}.")


class ClassificationView(ResultView):
    """The Metrics section's content for classification."""

    #: the page adds its Compare panel among this view's tabs
    compares = True
    section_help = ("The numbers at the current operating point, with 95 % intervals; click the charts to "
                    "filter the images")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.results = None
        self.first_full = True
        self.quick = None  # SubsetReport without curves/intervals
        self.full = None  # SubsetReport with them (background)
        self._full_data: dict = {}
        self._drawn: dict[str, tuple] = {}  # plot kind -> what it shows (see _draw_visible)
        self._marker = None
        self._queue: list = []  # plot drawing steps not run yet
        self._queue_kind = ""
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
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Metric", "Value", "95 % interval"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        for c in (0, 1, 2):
            self.table.horizontalHeader().setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.horizontalHeaderItem(2).setToolTip(INTERVAL_TEXT)
        self.table.setToolTip("Hover a metric to see how it is computed, under which decision rule, on which images")
        split.addWidget(self.table)

        cm_box = QWidget()
        cl = QVBoxLayout(cm_box)
        cl.setContentsMargins(0, 0, 0, 0)
        self.confusion = ConfusionMatrixView()
        self.confusion.cellClicked.connect(self._cell_clicked)
        cl.addWidget(self.confusion, 1)
        self.shares = QCheckBox("Show shares of each true class")
        self.shares.setToolTip("Print each cell as the share of its row (its true class) instead of a count")
        self.shares.toggled.connect(self.confusion.set_normalized)
        cl.addWidget(self.shares)
        split.addWidget(cm_box)

        self.tabs = QTabWidget()
        # a plot costs ~45 ms to build: each tab holds a placeholder and its plot is built one per
        # event-loop turn after the view appears (or at once when first needed), not all at once
        self._plots: dict[str, object] = {}
        self._holders: dict[str, QWidget] = {}
        for key, title, tip in PLOT_TABS:
            holder = QWidget()
            QVBoxLayout(holder).setContentsMargins(0, 0, 0, 0)
            self._holders[key] = holder
            self.tabs.addTab(holder, title)
            self.tabs.setTabToolTip(self.tabs.count() - 1, tip)
        self.tabs.currentChanged.connect(lambda _i: self._draw_visible())
        self._to_build = [k for k, _, _ in PLOT_TABS]
        QTimer.singleShot(0, self, self._build_next)
        self.editor = OperatingPointEditor()
        self.editor_scroll = QScrollArea()
        self.editor_scroll.setWidget(self.editor)
        self.editor_scroll.setWidgetResizable(True)
        self.editor_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.tabs.addTab(self.editor_scroll, "Decision rule")
        self.tabs.setTabToolTip(self.tabs.count() - 1, "How scores become decisions: threshold, uncertain cut-off, "
                                                       "calibration, or a goal; saved with the model")
        split.addWidget(self.tabs)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 2)
        split.setStretchFactor(2, 3)
        split.setSizes([340, 300, 480])
        lay.addWidget(split, 1)

        self.subset.currentIndexChanged.connect(self._subset_changed)
        self.editor.changed.connect(self.set_operating_point)
        self.editor.saveRequested.connect(self.save_operating_point)
        self.editor.revertRequested.connect(self.revert_operating_point)
        self._background = BackgroundCall(self)
        self._background.done.connect(self._full_ready)
        self._background.failed.connect(self._full_failed)
        # the curves and the 1,000-resample intervals (a second for 10,000 images) wait until the
        # operating point rests, and one computation runs at a time: a dragged slider queues none
        self._full_timer = QTimer(self, singleShot=True, interval=FULL_DELAY_MS)
        self._full_timer.timeout.connect(self._start_full)
        self._full_running = False
        self._full_pending = False
        self._refresh_timer = QTimer(self, singleShot=True, interval=15)
        self._refresh_timer.timeout.connect(self.refresh)

    def show_selection(self, flt) -> None:
        """The grid's filter changed: the matrix keeps its cell outlined only while the grid shows it."""
        cell = self.confusion.selected
        if cell is not None and (flt.truth, flt.predicted, flt.subset) != (*cell, self.current_subset()):
            self.confusion.select(None)

    def show_image(self, _row: int) -> None:
        """An image was selected in the grid (nothing marks single images here)."""

    def section_summary(self) -> str:
        """The Metrics section's header: the subset's accuracy under the decision rule."""
        r, rep = self.results, self.quick
        subset = self.current_subset()
        acc = percent(rep.metrics.get("accuracy")) if rep is not None else "–"
        return f"{SUBSET_WORDS.get(subset, subset)} accuracy <b>{acc}</b> · {r.describe_rule()}"

    # ------------------------------------------------------------------ data
    def set_results(self, results) -> None:
        self.results = results
        self.full = None
        self.fill_subsets(results)
        self.confusion.select(None)
        self.editor.set_results(results)
        self.first_full = True
        self.refresh()

    def _subset_changed(self) -> None:
        self.confusion.select(None)
        self.refresh()
        self.subsetChanged.emit(self.current_subset())

    def refresh(self) -> None:
        """Quick numbers now, curves and intervals in the background."""
        r = self.results
        if r is None:
            return
        subset = self.current_subset()
        self.quick = r.report(subset, full=False)
        self.full = None
        self._show_table(self.quick, intervals=False)
        self.confusion.set_matrix(self.quick.confusion, r.class_names)
        self._show_summary(self.quick)
        plots.draw("per_class", self.plot("per_class"), self.quick.as_json())
        if self._tab_kind() == "pr":
            self._update_marker()
        self.refreshed.emit()
        self.editor.show_operating_point(r.op, r.dirty)
        self._full_timer.start(0 if self.first_full else FULL_DELAY_MS)
        self.first_full = False

    def _start_full(self) -> None:
        r = self.results
        if r is None:
            return
        if self._full_running:
            self._full_pending = True
            return
        self._full_running, self._full_pending = True, False
        self._background.start(lambda res=r, s=self.current_subset(), op=r.op: (res, s, op,
                                                                                 res.report(s, full=True)))

    def _full_failed(self, _message: str) -> None:
        self._full_running = False
        if self._full_pending:
            self._start_full()

    def _full_ready(self, payload) -> None:
        self._full_running = False
        r, subset, op, report = payload
        if r is not self.results or subset != self.current_subset() or op is not r.op:
            if not self._full_timer.isActive():  # a newer rule or subset is on screen: compute that one
                self._start_full()
            return
        self._full_pending = False
        self.full = report
        self._full_data = report.as_json()
        self._show_table(report, intervals=True)
        self._draw_visible()
        self.reportReady.emit(report)

    def _tab_kind(self) -> str:
        current = self.tabs.currentWidget()
        return next((k for k, w in self._holders.items() if w is current), "")

    @property
    def plots(self) -> dict:
        """Every plot, built now if it was not yet (tests, screenshots)."""
        for key in list(self._to_build):
            self.plot(key)
        return self._plots

    def plot(self, kind: str):
        """The plot of ``kind``, built on first use."""
        w = self._plots.get(kind)
        if w is None:
            w = self._plots[kind] = plots.new_plot(kind)
            self._holders[kind].layout().addWidget(w)
            if kind in self._to_build:
                self._to_build.remove(kind)
            if kind == "per_class":
                w.scene().sigMouseClicked.connect(lambda ev: self._bars_clicked(w, ev))
            elif kind == "reliability":
                w.scene().sigMouseClicked.connect(lambda ev: self._bin_clicked(w, ev))
        return w

    def _build_next(self) -> None:
        if self._to_build:
            self.plot(self._to_build[0])
        if self._to_build:
            QTimer.singleShot(0, self, self._build_next)

    def _draw_visible(self) -> None:
        """Draw the curves of the tab on screen, when what they show changed: they are threshold-
        free, so only another subset or temperature redraws them (a plot of ten classes costs
        about 100 ms to build, too long to repeat while a threshold is dragged); hidden tabs wait."""
        kind = self._tab_kind()
        r = self.results
        if r is None or kind not in ("pr", "roc", "reliability"):
            return
        if self.full is not None:
            key = (id(r), self.full.subset, r.op.temperature)
            if self._drawn.get(kind) != key:
                if self._queue and self._queue_kind != kind:
                    self._drawn.pop(self._queue_kind, None)  # left half drawn: draw it again when shown
                self._drawn[kind], self._queue_kind = key, kind
                if kind == "pr":
                    self._marker = None  # cleared with the plot
                self._queue = plots.steps(kind, self.plot(kind), self._full_data)
                if kind == "pr":
                    self._queue.append(self._update_marker)
                self._run_steps()
                return
        if kind == "pr":
            self._update_marker()

    def _run_steps(self) -> None:
        """Draw queued plot steps for at most ~20 ms, the rest on the next event-loop turns."""
        deadline = time.perf_counter() + STEP_BUDGET_S
        while self._queue and time.perf_counter() < deadline:
            self._queue.pop(0)()
        if self._queue:
            QTimer.singleShot(0, self, self._run_steps)

    def _update_marker(self) -> None:
        """The operating point as a star on its class's precision-recall curve (threshold rule)."""
        r, plot = self.results, self.plot("pr")
        if self._marker is not None:
            plot.removeItem(self._marker)
            self._marker = None
        op = r.op if r is not None else None
        if op is None or op.rule != "threshold" or op.positive_class not in r.class_ids or self.quick is None:
            return
        self._marker = plots.mark_threshold(plot, self.quick.as_json(), r.class_ids.index(op.positive_class),
                                            op.threshold or 0.0)

    def _saved(self) -> None:
        self._show_summary(self.quick)

    def _show_summary(self, rep) -> None:
        r = self.results
        ck = r.info.checkpoint
        epoch = f", epoch {ck.get('epoch')}" if ck.get("epoch") else ""
        flagged = f" · <span style='color:#b35900'>{rep.flagged} uncertain (not counted)</span>" if rep.flagged else ""
        wrong = rep.counted - int(sum(rep.confusion[i][i] for i in range(len(rep.confusion))))
        dirty = " · <span style='color:#b35900'>rule not saved</span>" if r.dirty else ""
        self.summary.setText(f"{rep.images} images · {wrong} wrong{flagged} · {ck.get('which', '?')} checkpoint"
                             f"{epoch}{dirty}")
        self.summary.setToolTip(f"Decision rule: {r.describe_rule()}")

    def _show_table(self, rep, intervals: bool) -> None:
        r = self.results
        rows = [(k, label, pct) for k, label, pct in METRICS if k in rep.metrics]
        self.table.setRowCount(len(rows))
        for i, (key, label, pct) in enumerate(rows):
            tip = how_text(r, key, rep.subset, rep.counted, rep.flagged)
            value = QTableWidgetItem(fmt(rep.metrics.get(key), pct))
            value.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            iv = rep.intervals.get(key) if intervals else None
            interval = QTableWidgetItem(fmt_interval(iv, pct) if intervals else "…")
            interval.setToolTip(INTERVAL_TEXT if iv else ("no interval for this metric" if intervals
                                                          else "computing the bootstrap interval…"))
            name = QTableWidgetItem(label)
            for item in (name, value):
                item.setToolTip(tip)
            name.setData(Qt.ItemDataRole.UserRole, key)
            self.table.setItem(i, 0, name)
            self.table.setItem(i, 1, value)
            self.table.setItem(i, 2, interval)
        self.table.resizeColumnsToContents()
        self.table.resizeRowsToContents()
        width = sum(self.table.columnWidth(c) for c in range(3)) + 2 * self.table.frameWidth() + 4
        self.table.setMinimumWidth(max(width, self.table.fontMetrics().horizontalAdvance("0") * 40))

    def metric_text(self, key: str) -> tuple[str, str]:
        """(value, interval) as the table shows them (tests)."""
        for i in range(self.table.rowCount()):
            if self.table.item(i, 0).data(Qt.ItemDataRole.UserRole) == key:
                return self.table.item(i, 1).text(), self.table.item(i, 2).text()
        raise KeyError(key)

    # ---------------------------------------------------------------- clicks
    def _cell_clicked(self, truth: int, predicted: int) -> None:
        """Exactly the images of the cell: that subset, that truth and prediction, counted ones."""
        self.filterRequested.emit({"subset": self.current_subset(), "truth": truth, "predicted": predicted,
                                   "outcome": "correct" if truth == predicted else "incorrect",
                                   "label_issues": False, "confidence": None, "ids": None, "why": ""})

    def _bars_clicked(self, widget, event) -> None:
        i = plots.class_at(widget, event.scenePos(), len(self.results.class_names) if self.results else 0)
        if i is not None:
            self.filterRequested.emit({"subset": self.current_subset(), "truth": i, "predicted": None,
                                       "outcome": "any", "confidence": None, "ids": None, "why": ""})

    def _bin_clicked(self, widget, event) -> None:
        if self.full is None:
            return
        b = plots.bin_at(widget, event.scenePos(), self.full.as_json())
        if b is not None:
            self.filterRequested.emit({"subset": self.current_subset(), "confidence": b, "ids": None,
                                       "truth": None, "predicted": None, "outcome": "any",
                                       "why": f"top probability {b[0]:.0%}–{b[1]:.0%}"})

    # -------------------------------------------------------- operating point
    def set_operating_point(self, op) -> None:
        if self.results is None:
            return
        self.results.set_operating_point(op)
        self.operatingPointChanged.emit()
        self._refresh_timer.start()
