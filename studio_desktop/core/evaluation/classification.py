"""Classification results from cached scores, in numpy: every number the page and the report show.

The evaluator caches each image's logits once (``scores.npz``); everything that depends on the
decision rule (:mod:`.operating_point`) is computed here, instantly and without torch, so the
table, the confusion matrix, the per-class bars, the grid's colours and prediction all follow one
operating point. The evaluator also computes the same metrics with torchmetrics; tests hold the
three (this module, torchmetrics, scikit-learn) equal.

Conventions (those of torchmetrics and of scikit-learn given the labels that occur):
- a 0/0 precision, recall or F1 is 0;
- macro averages are over the classes that occur in the truth or the predictions of the images
  counted (a class absent from both says nothing about the model);
- images flagged "uncertain" by the operating point are left out of every count and reported as
  ``flagged`` (coverage = counted / all).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .bootstrap import bootstrap_interval
from .operating_point import Goal, OperatingPoint, decide, softmax
from .subsets import subset_mask

#: bins of the reliability diagram (torchmetrics' default for the calibration error)
CALIBRATION_BINS = 15
#: top-k accuracy is reported when there are more than this many classes
TOP_K_FROM = 5
TOP_K = 5


@dataclass
class Scores:
    """The cached raw outputs of one evaluation: one row per image, in results.jsonl's order."""

    image_ids: np.ndarray  # (N,) str
    subsets: np.ndarray  # (N,) str: "train" | "val" | "test"
    truth: np.ndarray  # (N,) int output index of the true class
    logits: np.ndarray  # (N, C) float32
    class_ids: list[int]  # output index -> class id
    class_names: list[str]

    def __len__(self) -> int:
        return len(self.truth)

    @property
    def num_classes(self) -> int:
        return len(self.class_ids)

    def subset(self, names: str | list[str] | None) -> np.ndarray:
        """Boolean mask of the rows of ``names`` (None or "all": every row)."""
        return subset_mask(self.subsets, names)

    def as_npz(self) -> dict[str, np.ndarray]:
        return {"image_ids": self.image_ids.astype(str), "subsets": self.subsets.astype(str),
                "truth": self.truth.astype(np.int64), "logits": self.logits.astype(np.float32),
                "class_ids": np.asarray(self.class_ids, dtype=np.int64),
                "class_names": np.asarray(self.class_names, dtype=str)}

    @classmethod
    def from_npz(cls, data) -> Scores:
        return cls(image_ids=np.asarray(data["image_ids"]).astype(str), subsets=np.asarray(data["subsets"]).astype(str),
                   truth=np.asarray(data["truth"]).astype(np.int64), logits=np.asarray(data["logits"], dtype=np.float32),
                   class_ids=[int(c) for c in data["class_ids"]], class_names=[str(n) for n in data["class_names"]])


@dataclass
class Decisions:
    """What the operating point makes of the scores (all rows)."""

    pred: np.ndarray  # (N,) output index
    probs: np.ndarray  # (N, C) calibrated probabilities
    uncertain: np.ndarray  # (N,) bool

    @property
    def confidence(self) -> np.ndarray:
        return self.probs[np.arange(len(self.pred)), self.pred] if len(self.pred) else np.zeros(0)


def decisions(scores: Scores, op: OperatingPoint | None) -> Decisions:
    pred, probs, uncertain = decide(scores.logits, op, scores.class_ids)
    return Decisions(pred=pred, probs=probs, uncertain=uncertain)


# ---------------------------------------------------------------------------- counting

