"""The semantic-segmentation result view: mIoU, pixel accuracy and Dice with 95 % intervals, a table of
the classes (IoU, Dice, precision, recall, pixels), the pixel confusion matrix (counts or where each
class's pixels went), IoU per class as bars in the class colours, and the images' IoU distribution.

Everything is computed from the cached per-image confusion matrices by the results object, for the
subset chosen here. There is no decision rule to edit (the prediction is the argmax); what the user
chooses is a *focus class* ("Errors of"): a click on a bar or a class row makes it the focus, so the
grid shows the images with that class worst first and the detail's error layer shows exactly that
class's false positives and false negatives. A click on a matrix cell shows the images with pixels of
that true class predicted as that class.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QTableWidget,
    QTabWidget,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from ....widgets.confusion import ConfusionMatrixView
from ..controller import SUBSET_WORDS
from . import segmentation_plots as plots
from .base import ResultView
from .detection_tables import fit_columns, fmt_ratio, plain_table, table_cell

INTERVAL_TEXT = ("95 % bootstrap interval: the images were resampled with replacement and the metric recomputed "
                 "from their pixels; it fell inside this range in 95 % of the resamples. Two models whose intervals "
                 "overlap may not really differ on images like these.")
METRICS = (("miou", "mIoU"), ("pixel_accuracy", "Pixel accuracy"), ("dice", "Mean Dice"))
METRIC_HELP = {
    "miou": "Mean intersection over union: per class, overlap of predicted and true pixels divided by their union, "
            "averaged over the classes present. The main segmentation number.",
    "pixel_accuracy": "Share of the labelled pixels classified right; large classes (road, sky, background) "
                      "dominate it, so read it beside mIoU.",
    "dice": "Mean Dice (the F1 score of each class's pixels): 2·overlap / (predicted + true pixels).",
}
CLASS_COLUMNS = (("iou", "IoU"), ("dice", "Dice"), ("precision", "Precision"), ("recall", "Recall"),
                 ("support", "Pixels"))
CLASS_HELP = {"iou": "Intersection over union of the class's pixels: TP / (TP + FP + FN)",
              "dice": "Dice (F1) of the class's pixels: 2·TP / (2·TP + FP + FN)",
              "precision": "Of the pixels predicted as this class, the share that are: TP / (TP + FP)",
              "recall": "Of the class's true pixels, the share found: TP / (TP + FN)",
              "support": "Share of the labelled pixels that truly are this class"}
PLOT_TABS = (("iou", "IoU per class", "Each class's IoU in its colour; click a bar to focus on that class"),
             ("images", "Image IoU", "How many images reach each IoU; the grid's colour thresholds are marked"))


class PixelConfusionView(ConfusionMatrixView):
    """The pixel confusion matrix: rows the true class, columns the predicted one; cells count pixels."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setToolTip("Rows: the true class; columns: the predicted class; cells count pixels (ignore pixels left "
                        "out). A cell's colour is its share of the row: where that class's pixels went. Click a cell "
                        "to show the images with such pixels.")

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 - Qt API
        cell = self._cell(event.position().toPoint())
        if cell is None:
            QToolTip.hideText()
            return
        r, c = cell
        value = self.counts[r][c]
        total = sum(self.counts[r]) or 1
        what = "right" if r == c else "wrong"
        QToolTip.showText(event.globalPosition().toPoint(),
                          f"true {self.names[r]}, predicted {self.names[c]} ({what}): {value:,} pixels, "
                          f"{value / total:.1%} of the {self.names[r]} pixels. Click to show their images.", self)


