"""Anomaly detection evaluation: image and pixel metrics, the raw cache, result lines per image.

The head's network gives each image a raw score and a map on the input square (``eval_batch``:
``score`` (N,), ``map`` (N, h, w) float16). :func:`evaluate_batch` adds the ground truth on the
map's grid — the record's defect mask put through the same geometry as the image
(``core/anomaly.py: mask_to_grid``) — because only the batch knows the dataset's folder. The
written metrics are torchmetrics' (image AUROC, image F1 at the operating point, pixel AUROC);
AUPRO, the curves, the counts and the bootstrap interval come from the numpy module
``core/evaluation/anomaly*`` (the page recomputes the counts from the same cache as the user drags
the threshold) — every run checks that numpy and torchmetrics agree and logs any difference.

Pixel metrics are computed on the cache's grid (at most 128 x 128 cells of the input square), not
at the original resolution: a fixed cost per image, and the same numbers the page can recompute.
Anomalous images without a mask take no part in them; normal images count as all-normal pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...core.anomaly import display_range, mask_to_grid
from ...core.errors import InvalidInput
from ...core.evaluation import anomaly as an
from ...core.schemas import ImageRecord
from .base import EvalBatch, EvaluationResult

#: how each metric is computed, for tooltips and the report
HOW = {
    "image_auroc": "image AUROC: the chance that a random defective image scores higher than a random normal "
                   "one (0.5 = guessing, 1 = perfect); independent of the threshold",
    "image_f1": "image F1 at the operating point: the harmonic mean of precision and recall of 'anomalous'",
    "image_recall": "share of the defective images flagged at the operating point",
    "image_fpr": "false-positive rate: share of the normal images flagged at the operating point",
    "image_precision": "share of the flagged images that are really defective",
    "pixel_auroc": "pixel AUROC: every pixel of the images with a known mask, scored by the anomaly map, "
                   "against the mask (on the map's grid of at most 128 x 128 cells)",
    "aupro": "AUPRO: the mean overlap of each defect region with the flagged pixels, averaged up to a pixel "
             "false-positive rate of 0.3 and divided by 0.3 (MVTec AD's localisation metric)",
    "threshold": "an image is anomalous when its score reaches the threshold; a pixel when its map value does",
}


def _label(record: ImageRecord) -> int:
    return int(record.anomaly is not None and record.anomaly.status == "anomalous")


def _read_mask(root: Path, record: ImageRecord) -> np.ndarray:
    """The record's defect mask as a 2-D array (non-zero = defect), checked against the image size."""
    from PIL import Image, UnidentifiedImageError

    path = root / record.anomaly.mask
    try:
        with Image.open(path) as im:
            mask = np.asarray(im.convert("L"))
    except FileNotFoundError:
        raise InvalidInput(f"the defect mask of {record.file} is missing", path=str(path),
                           hint="re-import the dataset, or remove the mask from the record") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidInput(f"the defect mask of {record.file} cannot be read: {exc}", path=str(path)) from None
    if mask.shape != (record.height, record.width):
        raise InvalidInput(f"the defect mask of {record.file} is {mask.shape[1]}x{mask.shape[0]} pixels but the "
                           f"image is {record.width}x{record.height}", path=str(path))
    return mask


