"""Object detection evaluation: COCO mAP with torchmetrics, the raw cache, result lines per image.

The head's network returns, per image, up to K boxes in INPUT (letterboxed) pixels with scores and
project class indices, kept down to a low score (mAP needs the whole ranking). They are mapped back
to original pixels (``core/letterbox.py``) and cached in ``scores.npz``; the mAP family is
torchmetrics' ``MeanAveragePrecision`` with the faster-coco-eval backend (proved equal to
pycocotools by tests/ml/test_detection_metrics.py). Everything that depends on the operating point
— counts, precision/recall, the confusion matrix, each box's TP/FP/FN — and the bootstrap
intervals come from the numpy module ``core/evaluation/detection*`` (the page recomputes them from
the same cache as the user moves the threshold), which recomputes mAP too: every run checks that
the two agree.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from ...core import letterbox
from ...core.evaluation import detection as det
from ...core.evaluation import detection_map as dmap
from ...core.evaluation.operating_point import OperatingPoint
from ...core.schemas import ImageRecord
from .base import EvaluationResult

#: how each metric is computed, for tooltips and the report
HOW = {
    "map": "COCO mAP@0.5:0.95: average precision (area under the interpolated precision-recall curve, 101 "
           "recall points) at ten IoU thresholds 0.50, 0.55 ... 0.95, averaged over them and over the classes "
           "that have objects; up to 100 boxes per image",
    "map_50": "mAP@0.5 (PASCAL VOC style): a box counts as found when it overlaps the object by IoU 0.5 or more",
    "map_75": "mAP@0.75: a strict localisation requirement (IoU 0.75 or more)",
    "map_small": "mAP@0.5:0.95 on small objects (under 32x32 pixels in the original image)",
    "map_medium": "mAP@0.5:0.95 on medium objects (32x32 to 96x96 pixels)",
    "map_large": "mAP@0.5:0.95 on large objects (over 96x96 pixels)",
    "mar_100": "mean average recall with up to 100 boxes per image, over IoU 0.50:0.95 and the classes",
    "ap": "the class's AP@0.5:0.95", "ap_50": "the class's AP at IoU 0.5", "ar_100": "the class's recall "
    "(AR@100) averaged over IoU 0.50:0.95",
    "at_operating_point": "boxes at or above the score threshold (after the chosen NMS), matched at the match "
                          "IoU: TP found an object, FP found nothing (or a duplicate), FN an object nobody "
                          "found; difficult / crowd objects count as neither",
    "confusion": "rows: the true class, then 'background' (a box where nothing is); columns: the predicted class, "
                 "then 'background' (an object nobody found); at the operating point",
}
#: exactly pycocotools' Params (np.linspace in float64)
COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True).tolist()
COCO_RECALLS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True).tolist()
#: torchmetrics' names -> ours
_TM_KEYS = ("map", "map_50", "map_75", "map_small", "map_medium", "map_large", "mar_1", "mar_10", "mar_100",
            "mar_small", "mar_medium", "mar_large")


def _value(v) -> float | None:
    v = float(v)
    return None if v < 0 or not np.isfinite(v) else v


def torchmetrics_map(scores: det.DetectionScores, images: np.ndarray) -> dict:
    """The COCO metrics of the chosen images with ``MeanAveragePrecision(backend="faster_coco_eval")``:
    the headline values, and per class (project class index) ``ap``, ``ap_50``, ``ar_100``."""
    from torchmetrics.detection import MeanAveragePrecision

    # COCO's own thresholds, in float64: torchmetrics' defaults come from torch.linspace in float32
    # (0.07 -> 0.07000000029802322), and a recall of exactly 7/100 then misses its recall point — on
    # the real fixture that moved mAP(small) by 2e-4 away from pycocotools
    # per-class numbers from COCOeval's precision/recall arrays (extended summary), as pycocotools
    # reports them: torchmetrics' class_metrics=True evaluates everything once more per class (6x slower)
    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", class_metrics=False, extended_summary=True,
                                  backend="faster_coco_eval", iou_thresholds=list(COCO_IOU_THRESHOLDS),
                                  rec_thresholds=list(COCO_RECALLS))
    preds, targets = [], []
    chosen = np.flatnonzero(images)
    for d, g in zip(_per_image(scores.det_image, images, chosen), _per_image(scores.gt_image, images, chosen),
                    strict=True):
        preds.append({"boxes": torch.from_numpy(scores.det_boxes[d]).float(),
                      "scores": torch.from_numpy(scores.det_scores[d]).float(),
                      "labels": torch.from_numpy(scores.det_labels[d]).long()})
        targets.append({"boxes": torch.from_numpy(scores.gt_boxes[g]).float(),
                        "labels": torch.from_numpy(scores.gt_labels[g]).long(),
                        "iscrowd": torch.from_numpy(scores.gt_ignore[g].astype(np.int64))})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "encountered more than 100 detections" and friends
        metric.update(preds, targets)
        r = metric.compute()
    out: dict = {k: _value(r[k]) for k in _TM_KEYS if k in r}
    # the category axis: every label of the predictions and the ground truth, sorted (torchmetrics' rule)
    classes = sorted(set(scores.det_labels[images[scores.det_image]].tolist())
                     | set(scores.gt_labels[images[scores.gt_image]].tolist()))
    precision = np.asarray(r["precision"])  # (IoU, recall, class, area, max dets)
    recall = np.asarray(r["recall"])  # (IoU, class, area, max dets)
    per_class: dict[int, dict] = {}
    if precision.ndim == 5 and precision.shape[2] == len(classes):
        for j, k in enumerate(classes):
            p, p50, rc = precision[:, :, j, 0, -1], precision[0, :, j, 0, -1], recall[:, j, 0, -1]
            per_class[k] = {"ap": _mean_defined(p), "ap_50": _mean_defined(p50), "ar_100": _mean_defined(rc)}
    out["per_class"] = per_class
    return out


def _per_image(owner: np.ndarray, images: np.ndarray, chosen: np.ndarray) -> list[np.ndarray]:
    """The row indices of each chosen image, in image order (one sort, not a scan per image)."""
    rows = np.flatnonzero(images[owner])
    rows = rows[np.argsort(owner[rows], kind="stable")]
    return np.split(rows, np.searchsorted(owner[rows], chosen[1:]))


def _mean_defined(a: np.ndarray) -> float | None:
    """COCO's summary: the mean of the defined (> -1) entries, None when there are none."""
    a = a[a > -1]
    return float(a.mean()) if a.size else None