def confusion(truth: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts, rows = true class, columns = predicted class."""
    return np.bincount(truth * num_classes + pred, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes)


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b != 0)


def from_confusion(cm: np.ndarray) -> dict:
    """Accuracy, per-class precision/recall/F1/support and their macro/weighted averages.

    ``cm`` may be (C, C) or a batch (B, C, C) (the bootstrap uses the batch form)."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    support = cm.sum(axis=-1)
    predicted = cm.sum(axis=-2)
    total = support.sum(axis=-1)
    precision = _div(tp, predicted)
    recall = _div(tp, support)
    f1 = _div(2 * tp, support + predicted)
    occurs = (support + predicted) > 0
    n_occurs = occurs.sum(axis=-1)

    def macro(v):
        return _div((v * occurs).sum(axis=-1), n_occurs)

    def weighted(v):
        return _div((v * support).sum(axis=-1), total)

    return {"accuracy": _div(tp.sum(axis=-1), total), "precision": precision, "recall": recall, "f1": f1,
            "support": support, "predicted": predicted, "occurs": occurs,
            "precision_macro": macro(precision), "recall_macro": macro(recall), "f1_macro": macro(f1),
            "precision_weighted": weighted(precision), "recall_weighted": weighted(recall),
            "f1_weighted": weighted(f1), "balanced_accuracy": macro(recall)}


# ---------------------------------------------------------------------------- curves

def binary_curves(positive: np.ndarray, score: np.ndarray) -> dict:
    """ROC and precision-recall of one class against the rest, with ROC AUC and average precision.

    Ties share a threshold (as scikit-learn and torchmetrics treat them). Returns None values
    when the class has no positive or no negative image (the curve is undefined)."""
    positive = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return {"auc": None, "ap": None, "fpr": [], "tpr": [], "precision": [], "recall": [], "thresholds": [],
                "why": "no image of this class" if n_pos == 0 else "every image is of this class"}
    order = np.argsort(-score, kind="mergesort")
    s, y = score[order], positive[order]
    distinct = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]  # last index of each threshold group
    tps = np.cumsum(y)[distinct].astype(np.float64)
    fps = (distinct + 1 - tps).astype(np.float64)
    thresholds = s[distinct]
    tpr, fpr = tps / n_pos, fps / n_neg
    auc = float(np.trapezoid(np.r_[0.0, tpr], np.r_[0.0, fpr]))
    precision = tps / (tps + fps)
    recall = tpr
    ap = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    return {"auc": auc, "ap": ap, "fpr": np.r_[0.0, fpr], "tpr": np.r_[0.0, tpr],
            "precision": np.r_[1.0, precision], "recall": np.r_[0.0, recall], "thresholds": thresholds, "why": ""}


def thin(xs: np.ndarray, ys: np.ndarray, max_points: int = 200) -> tuple[list[float], list[float]]:
    """At most ``max_points`` points of a curve for plotting/storing (ends kept)."""
    n = len(xs)
    if n <= max_points:
        return [float(x) for x in xs], [float(y) for y in ys]
    keep = np.unique(np.r_[np.linspace(0, n - 1, max_points).round().astype(int), n - 1])
    return [float(x) for x in np.asarray(xs)[keep]], [float(y) for y in np.asarray(ys)[keep]]


def calibration(probs: np.ndarray, truth: np.ndarray, bins: int = CALIBRATION_BINS) -> dict:
    """Reliability diagram (per bin: mean confidence, accuracy, count) and expected calibration
    error (L1, weighted by bin size), binned as torchmetrics bins (``[lo, hi)``, 1.0 in a bin of its own)."""
    if len(truth) == 0:
        return {"ece": None, "bins": []}
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == truth).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.searchsorted(edges, conf, side="right") - 1
    count = np.bincount(idx, minlength=bins + 1).astype(np.float64)
    conf_sum = np.bincount(idx, weights=conf, minlength=bins + 1)
    acc_sum = np.bincount(idx, weights=correct, minlength=bins + 1)
    mean_conf, acc = _div(conf_sum, count), _div(acc_sum, count)
    ece = float(np.sum(np.abs(acc - mean_conf) * count / count.sum()))
    rows = [{"lo": float(edges[min(i, bins)]), "hi": float(edges[min(i + 1, bins)]), "count": int(count[i]),
             "confidence": float(mean_conf[i]), "accuracy": float(acc[i])} for i in range(bins + 1) if count[i]]
    return {"ece": ece, "bins": rows}


