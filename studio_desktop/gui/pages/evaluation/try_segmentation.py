"""How "Try it" shows a segmentation model's predictions: the predicted mask over each new image.

The prediction run (``worker predict --draw``) writes each image's index mask (class ids) into the run's
``masks/`` folder and its overlay and coloured mask into ``drawn/``
(``core/evaluation/segmentation_predictions.py``); this view colours the index mask with the palette
every view uses (background classes left clear), scales it onto the thumbnail and draws it
at the chosen opacity. Under each image: its largest classes and their share of the image; the
tooltip lists every class found and the mean confidence. "Show mask" (Alt+M) and the opacity
slider change the drawing at once, without predicting again.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QCheckBox, QLabel, QSlider

from ....core.segmentation import IGNORE, background_channels, channel_lut, palette, to_channels

#: masks kept ready to draw (thumbnail-sized QImages)
CACHE = 300


class SegmentationTryView:
    """The mask over bigger thumbnails; a mask toggle and its opacity beside the buttons."""

    thumb = QSize(200, 200)

    def __init__(self, on_change=None):
        self.on_change = on_change
        self.classes: list = []
        self._table = np.zeros((256, 4), dtype=np.uint8)
        self._lut = np.full(256, IGNORE, dtype=np.uint8)
        self._cache: OrderedDict[tuple, QImage | None] = OrderedDict()
        self.show = QCheckBox("Show &mask")
        self.show.setChecked(True)
        self.show.setToolTip("Draw the predicted mask over each image (Alt+M); the masks themselves are PNG files "
                             "of class ids in the run's masks folder")
        self.label = QLabel("Opacity")
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(10, 100)
        self.opacity.setValue(55)
        self.opacity.setFixedWidth(110)
        tip = "How strongly the mask's colours cover the image (10-100 %); background classes are never drawn"
        self.opacity.setToolTip(tip)
        self.label.setToolTip(tip)
        self.show.toggled.connect(self._changed)
        self.opacity.valueChanged.connect(self._changed)

    def _changed(self, *_):
        self.opacity.setEnabled(self.show.isChecked())
        if self.on_change:
            self.on_change()

    def controls(self) -> list:
        return [self.show, self.label, self.opacity]

    def set_experiment(self, controller, experiment) -> None:
        """The project's classes give each channel its colour (the Evaluation page's palette)."""
        self.classes = list(controller.project.classes) if controller is not None else []
        self.set_classes(self.classes)

    def set_classes(self, classes) -> None:
        self.classes = list(classes)
        colours = palette(self.classes)
        table = np.zeros((256, 4), dtype=np.uint8)
        table[:, :3] = colours
        table[: len(self.classes), 3] = 255
        table[background_channels(self.classes), 3] = 0
        table[IGNORE, 3] = 0
        self._table = table
        try:
            self._lut = channel_lut([c.id for c in self.classes])
        except ValueError:
            self._lut = np.full(256, IGNORE, dtype=np.uint8)
        self._cache.clear()

    def worker_args(self) -> list[str]:
        """The run also writes each image's overlay and coloured mask (``drawn/``) beside the index masks."""
        return ["--draw"]

    # ------------------------------------------------------------------ one prediction
    @staticmethod
    def found(p: dict) -> list[dict]:
        return list((p.get("prediction") or {}).get("classes") or [])

    def caption(self, p: dict, units=None) -> str:
        if not p.get("ok", True):
            return "cannot read"
        found = self.found(p)
        if not found:
            return "no mask"
        return ", ".join(f"{c['name']} {float(c['share']):.0%}" for c in found[:2]) + (" …" if len(found) > 2 else "")

    def tooltip(self, p: dict, units=None) -> str:
        name = Path(str(p.get("file", ""))).name
        if not p.get("ok", True):
            return f"{name}\n{p.get('error', 'could not be read')}"
        pred = p.get("prediction") or {}
        lines = [f"{name}: {p.get('width', '?')} x {p.get('height', '?')} px, {len(self.found(p))} class(es) found"]
        lines += [f"  {c['name']}: {float(c['share']):.1%} ({int(c['pixels']):,} px)" for c in self.found(p)[:15]]
        if pred.get("confidence") is not None:
            lines.append(f"mean confidence {float(pred['confidence']):.0%} (the winning class's probability, "
                         "averaged over the pixels)")
        if pred.get("mask"):
            lines.append(f"mask: {pred['mask']}")
        return "\n".join(lines)

    def mask_image(self, path: str, size: QSize) -> QImage | None:
        """The mask file coloured (RGBA, background clear) at ``size``; None when it cannot be read."""
        key = (path, size.width(), size.height())
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        image = None
        try:
            from PIL import Image

            with Image.open(path) as im:
                small = im.resize((max(1, size.width()), max(1, size.height())), Image.NEAREST)
                ids = np.asarray(small, dtype=np.uint8)
            rgba = np.ascontiguousarray(self._table[to_channels(ids, self._lut)])
            h, w = rgba.shape[:2]
            image = QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()
        except (OSError, ValueError):
            image = None
        self._cache[key] = image
        while len(self._cache) > CACHE:
            self._cache.popitem(last=False)
        return image

    def paint(self, painter: QPainter, target: QRect, p: dict) -> None:
        """Draw the coloured mask over the thumbnail drawn in ``target`` (the image scaled to fit)."""
        mask = (p.get("prediction") or {}).get("mask")
        if not self.show.isChecked() or not mask:
            return
        image = self.mask_image(str(mask), target.size())
        if image is None:
            return
        painter.save()
        painter.setOpacity(self.opacity.value() / 100.0)
        painter.drawImage(target, image)
        painter.restore()

    def status(self, items: list[dict], data: dict) -> str:
        # the run's own classes (the model's output order and colours) read its masks, even when the project's
        # classes changed since the model was trained
        outputs = [SimpleNamespace(id=int(o["id"]), name=str(o.get("name", o["id"])), color=o.get("colour") or o.get("color"))
                   for o in ((data.get("model") or {}).get("outputs") or []) if isinstance(o, dict) and "id" in o]
        if outputs and [vars(o) for o in outputs] != [{"id": getattr(c, "id", None), "name": getattr(c, "name", None),
                                                       "color": getattr(c, "color", None)} for c in self.classes]:
            self.set_classes(outputs)
        masks = sum(1 for p in items if p.get("ok", True) and (p.get("prediction") or {}).get("mask"))
        drawn = " (overlays and coloured masks in drawn)" if self.folder_has_drawings(items) else ""
        return f"{masks} mask(s) written (class ids, PNG) in the run's masks folder{drawn}"

    @staticmethod
    def folder_has_drawings(items: list[dict]) -> bool:
        mask = next(((p.get("prediction") or {}).get("mask") for p in items if (p.get("prediction") or {}).get("mask")),
                    None)
        return bool(mask) and (Path(mask).parent.parent / "drawn").is_dir()


__all__ = ["SegmentationTryView"]
