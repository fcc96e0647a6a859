"""Anomaly detection results from cached scores and maps, in numpy: curves, counts, thresholds.

An anomaly model scores each image (higher = more anomalous) and draws a map in the same units;
a decision needs a threshold. This module reads the evaluation's cache (``scores.npz``) and gives
everything the Evaluation page, the CLI and the report show, without torch and without running
the model again:

- image AUROC (equal to scikit-learn's ``roc_auc_score``, ties included) with a bootstrap 95 %
  interval, ROC and precision-recall curves;
- the 2x2 counts at any threshold, fast enough to follow a dragged line (:class:`ThresholdCounter`:
  a binary search in pre-sorted scores, microseconds for 10,000 images);
- the threshold chosen from a goal (:func:`choose_operating_point`): a false-positive rate on the
  NORMAL images (the one goal that works when validation holds no defects — an F1-adaptive
  threshold on such a set is meaningless, anomalib issue 2433), a recall of defects, or the best
  F1 when both kinds are there;
- the threshold in force when none was chosen (:func:`effective_threshold`: the FPR 5 % goal on
  the normal validation images);
- pixel AUROC and AUPRO where ground-truth masks exist (``anomaly_pixels.py``).

Decision rule everywhere: an image is anomalous when ``score >= threshold``; a map pixel when
``map >= threshold`` (the same number).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .anomaly_pixels import aupro, pixel_auroc
from .bootstrap import bootstrap_interval
from .classification import GoalNotReachable
from .operating_point import Goal, OperatingPoint
from .subsets import subset_mask

TASK = "anomaly_detection"
#: the goal in force when none was chosen: at most 5 % of normal validation images flagged
DEFAULT_GOAL = Goal(kind="fpr", value=0.05, subset="val")
#: curves stored in aggregate.json keep at most this many points (evenly thinned, ends kept)
CURVE_POINTS = 512


@dataclass
class AnomalyScores:
    """The cache of one evaluation, one row per image (results.jsonl order)."""

    image_ids: np.ndarray  # (I,) str
    subsets: np.ndarray  # (I,) str
    score: np.ndarray  # (I,) float64 raw image score
    label: np.ndarray  # (I,) int8: 1 = anomalous
    map: np.ndarray  # (I, h, w) float16 raw anomaly map on the input square's grid
    has_mask: np.ndarray  # (I,) bool: pixel truth known (normal images always)
    gt_mask: np.ndarray  # (I, h, w) bool, zeros where unknown

    def __len__(self) -> int:
        return len(self.score)

    def subset(self, names) -> np.ndarray:
        return subset_mask(self.subsets, names)

    def as_npz(self) -> dict[str, np.ndarray]:
        return {"image_ids": self.image_ids.astype(str), "subsets": self.subsets.astype(str),
                "score": self.score.astype(np.float32), "label": self.label.astype(np.int8),
                "map": self.map.astype(np.float16), "has_mask": self.has_mask.astype(bool),
                "gt_mask": self.gt_mask.astype(bool)}

    @classmethod
    def from_npz(cls, data) -> AnomalyScores:
        score = np.asarray(data["score"], dtype=np.float64)
        n = len(score)
        maps = np.asarray(data["map"]) if "map" in data else np.zeros((n, 1, 1), np.float16)
        gt = np.asarray(data["gt_mask"], dtype=bool) if "gt_mask" in data else np.zeros(maps.shape, bool)
        return cls(image_ids=np.asarray(data["image_ids"]).astype(str), subsets=np.asarray(data["subsets"]).astype(str),
                   score=score, label=np.asarray(data["label"]).astype(np.int8).reshape(n), map=maps,
                   has_mask=np.asarray(data["has_mask"], dtype=bool).reshape(n) if "has_mask" in data
                   else np.zeros(n, bool), gt_mask=gt)


# ---------------------------------------------------------------------------------------- curves
def _sorted_desc(score: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distinct thresholds descending, cumulative TP, cumulative FP) at each threshold."""
    o = np.argsort(-score, kind="stable")
    s, y = score[o], label[o].astype(np.float64)
    tp, fp = np.cumsum(y), np.cumsum(1.0 - y)
    last = np.r_[s[1:] != s[:-1], True] if len(s) else np.zeros(0, bool)
    return s[last], tp[last], fp[last]


