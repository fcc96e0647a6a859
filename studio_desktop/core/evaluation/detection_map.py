"""COCO average precision from the cached predictions in numpy, its bootstrap intervals, the subset report.

The evaluator's mAP numbers are torchmetrics' (``MeanAveragePrecision``, faster-coco-eval backend),
proved equal to pycocotools by tests/ml/test_detection_metrics.py. This module computes the same
AP the same way (COCO's 101-point interpolated precision, ten IoU thresholds 0.50:0.95, 100
predictions per image, ignore boxes) from ``scores.npz`` for two reasons: the evaluator checks the
two agree, and the bootstrap needs thousands of recomputations, which a COCO evaluation per
resample could not afford.

The bootstrap trick: precision at each true positive depends only on how many true and false
positives rank above it. Resampling images with replacement gives each image a count; the true
positives above are a running sum of those counts, and the false positives above are one matrix
product (counts x "false positives of image i before true positive j"), so a chunk of resamples
is a handful of array operations per class and IoU.
"""

from __future__ import annotations

import numpy as np

from . import detection as det
from .bootstrap import bootstrap_interval

#: COCO's IoU thresholds for mAP@0.5:0.95
COCO_IOUS = tuple(np.linspace(0.5, 0.95, 10).tolist())  # as pycocotools' Params, to the last bit
_IOU_50, _IOU_75 = COCO_IOUS[0], COCO_IOUS[5]
#: COCO's recall points of the interpolated precision
RECALLS = np.linspace(0.0, 1.0, 101)
MAX_DETS = 100
#: the bootstrap's work bound (resamples x ranked predictions): beyond it, fewer resamples (never
#: under MIN_RESAMPLES), so that a large evaluation's intervals take seconds, not minutes
WORK_BUDGET = 100_000_000
MIN_RESAMPLES = 200
_EPS = np.spacing(1)


def top_per_image(scores: det.DetectionScores, k: int = MAX_DETS) -> det.DetectionScores:
    """The cache with only each image's ``k`` highest-scoring predictions (COCO's maxDets)."""
    if not len(scores.det_scores) or np.bincount(scores.det_image, minlength=len(scores)).max() <= k:
        return scores
    order = np.lexsort((np.arange(len(scores.det_scores)), -scores.det_scores, scores.det_image))
    img = scores.det_image[order]
    starts = np.r_[0, np.flatnonzero(np.diff(img)) + 1]
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    keep = np.sort(order[rank < k])
    return det.DetectionScores(subsets=scores.subsets, det_image=scores.det_image[keep],
                               det_boxes=scores.det_boxes[keep], det_scores=scores.det_scores[keep],
                               det_labels=scores.det_labels[keep], gt_image=scores.gt_image, gt_boxes=scores.gt_boxes,
                               gt_labels=scores.gt_labels, gt_ignore=scores.gt_ignore, image_ids=scores.image_ids,
                               class_ids=scores.class_ids, class_names=scores.class_names)


class _Ranked:
    """One class at one IoU over some images, in COCO's order, cut after the last true positive (the
    false positives below it never change AP)."""

    def __init__(self, scores: det.DetectionScores, m: det.Matching, k: int, images: np.ndarray):
        local = np.cumsum(images) - 1  # image index within the chosen images
        sel = m.kept & ~m.det_ignored & (scores.det_labels == k) & images[scores.det_image]
        idx = np.flatnonzero(sel)
        # COCO: each image's predictions by score, images in order, then a stable sort by score
        idx = idx[np.lexsort((idx, -scores.det_scores[idx], scores.det_image[idx]))]
        idx = idx[np.argsort(-scores.det_scores[idx], kind="mergesort")]
        tp = m.det_gt[idx] >= 0
        end = int(np.flatnonzero(tp)[-1]) + 1 if tp.any() else 0
        img, tp = local[scores.det_image[idx[:end]]], tp[:end]
        self.img_tp = img[tp]
        # the false positives above each true positive, by (segment between true positives, image) with
        # their number: a resample's weighted count is then a small gather and a segment sum
        seg = np.cumsum(tp)[~tp]  # false positives in segment s lie above true positive s (0-based)
        key = seg * max(1, len(local)) + img[~tp]
        u, count = np.unique(key, return_counts=True)
        self.fp_seg, self.fp_img, self.fp_count = u // max(1, len(local)), u % max(1, len(local)), count.astype(float)
        self.n_images = int(images.sum())
        self.size = len(self.img_tp) + len(u)
        gts = ~scores.gt_ignore & (scores.gt_labels == k) & images[scores.gt_image]
        self.gt_count = np.bincount(local[scores.gt_image[gts]], minlength=self.n_images).astype(np.float64)

    def __len__(self) -> int:
        return self.size

    def ap(self, weights: np.ndarray) -> np.ndarray:
        """(B,) AP under image weights (B, I) (ones: the plain AP); NaN where the class has no ground truth."""
        npos = weights @ self.gt_count
        b, n_tp = len(weights), len(self.img_tp)
        out = np.full(b, np.nan)
        has = npos > 0
        if n_tp == 0:
            out[has] = 0.0
            return out
        ctp = np.cumsum(weights[:, self.img_tp], axis=1)
        cfp = np.zeros((b, n_tp))
        if len(self.fp_seg):
            starts = np.r_[0, np.flatnonzero(np.diff(self.fp_seg)) + 1]
            per_seg = np.add.reduceat(weights[:, self.fp_img] * self.fp_count, starts, axis=1)
            cfp[:, self.fp_seg[starts]] = per_seg
            cfp = np.cumsum(cfp, axis=1)
        precision = ctp / (ctp + cfp + _EPS)
        envelope = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
        recall = ctp / np.where(has, npos, 1.0)[:, None]
        # first true positive whose recall reaches each recall point, all rows in one search (rows offset by 2)
        offset = 2.0 * np.arange(b)[:, None]
        pos = np.searchsorted((recall + offset).ravel(), (RECALLS[None, :] + offset).ravel(), side="left")
        pos = pos.reshape(b, len(RECALLS)) - n_tp * np.arange(b)[:, None]
        valid = pos < n_tp
        q = np.where(valid, np.take_along_axis(envelope, np.minimum(pos, n_tp - 1), axis=1), 0.0)
        out[has] = q[has].mean(axis=1)
        return out


