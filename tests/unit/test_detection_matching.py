"""Detection matching, NMS, counts and the confusion matrix from the cache (core/evaluation/detection.py).

Hand-made cases whose answer is known, a reference implementation written as plainly as possible
(one image, one prediction at a time) that the vectorised code must agree with on random data, and
the slider's speed."""

from __future__ import annotations

import time

import numpy as np
import pytest

from studio_desktop.core.evaluation import detection as det
from studio_desktop.core.evaluation.classification import GoalNotReachable
from studio_desktop.core.evaluation.operating_point import Goal, OperatingPoint


def make(images, dets, gts, classes=2, subsets=None) -> det.DetectionScores:
    """dets: (image, x1, y1, x2, y2, score, label); gts: (image, x1, y1, x2, y2, label[, ignore])."""
    d = np.asarray(dets, dtype=np.float64).reshape(-1, 7)
    g = np.asarray([(*t, 0) if len(t) == 6 else t for t in gts], dtype=np.float64).reshape(-1, 7)
    return det.DetectionScores(subsets=np.asarray(subsets or ["test"] * images), det_image=d[:, 0].astype(int),
                               det_boxes=d[:, 1:5], det_scores=d[:, 5], det_labels=d[:, 6].astype(int),
                               gt_image=g[:, 0].astype(int), gt_boxes=g[:, 1:5], gt_labels=g[:, 5].astype(int),
                               gt_ignore=g[:, 6].astype(bool), class_ids=[10 + k for k in range(classes)],
                               class_names=[f"c{k}" for k in range(classes)])


def op(**kw) -> OperatingPoint:
    return OperatingPoint(task="object_detection", **kw)


def test_iou_of_known_boxes():
    iou = det.box_iou([[0, 0, 10, 10]], [[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 5, 5]])
    np.testing.assert_allclose(iou[0], [1.0, 50 / 150, 0.0, 0.25])


def test_a_hit_a_miss_and_a_false_alarm():
    s = make(1, [(0, 0, 0, 10, 10, 0.9, 0), (0, 50, 50, 60, 60, 0.8, 0)],
             [(0, 1, 0, 11, 10, 0), (0, 100, 100, 120, 120, 1)])
    out = det.at_operating_point(s, op(score_threshold=0.5))
    assert out.det_tp.tolist() == [True, False] and out.det_fp.tolist() == [False, True]
    assert out.gt_tp.tolist() == [True, False] and out.gt_fn.tolist() == [False, True]
    assert (out.image_tp[0], out.image_fp[0], out.image_fn[0]) == (1, 1, 1)
    c = out.counts()
    assert (c["tp"], c["fp"], c["fn"]) == (1, 1, 1)
    assert c["precision"] == 0.5 and c["recall"] == 0.5
    assert c["per_class"][1] == {"class_id": 11, "name": "c1", "tp": 0, "fp": 0, "fn": 1, "precision": None,
                                 "recall": 0.0, "f1": 0.0, "threshold": 0.5}


def test_the_threshold_drops_low_scores_and_their_hits_become_misses():
    s = make(1, [(0, 0, 0, 10, 10, 0.9, 0), (0, 20, 0, 30, 10, 0.3, 0)],
             [(0, 0, 0, 10, 10, 0), (0, 20, 0, 30, 10, 0)])
    low = det.at_operating_point(s, op(score_threshold=0.2)).counts()
    high = det.at_operating_point(s, op(score_threshold=0.5)).counts()
    assert (low["tp"], low["fp"], low["fn"]) == (2, 0, 0)
    assert (high["tp"], high["fp"], high["fn"]) == (1, 0, 1)


def test_greedy_by_score_the_best_prediction_takes_the_box_the_duplicate_is_a_false_positive():
    # both overlap the one box; the lower-scoring one matches it better but comes second
    s = make(1, [(0, 0, 0, 10, 12, 0.9, 0), (0, 0, 0, 10, 10, 0.6, 0)], [(0, 0, 0, 10, 10, 0)])
    out = det.at_operating_point(s, op(score_threshold=0.1))
    assert out.matching.det_gt.tolist() == [0, -1]
    assert out.det_fp.tolist() == [False, True]