def roc_curve(score, label) -> dict[str, np.ndarray]:
    """``{"fpr", "tpr", "thresholds"}`` as scikit-learn's ``roc_curve(drop_intermediate=False)``:
    a first point (0, 0) at +inf, then one point per distinct score, thresholds descending."""
    score, label = np.asarray(score, np.float64), np.asarray(label).astype(bool)
    thr, tp, fp = _sorted_desc(score, label)
    npos, nneg = int(label.sum()), int((~label).sum())
    tpr = np.r_[0.0, tp / npos] if npos else np.full(len(thr) + 1, np.nan)
    fpr = np.r_[0.0, fp / nneg] if nneg else np.full(len(thr) + 1, np.nan)
    return {"fpr": fpr, "tpr": tpr, "thresholds": np.r_[np.inf, thr]}


def auroc(score, label) -> float | None:
    """Area under the ROC curve (scikit-learn's value, ties counted half); None without both kinds."""
    label = np.asarray(label).astype(bool)
    if label.all() or not label.any():
        return None
    c = roc_curve(score, label)
    return float(np.trapezoid(c["tpr"], c["fpr"]))


def pr_curve(score, label) -> dict[str, np.ndarray]:
    """``{"precision", "recall", "f1", "thresholds"}`` at each distinct score (descending), and the
    average precision ``ap`` (scikit-learn's step-wise definition)."""
    score, label = np.asarray(score, np.float64), np.asarray(label).astype(bool)
    thr, tp, fp = _sorted_desc(score, label)
    npos = int(label.sum())
    precision = tp / np.maximum(tp + fp, 1)
    recall = tp / npos if npos else np.full(len(tp), np.nan)
    f1 = 2 * tp / np.maximum(tp + fp + npos, 1)
    ap = float(np.sum(np.diff(np.r_[0.0, recall]) * precision)) if npos else None
    return {"precision": precision, "recall": recall, "f1": f1, "thresholds": thr, "ap": ap}


def _batch_auroc(score: np.ndarray, label: np.ndarray) -> np.ndarray:
    """AUROC of each row of (B, n) resampled scores/labels (Mann-Whitney with average ranks)."""
    from scipy.stats import rankdata

    ranks = rankdata(score, axis=1)
    pos = label.sum(axis=1)
    neg = label.shape[1] - pos
    u = (ranks * label).sum(axis=1) - pos * (pos + 1) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((pos > 0) & (neg > 0), u / (pos * neg), np.nan)


def thin(curve: dict[str, np.ndarray], points: int = CURVE_POINTS) -> dict[str, list]:
    """A curve as JSON lists with at most ``points`` points (first and last kept)."""
    n = len(next(iter(v for v in curve.values() if isinstance(v, np.ndarray))))
    keep = np.unique(np.r_[np.linspace(0, n - 1, points).round().astype(int), n - 1]) if n > points else np.arange(n)
    return {k: [None if not np.isfinite(x) else float(x) for x in np.asarray(v, np.float64)[keep]]
            for k, v in curve.items() if isinstance(v, np.ndarray)}


# ---------------------------------------------------------------------------------------- counts
def counts(score, label, threshold: float) -> dict[str, int]:
    """The 2x2 counts at ``threshold`` (anomalous when score >= threshold)."""
    flagged = np.asarray(score) >= threshold
    label = np.asarray(label).astype(bool)
    tp = int(np.count_nonzero(flagged & label))
    fp = int(np.count_nonzero(flagged & ~label))
    return {"tp": tp, "fp": fp, "fn": int(label.sum()) - tp, "tn": int((~label).sum()) - fp}


def rates(c: dict[str, int]) -> dict[str, float | None]:
    """Precision, recall (of defects), false-positive rate (of normal images), F1, accuracy."""
    tp, fp, fn, tn = c["tp"], c["fp"], c["fn"], c["tn"]

    def ratio(a: int, b: int) -> float | None:
        return a / b if b else None
    return {"precision": ratio(tp, tp + fp), "recall": ratio(tp, tp + fn), "fpr": ratio(fp, fp + tn),
            "f1": ratio(2 * tp, 2 * tp + fp + fn), "accuracy": ratio(tp + tn, tp + fp + fn + tn)}


