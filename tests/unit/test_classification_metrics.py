"""The numpy classification metrics (what the Evaluation page shows) equal scikit-learn's.

Fixed predictions with the awkward cases: a class that is never predicted, a class absent from
the subset, ties in the scores, and an "uncertain" cut-off that leaves images out.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from studio_desktop.core.evaluation.classification import (
    Scores,
    binary_curves,
    calibration,
    choose_operating_point,
    decisions,
    fit_temperature,
    subset_report,
    top_k_accuracy,
)
from studio_desktop.core.evaluation.operating_point import Goal, OperatingPoint, decide, softmax


def _scores(truth, logits, subsets=None) -> Scores:
    truth = np.asarray(truth)
    logits = np.asarray(logits, dtype=np.float32)
    n, c = logits.shape
    return Scores(image_ids=np.array([f"im{i}" for i in range(n)]),
                  subsets=np.array(subsets or ["test"] * n), truth=truth, logits=logits,
                  class_ids=[10 * (i + 1) for i in range(c)], class_names=[f"c{i}" for i in range(c)])


@pytest.fixture
def awkward() -> Scores:
    """4 classes: class 2 never predicted, class 3 absent from truth and predictions."""
    rng = np.random.default_rng(3)
    truth = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2, 0, 1, 0])
    logits = rng.normal(size=(12, 4)).astype(np.float32)
    logits[:, 3] -= 10  # never the argmax
    pred = np.array([0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1, 1])  # no 2, no 3
    logits[np.arange(12), pred] += 6
    return _scores(truth, logits)


def test_counts_and_averages_equal_sklearn(awkward):
    rep = subset_report(awkward, decisions(awkward, None), "test", resamples=0)
    y, p = awkward.truth, awkward.logits.argmax(1)
    m = rep.metrics
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, p))
    for avg in ("macro", "weighted"):
        pr, rc, f1, _ = skm.precision_recall_fscore_support(y, p, average=avg, zero_division=0)
        assert m[f"precision_{avg}"] == pytest.approx(pr)
        assert m[f"recall_{avg}"] == pytest.approx(rc)
        assert m[f"f1_{avg}"] == pytest.approx(f1)
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, p))
    pr, rc, f1, sup = skm.precision_recall_fscore_support(y, p, labels=[0, 1, 2, 3], zero_division=0)
    for i, row in enumerate(rep.per_class):
        assert (row["precision"], row["recall"], row["f1"], row["support"]) == pytest.approx(
            (pr[i], rc[i], f1[i], sup[i]))
    assert rep.confusion == skm.confusion_matrix(y, p, labels=[0, 1, 2, 3]).tolist()
    # class 2 occurs (in the truth) and counts in the macro average with precision 0; class 3 does not
    assert rep.per_class[2]["predicted"] == 0 and rep.per_class[3]["support"] == 0


def test_curves_auc_and_average_precision_equal_sklearn(awkward):
    probs = softmax(awkward.logits)
    for k in range(3):
        cur = binary_curves(awkward.truth == k, probs[:, k])
        assert cur["auc"] == pytest.approx(skm.roc_auc_score(awkward.truth == k, probs[:, k]))
        assert cur["ap"] == pytest.approx(skm.average_precision_score(awkward.truth == k, probs[:, k]))
    absent = binary_curves(awkward.truth == 3, probs[:, 3])
    assert absent["auc"] is None and "no image" in absent["why"]


def test_ties_share_a_threshold():
    y = np.array([1, 0, 1, 0, 1, 0])
    s = np.array([0.5, 0.5, 0.9, 0.1, 0.5, 0.5])
    cur = binary_curves(y.astype(bool), s)
    assert cur["auc"] == pytest.approx(skm.roc_auc_score(y, s))
    assert cur["ap"] == pytest.approx(skm.average_precision_score(y, s))


def test_top_k_and_calibration():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(200, 8))
    truth = rng.integers(0, 8, 200)
    probs = softmax(logits)
    assert top_k_accuracy(probs, truth, 5) == pytest.approx(
        skm.top_k_accuracy_score(truth, probs, k=5, labels=list(range(8))))
    cal = calibration(probs, truth, bins=10)
    # expected calibration error by hand: |accuracy - confidence| per bin, weighted by bin size
    conf, right = probs.max(1), probs.argmax(1) == truth
    edges = np.linspace(0, 1, 11)
    ece = sum(abs(right[(conf >= lo) & (conf < hi)].mean() - conf[(conf >= lo) & (conf < hi)].mean())
              * ((conf >= lo) & (conf < hi)).sum() / 200
              for lo, hi in zip(edges[:-1], edges[1:], strict=True) if ((conf >= lo) & (conf < hi)).any())
    assert cal["ece"] == pytest.approx(ece)
    assert sum(b["count"] for b in cal["bins"]) == 200


def test_intervals_contain_the_estimate_and_narrow_with_more_images():
    rng = np.random.default_rng(1)

    def report(n):
        truth = rng.integers(0, 2, n)
        logits = np.zeros((n, 2))
        right = rng.random(n) < 0.9
        logits[np.arange(n), np.where(right, truth, 1 - truth)] = 3
        sc = _scores(truth, logits)
        return subset_report(sc, decisions(sc, None), "test", resamples=500)

    small, large = report(30), report(3000)
    for rep in (small, large):
        lo, hi = rep.intervals["accuracy"]
        assert lo <= rep.metrics["accuracy"] <= hi
    width = lambda r: r.intervals["accuracy"][1] - r.intervals["accuracy"][0]  # noqa: E731
    assert width(small) > 4 * width(large)
    assert width(small) > 0.1  # 30 images cannot tell 93 % from 97 %


def test_uncertain_images_are_left_out_of_the_counts(awkward):
    op = OperatingPoint(uncertain_below=0.9)
    dec = decisions(awkward, op)
    rep = subset_report(awkward, dec, "test", resamples=0)
    assert rep.flagged == int(dec.uncertain.sum()) > 0
    assert rep.counted + rep.flagged == 12
    kept = ~dec.uncertain
    assert rep.metrics["accuracy"] == pytest.approx(skm.accuracy_score(awkward.truth[kept], dec.pred[kept]))


def test_threshold_rule_for_two_and_for_more_classes():
    logits = np.log(np.array([[0.7, 0.3], [0.4, 0.6], [0.2, 0.8]]))
    op = OperatingPoint(rule="threshold", positive_class=20, threshold=0.7)
    pred, _, _ = decide(logits, op, [10, 20])
    assert pred.tolist() == [0, 0, 1]
    three = np.log(np.array([[0.5, 0.2, 0.3], [0.3, 0.35, 0.35 - 1e-6]]))
    pred, _, _ = decide(three, OperatingPoint(rule="threshold", positive_class=3, threshold=0.3), [1, 2, 3])
    assert pred.tolist() == [2, 2]  # class 3 at >= 0.3, else the best of the others


def test_recall_goal_meets_the_recall_with_the_best_precision():
    rng = np.random.default_rng(5)
    truth = rng.integers(0, 2, 400)
    logits = np.zeros((400, 2))
    logits[:, 1] = truth * 1.5 + rng.normal(size=400)
    sc = _scores(truth, logits, ["val"] * 400)
    op = choose_operating_point(sc, Goal(kind="recall", class_id=20, value=0.95))
    pred, probs, _ = decide(sc.logits, op, sc.class_ids)
    recall = skm.recall_score(truth, pred)
    assert recall >= 0.95 and op.achieved["recall"] == pytest.approx(recall)
    # any higher threshold would miss the goal
    higher = OperatingPoint(rule="threshold", positive_class=20, threshold=np.nextafter(op.threshold, 2))
    assert skm.recall_score(truth, decide(sc.logits, higher, sc.class_ids)[0]) < 0.95
    cost = choose_operating_point(sc, Goal(kind="cost", class_id=20, cost_fp=1, cost_fn=10))
    default_cost = choose_operating_point(sc, Goal(kind="cost", class_id=20, cost_fp=1, cost_fn=1))
    assert cost.threshold < default_cost.threshold  # missing a positive costs more: flag more


def test_temperature_fits_overconfident_logits():
    rng = np.random.default_rng(2)
    truth = rng.integers(0, 3, 500)
    logits = rng.normal(size=(500, 3))
    logits[np.arange(500), truth] += 1.0
    t = fit_temperature(logits * 5, truth)  # the same model made 5x over-confident
    assert t == pytest.approx(5 * fit_temperature(logits, truth), rel=0.02)
    assert t > 2


def test_mcnemar_matches_the_exact_binomial_and_the_chi_square():
    from scipy.stats import binomtest, chi2

    from studio_desktop.core.evaluation.compare import compare, mcnemar

    p, method = mcnemar(2, 9)
    assert p == pytest.approx(binomtest(2, 11, 0.5).pvalue) and "exact" in method
    p, method = mcnemar(20, 45)
    assert p == pytest.approx(chi2.sf((abs(20 - 45) - 1) ** 2 / 65, 1)) and "chi-square" in method
    cmp = compare(["a", "b", "c", "d"], ["test"] * 4, [True, False, True, None],
                  ["a", "b", "c", "d"], ["test"] * 4, [False, True, True, True])
    assert (cmp.common, cmp.only_a_right, cmp.only_b_right, cmp.both_right) == (3, ["a"], ["b"], 1)
    assert "no significant difference" in cmp.verdict()


def test_uncertain_goal_follows_the_threshold_rule_and_calibration_refits_goals():
    from studio_desktop.core.evaluation.classification import refit

    rng = np.random.default_rng(7)
    truth = rng.integers(0, 2, 300)
    logits = np.zeros((300, 2))
    logits[:, 1] = 2 * truth - 1 + rng.normal(size=300)
    sc = _scores(truth, logits, ["val"] * 300)
    op = choose_operating_point(sc, Goal(kind="recall", class_id=20, value=0.97))
    op = choose_operating_point(sc, Goal(kind="uncertain", value=0.95), op)
    pred, _, unsure = decide(sc.logits, op, sc.class_ids)
    kept = ~unsure
    assert op.rule == "threshold" and (pred[kept] == truth[kept]).mean() == pytest.approx(op.achieved["accuracy"])
    assert op.achieved["accuracy"] >= 0.95
    hot = refit(sc, op.model_copy(update={"temperature": 3.0}))
    pred, _, _ = decide(sc.logits, hot, sc.class_ids)
    assert hot.threshold != op.threshold and set(hot.goals) == {"threshold", "uncertain"}
    assert skm.recall_score(truth, pred) >= 0.97