def _ranked(scores: det.DetectionScores, images: np.ndarray, ious=COCO_IOUS) -> dict[tuple[int, float], _Ranked]:
    top = top_per_image(scores)
    return {(k, t): _Ranked(top, top.matching(None, t), k, images) for t in ious for k in range(scores.num_classes)}


def _summarise(aps: dict[tuple[int, float], np.ndarray], num_classes: int) -> dict[str, np.ndarray]:
    """mAP@0.5:0.95, @0.5, @0.75 from per (class, IoU) APs, averaging only classes with ground truth."""
    with np.errstate(all="ignore"):
        def mean(keys):
            stack = np.stack([aps[key] for key in keys])
            with_gt = ~np.isnan(stack)
            return np.where(with_gt.any(axis=0), np.nansum(stack, axis=0) / np.maximum(with_gt.sum(axis=0), 1), np.nan)

        c = range(num_classes)
        return {"map": mean([(k, t) for k in c for t in COCO_IOUS]), "map_50": mean([(k, _IOU_50) for k in c]),
                "map_75": mean([(k, _IOU_75) for k in c])}


def coco_map(scores: det.DetectionScores, images: np.ndarray | None = None) -> dict:
    """COCO mAP@0.5:0.95, mAP@0.5, mAP@0.75 and each class's AP / AP50 over ``images`` ((I,) bool).

    None where undefined (no ground truth of any class / of that class)."""
    images = scores.subset(None) if images is None else np.asarray(images, dtype=bool)
    ranked = _ranked(scores, images)
    ones = np.ones((1, int(images.sum())))
    aps = {key: r.ap(ones) for key, r in ranked.items()}
    head = {k: det._num(v[0]) for k, v in _summarise(aps, scores.num_classes).items()}
    per_class = []
    for k in range(scores.num_classes):
        vals = np.array([aps[(k, t)][0] for t in COCO_IOUS])
        per_class.append({"ap": None if np.isnan(vals).all() else float(np.mean(vals)),
                          "ap_50": det._num(aps[(k, _IOU_50)][0]), "ap_75": det._num(aps[(k, _IOU_75)][0])})
    return {**head, "per_class": per_class}


