"""Evaluation page for semantic segmentation, on real images (the fixture masks_camvid, predictions made
by damaging its ground truth; ``_segmentation_factory``): the numbers on the page are aggregate.json's
and the summed confusion matrices'; the IoU bars are the per-class IoU; the grid opens worst IoU first
and sorts by a class's IoU after a click on its bar; a confusion cell shows exactly its images; the
detail's mask layers (prediction, ground truth, errors, ground truth beside) change the drawn pixels
when toggled with their keys; the report has the segmentation sections.
"""

from __future__ import annotations

import numpy as np
import pytest
from _segmentation_factory import evaluated_segmentation
from PySide6.QtCore import Qt

pytestmark = pytest.mark.gui


@pytest.fixture
def opened(qtbot, ctx, evaluation_page_factory, real_fixtures):
    ev = evaluated_segmentation(ctx.workspace, real_fixtures)
    page = evaluation_page_factory()
    ctx.open_project(ev.project)
    page.experiments.select(ev.experiment.id)
    qtbot.waitUntil(lambda: page.results is not None and page.view.quick is not None, timeout=10000)
    return ev, page


def grid_rows(page) -> list[int]:
    from studio_desktop.gui.pages.evaluation.grid import ResultRowRole

    m = page.images.model
    return [m.data(m.index(r), ResultRowRole) for r in range(m.rowCount())]


def test_numbers_bars_and_matrix_agree_with_the_cache(opened):
    from studio_desktop.core.evaluation import segmentation as sm
    from studio_desktop.core.evaluation.store import EvaluationStore

    ev, page = opened
    view, r = page.view, page.results
    assert type(view).__name__ == "SegmentationView" and type(r).__name__ == "SegmentationResults"
    agg = EvaluationStore(page.controller.folder(ev.experiment.id)).aggregate()
    for subset in ("test", "val"):
        view.subset.setCurrentIndex(view.subset.findData(subset))
        body = agg["subsets"][subset]
        value, interval = view.metric_text("miou")
        lo, hi = body["intervals"]["miou"]
        assert value == f"{body['metrics']['miou']:.3f}" and interval == f"{lo:.3f}–{hi:.3f}"
        assert view.metric_text("pixel_accuracy")[0] == f"{body['metrics']['pixel_accuracy']:.3f}"
        # the matrix on screen is the sum of the subset's images' matrices, recomputed from the masks here
        rows = [i for i, s in enumerate(ev.subsets) if s == subset]
        lut_ids = [c.id for c in ev.project.classes]
        from studio_desktop.core import segmentation as seg

        lut = seg.channel_lut(lut_ids)
        want = sum(sm.confusion_of(seg.to_channels(ev.truth[i], lut), seg.to_channels(ev.predicted[i], lut),
                                   len(lut_ids)) for i in rows)
        assert np.array_equal(np.asarray(view.confusion.counts), want)
        # per-class table and IoU bars: TP / (TP + FP + FN) of that matrix
        tp = np.diag(want)
        union = want.sum(0) + want.sum(1) - tp
        view.tabs.setCurrentIndex(0)
        view.draw_all()
        bars = view.plot("iou")._bars
        widths = np.asarray(bars.opts["width"], dtype=float)
        for k, c in enumerate(ev.project.classes):
            expected = tp[k] / union[k] if union[k] else None
            shown = view.class_text(c.name, "iou")
            assert shown == ("not present" if expected is None else f"{expected:.3f}")
            assert widths[k] == pytest.approx(expected or 0.0)
    # the experiment list's headline: test mIoU
    head = page.experiments.model.index(page.experiments.model.row_of(ev.experiment.id), 5).data()
    assert head == f"test mIoU {agg['subsets']['test']['metrics']['miou']:.3f}"


def test_grid_opens_worst_first_and_sorts_by_a_clicked_class(qtbot, opened):
    ev, page = opened
    view, r = page.view, page.results
    rows = grid_rows(page)
    assert len(rows) == len(ev.ids)
    ious = r.image_iou[rows]
    assert np.all(np.diff(ious) >= 0) and ious[0] < 0.2  # the image predicted all wrong comes first
    cap = page.images.model.data(page.images.model.index(0))
    assert cap == f"IoU {ious[0]:.2f}"
    # the thumbnails carry the predicted mask, in the image's aspect ratio and the class colours
    ov = r.thumbnail_overlay(rows[0])
    pred = r.channels(rows[0])[1]
    assert ov.shape[:2] == (72, 96) and pred.shape == (360, 480)
    assert np.array_equal(ov[10, 20, :3], r.palette[pred[10 * 5, 20 * 5]])
    page.images.descending.setChecked(True)
    assert np.all(np.diff(r.image_iou[grid_rows(page)]) <= 0)
    # a click on a class row: that class's images, its IoU worst first, the focus for the error layer
    k = int(np.argmax(r.truth_pixels.sum(0) > 0) + 1) % len(r.class_names)
    while not (r.truth_pixels[:, k] > 0).any():
        k = (k + 1) % len(r.class_names)
    view.subset.setCurrentIndex(view.subset.findData("test"))
    view._class_clicked(k, 0)
    rows = grid_rows(page)
    test = r.scores.subset("test")
    assert sorted(rows) == sorted(np.flatnonzero(test & (r.truth_pixels[:, k] > 0)).tolist())
    keys = np.nan_to_num(r.image_class_iou[rows, k], nan=2.0)
    assert np.all(np.diff(keys) >= 0) and r.focus == k and view.focus.currentData() == k
    assert page.images.sort.currentData() == "class_iou"
    assert f"{r.class_names[k]}" in page.images.model.data(page.images.model.index(0))
    # a confusion cell: exactly the images with pixels of that true class predicted as that class
    cm = np.asarray(view.confusion.counts)
    off = cm - np.diag(np.diag(cm))
    t, p = np.unravel_index(int(np.argmax(off)), off.shape)
    view._cell_clicked(int(t), int(p))
    assert sorted(grid_rows(page)) == sorted(np.flatnonzero(test & (r.scores.confusion[:, t, p] > 0)).tolist())


