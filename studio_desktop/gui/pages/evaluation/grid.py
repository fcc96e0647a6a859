"""The evaluated images as a virtualised thumbnail grid: green right, red wrong, amber uncertain.

The model holds only the row numbers of the current page (a numpy array); everything it shows
is read from the results object when a cell is painted, so a new operating point repaints the
same cells with their new colours and captions without rebuilding anything. Thumbnails come
from the dataset's thumbnail cache through the shared off-thread :class:`ThumbnailLoader`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QRect, QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyle, QStyledItemDelegate

from ...models.images import IdRole
from ...widgets.thumbnails import ThumbnailLoader
from .results import CORRECT, STATUS_HEX, ClassificationResults

#: row number in the results (not in the page)
ResultRowRole = Qt.ItemDataRole.UserRole + 10
StatusRole = Qt.ItemDataRole.UserRole + 11
#: border colours: right, wrong, uncertain (a task's results class says what each means)
STATUS_COLORS = {code: QColor(hex_) for code, hex_ in STATUS_HEX.items()}
STATUS_WORDS = ClassificationResults.status_words
#: height of one caption line under a thumbnail
CAPTION_LINE = 18


class ResultListModel(QAbstractListModel):
    """One row per image of the current page; reads captions and colours from ``results``."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.results = None
        self.rows = np.zeros(0, dtype=np.int64)

    def set_rows(self, results, rows: np.ndarray) -> None:
        self.beginResetModel()
        self.results = results
        self.rows = np.asarray(rows, dtype=np.int64)
        self.endResetModel()

    def decisions_changed(self) -> None:
        """Same rows, new decisions (operating point): repaint captions and borders."""
        if len(self.rows):
            self.dataChanged.emit(self.index(0), self.index(len(self.rows) - 1))

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() or self.results is None else len(self.rows)

    def result_row(self, visible_row: int) -> int:
        return int(self.rows[visible_row])

    def visible_row_of(self, result_row: int) -> int:
        hits = np.nonzero(self.rows == result_row)[0]
        return int(hits[0]) if len(hits) else -1

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or self.results is None or index.row() >= len(self.rows):
            return None
        row = int(self.rows[index.row()])
        r = self.results
        if role == Qt.ItemDataRole.DisplayRole:
            return r.caption(row)
        if role == IdRole:
            return str(r.scores.image_ids[row])
        if role == ResultRowRole:
            return row
        if role == StatusRole:
            return int(r.status[row])
        if role == Qt.ItemDataRole.ToolTipRole:
            return r.tooltip(row)
        return None


