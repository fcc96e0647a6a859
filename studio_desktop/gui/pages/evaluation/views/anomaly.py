"""The anomaly-detection result view: image AUROC with its interval, pixel AUROC and AUPRO, the 2x2
matrix at the threshold, the score histogram by ground truth with a draggable threshold line, the
ROC and PR curves with the operating point, and the threshold editor (by hand or from a goal).

Dragging the line recounts from the cached scores at every move (a binary search per subset:
microseconds), so the counts, the matrix and the curve dots follow the pointer; the grid's colours
and the heat maps follow a few times a second; releasing the line applies the threshold (Save keeps
it, like every other operating point). The matrix's cells are the grid's images: a click shows
exactly them.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTabWidget,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from ....widgets.confusion import ConfusionMatrixView
from ..anomaly_results import KINDS
from ..controller import SUBSET_WORDS
from . import anomaly_plots as plots
from .anomaly_operating_point import AnomalyOperatingPointEditor
from .base import ResultView
from .detection_tables import fit_columns, fmt_ratio, plain_table, table_cell

INTERVAL_TEXT = ("95 % bootstrap interval: the images were resampled with replacement and the AUROC recomputed; it "
                 "fell inside this range in 95 % of the resamples")
#: (key, label, help, at the threshold?)
ROWS = (
    ("image_auroc", "Image AUROC", "The chance that a random defective image scores higher than a random normal "
                                   "one (0.5 = guessing, 1 = perfect). Threshold-free.", False),
    ("average_precision", "Average precision", "Area under the precision-recall curve of the 'anomalous' verdict. "
                                               "Threshold-free.", False),
    ("pixel_auroc", "Pixel AUROC", "Every pixel of the images with a known defect mask, ranked by the anomaly map, "
                                   "against the mask. Threshold-free.", False),
    ("aupro", "AUPRO", "How much of each defect region the map covers before 30 % of normal pixels are flagged "
                       "(MVTec AD's localisation metric). Threshold-free.", False),
    ("f1", "F1 at the threshold", "The balance of precision and recall: 2·TP / (2·TP + FP + FN)", True),
    ("recall", "Defects found (recall)", "Of the defective images, the share flagged: TP / (TP + FN)", True),
    ("fpr", "False-positive rate", "Of the normal images, the share flagged: FP / (FP + TN)", True),
    ("precision", "Precision", "Of the flagged images, the share really defective: TP / (TP + FP)", True),
)
CLICK_TIPS = {(0, 0): "normal images passed (true negatives)", (0, 1): "normal images flagged (false alarms)",
              (1, 0): "defective images passed (missed defects)", (1, 1): "defective images flagged (found)"}
#: the grid's colours and the heat maps follow a dragged line at most this often (ms)
GRID_MS = 120
PLOT_TABS = (("roc", "ROC", "Recall of defects against false alarms on normal images; the dot is the threshold"),
             ("pr", "PR", "Precision against recall of the 'anomalous' verdict; the dot is the threshold"))


class AnomalyMatrixView(ConfusionMatrixView):
    """The 2x2: rows the truth (normal, anomalous), columns the verdict at the threshold."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setToolTip("Rows: what the image really is; columns: the verdict at the threshold. Click a cell to show "
                        "exactly those images.")

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 - Qt API
        cell = self._cell(event.position().toPoint())
        if cell is None:
            QToolTip.hideText()
            return
        QToolTip.showText(event.globalPosition().toPoint(),
                          f"{self.counts[cell[0]][cell[1]]} {CLICK_TIPS[cell]}. Click to show them.", self)