class DetectionEvaluation:
    def __init__(self, head):
        self.head = head
        self.class_ids = [c.id for c in head.project.classes]
        self.class_names = [c.name for c in head.project.classes]
        self.size = int(head.config.input_size)

    # ------------------------------------------------------------------ the cache
    def cache(self, records: list[ImageRecord], subsets, arrays: dict, log) -> det.DetectionScores:
        """The raw predictions in original pixels and the ground truth, flat (``scores.npz``)."""
        boxes = np.asarray(arrays["boxes"], dtype=np.float64).reshape(len(records), -1, 4)
        conf = np.asarray(arrays["scores"], dtype=np.float64).reshape(len(records), -1)
        labels = np.asarray(arrays["labels"], dtype=np.int64).reshape(len(records), -1)
        c = len(self.class_ids)
        valid = (labels >= 0) & (labels < c)
        det_image = np.nonzero(valid)[0]
        det_boxes = np.zeros((len(det_image), 4))
        start = 0
        for i, rec in enumerate(records):  # each image's own letterbox
            n = int(valid[i].sum())
            if n:
                det_boxes[start:start + n] = letterbox.to_original(boxes[i][valid[i]], rec.width, rec.height,
                                                                   self.size)
            start += n
        index = {cid: k for k, cid in enumerate(self.class_ids)}
        gt_image, gt_boxes, gt_labels, gt_ignore = [], [], [], []
        unknown = 0
        flags: list[tuple[bool, bool]] = []
        for i, rec in enumerate(records):
            for b in rec.boxes:
                if b.cls not in index:
                    unknown += 1
                    continue
                gt_image.append(i)
                gt_boxes.append((b.x1, b.y1, b.x2, b.y2))
                gt_labels.append(index[b.cls])
                gt_ignore.append(bool(b.difficult or b.iscrowd))
                flags.append((bool(b.difficult), bool(b.iscrowd)))
        self.gt_flags = np.asarray(flags, dtype=bool).reshape(-1, 2)
        if unknown:
            log(f"{unknown} ground-truth box(es) of classes this model does not know were left out of the "
                "evaluation", "warning")
        return det.DetectionScores(subsets=np.asarray(subsets).astype(str), det_image=det_image, det_boxes=det_boxes,
                                   det_scores=conf[valid], det_labels=labels[valid], gt_image=np.asarray(gt_image),
                                   gt_boxes=np.asarray(gt_boxes).reshape(-1, 4), gt_labels=np.asarray(gt_labels),
                                   gt_ignore=np.asarray(gt_ignore, dtype=bool),
                                   image_ids=np.array([r.id for r in records]), class_ids=self.class_ids,
                                   class_names=self.class_names)

    # ------------------------------------------------------------------ the protocol
    def evaluate(self, *, records: list[ImageRecord], subsets, targets: list, arrays: dict,
                 op: OperatingPoint | None, log) -> EvaluationResult:
        scores = self.cache(records, subsets, arrays, log)
        if op is not None and op.task != "object_detection":
            op = None
        aggregate: dict = {"subsets": {}, "how": HOW, "iou_thresholds": list(dmap.COCO_IOUS),
                           "classes": [{"id": i, "name": n} for i, n in zip(self.class_ids, self.class_names,
                                                                          strict=True)],
                           "operating_point_used": (op or OperatingPoint(task="object_detection")).model_dump(
                               mode="json"),
                           "thresholds": det.class_thresholds(scores, op).tolist()}
        headline: dict = {}
        for subset in dict.fromkeys(scores.subsets.tolist()):
            images = scores.subset(subset)
            body = dmap.subset_report(scores, subset, op)
            tm = torchmetrics_map(scores, images)
            for key in ("map", "map_50", "map_75"):
                ours, theirs = body["metrics"][key], tm.get(key)
                if (ours is None) != (theirs is None) or (ours is not None and abs(ours - theirs) > 1e-4):
                    log(f"{subset} {key}: torchmetrics {theirs} but the page's numpy computes {ours}", "warning")
            # torchmetrics' values are the ones written
            body["metrics"] = {k: tm.get(k) for k in _TM_KEYS}
            for k, row in enumerate(body["per_class"]):
                row.update(tm["per_class"].get(k, {"ap": None, "ap_50": None, "ar_100": None}))
                row.pop("ap_75", None)
            for curve, row in zip(body["curves"], body["per_class"], strict=True):
                curve["ap_50"] = row["ap_50"]
            aggregate["subsets"][subset] = body
            headline[subset] = {"map": body["metrics"]["map"], "map_50": body["metrics"]["map_50"],
                                "map_interval": body["intervals"].get("map"),
                                "precision": body["at_operating_point"]["precision"],
                                "recall": body["at_operating_point"]["recall"]}
        return EvaluationResult(aggregate=aggregate, lines=self.lines(records, scores, op), scores=scores.as_npz(),
                                headline=headline)

    def lines(self, records: list[ImageRecord], scores: det.DetectionScores, op: OperatingPoint | None) -> list[dict]:
        """One results.jsonl line per image: its boxes, the predictions at the operating point, TP/FP/FN."""
        out = det.at_operating_point(scores, op)
        gt_state = np.where(scores.gt_ignore, "ignored", np.where(out.gt_tp, "tp", "fn"))
        det_state = np.where(out.det_tp, "tp", np.where(out.det_fp, "fp", "ignored"))
        det_order = np.lexsort((-scores.det_scores, scores.det_image))
        det_of = np.split(det_order, np.searchsorted(scores.det_image[det_order], np.arange(1, len(records))))
        gt_of = np.split(np.arange(len(scores.gt_image)), np.searchsorted(scores.gt_image, np.arange(1, len(records))))
        flags = getattr(self, "gt_flags", None)
        if flags is None or len(flags) != len(scores.gt_image):
            flags = np.c_[scores.gt_ignore, np.zeros(len(scores.gt_image), dtype=bool)]
        lines = []
        for i, rec in enumerate(records):
            truth = [{"cls": self.class_ids[scores.gt_labels[j]], **_coords(scores.gt_boxes[j]),
                      "difficult": bool(flags[j, 0]), "iscrowd": bool(flags[j, 1]),
                      "outcome": str(gt_state[j])} for j in gt_of[i]]
            pred = [{"cls": self.class_ids[scores.det_labels[j]], **_coords(scores.det_boxes[j]),
                     "score": round(float(scores.det_scores[j]), 5), "outcome": str(det_state[j])}
                    for j in det_of[i] if out.shown[j]]
            lines.append({"image": rec.id, "file": rec.file, "source": rec.source, "subset": str(scores.subsets[i]),
                          "width": rec.width, "height": rec.height, "truth": {"boxes": truth},
                          "prediction": {"boxes": pred}, "tp": int(out.image_tp[i]), "fp": int(out.image_fp[i]),
                          "fn": int(out.image_fn[i])})
        return lines


def _coords(b) -> dict:
    return {"x1": round(float(b[0]), 2), "y1": round(float(b[1]), 2), "x2": round(float(b[2]), 2),
            "y2": round(float(b[3]), 2)}


__all__ = ["DetectionEvaluation", "HOW", "torchmetrics_map"]