def test_a_prediction_takes_the_box_it_overlaps_most():
    s = make(1, [(0, 0, 0, 10, 10, 0.9, 0)], [(0, 2, 0, 12, 10, 0), (0, 0, 0, 10, 10, 0)])
    assert det.at_operating_point(s, op(score_threshold=0.1)).matching.det_gt.tolist() == [1]


def test_a_prediction_of_another_class_is_no_hit():
    s = make(1, [(0, 0, 0, 10, 10, 0.9, 1)], [(0, 0, 0, 10, 10, 0)])
    c = det.at_operating_point(s, op(score_threshold=0.1)).counts()
    assert (c["tp"], c["fp"], c["fn"]) == (0, 1, 1)


def test_match_iou_decides_what_counts_as_found():
    s = make(1, [(0, 0, 0, 10, 10, 0.9, 0)], [(0, 3, 0, 13, 10, 0)])  # IoU 70/130 = 0.54
    assert det.at_operating_point(s, op(score_threshold=0.1)).counts()["tp"] == 1
    assert det.at_operating_point(s, op(score_threshold=0.1, match_iou=0.6)).counts()["tp"] == 0


def test_ignore_boxes_are_neither_hits_nor_misses():
    # box 0 difficult (ignore); a prediction on it is not a FP; nobody finds it and it is no FN
    s = make(1, [(0, 0, 0, 10, 10, 0.9, 0), (0, 40, 40, 50, 50, 0.8, 0)],
             [(0, 0, 0, 10, 10, 0, 1), (0, 40, 40, 50, 50, 0, 1), (0, 80, 80, 90, 90, 0, 1)])
    out = det.at_operating_point(s, op(score_threshold=0.1))
    c = out.counts()
    assert (c["tp"], c["fp"], c["fn"]) == (0, 0, 0)
    assert out.matching.det_ignored.tolist() == [True, True]
    assert c["precision"] is None and c["recall"] is None


def test_an_ordinary_box_is_preferred_to_an_ignore_box_and_a_crowd_box_takes_many():
    # the prediction overlaps an ignore box better than the ordinary box, COCO still takes the ordinary one
    s = make(1, [(0, 0, 0, 10, 10, 0.9, 0), (0, 0, 0, 10, 10, 0.8, 0), (0, 1, 0, 11, 10, 0.7, 0)],
             [(0, 0, 0, 10, 10, 0, 1), (0, 1, 0, 11, 10, 0)])
    out = det.at_operating_point(s, op(score_threshold=0.1))
    assert out.matching.det_gt.tolist() == [1, 0, 0]
    assert out.det_tp.tolist() == [True, False, False]
    assert out.matching.det_ignored.tolist() == [False, True, True]


def test_a_crowd_box_uses_the_prediction_area():
    # a small prediction inside a large crowd region: IoU 0.01, crowd overlap 1 -> ignored, not a FP
    s = make(1, [(0, 0, 0, 10, 10, 0.9, 0)], [(0, 0, 0, 100, 100, 0, 1)])
    out = det.at_operating_point(s, op(score_threshold=0.1))
    assert out.matching.det_ignored.tolist() == [True] and not out.det_fp.any()


def test_an_image_without_ground_truth_and_one_without_predictions():
    s = make(3, [(0, 0, 0, 10, 10, 0.9, 0), (0, 20, 20, 30, 30, 0.7, 1)],
             [(1, 0, 0, 10, 10, 0), (2, 5, 5, 15, 15, 1)])
    out = det.at_operating_point(s, op(score_threshold=0.5))
    assert out.image_fp.tolist() == [2, 0, 0]
    assert out.image_fn.tolist() == [0, 1, 1]
    assert out.image_tp.tolist() == [0, 0, 0]
    c = out.counts(np.array([False, True, False]))
    assert (c["tp"], c["fp"], c["fn"], c["precision"], c["recall"]) == (0, 0, 1, None, 0.0)


