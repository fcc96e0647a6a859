"""Anomaly metrics: the numpy module (what the page recomputes) equals scikit-learn and AUPRO's definition; the
threshold from a false-positive-rate goal works on a validation set without defects (where a
best-F1 threshold is refused); the evaluator's torchmetrics values, result lines and cache agree;
ground-truth masks of the real MVTec fixture land on the map's grid."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from studio_desktop.core.evaluation import anomaly as an
from studio_desktop.core.evaluation.anomaly_pixels import aupro, pixel_auroc
from studio_desktop.core.evaluation.classification import GoalNotReachable
from studio_desktop.core.evaluation.operating_point import Goal, OperatingPoint
from studio_desktop.core.schemas import Anomaly, ImageRecord


def scored(n=300, seed=0, ties=True):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    s = rng.normal(size=n) + 1.2 * y
    return (np.round(s, 1) if ties else s), y


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_image_auroc_roc_and_ap_equal_sklearn(seed):
    s, y = scored(seed=seed)
    assert an.auroc(s, y) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    ours = an.roc_curve(s, y)
    np.testing.assert_allclose(ours["fpr"], fpr)
    np.testing.assert_allclose(ours["tpr"], tpr)
    np.testing.assert_allclose(ours["thresholds"][1:], thr[1:])
    assert an.pr_curve(s, y)["ap"] == pytest.approx(average_precision_score(y, s), abs=1e-12)
    assert an.auroc(s, np.zeros_like(y)) is None  # one kind only: undefined, not 0.5


def test_bootstrap_interval_contains_the_auroc():
    s, y = scored(seed=3)
    scores = an.AnomalyScores(image_ids=np.arange(len(s)).astype(str), subsets=np.array(["val"] * len(s)), score=s,
                              label=y.astype(np.int8), map=np.zeros((len(s), 2, 2), np.float16),
                              has_mask=np.zeros(len(s), bool), gt_mask=np.zeros((len(s), 2, 2), bool))
    body = an.subset_report(scores, "val", 0.5, resamples=200)
    low, high = body["intervals"]["image_auroc"]
    assert low < body["image_auroc"] < high and high - low < 0.2


def test_pixel_auroc_on_float16_maps_equals_sklearn_and_aupro_equals_the_definition():
    rng = np.random.default_rng(0)
    gt = np.zeros((12, 32, 32), bool)
    gt[:6, 4:12, 4:12] = True
    gt[:3, 20:24, 18:30] = True  # a second region on some images
    gt[7, 0:2, 0:2] = True  # a tiny region
    maps = (rng.normal(size=gt.shape) + 1.5 * gt).astype(np.float16)
    want = roc_auc_score(gt.ravel(), maps.astype(np.float32).ravel())
    assert pixel_auroc(maps, gt) == pytest.approx(want, abs=1e-12)
    assert pixel_auroc(maps.astype(np.float32), gt) == pytest.approx(want, abs=1e-12)  # the sorting path
    assert aupro(maps, gt) == pytest.approx(brute_force_aupro(maps.astype(np.float32), gt), abs=1e-6)
    assert aupro(maps, np.zeros_like(gt)) is None


def brute_force_aupro(maps, gt, limit=0.3):
    """MVTec AD's AUPRO the slow, obvious way: at every distinct value as threshold, each 8-connected
    region's covered share averaged, against the FPR over defect-free pixels; cut at ``limit`` with
    linear interpolation, area / limit. (Checked equal to anomalib 2.7's ``_AUPRO`` to 1e-9 while
    writing it; anomalib is not imported here: 8 s of the test budget.)"""
    from scipy import ndimage

    regions = []
    for m, g in zip(maps, gt, strict=True):
        lab, n = ndimage.label(g, structure=np.ones((3, 3), bool))
        regions += [m[lab == k] for k in range(1, n + 1)]
    normal = maps[~gt]
    fpr, pro = [0.0], [0.0]
    for t in np.unique(maps)[::-1]:
        fpr.append(float((normal >= t).mean()))
        pro.append(float(np.mean([(r >= t).mean() for r in regions])))
    fpr, pro = np.array(fpr), np.array(pro)
    i = int(np.flatnonzero(fpr <= limit)[-1])
    x, y = list(fpr[:i + 1]), list(pro[:i + 1])
    if fpr[i] < limit and i + 1 < len(fpr):
        x.append(limit)
        y.append(pro[i] + (pro[i + 1] - pro[i]) * (limit - fpr[i]) / (fpr[i + 1] - fpr[i]))
    return float(np.trapezoid(y, x) / x[-1])


def test_counts_at_a_threshold_follow_the_rule_and_the_counter_agrees():
    s, y = scored(n=2000, seed=4)
    counter = an.ThresholdCounter(s, y)
    for t in (-3.0, 0.0, 0.3, float(s[5]), 9.0):  # s[5]: a threshold exactly on a score counts it
        want = {"tp": int(((s >= t) & (y == 1)).sum()), "fp": int(((s >= t) & (y == 0)).sum()),
                "fn": int(((s < t) & (y == 1)).sum()), "tn": int(((s < t) & (y == 0)).sum())}
        assert an.counts(s, y, t) == want == counter.counts(t)


def normal_only_validation(seed=0):
    """Validation: 40 normal images only; test: normal and anomalous."""
    rng = np.random.default_rng(seed)
    val = rng.normal(0.0, 1.0, 40)
    test_s = np.r_[rng.normal(0.0, 1.0, 30), rng.normal(3.0, 1.0, 20)]
    s = np.r_[val, test_s]
    y = np.r_[np.zeros(40), np.zeros(30), np.ones(20)].astype(np.int8)
    subsets = np.array(["val"] * 40 + ["test"] * 50)
    n = len(s)
    return an.AnomalyScores(image_ids=np.array([f"i{i}" for i in range(n)]), subsets=subsets, score=s, label=y,
                            map=np.zeros((n, 4, 4), np.float16), has_mask=np.ones(n, bool),
                            gt_mask=np.zeros((n, 4, 4), bool))


@pytest.mark.parametrize("rate", [0.0, 0.05, 0.1, 0.25])
def test_threshold_from_an_fpr_goal_on_validation_without_defects(rate):
    scores = normal_only_validation()
    op = an.choose_operating_point(scores, Goal(kind="fpr", value=rate, subset="val"))
    assert op.task == "anomaly_detection" and op.rule == "threshold" and op.goal["kind"] == "fpr"
    val = scores.score[scores.subset("val")]
    flagged = int((val >= op.threshold).sum())
    assert flagged == int(np.floor(rate * len(val)))  # as many false alarms as allowed, not fewer
    assert op.achieved["fpr"] == pytest.approx(flagged / len(val))
    assert "recall" not in op.achieved  # no defects there: nothing to claim
    # the saved point survives a round trip with its raw (unbounded) threshold
    again = OperatingPoint.model_validate_json(op.model_dump_json())
    assert again.threshold == op.threshold and "at least" in again.describe()


def test_goals_that_need_defects_are_refused_clearly_on_normal_only_validation():
    scores = normal_only_validation()
    with pytest.raises(GoalNotReachable, match="false-positive-rate"):
        an.choose_operating_point(scores, Goal(kind="f1", subset="val"))
    with pytest.raises(GoalNotReachable, match="anomalous images"):
        an.choose_operating_point(scores, Goal(kind="recall", value=0.9, subset="val"))
    op = an.choose_operating_point(scores, Goal(kind="recall", value=0.9, subset="test"))
    test = scores.subset("test")
    found = (scores.score[test] >= op.threshold) & (scores.label[test] == 1)
    assert found.sum() == 18 and op.achieved["recall"] == pytest.approx(0.9)


def test_default_threshold_is_the_fpr_goal_on_normal_validation_images():
    scores = normal_only_validation(seed=2)
    thr, how = an.effective_threshold(scores, None)
    goal = an.choose_operating_point(scores, Goal(kind="fpr", value=0.05, subset="val"))
    assert thr == goal.threshold and "5%" in how
    saved = an.manual_operating_point(1.25)
    assert an.effective_threshold(scores, saved)[0] == 1.25
    # another task's saved point (e.g. left from a classification project) is not taken for ours
    assert an.effective_threshold(scores, OperatingPoint(rule="threshold", threshold=0.9))[0] == thr


def test_probability_threshold_still_bounded_for_classification():
    with pytest.raises(ValueError, match="between 0 and 1"):
        OperatingPoint(rule="threshold", positive_class=0, threshold=1.5)
    assert OperatingPoint(task="anomaly_detection", threshold=-7.5).threshold == -7.5


def records_for(labels, subsets):
    return [ImageRecord(id=f"{i:08x}", file=f"images/{i:08x}.png", width=40, height=30, sha256="0" * 64,
                        source=f"/d/{i}.png",
                        anomaly=Anomaly(status="anomalous" if y else "normal", defect="crack" if y else None))
            for i, y in enumerate(labels)]


def test_evaluator_writes_torchmetrics_values_equal_to_sklearn_and_lines_at_the_operating_point():
    from studio_desktop.ml.tasks.anomaly_eval import AnomalyEvaluation

    rng = np.random.default_rng(5)
    n, g = 24, 8
    labels = np.array([0] * 14 + [1] * 10)
    subsets = np.array(["val"] * 12 + ["test"] * 12)
    rng.shuffle(subsets)
    gt = np.zeros((n, g, g), bool)
    gt[labels == 1, 2:5, 3:6] = True
    maps = (rng.normal(size=(n, g, g)) + 2.0 * gt).astype(np.float16)
    score = maps.reshape(n, -1).max(axis=1).astype(np.float32)
    has_mask = np.ones(n, bool)
    has_mask[-1] = False  # an anomalous image without a mask: no pixel metrics for it
    logs = []
    head = SimpleNamespace(config=SimpleNamespace(input_size=32))
    op = an.manual_operating_point(2.0)
    res = AnomalyEvaluation(head).evaluate(records=records_for(labels, subsets), subsets=subsets, targets=list(labels),
                                           arrays={"score": score, "map": maps, "gt_mask": gt, "has_mask": has_mask},
                                           op=op, log=lambda m, level="info": logs.append((level, m)))
    assert not [m for lv, m in logs if lv == "warning"], logs  # torchmetrics == numpy
    for subset in ("val", "test"):
        rows = subsets == subset
        body = res.aggregate["subsets"][subset]
        assert body["image_auroc"] == pytest.approx(roc_auc_score(labels[rows], score[rows]), abs=1e-6)
        keep = rows & has_mask
        assert body["pixel_auroc"] == pytest.approx(
            roc_auc_score(gt[keep].ravel(), maps[keep].astype(np.float32).ravel()), abs=1e-6)
        flagged = score[rows] >= 2.0
        assert body["counts"]["tp"] == int((flagged & (labels[rows] == 1)).sum())
        assert body["image_f1"] == pytest.approx(an.rates(body["counts"])["f1"], abs=1e-6)
    assert res.aggregate["threshold"] == {"value": 2.0, "how": op.describe(), "default": False}
    assert [line["prediction"]["anomalous"] for line in res.lines] == list(score >= 2.0)
    assert res.lines[0]["truth"]["status"] == "normal" and res.lines[-1]["truth"]["defect"] == "crack"
    cache = an.AnomalyScores.from_npz(res.scores)
    assert cache.map.dtype == np.float16 and cache.gt_mask.shape == (n, g, g) and not cache.has_mask[-1]
    low, high = res.aggregate["display_range"]
    assert low < 2.0 < high and high >= np.percentile(score[labels == 1], 95) - 1e-6


def test_ground_truth_masks_of_the_real_fixture_land_on_the_map_grid(real_fixtures):
    from PIL import Image

    from studio_desktop.core.anomaly import mask_to_grid
    from studio_desktop.ml.tasks.anomaly_eval import ground_truth

    root = real_fixtures / "mvtec_hazelnut"
    mask_file = sorted((root / "ground_truth" / "colour").glob("*.png"))[0]
    image_file = root / "test" / "colour" / (mask_file.stem + ".jpg")
    with Image.open(image_file) as im:
        w, h = im.size
    with Image.open(mask_file) as m:
        full = np.asarray(m.convert("L")) > 0
    recs = [ImageRecord(id="a", file=str(image_file.relative_to(root)), width=w, height=h, sha256="0" * 64,
                        anomaly=Anomaly(status="anomalous", mask=str(mask_file.relative_to(root)))),
            ImageRecord(id="b", file="train/good/00.jpg", width=w, height=h, sha256="0" * 64,
                        anomaly=Anomaly(status="normal")),
            ImageRecord(id="c", file="test/colour/x.jpg", width=w, height=h, sha256="0" * 64,
                        anomaly=Anomaly(status="anomalous"))]
    gt, known = ground_truth(recs, root, 64, 256, "letterbox")
    assert known.tolist() == [True, True, False]
    assert not gt[1].any() and not gt[2].any()
    share = gt[0].mean()
    assert share == pytest.approx(full.mean(), abs=0.02)  # square image: same share of the area
    assert np.array_equal(gt[0], mask_to_grid(full, 64, input_size=256))
    bad = recs[0].model_copy(update={"width": w + 1})
    from studio_desktop.core.errors import InvalidInput

    with pytest.raises(InvalidInput, match="defect mask of .* is 512x512 pixels but the image is"):
        ground_truth([bad], root, 64, 256, "letterbox")


def test_a_real_evaluation_caches_the_masks_on_the_map_grid_and_writes_agreeing_numbers(tmp_path_factory):
    """The evaluator end to end (PatchCore on the anomaly sample, ``anomaly_fixtures``, built once a
    session and shared with the prediction and export tests): the head's batches carry the defect
    masks (pixel metrics exist), aggregate.json equals scikit-learn on the cache, and every line's
    verdict is the default threshold's."""
    import json

    from anomaly_fixtures import anomaly_parts

    from studio_desktop.core.evaluation.store import EvaluationStore

    parts = anomaly_parts(tmp_path_factory.getbasetemp() / "anomaly-parts")
    store = EvaluationStore(parts.svc.folder(parts.exp.id))
    cache = an.AnomalyScores.from_npz(store.scores_arrays())
    agg = store.aggregate()
    defects = cache.label == 1
    assert defects.any() and cache.has_mask[defects].any() and cache.gt_mask[defects].any()
    assert not cache.gt_mask[~defects].any() and cache.has_mask[~defects].all()
    assert cache.map.dtype == np.float16 and cache.map.shape[1:] == cache.gt_mask.shape[1:] == (64, 64)
    threshold, how = an.effective_threshold(cache, None)
    assert agg["threshold"] == {"value": threshold, "how": how, "default": True}
    assert agg["input"] == {"size": 64, "resize": "letterbox"}
    for subset, body in agg["subsets"].items():
        rows = cache.subset(subset)
        if 0 < cache.label[rows].sum() < rows.sum():
            assert body["image_auroc"] == pytest.approx(roc_auc_score(cache.label[rows], cache.score[rows]), abs=1e-6)
        keep = rows & cache.has_mask
        if cache.gt_mask[keep].any():
            assert body["pixel_auroc"] == pytest.approx(roc_auc_score(
                cache.gt_mask[keep].ravel(), cache.map[keep].astype(np.float32).ravel()), abs=1e-6)
            assert 0.0 <= body["aupro"] <= 1.0
    lines = [json.loads(x) for x in (store.folder / "results.jsonl").read_text().splitlines()]
    assert [ln["prediction"]["anomalous"] for ln in lines] == (cache.score >= threshold).tolist()