class ThresholdCounter:
    """The 2x2 counts of a fixed set of images at any threshold in O(log n): the dragged line.

    Sorting happens once; each :meth:`counts` call is two binary searches."""

    def __init__(self, score, label):
        score, label = np.asarray(score, np.float64), np.asarray(label).astype(bool)
        self.anomalous = np.sort(score[label])
        self.normal = np.sort(score[~label])

    def counts(self, threshold: float) -> dict[str, int]:
        fn = int(np.searchsorted(self.anomalous, threshold, side="left"))
        tn = int(np.searchsorted(self.normal, threshold, side="left"))
        return {"tp": len(self.anomalous) - fn, "fp": len(self.normal) - tn, "fn": fn, "tn": tn}


# ------------------------------------------------------------------------------------ thresholds
def _between(low: float, higher: np.ndarray) -> float:
    """A threshold just above ``low``: halfway to the next higher score, or a hair above."""
    above = higher[higher > low]
    if len(above):
        return float((low + above.min()) / 2.0)
    return float(low + max(1e-6, abs(low) * 1e-6))


def threshold_for_goal(score, label, goal: Goal) -> float:
    """The threshold that meets ``goal`` on these images (raises GoalNotReachable)."""
    score, label = np.asarray(score, np.float64), np.asarray(label).astype(bool)
    normal, defect = np.sort(score[~label])[::-1], np.sort(score[label])[::-1]
    if goal.kind == "fpr":
        if not len(normal):
            raise GoalNotReachable("a false-positive-rate goal needs normal images, and there are none here")
        if not 0.0 <= goal.value < 1.0:
            raise GoalNotReachable(f"a false-positive rate is between 0 and 1 (below 1), not {goal.value:g}")
        k = int(np.floor(goal.value * len(normal) + 1e-9))  # normal images allowed above the line
        if k >= len(normal):
            return float(normal[-1])
        # just above the (k+1)-th highest normal score: at most k normal images reach the line
        return _between(float(normal[k]), score)
    if goal.kind == "recall":
        if not len(defect):
            raise GoalNotReachable("a recall goal needs anomalous images, and there are none here; "
                                   "choose a false-positive-rate goal instead")
        if not 0.0 < goal.value <= 1.0:
            raise GoalNotReachable(f"a recall is above 0 and at most 1, not {goal.value:g}")
        need = int(np.ceil(goal.value * len(defect) - 1e-9))
        return float(defect[max(need, 1) - 1])  # the highest threshold that still flags them
    if goal.kind == "f1":
        if not len(defect) or not len(normal):
            raise GoalNotReachable("the best-F1 threshold needs both normal and anomalous images here; "
                                   "with normal images only choose a false-positive-rate goal")
        c = pr_curve(score, label)
        return float(c["thresholds"][int(np.argmax(c["f1"]))])
    raise GoalNotReachable(f"an anomaly threshold cannot be chosen for the goal '{goal.kind}'; "
                           "choose fpr, recall or f1")


def _goal_rows(scores: AnomalyScores, subset: str) -> np.ndarray:
    rows = scores.subset(subset)
    if not rows.any():
        raise GoalNotReachable(f"there are no '{subset}' images to choose on")
    return rows


def choose_operating_point(scores: AnomalyScores, goal: Goal, base: OperatingPoint | None = None) -> OperatingPoint:
    """The operating point meeting ``goal`` on ``goal.subset`` (validation by default)."""
    rows = _goal_rows(scores, goal.subset)
    thr = threshold_for_goal(scores.score[rows], scores.label[rows], goal)
    achieved = {"subset": goal.subset, **{k: v for k, v in rates(counts(scores.score[rows], scores.label[rows], thr)).items()
                                          if k != "accuracy" and v is not None}}
    base = base if base is not None and base.task == TASK else OperatingPoint(task=TASK)
    return base.model_copy(update={"task": TASK, "rule": "threshold", "threshold": thr,
                                   "goal": goal.model_dump(mode="json"), "achieved": achieved})


def manual_operating_point(threshold: float, base: OperatingPoint | None = None) -> OperatingPoint:
    """An operating point set by hand (the dragged line, ``--threshold``)."""
    if not np.isfinite(threshold):
        raise GoalNotReachable(f"the threshold must be a finite number, not {threshold}")
    base = base if base is not None and base.task == TASK else OperatingPoint(task=TASK)
    return base.model_copy(update={"task": TASK, "rule": "threshold", "threshold": float(threshold),
                                   "goal": None, "achieved": {}})