def test_nothing_at_all():
    s = make(2, [], [])
    out = det.at_operating_point(s, None)
    assert out.counts()["tp"] == 0 and out.confusion.shape == (3, 3) and out.confusion.sum() == 0
    assert len(det.pr_curve(s, out.matching, 0)["precision"]) == 0


def test_nms_keeps_the_best_of_overlapping_boxes_of_a_class_only():
    s = make(1, [(0, 0, 0, 10, 10, 0.9, 0), (0, 1, 0, 11, 10, 0.8, 0),  # IoU 0.82 with the first
                 (0, 1, 0, 11, 10, 0.7, 1),  # same place, other class: kept
                 (0, 2, 0, 12, 10, 0.6, 0)],  # IoU 0.67 with the first, 0.82 with the suppressed second
             [(0, 0, 0, 10, 10, 0)])
    assert det.nms(s, None).all()
    assert det.nms(s, 0.9).tolist() == [True, True, True, True]
    assert det.nms(s, 0.75).tolist() == [True, False, True, True]  # greedy: the 2nd, suppressed, cannot suppress
    assert det.nms(s, 0.5).tolist() == [True, False, True, False]
    out = det.at_operating_point(s, op(score_threshold=0.1, nms_iou=0.5))
    assert (out.counts()["tp"], out.counts()["fp"]) == (1, 1)
    assert out.shown.tolist() == [True, False, True, False]


def test_nms_matches_a_plain_greedy_loop_on_random_boxes():
    s = random_scores(np.random.default_rng(3), images=30, per_image=25, classes=2, spread=8.0)
    for iou in (0.3, 0.5, 0.7):
        assert det.nms(s, iou).tolist() == reference_nms(s, iou).tolist()


def test_per_class_thresholds():
    s = make(1, [(0, 0, 0, 10, 10, 0.4, 0), (0, 20, 0, 30, 10, 0.4, 1)],
             [(0, 0, 0, 10, 10, 0), (0, 20, 0, 30, 10, 1)])
    out = det.at_operating_point(s, op(score_threshold=0.5, class_thresholds={10: 0.3}))
    assert out.thresholds.tolist() == [0.3, 0.5]
    c = out.counts()
    assert [(k["tp"], k["fn"]) for k in c["per_class"]] == [(1, 0), (0, 1)]
    assert "'c0' 0.3" in op(score_threshold=0.5, class_thresholds={10: 0.3}).describe({10: "c0"})


def test_confusion_matrix_background_row_and_column():
    s = make(2, [(0, 0, 0, 10, 10, 0.9, 0),  # TP c0
                 (0, 20, 0, 30, 10, 0.8, 1),  # on a c0 box: confusion (true c0, predicted c1)
                 (0, 50, 50, 60, 60, 0.7, 1),  # on nothing: background row
                 (1, 0, 0, 10, 10, 0.2, 0)],  # below the threshold: its box is a miss
             [(0, 0, 0, 10, 10, 0), (0, 20, 0, 30, 10, 0), (0, 80, 80, 90, 90, 1), (1, 0, 0, 10, 10, 0)])
    out = det.at_operating_point(s, op(score_threshold=0.5))
    bg = 2
    expected = np.zeros((3, 3), dtype=int)
    expected[0, 0] = 1  # TP
    expected[0, 1] = 1  # c0 taken for c1
    expected[bg, 1] = 1  # a c1 where nothing is
    expected[1, bg] = 1  # a c1 nobody found
    expected[0, bg] = 1  # image 1's c0, its prediction under the threshold
    np.testing.assert_array_equal(out.confusion, expected)
    c = out.counts()
    # rows: TP + FN of each class; columns: TP + FP; the diagonal: TP
    assert out.confusion.sum(axis=1)[:bg].tolist() == [k["tp"] + k["fn"] for k in c["per_class"]]
    assert out.confusion.sum(axis=0)[:bg].tolist() == [k["tp"] + k["fp"] for k in c["per_class"]]
    np.testing.assert_array_equal(out.confusion_for(np.array([False, True])), [[0, 0, 1], [0, 0, 0], [0, 0, 0]])
    low = det.at_operating_point(s, op(score_threshold=0.1))
    assert low.confusion[0, 0] == 2 and low.confusion[0, bg] == 0