def _canvas_pixels(detail) -> np.ndarray:
    from PySide6.QtWidgets import QApplication

    QApplication.processEvents()
    img = detail.canvas.viewport().grab().toImage().convertToFormat(detail.canvas.viewport().grab().toImage().Format.Format_RGB32)
    ptr = img.constBits()
    return np.frombuffer(ptr, dtype=np.uint8, count=img.sizeInBytes()).reshape(img.height(), img.bytesPerLine())[
        :, : img.width() * 4].copy()


def test_mask_layers_toggle_with_their_keys_and_change_the_pixels(qtbot, opened):
    ev, page = opened
    detail, r = page.images.detail, page.results
    page.images.grid.setCurrentIndex(page.images.model.index(1))
    qtbot.waitUntil(lambda: detail.current is not None and bool(detail.layers.items), timeout=8000)
    bar = detail.layers
    assert bar.visible_layers() == ["prediction"]
    shown = _canvas_pixels(detail)
    page.images.grid.setFocus()
    qtbot.keyClick(page.images.grid, Qt.Key.Key_P)  # prediction off: the bare photo
    assert bar.visible_layers() == [] and not bar.buttons["prediction"].isChecked()
    bare = _canvas_pixels(detail)
    assert (np.abs(shown.astype(int) - bare.astype(int)).sum(axis=1) > 0).mean() > 0.05
    qtbot.keyClick(page.images.grid, Qt.Key.Key_T)  # ground truth on
    truth = _canvas_pixels(detail)
    assert bar.visible_layers() == ["truth"] and not np.array_equal(truth, bare)
    qtbot.keyClick(page.images.grid, Qt.Key.Key_T)
    qtbot.keyClick(page.images.grid, Qt.Key.Key_E)  # errors only: magenta / cyan pixels appear
    errors = _canvas_pixels(detail)
    assert bar.visible_layers() == ["errors"] and not np.array_equal(errors, bare)
    qtbot.keyClick(page.images.grid, Qt.Key.Key_BracketLeft)  # [ : the layers more transparent
    assert bar.items["errors"].opacity() == pytest.approx(0.9) and not np.array_equal(_canvas_pixels(detail), errors)
    qtbot.keyClick(page.images.grid, Qt.Key.Key_BracketRight)
    assert bar.items["errors"].opacity() == pytest.approx(1.0)
    row = detail.current and r.scores.image_ids.tolist().index(detail.current["image"])
    fp, fn = r.error_masks(row)
    images = bar.images
    assert np.array_equal(images["errors"][..., 3] > 0, fp | fn) and (fp | fn).any()
    # a focus class narrows the error layer to that class's false positives and false negatives
    k = int(np.argmax(r.scores.confusion[row].sum(1) - np.diag(r.scores.confusion[row])))
    page.view.set_focus(k)
    qtbot.waitUntil(lambda: detail.current.get("focus") == k and detail.layers.images is not None
                    and np.array_equal(detail.layers.images["errors"][..., 3] > 0, np.logical_or(*r.error_masks(row, k))),
                    timeout=5000)
    truth_c, pred_c = r.channels(row)
    fp_k, fn_k = r.error_masks(row, k)
    assert np.array_equal(fn_k, (truth_c == k) & (pred_c != k)) and fn_k.any()
    # beside: the ground truth on a copy of the picture to the right, the scene twice as wide
    width = detail.canvas.image_item.boundingRect().width()
    qtbot.keyClick(page.images.grid, Qt.Key.Key_B)
    assert "beside" in bar.visible_layers() and detail.canvas.scene().sceneRect().width() > 1.9 * width
    qtbot.keyClick(page.images.grid, Qt.Key.Key_B)
    assert "beside" not in bar.visible_layers() and detail.canvas.scene().sceneRect().width() < 1.2 * width
    # toggles persist on the next image
    page.images.grid.setCurrentIndex(page.images.model.index(2))
    qtbot.waitUntil(lambda: detail.layers.items and detail.current["image"] != r.scores.image_ids[row], timeout=8000)
    assert bar.visible_layers() == ["errors"]


def test_report_has_the_segmentation_sections(qtbot, opened):
    ev, page = opened
    with qtbot.waitSignal(page.reportWritten, timeout=30000) as sig:
        page.write_report(open_it=False)
    text = open(sig.args[0], encoding="utf-8").read()
    for words in ("mIoU", "IoU per class", "pixel confusion", "lowest IoU"):
        assert words in text
    assert text.count("<img") >= 5
