"""Batch-1 latency and throughput, measured the same way for PyTorch eager and every exported file.

Fixed thread count, the same images for all. The timed single-image calls go runtime after
runtime in blocks (``BLOCK`` calls), the blocks rotating until ``runs`` calls each, so that load
from other programs hits every runtime alike; each block starts with ``warmup`` untimed calls,
because the thread pools of the runtime before (ONNX Runtime's, OpenMP's, TBB's) keep spinning
for a moment after their last call. Median and 90th percentile per runtime. Throughput then
runs batches of ``batch`` images where the file accepts them (a file exported without dynamic
batch runs them one by one) for at least ``min_seconds``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ...core.exports import LatencyRow

#: the throughput loop runs at least this long
MIN_THROUGHPUT_S = 0.25
#: timed calls per block
BLOCK = 10


@dataclass(frozen=True)
class Timing:
    median_ms: float
    p90_ms: float
    throughput: float
    batch: int


@dataclass(frozen=True)
class Contender:
    """One runtime to time: its row in the table, what it runs, the batch it accepts (None: any)."""

    runtime: str
    precision: str
    run: Callable[[np.ndarray], object]
    batch: int | None = None


def _throughput(run, images: np.ndarray, batch: int | None, runs: int, min_seconds: float, stop) -> tuple[float, int]:
    b = max(1, min(batch or 1, len(images)))
    chunk = np.ascontiguousarray(np.concatenate([images[i % len(images)][None] for i in range(b)]))
    run(chunk)  # warm-up for this shape
    reps, t0 = 0, time.perf_counter()
    while reps < max(1, runs // 2) or (time.perf_counter() - t0 < min_seconds and reps < 20 * runs):
        if stop is not None and stop():
            break
        run(chunk)
        reps += 1
    return b * reps / (time.perf_counter() - t0), b


def measure_all(contenders: list[Contender], images: np.ndarray, *, warmup: int = 5, runs: int = 30,
                throughput_batch: int = 8, min_seconds: float = MIN_THROUGHPUT_S, stop=None) -> list[Timing]:
    """One :class:`Timing` per contender (see the module docstring)."""
    singles = [images[i % len(images)][None] for i in range(max(1, runs))]
    times: list[list[float]] = [[] for _ in contenders]
    done = 0
    while done < len(singles):
        block = singles[done:done + BLOCK]
        for k, c in enumerate(contenders):
            if stop is not None and stop():
                break
            for x in block[:max(0, warmup)]:
                c.run(x)
            for x in block:
                t0 = time.perf_counter()
                c.run(x)
                times[k].append((time.perf_counter() - t0) * 1000)
        done += len(block)
    out = []
    for c, t in zip(contenders, times, strict=True):
        tput, b = _throughput(c.run, images, throughput_batch if c.batch is None else c.batch, runs, min_seconds,
                              stop)
        arr = np.asarray(t or [float("nan")])
        out.append(Timing(float(np.median(arr)), float(np.percentile(arr, 90)), tput, b))
    return out


def row(runtime: str, precision: str, t: Timing, baseline_ms: float | None = None) -> LatencyRow:
    return LatencyRow(runtime=runtime, precision=precision, median_ms=round(t.median_ms, 3),
                      p90_ms=round(t.p90_ms, 3), throughput=round(t.throughput, 1), batch=t.batch,
                      speedup=round(baseline_ms / t.median_ms, 2) if baseline_ms and t.median_ms > 0 else None)


__all__ = ["BLOCK", "Contender", "Timing", "measure_all", "row"]
