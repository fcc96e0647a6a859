"""Anomaly threshold speed: how fast the counts follow a dragged threshold, and pixel metrics' cost.

Synthetic cache: 10,000 images (defaults; 10 % defective), scores normal(0, 1) and normal(2.5, 1).
Timed, round by round alternating (other processes on the machine hit all alike), medians printed,
each as a ratio to the baseline measured in the same run:

- baseline: the 2x2 counts at a threshold by comparing every score (``anomaly.counts``);
- ``ThresholdCounter.counts``: a binary search in the subset's pre-sorted scores (what the page uses);
- one page step: ``AnomalyResults.set_threshold`` (every image's verdict and grid colour) plus the
  subset's counts and 2x2 matrix — what a dragged line costs before Qt paints.

Then the pixel metrics on 1,000 maps of 64 x 64 (float16, as cached): scikit-learn's
``roc_auc_score`` on the flattened pixels (baseline) against ``pixel_auroc`` (bincount over float16
keys), and ``aupro`` — and checks the two AUROCs agree to 1e-9.

    python benchmarks/anomaly_threshold_speed.py [--images 10000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from studio_desktop.core.evaluation import anomaly as an
from studio_desktop.core.evaluation.anomaly_pixels import aupro, pixel_auroc
from studio_desktop.core.evaluation.store import EvaluationInfo


def synthetic(images: int, grid: int = 8, seed: int = 0) -> an.AnomalyScores:
    rng = np.random.default_rng(seed)
    label = (rng.random(images) < 0.1).astype(np.int8)
    score = rng.normal(0, 1, images) + 2.5 * label
    subsets = np.where(rng.random(images) < 0.5, "val", "test")
    return an.AnomalyScores(image_ids=np.array([f"{i:08x}" for i in range(images)]), subsets=subsets, score=score,
                            label=label, map=np.zeros((images, grid, grid), np.float16),
                            has_mask=np.ones(images, bool), gt_mask=np.zeros((images, grid, grid), bool))


def timed(fn, repeat: int) -> float:
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t) / repeat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    from studio_desktop.gui.pages.evaluation.anomaly_results import AnomalyResults
    from studio_desktop.gui.pages.evaluation.results import ImageMeta

    scores = synthetic(args.images)
    meta = ImageMeta(files=[""] * args.images, names=[""] * args.images, sources=[""] * args.images,
                     issue_rank=np.zeros(args.images, np.int64))
    results = AnomalyResults(None, EvaluationInfo(experiment_id="e", project_id="p", task=an.TASK), {}, scores, meta,
                             np.zeros((args.images, 2)), None)
    rows = scores.subset("test")
    s, y = scores.score[rows], scores.label[rows]
    counter = an.ThresholdCounter(s, y)
    thresholds = np.linspace(-1, 4, 50)
    it = iter(np.resize(thresholds, 10**6))

    def page_step():
        results.set_threshold(next(it))
        results.counts("test")
        results.matrix("test")

    assert counter.counts(1.3) == an.counts(s, y, 1.3)
    runs = {"baseline (compare every score)": [], "ThresholdCounter (binary search)": [], "page step (verdicts + counts)": []}
    for _ in range(args.rounds):
        runs["baseline (compare every score)"].append(timed(lambda: an.counts(s, y, next(it)), 200))
        runs["ThresholdCounter (binary search)"].append(timed(lambda: counter.counts(next(it)), 2000))
        runs["page step (verdicts + counts)"].append(timed(page_step, 200))
    base = statistics.median(runs["baseline (compare every score)"])
    print(f"counts at a threshold, {args.images:,} images ({int(rows.sum()):,} in the subset), median of "
          f"{args.rounds} rounds:")
    for name, values in runs.items():
        m = statistics.median(values)
        print(f"  {name:34s} {m * 1e3:9.4f} ms   {m / base:6.3f}x baseline")

    rng = np.random.default_rng(1)
    gt = np.zeros((1000, 64, 64), bool)
    gt[::3, 20:36, 24:40] = True
    maps = (rng.normal(size=gt.shape) + 1.5 * gt).astype(np.float16)
    from sklearn.metrics import roc_auc_score

    t_sk, t_ours, t_pro = [], [], []
    for _ in range(max(1, args.rounds // 2)):
        t = time.perf_counter()
        ref = roc_auc_score(gt.ravel(), maps.astype(np.float32).ravel())
        t_sk.append(time.perf_counter() - t)
        t = time.perf_counter()
        ours = pixel_auroc(maps, gt)
        t_ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        aupro(maps, gt)
        t_pro.append(time.perf_counter() - t)
    assert abs(ref - ours) < 1e-9, (ref, ours)
    b = statistics.median(t_sk)
    print(f"pixel metrics, 1,000 maps of 64 x 64 ({gt.size:,} pixels), float16:")
    print(f"  {'sklearn roc_auc_score (baseline)':34s} {b:9.3f} s    1.000x baseline")
    print(f"  {'pixel_auroc (bincount)':34s} {statistics.median(t_ours):9.3f} s    "
          f"{statistics.median(t_ours) / b:6.3f}x baseline  (equal to 1e-9)")
    print(f"  {'aupro (regions + bincount)':34s} {statistics.median(t_pro):9.3f} s    "
          f"{statistics.median(t_pro) / b:6.3f}x baseline")


if __name__ == "__main__":
    main()
