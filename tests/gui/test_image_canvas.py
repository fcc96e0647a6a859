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
