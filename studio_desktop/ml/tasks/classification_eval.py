"""Classification evaluation: torchmetrics metrics, cached logits, result lines, likely label errors.

The metrics are computed with torchmetrics at the operating point of the run and written to
``aggregate.json``; the same numbers are recomputed in numpy by ``core/evaluation/classification``
for the page (which follows operating-point changes without torch), and this module checks on
every run that the two agree. Curves, the reliability diagram and the bootstrap intervals come
from the numpy module (one implementation of each, shared with the page).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import torch
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassAUROC,
    MulticlassAveragePrecision,
    MulticlassCalibrationError,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
)

from ...core.evaluation import classification as cls_eval
from ...core.evaluation.classification import TOP_K, TOP_K_FROM, Scores
from ...core.evaluation.operating_point import OperatingPoint
from ...core.schemas import ImageRecord
from .base import EvaluationResult

#: how each metric is computed, for tooltips and the report
HOW = {
    "accuracy": "share of the counted images whose predicted class is the true class",
    "precision_macro": "precision of each class (right among predicted as it), averaged over the classes "
                       "that occur, each class counting the same",
    "recall_macro": "recall of each class (found among its images), averaged over the classes that occur",
    "f1_macro": "harmonic mean of precision and recall per class, averaged over the classes that occur",
    "balanced_accuracy": "the mean recall over the classes that occur (accuracy if every class were "
                         "equally frequent)",
    "precision_weighted": "per-class precision averaged with each class weighted by its number of images",
    "recall_weighted": "per-class recall weighted by the number of images (equals accuracy)",
    "f1_weighted": "per-class F1 weighted by the number of images",
    f"top{TOP_K}_accuracy": f"share of images whose true class is among the {TOP_K} most probable",
    "roc_auc_macro": "area under each class's ROC curve (one against the rest), averaged over classes "
                     "with images; threshold-free",
    "average_precision_macro": "area under each class's precision-recall curve (one against the rest), "
                               "averaged; threshold-free",
    "ece": f"expected calibration error: |accuracy - confidence| in {cls_eval.CALIBRATION_BINS} confidence "
           "bins, weighted by their images (0 = probabilities mean what they say)",
}


def torchmetrics_report(probs: np.ndarray, truth: np.ndarray, pred: np.ndarray, counted: np.ndarray) -> dict:
    """The metrics of one subset with torchmetrics: counts at the operating point (``pred`` on the
    ``counted`` images), the threshold-free ones on every image's probabilities."""
    c = probs.shape[1]
    n = max(c, 2)
    p = torch.from_numpy(pred[counted]).long()
    t = torch.from_numpy(truth[counted]).long()
    out: dict = {}
    if len(t):
        out["accuracy"] = float(MulticlassAccuracy(n, average="micro")(p, t))
        for avg in ("macro", "weighted"):
            out[f"precision_{avg}"] = float(MulticlassPrecision(n, average=avg)(p, t))
            out[f"recall_{avg}"] = float(MulticlassRecall(n, average=avg)(p, t))
            out[f"f1_{avg}"] = float(MulticlassF1Score(n, average=avg)(p, t))
        out["balanced_accuracy"] = out["recall_macro"]
        out["per_class_precision"] = MulticlassPrecision(n, average=None)(p, t)[:c].tolist()
        out["per_class_recall"] = MulticlassRecall(n, average=None)(p, t)[:c].tolist()
        out["per_class_f1"] = MulticlassF1Score(n, average=None)(p, t)[:c].tolist()
        out["confusion"] = MulticlassConfusionMatrix(n)(p, t)[:c, :c].tolist()
    pr = torch.from_numpy(probs).float()
    ta = torch.from_numpy(truth).long()
    if len(ta):
        if c > TOP_K_FROM:
            out[f"top{TOP_K}_accuracy"] = float(MulticlassAccuracy(c, top_k=TOP_K, average="micro")(pr, ta))
        out["ece"] = float(MulticlassCalibrationError(n, n_bins=cls_eval.CALIBRATION_BINS, norm="l1")(
            pr if c > 1 else torch.cat([pr, 1 - pr], 1), ta))
        # per class, one against the rest; undefined (None) without both positives and negatives
        has = [bool((truth == k).any() and (truth != k).any()) for k in range(c)]
        if any(has) and c > 1:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torchmetrics warns about the classes we drop
                auroc = MulticlassAUROC(c, average=None, thresholds=None)(pr, ta).tolist()
                ap = MulticlassAveragePrecision(c, average=None, thresholds=None)(pr, ta).tolist()
            out["per_class_roc_auc"] = [a if h else None for a, h in zip(auroc, has, strict=True)]
            out["per_class_average_precision"] = [a if h else None for a, h in zip(ap, has, strict=True)]
            kept = [a for a, h in zip(auroc, has, strict=True) if h]
            kept_ap = [a for a, h in zip(ap, has, strict=True) if h]
            out["roc_auc_macro"] = float(np.mean(kept))
            out["average_precision_macro"] = float(np.mean(kept_ap))
    return out