class SegmentationView(ResultView):
    """The Metrics section's content for semantic segmentation."""

    section_help = ("mIoU, pixel accuracy and Dice with 95 % intervals, IoU per class, the pixel confusion matrix; "
                    "click a class or a cell to see its images and errors")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.results = None
        self.quick: dict | None = None
        self._drawn: dict[str, object] = {}
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        self.subset = QComboBox()
        self.subset.setToolTip("Which evaluated images the metrics describe (the test subset is the honest "
                               "estimate; validation images helped choose the checkpoint)")
        head.addWidget(QLabel("Metrics of"))
        head.addWidget(self.subset)
        self.focus = QComboBox()
        self.focus.setToolTip("The class whose false positives and false negatives the detail's error layer shows, "
                              "and whose IoU the grid can sort by (Alt+Up / Alt+Down: previous / next class)")
        head.addWidget(QLabel("Errors of"))
        head.addWidget(self.focus)
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
        self.table.setMaximumHeight(110)
        ll.addWidget(self.table)
        self.classes = QTableWidget(0, len(CLASS_COLUMNS) + 1)
        self.classes.setHorizontalHeaderLabels(["Class"] + [t for _k, t in CLASS_COLUMNS])
        for i, (key, _t) in enumerate(CLASS_COLUMNS, 1):
            self.classes.horizontalHeaderItem(i).setToolTip(CLASS_HELP[key])
        plain_table(self.classes)
        self.classes.setToolTip("Per class over every pixel of the subset; click a class to see its images, worst "
                                "first, with its errors in the detail")
        self.classes.cellClicked.connect(self._class_clicked)
        ll.addWidget(self.classes, 1)
        split.addWidget(left)

        cm_box = QWidget()
        cl = QVBoxLayout(cm_box)
        cl.setContentsMargins(0, 0, 0, 0)
        self.confusion = PixelConfusionView()
        self.confusion.cellClicked.connect(self._cell_clicked)
        cl.addWidget(self.confusion, 1)
        self.normalised = QCheckBox("Row shares")
        self.normalised.setChecked(True)
        self.normalised.setToolTip("Print each cell's share of its row (where the true class's pixels went) instead "
                                   "of the pixel count")
        self.normalised.toggled.connect(self.confusion.set_normalized)
        self.confusion.set_normalized(True)
        cl.addWidget(self.normalised)
        split.addWidget(cm_box)

        self.tabs = QTabWidget()
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
        split.setStretchFactor(1, 3)
        split.setStretchFactor(2, 3)
        split.setSizes([420, 380, 420])
        lay.addWidget(split, 1)

        self.subset.currentIndexChanged.connect(self._subset_changed)
        self.focus.currentIndexChanged.connect(self._focus_changed)
        for keys, step in (("Alt+Up", -1), ("Alt+Down", 1)):
            sc = QShortcut(QKeySequence(keys), self, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(lambda s=step: self.focus.setCurrentIndex(
                max(0, min(self.focus.count() - 1, self.focus.currentIndex() + s))))

    # --------------------------------------------------------------- contract
    def set_writable(self, _on: bool) -> None:
        """Nothing here is saved (segmentation has no decision rule)."""

    def save_operating_point(self) -> None:
        """Ctrl+S: no decision rule to save."""

    def revert_operating_point(self) -> None:
        """No decision rule to revert."""

    def show_selection(self, flt) -> None:
        cell = self.confusion.selected
        if cell is not None and (flt.truth, flt.predicted, flt.subset) != (*cell, self.current_subset()):
            self.confusion.select(None)

    def show_image(self, _row: int) -> None:
        """An image was selected in the grid (its masks are in the detail)."""

    def section_summary(self) -> str:
        r, rep = self.results, self.quick
        if r is None or rep is None:
            return ""
        subset = self.current_subset()
        m = rep["metrics"]
        c = rep["counts"]
        return (f"{SUBSET_WORDS.get(subset, subset)} mIoU <b>{fmt_ratio(m.get('miou'))}</b> · pixel accuracy "
                f"{fmt_ratio(m.get('pixel_accuracy'))} · {c['poor']} poor images")

    # ------------------------------------------------------------------ data
    def set_results(self, results) -> None:
        self.results = results
        self._drawn.clear()
        self.fill_subsets(results)
        self.focus.blockSignals(True)
        self.focus.clear()
        self.focus.addItem("All classes", None)
        for k, name in enumerate(results.class_names):
            self.focus.addItem(name, k)
        self.focus.setCurrentIndex(max(0, self.focus.findData(results.focus)))
        self.focus.blockSignals(False)
        self.confusion.select(None)
        self.refresh()

    def _subset_changed(self) -> None:
        self.confusion.select(None)
        self.refresh()
        self.subsetChanged.emit(self.current_subset())

    def refresh(self) -> None:
        """Every number of the current subset (milliseconds: sums of cached matrices)."""
        r = self.results
        if r is None:
            return
        self.quick = r.report(self.current_subset(), full=False)
        self._show_table(self.quick)
        self._show_classes(self.quick)
        self.confusion.set_matrix(self.quick["confusion"], r.class_names)
        self._show_summary()
        self._draw_visible()
        self.refreshed.emit()
        self.reportReady.emit(self.quick)

    def full_report(self) -> dict:
        return dict(self.quick or {})

    def _show_summary(self) -> None:
        r = self.results
        ck = r.info.checkpoint if r.info is not None else {}
        epoch = f", epoch {ck.get('epoch')}" if ck.get("epoch") else ""
        c = self.quick["counts"]
        pixels = self.quick.get("pixels", 0)
        self.summary.setText(f"{c['images']} images · {pixels:,} labelled pixels · {c['poor']} poor, {c['fair']} fair "
                             f"· {ck.get('which', '?')} checkpoint{epoch}")

    def _show_table(self, rep: dict) -> None:
        metrics, intervals = rep["metrics"], rep["intervals"]
        self.table.setRowCount(len(METRICS))
        bold = QFont(self.table.font())
        bold.setBold(True)
        for i, (key, label) in enumerate(METRICS):
            name = table_cell(self.table, i, 0)
            name.setText(label)
            name.setData(Qt.ItemDataRole.UserRole, key)
            how = self.results.how(key)
            name.setToolTip(METRIC_HELP[key] + (f"\nComputed as: {how}" if how else ""))
            value = table_cell(self.table, i, 1)
            value.setText(fmt_ratio(metrics.get(key)))
            value.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            value.setToolTip(name.toolTip())
            iv = intervals.get(key)
            interval = table_cell(self.table, i, 2)
            interval.setText(f"{iv[0]:.3f}–{iv[1]:.3f}" if iv else "")
            interval.setToolTip(INTERVAL_TEXT if iv else "no interval (fewer than 2 images)")
            if key == "miou":
                name.setFont(bold)
                value.setFont(bold)
        fit_columns(self.table)
        self.table.resizeRowsToContents()

    def _show_classes(self, rep: dict) -> None:
        rows = rep["per_class"]
        total = max(1, rep.get("pixels", 0))
        table = self.classes
        table.setUpdatesEnabled(False)
        table.setRowCount(len(rows))
        focus = self.results.focus
        for i, pc in enumerate(rows):
            item = table_cell(table, i, 0)
            item.setText(f"■ {pc['name']}")
            item.setForeground(QBrush(QColor(rep["colours"][i])))
            item.setData(Qt.ItemDataRole.UserRole, i)
            font = QFont(table.font())
            font.setBold(i == focus)
            item.setFont(font)
            item.setToolTip(f"{pc['name']}: {pc['support']:,} true pixels, {pc['predicted']:,} predicted. Click to see "
                            "its images, worst first, with its errors in the detail.")
            for j, (key, _t) in enumerate(CLASS_COLUMNS, 1):
                v = pc.get(key)
                text = (f"{100 * v / total:.1f} %" if key == "support" else
                        "not present" if v is None and key == "iou" else fmt_ratio(v))
                cell = table_cell(table, i, j)
                cell.setText(text)
                cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                cell.setToolTip(CLASS_HELP[key])
                colour = "#d62728" if key == "iou" and v is not None and v < 0.5 else "#222222"
                cell.setForeground(QBrush(QColor(colour)))
        fit_columns(table)
        table.setUpdatesEnabled(True)

    def metric_text(self, key: str) -> tuple[str, str]:
        """(value, interval) of a headline metric as shown (tests)."""
        for i in range(self.table.rowCount()):
            if self.table.item(i, 0).data(Qt.ItemDataRole.UserRole) == key:
                return self.table.item(i, 1).text(), self.table.item(i, 2).text()
        raise KeyError(key)

    def class_text(self, name: str, key: str) -> str:
        """A cell of the class table as shown (tests)."""
        col = 1 + [k for k, _t in CLASS_COLUMNS].index(key)
        for i in range(self.classes.rowCount()):
            if self.classes.item(i, 0).text() == f"■ {name}":
                return self.classes.item(i, col).text()
        raise KeyError(name)

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
            if kind == "iou":
                w.scene().sigMouseClicked.connect(lambda ev: self._bars_clicked(w, ev))
        return w

    def _draw_visible(self, every: bool = False) -> None:
        r = self.results
        if r is None:
            return
        current = self.tabs.currentWidget()
        for kind, holder in self._holders.items():
            if not every and holder is not current:
                continue
            w = self.plot(kind)
            key = (id(r), self.current_subset())
            if self._drawn.get(kind) != key:
                plots.draw(kind, w, self.full_report())
                self._drawn[kind] = key

    def draw_all(self) -> None:
        """Every plot drawn now (tests, screenshots)."""
        self._draw_visible(every=True)

    # ---------------------------------------------------------------- clicks
    def set_focus(self, k: int | None) -> None:
        """Make class ``k`` the focus (None: every class): the error layer, the captions and the
        class sort follow."""
        self.focus.setCurrentIndex(max(0, self.focus.findData(k)))

    def _focus_changed(self) -> None:
        if self.results is None:
            return
        self.results.set_focus(self.focus.currentData())
        if self.quick is not None:
            self._show_classes(self.quick)
        self.operatingPointChanged.emit()  # captions, the class sort and the detail's errors follow

    def _show_class(self, k: int) -> None:
        """The images with class ``k`` in their truth, the worst IoU of that class first."""
        self.confusion.select(None)
        self.set_focus(k)
        self.filterRequested.emit({"subset": self.current_subset(), "truth": int(k), "predicted": None,
                                   "outcome": "any", "confidence": None, "ids": None, "why": "",
                                   "sort": "class_iou", "descending": False})

    def _class_clicked(self, row: int, _col: int) -> None:
        k = self.classes.item(row, 0).data(Qt.ItemDataRole.UserRole)
        if k is not None:
            self._show_class(int(k))

    def _bars_clicked(self, widget, event) -> None:
        r = self.results
        i = plots.class_at(widget, event.scenePos(), len(r.class_names) if r else 0)
        if i is not None:
            self._show_class(i)

    def _cell_clicked(self, truth: int, predicted: int) -> None:
        """The images with pixels of that true class predicted as that class (worst IoU first)."""
        if truth != predicted:
            self.set_focus(truth)
        self.filterRequested.emit({"subset": self.current_subset(), "truth": truth, "predicted": predicted,
                                   "outcome": "any", "confidence": None, "ids": None, "why": "",
                                   "sort": "iou", "descending": False})


__all__ = ["PixelConfusionView", "SegmentationView"]
