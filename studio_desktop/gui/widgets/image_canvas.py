"""An image with its annotation overlays: zoom, pan, fit, previous/next, layer toggles, legend.

Reused by the Dataset page (ground truth) and later the Evaluation page (predictions): callers
hand it an image path and overlay shapes (see :mod:`.overlays`); it never reads records itself.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QImageReader, QKeySequence, QPainter, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from .overlays import LAYER_ROLE, LAYERS, ClassStyle, build_items, set_caption_scale

ZOOM_STEP = 1.25
MIN_SCALE, MAX_SCALE = 0.02, 64.0


def decode_image(path: str) -> tuple[QImage | None, str]:
    """The image at ``path`` (EXIF-oriented) or None and a one-line reason; safe in any thread."""
    reader = QImageReader(path)
    reader.setAutoTransform(True)
    image = reader.read()
    if image.isNull():
        return None, f"{path}: cannot be read ({reader.errorString()})"
    return image, ""


class ImageCanvas(QGraphicsView):
    """Image viewer: wheel zooms around the cursor, drag pans, F / double-click fits,
    Left/Right and PgUp/PgDn ask for the previous/next image. Object names show where they fit
    on screen (zoom in to see more of them) and on the object under the pointer."""

    previousRequested = Signal()
    nextRequested = Signal()
    #: layers present in the current image changed (list of layer keys)
    layersChanged = Signal(list)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setBackgroundBrush(QColor(40, 40, 40))
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setToolTip("Wheel: zoom · drag: pan · F or double-click: fit · ←/→: previous/next image")
        self.image_item: QGraphicsPixmapItem | None = None
        self.overlay_items: list = []
        self.hidden_layers: set[str] = set()
        self.problems: list[str] = []
        self._fitted = True
        QShortcut(QKeySequence(Qt.Key.Key_F), self, self.fit, context=Qt.ShortcutContext.WidgetShortcut)

    # ------------------------------------------------------------------ content
    def show_image(self, path: str | None, shapes: list, classes: dict[int, ClassStyle]) -> None:
        """Show ``path`` (None: an empty canvas) with ``shapes`` drawn over it, fitted to the view.

        Decodes on the calling thread; for large photos decode with :func:`decode_image` in a
        worker thread and call :meth:`show_decoded`.
        """
        image, problem = decode_image(path) if path else (None, "")
        self.show_decoded(image, problem, shapes, classes)

    def show_decoded(self, image: QImage | None, problem: str, shapes: list,
                     classes: dict[int, ClassStyle]) -> None:
        scene = self.scene()
        scene.clear()
        self.image_item = None
        self.problems = [problem] if problem else []
        rect = QRectF()
        if image is not None and not image.isNull():
            self.image_item = scene.addPixmap(QPixmap.fromImage(image))
            self.image_item.setZValue(0)
            self.image_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
            rect = self.image_item.boundingRect()
        items, problems = build_items(shapes, classes)
        self.problems += problems
        for item in items:
            scene.addItem(item)
            item.setVisible(item.data(LAYER_ROLE) not in self.hidden_layers)
        self.overlay_items = items
        if rect.isNull():
            rect = scene.itemsBoundingRect()
        scene.setSceneRect(rect.adjusted(-rect.width() * 0.05, -rect.height() * 0.05,
                                         rect.width() * 0.05, rect.height() * 0.05))
        self.layersChanged.emit(self.present_layers())
        self.fit()

    def present_layers(self) -> list[str]:
        present = {i.data(LAYER_ROLE) for i in self.overlay_items}
        return [k for k in LAYERS if k in present]

    def items_of_layer(self, layer: str) -> list:
        return [i for i in self.overlay_items if i.data(LAYER_ROLE) == layer]

    def set_layer_visible(self, layer: str, visible: bool) -> None:
        (self.hidden_layers.discard if visible else self.hidden_layers.add)(layer)
        for item in self.items_of_layer(layer):
            item.setVisible(visible)

    # ------------------------------------------------------------------ navigation
    def fit(self) -> None:
        # the scene rect is the image plus a small margin: fitting it leaves no scroll bars
        rect = self.scene().sceneRect()
        if not rect.isEmpty():
            self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        self._fitted = True
        self._zoom_changed()

    def zoom(self, factor: float) -> None:
        scale = self.transform().m11() * factor
        if MIN_SCALE <= scale <= MAX_SCALE:
            self.scale(factor, factor)
            self._fitted = False
            self._zoom_changed()

    def _zoom_changed(self) -> None:
        """Object names are drawn only where they fit at this zoom (see overlays.CaptionItem)."""
        set_caption_scale(self.overlay_items, self.transform().m11())

    def wheelEvent(self, event) -> None:
        delta = event.angleDelta().y()
        if delta:
            self.zoom(ZOOM_STEP if delta > 0 else 1 / ZOOM_STEP)
        event.accept()

    def mouseDoubleClickEvent(self, event) -> None:
        self.fit()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fitted:
            self.fit()

    def keyPressEvent(self, event) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Left, Qt.Key.Key_PageUp):
            self.previousRequested.emit()
        elif key in (Qt.Key.Key_Right, Qt.Key.Key_PageDown):
            self.nextRequested.emit()
        elif key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom(ZOOM_STEP)
        elif key == Qt.Key.Key_Minus:
            self.zoom(1 / ZOOM_STEP)
        else:
            super().keyPressEvent(event)


class OverlayLegend(QWidget):
    """One checkbox per layer present in the image and a colour swatch per class shown."""

    def __init__(self, canvas: ImageCanvas, parent=None):
        super().__init__(parent)
        self.canvas = canvas
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        head = QLabel("<b>Layers</b>")
        lay.addWidget(head)
        self.checks: dict[str, QCheckBox] = {}
        for key, title in LAYERS.items():
            box = QCheckBox(title)
            box.setChecked(True)
            box.setToolTip(f"Show or hide the {title.lower()} drawn over the image")
            if key == "labels":
                box.setToolTip("Show or hide the class names. A name is drawn where it fits on its "
                               "object at the current zoom (zoom in to see more) and on the object "
                               "under the pointer.")
            box.toggled.connect(lambda on, k=key: canvas.set_layer_visible(k, on))
            box.setVisible(False)
            self.checks[key] = box
            lay.addWidget(box)
        lay.addWidget(QLabel("<b>Classes</b>"))
        self.classes_box = QVBoxLayout()
        lay.addLayout(self.classes_box)
        lay.addStretch(1)
        canvas.layersChanged.connect(self._on_layers)

    def _on_layers(self, present: list[str]) -> None:
        for key, box in self.checks.items():
            box.setVisible(key in present)

    def set_classes(self, classes: list[ClassStyle]) -> None:
        """Show the swatches of ``classes`` (those present in the shown image)."""
        while self.classes_box.count():
            w = self.classes_box.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        for c in classes:
            row = QWidget()
            h = QHBoxLayout(row)
            h.setContentsMargins(0, 0, 0, 0)
            swatch = QFrame()
            swatch.setFixedSize(14, 14)
            swatch.setStyleSheet(f"background:{c.color}; border:1px solid #555;")
            h.addWidget(swatch)
            h.addWidget(QLabel(c.name), 1)
            self.classes_box.addWidget(row)
        if not classes:
            self.classes_box.addWidget(QLabel("<i>none in this image</i>"))
