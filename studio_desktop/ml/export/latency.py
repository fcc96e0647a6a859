"""Batch-1 latency and throughput, measured the same way for PyTorch eager and every exported file.

Fixed thread count, warm-up runs first, the same images cycled through, median and 90th
percentile of the per-call times; throughput runs batches of ``batch`` images where the file
accepts them (a file exported without dynamic batch runs them one by one).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ...core.exports import LatencyRow

#: the throughput loop runs at least this long
MIN_THROUGHPUT_S = 0.25


@dataclass(frozen=True)
class Timing:
    median_ms: float
    p90_ms: float
    throughput: float
    batch: int


def measure(run: Callable[[np.ndarray], object], images: np.ndarray, *, warmup: int = 5, runs: int = 30,
            batch: int | None = 8, stop=None, min_seconds: float = MIN_THROUGHPUT_S) -> Timing:
    """Time ``run`` on single images (latency) and on batches (throughput)."""
    singles = [images[i % len(images)][None] for i in range(max(1, runs))]
    for x in singles[:max(0, warmup)]:
        run(x)
    times = []
    for x in singles:
        if stop is not None and stop():
            break
        t0 = time.perf_counter()
        run(x)
        times.append(time.perf_counter() - t0)
    b = max(1, min(batch or 1, len(images)))
    chunk = np.ascontiguousarray(np.concatenate([images[i % len(images)][None] for i in range(b)]))
    run(chunk)  # warm-up for this shape
    # at least half the runs and MIN_THROUGHPUT_S seconds: sub-millisecond calls are noisy
    reps, t0 = 0, time.perf_counter()
    while reps < max(1, runs // 2) or (time.perf_counter() - t0 < min_seconds and reps < 20 * runs):
        if stop is not None and stop():
            break
        run(chunk)
        reps += 1
    elapsed = time.perf_counter() - t0
    arr = np.asarray(times or [float("nan")]) * 1000
    return Timing(float(np.median(arr)), float(np.percentile(arr, 90)), b * reps / elapsed, b)


def row(runtime: str, precision: str, t: Timing, baseline_ms: float | None = None) -> LatencyRow:
    return LatencyRow(runtime=runtime, precision=precision, median_ms=round(t.median_ms, 3),
                      p90_ms=round(t.p90_ms, 3), throughput=round(t.throughput, 1), batch=t.batch,
                      speedup=round(baseline_ms / t.median_ms, 2) if baseline_ms and t.median_ms > 0 else None)


__all__ = ["Timing", "measure", "row"]