def top_k_accuracy(probs: np.ndarray, truth: np.ndarray, k: int) -> float | None:
    if len(truth) == 0:
        return None
    k = min(k, probs.shape[1])
    # scikit-learn / torchmetrics: right when the true class is among the k highest scores
    top = np.argpartition(-probs, k - 1, axis=1)[:, :k]
    return float(np.mean(np.any(top == truth[:, None], axis=1)))


# ---------------------------------------------------------------------------- the report

HEADLINE = ("accuracy", "f1_macro", "precision_macro", "recall_macro", "balanced_accuracy")


@dataclass
class SubsetReport:
    """Everything computed for one subset (or several pooled) at one operating point."""

    subset: str
    images: int
    counted: int
    flagged: int
    metrics: dict[str, float | None]
    intervals: dict[str, list[float]]
    per_class: list[dict]
    confusion: list[list[int]]
    curves: list[dict] = field(default_factory=list)
    calibration: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"subset": self.subset, "images": self.images, "counted": self.counted, "flagged": self.flagged,
                "metrics": self.metrics, "intervals": self.intervals, "per_class": self.per_class,
                "confusion": self.confusion, "curves": self.curves, "calibration": self.calibration}


def _bootstrap_stats(truth: np.ndarray, pred: np.ndarray, c: int):
    def stat(idx: np.ndarray) -> dict[str, np.ndarray]:
        # idx: (B, n) resampled row indices -> one confusion matrix per resample
        b = np.repeat(np.arange(idx.shape[0]), idx.shape[1])
        flat = (b * c + truth[idx].ravel()) * c + pred[idx].ravel()
        cms = np.bincount(flat, minlength=idx.shape[0] * c * c).reshape(idx.shape[0], c, c)
        m = from_confusion(cms)
        return {k: m[k] for k in HEADLINE}

    return stat


def subset_report(scores: Scores, dec: Decisions, subset: str | list[str] | None, *, curves: bool = True,
                  resamples: int = 1000, seed: int = 0, max_cells: int = 4_000_000) -> SubsetReport:
    """The metrics of the images of ``subset`` under the decisions ``dec``.

    ``max_cells`` bounds each bootstrap chunk: a GUI computing intervals in a background thread
    passes a small one (each numpy call holds the GIL; 4 million cells hold it ~50 ms)."""
    label = subset if isinstance(subset, str) else "+".join(subset or ["all"])
    rows = scores.subset(subset)
    kept = rows & ~dec.uncertain
    truth, pred, c = scores.truth[kept], dec.pred[kept], scores.num_classes
    cm = confusion(truth, pred, c)
    m = from_confusion(cm)
    metrics: dict[str, float | None] = {k: (float(m[k]) if len(truth) else None) for k in HEADLINE}
    probs_all = dec.probs[rows]
    truth_all = scores.truth[rows]
    if c > TOP_K_FROM:
        metrics[f"top{TOP_K}_accuracy"] = top_k_accuracy(probs_all, truth_all, TOP_K)
    for k in ("precision_weighted", "recall_weighted", "f1_weighted"):
        metrics[k] = float(m[k]) if len(truth) else None
    cal = calibration(probs_all, truth_all)
    metrics["ece"] = cal["ece"]
    intervals: dict[str, list[float]] = {}
    if len(truth) >= 2 and resamples > 0:
        intervals = bootstrap_interval(len(truth), _bootstrap_stats(truth, pred, c), resamples=resamples, seed=seed,
                                       max_cells=max_cells)
    per_class, curve_rows = [], []
    for i, (cid, name) in enumerate(zip(scores.class_ids, scores.class_names, strict=True)):
        row = {"class_id": cid, "name": name, "precision": float(m["precision"][i]), "recall": float(m["recall"][i]),
               "f1": float(m["f1"][i]), "support": int(m["support"][i]), "predicted": int(m["predicted"][i])}
        if curves:
            cur = binary_curves(truth_all == i, probs_all[:, i] if len(truth_all) else np.zeros(0))
            row["roc_auc"], row["average_precision"] = cur["auc"], cur["ap"]
            fx, fy = thin(cur["fpr"], cur["tpr"])
            rx, ry = thin(cur["recall"], cur["precision"])
            curve_rows.append({"class_id": cid, "name": name, "roc": {"fpr": fx, "tpr": fy},
                               "pr": {"recall": rx, "precision": ry}, "auc": cur["auc"], "ap": cur["ap"],
                               "why": cur["why"]})
        per_class.append(row)
    if curves:
        aucs = [r["roc_auc"] for r in per_class if r.get("roc_auc") is not None]
        aps = [r["average_precision"] for r in per_class if r.get("average_precision") is not None]
        metrics["roc_auc_macro"] = float(np.mean(aucs)) if aucs else None
        metrics["average_precision_macro"] = float(np.mean(aps)) if aps else None
    return SubsetReport(subset=label, images=int(rows.sum()), counted=int(kept.sum()),
                        flagged=int((rows & dec.uncertain).sum()), metrics=metrics, intervals=intervals,
                        per_class=per_class, confusion=cm.tolist(), curves=curve_rows, calibration=cal)


