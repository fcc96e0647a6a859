"""Image layers over the evaluation detail's picture: masks drawn as semi-transparent images (a
segmentation's prediction, its ground truth, its wrong pixels), each with a toggle button and a
one-letter shortcut, and a "beside" mode that shows the ground truth on a copy of the picture next
to the prediction instead of over it.

A task's ``describe_image`` opts in with ``layers`` (key, title, shortcut, tooltip, ``on`` at first,
``beside``: drawn on the copy in beside mode) and ``layer_images``: a callable returning
``{key: RGBA array (H, W, 4) at the image's size}``, run off the GUI thread together with the
picture's decoding (it reads mask files). A layer of another size (an anomaly heat map computed at
most 1,024 px wide, so that a dragged threshold redraws a 12-megapixel photo's map in milliseconds)
is stretched over the picture. Toggles persist from image to image, like a viewer's."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QImage, QKeySequence, QPixmap, QShortcut, QTransform
from PySide6.QtWidgets import QGraphicsPixmapItem, QHBoxLayout, QSlider, QToolButton, QWidget

from ...widgets.overlays import CaptionItem

#: gap between the picture and its copy in beside mode, as a share of the picture's width
BESIDE_GAP = 0.03
BESIDE = {"key": "beside", "title": "Beside", "shortcut": "B",
          "tooltip": "Show the ground truth on a copy of the image beside the prediction instead of over it (B)"}
#: z of the layers: over the picture (0), under boxes and captions (1+)
LAYER_Z = 0.5
#: "[" / "]" change the layers' opacity by this many percent
OPACITY_STEP = 10


def rgba_pixmap(rgba: np.ndarray) -> QPixmap:
    rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
    h, w = rgba.shape[:2]
    image = QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888)
    return QPixmap.fromImage(image.copy())


def compute_layers(d: dict) -> tuple[dict | None, str]:
    """Run a description's ``layer_images`` (in a worker thread): (images, problem)."""
    make = d.get("layer_images")
    if make is None:
        return None, ""
    try:
        return make(), ""
    except Exception as exc:  # noqa: BLE001 - shown under the picture, never a crash
        return None, str(exc).splitlines()[0] if str(exc) else type(exc).__name__