class ResultDelegate(QStyledItemDelegate):
    """Thumbnail with a coloured border, the results' caption under it (the predicted class; a
    regression's true and predicted value), a mark on label errors."""

    BORDER = 3

    def __init__(self, loader: ThumbnailLoader, path_of: Callable[[str], str], parent=None):
        super().__init__(parent)
        self.loader = loader
        self.path_of = path_of
        self.lines = 1
        self.cell = QSize(loader.size.width() + 14, loader.size.height() + 12 + CAPTION_LINE)

    def set_caption_lines(self, lines: int) -> None:
        """Room for ``lines`` caption lines under each thumbnail (the model is reset after)."""
        self.lines = max(1, int(lines))
        self.cell = QSize(self.loader.size.width() + 14, self.loader.size.height() + 12 + CAPTION_LINE * self.lines)

    def sizeHint(self, option, index) -> QSize:  # noqa: N802 - Qt API
        return self.cell

    def paint(self, painter: QPainter, option, index) -> None:
        image_id = index.data(IdRole)
        status = index.data(StatusRole)
        model = index.model()
        row = index.data(ResultRowRole)
        r: QRect = option.rect
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        painter.save()
        if selected:
            painter.fillRect(r, option.palette.highlight())
        size = self.loader.size
        frame = QRect(r.x() + 4, r.y() + 3, size.width() + 6, size.height() + 6)
        color = STATUS_COLORS.get(status, QColor("#888"))
        painter.fillRect(frame, color)
        thumb = frame.adjusted(self.BORDER, self.BORDER, -self.BORDER, -self.BORDER)
        pm = self.loader.pixmap(image_id, self.path_of) if image_id else None
        if pm is None:
            painter.fillRect(thumb, option.palette.base().color().darker(108))
            if image_id in self.loader.failed:
                painter.setPen(QColor("#c0392b"))
                painter.drawText(thumb, Qt.AlignmentFlag.AlignCenter, "no image")
        else:
            painter.fillRect(thumb, option.palette.base())
            x0, y0 = thumb.x() + (thumb.width() - pm.width()) // 2, thumb.y() + (thumb.height() - pm.height()) // 2
            painter.drawPixmap(x0, y0, pm)
            self._paint_overlay(painter, getattr(model, "results", None), row, QRect(x0, y0, pm.width(), pm.height()))
            self._paint_boxes(painter, getattr(model, "results", None), row, x0, y0, pm.width(), pm.height())
        results = getattr(model, "results", None)
        if results is not None and row is not None and results.meta.issue_rank[row] > 0:
            # a likely label error: an amber tag in the corner with its rank
            tag = QRect(frame.right() - 24, frame.y() + 1, 23, 14)
            painter.fillRect(tag, QColor("#f0a30a"))
            painter.setPen(QColor("black"))
            f = painter.font()
            f.setPointSizeF(max(6.0, f.pointSizeF() * 0.8))
            painter.setFont(f)
            painter.drawText(tag, Qt.AlignmentFlag.AlignCenter, f"#{int(results.meta.issue_rank[row])}")
            painter.setFont(option.font)
        painter.setPen(option.palette.highlightedText().color() if selected else color.darker(130)
                       if status != CORRECT else option.palette.text().color())
        for i, line in enumerate((index.data() or "").split("\n")[:self.lines]):
            text_rect = QRect(r.x() + 2, frame.bottom() + 3 + i * CAPTION_LINE, r.width() - 4, CAPTION_LINE)
            caption = option.fontMetrics.elidedText(line, Qt.TextElideMode.ElideRight, text_rect.width())
            painter.drawText(text_rect, Qt.AlignmentFlag.AlignCenter, caption)
        if selected:
            painter.setPen(QPen(option.palette.highlight().color().darker(140), 1))
            painter.drawRect(r.adjusted(0, 0, -1, -1))
        painter.restore()


    @staticmethod
    def _paint_overlay(painter: QPainter, results, row, target: QRect) -> None:
        """A task with a picture over the image (an anomaly heat map) gives it as a small RGBA array
        in the image's aspect ratio: ``thumbnail_overlay(row)``, drawn stretched over the thumbnail."""
        make = getattr(results, "thumbnail_overlay", None)
        if make is None or row is None:
            return
        rgba = make(row)
        if rgba is None:
            return
        rgba = np.ascontiguousarray(rgba)
        h, w = rgba.shape[:2]
        image = QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(target, image)
        painter.restore()

    @staticmethod
    def _paint_boxes(painter: QPainter, results, row, x0: int, y0: int, w: int, h: int) -> None:
        """A task with objects (detection) draws them on the thumbnail: ``thumbnail_boxes(row)``
        gives the image's size and (colour, boxes in image pixels) groups."""
        marks = getattr(results, "thumbnail_boxes", None)
        if marks is None or row is None:
            return
        width, height, groups = marks(row)
        if width <= 0 or height <= 0:
            return
        sx, sy = w / width, h / height
        painter.save()
        painter.setClipRect(QRect(x0, y0, w, h))
        for color, boxes in groups:
            if not len(boxes):
                continue
            painter.setPen(QPen(QColor(color), 1))
            painter.drawRects([QRectF(x0 + b[0] * sx, y0 + b[1] * sy, (b[2] - b[0]) * sx, (b[3] - b[1]) * sy)
                               for b in boxes.tolist()])
        painter.restore()


class ResultGrid(QListView):
    """Virtualised grid (only visible cells are laid out, painted and decoded)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(2000)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setSpacing(2)
        self.setWordWrap(False)
        self.setToolTip(ClassificationResults.grid_help)
        self._repaint = QTimer(self, singleShot=True, interval=30)
        self._repaint.timeout.connect(self.viewport().update)

    def thumbnail_ready(self, _image_id: str) -> None:
        """Coalesce repaints: many thumbnails arrive per frame while scrolling."""
        if not self._repaint.isActive():
            self._repaint.start()
