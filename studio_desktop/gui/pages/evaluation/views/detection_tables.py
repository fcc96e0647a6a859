"""The detection view's tables and confusion matrix: what each number means (help texts), the
matrix with its background row and column, and table helpers that keep items and size columns
once per update (a threshold drag refills them many times a second)."""

from __future__ import annotations

from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QToolTip

from ....widgets.confusion import ConfusionMatrixView

INTERVAL_TEXT = ("95 % bootstrap interval: the images were resampled with replacement and mAP recomputed; it fell "
                 "inside this range in 95 % of the resamples. Two models whose intervals overlap may not really "
                 "differ on images like these.")
METRIC_HELP = {
    "map": "COCO mAP: the average precision of every class, averaged over IoU thresholds 0.5, 0.55 … 0.95 — high "
           "only when boxes fit tightly. The main detection number; threshold-free.",
    "map_50": "mAP at IoU 0.5 (PASCAL VOC's): finding the object with a roughly right box is enough.",
    "map_75": "mAP at IoU 0.75: the boxes must fit tightly.",
    "map_small": "mAP of small objects (under 32 × 32 pixels in the original image).",
    "map_medium": "mAP of medium objects (32 × 32 to 96 × 96 pixels).",
    "map_large": "mAP of large objects (over 96 × 96 pixels).",
    "mar_100": "Mean average recall with at most 100 boxes an image: the share of objects found at all, "
               "averaged over IoU 0.5 … 0.95.",
}
COUNT_HELP = {"objects": "Objects of the class in the images (ignore boxes not counted)",
              "tp": "True positives: boxes that found an object of their class (IoU ≥ match IoU)",
              "fp": "False positives: boxes where no object of their class is (false alarms)",
              "fn": "False negatives: objects no box found (missed)",
              "precision": "Of the boxes shown, the share that found an object: TP / (TP + FP)",
              "recall": "Of the objects, the share found: TP / (TP + FN)",
              "f1": "The balance of precision and recall: 2·TP / (2·TP + FP + FN)",
              "threshold": "The score a box of this class needs to be shown and counted"}
COUNT_COLUMNS = (("objects", "Objects"), ("tp", "TP"), ("fp", "FP"), ("fn", "FN"), ("precision", "Precision"),
                 ("recall", "Recall"), ("f1", "F1"), ("threshold", "Score ≥"))

def fmt_ratio(value) -> str:
    return "–" if value is None else f"{value:.3f}"


class DetectionConfusionView(ConfusionMatrixView):
    """The detection matrix: rows the true class then background (a false alarm on nothing),
    columns the predicted class then background (a missed object); cells count boxes."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setToolTip("Rows: the true class (background: nothing was there). Columns: the predicted class "
                        "(background: nothing was found). The diagonal holds the boxes found; click a cell to show "
                        "the images with those boxes.")

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 - Qt API
        cell = self._cell(event.position().toPoint())
        if cell is None:
            QToolTip.hideText()
            return
        r, c = cell
        last = len(self.names) - 1
        value = self.counts[r][c]
        if r == last and c == last:
            text = "background found as background: not counted"
        elif r == last:
            text = f"{value} false alarm(s): '{self.names[c]}' boxes where nothing is"
        elif c == last:
            text = f"{value} '{self.names[r]}' object(s) missed: no box near them"
        elif r == c:
            text = f"{value} '{self.names[r]}' object(s) found"
        else:
            text = f"{value} '{self.names[r]}' object(s) found as '{self.names[c]}' (right place, wrong class)"
        QToolTip.showText(event.globalPosition().toPoint(), text + ". Click to show their images.", self)


def plain_table(table: QTableWidget) -> None:
    """Read-only, unselectable, the first column stretched."""
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    # sized once after each fill (resizing to contents on every cell change made a threshold
    # update cost ~50 ms for ten classes)
    table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    for c in range(1, table.columnCount()):
        table.horizontalHeader().setSectionResizeMode(c, QHeaderView.ResizeMode.Interactive)


def table_cell(table: QTableWidget, row: int, col: int) -> QTableWidgetItem:
    """The item at (row, col), made once and reused (a new item per update is slow)."""
    item = table.item(row, col)
    if item is None:
        item = QTableWidgetItem()
        table.setItem(row, col, item)
    return item


def fit_columns(table: QTableWidget) -> None:
    for c in range(1, table.columnCount()):
        table.resizeColumnToContents(c)


__all__ = ["COUNT_COLUMNS", "COUNT_HELP", "INTERVAL_TEXT", "METRIC_HELP", "DetectionConfusionView", "fit_columns",
           "fmt_ratio", "plain_table", "table_cell"]
