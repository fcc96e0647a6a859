"""The image canvas draws every annotation kind, toggles layers, and paints in class colours."""

from __future__ import annotations

import numpy as np
import pytest
from _dataset_factory import every_kind_record
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import (
    QGraphicsPixmapItem,
    QGraphicsPolygonItem,
    QGraphicsRectItem,
    QGraphicsSimpleTextItem,
)

from studio_desktop.gui.widgets.image_canvas import ImageCanvas, OverlayLegend
from studio_desktop.gui.widgets.overlays import (
    ClassStyle,
    RleShape,
    build_items,
    class_styles,
    colorize_index_mask,
    rotated_corners,
    shapes_of,
)

pytestmark = pytest.mark.gui


def _count(canvas: ImageCanvas, kind, visible_only=False) -> int:
    return sum(1 for i in canvas.scene().items() if isinstance(i, kind) and (i.isVisible() or not visible_only))


@pytest.fixture
def shown(qtbot, workspace):
    project, store, record = every_kind_record(workspace)
    canvas = ImageCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(480, 320)
    canvas.show()
    classes = class_styles(project)
    canvas.show_image(str(store.path_of(record.file)), shapes_of(record, classes, store.path_of), classes)
    return canvas, classes, record


def test_every_annotation_kind_becomes_its_item(shown):
    canvas, _classes, _record = shown
    assert canvas.problems == []
    assert _count(canvas, QGraphicsRectItem) == 2  # two boxes
    assert _count(canvas, QGraphicsPolygonItem) == 2  # one instance polygon + one rotated box
    assert _count(canvas, QGraphicsPixmapItem) == 3  # the image, the class mask, the anomaly mask
    # label, 2 box names, instance name, rotated-box name, anomaly status, regression value
    assert _count(canvas, QGraphicsSimpleTextItem) == 7
    texts = {i.text() for i in canvas.scene().items() if isinstance(i, QGraphicsSimpleTextItem)}
    assert {"cat", "dog", "anomalous (crack)", "weight = 3.5"} <= texts
    assert canvas.present_layers() == ["masks", "anomaly", "polygons", "boxes", "rboxes", "labels", "values"]


def test_toggling_a_layer_hides_only_its_items(qtbot, shown):
    canvas, _classes, _record = shown
    legend = OverlayLegend(canvas)
    qtbot.addWidget(legend)
    legend.checks["boxes"].setChecked(False)
    assert _count(canvas, QGraphicsRectItem, visible_only=True) == 0
    assert _count(canvas, QGraphicsPolygonItem, visible_only=True) == 2
    legend.checks["masks"].setChecked(False)
    assert [i.isVisible() for i in canvas.items_of_layer("masks")] == [False]
    legend.checks["boxes"].setChecked(True)
    assert _count(canvas, QGraphicsRectItem, visible_only=True) == 2


def test_box_edge_is_painted_in_its_class_colour(shown):
    canvas, classes, _record = shown
    image = QImage(canvas.viewport().size(), QImage.Format.Format_RGB32)
    image.fill(Qt.GlobalColor.black)
    painter = QPainter(image)
    canvas.render(painter)
    painter.end()
    want = QColor(classes[1].color)  # "cat" box from (4,4) to (20,20)

    def near(p: QPointF) -> bool:
        v = canvas.mapFromScene(p)
        for dx in (-1, 0, 1):
            c = image.pixelColor(v.x() + dx, v.y())
            if abs(c.red() - want.red()) + abs(c.green() - want.green()) + abs(c.blue() - want.blue()) < 60:
                return True
        return False

    assert near(QPointF(4, 12)), "the left edge of the cat box is not drawn in the cat colour"
    assert not near(QPointF(12, 12)), "the inside of the box must show the image, not the outline colour"


def test_keys_ask_for_previous_and_next(qtbot, shown):
    canvas, _classes, _record = shown
    with qtbot.waitSignal(canvas.nextRequested, timeout=1000):
        qtbot.keyClick(canvas, Qt.Key.Key_Right)
    with qtbot.waitSignal(canvas.previousRequested, timeout=1000):
        qtbot.keyClick(canvas, Qt.Key.Key_PageUp)
    fitted = canvas.transform().m11()
    canvas.zoom(2.0)
    assert canvas.transform().m11() == pytest.approx(fitted * 2)
    qtbot.keyClick(canvas, Qt.Key.Key_F)
    assert canvas.transform().m11() == pytest.approx(fitted)


