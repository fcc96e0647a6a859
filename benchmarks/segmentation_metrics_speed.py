"""Segmentation metrics speed: what the Evaluation page and the evaluator compute from the cached
per-image confusion matrices, against the plain ways of computing the same numbers.

Random per-image pixel confusions (mostly diagonal, like a decent model) for a few sizes of
evaluation. Timed, round by round alternating (other processes on the machine hit all alike),
medians printed, with the ratio to the baseline measured in the same run:

- mIoU of a subset: ``core.evaluation.segmentation.subset_report(resamples=0)`` (what the page
  computes on a subset change) against torchmetrics' ``MulticlassJaccardIndex`` fed with the
  same counts as pixels — the alternative of keeping pixels instead of matrices — on the smallest
  size only (it needs the pixels in memory);
- the 95 % bootstrap interval of mIoU (1,000 resamples of the images): ours (resample counts times
  an images x 3C table of TP / true / predicted pixels) against the plain loop that sums each
  resample's C x C matrices;
and checks that both give the same interval.

    python benchmarks/segmentation_metrics_speed.py [--rounds 3] [--resamples 1000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from studio_desktop.core.evaluation import segmentation as sm
from studio_desktop.core.evaluation.bootstrap import bootstrap_interval

SIZES = ((200, 12), (1000, 21), (5000, 21), (1000, 150))


def synthetic(images: int, classes: int, seed: int = 0) -> sm.SegmentationScores:
    rng = np.random.default_rng(seed)
    conf = rng.integers(0, 200, size=(images, classes, classes)) * (rng.random((images, classes, classes)) < 0.2)
    conf[:, np.arange(classes), np.arange(classes)] += rng.integers(0, 20000, size=(images, classes)) * \
        (rng.random((images, classes)) < 0.6)
    return sm.SegmentationScores(np.array([str(i) for i in range(images)]), np.array(["test"] * images), conf,
                                 list(range(classes)), [f"c{i}" for i in range(classes)])


def naive_interval(scores: sm.SegmentationScores, resamples: int) -> list[float]:
    """Each resample's C x C matrices summed, then mIoU (the same draws as ours: same seed; the chunking
    does not change numpy's stream)."""
    conf = scores.confusion
    n = len(conf)

    def statistic(idx):
        return {"miou": np.array([float(sm.mean_iou(conf[row].sum(axis=0))) for row in idx])}

    return bootstrap_interval(n, statistic, resamples=resamples, seed=0, max_cells=n)["miou"]


def ours_interval(scores: sm.SegmentationScores, resamples: int) -> list[float]:
    return sm.subset_report(scores, "test", resamples=resamples)["intervals"]["miou"]


def torchmetrics_miou(scores: sm.SegmentationScores) -> float:
    import torch
    from torchmetrics.classification import MulticlassJaccardIndex

    cm = scores.summed()
    c = scores.num_classes
    t = torch.from_numpy(np.repeat(np.repeat(np.arange(c), c), cm.ravel()))
    p = torch.from_numpy(np.repeat(np.tile(np.arange(c), c), cm.ravel()))
    ious = MulticlassJaccardIndex(c, average="none")(p, t).numpy()
    defined = (cm.sum(0) + cm.sum(1)) > 0
    return float(ious[defined].mean())


def timed(fn, *args) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--resamples", type=int, default=1000)
    args = ap.parse_args()
    print(f"{'images':>6s} {'classes':>7s} | {'subset mIoU':>12s} {'torchmetrics':>12s} {'ratio':>6s} | "
          f"{'bootstrap ours':>14s} {'plain loop':>10s} {'ratio':>6s}")
    for images, classes in SIZES:
        scores = synthetic(images, classes)
        scores.image_parts()
        quick, tm, ours, plain = [], [], [], []
        small = images * classes <= 200 * 12
        for _ in range(args.rounds):
            t, rep = timed(lambda s=scores: sm.subset_report(s, "test", resamples=0))
            quick.append(t)
            if small:
                t, value = timed(torchmetrics_miou, scores)
                tm.append(t)
                assert abs(value - rep["metrics"]["miou"]) < 1e-6, (value, rep["metrics"]["miou"])
            t, a = timed(ours_interval, scores, args.resamples)
            ours.append(t)
            if images * classes * classes <= 1000 * 21 * 21:
                t, b = timed(naive_interval, scores, args.resamples)
                plain.append(t)
                assert np.allclose(a, b), (a, b)
        q, o = statistics.median(quick), statistics.median(ours)
        tm_s = f"{statistics.median(tm) * 1000:10.1f} ms" if tm else f"{'–':>12s}"
        tm_r = f"{statistics.median(tm) / q:5.0f}x" if tm else f"{'':>6s}"
        pl_s = f"{statistics.median(plain):8.2f} s" if plain else f"{'–':>10s}"
        pl_r = f"{statistics.median(plain) / o:5.1f}x" if plain else ""
        print(f"{images:>6d} {classes:>7d} | {q * 1000:9.1f} ms {tm_s} {tm_r} | {o:12.3f} s {pl_s} {pl_r}")


if __name__ == "__main__":
    main()
