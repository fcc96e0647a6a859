"""Regression evaluation: torchmetrics per target, the training-mean baseline, result lines.

Written metrics are torchmetrics' (MAE, RMSE, R², MAPE where no true value is 0); the numpy module
``core/evaluation/regression`` recomputes them for the page and supplies the bootstrap intervals
and the baseline; every run checks the two agree.
"""

from __future__ import annotations

import numpy as np
import torch
from torchmetrics import MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredError, R2Score

from ...core.evaluation import regression as reg
from ...core.schemas import ImageRecord
from .base import EvaluationResult

HOW = {
    "mae": "mean absolute error: the average distance between prediction and truth, in the target's units",
    "rmse": "root mean squared error: like MAE but large errors weigh more, in the target's units",
    "r2": "coefficient of determination: 1 = perfect, 0 = no better than always predicting this subset's "
          "mean, negative = worse",
    "mape": "mean absolute percentage error (a fraction: 0.1 = 10 %); skipped when a true value is 0",
    "baseline": "the same metric for a model that predicts the training mean for every image: the model "
                "must beat it to have learned anything",
}


def torchmetrics_target(y: np.ndarray, p: np.ndarray) -> dict[str, float | None]:
    yt, pt = torch.from_numpy(y).double(), torch.from_numpy(p).double()
    if len(yt) == 0:
        return {k: None for k in reg.METRICS}
    out: dict[str, float | None] = {"mae": float(MeanAbsoluteError()(pt, yt)),
                                    "rmse": float(MeanSquaredError(squared=False)(pt, yt))}
    out["r2"] = float(R2Score()(pt, yt)) if len(yt) >= 2 and float(yt.var()) > 0 else None
    out["mape"] = float(MeanAbsolutePercentageError()(pt, yt)) if bool((yt != 0).all()) else None
    return out


class RegressionEvaluation:
    def __init__(self, head):
        self.head = head
        self.names = list(head.names)

    def evaluate(self, *, records: list[ImageRecord], subsets, targets: list, arrays: dict, op, log
                 ) -> EvaluationResult:
        truth = np.stack([np.asarray(t, dtype=np.float64) for t in targets]).reshape(len(records), -1)
        scores = reg.RegressionScores(image_ids=np.array([r.id for r in records]),
                                      subsets=np.asarray(subsets).astype(str), truth=truth,
                                      values=np.asarray(arrays["values"], dtype=np.float64).reshape(truth.shape),
                                      target_names=self.names,
                                      train_mean=self.head.raw_mean.double().numpy())
        aggregate: dict = {"subsets": {}, "how": HOW, "targets": self.names, "train_mean": scores.train_mean.tolist(),
                           "normalisation": self.head.normalisation()}
        headline: dict = {}
        for subset in dict.fromkeys(scores.subsets.tolist()):
            body = reg.subset_report(scores, subset)
            rows = scores.subset(subset)
            for t, pt in enumerate(body["per_target"]):
                tm = torchmetrics_target(truth[rows, t], scores.values[rows, t])
                for k, v in tm.items():
                    ours = pt["metrics"][k]
                    if isinstance(v, float) and isinstance(ours, float) and abs(v - ours) > 1e-6 * max(1, abs(v)):
                        log(f"{subset} {pt['name']} {k}: torchmetrics {v:.6g} but the page would show {ours:.6g}",
                            "warning")
                pt["metrics"] = tm
            for k in reg.METRICS:
                vals = [pt["metrics"][k] for pt in body["per_target"]]
                body["metrics"][k] = float(np.mean(vals)) if all(v is not None for v in vals) else None
            aggregate["subsets"][subset] = body
            headline[subset] = {"mae": body["metrics"]["mae"], "baseline_mae": body["baseline"]["mae"],
                                "r2": body["metrics"]["r2"]}
        order = np.argsort(-np.abs(scores.values - truth).mean(axis=1), kind="stable")
        rank = np.empty(len(order), dtype=int)
        rank[order] = np.arange(1, len(order) + 1)
        lines = []
        for i, rec in enumerate(records):
            pred = {n: round(float(v), 6) for n, v in zip(self.names, scores.values[i], strict=True)}
            true = {n: float(v) for n, v in zip(self.names, truth[i], strict=True)}
            lines.append({"image": rec.id, "file": rec.file, "source": rec.source, "subset": str(scores.subsets[i]),
                          "truth": {"targets": true}, "prediction": {"targets": pred},
                          "abs_error": {n: round(abs(pred[n] - true[n]), 6) for n in self.names},
                          "error_rank": int(rank[i])})
        return EvaluationResult(aggregate=aggregate, lines=lines, scores=scores.as_npz(), headline=headline)


__all__ = ["HOW", "RegressionEvaluation", "torchmetrics_target"]