def test_index_mask_uses_class_colours_and_leaves_background_clear():
    classes = {0: ClassStyle(0, "background", "#000000"), 2: ClassStyle(2, "dog", "#ff7f0e")}
    rgba = colorize_index_mask(np.array([[0, 2, 255, 7]]), classes)
    assert rgba[0, 0, 3] == 0 and rgba[0, 2, 3] == 0 and rgba[0, 3, 3] == 0
    assert tuple(rgba[0, 1, :3]) == (0xFF, 0x7F, 0x0E) and rgba[0, 1, 3] > 0


def test_rle_instance_and_unreadable_mask(tmp_path, qtbot):
    from pycocotools import mask as mask_utils

    m = np.zeros((8, 10), np.uint8, order="F")
    m[2:5, 3:7] = 1
    rle = mask_utils.encode(np.asfortranarray(m))
    classes = {1: ClassStyle(1, "cat", "#1f77b4")}
    items, problems = build_items([RleShape(1, (8, 10), rle["counts"].decode())], classes)
    assert problems == [] and isinstance(items[0], QGraphicsPixmapItem)
    assert items[0].pixmap().toImage().pixelColor(4, 3).alpha() > 0
    assert items[0].pixmap().toImage().pixelColor(0, 0).alpha() == 0
    from studio_desktop.gui.widgets.overlays import MaskShape

    items, problems = build_items([MaskShape(str(tmp_path / "missing.png"))], classes)
    assert items == [] and "missing.png" in problems[0]


def test_rotated_corners_follow_the_angle():
    c = rotated_corners(10, 10, 4, 2, 90)
    xs, ys = c[0::2], c[1::2]
    assert max(xs) - min(xs) == pytest.approx(2) and max(ys) - min(ys) == pytest.approx(4)


# ------------------------------------------------------------------ dense overlays: names only where they fit

GREY = (128, 128, 128)
VEHICLE = "#d62728"


def _render(canvas: ImageCanvas) -> QImage:
    image = QImage(canvas.viewport().size(), QImage.Format.Format_RGB32)
    image.fill(Qt.GlobalColor.black)
    painter = QPainter(image)
    canvas.render(painter)
    painter.end()
    return image


def _not_grey(image: QImage, x0: int, x1: int, y: int) -> float:
    """Share of pixels on row ``y`` from ``x0`` to ``x1`` (view pixels) that are not the image's grey."""
    xs = [x for x in range(x0, x1) if 0 <= x < image.width()]
    off = [x for x in xs if sum(abs(a - b) for a, b in zip(image.pixelColor(x, y).getRgb()[:3], GREY, strict=True)) > 40]
    return len(off) / max(1, len(xs))


@pytest.fixture
def dense(qtbot, tmp_path):
    """A 400×400 grey image with 36 boxes of 8×8 px: at 'fit' zoom each is ~7 view pixels wide,
    far smaller than its 'small-vehicle' name tag."""
    from PIL import Image

    from studio_desktop.core.schemas import Box, ImageRecord

    path = tmp_path / "aerial.png"
    Image.new("RGB", (400, 400), GREY).save(path)
    boxes = [Box(cls=0, x1=20 + 60 * i, y1=20 + 60 * j, x2=28 + 60 * i, y2=28 + 60 * j)
             for i in range(6) for j in range(6)]
    record = ImageRecord(id="dense0000000", file="aerial.png", width=400, height=400, sha256="d" * 64,
                         boxes=boxes)
    classes = {0: ClassStyle(0, "small-vehicle", VEHICLE)}
    canvas = ImageCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(400, 400)
    canvas.show()
    canvas.show_image(str(path), shapes_of(record, classes, lambda rel: tmp_path / rel), classes)
    return canvas, boxes


