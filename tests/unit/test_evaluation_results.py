"""The Evaluation page's results object without Qt widgets: its numbers equal the core module's, and
its filters select exactly what they say (the grid, the confusion matrix and the reliability bins
must agree image for image)."""

from __future__ import annotations

import numpy as np
import pytest

from studio_desktop.core.evaluation.classification import Scores, decisions, subset_report
from studio_desktop.core.evaluation.operating_point import OperatingPoint
from studio_desktop.gui.pages.evaluation.results import (
    CORRECT,
    UNCERTAIN,
    WRONG,
    ClassificationResults,
    ImageMeta,
    ResultFilter,
)


def results_of(n: int = 301, c: int = 4, seed: int = 0) -> ClassificationResults:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, c, n)
    logits = rng.normal(size=(n, c)).astype(np.float32)
    logits[np.arange(n), truth] += 1.5
    subsets = np.where(np.arange(n) % 3 == 0, "val", "test")
    scores = Scores(image_ids=np.array([f"im{i:04d}" for i in range(n)]), subsets=subsets, truth=truth,
                    logits=logits, class_ids=[10 + k for k in range(c)], class_names=[f"c{k}" for k in range(c)])
    rank = np.zeros(n, dtype=np.int64)
    rank[[5, 17, 40]] = [2, 1, 3]
    meta = ImageMeta(files=[f"images/im{i:04d}.png" for i in range(n)], names=[f"im{i:04d}.png" for i in range(n)],
                     sources=[""] * n, issue_rank=rank)
    return ClassificationResults(store=None, info=None, aggregate={}, scores=scores, meta=meta, saved=None)


@pytest.mark.parametrize("op", [None, OperatingPoint(uncertain_below=0.45),
                                OperatingPoint(rule="threshold", positive_class=11, threshold=0.2)])
def test_report_equals_the_core_subset_report_including_intervals(op):
    r = results_of()
    r.set_operating_point(op)
    ours = r.report("test")
    theirs = subset_report(r.scores, decisions(r.scores, op), "test")
    assert ours.intervals == theirs.intervals  # small bootstrap chunks, same resamples
    assert ours.metrics == theirs.metrics and ours.confusion == theirs.confusion
    quick = r.report("test", full=False)
    assert quick.intervals == {} and quick.curves == [] and quick.confusion == theirs.confusion


def test_confusion_cells_and_outcomes_select_exactly_their_images():
    r = results_of()
    r.set_operating_point(OperatingPoint(uncertain_below=0.45))
    rep = r.report("test", full=False)
    for t in range(4):
        for p in range(4):
            rows = r.visible(ResultFilter(subset="test", truth=t, predicted=p,
                                          outcome="correct" if t == p else "incorrect"))
            assert len(rows) == rep.confusion[t][p]
            assert np.all(r.scores.truth[rows] == t) and np.all(r.dec.pred[rows] == p)
            assert not r.dec.uncertain[rows].any()
    counts = r.counts("test")
    assert counts["uncertain"] == rep.flagged > 0
    assert counts["correct"] + counts["incorrect"] == rep.counted
    assert set(np.unique(r.status)) <= {CORRECT, WRONG, UNCERTAIN}


def test_reliability_bins_partition_the_images():
    r = results_of()
    rep = r.report("test")
    total = 0
    for b in rep.calibration["bins"]:
        hi = b["hi"] if b["hi"] > b["lo"] else 1.0
        rows = r.visible(ResultFilter(subset="test", confidence=(b["lo"], hi)))
        assert len(rows) == b["count"], b
        total += len(rows)
    assert total == rep.images


def test_sorts_and_label_issues():
    r = results_of()
    rows = r.visible(ResultFilter(sort="confidence", descending=True))
    conf = r.confidence[rows]
    assert np.all(np.diff(conf) <= 0)
    issues = r.visible(ResultFilter(label_issues=True, sort="label_issue"))
    assert issues.tolist() == [17, 5, 40]
    ids = frozenset({"im0003", "im0100"})
    assert sorted(r.scores.image_ids[r.visible(ResultFilter(ids=ids))].tolist()) == sorted(ids)
    assert r.visible(ResultFilter(sort="order", descending=True))[0] == len(r) - 1


def test_dirty_follows_the_rule_not_the_time_it_was_chosen():
    r = results_of()
    assert not r.dirty
    r.set_operating_point(OperatingPoint())
    assert not r.dirty  # argmax again, chosen later: the same rule
    r.set_operating_point(OperatingPoint(uncertain_below=0.3))
    assert r.dirty
