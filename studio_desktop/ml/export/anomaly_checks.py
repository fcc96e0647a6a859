"""Does an exported anomaly model give what the checkpoint gives? Scores, maps and verdicts.

anomalib issue 3658 reports exported models whose scores drift from the checkpoint's; here the
reference is the app's own prediction path (the head's ``eval_batch`` of the checkpoint, what
evaluation and ``studio predict`` use), so a drift fails the export. Checked twice, like the other
tasks (``validation.py``):

1. **the network**, on the same input tensors: the largest score difference (relative to the
   largest |score| or |threshold|), the largest map difference on the evaluation cache's grid (the
   file's S x S map area-averaged the way the head stores it, relative to the largest |map| value;
   the cache keeps float16, whose rounding the limit allows), the verdicts of the file's own
   ``anomalous`` output identical to PyTorch's (an image whose score moved by at least its distance
   to the threshold can be called either way and is counted apart: its score difference is judged
   by the score check), and ``heat`` following the display range the metadata states;
2. **the file as a stranger uses it**: fed by the usage snippet's Pillow + numpy preprocessing from its
   own metadata, the snippet's verdicts against PyTorch's, the largest score difference (relative to
   twice the distance from the median normal validation score to the threshold), and the image
   AUROC under both when the images hold both normal and anomalous ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...core.anomaly import levels
from ...core.exports import Check, Validation
from .validation import _failures, _metadata_check


@dataclass(frozen=True)
class AnomalyLimits:
    #: same input: max |score difference| x max(largest |score|, |threshold|)
    score_rel: float
    #: same input: max |map difference| on the cache grid x the largest |map| value (+ float16 rounding)
    map_rel: float
    #: same input: share of verdicts (away from the threshold) equal to PyTorch's, at least
    verdicts: float
    #: through the metadata: share of verdicts equal to PyTorch's, at least
    file_verdicts: float
    #: through the metadata: max |score difference| x twice (threshold - median normal validation score)
    file_score_rel: float
    #: the exported image AUROC may be lower than PyTorch's by at most this
    auroc_drop: float


LIMITS: dict[str, AnomalyLimits] = {
    "fp32": AnomalyLimits(score_rel=1e-3, map_rel=1e-3, verdicts=1.0, file_verdicts=0.98, file_score_rel=0.1,
                          auroc_drop=0.02),
}
#: float16 keeps 11 significant bits: the cached map's rounding, relative to the value
FLOAT16_ROUNDING = 2.0 ** -11
#: largest |heat difference| from clip((map - low) / (high - low)) on the file's own outputs
HEAT_TOLERANCE = 1e-4


def auroc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """Image AUROC (the Mann-Whitney statistic, ties counted half); None without both kinds of image."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel().astype(bool)
    pos, neg = s[y], s[~y]
    if not len(pos) or not len(neg):
        return None
    order = np.argsort(np.concatenate([neg, pos]), kind="mergesort")
    values = np.concatenate([neg, pos])[order]
    ranks = np.empty(len(values), dtype=np.float64)
    i = 0
    while i < len(values):  # average ranks over ties
        j = i
        while j + 1 < len(values) and values[j + 1] == values[i]:
            j += 1
        ranks[i:j + 1] = (i + j) / 2.0 + 1.0
        i = j + 1
    rank_of = np.empty(len(values))
    rank_of[order] = ranks
    pos_ranks = rank_of[len(neg):]
    return float((pos_ranks.sum() - len(pos) * (len(pos) + 1) / 2.0) / (len(pos) * len(neg)))


