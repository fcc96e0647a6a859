"""95 % bootstrap confidence intervals over images: how much a metric could move on another draw.

A student with 30 test images sees "93 %" and "97 %" as different models; resampling the images
(with replacement, many times) shows that both lie inside each other's interval. Percentile
intervals, a fixed seed (the same evaluation always shows the same interval), resamples drawn in
chunks so that 10,000 images × 1,000 resamples stay within a few tens of MB.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: what "95 %" means here: the 2.5th and 97.5th percentiles of the resampled values
LEVEL = 0.95


def bootstrap_interval(n: int, statistic: Callable[[np.ndarray], dict[str, np.ndarray]], *,
                       resamples: int = 1000, seed: int = 0, level: float = LEVEL,
                       max_cells: int = 4_000_000) -> dict[str, list[float]]:
    """``{name: [low, high]}`` for every value ``statistic`` returns.

    ``statistic(idx)`` gets a (B, n) array of resampled row indices and returns, per name, the B
    values of that statistic (one per resample)."""
    if n < 2 or resamples < 1:
        return {}
    rng = np.random.default_rng(seed)
    chunk = max(1, min(resamples, max_cells // max(1, n)))
    values: dict[str, list[np.ndarray]] = {}
    done = 0
    while done < resamples:
        b = min(chunk, resamples - done)
        idx = rng.integers(0, n, size=(b, n), dtype=np.int64)
        for name, v in statistic(idx).items():
            values.setdefault(name, []).append(np.asarray(v, dtype=np.float64))
        done += b
    lo, hi = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    out = {}
    for name, parts in values.items():
        v = np.concatenate(parts)
        v = v[np.isfinite(v)]
        if len(v):
            out[name] = [float(np.percentile(v, lo)), float(np.percentile(v, hi))]
    return out


__all__ = ["LEVEL", "bootstrap_interval"]
