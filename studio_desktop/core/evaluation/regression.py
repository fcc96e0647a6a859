"""Regression results from cached predictions, in numpy: per target and averaged, beside a baseline.

A regression metric means little alone: "MAE 3.1" is excellent for house prices in thousands and
useless for a fill level in percent. Every figure is therefore shown beside the baseline that
predicts the training mean for every image (``train_mean``, stored with the scores): a model that
does not beat it has learned nothing. The evaluator computes the same metrics with torchmetrics;
tests hold this module, torchmetrics and scikit-learn equal.

Conventions: R² is scikit-learn's (1 - SSres/SStot; undefined — None — when every true value is
the same); MAPE is skipped, with the reason, when a true value is 0 (it would divide by zero);
averages over several targets are plain means of the per-target values (each target's own units
for MAE/RMSE, so compare them per target when units differ).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bootstrap import bootstrap_interval
from .subsets import subset_mask

METRICS = ("mae", "rmse", "r2", "mape")


@dataclass
class RegressionScores:
    """Cached predictions of one evaluation, in target units, one row per image."""

    image_ids: np.ndarray  # (N,)
    subsets: np.ndarray  # (N,)
    truth: np.ndarray  # (N, T)
    values: np.ndarray  # (N, T) predictions
    target_names: list[str]
    train_mean: np.ndarray  # (T,) the baseline's constant prediction

    def __len__(self) -> int:
        return len(self.truth)

    def subset(self, names) -> np.ndarray:
        return subset_mask(self.subsets, names)

    def as_npz(self) -> dict[str, np.ndarray]:
        return {"image_ids": self.image_ids.astype(str), "subsets": self.subsets.astype(str),
                "truth": self.truth.astype(np.float64), "values": self.values.astype(np.float64),
                "target_names": np.asarray(self.target_names, dtype=str),
                "train_mean": np.asarray(self.train_mean, dtype=np.float64)}

    @classmethod
    def from_npz(cls, data) -> RegressionScores:
        return cls(image_ids=np.asarray(data["image_ids"]).astype(str), subsets=np.asarray(data["subsets"]).astype(str),
                   truth=np.asarray(data["truth"], dtype=np.float64).reshape(len(data["image_ids"]), -1),
                   values=np.asarray(data["values"], dtype=np.float64).reshape(len(data["image_ids"]), -1),
                   target_names=[str(n) for n in data["target_names"]],
                   train_mean=np.asarray(data["train_mean"], dtype=np.float64))


def target_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float | None]:
    """MAE, RMSE, R² and MAPE of one target (``y`` true, ``p`` predicted; 1-D)."""
    if len(y) == 0:
        return {k: None for k in METRICS}
    err = p - y
    out: dict[str, float | None] = {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err ** 2)))}
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    out["r2"] = 1.0 - float(np.sum(err ** 2)) / ss_tot if ss_tot > 0 else None
    out["mape"] = float(np.mean(np.abs(err) / np.abs(y))) if np.all(y != 0) else None
    return out


def _batch_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, np.ndarray]:
    """MAE/RMSE/R² of (B, n) resampled rows at once (the bootstrap)."""
    err = p - y
    ss_tot = np.sum((y - y.mean(axis=1, keepdims=True)) ** 2, axis=1)
    r2 = np.where(ss_tot > 0, 1 - np.sum(err ** 2, axis=1) / np.where(ss_tot > 0, ss_tot, 1), np.nan)
    return {"mae": np.mean(np.abs(err), axis=1), "rmse": np.sqrt(np.mean(err ** 2, axis=1)), "r2": r2}


def subset_report(scores: RegressionScores, subset, *, resamples: int = 1000, seed: int = 0,
                  max_cells: int = 4_000_000) -> dict:
    """Per-target metrics, their intervals, the baseline's metrics, and the averages.

    ``max_cells`` bounds each bootstrap chunk (a GUI thread computing intervals passes a small one:
    every numpy call holds the GIL)."""
    rows = scores.subset(subset)
    y, p = scores.truth[rows], scores.values[rows]
    per_target = []
    for t, name in enumerate(scores.target_names):
        m = target_metrics(y[:, t], p[:, t])
        base = target_metrics(y[:, t], np.full(len(y), scores.train_mean[t]))
        iv = {}
        if len(y) >= 2 and resamples > 0:
            yt, pt = y[:, t], p[:, t]
            iv = bootstrap_interval(len(y), lambda idx, yt=yt, pt=pt: _batch_metrics(yt[idx], pt[idx]),
                                    resamples=resamples, seed=seed, max_cells=max_cells)
        why = "" if m["mape"] is not None or not len(y) else "MAPE skipped: a true value is 0 (it would divide by 0)"
        per_target.append({"name": name, "metrics": m, "intervals": iv, "baseline": base,
                           "skill": (1 - m["mae"] / base["mae"]) if m["mae"] is not None and base["mae"] else None,
                           "why": why})
    avg = {}
    for k in METRICS:
        vals = [pt["metrics"][k] for pt in per_target]
        avg[k] = float(np.mean(vals)) if vals and all(v is not None for v in vals) else None
    base_avg = {k: (float(np.mean([pt["baseline"][k] for pt in per_target]))
                    if per_target and all(pt["baseline"][k] is not None for pt in per_target) else None)
                for k in METRICS}
    return {"subset": subset if isinstance(subset, str) else "+".join(subset or ["all"]), "images": int(rows.sum()),
            "metrics": avg, "baseline": base_avg, "per_target": per_target,
            "intervals": per_target[0]["intervals"] if len(per_target) == 1 else {}}


def residuals(scores: RegressionScores, target: int = 0, subset=None) -> dict[str, np.ndarray]:
    """True values, predictions and residuals (predicted - true) of one target, for the plots."""
    rows = scores.subset(subset)
    y, p = scores.truth[rows, target], scores.values[rows, target]
    return {"image_ids": scores.image_ids[rows], "truth": y, "predicted": p, "residual": p - y,
            "abs_error": np.abs(p - y)}


def summary_lines(aggregate: dict) -> list[str]:
    """The console summary (``studio evaluate``): each subset and target beside the baseline."""
    lines = [f"{'subset':8s} {'target':14s} {'images':>6s} {'MAE (95 % interval)':28s} {'baseline MAE':>12s} "
             f"{'RMSE':>9s} {'R2':>6s}"]
    for subset, body in aggregate.get("subsets", {}).items():
        for t in body.get("per_target", []):
            m, iv = t["metrics"], t.get("intervals", {})
            mae = f"{m['mae']:.4g}" if m.get("mae") is not None else "–"
            if iv.get("mae"):
                mae += f" ({iv['mae'][0]:.4g}–{iv['mae'][1]:.4g})"
            r2 = f"{m['r2']:.3f}" if m.get("r2") is not None else "–"
            rmse = f"{m['rmse']:.4g}" if m.get("rmse") is not None else "–"
            base = t["baseline"].get("mae")
            lines.append(f"{subset:8s} {t['name'][:14]:14s} {body.get('images', 0):>6d} {mae:28s} "
                         f"{(f'{base:.4g}' if base is not None else '–'):>12s} {rmse:>9s} {r2:>6s}")
    return lines


__all__ = ["METRICS", "RegressionScores", "residuals", "subset_report", "summary_lines", "target_metrics"]
