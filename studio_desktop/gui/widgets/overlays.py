"""Annotation overlays: records become frozen shapes (pure), shapes become graphics items (a table).

Two steps keep drawing testable and reusable (the Evaluation page draws predictions with the
same shapes): :func:`shapes_of` turns an ``ImageRecord`` into plain frozen dataclasses, one
extractor per annotation field (:data:`EXTRACTORS`); :func:`build_items` turns each shape into
a ``QGraphicsItem`` through :data:`ITEM_BUILDERS` (shape type → builder). Every item carries
its layer name so the canvas can toggle layers.

An object's class name is drawn only where it fits: a tag keeps its size on screen whatever the
zoom, so on an aerial image with hundreds of small boxes the tags would cover the picture. Each
object caption knows its object's size; the canvas tells the captions the zoom
(:func:`set_caption_scale`) and a caption is painted when its object is large enough on screen,
or while the pointer is over that object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QBrush, QColor, QFont, QImage, QPen, QPixmap, QPolygonF, QTransform
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPixmapItem,
    QGraphicsPolygonItem,
    QGraphicsRectItem,
    QGraphicsSimpleTextItem,
)

#: layer key -> what the toggle says, in drawing order
LAYERS: dict[str, str] = {
    "masks": "Masks",
    "anomaly": "Anomaly",
    "polygons": "Polygons",
    "boxes": "Boxes",
    "rboxes": "Rotated boxes",
    "labels": "Class names",
    "values": "Values",
}
LAYER_ROLE = 0  # QGraphicsItem.data key holding the layer name
MASK_ALPHA = 110
ANOMALY_RGBA = (220, 20, 20, 120)
UNKNOWN_COLOR = "#ff00ff"


@dataclass(frozen=True)
class ClassStyle:
    id: int
    name: str
    color: str


# ------------------------------------------------------------------ shapes (pure, frozen)

@dataclass(frozen=True)
class BoxShape:
    cls: int
    x1: float
    y1: float
    x2: float
    y2: float
    layer: str = "boxes"


@dataclass(frozen=True)
class PolygonShape:
    cls: int
    points: tuple[float, ...]  # x0 y0 x1 y1 ...
    layer: str = "polygons"


@dataclass(frozen=True)
class RotatedBoxShape:
    cls: int
    corners: tuple[float, ...]  # 4 corners, 8 numbers
    layer: str = "rboxes"


@dataclass(frozen=True)
class MaskShape:
    """A semantic index mask (PNG of class ids) drawn in class colours."""

    path: str
    layer: str = "masks"


@dataclass(frozen=True)
class RleShape:
    """An instance given as a COCO RLE instead of polygons."""

    cls: int
    size: tuple[int, int]
    counts: str | tuple[int, ...]
    layer: str = "polygons"


@dataclass(frozen=True)
class AnomalyMaskShape:
    path: str
    layer: str = "anomaly"


@dataclass(frozen=True)
class TextShape:
    """A caption at (x, y): class name of an object, image label, anomaly status, target values."""

    text: str
    x: float
    y: float
    color: str
    layer: str = "labels"
    #: image-level captions (label, anomaly status, values) stack in rows at the top-left
    row: int = 0
    #: an object's caption: the object's extent in image pixels along and across (its box's
    #: width and height; a rotated box's long and short side). 0: an image-level caption,
    #: always drawn
    fit_w: float = 0.0
    fit_h: float = 0.0


Shape = BoxShape | PolygonShape | RotatedBoxShape | MaskShape | RleShape | AnomalyMaskShape | TextShape


def _name(classes: dict[int, ClassStyle], cls: int) -> str:
    c = classes.get(cls)
    return c.name if c else f"class {cls}"


def color_of(classes: dict[int, ClassStyle], cls: int | None) -> str:
    c = classes.get(cls) if cls is not None else None
    return c.color if c else UNKNOWN_COLOR


def _label(rec, classes, path_of):
    if rec.label is None:
        return []
    return [TextShape(_name(classes, rec.label), 0, 0, color_of(classes, rec.label), row=0)]


def _boxes(rec, classes, path_of):
    out: list[Shape] = []
    for b in rec.boxes:
        out.append(BoxShape(b.cls, b.x1, b.y1, b.x2, b.y2))
        out.append(TextShape(_name(classes, b.cls), b.x1, b.y1, color_of(classes, b.cls),
                             fit_w=b.x2 - b.x1, fit_h=b.y2 - b.y1))
    return out


def _instances(rec, classes, path_of):
    out: list[Shape] = []
    for inst in rec.instances:
        for poly in inst.polygons:
            if len(poly) >= 6:
                out.append(PolygonShape(inst.cls, tuple(poly)))
        if inst.rle and not inst.polygons:
            counts = inst.rle.get("counts")
            out.append(RleShape(inst.cls, tuple(inst.rle.get("size", (0, 0))),
                                counts if isinstance(counts, str) else tuple(counts or ())))
        anchor = inst.box[:2] if len(inst.box) >= 2 else (inst.polygons[0][:2] if inst.polygons else None)
        if anchor is not None and len(anchor) == 2:
            w, h = _extent(inst)
            out.append(TextShape(_name(classes, inst.cls), anchor[0], anchor[1], color_of(classes, inst.cls),
                                 fit_w=w, fit_h=h))
    return out


def _extent(inst) -> tuple[float, float]:
    """Width and height of an instance: its box, else its polygons' bounds (an RLE-only instance
    without a box gives its mask size, the most its name may claim)."""
    if len(inst.box) >= 4:
        return max(0.0, inst.box[2] - inst.box[0]), max(0.0, inst.box[3] - inst.box[1])
    xs = [v for poly in inst.polygons for v in poly[0::2]]
    ys = [v for poly in inst.polygons for v in poly[1::2]]
    if xs and ys:
        return max(xs) - min(xs), max(ys) - min(ys)
    size = (inst.rle or {}).get("size") or (0, 0)
    return float(size[1]), float(size[0])


def _mask(rec, classes, path_of):
    return [MaskShape(str(path_of(rec.mask)))] if rec.mask else []


def _rboxes(rec, classes, path_of):
    out: list[Shape] = []
    for r in rec.rboxes:
        corners = tuple(r.corners) if len(r.corners) == 8 else rotated_corners(r.cx, r.cy, r.w, r.h, r.angle)
        out.append(RotatedBoxShape(r.cls, corners))
        out.append(TextShape(_name(classes, r.cls), corners[0], corners[1], color_of(classes, r.cls),
                             fit_w=max(r.w, r.h), fit_h=min(r.w, r.h)))
    return out


def _anomaly(rec, classes, path_of):
    a = rec.anomaly
    if a is None:
        return []
    text = a.status + (f" ({a.defect})" if a.defect else "")
    color = "#d62728" if a.status == "anomalous" else "#2ca02c"
    out: list[Shape] = [TextShape(text, 0, 0, color, layer="anomaly", row=1)]
    if a.mask:
        out.append(AnomalyMaskShape(str(path_of(a.mask))))
    return out


def _targets(rec, classes, path_of):
    if not rec.targets:
        return []
    text = "   ".join(f"{k} = {v:.4g}" for k, v in rec.targets.items())
    return [TextShape(text, 0, 0, "#333333", layer="values", row=2)]


#: annotation field (DESIGN §5) -> shape extractor
EXTRACTORS: dict[str, Callable] = {
    "label": _label, "boxes": _boxes, "instances": _instances, "mask": _mask,
    "rboxes": _rboxes, "anomaly": _anomaly, "targets": _targets,
}


def rotated_corners(cx: float, cy: float, w: float, h: float, angle_deg: float) -> tuple[float, ...]:
    """Corners of a box rotated counter-clockwise by ``angle_deg`` (image y axis points down)."""
    a = np.deg2rad(angle_deg)
    c, s = np.cos(a), np.sin(a)
    pts = []
    for dx, dy in ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)):
        pts += [cx + dx * c + dy * s, cy - dx * s + dy * c]
    return tuple(float(p) for p in pts)


def shapes_of(record, classes: dict[int, ClassStyle], path_of: Callable[[str], Path]) -> list[Shape]:
    """Every overlay shape of ``record``; ``path_of`` maps dataset-relative paths to files."""
    out: list[Shape] = []
    for extract in EXTRACTORS.values():
        out.extend(extract(record, classes, path_of))
    return out


# ------------------------------------------------------------------ items (Qt)

def _pen(color: str) -> QPen:
    pen = QPen(QColor(color), 2)
    pen.setCosmetic(True)  # same width at every zoom
    return pen


def _fill(color: str, alpha: int = 40) -> QBrush:
    c = QColor(color)
    c.setAlpha(alpha)
    return QBrush(c)


def _polygon(points) -> QPolygonF:
    return QPolygonF([QPointF(points[i], points[i + 1]) for i in range(0, len(points) - 1, 2)])


class _ShowsNameOnHover:
    """Mixin for object items: their name captions are drawn while the pointer is over them."""

    captions: list[CaptionItem]

    def hoverEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        for c in self.captions:
            c.set_hovered(True)
        super().hoverEnterEvent(event)

    def hoverLeaveEvent(self, event) -> None:  # noqa: N802 - Qt override
        for c in self.captions:
            c.set_hovered(False)
        super().hoverLeaveEvent(event)


class ObjectRectItem(_ShowsNameOnHover, QGraphicsRectItem):
    """A box, linked to its name caption."""

    def __init__(self, rect: QRectF):
        QGraphicsRectItem.__init__(self, rect)
        self.captions = []
        self.setAcceptHoverEvents(True)


class ObjectPolygonItem(_ShowsNameOnHover, QGraphicsPolygonItem):
    """An outline (instance polygon, rotated box), linked to its name caption."""

    def __init__(self, polygon: QPolygonF):
        QGraphicsPolygonItem.__init__(self, polygon)
        self.captions = []
        self.setAcceptHoverEvents(True)


def _build_box(s: BoxShape, classes) -> QGraphicsItem:
    item = ObjectRectItem(QRectF(QPointF(s.x1, s.y1), QPointF(s.x2, s.y2)))
    item.setPen(_pen(color_of(classes, s.cls)))
    return item


def _build_polygon(s: PolygonShape, classes) -> QGraphicsItem:
    item = ObjectPolygonItem(_polygon(s.points))
    color = color_of(classes, s.cls)
    item.setPen(_pen(color))
    item.setBrush(_fill(color, 70))
    return item


def _build_rotated(s: RotatedBoxShape, classes) -> QGraphicsItem:
    item = ObjectPolygonItem(_polygon(s.corners))
    item.setPen(_pen(color_of(classes, s.cls)))
    return item


def colorize_index_mask(values: np.ndarray, classes: dict[int, ClassStyle]) -> np.ndarray:
    """RGBA image of an index mask: each class id in its colour, anything else transparent.

    A class named "background" stays transparent so the image shows through.
    """
    lut = np.zeros((256, 4), np.uint8)
    for c in classes.values():
        if 0 <= c.id < 255 and c.name.lower() != "background":
            q = QColor(c.color)
            lut[c.id] = (q.red(), q.green(), q.blue(), MASK_ALPHA)
    return lut[values.astype(np.uint8)]


def _rgba_pixmap(rgba: np.ndarray) -> QPixmap:
    rgba = np.ascontiguousarray(rgba)
    h, w = rgba.shape[:2]
    img = QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888)
    return QPixmap.fromImage(img.copy())


def read_index_png(path: str) -> np.ndarray:
    """Class-id values of a mask PNG (palette PNGs give their indices, RGB uses the first channel)."""
    from PIL import Image

    with Image.open(path) as im:
        if im.mode not in ("P", "L", "I", "I;16"):
            im = im.convert("RGB").getchannel(0)
        return np.asarray(im).astype(np.int64).clip(0, 255)


def _build_mask(s: MaskShape, classes) -> QGraphicsItem:
    return QGraphicsPixmapItem(_rgba_pixmap(colorize_index_mask(read_index_png(s.path), classes)))


def _build_rle(s: RleShape, classes) -> QGraphicsItem:
    from pycocotools import mask as mask_utils

    counts = s.counts if isinstance(s.counts, str) else list(s.counts)
    rle = {"size": list(s.size), "counts": counts}
    if not isinstance(counts, str):
        rle = mask_utils.frPyObjects(rle, *s.size)
    binary = mask_utils.decode(rle).astype(bool)
    q = QColor(color_of(classes, s.cls))
    rgba = np.zeros((*binary.shape, 4), np.uint8)
    rgba[binary] = (q.red(), q.green(), q.blue(), MASK_ALPHA)
    return QGraphicsPixmapItem(_rgba_pixmap(rgba))


def _build_anomaly_mask(s: AnomalyMaskShape, classes) -> QGraphicsItem:
    values = read_index_png(s.path)
    rgba = np.zeros((*values.shape, 4), np.uint8)
    rgba[values > 0] = ANOMALY_RGBA
    return QGraphicsPixmapItem(_rgba_pixmap(rgba))


#: an object's name is drawn when its object, on screen, is at least as wide as the tag and this
#: many tags tall (so that the tag never hides most of the object)
FIT_HEIGHTS = 2.0


class CaptionItem(QGraphicsSimpleTextItem):
    """A caption readable on any image: text on a tag filled with its (class) colour.

    An object's caption (``fit_w``/``fit_h`` > 0, the object's size in image pixels) is painted
    only when the object is large enough on screen at the current zoom (:meth:`set_view_scale`),
    or while the pointer is over the object; image-level captions are always painted.
    """

    def __init__(self, text: str, color: str, fit_w: float = 0.0, fit_h: float = 0.0):
        super().__init__(text)
        self.tag = QColor(color)
        self.tag.setAlpha(210)
        light = self.tag.lightnessF() > 0.6
        self.setBrush(QColor("#000000" if light else "#ffffff"))
        self.fit_w, self.fit_h = fit_w, fit_h
        self.fits = True
        self._pointers = 0  # the object items under the pointer (an instance may have several)

    @property
    def for_object(self) -> bool:
        return self.fit_w > 0 or self.fit_h > 0

    def set_view_scale(self, scale: float) -> None:
        """Decide from the view's zoom (view pixels per image pixel) whether the name fits."""
        if not self.for_object:
            return
        tag = self.boundingRect()  # in view pixels: the item ignores the zoom
        fits = self.fit_w * scale >= tag.width() and self.fit_h * scale >= FIT_HEIGHTS * tag.height()
        if fits != self.fits:
            self.fits = fits
            self.update()

    def set_hovered(self, on: bool) -> None:
        was = self.hovered
        self._pointers = max(0, self._pointers + (1 if on else -1))
        if self.hovered != was:
            self.setZValue(self.zValue() + (0.5 if self.hovered else -0.5))  # over the neighbours' tags
            self.update()

    @property
    def hovered(self) -> bool:
        return self._pointers > 0

    @property
    def drawn(self) -> bool:
        return self.fits or self.hovered

    def boundingRect(self) -> QRectF:
        return super().boundingRect().adjusted(-2, -1, 2, 1)

    def paint(self, painter, option, widget=None) -> None:
        if not self.drawn:
            return
        painter.fillRect(self.boundingRect(), self.tag)
        super().paint(painter, option, widget)