def pool_to(maps: np.ndarray, h: int, w: int) -> np.ndarray:
    """Area average of (N, 1, H, W) maps down to (N, 1, h, w), bins as ``torch.nn.functional.adaptive_avg_pool2d``
    (and ``interpolate(mode="area")``) place them."""
    m = np.asarray(maps, dtype=np.float64)
    H, W = m.shape[-2:]
    if (H, W) == (h, w):
        return m
    rows = [(i * H // h, -(-(i + 1) * H // h)) for i in range(h)]
    cols = [(j * W // w, -(-(j + 1) * W // w)) for j in range(w)]
    if H % h == 0 and W % w == 0:
        return m.reshape(*m.shape[:-2], h, H // h, w, W // w).mean(axis=(-3, -1))
    out = np.empty((*m.shape[:-2], h, w))
    for i, (r0, r1) in enumerate(rows):
        band = m[..., r0:r1, :]
        for j, (c0, c1) in enumerate(cols):
            out[..., i, j] = band[..., c0:c1].mean(axis=(-2, -1))
    return out


def _verdicts(verdicts: np.ndarray, ref_verdicts: np.ndarray, ref_scores: np.ndarray, scores: np.ndarray,
              threshold: float) -> tuple[float | None, int]:
    """(share of verdicts equal to PyTorch's, images left out): an image whose score moved by at least its
    distance to the threshold can be called either way (its score difference is judged by the score
    checks) and is left out; any other disagreement is a wrong verdict (a threshold read wrongly)."""
    if not len(ref_scores):
        return None, 0
    decidable = np.abs(ref_scores - threshold) > np.abs(scores - ref_scores)
    if not decidable.any():
        return 1.0, int(len(ref_scores))
    return float((verdicts[decidable] == ref_verdicts[decidable]).mean()), int((~decidable).sum())


def _ties_words(ties: int) -> str:
    return (f"; {ties} image(s) whose score lies within its own difference of the threshold left out (either "
            "verdict is right for them)") if ties else ""


def compare_anomaly(*, precision: str, subsets: dict[str, int], threshold: float, low: float, high: float,
                    reference: dict[str, np.ndarray], same_input: dict[str, np.ndarray], file_scores: np.ndarray,
                    file_verdicts: np.ndarray, targets: np.ndarray,
                    metadata_mismatches: list[str] | None = None) -> Validation:
    """The :class:`Validation` of an anomaly export (see the module docstring); ``low`` and ``high`` are the
    display range's ends."""
    lim = LIMITS[precision]
    n = len(targets)
    ref_s = np.asarray(reference["score"], dtype=np.float64).reshape(-1)
    ref_v = ref_s >= threshold
    ref_m = np.asarray(reference["map"], dtype=np.float64)
    s_same = np.asarray(same_input["score"], dtype=np.float64).reshape(-1)
    v_same = np.asarray(same_input["anomalous"]).reshape(-1).astype(bool)
    m_same = np.asarray(same_input["map"], dtype=np.float64)
    m_same = m_same.reshape(len(m_same), 1, m_same.shape[-2], m_same.shape[-1])
    heat = np.asarray(same_input["heat"], dtype=np.float64).reshape(m_same.shape)

    score_scale = max(float(np.abs(ref_s).max()) if n else 0.0, abs(threshold), 1e-12)
    score_limit = lim.score_rel * score_scale
    d_score = float(np.abs(s_same - ref_s).max()) if n else None
    map_scale = max(float(np.abs(ref_m).max()) if ref_m.size else 0.0, 1e-12)
    map_limit = (lim.map_rel + FLOAT16_ROUNDING) * map_scale
    pooled = pool_to(m_same, ref_m.shape[-2], ref_m.shape[-1]) if n else m_same
    d_map = float(np.abs(pooled - ref_m.reshape(pooled.shape)).max()) if n else None
    agree, ties = _verdicts(v_same, ref_v, ref_s, s_same, threshold)
    # the scores' own scale: twice the distance from a typical normal score (the colour scale's low end) up to
    # the threshold
    span = 2.0 * (threshold - low) if threshold > low else high - low
    d_heat = float(np.abs(levels(m_same, low, high, threshold) - heat).max()) if n else None
    file_agree, file_ties = _verdicts(np.asarray(file_verdicts).reshape(-1).astype(bool), ref_v, ref_s,
                                      np.asarray(file_scores, dtype=np.float64).reshape(-1), threshold)
    file_limit = lim.file_score_rel * span
    d_file = float(np.abs(file_scores - ref_s).max()) if n else None
    a_torch, a_file = auroc(ref_s, targets), auroc(file_scores, targets)

    checks = [
        Check(name="max score difference", value=d_score, limit=score_limit, kind="max",
              passed=d_score is not None and d_score <= score_limit,
              help=f"same input tensors, against the checkpoint's own prediction; limit {lim.score_rel:g} x "
                   f"max(largest |score|, |threshold|) = {score_scale:.3g}"),
        Check(name="max map difference", value=d_map, limit=map_limit, kind="max",
              passed=d_map is not None and d_map <= map_limit,
              help=f"same input tensors, on the evaluation cache's {ref_m.shape[-2]} x {ref_m.shape[-1]} grid; limit "
                   f"({lim.map_rel:g} + float16 rounding) x largest |map| = {map_scale:.3g}"),
        Check(name="verdicts agreeing with PyTorch", value=agree, limit=lim.verdicts, kind="min",
              passed=agree is not None and agree >= lim.verdicts, unit="share",
              help="the file's own `anomalous` output against the checkpoint's score >= threshold "
                   f"{threshold:.4g}" + _ties_words(ties)),
        Check(name="heat follows the display range", value=d_heat, limit=HEAT_TOLERANCE, kind="max",
              passed=d_heat is not None and d_heat <= HEAT_TOLERANCE,
              help="largest |heat - the map on the display range (core.anomaly.levels)| on the file's own outputs"),
        Check(name="verdicts via metadata", value=file_agree, limit=lim.file_verdicts, kind="min",
              passed=file_agree is not None and file_agree >= lim.file_verdicts, unit="share",
              help="the file fed by its own metadata (Pillow + numpy, as the usage snippet does), the snippet's "
                   "verdicts against PyTorch's" + _ties_words(file_ties)),
        Check(name="max score difference via metadata", value=d_file, limit=file_limit, kind="max",
              passed=d_file is not None and d_file <= file_limit,
              help=f"the same, scores; limit {lim.file_score_rel:g} x {span:.3g} (twice the distance from the median "
                   "normal validation score to the threshold)"),
    ]
    if a_torch is not None and a_file is not None:
        drop = a_torch - a_file
        checks.append(Check(name="image AUROC drop", value=drop, limit=lim.auroc_drop, kind="max",
                            passed=drop <= lim.auroc_drop,
                            help="PyTorch's image AUROC minus the file's (fed by its own metadata), same images"))
    mismatches = list(metadata_mismatches or [])
    checks.insert(0, _metadata_check(mismatches, "threshold, display range, input size, preprocessing and operating "
                                                 "point"))
    failures = _failures(checks, mismatches, n)
    return Validation(passed=not failures, images=n, subsets=subsets, max_abs_diff=d_score, compared="score",
                      agreement=file_agree, metric="image AUROC" if a_torch is not None else "",
                      metric_pytorch=a_torch, metric_exported=a_file if a_torch is not None else None,
                      checks=checks, failures=failures)


__all__ = ["AnomalyLimits", "HEAT_TOLERANCE", "LIMITS", "auroc", "compare_anomaly", "pool_to"]