# ---------------------------------------------------------------------------- goals

def fit_temperature(logits: np.ndarray, truth: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood of ``truth`` (golden-section search
    on log T in [1/20, 20]); 1.0 when there are no images."""
    if len(truth) == 0:
        return 1.0
    z = np.asarray(logits, dtype=np.float64)

    def nll(log_t: float) -> float:
        p = softmax(z, float(np.exp(log_t)))
        return float(-np.mean(np.log(np.clip(p[np.arange(len(truth)), truth], 1e-12, None))))

    lo, hi = np.log(1 / 20), np.log(20)
    g = (np.sqrt(5) - 1) / 2
    a, b = lo + (1 - g) * (hi - lo), lo + g * (hi - lo)
    fa, fb = nll(a), nll(b)
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = lo + (1 - g) * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = nll(b)
    return float(np.exp((lo + hi) / 2))


def refit(scores: Scores, op: OperatingPoint) -> OperatingPoint:
    """Choose ``op``'s goals again (threshold goal first, then the uncertain cut-off), e.g. after
    its temperature changed: a threshold means another thing on recalibrated probabilities."""
    out = op.model_copy(update={"rule": "argmax", "positive_class": None, "threshold": None,
                                "uncertain_below": None, "achieved": {}})
    for slot in ("threshold", "uncertain"):
        if slot in op.goals:
            out = choose_operating_point(scores, Goal.model_validate(op.goals[slot]), out)
    if not op.goals:
        out = op.model_copy()
    return out


class GoalNotReachable(ValueError):
    """No operating point meets the goal on the chosen images (the message says what is reachable)."""


def choose_operating_point(scores: Scores, goal: Goal, base: OperatingPoint | None = None) -> OperatingPoint:
    """The operating point that meets ``goal`` on the ``goal.subset`` images' cached scores.

    recall / precision / cost: a threshold on the class ``goal.class_id`` (one against the rest);
    uncertain: the smallest probability cut-off whose counted images reach accuracy ``goal.value``.
    The temperature of ``base`` is kept (choose it first: it changes the probabilities)."""
    base = base or OperatingPoint()
    rows = scores.subset(goal.subset)
    if not rows.any():
        raise GoalNotReachable(f"there are no {goal.subset} images in this evaluation to choose on")
    probs = softmax(scores.logits[rows], base.temperature)
    truth = scores.truth[rows]
    slot = "uncertain" if goal.kind == "uncertain" else "threshold"
    common = {"temperature": base.temperature, "goal": goal.model_dump(),
              "goals": {**base.goals, slot: goal.model_dump()}}
    if goal.kind == "uncertain":
        # the decisions of the rule in force (a threshold too), without any cut-off yet
        pred, dprobs, _ = decide(scores.logits[rows], base.model_copy(update={"uncertain_below": None}),
                                 scores.class_ids)
        conf = dprobs[np.arange(len(pred)), pred]
        right = pred == truth
        for cut in np.unique(np.r_[0.0, conf]):
            counted = conf >= cut
            if counted.any() and right[counted].mean() >= goal.value:
                return OperatingPoint(rule=base.rule, positive_class=base.positive_class, threshold=base.threshold,
                                      uncertain_below=float(cut) if cut > 0 else None,
                                      achieved={"accuracy": float(right[counted].mean()),
                                                "coverage": float(counted.mean()), "subset": goal.subset}, **common)
        raise GoalNotReachable(f"no cut-off reaches accuracy {goal.value:.3g} on the {goal.subset} images")
    if goal.class_id not in scores.class_ids:
        raise GoalNotReachable(f"class id {goal.class_id} is not an output of this model")
    k = scores.class_ids.index(goal.class_id)
    positive = truth == k
    if not positive.any():
        raise GoalNotReachable(f"no {goal.subset} image is of class '{scores.class_names[k]}'")
    # predicting class k exactly when p_k >= t: counts for every candidate t at once
    pk = probs[:, k]
    pos_sorted, neg_sorted = np.sort(pk[positive]), np.sort(pk[~positive])
    candidates = np.unique(np.r_[pk, 1.0])
    tp = len(pos_sorted) - np.searchsorted(pos_sorted, candidates, side="left")
    fp = len(neg_sorted) - np.searchsorted(neg_sorted, candidates, side="left")
    fn = len(pos_sorted) - tp
    recall = tp / len(pos_sorted)
    precision = np.where(tp + fp > 0, tp / np.maximum(1, tp + fp), 1.0)
    cost = goal.cost_fp * fp + goal.cost_fn * fn
    if goal.kind == "recall":
        ok = recall >= goal.value
        order = np.lexsort((candidates, precision))  # highest precision, then highest threshold
    elif goal.kind == "precision":
        ok = precision >= goal.value
        order = np.lexsort((-candidates, recall))  # highest recall, then lowest threshold
    else:
        ok = np.ones(len(candidates), dtype=bool)
        order = np.lexsort((recall, -cost))  # lowest cost, then highest recall
    best, best_ach = None, None
    for i in order[::-1]:
        if ok[i]:
            best = float(candidates[i])
            best_ach = {"recall": float(recall[i]), "precision": float(precision[i]),
                        "false_positives": int(fp[i]), "false_negatives": int(fn[i]), "subset": goal.subset}
            if goal.kind == "cost":
                best_ach["cost"] = float(cost[i])
            break
    if best is None:
        raise GoalNotReachable(f"no threshold gives {goal.kind} {goal.value:.3g} for "
                               f"'{scores.class_names[k]}' on the {goal.subset} images")
    return OperatingPoint(rule="threshold", positive_class=goal.class_id, threshold=best,
                          uncertain_below=base.uncertain_below, achieved=best_ach, **common)


def _fmt(value) -> str:
    return f"{value:.3f}" if isinstance(value, float) else "  –  "


def summary_lines(aggregate: dict) -> list[str]:
    """The console summary of an evaluation (``studio evaluate``): one row per subset."""
    lines = [f"{'subset':8s} {'images':>6s}  {'accuracy (95 % interval)':26s} {'macro F1':>8s} "
             f"{'ROC AUC':>7s} {'ECE':>6s}"]
    for subset, body in aggregate.get("subsets", {}).items():
        m, iv = body.get("metrics", {}), body.get("intervals", {})
        acc = _fmt(m.get("accuracy"))
        if iv.get("accuracy"):
            acc += f" ({iv['accuracy'][0]:.3f}–{iv['accuracy'][1]:.3f})"
        flagged = f", {body['flagged']} uncertain" if body.get("flagged") else ""
        lines.append(f"{subset:8s} {body.get('images', 0):>6d}  {acc:26s} {_fmt(m.get('f1_macro')):>8s} "
                     f"{_fmt(m.get('roc_auc_macro')):>7s} {_fmt(m.get('ece')):>6s}{flagged}")
    return lines


__all__ = ["CALIBRATION_BINS", "Decisions", "GoalNotReachable", "HEADLINE", "Scores", "SubsetReport", "binary_curves",
           "calibration", "choose_operating_point", "refit", "confusion", "decisions", "fit_temperature", "from_confusion",
           "subset_report", "summary_lines", "thin", "top_k_accuracy"]
