"""Evaluation page for object detection, on real images (the fixture coco_bbox_rbc's validation and
test images, predictions made from their ground truth; ``_detection_factory``): mAP with intervals
as aggregate.json says; every number on the page agrees (the counts panel = the sum over the grid's
images = the confusion matrix's totals = the core module's counts); the threshold slider changes the
counts, the matrix and the boxes' colours live; a confusion cell filters the grid to exactly its
images; the grid's filters (false positives, missed objects, class); saving the operating point;
NMS and match IoU; a goal; the report.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from _detection_factory import evaluated_detection
from PySide6.QtCore import Qt

pytestmark = pytest.mark.gui


def open_evaluated(qtbot, ctx, factory, real_fixtures, **kw):
    ev = evaluated_detection(ctx.workspace, real_fixtures, **kw)
    page = factory()
    ctx.open_project(ev.project)
    page.experiments.select(ev.experiment.id)
    qtbot.waitUntil(lambda: page.results is not None and page.view.quick is not None, timeout=10000)
    return ev, page


def grid_rows(page) -> list[int]:
    from studio_desktop.gui.pages.evaluation.grid import ResultRowRole

    m = page.images.model
    return [m.data(m.index(r), ResultRowRole) for r in range(m.rowCount())]


def count_cells(view, name: str = "All classes") -> tuple[int, int, int]:
    return tuple(int(view.count_text(name, k)) for k in ("tp", "fp", "fn"))


def settle(qtbot, view) -> tuple[int, int, int]:
    """Wait until the counts on screen are those of the results' operating point (the view
    refreshes a few ms after a change, so that a dragged slider queues no work); returns them."""
    from studio_desktop.core.evaluation.detection import at_operating_point

    r = view.results
    c = at_operating_point(r.scores, r.op).counts(r.scores.subset(view.current_subset()))
    want = (c["tp"], c["fp"], c["fn"])
    qtbot.waitUntil(lambda: count_cells(view) == want and not view._refresh_timer.isActive(), timeout=3000)
    return want


def test_numbers_agree_with_aggregate_the_grid_and_the_matrix(qtbot, ctx, evaluation_page_factory, real_fixtures):
    from studio_desktop.core.evaluation.detection import at_operating_point
    from studio_desktop.core.evaluation.store import EvaluationStore

    ev, page = open_evaluated(qtbot, ctx, evaluation_page_factory, real_fixtures)
    view, r = page.view, page.results
    assert type(view).__name__ == "DetectionView" and type(r).__name__ == "DetectionResults"
    agg = EvaluationStore(page.controller.folder(ev.experiment.id)).aggregate()
    for subset in ("test", "val"):
        view.subset.setCurrentIndex(view.subset.findData(subset))
        body = agg["subsets"][subset]
        for key in ("map", "map_50", "map_75"):  # as aggregate.json says, with the interval
            value, interval = view.metric_text(key)
            lo, hi = body["intervals"][key]
            assert value == f"{body['metrics'][key]:.3f}" and interval == f"{lo:.3f}–{hi:.3f}"
        images = r.scores.subset(subset)
        core = at_operating_point(r.scores, r.op).counts(images)
        tp, fp, fn = count_cells(view)
        assert (tp, fp, fn) == (core["tp"], core["fp"], core["fn"]) and tp > 0 and fp > 0 and fn > 0
        for pc in core["per_class"]:
            assert count_cells(view, pc["name"]) == (pc["tp"], pc["fp"], pc["fn"])
        # the grid, showing this subset: its images' TP/FP/FN sum to the panel's
        page.images.apply(subset=subset, outcome="any", truth=None, predicted=None)
        rows = grid_rows(page)
        assert sorted(rows) == sorted(np.flatnonzero(images).tolist())
        assert (sum(r.image_tp[rows]), sum(r.image_fp[rows]), sum(r.image_fn[rows])) == (tp, fp, fn)
        # the matrix on screen: diagonal = TP; off-diagonal cells of the class columns = FP (a box of
        # that class where no such object is), of the class rows = FN (an object of that class missed)
        cm = np.asarray(view.confusion.counts)
        assert cm.shape == (3, 3) and view.confusion.names == ["rbc", "wbc", "background"]
        off = cm - np.diag(np.diag(cm))
        assert (np.trace(cm), off[:, :2].sum(), off[:2, :].sum()) == (tp, fp, fn)
        assert cm[-1, -1] == 0
        assert np.array_equal(cm, at_operating_point(r.scores, r.op).confusion_for(images))
        # every object is in exactly one row entry: row sums = objects per class (ignore boxes excluded)
        truth = [b for i in np.flatnonzero(images) for b in ev.gt[i] if not b.iscrowd]
        assert cm[:2].sum(axis=1).tolist() == [sum(b.cls == k for b in truth) for k in (0, 1)]
        assert int(view.count_text("All classes", "objects")) == len(truth)
        # the grid's captions say each image's numbers
        cap = page.images.model.data(page.images.model.index(0))
        row = rows[0]
        assert cap.startswith(f"TP {r.image_tp[row]} · FP {r.image_fp[row]}") and f"FN {r.image_fn[row]}" in cap
    # the experiment list's headline: test mAP
    head = page.experiments.model.index(page.experiments.model.row_of(ev.experiment.id), 5).data()
    assert head == f"test mAP {agg['subsets']['test']['metrics']['map']:.3f} " \
                   f"(@0.5 {agg['subsets']['test']['metrics']['map_50']:.3f})"


def test_threshold_slider_changes_counts_matrix_and_box_colours(qtbot, ctx, evaluation_page_factory, real_fixtures):
    from studio_desktop.core.evaluation.detection import at_operating_point
    from studio_desktop.core.evaluation.operating_point import OperatingPoint
    from studio_desktop.gui.pages.evaluation.detection_results import BOX_HEX, FP, TP

    ev, page = open_evaluated(qtbot, ctx, evaluation_page_factory, real_fixtures)
    view, r = page.view, page.results
    subset = view.current_subset()
    images = r.scores.subset(subset)
    # an image of the grid with a prediction scored between 0.1 and 0.5 (shown only once the threshold drops)
    low = (ev.det_scores > 0.1) & (ev.det_scores < 0.45)
    rows = grid_rows(page)
    target = next(i for i in rows if low[ev.det_image == i].any())
    page.images.grid.setCurrentIndex(page.images.model.index(rows.index(target)))
    detail = page.images.detail
    qtbot.waitUntil(lambda: detail.current is not None and bool(detail.box_items), timeout=5000)

    def drawn(detail):
        from studio_desktop.gui.widgets.overlays import ObjectRectItem

        boxes = [i for i in detail.box_items if isinstance(i, ObjectRectItem)]
        return sorted((i.pen().color().name(), i.pen().style() == Qt.PenStyle.DashLine) for i in boxes)

    before_boxes = drawn(detail)
    before = count_cells(view)
    expected_at = {t: at_operating_point(r.scores, OperatingPoint(task="object_detection", score_threshold=t))
                   for t in (0.5, 0.1)}
    assert before == tuple(expected_at[0.5].counts(images)[k] for k in ("tp", "fp", "fn"))
    matrix_before = np.asarray(view.confusion.counts).copy()

    view.editor.slider.setValue(100)  # drag to 0.10
    qtbot.waitUntil(lambda: count_cells(view) != before, timeout=3000)
    after = count_cells(view)
    want = expected_at[0.1].counts(images)
    assert after == (want["tp"], want["fp"], want["fn"])
    assert after[1] > before[1] and after[2] <= before[2]  # more false alarms, no more misses
    assert not np.array_equal(np.asarray(view.confusion.counts), matrix_before)
    assert abs(view.editor.threshold.value() - 0.1) < 1e-9 and r.op.score_threshold == pytest.approx(0.1)
    assert "not saved" in view.summary.text()
    # the detail follows: more solid (prediction) boxes, coloured by what they are now
    qtbot.waitUntil(lambda: drawn(detail) != before_boxes, timeout=3000)
    now = drawn(detail)
    solid = lambda boxes: [c for c, dashed in boxes if not dashed]  # noqa: E731
    assert len(solid(now)) > len(solid(before_boxes))
    n_tp = int(expected_at[0.1].det_tp[ev.det_image == target].sum())
    n_fp = int(expected_at[0.1].det_fp[ev.det_image == target].sum())
    assert solid(now).count(BOX_HEX[TP]) == n_tp and solid(now).count(BOX_HEX[FP]) == n_fp
    assert f"<b>{n_tp}</b> found" in detail.verdict.text()
    # the grid's border colours follow too: the grid reads the same per-image counts
    row = page.images.model.visible_row_of(target)
    cap = page.images.model.data(page.images.model.index(row))
    assert cap.startswith(f"TP {n_tp} · FP {n_fp}")


def test_confusion_cell_filters_the_grid_to_its_images(qtbot, ctx, evaluation_page_factory, real_fixtures):
    ev, page = open_evaluated(qtbot, ctx, evaluation_page_factory, real_fixtures)
    view, r = page.view, page.results
    subset = view.current_subset()
    o = r.outcome
    sub = r.scores.subset(subset)
    # (rbc, background): rbc objects missed -> the images with a missed rbc that no FP claimed
    qtbot.mouseClick(view.confusion, Qt.MouseButton.LeftButton, pos=view.confusion.cell_center(0, 2))
    assert view.confusion.selected == (0, 2)
    shown = set(grid_rows(page))
    paired = r.gt_pair >= 0
    lone = o.gt_fn & ~paired & (r.scores.gt_labels == 0)
    expected = {int(i) for i in r.scores.gt_image[lone] if sub[i]}
    assert shown == expected and shown
    assert page.images.truth.currentText() == "true: rbc"
    assert page.images.predicted.currentText() == "predicted: background (missed)"
    # the detail of such an image draws a red (missed) rbc
    page.images.grid.setCurrentIndex(page.images.model.index(0))
    qtbot.waitUntil(lambda: page.images.detail.current is not None, timeout=5000)
    assert any(b["text"] == "missed rbc" for b in page.images.detail.current["boxes"])
    # (background, wbc): false alarms of wbc on nothing
    qtbot.mouseClick(view.confusion, Qt.MouseButton.LeftButton, pos=view.confusion.cell_center(2, 1))
    fp_wbc = o.det_fp & (r.det_pair < 0) & (r.scores.det_labels == 1)
    assert set(grid_rows(page)) == {int(i) for i in r.scores.det_image[fp_wbc] if sub[i]}
    # the diagonal cell (rbc, rbc): every image with a found rbc
    qtbot.mouseClick(view.confusion, Qt.MouseButton.LeftButton, pos=view.confusion.cell_center(0, 0))
    found = o.det_tp & (r.scores.det_labels == 0)
    assert set(grid_rows(page)) == {int(i) for i in r.scores.det_image[found] if sub[i]}
    # a filter-bar change that leaves the cell drops its outline
    page.images.truth.setCurrentIndex(page.images.truth.findData(None))
    assert view.confusion.selected is None


def test_grid_filters_false_positives_missed_and_class(qtbot, ctx, evaluation_page_factory, real_fixtures):
    ev, page = open_evaluated(qtbot, ctx, evaluation_page_factory, real_fixtures)
    r = page.results
    images = page.images
    images.apply(subset=None, truth=None, predicted=None)
    outcome = images.outcome
    assert [outcome.itemData(i) for i in range(outcome.count())] == ["any", "fp", "fn", "errors", "perfect"]
    assert "false positive" in outcome.toolTip()
    outcome.setCurrentIndex(outcome.findData("fp"))
    assert set(grid_rows(page)) == {i for i in range(len(ev.ids)) if r.image_fp[i] > 0}
    outcome.setCurrentIndex(outcome.findData("fn"))
    assert set(grid_rows(page)) == {i for i in range(len(ev.ids)) if r.image_fn[i] > 0}
    outcome.setCurrentIndex(outcome.findData("any"))
    # a class: the images with a wbc object (from the fixture's ground truth itself)
    images.truth.setCurrentIndex(images.truth.findData(1))
    assert set(grid_rows(page)) == {i for i, g in enumerate(ev.gt) if any(b.cls == 1 and not b.iscrowd for b in g)}
    # sorted by errors, most first
    images.truth.setCurrentIndex(images.truth.findData(None))
    images.sort.setCurrentIndex(images.sort.findData("errors"))
    images.descending.setChecked(True)
    errs = [int(r.image_fp[i] + r.image_fn[i]) for i in grid_rows(page)]
    assert errs == sorted(errs, reverse=True)
    # the thumbnails draw the boxes: each image's size is known and its groups are TP, FP, FN
    w, h, groups = r.thumbnail_boxes(0)
    assert (w, h) == ev.sizes[0] and [len(b) for _c, b in groups] == [r.image_tp[0], r.image_fp[0], r.image_fn[0]]


def test_saving_the_operating_point_with_per_class_thresholds_nms_and_match_iou(qtbot, ctx, evaluation_page_factory,
                                                                              real_fixtures):
    from studio_desktop.core.evaluation.detection import at_operating_point

    ev, page = open_evaluated(qtbot, ctx, evaluation_page_factory, real_fixtures)
    view, r = page.view, page.results
    editor = view.editor
    images = r.scores.subset(view.current_subset())
    editor.threshold.setValue(0.05)
    assert r.op.score_threshold == pytest.approx(0.05)
    fp_without_nms = settle(qtbot, view)[1]
    editor.nms_on.setChecked(True)
    editor.nms.setValue(0.3)  # the low-score duplicates of the factory overlap their box: merged away
    assert r.op.nms_iou == pytest.approx(0.3)
    assert settle(qtbot, view)[1] < fp_without_nms
    editor.per_class.setChecked(True)
    assert editor.classes.isVisible()
    editor._spins[1].setValue(0.8)  # wbc needs 0.8
    editor.match.setValue(0.75)
    qtbot.waitUntil(lambda: r.op.match_iou == pytest.approx(0.75) and r.op.class_thresholds == {1: 0.8},
                    timeout=3000)
    assert editor.classes.isVisible()  # the table stays open
    core = at_operating_point(r.scores, r.op).counts(images)
    qtbot.waitUntil(lambda: count_cells(view) == (core["tp"], core["fp"], core["fn"]), timeout=3000)
    assert view.count_text("wbc", "threshold") == "0.80" and view.count_text("rbc", "threshold") == "0.05"
    assert editor.save_button.isEnabled()
    view.save_operating_point()
    path = page.controller.folder(ev.experiment.id) / "evaluation" / "operating_point.json"
    saved = json.loads(path.read_text())
    assert saved["task"] == "object_detection" and saved["score_threshold"] == pytest.approx(0.05)
    assert saved["class_thresholds"] == {"1": 0.8} and saved["nms_iou"] == pytest.approx(0.3)
    assert saved["match_iou"] == pytest.approx(0.75)
    assert not r.dirty and not editor.save_button.isEnabled() and "not saved" not in view.summary.text()
    # a new page opens at the saved operating point
    page2 = evaluation_page_factory()
    page2.experiments.select(ev.experiment.id)
    qtbot.waitUntil(lambda: page2.results is not None and page2.view.quick is not None, timeout=10000)
    assert page2.results.op.class_thresholds == {1: 0.8}
    assert count_cells(page2.view) == (core["tp"], core["fp"], core["fn"])
    assert page2.view.editor.per_class.isChecked() and page2.view.editor.nms_on.isChecked()


def test_goal_best_f1_chooses_the_threshold_on_validation(qtbot, ctx, evaluation_page_factory, real_fixtures):
    from studio_desktop.core.evaluation.detection import pr_curve

    ev, page = open_evaluated(qtbot, ctx, evaluation_page_factory, real_fixtures)
    view, r = page.view, page.results
    editor = view.editor
    assert editor.goal_subset.currentData() == "val"
    op = editor.choose_goal()
    curve = pr_curve(r.scores, r.scores.matching(None, 0.5), None, r.scores.subset("val"))
    best = float(curve["thresholds"][int(np.argmax(curve["f1"]))])
    assert op.score_threshold == pytest.approx(best)
    assert r.op.score_threshold == pytest.approx(best)
    settle(qtbot, view)
    assert "Chosen on the val images" in editor.goal_result.text() and r.dirty
    assert editor.threshold.value() == pytest.approx(round(best, 3), abs=1e-3)


def test_plots_and_report(qtbot, ctx, evaluation_page_factory, real_fixtures):
    ev, page = open_evaluated(qtbot, ctx, evaluation_page_factory, real_fixtures)
    view, r = page.view, page.results
    view.draw_all()
    ap, pr = view.plots["ap"], view.plots["pr"]
    assert [t for _x, t in ap.getAxis("bottom")._tickLevels[0]] == ["rbc", "wbc"]
    subset = view.current_subset()
    per = r.per_class_ap(subset)
    agg = r.subset_body(subset)["per_class"]
    assert [p["ap"] for p in per] == [a["ap"] for a in agg]
    # the PR dots sit on the curves at the threshold and move with it (the tab on screen)
    view.tabs.setCurrentIndex(view.tabs.indexOf(view._holders["pr"]))
    (dot, name), _ = pr._dots
    x0 = dot.data["x"][0]
    view.editor.slider.setValue(50)
    qtbot.waitUntil(lambda: dot.data["x"][0] != x0, timeout=3000)
    assert dot.data["x"][0] > x0  # a lower threshold: more recall
    with qtbot.waitSignal(page.reportWritten, timeout=60000) as sig:
        page.write_report(open_it=False)
    text = open(sig.args[0], encoding="utf-8").read()
    assert "mAP@0.5:0.95" in text and "Images with the most errors" in text and "confusion matrix" in text
    assert "score of at least 0.05" in text  # the operating point on screen
    assert text.count("data:image/png;base64") >= 5


def test_images_without_objects_or_predictions(ctx, real_fixtures):
    """An image with no object and no box is right (green); with boxes but no object, each box is a
    false alarm (amber, background row); the counts still add up."""
    from _detection_factory import import_rbc, make_experiment, perturb, write_evaluation

    from studio_desktop.core.experiments import ExperimentService
    from studio_desktop.gui.pages.evaluation.detection_results import FP
    from studio_desktop.gui.pages.evaluation.results import CORRECT, UNCERTAIN, ResultFilter, load_results

    ws = ctx.workspace
    project, records, subsets = import_rbc(ws, real_fixtures, limit=6)
    exp = make_experiment(ws, project)
    gts, det_image, det_boxes, det_scores, det_labels = perturb(records, 1)
    gts[0], gts[1] = [], []  # two images without objects
    keep = det_image != 0  # the first has no prediction either; the second keeps its boxes
    det_image, det_boxes, det_scores, det_labels = det_image[keep], det_boxes[keep], det_scores[keep], det_labels[keep]
    det_scores[det_image == 1] = 0.9
    folder = ExperimentService(ws, project.id).folder(exp.id)
    write_evaluation(folder, project, records, subsets, gts, det_image, det_boxes, det_scores, det_labels,
                     resamples=2)
    r = load_results(folder, "object_detection", project)
    n1 = int((det_image == 1).sum())
    assert (r.image_tp[0], r.image_fp[0], r.image_fn[0]) == (0, 0, 0) and r.status[0] == CORRECT
    assert r.caption(0) == "TP 0 · FP 0\nFN 0 missed" and r.describe_image(0)["boxes"] == []
    assert (r.image_tp[1], r.image_fp[1], r.image_fn[1]) == (0, n1, 0) and r.status[1] == UNCERTAIN
    assert [b["kind"] for b in r.describe_image(1)["boxes"]] == [FP] * n1
    assert 0 in r.visible(ResultFilter(outcome="perfect")) and 1 in r.visible(ResultFilter(outcome="fp"))
    cm = r.confusion(None)
    c = r.counts(None)
    assert cm[-1, :-1].sum() >= n1 and np.trace(cm) == c["tp"]
    assert 1 in r.visible(ResultFilter(truth=len(r.class_names)))  # the background row: false alarms on nothing


def test_keyboard_moves_the_threshold(qtbot, ctx, evaluation_page_factory, real_fixtures):
    ev, page = open_evaluated(qtbot, ctx, evaluation_page_factory, real_fixtures)
    view = page.view
    before = settle(qtbot, view)
    view.counts_table.setFocus()
    qtbot.keyClick(view.counts_table, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    assert page.results.op.score_threshold == pytest.approx(0.45)
    assert settle(qtbot, view) != before
    qtbot.keyClick(view.counts_table, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    assert page.results.op.score_threshold == pytest.approx(0.5) and settle(qtbot, view) == before


def test_dragging_back_to_the_saved_threshold_is_not_a_change(qtbot, ctx, evaluation_page_factory, real_fixtures):
    ev, page = open_evaluated(qtbot, ctx, evaluation_page_factory, real_fixtures)
    view, r = page.view, page.results
    assert not r.dirty and not view.editor.save_button.isEnabled()
    view.editor.slider.setValue(300)
    qtbot.waitUntil(lambda: r.dirty, timeout=3000)
    settle(qtbot, view)
    assert view.editor.save_button.isEnabled()
    view.editor.slider.setValue(500)  # back to the default 0.5
    qtbot.waitUntil(lambda: not r.dirty, timeout=3000)
    settle(qtbot, view)
    assert not view.editor.save_button.isEnabled() and "not saved" not in view.summary.text()


def test_names_of_many_boxes_wait_for_the_zoom(qtbot):
    """Five boxes are named at once; sixty of the same size only once zoomed in (or hovered)."""
    from PySide6.QtGui import QColor, QImage

    from studio_desktop.gui.pages.evaluation.detail import ResultDetail
    from studio_desktop.gui.widgets.overlays import CaptionItem

    detail = ResultDetail()
    qtbot.addWidget(detail)
    detail.resize(500, 500)
    detail.show()
    image = QImage(400, 400, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    detail.canvas.show_decoded(image, "", [], {})

    def named(n: int) -> int:
        boxes = [{"x1": (i % 8) * 40, "y1": (i // 8) * 40, "x2": 90 + (i % 8) * 40, "y2": 90 + (i // 8) * 40,
                  "color": "#2ca02c", "text": f"rbc 0.{i:02d}", "dashed": False} for i in range(n)]
        detail._draw_boxes({"boxes": boxes})
        return sum(1 for c in detail.box_items if isinstance(c, CaptionItem) and c.drawn)

    assert named(5) == 5
    assert named(60) == 0
    detail.canvas.zoom(8.0)  # zoomed in: the names are written again
    assert sum(1 for c in detail.box_items if isinstance(c, CaptionItem) and c.drawn) == 60


def test_padding_rows_in_the_cache_are_not_predictions(ctx, real_fixtures):
    """A detector's padding (class -1), even with a score, is no box: not counted, not drawn."""
    from _detection_factory import import_rbc, make_experiment, perturb, write_evaluation

    from studio_desktop.core.experiments import ExperimentService
    from studio_desktop.gui.pages.evaluation.results import load_results

    ws = ctx.workspace
    project, records, subsets = import_rbc(ws, real_fixtures, limit=4)
    exp = make_experiment(ws, project)
    gts, det_image, det_boxes, det_scores, det_labels = perturb(records, 2)
    folder = ExperimentService(ws, project.id).folder(exp.id)
    write_evaluation(folder, project, records, subsets, gts, det_image, det_boxes, det_scores, det_labels,
                     resamples=2)
    clean = load_results(folder, "object_detection", project).counts(None)
    padded = (np.r_[det_image, [0, 1]], np.r_[det_boxes, [[1, 1, 50, 50], [5, 5, 60, 60]]].astype(np.float32),
              np.r_[det_scores, [0.9, 0.8]].astype(np.float32), np.r_[det_labels, [-1, -1]])
    write_evaluation(folder, project, records, subsets, gts, *padded, resamples=2)
    r = load_results(folder, "object_detection", project)
    assert len(r.scores.det_scores) == len(det_scores)
    assert {k: r.counts(None)[k] for k in ("tp", "fp", "fn")} == {k: clean[k] for k in ("tp", "fp", "fn")}