def map_intervals(scores: det.DetectionScores, images: np.ndarray | None = None, *, resamples: int = 1000,
                  seed: int = 0, max_cells: int = 4_000_000) -> dict:
    """95 % bootstrap intervals (images resampled) of mAP@0.5:0.95, @0.5 and @0.75, and ``resamples``:
    how many were drawn (fewer than asked on a very large evaluation, see ``WORK_BUDGET``)."""
    images = scores.subset(None) if images is None else np.asarray(images, dtype=bool)
    n = int(images.sum())
    if n < 2:
        return {}
    ranked = _ranked(scores, images)
    widest = max([1, *(len(r) for r in ranked.values())])
    # each resample costs about the ranked predictions of every class and IoU: fewer on huge caches
    work = sum(len(r) for r in ranked.values()) + n
    resamples = int(min(resamples, max(MIN_RESAMPLES, WORK_BUDGET // work)))

    def stat(idx: np.ndarray) -> dict[str, np.ndarray]:
        parts: dict[str, list[np.ndarray]] = {}
        rows = max(1, max_cells // max(n, widest))
        for s in range(0, len(idx), rows):
            chunk = idx[s:s + rows]
            flat = (np.arange(len(chunk))[:, None] * n + chunk).ravel()
            weights = np.bincount(flat, minlength=len(chunk) * n).reshape(len(chunk), n).astype(np.float64)
            for name, v in _summarise({key: r.ap(weights) for key, r in ranked.items()}, scores.num_classes).items():
                parts.setdefault(name, []).append(v)
        return {name: np.concatenate(v) for name, v in parts.items()}

    out = bootstrap_interval(n, stat, resamples=resamples, seed=seed, max_cells=max_cells)
    return {**out, "resamples": resamples} if out else out


def coco_dicts(scores: det.DetectionScores, images: np.ndarray | None = None) -> tuple[dict, list[dict]]:
    """The ground truth as a COCO dataset and the predictions as COCO results (boxes x y w h, ``area``
    the box's), image ids = the cache's image index + 1, category ids = class index + 1; ignore
    boxes become ``iscrowd`` 1. For checking against pycocotools and for tools that read COCO."""
    images = scores.subset(None) if images is None else np.asarray(images, dtype=bool)

    def xywh(b):  # in float32, as a model's outputs (and torchmetrics' conversion) are
        b = np.asarray(b, dtype=np.float32)
        return [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]

    def area(b):
        _, _, w, h = xywh(b)
        return w * h

    gt = {"images": [{"id": int(i) + 1, "file_name": str(scores.image_ids[i])} for i in np.flatnonzero(images)],
          "categories": [{"id": k + 1, "name": n} for k, n in enumerate(scores.class_names)],
          "annotations": [{"id": int(j) + 1, "image_id": int(scores.gt_image[j]) + 1,
                           "category_id": int(scores.gt_labels[j]) + 1, "bbox": xywh(scores.gt_boxes[j]),
                           "area": area(scores.gt_boxes[j]), "iscrowd": int(scores.gt_ignore[j])}
                          for j in np.flatnonzero(images[scores.gt_image])]}
    dt = [{"image_id": int(scores.det_image[j]) + 1, "category_id": int(scores.det_labels[j]) + 1,
           "bbox": xywh(scores.det_boxes[j]), "score": float(scores.det_scores[j])}
          for j in np.flatnonzero(images[scores.det_image])]
    return gt, dt


def thin_curve(curve: dict, max_points: int = 200) -> dict:
    """A PR curve (``detection.pr_curve``) as JSON lists of at most ``max_points`` points."""
    n = len(curve["thresholds"])
    keep = np.unique(np.linspace(0, n - 1, min(n, max_points)).round().astype(int)) if n else np.zeros(0, dtype=int)

    def lst(a):
        return [None if not np.isfinite(v) else round(float(v), 6) for v in np.asarray(a)[keep]]

    return {"thresholds": lst(curve["thresholds"]), "precision": lst(curve["precision"]),
            "recall": lst(curve["recall"]), "positives": int(curve["positives"])}


def subset_report(scores: det.DetectionScores, subset, op=None, *, resamples: int = 1000, seed: int = 0,
                  curves: bool = True, max_cells: int = 4_000_000) -> dict:
    """One subset's numbers from the cache: mAP (numpy COCO), its intervals, per-class AP, PR curves
    at IoU 0.5 (after the operating point's NMS), counts and the confusion matrix at ``op``."""
    images = scores.subset(subset)
    label = subset if isinstance(subset, str) else "+".join(subset or ["all"])
    maps = coco_map(scores, images)
    intervals = map_intervals(scores, images, resamples=resamples, seed=seed, max_cells=max_cells) \
        if resamples > 0 else {}
    outcome = det.at_operating_point(scores, op)
    counts = outcome.counts(images)
    m50 = scores.matching(outcome.matching.nms_iou, 0.5)
    per_class, curve_rows = [], []
    gts = ~scores.gt_ignore & images[scores.gt_image]
    for k, (cid, name) in enumerate(zip(scores.class_ids, scores.class_names, strict=True)):
        row = {"class_id": cid, "name": name, **maps["per_class"][k],
               "objects": int((gts & (scores.gt_labels == k)).sum()), **_pick(counts["per_class"][k])}
        per_class.append(row)
        if curves:
            curve_rows.append({"class_id": cid, "name": name, "iou": 0.5, "ap_50": row["ap_50"],
                               **thin_curve(det.pr_curve(scores, m50, k, images))})
    return {"subset": label, "images": int(images.sum()), "objects": int(gts.sum()),
            "metrics": {k: maps[k] for k in ("map", "map_50", "map_75")}, "intervals": intervals,
            "per_class": per_class, "curves": curve_rows,
            "at_operating_point": {k: counts[k] for k in ("tp", "fp", "fn", "precision", "recall", "f1")},
            "confusion": outcome.confusion_for(images).tolist(),
            "confusion_labels": [*scores.class_names, "background"]}


def _pick(c: dict) -> dict:
    return {k: c[k] for k in ("tp", "fp", "fn", "precision", "recall", "f1", "threshold")}


__all__ = ["COCO_IOUS", "MAX_DETS", "RECALLS", "coco_dicts", "coco_map", "map_intervals", "subset_report", "thin_curve",
           "top_per_image"]