class LayerBar(QWidget):
    """The toggle buttons of the current task's layers, and their items on the canvas."""

    #: a toggle changed (layer key, on)
    toggled = Signal(str, bool)

    def __init__(self, canvas, parent=None):
        super().__init__(parent)
        self.canvas = canvas
        self.row = QHBoxLayout(self)
        self.row.setContentsMargins(0, 0, 0, 0)
        self.buttons: dict[str, QToolButton] = {}
        self.on: dict[str, bool] = {}
        self.specs: list[dict] = []
        self.items: dict[str, QGraphicsPixmapItem] = {}
        self.extra: list = []  # the picture's copy in beside mode, and the layers on it
        self.images: dict | None = None
        self._host: QWidget | None = None
        self._shortcuts: list[QShortcut] = []
        self.row.addStretch(1)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(100)
        self.opacity.setMinimumWidth(50)
        self.opacity.setMaximumWidth(90)
        self.opacity.setToolTip("Opacity of the layers over the picture: left to see the image through them ([ and ])")
        self.opacity.valueChanged.connect(lambda _v: self._apply_opacity())
        self.row.addWidget(self.opacity)
        self.hide()

    def install_shortcuts(self, host: QWidget) -> None:
        """The widget whose focus (it or a child) makes the layer letters work (the Images section)."""
        self._host = host
        self._make_shortcuts()

    # ------------------------------------------------------------------ buttons
    def set_specs(self, specs: list[dict]) -> None:
        """The layers a description offers (rebuilt only when they change)."""
        keys = [s["key"] for s in specs]
        if keys == [s["key"] for s in self.specs]:
            return
        for b in self.buttons.values():
            self.row.removeWidget(b)
            b.deleteLater()
        self.buttons.clear()
        self.specs = list(specs)
        if any(s.get("beside") for s in specs):
            self.specs.append(dict(BESIDE, on=False))
        for i, s in enumerate(self.specs):
            b = QToolButton()
            b.setText(f"{s['title']} ({s['shortcut']})" if s.get("shortcut") else s["title"])
            b.setCheckable(True)
            self.on.setdefault(s["key"], bool(s.get("on")))
            b.setChecked(self.on[s["key"]])
            b.setToolTip(s.get("tooltip", ""))
            b.toggled.connect(lambda on, k=s["key"]: self.set_on(k, on))
            self.row.insertWidget(i, b)
            self.buttons[s["key"]] = b
        self._make_shortcuts()
        self.setVisible(bool(self.specs))

    def _make_shortcuts(self) -> None:
        for sc in self._shortcuts:
            sc.setEnabled(False)
            sc.deleteLater()
        self._shortcuts = []
        host = self._host or self
        for s in self.specs:
            if s.get("shortcut"):
                sc = QShortcut(QKeySequence(s["shortcut"]), host, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
                sc.activated.connect(lambda k=s["key"]: self.toggle(k))
                self._shortcuts.append(sc)
        if self.specs:
            for keys, step in (("[", -OPACITY_STEP), ("]", OPACITY_STEP)):
                sc = QShortcut(QKeySequence(keys), host, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
                sc.activated.connect(lambda d=step: self.opacity.setValue(self.opacity.value() + d))
                self._shortcuts.append(sc)

    def toggle(self, key: str) -> None:
        if key in self.buttons:
            self.buttons[key].toggle()

    def set_on(self, key: str, on: bool) -> None:
        self.on[key] = bool(on)
        if key in self.buttons and self.buttons[key].isChecked() != on:
            self.buttons[key].setChecked(on)
            return  # the button's toggled signal comes back here
        self._arrange(refit=key == "beside")
        self.toggled.emit(key, bool(on))

    # ------------------------------------------------------------------ items
    def clear(self) -> None:
        """Forget the items (the canvas's scene was cleared: they are gone with it)."""
        self.items.clear()
        self.extra = []
        self.images = None

    def show_layers(self, d: dict, images: dict | None) -> None:
        """Put the layers of a description on the canvas's scene (replacing the previous ones)."""
        self.set_specs(d.get("layers") or [])
        scene = self.canvas.scene()
        for item in [*self.items.values(), *self.extra]:
            if item.scene() is scene:
                scene.removeItem(item)
        self.items.clear()
        self.extra = []
        self.images = images
        if not images or self.canvas.image_item is None:
            self._arrange(refit=False)
            return
        for s in self.specs:
            rgba = images.get(s["key"])
            if rgba is None:
                continue
            item = QGraphicsPixmapItem(rgba_pixmap(rgba))
            self._fit(item)
            item.setZValue(LAYER_Z)
            item.setData(1, s["key"])
            scene.addItem(item)
            self.items[s["key"]] = item
        self._arrange(refit=self.on.get("beside", False))

    def _fit(self, item: QGraphicsPixmapItem) -> None:
        """Stretch a layer made at another size than the picture over it (smoothly)."""
        image = self.canvas.image_item
        pm = item.pixmap()
        if image is None or pm.isNull():
            return
        rect = image.boundingRect()
        if (pm.width(), pm.height()) != (round(rect.width()), round(rect.height())):
            item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
            item.setTransform(QTransform.fromScale(rect.width() / pm.width(), rect.height() / pm.height()))

    def _arrange(self, refit: bool) -> None:
        """Visibility of each layer and, in beside mode, the picture's copy with the beside layers."""
        scene = self.canvas.scene()
        for item in self.extra:
            if item.scene() is scene:
                scene.removeItem(item)
        self.extra = []
        beside = self.on.get("beside", False) and self.canvas.image_item is not None and \
            any(s.get("beside") for s in self.specs)
        for s in self.specs:
            item = self.items.get(s["key"])
            if item is None:
                continue
            item.setVisible(self.on.get(s["key"], False) and not (beside and s.get("beside")))
        image = self.canvas.image_item
        if image is not None:
            rect = image.boundingRect()
            if beside:
                dx = rect.width() * (1 + BESIDE_GAP)
                copy = QGraphicsPixmapItem(image.pixmap())
                copy.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
                copy.setPos(dx, 0)
                scene.addItem(copy)
                self.extra.append(copy)
                for s in self.specs:
                    if s.get("beside") and self.images and self.images.get(s["key"]) is not None:
                        item = QGraphicsPixmapItem(rgba_pixmap(self.images[s["key"]]))
                        self._fit(item)
                        item.setPos(dx, 0)
                        item.setZValue(LAYER_Z)
                        scene.addItem(item)
                        self.extra.append(item)
                for x, words in ((0.0, "prediction"), (dx, "ground truth")):
                    caption = CaptionItem(words, "#222222")
                    caption.setFlag(caption.GraphicsItemFlag.ItemIgnoresTransformations)
                    caption.setPos(x, 0)
                    caption.setZValue(LAYER_Z + 1)
                    scene.addItem(caption)
                    self.extra.append(caption)
                rect = QRectF(rect.x(), rect.y(), dx + rect.width(), rect.height())
            self._apply_opacity()
            if refit:
                scene.setSceneRect(rect.adjusted(-rect.width() * 0.02, -rect.height() * 0.05,
                                                 rect.width() * 0.02, rect.height() * 0.05))
                self.canvas.fit()

    def _apply_opacity(self) -> None:
        level = self.opacity.value() / 100
        for item in [*self.items.values(), *self.extra[1:]]:  # extra[0] is the picture's copy
            if isinstance(item, QGraphicsPixmapItem):
                item.setOpacity(level)

    def visible_layers(self) -> list[str]:
        """The layer keys drawn now (tests)."""
        return [k for k, item in self.items.items() if item.isVisible()] + (["beside"] if self.extra else [])


__all__ = ["BESIDE", "LayerBar", "compute_layers", "rgba_pixmap"]
