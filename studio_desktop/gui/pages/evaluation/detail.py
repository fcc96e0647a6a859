"""One evaluated image: the picture, the true and the predicted class, every class's probability,
and, for a likely label error, the given and the suggested label.

A task whose results have objects (detection) gives ``boxes`` in ``describe_image``: each drawn on
the canvas's scene in its colour (dashed for ground truth) with its caption ("rbc 0.93", "missed
wbc"). When the operating point changes, the same image is described again and only its boxes are
redrawn: the picture is not decoded again and the zoom stays."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from ...widgets.image_canvas import ImageCanvas, decode_image
from ...widgets.overlays import LAYER_ROLE, LAYERS, CaptionItem, ObjectRectItem, set_caption_scale
from ..dataset.background import BackgroundCall
from .detail_layers import LayerBar, compute_layers
from .grid import STATUS_COLORS

ROW_H = 18
MAX_ROWS = 12
#: above this many boxes in an image, their names are written only when zoomed in (or hovered)
CROWDED_BOXES = 25


class ProbabilityBars(QWidget):
    """Horizontal bars, most probable class first; the true class in bold, the predicted one coloured."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[tuple[str, float]] = []
        self.truth = ""
        self.predicted = ""
        self.color = QColor("#1f77b4")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("The model's probability for each class (after calibration, when the operating "
                        "point calibrates); the true class is in bold")

    def set_rows(self, rows: list[tuple[str, float]], truth: str, predicted: str, color: QColor) -> None:
        self.rows, self.truth, self.predicted, self.color = rows[:MAX_ROWS], truth, predicted, color
        self.setFixedHeight(max(1, len(self.rows)) * ROW_H + 4)
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(240, max(1, len(self.rows)) * ROW_H + 4)

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        fm = QFontMetrics(self.font())
        name_w = min(self.width() // 3, max((fm.horizontalAdvance(n) for n, _ in self.rows), default=40) + 12)
        pct_w = fm.horizontalAdvance("100.0 %") + 6
        bar_w = max(10, self.width() - name_w - pct_w - 4)
        for i, (name, prob) in enumerate(self.rows):
            y = 2 + i * ROW_H
            font = QFont(self.font())
            font.setBold(name == self.truth)
            p.setFont(font)
            p.setPen(self.palette().text().color())
            p.drawText(QRect(0, y, name_w - 6, ROW_H), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                       QFontMetrics(font).elidedText(name, Qt.TextElideMode.ElideRight, name_w - 6))
            p.fillRect(QRect(name_w, y + 3, bar_w, ROW_H - 6), self.palette().alternateBase())
            color = self.color if name == self.predicted else QColor("#9aa5b1")
            p.fillRect(QRect(name_w, y + 3, round(bar_w * max(0.0, min(1.0, prob))), ROW_H - 6), color)
            p.drawText(QRect(name_w + bar_w + 4, y, pct_w, ROW_H), Qt.AlignmentFlag.AlignVCenter,
                       f"{100 * prob:.1f} %")
        p.end()


class ResultDetail(QWidget):
    """Canvas + verdict + probabilities; previous/next walk the grid's current order."""

    previousRequested = Signal()
    nextRequested = Signal()
    shown = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        nav = QHBoxLayout()
        self.prev_button = QPushButton("◀")
        self.prev_button.setToolTip("Previous image in the grid (Left)")
        self.next_button = QPushButton("▶")
        self.next_button.setToolTip("Next image in the grid (Right)")
        for b in (self.prev_button, self.next_button):
            b.setMaximumWidth(36)
        self.title = QLabel("Click an image to see it here")
        self.title.setWordWrap(True)
        nav.addWidget(self.prev_button)
        nav.addWidget(self.title, 1)
        nav.addWidget(self.next_button)
        lay.addLayout(nav)
        self.canvas = ImageCanvas()
        self.canvas.setMinimumHeight(140)
        #: a task's image layers (segmentation masks) with their toggles; hidden when it has none
        self.layers = LayerBar(self.canvas)
        lay.addWidget(self.layers)
        lay.addWidget(self.canvas, 1)
        self.verdict = QLabel("")
        self.verdict.setWordWrap(True)
        self.verdict.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(self.verdict)
        self.bars = ProbabilityBars()
        lay.addWidget(self.bars)
        self.issue = QLabel("")
        self.issue.setWordWrap(True)
        self.issue.setTextFormat(Qt.TextFormat.RichText)
        self.issue.setStyleSheet("background:#fff4d6; color:#5a4300; padding:4px; border-radius:3px;")
        self.issue.hide()
        lay.addWidget(self.issue)
        self.prev_button.clicked.connect(self.previousRequested)
        self.next_button.clicked.connect(self.nextRequested)
        self.canvas.previousRequested.connect(self.previousRequested)
        self.canvas.nextRequested.connect(self.nextRequested)
        self.current: dict | None = None
        #: (image id, subset) whose picture is on the canvas, and the box items drawn over it
        self._shown_key: tuple[str, str] | None = None
        self.box_items: list = []
        self._drawn_boxes: list = []
        self._layer_key = None
        self._decode = BackgroundCall(self)
        self._decode.done.connect(self._on_decoded)
        self._decode.failed.connect(lambda msg: self.verdict.setText(f"<span style='color:#c0392b'>{msg}</span>"))

    def show_image(self, d: dict, image_path: str) -> None:
        """Show one image's description (the results class's ``describe_image``: its ``verdict``
        line, and the class probabilities when the task has them)."""
        self.current = d
        self.title.setText(f"<b>{d['name']}</b> · {d['subset']}")
        self.title.setToolTip(d["source"] or d["file"])
        color = STATUS_COLORS[d["status"]]
        self.verdict.setText(d["verdict"])
        self.bars.set_rows(d["probabilities"], d["truth"], d["predicted"], color)
        self.bars.setVisible(bool(d["probabilities"]))
        issue = d.get("issue")
        if issue:
            self.issue.setText(f"<b>Likely label error</b> (#{issue['rank']}): labelled <b>{issue['given']['name']}</b>, "
                               f"the model suggests <b>{issue['suggested']['name']}</b> "
                               f"({100 * float(issue.get('suggested_probability', 0)):.0f} %). Check the image; "
                               "if the label is wrong, fix it on the Dataset page.")
        self.issue.setVisible(bool(issue))
        if self._shown_key == (d["image"], d["subset"]) and not self._decode.busy:
            self._draw_boxes(d)  # same picture, new operating point: only the boxes change
            if d.get("layers") and d.get("layer_key") != self._layer_key:
                self._show_layers(d, *compute_layers(d))  # cached masks: milliseconds
            self.shown.emit()
            return
        self._decode.start(lambda: (d, decode_image(image_path), compute_layers(d)))

    def _on_decoded(self, result) -> None:
        d, (image, problem), layers = result
        if d is not self.current:
            return
        self.box_items, self._drawn_boxes = [], []
        self.layers.clear()
        self.canvas.show_decoded(image, problem, [], {})
        self._shown_key = (d["image"], d["subset"])
        self._show_layers(d, *layers)
        self._draw_boxes(d)
        self.shown.emit()

    def _show_layers(self, d: dict, images, problem: str) -> None:
        self._layer_key = d.get("layer_key")
        self.layers.show_layers(d, images)
        if problem:
            self.verdict.setText(d["verdict"] + f"<br><span style='color:#c0392b'>{problem}</span>")

    def _draw_boxes(self, d: dict) -> None:
        """The description's boxes on the scene (replacing the previous ones), captions linked to
        their box so that a name shows where it fits or under the pointer."""
        boxes = d.get("boxes") or []
        if self.box_items and boxes == self._drawn_boxes:
            return  # a threshold step that changed nothing in this image: keep the items
        self._drawn_boxes = boxes
        scene = self.canvas.scene()
        for item in self.box_items:
            scene.removeItem(item)
            if item in self.canvas.overlay_items:
                self.canvas.overlay_items.remove(item)
        self.box_items = []
        order = list(LAYERS)
        # with many boxes the names would cover the picture: each needs a box this much larger on
        # screen before it is written (zoom in to read them; the pointer shows one at any zoom)
        crowd = max(1.0, sum(1 for b in boxes if b.get("text")) / CROWDED_BOXES)
        for b in boxes:
            rect = ObjectRectItem(QRectF(QPointF(b["x1"], b["y1"]), QPointF(b["x2"], b["y2"])))
            pen = QPen(QColor(b["color"]), 1.5 if b.get("dashed") else 2.0)
            pen.setCosmetic(True)
            if b.get("dashed"):
                pen.setStyle(Qt.PenStyle.DashLine)
            rect.setPen(pen)
            rect.setData(LAYER_ROLE, "boxes")
            rect.setZValue(1 + order.index("boxes") + (0.0 if b.get("dashed") else 0.1))
            rect.setToolTip(b.get("text") or "")
            self.box_items.append(rect)
            if b.get("text"):
                w, h = (b["x2"] - b["x1"]) / crowd, (b["y2"] - b["y1"]) / crowd
                caption = CaptionItem(b["text"], b["color"], w, h)
                font = QFont()
                font.setPointSizeF(8.0)
                caption.setFont(font)
                caption.setPos(b["x1"], b["y1"])
                caption.setFlag(caption.GraphicsItemFlag.ItemIgnoresTransformations)
                caption.setData(LAYER_ROLE, "labels")
                caption.setZValue(1 + order.index("labels"))
                rect.captions.append(caption)
                self.box_items.append(caption)
        for item in self.box_items:
            scene.addItem(item)
            item.setVisible(item.data(LAYER_ROLE) not in self.canvas.hidden_layers)
        self.canvas.overlay_items.extend(self.box_items)
        set_caption_scale(self.box_items, self.canvas.transform().m11())

    def clear(self, text: str = "Click an image to see it here") -> None:
        self.current = None
        self._shown_key = None
        self.box_items, self._drawn_boxes = [], []
        self._layer_key = None
        self.layers.clear()
        self._decode.cancel()
        self.canvas.show_image(None, [], {})
        self.title.setText(text)
        self.verdict.setText("")
        self.bars.set_rows([], "", "", QColor())
        self.issue.hide()