def label_issues(truth: np.ndarray, probs: np.ndarray, records: list[ImageRecord], subsets, class_ids: list[int],
                 class_names: list[str], log: Callable[[str, str], None]) -> list[dict]:
    """Images whose given label is probably wrong, most likely first (cleanlab's
    ``find_label_issues`` ranked by self-confidence; the predictions are out-of-sample because
    these images were not trained on)."""
    if len(truth) < 2 or probs.shape[1] < 2:
        return []
    try:
        from cleanlab.filter import find_label_issues
        from cleanlab.rank import get_label_quality_scores

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "too few examples in class ..." on small subsets
            # n_jobs=1: no forked pool (a fork of a process holding torch's threads is fragile)
            ranked = find_label_issues(truth, probs, return_indices_ranked_by="self_confidence", n_jobs=1)
            quality = get_label_quality_scores(truth, probs)
    except Exception as exc:  # noqa: BLE001 - a ranking that cannot be computed is reported, not fatal
        log(f"likely label errors were not computed: {str(exc).splitlines()[0][:200]}", "warning")
        return []
    out = []
    for rank, i in enumerate(np.asarray(ranked).tolist(), 1):
        suggested = int(probs[i].argmax())
        out.append({"rank": rank, "image": records[i].id, "file": records[i].file, "subset": str(subsets[i]),
                    "given": {"label": class_ids[truth[i]], "name": class_names[truth[i]]},
                    "suggested": {"label": class_ids[suggested], "name": class_names[suggested]},
                    "quality": round(float(quality[i]), 6),
                    "suggested_probability": round(float(probs[i, suggested]), 6)})
    return out


class ClassificationEvaluation:
    def __init__(self, head):
        self.head = head
        self.class_ids = [c.id for c in head.project.classes]
        self.class_names = list(head.names)

    def evaluate(self, *, records: list[ImageRecord], subsets, targets: list, arrays: dict,
                 op: OperatingPoint | None, log) -> EvaluationResult:
        scores = Scores(image_ids=np.array([r.id for r in records]), subsets=np.asarray(subsets).astype(str),
                        truth=np.asarray(targets, dtype=np.int64), logits=arrays["logits"].astype(np.float32),
                        class_ids=self.class_ids, class_names=self.class_names)
        dec = cls_eval.decisions(scores, op)
        aggregate: dict = {"subsets": {}, "how": HOW, "classes": [{"id": i, "name": n} for i, n in
                                                                  zip(self.class_ids, self.class_names, strict=True)]}
        headline: dict = {}
        for subset in dict.fromkeys(scores.subsets.tolist()):
            rows = scores.subset(subset)
            report = cls_eval.subset_report(scores, dec, subset)
            tm = torchmetrics_report(dec.probs[rows], scores.truth[rows], dec.pred[rows], ~dec.uncertain[rows])
            _check_agreement(report, tm, subset, log)
            body = report.as_json()
            # torchmetrics' values are the ones written (the numpy ones equal them: checked above)
            for key in list(body["metrics"]):
                if isinstance(tm.get(key), float):
                    body["metrics"][key] = tm[key]
            for i, row in enumerate(body["per_class"]):
                for src, dst in (("per_class_precision", "precision"), ("per_class_recall", "recall"),
                                 ("per_class_f1", "f1"), ("per_class_roc_auc", "roc_auc"),
                                 ("per_class_average_precision", "average_precision")):
                    if src in tm:
                        row[dst] = tm[src][i]
            if "confusion" in tm:
                body["confusion"] = tm["confusion"]
            body["confusion_normalized"] = _row_normalised(body["confusion"])
            aggregate["subsets"][subset] = body
            headline[subset] = {k: body["metrics"].get(k) for k in ("accuracy", "f1_macro")}
            headline[subset]["accuracy_interval"] = body["intervals"].get("accuracy")
        probs_cal = dec.probs
        issues = label_issues(scores.truth, probs_cal, records, scores.subsets, self.class_ids, self.class_names, log)
        rank_of = {d["image"]: d["rank"] for d in issues}
        lines = []
        for i, rec in enumerate(records):
            t, p = int(scores.truth[i]), int(dec.pred[i])
            unsure = bool(dec.uncertain[i])
            lines.append({"image": rec.id, "file": rec.file, "source": rec.source, "subset": str(scores.subsets[i]),
                          "truth": {"label": self.class_ids[t], "name": self.class_names[t]},
                          "prediction": {"label": self.class_ids[p], "name": self.class_names[p]},
                          "confidence": round(float(dec.probs[i, p]), 6),
                          "probabilities": [round(float(v), 6) for v in dec.probs[i]],
                          "correct": None if unsure else t == p, "uncertain": unsure,
                          "label_issue": rank_of.get(rec.id)})
        files = {"label_issues.json": {"schema_version": 1, "method": "cleanlab.filter.find_label_issues, "
                                       "ranked by self-confidence, on the evaluated images' predicted "
                                       "probabilities (out-of-sample)", "issues": issues}}
        headline["label_issues"] = len(issues)
        return EvaluationResult(aggregate=aggregate, lines=lines, scores=scores.as_npz(), files=files,
                                headline=headline)


def _row_normalised(cm: list[list[int]]) -> list[list[float]]:
    a = np.asarray(cm, dtype=np.float64)
    rows = a.sum(axis=1, keepdims=True)
    return np.divide(a, rows, out=np.zeros_like(a), where=rows > 0).round(6).tolist()


def _check_agreement(report, tm: dict, subset: str, log) -> None:
    """torchmetrics and the numpy module must give the same numbers (the page shows the latter)."""
    for key, value in tm.items():
        ours = report.metrics.get(key)
        if isinstance(value, float) and isinstance(ours, float) and abs(value - ours) > 1e-5:
            log(f"{subset} {key}: torchmetrics {value:.6f} but the page would show {ours:.6f}", "warning")


__all__ = ["ClassificationEvaluation", "HOW", "label_issues", "torchmetrics_report"]