class AnomalyView(ResultView):
    """The Metrics section's content for anomaly detection."""

    section_help = ("Image AUROC with its interval, pixel AUROC and AUPRO; the score histogram with a draggable "
                    "threshold, the 2x2 matrix and the ROC/PR dots follow it; click a cell to filter the images")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.results = None
        self.quick: dict | None = None
        self._curves: dict | None = None
        self._curves_key = None
        self._drawn: dict[str, object] = {}
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        self.subset = QComboBox()
        self.subset.setToolTip("Which evaluated images the metrics describe (the test subset is the honest estimate; "
                               "the threshold is best chosen on validation images)")
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
        self.table.setToolTip("Hover a metric for what it measures; the last four follow the threshold")
        ll.addWidget(self.table, 1)
        split.addWidget(left)
        middle = QWidget()
        ml = QVBoxLayout(middle)
        ml.setContentsMargins(0, 0, 0, 0)
        self.counts_label = QLabel("")
        self.counts_label.setTextFormat(Qt.TextFormat.RichText)
        self.counts_label.setWordWrap(True)
        ml.addWidget(self.counts_label)
        self.matrix = AnomalyMatrixView()
        self.matrix.cellClicked.connect(self._cell_clicked)
        ml.addWidget(self.matrix, 1)
        split.addWidget(middle)

        self.tabs = QTabWidget()
        threshold_tab = QWidget()
        tl = QVBoxLayout(threshold_tab)
        tl.setContentsMargins(0, 0, 0, 0)
        self.histogram = plots.new_plot("histogram")
        self.histogram.line.sigPositionChanged.connect(self._line_moved)
        self.histogram.line.sigPositionChangeFinished.connect(self._line_released)
        tl.addWidget(self.histogram, 3)
        self.editor = AnomalyOperatingPointEditor()
        scroll = QScrollArea()
        scroll.setWidget(self.editor)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        tl.addWidget(scroll, 2)
        self.tabs.addTab(threshold_tab, "Threshold")
        self.tabs.setTabToolTip(0, "The scores of normal and defective images with the threshold: drag it, type it or "
                                   "choose it from a goal; saved with the model")
        self._plots: dict[str, object] = {"histogram": self.histogram}
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
        split.setStretchFactor(2, 4)
        split.setSizes([380, 270, 560])
        lay.addWidget(split, 1)

        self.subset.currentIndexChanged.connect(self._subset_changed)
        self.editor.changed.connect(self.set_operating_point)
        self.editor.saveRequested.connect(self.save_operating_point)
        self.editor.revertRequested.connect(self.revert_operating_point)
        self._grid_timer = QTimer(self, singleShot=True, interval=GRID_MS)
        self._grid_timer.timeout.connect(self.operatingPointChanged)
        for keys, sign in (("Alt+Left", -1), ("Alt+Right", 1)):
            sc = QShortcut(QKeySequence(keys), self, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(lambda s=sign: self.editor.threshold.setValue(
                self.editor.threshold.value() + s * self.editor.step()))

    # --------------------------------------------------------------- contract
    def show_selection(self, flt) -> None:
        cell = self.matrix.selected
        if cell is not None and (flt.truth, flt.predicted, flt.subset) != (*cell, self.current_subset()):
            self.matrix.select(None)

    def show_image(self, _row: int) -> None:
        """An image was selected in the grid (its heat map is in the detail)."""

    def section_summary(self) -> str:
        r, rep = self.results, self.quick
        if r is None or rep is None:
            return ""
        subset = self.current_subset()
        au = rep["metrics"].get("image_auroc")
        c = rep["counts"]
        head = f"{SUBSET_WORDS.get(subset, subset)} AUROC <b>{fmt_ratio(au)}</b>"
        return f"{head} · missed {c['fn']} · false alarms {c['fp']} at score ≥ {r.threshold:.4g}"

    # ------------------------------------------------------------------ data
    def set_results(self, results) -> None:
        self.results = results
        self._curves_key = None
        self._drawn.clear()
        self.fill_subsets(results)
        self.matrix.select(None)
        self.editor.set_results(results)
        self.refresh()

    def _subset_changed(self) -> None:
        self.matrix.select(None)
        self.refresh()
        self.subsetChanged.emit(self.current_subset())

    def refresh(self) -> None:
        """Every number at the current threshold and subset (well under a millisecond of numpy)."""
        r = self.results
        if r is None:
            return
        self._show_numbers()
        self._draw_visible()
        self.editor.show_operating_point(r.op, r.dirty)
        self.refreshed.emit()
        self.reportReady.emit(self.quick)

    def _show_numbers(self) -> None:
        r = self.results
        subset = self.current_subset()
        self.quick = r.report(subset, full=False)
        key = (id(r), subset)
        if key != self._curves_key:
            self._curves = r.curves(subset)
            self._curves_key = key
            self._drawn.clear()
        self._show_table(self.quick)
        self._show_counts(self.quick)
        self.matrix.set_matrix(self.quick["matrix"], list(KINDS))
        self._show_summary()

    def full_report(self) -> dict:
        return dict(self.quick or {}, curves=self._curves or {})

    def _show_summary(self) -> None:
        r = self.results
        ck = r.info.checkpoint if r.info is not None else {}
        epoch = f", epoch {ck.get('epoch')}" if ck.get("epoch") else ""
        c = self.quick["counts"]
        dirty = " · <span style='color:#b35900'>threshold not saved</span>" if r.dirty else ""
        self.summary.setText(f"{c['images']} images ({c['tp'] + c['fn']} defective) · {c['fn']} missed · {c['fp']} "
                             f"false alarms · {ck.get('which', '?')} checkpoint{epoch}{dirty}")
        self.summary.setToolTip(f"Operating point: {r.describe_rule()}")

    def _show_table(self, rep: dict) -> None:
        metrics, intervals, c = rep["metrics"], rep["intervals"], rep["counts"]
        table = self.table
        table.setUpdatesEnabled(False)
        if table.rowCount() != len(ROWS):
            table.setRowCount(len(ROWS))
        bold = QFont(table.font())
        bold.setBold(True)
        for i, (key, label, tip, at_threshold) in enumerate(ROWS):
            value = c.get(key) if at_threshold else metrics.get(key)
            name = table_cell(table, i, 0)
            name.setText(label)
            name.setData(Qt.ItemDataRole.UserRole, key)
            how = self.results.how(f"image_{key}" if at_threshold else key)
            missing = "" if value is not None else ("\nNot defined here: " + (
                "no defect masks among these images" if key in ("pixel_auroc", "aupro") else
                "these images are not of both kinds (normal and defective)"))
            name.setToolTip(tip + (f"\nComputed as: {how}" if how else "") + missing)
            cell = table_cell(table, i, 1)
            cell.setText(fmt_ratio(value))
            cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            cell.setToolTip(name.toolTip())
            iv = intervals.get(key)
            interval = table_cell(table, i, 2)
            interval.setText(f"{iv[0]:.3f}–{iv[1]:.3f}" if iv else "")
            interval.setToolTip(INTERVAL_TEXT if iv else "")
            font = bold if key == "image_auroc" else table.font()
            name.setFont(font)
            cell.setFont(font)
        fit_columns(table)
        table.setUpdatesEnabled(True)

    def _show_counts(self, rep: dict) -> None:
        c = rep["counts"]
        r = self.results
        self.counts_label.setText(
            f"<b>At the threshold</b> (score ≥ {r.threshold:.4g}): <span style='color:#2ca02c'><b>{c['tp']}</b> "
            f"defects found</span> · <span style='color:#d62728'><b>{c['fn']}</b> missed</span> · "
            f"<span style='color:#b35900'><b>{c['fp']}</b> false alarms</span> · {c['tn']} normal passed")
        self.counts_label.setToolTip(r.describe_rule())

    def count_text(self, key: str) -> int:
        """A count as the matrix shows it (tests): ``tp``, ``fp``, ``fn`` or ``tn``."""
        cell = {"tn": (0, 0), "fp": (0, 1), "fn": (1, 0), "tp": (1, 1)}[key]
        return int(self.matrix.counts[cell[0]][cell[1]])

    def metric_text(self, key: str) -> tuple[str, str]:
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
        return w

    def _draw_visible(self, every: bool = False) -> None:
        """Draw what is on screen when its subset changed; otherwise move only the line and dots."""
        r = self.results
        if r is None:
            return
        current = self.tabs.currentWidget()
        for kind in ("histogram", *self._holders):
            holder = self._holders.get(kind)
            if not every and holder is not None and holder is not current:
                continue
            w = self.plot(kind)
            if self._drawn.get(kind) != self._curves_key:
                plots.draw(kind, w, self.full_report())
                self._drawn[kind] = self._curves_key
            else:
                plots.mark(w, self.full_report())

    def draw_all(self) -> None:
        self._draw_visible(every=True)

    # ---------------------------------------------------------------- clicks
    def _cell_clicked(self, truth: int, predicted: int) -> None:
        """Exactly the images of that cell."""
        self.filterRequested.emit({"subset": self.current_subset(), "truth": truth, "predicted": predicted,
                                   "outcome": "any", "label_issues": False, "confidence": None, "ids": None,
                                   "why": ""})

    # -------------------------------------------------------- operating point
    def _line_moved(self, line) -> None:
        """The line is being dragged: recount at once, colour the grid a few times a second."""
        if self.results is None or abs(float(line.value()) - self.results.threshold) < 1e-12:
            return  # the line was put where the threshold already is
        self.results.set_threshold(float(line.value()))
        self._show_numbers()
        for kind in ("roc", "pr"):
            if kind in self._plots:
                plots.mark(self._plots[kind], self.full_report())
        self.editor.show_operating_point(self.results.op, self.results.dirty)
        if not self._grid_timer.isActive():
            self._grid_timer.start()

    def _line_released(self, line) -> None:
        """Released: the threshold applies everywhere now (Save keeps it)."""
        if self.results is None:
            return
        self._grid_timer.stop()
        self.results.set_threshold(float(line.value()))
        self.operatingPointChanged.emit()
        self.refresh()

    def set_operating_point(self, op) -> None:
        if self.results is None:
            return
        self.results.set_operating_point(op)
        self.operatingPointChanged.emit()
        self.refresh()


__all__ = ["AnomalyView"]
