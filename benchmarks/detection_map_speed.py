"""mAP evaluation speed: our evaluator's COCO metrics against pycocotools, on the same predictions.

5,000 images x 100 predictions (defaults), made from random ground truth (~10 objects an image, 5
classes, some crowd boxes) the way a detector's output looks: most objects found with jittered
boxes at high scores, duplicates and false alarms down to a low score, 100 kept per image. Timed,
round by round alternating (other processes on the machine hit all alike), medians printed:

- pycocotools: COCO() + loadRes + COCOeval evaluate / accumulate / summarize (the reference);
- ours: ``ml/tasks/detection_eval.torchmetrics_map`` as the evaluator calls it: torchmetrics
  ``MeanAveragePrecision(backend="faster_coco_eval")`` with the extended summary, per-class AP/AR
  read from its precision/recall arrays (from the cache: tensors built inside);
- torchmetrics plain (no per-class numbers) and with ``class_metrics=True`` (which evaluates once
  more per class: why the evaluator does not use it);
- the numpy COCO AP of ``core/evaluation/detection_map`` (what the page and the bootstrap use).

Then the twelve COCO summary numbers of each are compared with pycocotools' (must be identical to
1e-6 here; the test suite holds them to 1e-4 on a real fixture).

    python benchmarks/detection_map_speed.py [--images 5000] [--per-image 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import time
import warnings

import numpy as np

from studio_desktop.core.evaluation import detection as det
from studio_desktop.core.evaluation import detection_map as dmap

NAMES = ["map", "map_50", "map_75", "map_small", "map_medium", "map_large", "mar_1", "mar_10", "mar_100",
         "mar_small", "mar_medium", "mar_large"]


def synthetic(images: int, per_image: int, classes: int = 5, seed: int = 0) -> det.DetectionScores:
    rng = np.random.default_rng(seed)
    n_gt = rng.integers(0, 21, images)
    gt_image = np.repeat(np.arange(images), n_gt)
    g = len(gt_image)
    size = rng.choice([8, 24, 48, 120, 250], g) * rng.uniform(0.7, 1.4, (g, 2)).T
    xy = rng.uniform(0, 500, (g, 2))
    gt_boxes = np.c_[xy, xy + size.T]
    gt_labels = rng.integers(0, classes, g)
    gt_ignore = rng.random(g) < 0.02
    det_image, boxes, scores, labels = [], [], [], []
    starts = np.r_[0, np.cumsum(n_gt)]
    for i in range(images):
        own = np.arange(starts[i], starts[i + 1])
        found = own[rng.random(len(own)) < 0.85]
        src = np.r_[found, rng.choice(own, min(len(own), per_image // 4)) if len(own) else np.zeros(0, int)]
        b = gt_boxes[src] + rng.normal(0, 0.1, (len(src), 4)) * np.c_[size.T[src], size.T[src]]
        s = np.r_[rng.uniform(0.3, 1.0, len(found)), rng.uniform(0.001, 0.4, len(src) - len(found))]
        lab = np.where(rng.random(len(src)) < 0.9, gt_labels[src], rng.integers(0, classes, len(src)))
        extra = per_image - len(src)
        xy = rng.uniform(0, 500, (extra, 2))
        b = np.r_[b, np.c_[xy, xy + rng.uniform(5, 200, (extra, 2))]]
        s = np.r_[s, rng.uniform(0.001, 0.5, extra)]
        lab = np.r_[lab, rng.integers(0, classes, extra)]
        b[:, 2:] = np.maximum(b[:, 2:], b[:, :2] + 1)
        order = np.argsort(-s, kind="stable")[:per_image]
        det_image.append(np.full(len(order), i))
        boxes.append(b[order])
        scores.append(s[order])
        labels.append(lab[order])
    return det.DetectionScores(subsets=np.array(["test"] * images), det_image=np.concatenate(det_image),
                               det_boxes=np.concatenate(boxes), det_scores=np.concatenate(scores),
                               det_labels=np.concatenate(labels), gt_image=gt_image, gt_boxes=gt_boxes,
                               gt_labels=gt_labels, gt_ignore=gt_ignore, class_ids=list(range(classes)),
                               class_names=[f"class {k}" for k in range(classes)])


def run_pycocotools(gt: dict, dt: list) -> list[float]:
    import copy

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = copy.deepcopy(gt)
        coco.createIndex()
        e = COCOeval(coco, coco.loadRes(copy.deepcopy(dt)), "bbox")
        e.evaluate()
        e.accumulate()
        e.summarize()
    return [float(v) for v in e.stats]


def tensors(scores: det.DetectionScores):
    import torch

    preds, targets = [], []
    d_split = np.searchsorted(scores.det_image, np.arange(1, len(scores)))
    g_split = np.searchsorted(scores.gt_image, np.arange(1, len(scores)))
    for b, s, lab in zip(np.split(scores.det_boxes, d_split), np.split(scores.det_scores, d_split),
                         np.split(scores.det_labels, d_split), strict=True):
        preds.append({"boxes": torch.from_numpy(b).float(), "scores": torch.from_numpy(s).float(),
                      "labels": torch.from_numpy(lab).long()})
    for b, lab, ig in zip(np.split(scores.gt_boxes, g_split), np.split(scores.gt_labels, g_split),
                          np.split(scores.gt_ignore, g_split), strict=True):
        targets.append({"boxes": torch.from_numpy(b).float(), "labels": torch.from_numpy(lab).long(),
                        "iscrowd": torch.from_numpy(ig.astype(np.int64))})
    return preds, targets


def run_evaluator(scores: det.DetectionScores) -> list[float]:
    from studio_desktop.ml.tasks.detection_eval import torchmetrics_map

    r = torchmetrics_map(scores, scores.subset(None))
    return [-1.0 if r[n] is None else r[n] for n in NAMES]


def run_torchmetrics(scores: det.DetectionScores, class_metrics: bool) -> list[float]:
    from torchmetrics.detection import MeanAveragePrecision

    from studio_desktop.ml.tasks.detection_eval import COCO_IOU_THRESHOLDS, COCO_RECALLS

    preds, targets = tensors(scores)
    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", class_metrics=class_metrics,
                                  backend="faster_coco_eval", iou_thresholds=list(COCO_IOU_THRESHOLDS),
                                  rec_thresholds=list(COCO_RECALLS))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metric.update(preds, targets)
        r = metric.compute()
    return [float(r[n]) for n in NAMES]


def run_numpy(scores: det.DetectionScores) -> list[float]:
    fresh = det.DetectionScores(**{k: getattr(scores, k) for k in (
        "subsets", "det_image", "det_boxes", "det_scores", "det_labels", "gt_image", "gt_boxes", "gt_labels",
        "gt_ignore", "class_ids", "class_names")})  # no cached matching from an earlier round
    m = dmap.coco_map(fresh)
    return [m["map"], m["map_50"], m["map_75"]]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--per-image", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    import pycocotools.cocoeval  # noqa: F401 - imports are not part of any timing
    import torchmetrics.detection  # noqa: F401

    import studio_desktop.ml.tasks.detection_eval  # noqa: F401

    t = time.perf_counter()
    scores = synthetic(args.images, args.per_image)
    gt, dt = dmap.coco_dicts(scores)
    print(f"{len(scores)} images, {len(scores.det_scores)} predictions, {len(scores.gt_labels)} objects "
          f"({int(scores.gt_ignore.sum())} crowd); made in {time.perf_counter() - t:.1f} s")
    runs = {"pycocotools COCOeval": lambda: run_pycocotools(gt, dt),
            "ours: the evaluator's torchmetrics_map (faster_coco_eval, per class)": lambda: run_evaluator(scores),
            "torchmetrics faster_coco_eval, plain (no per-class numbers)": lambda: run_torchmetrics(scores, False),
            "torchmetrics faster_coco_eval, class_metrics=True": lambda: run_torchmetrics(scores, True),
            "numpy COCO AP (page / bootstrap)": lambda: run_numpy(scores)}
    times: dict[str, list[float]] = {k: [] for k in runs}
    values: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for name, fn in runs.items():
            t = time.perf_counter()
            values[name] = fn()
            times[name].append(time.perf_counter() - t)
    ref_name = "pycocotools COCOeval"
    ref = statistics.median(times[ref_name])
    print(f"{'':66s} {'median s':>9s} {'vs pycocotools':>15s}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:66s} {med:9.2f} {ref / med:14.1f}x")
    print("COCO summary numbers vs pycocotools (largest difference):")
    same = True
    for name, vals in values.items():
        if name == ref_name:
            continue
        diff = max(abs(a - b) for a, b in zip(vals, values[ref_name], strict=False))
        same &= diff <= 1e-6
        print(f"  {name:64s} {diff:.2e} over {len(vals)} numbers")
    print("  " + ", ".join(f"{n} {v:.4f}" for n, v in zip(NAMES, values[ref_name], strict=True)))
    print("identical: " + ("yes" if same else "NO"))
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