def default_threshold(scores: AnomalyScores) -> tuple[float, str]:
    """``(threshold, how)`` when no operating point was saved: the FPR 5 % goal on the normal
    validation images (then test, then all images); never a best-F1 threshold."""
    for subset in ("val", "test", "all"):
        rows = scores.subset(subset) & (scores.label == 0)
        if rows.any():
            goal = DEFAULT_GOAL.model_copy(update={"subset": subset})
            thr = threshold_for_goal(scores.score[rows], scores.label[rows], goal)
            return thr, f"default: at most {DEFAULT_GOAL.value:.0%} of the normal {subset} images flagged"
    if len(scores):
        return float(np.median(scores.score)), "default: the median score (no normal images to calibrate on)"
    return 0.0, "default: no images"


def effective_threshold(scores: AnomalyScores, op: OperatingPoint | None) -> tuple[float, str]:
    """``(threshold, how it was chosen)`` in force: the saved operating point's, else the default."""
    if op is not None and op.task == TASK and op.threshold is not None:
        return float(op.threshold), op.describe()
    return default_threshold(scores)


# --------------------------------------------------------------------------------------- reports
def subset_report(scores: AnomalyScores, subset, threshold: float, *, resamples: int = 1000, seed: int = 0,
                  pixels: bool = True) -> dict:
    """Everything aggregate.json holds for one subset at ``threshold``."""
    rows = scores.subset(subset)
    s, y = scores.score[rows], scores.label[rows].astype(bool)
    c = counts(s, y, threshold)
    body: dict = {"subset": subset if isinstance(subset, str) else "+".join(subset or ["all"]),
                  "images": int(rows.sum()), "normal": int((~y).sum()), "anomalous": int(y.sum()),
                  "with_mask": int((scores.has_mask[rows] & (scores.label[rows] == 1)).sum()),
                  "threshold": float(threshold), "counts": c, **{f"image_{k}": v for k, v in rates(c).items()},
                  "image_auroc": auroc(s, y), "intervals": {}}
    if body["image_auroc"] is not None and resamples > 0 and len(s) >= 2:
        body["intervals"] = {"image_auroc": bootstrap_interval(
            len(s), lambda idx: {"image_auroc": _batch_auroc(s[idx], y[idx])}, resamples=resamples,
            seed=seed).get("image_auroc")}
    roc, pr = roc_curve(s, y), pr_curve(s, y)
    body["roc"] = thin(roc)
    body["pr"] = thin({k: v for k, v in pr.items() if k != "ap"})
    body["average_precision"] = pr["ap"]
    if pixels:
        keep = rows & scores.has_mask
        body["pixel_auroc"] = pixel_auroc(scores.map[keep], scores.gt_mask[keep])
        body["aupro"] = aupro(scores.map[keep], scores.gt_mask[keep])
    return body


def summary_lines(aggregate: dict) -> list[str]:
    """The console summary (``studio evaluate``): per subset the AUROCs and the 2x2 at the threshold."""
    def f(v, fmt=".3f"):
        return format(v, fmt) if isinstance(v, (int, float)) else "–"
    thr = aggregate.get("threshold", {})
    lines = [f"threshold {f(thr.get('value'), '.4g')} ({thr.get('how', '')})",
             f"{'subset':8s} {'images':>6s} {'normal':>6s} {'defect':>6s} {'image AUROC (95 % interval)':28s} "
             f"{'F1':>6s} {'pixel AUROC':>11s} {'AUPRO':>6s}  TP FP FN TN"]
    for subset, b in aggregate.get("subsets", {}).items():
        iv = (b.get("intervals") or {}).get("image_auroc")
        au = f(b.get("image_auroc")) + (f" ({iv[0]:.3f}–{iv[1]:.3f})" if iv else "")
        c = b.get("counts", {})
        lines.append(f"{subset:8s} {b.get('images', 0):>6d} {b.get('normal', 0):>6d} {b.get('anomalous', 0):>6d} "
                     f"{au:28s} {f(b.get('image_f1')):>6s} {f(b.get('pixel_auroc')):>11s} {f(b.get('aupro')):>6s}  "
                     f"{c.get('tp', 0)} {c.get('fp', 0)} {c.get('fn', 0)} {c.get('tn', 0)}")
    return lines


__all__ = ["CURVE_POINTS", "DEFAULT_GOAL", "TASK", "AnomalyScores", "ThresholdCounter", "auroc", "choose_operating_point",
           "counts", "default_threshold", "effective_threshold", "manual_operating_point", "pr_curve", "rates",
           "roc_curve", "subset_report", "summary_lines", "thin", "threshold_for_goal"]
