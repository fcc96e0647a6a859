"""Regression metrics in numpy (what the page shows) equal scikit-learn's; the baseline is the
training mean; MAPE is skipped with its reason when a true value is 0."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from studio_desktop.core.evaluation.regression import (
    RegressionScores,
    residuals,
    subset_report,
    target_metrics,
)


def _scores(truth, values, train_mean, subsets=None):
    truth = np.asarray(truth, dtype=float).reshape(len(truth), -1)
    values = np.asarray(values, dtype=float).reshape(truth.shape)
    n = len(truth)
    return RegressionScores(image_ids=np.array([f"i{k}" for k in range(n)]),
                            subsets=np.array(subsets or ["test"] * n), truth=truth, values=values,
                            target_names=[f"t{k}" for k in range(truth.shape[1])],
                            train_mean=np.asarray(train_mean, dtype=float))


def test_per_target_metrics_equal_sklearn_and_beat_the_baseline():
    rng = np.random.default_rng(0)
    y = rng.normal(50, 10, (80, 2))
    p = y + rng.normal(0, 2, (80, 2))
    sc = _scores(y, p, y.mean(0) + 1)
    rep = subset_report(sc, "test", resamples=200)
    for t in range(2):
        m = rep["per_target"][t]["metrics"]
        assert m["mae"] == pytest.approx(skm.mean_absolute_error(y[:, t], p[:, t]))
        assert m["rmse"] == pytest.approx(skm.root_mean_squared_error(y[:, t], p[:, t]))
        assert m["r2"] == pytest.approx(skm.r2_score(y[:, t], p[:, t]))
        assert m["mape"] == pytest.approx(skm.mean_absolute_percentage_error(y[:, t], p[:, t]))
        base = rep["per_target"][t]["baseline"]
        assert base["mae"] == pytest.approx(skm.mean_absolute_error(y[:, t], np.full(80, y[:, t].mean() + 1)))
        assert m["mae"] < base["mae"] and rep["per_target"][t]["skill"] > 0.5
    assert rep["metrics"]["mae"] == pytest.approx(np.mean([pt["metrics"]["mae"] for pt in rep["per_target"]]))
    lo, hi = rep["per_target"][0]["intervals"]["mae"]
    assert lo <= rep["per_target"][0]["metrics"]["mae"] <= hi


def test_mape_skipped_with_a_reason_and_constant_truth_has_no_r2():
    m = target_metrics(np.array([0.0, 1.0, 2.0]), np.array([0.1, 1.1, 1.9]))
    assert m["mape"] is None and m["mae"] == pytest.approx(0.1)
    sc = _scores([0.0, 1.0, 2.0], [0.1, 1.1, 1.9], [1.0])
    assert "MAPE skipped" in subset_report(sc, "test", resamples=0)["per_target"][0]["why"]
    assert target_metrics(np.array([3.0, 3.0]), np.array([2.0, 4.0]))["r2"] is None


def test_residuals_are_predicted_minus_true():
    sc = _scores([1.0, 2.0, 3.0], [1.5, 1.0, 3.0], [2.0], ["val", "test", "test"])
    r = residuals(sc, 0, "test")
    assert r["residual"].tolist() == [-1.0, 0.0] and r["image_ids"].tolist() == ["i1", "i2"]
