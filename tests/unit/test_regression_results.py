"""The Evaluation page's regression results object without Qt widgets: its numbers are the core
module's, its colours partition the images against the baseline, its filters and sorts follow the
current target, and the experiment list's headline is unit-free."""

from __future__ import annotations

import numpy as np
import pytest

from studio_desktop.core.evaluation.regression import RegressionScores, subset_report
from studio_desktop.gui.pages.evaluation.regression_results import CLOSE, FAIR, POOR, RegressionResults
from studio_desktop.gui.pages.evaluation.results import ImageMeta, ResultFilter, results_class


def results_of(n: int = 120, seed: int = 0) -> RegressionResults:
    rng = np.random.default_rng(seed)
    truth = np.stack([rng.uniform(5, 40, n), rng.uniform(0.2, 0.9, n)], axis=1)
    values = truth + rng.normal(0, 1, (n, 2)) * [4.0, 0.01]
    scores = RegressionScores(image_ids=np.array([f"im{i:04d}" for i in range(n)]),
                              subsets=np.where(np.arange(n) % 3 == 0, "val", "test"), truth=truth, values=values,
                              target_names=["radius", "brightness"], train_mean=truth.mean(0) + [1.0, 0.0])
    meta = ImageMeta(files=[f"images/im{i:04d}.png" for i in range(n)], names=[f"im{i:04d}.png" for i in range(n)],
                     sources=[""] * n, issue_rank=np.zeros(n, dtype=np.int64))
    return RegressionResults(store=None, info=None, aggregate={}, scores=scores, meta=meta, units={"radius": "px"})


def test_registry_and_report_equal_the_core_module():
    assert results_class("regression") is RegressionResults and results_class("instance_segmentation") is None
    r = results_of()
    ours = r.report("test")
    theirs = subset_report(r.scores, "test")
    assert ours == theirs
    quick = r.report("test", full=False)
    assert quick["per_target"][0]["intervals"] == {} and quick["metrics"] == theirs["metrics"]


def test_colours_partition_the_images_against_the_baseline_and_follow_the_target():
    r = results_of()
    for t in (0, 1):
        r.set_target(t)
        err = np.abs(r.scores.values[:, t] - r.scores.truth[:, t])
        base = np.abs(r.scores.truth[:, t] - r.scores.train_mean[t]).mean()
        assert np.array_equal(r.status == CLOSE, err < 0.5 * base)
        assert np.array_equal(r.status == POOR, err >= base)
        counts = r.counts()
        assert counts["close"] + counts["fair"] + counts["poor"] == len(r)
        for outcome, code in (("close", CLOSE), ("fair", FAIR), ("poor", POOR)):
            rows = r.visible(ResultFilter(outcome=outcome))
            assert np.all(r.status[rows] == code) and len(rows) == counts[outcome]
    # noisy radius (sd 4 against a spread of ~9): some images no better than the mean; brightness: none
    r.set_target(0)
    assert r.counts()["poor"] > 0
    r.set_target(1)
    assert r.counts()["poor"] == 0


def test_sorts_follow_the_current_target():
    r = results_of()
    r.set_target(1)
    rows = r.visible(r.default_filter())
    err = np.abs(r.scores.values[rows, 1] - r.scores.truth[rows, 1])
    assert np.all(np.diff(err) <= 0) and len(rows) == len(r)  # worst first
    rows = r.visible(ResultFilter(subset="val", sort="truth"))
    assert np.all(np.diff(r.scores.truth[rows, 1]) >= 0) and set(r.scores.subsets[rows]) == {"val"}
    rows = r.visible(ResultFilter(sort="residual", descending=True))
    assert np.all(np.diff(r.scores.values[rows, 1] - r.scores.truth[rows, 1]) <= 0)
    assert r.worst_errors("test", 3).tolist() == r.visible(ResultFilter(subset="test", sort="error",
                                                                        descending=True))[:3].tolist()


def test_captions_detail_and_tooltip_carry_names_values_and_units():
    r = results_of()
    row = int(r.visible(r.default_filter())[0])
    y, p = r.scores.truth[row, 0], r.scores.values[row, 0]
    assert r.caption(row) == f"true {y:.4g} px\npred {p:.4g} px"
    d = r.describe_image(row)
    assert [t["name"] for t in d["targets"]] == ["radius", "brightness"] and d["targets"][0]["unit"] == "px"
    assert d["targets"][0]["error"] == pytest.approx(p - y) and d["probabilities"] == []
    assert "<b>radius</b>" in d["verdict"] and " px" in d["verdict"]
    tip = r.tooltip(row)
    assert "radius: true" in tip and "brightness: true" in tip and r.status_words[int(r.status[row])] in tip
    res = r.residuals("test", target=1)
    assert np.allclose(res["residual"], r.scores.values[res["rows"], 1] - r.scores.truth[res["rows"], 1])
    assert res["label"] == "brightness" and r.residuals("test")["label"] == "radius (px)"


def test_headline_is_the_skill_averaged_over_the_targets():
    r = results_of()
    agg = {"subsets": {"val": r.report("val", full=False), "test": r.report("test", full=False)}}
    skills = [t["skill"] for t in agg["subsets"]["test"]["per_target"]]
    assert RegressionResults.headline(agg) == f"test {100 * np.mean(skills):.0f} % less error"
    one = {"subsets": {"val": {"per_target": [{"skill": 0.5, "metrics": {"mae": 1.25}}]}}}
    assert RegressionResults.headline(one) == "val 50 % less error (MAE 1.25)"
    assert RegressionResults.headline({"subsets": {}}) == "evaluated"
