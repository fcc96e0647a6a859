"""A confusion-matrix heat map whose cells are buttons: click one to see exactly those images.

Rows are the true classes, columns the predicted ones. A cell's colour is its share of the row
(what fraction of the true class went there), so a small class's mistakes are as visible as a
large one's; the number printed is the count, or the share with ``normalized``. Painting is a
pure function of the matrix (:meth:`paint_matrix`), also used to render the report's image.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

#: colour of a cell holding the whole row, for right (diagonal) and wrong answers
DIAGONAL = QColor(31, 119, 180)
OFF_DIAGONAL = QColor(214, 39, 40)
MIN_CELL, MAX_CELL = 14, 64


@dataclass(frozen=True)
class MatrixLayout:
    """Where the cells and the labels go for a widget of a given size."""

    left: int
    top: int
    cell: int
    n: int

    def cell_rect(self, row: int, col: int) -> QRect:
        return QRect(self.left + col * self.cell, self.top + row * self.cell, self.cell, self.cell)

    def cell_at(self, pos: QPoint) -> tuple[int, int] | None:
        col = (pos.x() - self.left) // self.cell if self.cell else -1
        row = (pos.y() - self.top) // self.cell if self.cell else -1
        if 0 <= row < self.n and 0 <= col < self.n and pos.x() >= self.left and pos.y() >= self.top:
            return int(row), int(col)
        return None


def _blend(color: QColor, share: float) -> QColor:
    """White for 0, ``color`` for 1 (a light tint stays readable under black text)."""
    s = max(0.0, min(1.0, share)) ** 0.7
    return QColor(round(255 + (color.red() - 255) * s), round(255 + (color.green() - 255) * s),
                  round(255 + (color.blue() - 255) * s))


def layout_for(size: QSize, names: list[str], font: QFont) -> MatrixLayout:
    fm = QFontMetrics(font)
    label_w = min(140, max((fm.horizontalAdvance(n) for n in names), default=20) + 10)
    left, top = label_w + fm.height() + 4, label_w + fm.height() + 4
    n = max(1, len(names))
    cell = max(MIN_CELL, min(MAX_CELL, (size.width() - left - 4) // n, (size.height() - top - 4) // n))
    return MatrixLayout(left=left, top=top, cell=cell, n=len(names))


def paint_matrix(p: QPainter, size: QSize, counts: list[list[int]], names: list[str], *, normalized: bool = False,
                 selected: tuple[int, int] | None = None, font: QFont | None = None) -> MatrixLayout:
    """Draw the heat map with its axis labels into ``p`` over ``size``; returns the layout."""
    font = font or QFont()
    lay = layout_for(size, names, font)
    fm = QFontMetrics(font)
    p.save()
    p.setFont(font)
    p.fillRect(QRect(QPoint(0, 0), size), QColor("white"))
    totals = [sum(r) for r in counts]
    small = QFont(font)
    small.setPointSizeF(max(6.0, font.pointSizeF() * (0.85 if lay.cell < 30 else 1.0)))
    for r, row in enumerate(counts):
        for c, value in enumerate(row):
            share = value / totals[r] if totals[r] else 0.0
            rect = lay.cell_rect(r, c)
            p.fillRect(rect, _blend(DIAGONAL if r == c else OFF_DIAGONAL, share) if value else QColor("white"))
            p.setPen(QPen(QColor("#d0d0d0"), 1))
            p.drawRect(rect.adjusted(0, 0, -1, -1))
            text = f"{share:.0%}" if normalized else str(value)
            if lay.cell >= 20 and (value or normalized):
                p.setFont(small)
                p.setPen(QColor("white") if share > 0.6 else QColor("#222"))
                if QFontMetrics(small).horizontalAdvance(text) <= lay.cell - 2:
                    p.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
                p.setFont(font)
    if selected is not None:
        p.setPen(QPen(QColor("#111"), 3))
        p.drawRect(lay.cell_rect(*selected).adjusted(1, 1, -2, -2))
    p.setPen(QColor("#222"))
    for i, name in enumerate(names):
        text = fm.elidedText(name, Qt.TextElideMode.ElideRight, lay.left - fm.height() - 8)
        rect = lay.cell_rect(i, 0)
        p.drawText(QRect(0, rect.y(), lay.left - 6, lay.cell),
                   Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, text)
        col = lay.cell_rect(0, i)
        p.save()  # column labels read bottom-up, ending just above their column
        p.translate(col.x() + lay.cell / 2 + fm.ascent() / 2 - 2, lay.top - 6)
        p.rotate(-90)
        p.drawText(0, 0, fm.elidedText(name, Qt.TextElideMode.ElideRight, lay.top - fm.height() - 8))
        p.restore()
    bold = QFont(font)
    bold.setBold(True)
    p.setFont(bold)
    grid_w = lay.cell * lay.n
    p.drawText(QRect(lay.left, 0, grid_w, fm.height() + 2), Qt.AlignmentFlag.AlignCenter, "predicted class")
    p.save()
    p.translate(fm.height(), lay.top + grid_w / 2)
    p.rotate(-90)
    p.drawText(QRect(-grid_w // 2, -fm.height(), grid_w, fm.height() + 2), Qt.AlignmentFlag.AlignCenter,
               "true class")
    p.restore()
    p.restore()
    return lay


def render_matrix(counts: list[list[int]], names: list[str], size: QSize = QSize(520, 520),
                  normalized: bool = False, font: QFont | None = None) -> QImage:
    """The heat map as an image (the report), cropped to what it draws within ``size``."""
    lay = layout_for(size, names, font or QFont())
    side = lay.cell * max(1, len(names))
    size = QSize(min(size.width(), lay.left + side + 4), min(size.height(), lay.top + side + 4))
    image = QImage(size, QImage.Format.Format_RGB32)
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    paint_matrix(p, size, counts, names, normalized=normalized, font=font)
    p.end()
    return image


class ConfusionMatrixView(QWidget):
    """The heat map widget: ``cellClicked(true index, predicted index)``."""

    cellClicked = Signal(int, int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.counts: list[list[int]] = []
        self.names: list[str] = []
        self.normalized = False
        self.selected: tuple[int, int] | None = None
        self._layout: MatrixLayout | None = None
        self.setMouseTracking(True)
        self.setMinimumSize(220, 220)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Rows: the true class; columns: what the model predicted. Click a cell to show "
                        "exactly those images below.")

    def set_matrix(self, counts: list[list[int]], names: list[str]) -> None:
        self.counts, self.names = [list(r) for r in counts], list(names)
        if self.selected and max(self.selected) >= len(names):
            self.selected = None
        self.update()

    def set_normalized(self, on: bool) -> None:
        self.normalized = on
        self.update()

    def select(self, cell: tuple[int, int] | None) -> None:
        self.selected = cell
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        lay = layout_for(QSize(10_000, 10_000), self.names, self.font())
        side = lay.left + max(1, len(self.names)) * min(48, MAX_CELL) + 8
        return QSize(min(side, 520), min(side, 520))

    def layout_now(self) -> MatrixLayout:
        return layout_for(self.size(), self.names, self.font())

    def cell_center(self, row: int, col: int) -> QPoint:
        """Where a click lands on a cell (tests)."""
        return self.layout_now().cell_rect(row, col).center()

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        self._layout = paint_matrix(p, self.size(), self.counts, self.names, normalized=self.normalized,
                                    selected=self.selected, font=self.font())
        p.end()

    def _cell(self, pos: QPoint) -> tuple[int, int] | None:
        return (self._layout or self.layout_now()).cell_at(pos) if self.names else None

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt API
        cell = self._cell(event.position().toPoint())
        if cell is None or event.button() != Qt.MouseButton.LeftButton:
            super().mousePressEvent(event)
            return
        self.select(cell)
        self.cellClicked.emit(*cell)

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
                          f"true {self.names[r]}, predicted {self.names[c]} ({what}): {value} image(s), "
                          f"{value / total:.0%} of the {self.names[r]} images. Click to show them.", self)