def ground_truth(records: list[ImageRecord], root: Path, grid: int, input_size: int, resize: str
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``(gt_mask (N, grid, grid) bool, has_mask (N,) bool)`` for a batch of records: a normal image is
    all-normal (known); an anomalous one is known only when it has a mask."""
    gt = np.zeros((len(records), grid, grid), dtype=bool)
    known = np.zeros(len(records), dtype=bool)
    for i, rec in enumerate(records):
        if not _label(rec):
            known[i] = True
        elif rec.anomaly.mask:
            gt[i] = mask_to_grid(_read_mask(root, rec), grid, input_size=input_size, resize=resize)
            known[i] = True
    return gt, known


def evaluate_batch(head, model, x: torch.Tensor, y, batch: EvalBatch) -> tuple[dict[str, np.ndarray], list]:
    """One evaluation batch of an anomaly head: the network's score and map (``head.eval_batch``) plus
    the ground truth on the map's grid; targets are the 0/1 labels."""
    out = model(x.to(batch.device, non_blocking=True))
    arrays = dict(head.eval_batch(out))
    grid = int(np.asarray(arrays["map"]).shape[-1])
    gt, known = ground_truth(batch.records, batch.root, grid, int(head.config.input_size), resize_of(head))
    arrays["gt_mask"], arrays["has_mask"] = gt, known
    return arrays, [_label(r) for r in batch.records]


def resize_of(head) -> str:
    """How the head's preprocessing fits an image into the input square ("letterbox", "squash"...)."""
    from ..preprocess import Preprocessing

    try:
        return str(getattr(Preprocessing.from_config(head.config), "resize", "letterbox"))
    except (AttributeError, TypeError, ValueError):
        return "letterbox"


def _unit_interval(values: np.ndarray) -> torch.Tensor:
    """Scores mapped linearly into [0, 1] in float64: torchmetrics would squash raw scores outside
    it through a sigmoid (float32 ties at large scores); a linear map keeps the ranking exact."""
    v = np.asarray(values, dtype=np.float64)
    lo, hi = (float(v.min()), float(v.max())) if v.size else (0.0, 1.0)
    return torch.from_numpy((v - lo) / (hi - lo) if hi > lo else np.zeros_like(v))


def torchmetrics_values(scores: an.AnomalyScores, rows: np.ndarray, threshold: float) -> dict[str, float | None]:
    """Image AUROC, image F1 at ``threshold`` and pixel AUROC with torchmetrics (None where undefined)."""
    from torchmetrics.classification import BinaryAUROC, BinaryF1Score

    s, y = scores.score[rows], scores.label[rows].astype(np.int64)
    out: dict[str, float | None] = {"image_auroc": None, "image_f1": None, "pixel_auroc": None}
    if len(s) and 0 < y.sum() < len(y):
        out["image_auroc"] = float(BinaryAUROC()(_unit_interval(s), torch.from_numpy(y)))
    if len(s) and y.sum() > 0:
        flagged = torch.from_numpy((s >= threshold).astype(np.int64))
        out["image_f1"] = float(BinaryF1Score(threshold=0.5)(flagged, torch.from_numpy(y)))
    keep = rows & scores.has_mask
    gt = scores.gt_mask[keep]
    if gt.size and gt.any() and not gt.all():
        maps = scores.map[keep].astype(np.float32).ravel()
        out["pixel_auroc"] = float(BinaryAUROC()(_unit_interval(maps), torch.from_numpy(gt.ravel().astype(np.int64))))
    return out


class AnomalyEvaluation:
    def __init__(self, head):
        self.head = head

    def evaluate(self, *, records: list[ImageRecord], subsets, targets: list, arrays: dict, op, log
                 ) -> EvaluationResult:
        n = len(records)
        maps = np.asarray(arrays["map"]).astype(np.float16)
        if maps.ndim == 4:  # (N, 1, h, w)
            maps = maps[:, 0]
        scores = an.AnomalyScores(
            image_ids=np.array([r.id for r in records]), subsets=np.asarray(subsets).astype(str),
            score=np.asarray(arrays["score"], dtype=np.float64).reshape(n),
            label=np.array([_label(r) for r in records], dtype=np.int8), map=maps,
            has_mask=np.asarray(arrays["has_mask"], bool).reshape(n) if "has_mask" in arrays
            else np.array([not _label(r) for r in records], bool),
            gt_mask=np.asarray(arrays["gt_mask"], bool) if "gt_mask" in arrays else np.zeros(maps.shape, bool))
        threshold, how = an.effective_threshold(scores, op)
        normal_val = scores.score[scores.subset("val") & (scores.label == 0)]
        low, high = display_range(normal_val if len(normal_val) else scores.score[scores.label == 0], threshold,
                                  scores_anomalous=scores.score[scores.label == 1])
        aggregate: dict = {"subsets": {}, "how": HOW,
                           "threshold": {"value": threshold, "how": how,
                                         "default": op is None or op.task != an.TASK or op.threshold is None},
                           "display_range": [low, high], "map_size": int(maps.shape[-1]) if maps.ndim == 3 else 0,
                           "input": {"size": int(self.head.config.input_size), "resize": resize_of(self.head)}}
        headline: dict = {}
        for subset in dict.fromkeys(scores.subsets.tolist()):
            body = an.subset_report(scores, subset, threshold)
            tm = torchmetrics_values(scores, scores.subset(subset), threshold)
            for key, value in tm.items():
                ours = body.get(key)
                if (value is None) != (ours is None) or (value is not None and abs(value - ours) > 1e-4):
                    log(f"{subset} {key}: torchmetrics {value} but the page would show {ours}", "warning")
                body[key] = value if value is not None else ours
            aggregate["subsets"][subset] = body
            headline[subset] = {k: body.get(k) for k in ("image_auroc", "image_f1", "pixel_auroc")}
        lines = []
        for i, rec in enumerate(records):
            a = rec.anomaly
            lines.append({"image": rec.id, "file": rec.file, "source": rec.source, "subset": str(scores.subsets[i]),
                          "width": rec.width, "height": rec.height,
                          "truth": {"status": a.status if a else "normal", "mask": a.mask if a else None,
                                    "defect": a.defect if a else None},
                          "prediction": {"score": round(float(scores.score[i]), 6),
                                         "anomalous": bool(scores.score[i] >= threshold)}})
        return EvaluationResult(aggregate=aggregate, lines=lines, scores=scores.as_npz(), headline=headline)


__all__ = ["HOW", "AnomalyEvaluation", "evaluate_batch", "ground_truth", "torchmetrics_values"]