def test_one_miss_is_confused_at_most_once():
    s = make(1, [(0, 0, 0, 10, 10, 0.9, 1), (0, 0, 0, 10, 11, 0.8, 1)], [(0, 0, 0, 10, 10, 0)])
    out = det.at_operating_point(s, op(score_threshold=0.1))
    np.testing.assert_array_equal(out.confusion, [[0, 1, 0], [0, 0, 0], [0, 1, 0]])


def test_everything_agrees_with_a_plain_reference_on_random_data():
    rng = np.random.default_rng(7)
    s = random_scores(rng, images=60, per_image=20, classes=3, spread=6.0)
    for nms_iou, match_iou, thr in ((None, 0.5, 0.3), (0.6, 0.5, 0.5), (None, 0.75, 0.1), (0.4, 0.3, 0.7)):
        out = det.at_operating_point(s, op(score_threshold=thr, nms_iou=nms_iou, match_iou=match_iou))
        tp, fp, fn, cm = reference(s, thr, nms_iou, match_iou)
        assert out.det_tp.tolist() == tp.tolist()
        assert out.det_fp.tolist() == fp.tolist()
        assert out.gt_fn.tolist() == fn.tolist()
        np.testing.assert_array_equal(out.confusion, cm)


def test_pr_curve_and_goals():
    # class 0: scores 0.9 TP, 0.8 FP, 0.7 TP, 0.6 FP; 3 boxes
    s = make(2, [(0, 0, 0, 10, 10, 0.9, 0), (0, 50, 50, 60, 60, 0.8, 0), (0, 20, 0, 30, 10, 0.7, 0),
                 (1, 50, 50, 60, 60, 0.6, 0)],
             [(0, 0, 0, 10, 10, 0), (0, 20, 0, 30, 10, 0), (1, 0, 0, 10, 10, 0)], subsets=["val", "val"])
    m = s.matching()
    curve = det.pr_curve(s, m, 0)
    np.testing.assert_allclose(curve["thresholds"], [0.9, 0.8, 0.7, 0.6])
    np.testing.assert_allclose(curve["precision"], [1, 0.5, 2 / 3, 0.5])
    np.testing.assert_allclose(curve["recall"], [1 / 3, 1 / 3, 2 / 3, 2 / 3])
    best = det.choose_operating_point(s, Goal(kind="f1"))
    assert best.score_threshold == pytest.approx(0.7) and best.task == "object_detection"
    assert best.achieved["f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert det.choose_operating_point(s, Goal(kind="precision", value=0.9)).score_threshold == pytest.approx(0.9)
    assert det.choose_operating_point(s, Goal(kind="recall", value=0.5)).score_threshold == pytest.approx(0.7)
    with pytest.raises(GoalNotReachable, match="recall 0.9"):
        det.choose_operating_point(s, Goal(kind="recall", value=0.9))
    with pytest.raises(GoalNotReachable, match="no 'test' images"):
        det.choose_operating_point(s, Goal(kind="f1", subset="test"))
    one = det.choose_operating_point(s, Goal(kind="precision", value=0.6, class_id=10), op(nms_iou=0.5))
    assert one.class_thresholds == {10: pytest.approx(0.7)} and one.nms_iou == 0.5
    # the chosen point reproduces what it says it achieved
    c = det.at_operating_point(s, best).counts()
    assert c["f1"] == pytest.approx(best.achieved["f1"])


def test_scores_round_trip_through_npz(tmp_path):
    s = random_scores(np.random.default_rng(1), images=5, per_image=4, classes=2, spread=5.0)
    np.savez_compressed(tmp_path / "scores.npz", **s.as_npz())
    back = det.DetectionScores.from_npz(np.load(tmp_path / "scores.npz"))
    assert back.class_ids == s.class_ids and back.class_names == s.class_names
    np.testing.assert_allclose(back.det_boxes, s.det_boxes, rtol=1e-6)
    a = det.at_operating_point(s, None).counts()
    b = det.at_operating_point(back, None).counts()
    assert (a["tp"], a["fp"], a["fn"]) == (b["tp"], b["fp"], b["fn"])


def test_operating_point_json_keeps_detection_fields(tmp_path):
    from studio_desktop.core.evaluation.operating_point import load_operating_point, save_operating_point

    p = op(score_threshold=0.4, class_thresholds={3: 0.7}, nms_iou=0.6, match_iou=0.5)
    save_operating_point(tmp_path, p)
    back = load_operating_point(tmp_path)
    assert back.class_thresholds == {3: 0.7} and back.nms_iou == 0.6 and not back.is_default
    assert op().is_default and OperatingPoint().is_default
    assert "at least 0.4" in back.describe() and "IoU 0.6" in back.describe()


def test_a_threshold_move_on_1000_images_of_100_predictions_is_under_50_ms():
    s = random_scores(np.random.default_rng(0), images=1000, per_image=100, classes=5, spread=5.0, gt_per_image=10)
    det.at_operating_point(s, None)  # matching once (NMS / match IoU change)
    times = []
    for thr in (0.2, 0.4, 0.6, 0.8, 0.3):
        t = time.perf_counter()
        out = det.at_operating_point(s, None, thresholds=thr)
        out.counts()
        times.append(time.perf_counter() - t)
    assert min(times) < 0.05, times


# ---------------------------------------------------------------------------------------- references
def random_scores(rng, *, images, per_image, classes, spread, gt_per_image=5) -> det.DetectionScores:
    gt_image = np.repeat(np.arange(images), rng.integers(0, gt_per_image + 1, images))
    g = len(gt_image)
    xy = rng.uniform(0, 200, (g, 2))
    gt_boxes = np.c_[xy, xy + rng.uniform(8, 60, (g, 2))]
    gt_labels = rng.integers(0, classes, g)
    det_image = np.repeat(np.arange(images), rng.integers(0, per_image + 1, images))
    p = len(det_image)
    near = rng.random(p) < 0.7
    src = np.zeros(p, dtype=int)
    boxes = np.zeros((p, 4))
    labels = rng.integers(0, classes, p)
    for i in range(p):  # most predictions near a box of their image, some anywhere
        own = np.flatnonzero(gt_image == det_image[i])
        if near[i] and len(own):
            src[i] = rng.choice(own)
            boxes[i] = gt_boxes[src[i]] + rng.normal(0, spread, 4)
            labels[i] = gt_labels[src[i]] if rng.random() < 0.8 else labels[i]
        else:
            xy = rng.uniform(0, 200, 2)
            boxes[i] = np.r_[xy, xy + rng.uniform(8, 60, 2)]
    boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
    return det.DetectionScores(subsets=np.array(["test"] * images), det_image=det_image, det_boxes=boxes,
                               det_scores=np.round(rng.random(p), 3), det_labels=labels, gt_image=gt_image,
                               gt_boxes=gt_boxes, gt_labels=gt_labels, gt_ignore=rng.random(g) < 0.1,
                               class_ids=list(range(classes)), class_names=[f"c{k}" for k in range(classes)])


def _iou(a, b, crowd=False):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    union = area_a if crowd else area_a + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _by_score(s, idx):
    return sorted(idx, key=lambda i: (-s.det_scores[i], i))


def reference_nms(s, iou):
    keep = np.ones(len(s.det_scores), dtype=bool)
    for img in range(len(s)):
        kept = []
        for i in _by_score(s, np.flatnonzero(s.det_image == img)):
            if any(s.det_labels[k] == s.det_labels[i] and _iou(s.det_boxes[k], s.det_boxes[i]) > iou for k in kept):
                keep[i] = False
            else:
                kept.append(i)
    return keep


def reference(s, thr, nms_iou, match_iou):
    """One image, one prediction at a time, as COCOeval's evaluateImg and the agreed confusion rule."""
    c = s.num_classes
    keep = reference_nms(s, nms_iou) if nms_iou is not None else np.ones(len(s.det_scores), dtype=bool)
    tp = np.zeros(len(s.det_scores), dtype=bool)
    fp = np.zeros(len(s.det_scores), dtype=bool)
    fn = np.zeros(len(s.gt_labels), dtype=bool)
    cm = np.zeros((c + 1, c + 1), dtype=int)
    for img in range(len(s)):
        gts = np.flatnonzero(s.gt_image == img)
        shown = [i for i in _by_score(s, np.flatnonzero(s.det_image == img)) if keep[i] and s.det_scores[i] >= thr]
        taken = set()
        left_fp = []
        for i in shown:
            best, best_v = -1, -1.0
            for gi in gts:
                if s.gt_labels[gi] != s.det_labels[i] or (gi in taken and not s.gt_ignore[gi]):
                    continue
                v = _iou(s.det_boxes[i], s.gt_boxes[gi], crowd=s.gt_ignore[gi])
                if v < match_iou:
                    continue
                v += 0.0 if s.gt_ignore[gi] else 2.0
                if v > best_v:
                    best, best_v = gi, v
            if best < 0:
                fp[i] = True
                left_fp.append(i)
            elif not s.gt_ignore[best]:
                tp[i] = True
                taken.add(best)
                cm[s.det_labels[i], s.det_labels[i]] += 1
        left_fn = [gi for gi in gts if not s.gt_ignore[gi] and gi not in taken]
        fn[left_fn] = True
        used = set()
        for i in left_fp:
            best, best_v = -1, -1.0
            for gi in left_fn:
                if gi in used or s.gt_labels[gi] == s.det_labels[i]:
                    continue
                v = _iou(s.det_boxes[i], s.gt_boxes[gi])
                if v >= match_iou and v > best_v:
                    best, best_v = gi, v
            if best >= 0:
                used.add(best)
                cm[s.gt_labels[best], s.det_labels[i]] += 1
            else:
                cm[c, s.det_labels[i]] += 1
        for gi in left_fn:
            if gi not in used:
                cm[s.gt_labels[gi], c] += 1
    return tp, fp, fn, cm


def test_bootstrap_weights_equal_duplicated_images_and_intervals_hold_the_estimate():
    from studio_desktop.core.evaluation import detection_map as dmap

    rng = np.random.default_rng(4)
    s = random_scores(rng, images=40, per_image=15, classes=2, spread=4.0)
    s.det_scores = rng.random(len(s.det_scores))  # no ties across images
    # images 3 and 7 twice, image 5 left out: as a resample would draw them
    picks = [i for i in range(len(s)) if i != 5] + [3, 7]
    det_rows = [np.flatnonzero(s.det_image == i) for i in picks]
    gt_rows = [np.flatnonzero(s.gt_image == i) for i in picks]
    dup = det.DetectionScores(
        subsets=np.array(["test"] * len(picks)),
        det_image=np.concatenate([np.full(len(r), j) for j, r in enumerate(det_rows)]),
        det_boxes=np.concatenate([s.det_boxes[r] for r in det_rows]),
        det_scores=np.concatenate([s.det_scores[r] for r in det_rows]),
        det_labels=np.concatenate([s.det_labels[r] for r in det_rows]),
        gt_image=np.concatenate([np.full(len(r), j) for j, r in enumerate(gt_rows)]),
        gt_boxes=np.concatenate([s.gt_boxes[r] for r in gt_rows]), gt_labels=np.concatenate([s.gt_labels[r] for r in gt_rows]),
        gt_ignore=np.concatenate([s.gt_ignore[r] for r in gt_rows]), class_ids=s.class_ids, class_names=s.class_names)
    expected = dmap.coco_map(dup)
    weights = np.ones((1, len(s)))
    weights[0, [3, 7]], weights[0, 5] = 2, 0
    ranked = dmap._ranked(s, s.subset(None))
    got = dmap._summarise({key: r.ap(weights) for key, r in ranked.items()}, s.num_classes)
    for key in ("map", "map_50", "map_75"):
        assert got[key][0] == pytest.approx(expected[key], abs=1e-12)
    point = dmap.coco_map(s)
    iv = dmap.map_intervals(s, resamples=300)
    assert iv["resamples"] == 300
    for key in ("map", "map_50", "map_75"):
        assert iv[key][0] <= point[key] <= iv[key][1] and iv[key][1] - iv[key][0] > 0.005