def _tag_row(canvas: ImageCanvas, box) -> tuple[int, int, int]:
    """View pixels where a name tag anchored at the box's top-left would be: x from, x to, row."""
    top_left = canvas.mapFromScene(QPointF(box.x1, box.y1))
    return top_left.x() + 4, top_left.x() + 40, top_left.y() + 6


def test_names_of_boxes_too_small_on_screen_are_not_drawn(dense):
    canvas, boxes = dense
    assert canvas.transform().m11() < 1.2  # fitted: each box is a few view pixels wide
    image = _render(canvas)
    covered = [b for b in boxes if _not_grey(image, *_tag_row(canvas, b)) > 0.3]
    assert not covered, f"{len(covered)} of {len(boxes)} small boxes carry a name tag hiding the image"
    # the boxes themselves are drawn
    edge = canvas.mapFromScene(QPointF(boxes[0].x1, (boxes[0].y1 + boxes[0].y2) / 2))
    assert _not_grey(image, edge.x() - 1, edge.x() + 2, edge.y()) > 0


def test_zooming_in_brings_the_names_back_and_the_toggle_still_hides_them(dense):
    canvas, boxes = dense
    box = boxes[7]
    canvas.zoom(16)  # the 8-px box is now ~115 view pixels: its tag fits inside
    canvas.centerOn(QPointF((box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2))
    assert _not_grey(_render(canvas), *_tag_row(canvas, box)) > 0.5, "the name tag is not drawn"
    canvas.set_layer_visible("labels", False)
    assert _not_grey(_render(canvas), *_tag_row(canvas, box)) < 0.1
    canvas.set_layer_visible("labels", True)
    canvas.fit()  # back to the whole image: the names go again
    assert _not_grey(_render(canvas), *_tag_row(canvas, box)) < 0.3


def test_hovering_a_small_box_shows_its_name(qtbot, dense):
    canvas, boxes = dense
    box = boxes[14]
    centre = canvas.mapFromScene(QPointF((box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2))
    assert _not_grey(_render(canvas), *_tag_row(canvas, box)) < 0.3
    qtbot.mouseMove(canvas.viewport(), centre)
    qtbot.waitUntil(lambda: _not_grey(_render(canvas), *_tag_row(canvas, box)) > 0.5, timeout=2000)
    far = canvas.mapFromScene(QPointF(box.x1 + 30, box.y1 + 30))  # off the box: the name goes
    qtbot.mouseMove(canvas.viewport(), far)
    qtbot.waitUntil(lambda: _not_grey(_render(canvas), *_tag_row(canvas, box)) < 0.3, timeout=2000)


def test_polygons_and_rotated_boxes_follow_the_same_rule(qtbot):
    from PySide6.QtWidgets import QGraphicsSceneHoverEvent

    from studio_desktop.core.schemas import ImageRecord, Instance, RotatedBox
    from studio_desktop.gui.widgets.overlays import CaptionItem, set_caption_scale

    record = ImageRecord(id="shapes000000", file="x.png", width=400, height=400, sha256="e" * 64,
                         instances=[Instance(cls=0, polygons=[[10, 10, 18, 10, 18, 20, 10, 20]])],
                         rboxes=[RotatedBox(cls=0, cx=100, cy=100, w=60, h=6, angle=45)])
    classes = {0: ClassStyle(0, "ship", VEHICLE)}
    items, _ = build_items(shapes_of(record, classes, lambda rel: rel), classes)
    captions = [i for i in items if isinstance(i, CaptionItem)]
    outlines = [i for i in items if isinstance(i, QGraphicsPolygonItem)]
    assert len(captions) == 2 and [o.captions for o in outlines] == [[captions[0]], [captions[1]]]
    set_caption_scale(items, 1.0)  # an 8×10 polygon, a 60×6 ship: their names do not fit
    assert [c.drawn for c in captions] == [False, False]
    set_caption_scale(items, 20.0)  # the ship's 6-px width is now 120 view pixels
    assert [c.drawn for c in captions] == [True, True]
    set_caption_scale(items, 1.0)
    outlines[1].hoverEnterEvent(QGraphicsSceneHoverEvent())
    assert [c.drawn for c in captions] == [False, True]
    outlines[1].hoverLeaveEvent(QGraphicsSceneHoverEvent())
    assert not captions[1].drawn
