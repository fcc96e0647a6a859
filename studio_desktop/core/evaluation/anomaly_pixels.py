"""Pixel metrics of anomaly maps against ground-truth masks: pixel AUROC and AUPRO, in numpy.

The cache holds maps as float16 on the map grid (``core/anomaly.py: mask_to_grid`` puts the
masks on the same grid), so 1,000 images are 16 million pixels. Sorting them all would take
seconds; instead each float16 value is turned into its rank among the 65,536 possible values
(an order-preserving key of its bits) and the pixels are counted per key with ``bincount``: the
curves are then exact, ties included, in linear time. Other dtypes fall back to ``np.unique``.

AUPRO follows the MVTec AD definition as anomalib computes it: 8-connected defect regions (one
per connected component of each image's mask), the per-region overlap averaged over regions
against the false-positive rate over every defect-free pixel, integrated up to an FPR of 0.3 and
divided by 0.3.
"""

from __future__ import annotations

import numpy as np

#: AUPRO integrates the PRO curve up to this false-positive rate (MVTec AD, anomalib's default)
FPR_LIMIT = 0.3


def _keys(values: np.ndarray) -> tuple[np.ndarray, int]:
    """(order-preserving integer key per value, number of keys); NaN maps to the lowest key."""
    v = np.asarray(values)
    if v.dtype == np.float16:
        bits = v.view(np.uint16).astype(np.int32)
        keys = np.where(bits & 0x8000, 0xFFFF - bits, bits | 0x8000)
        keys[np.isnan(v)] = 0
        return keys.ravel(), 65536
    flat = np.nan_to_num(v.astype(np.float64).ravel(), nan=-np.inf)
    uniq, inverse = np.unique(flat, return_inverse=True)
    return inverse.ravel(), len(uniq)


def _descending(keys: np.ndarray, n: int, weights_pos: np.ndarray | None, positive: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative positive weight and negative count as the threshold falls through each present
    key (highest first)."""
    wp = np.bincount(keys, weights=weights_pos if weights_pos is not None else positive.astype(np.float64),
                     minlength=n)
    neg = np.bincount(keys, weights=(~positive).astype(np.float64), minlength=n)
    present = (wp > 0) | (neg > 0)
    wp, neg = wp[present][::-1], neg[present][::-1]
    return np.cumsum(wp), np.cumsum(neg)


def pixel_auroc(maps: np.ndarray, gt: np.ndarray) -> float | None:
    """AUROC over every pixel of ``maps`` (n, h, w) against boolean ``gt`` (n, h, w) (scikit-learn's
    value on the same numbers); None when the pixels are not of both kinds."""
    gt = np.asarray(gt, dtype=bool).ravel()
    if gt.size == 0 or gt.all() or not gt.any():
        return None
    keys, n = _keys(maps)
    tp, fp = _descending(keys, n, None, gt)
    tpr, fpr = np.r_[0.0, tp / tp[-1]], np.r_[0.0, fp / fp[-1]]
    return float(np.trapezoid(tpr, fpr))


def regions(gt: np.ndarray) -> tuple[np.ndarray, int]:
    """8-connected defect regions of each mask, numbered 1..R across all images (0 = no defect)."""
    from scipy import ndimage

    out = np.zeros(gt.shape, dtype=np.int32)
    total = 0
    eight = np.ones((3, 3), dtype=bool)
    for i, m in enumerate(np.asarray(gt, dtype=bool)):
        if m.any():
            lab, count = ndimage.label(m, structure=eight)
            out[i] = np.where(lab > 0, lab + total, 0)
            total += count
    return out, total


def pro_curve(maps: np.ndarray, gt: np.ndarray, fpr_limit: float = FPR_LIMIT) -> dict[str, np.ndarray]:
    """``{"fpr", "pro"}``: the mean per-region overlap against the pixel false-positive rate, from
    (0, 0), cut at ``fpr_limit`` (the last point interpolated onto it)."""
    labels, count = regions(gt)
    labels = labels.ravel()
    background = labels == 0
    if count == 0 or not background.any():
        return {"fpr": np.array([0.0, fpr_limit]), "pro": np.array([0.0, 0.0])}
    sizes = np.bincount(labels, minlength=count + 1).astype(np.float64)
    weights = np.where(background, 0.0, 1.0 / sizes[labels] / count)
    keys, n = _keys(maps)
    pro, fp = _descending(keys, n, weights, ~background)
    fpr = np.r_[0.0, np.minimum(fp / fp[-1], 1.0)]
    pro = np.r_[0.0, np.minimum(pro, 1.0)]
    inside = np.flatnonzero(fpr <= fpr_limit)
    i = int(inside[-1])
    if fpr[i] < fpr_limit and i + 1 < len(fpr):
        p = pro[i] + (pro[i + 1] - pro[i]) * (fpr_limit - fpr[i]) / (fpr[i + 1] - fpr[i])
        return {"fpr": np.r_[fpr[:i + 1], fpr_limit], "pro": np.r_[pro[:i + 1], p]}
    return {"fpr": fpr[:i + 1], "pro": pro[:i + 1]}


def aupro(maps: np.ndarray, gt: np.ndarray, fpr_limit: float = FPR_LIMIT) -> float | None:
    """Area under the PRO curve up to ``fpr_limit``, divided by it (1 = every region found before
    any false positive); None without defect pixels or without defect-free pixels."""
    gt = np.asarray(gt, dtype=bool)
    if gt.size == 0 or not gt.any() or gt.all():
        return None
    c = pro_curve(maps, gt, fpr_limit)
    return float(np.trapezoid(c["pro"], c["fpr"]) / c["fpr"][-1])


__all__ = ["FPR_LIMIT", "aupro", "pixel_auroc", "pro_curve", "regions"]