def set_caption_scale(items, scale: float) -> None:
    """Tell every caption among ``items`` the view's zoom (call after each zoom change)."""
    for item in items:
        if isinstance(item, CaptionItem):
            item.set_view_scale(scale)


def _build_text(s: TextShape, classes) -> QGraphicsItem:
    item = CaptionItem(s.text, s.color, s.fit_w, s.fit_h)
    font = QFont()
    font.setPointSizeF(8.5)
    item.setFont(font)
    item.setPos(s.x, s.y)
    if s.row:  # in screen pixels: the item ignores the view's zoom
        item.setTransform(QTransform.fromTranslate(0, s.row * (item.boundingRect().height() + 2)))
    # captions keep their size whatever the zoom
    item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
    return item


#: shape type -> graphics item builder
ITEM_BUILDERS: dict[type, Callable] = {
    BoxShape: _build_box,
    PolygonShape: _build_polygon,
    RotatedBoxShape: _build_rotated,
    MaskShape: _build_mask,
    RleShape: _build_rle,
    AnomalyMaskShape: _build_anomaly_mask,
    TextShape: _build_text,
}


def build_items(shapes: list[Shape], classes: dict[int, ClassStyle]) -> tuple[list[QGraphicsItem], list[str]]:
    """Graphics items for ``shapes`` (layer stored in ``data(LAYER_ROLE)``) and one-line problems.

    A mask file that cannot be read becomes a problem message, never an exception.
    """
    items: list[QGraphicsItem] = []
    problems: list[str] = []
    order = list(LAYERS)
    objects: list = []  # object items since the last caption: the extractors emit a name after its shapes
    for shape in shapes:
        try:
            item = ITEM_BUILDERS[type(shape)](shape, classes)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            where = getattr(shape, "path", type(shape).__name__)
            problems.append(f"{where}: cannot be drawn ({exc})")
            continue
        item.setData(LAYER_ROLE, shape.layer)
        item.setZValue(1 + order.index(shape.layer))
        items.append(item)
        if hasattr(item, "captions"):
            objects.append(item)
        elif isinstance(item, CaptionItem):
            if item.for_object:
                for obj in objects:
                    obj.captions.append(item)
            objects = []
    return items, problems


def class_styles(project) -> dict[int, ClassStyle]:
    return {c.id: ClassStyle(c.id, c.name, c.color) for c in (project.classes if project else [])}

