"""Semantic segmentation results from cached pixel confusion matrices, in numpy (the GUI uses it).

The evaluator keeps, per image, one ``C x C`` confusion matrix of pixel counts (rows: the true
class, columns: the predicted class, in output order; pixels whose truth is ignore — 255, or a
mask value that is no class — are in no cell). Every number of the page, the report and
``aggregate.json`` is recomputed from those matrices, for any set of images (a subset, a
bootstrap resample), without running the model again:

- **IoU of a class** = TP / (TP + FP + FN) over the chosen images' pixels. A class that is
  neither in the truth nor in the prediction of those pixels has no IoU (0/0): it is *undefined*
  and left out of every mean — never counted as 0 or 1.
- **mIoU** = the mean of the defined per-class IoUs (torchmetrics' ``MeanIoU`` / ``JaccardIndex``
  with ``ignore_index`` on the same pixels; the evaluator checks the two agree).
- **Dice of a class** = 2 TP / (2 TP + FP + FN) (the F1 of its pixels), undefined like IoU; the
  mean Dice is over the defined classes.
- **Pixel accuracy** = correctly classified pixels / valid pixels.
- **Per image**: its IoU is the mean over the classes present in its truth or its prediction
  (the grid's number, "sort by worst"), and its pixel accuracy.

Intervals are 95 % bootstrap intervals over images (``bootstrap.py``): an image's pixels are
correlated, so resampling pixels would claim far too much certainty.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bootstrap import bootstrap_interval
from .subsets import subset_mask

IGNORE = 255
#: images summed at a time (bounds the temporary copy of their matrices)
SUM_SLICE = 64
METRICS = ("miou", "pixel_accuracy", "dice")
#: what each number means (aggregate.json's "how", the page's tooltips, the report)
HOW = {
    "miou": "mean intersection over union: per class, the pixels both truth and prediction call that class "
            "divided by the pixels either calls it, averaged over the classes present in the truth or the "
            "prediction of these images (a class in neither is undefined and left out); ignore pixels (255) "
            "are not counted",
    "pixel_accuracy": "share of the labelled pixels whose predicted class is the true one (large classes such as "
                      "road or sky dominate it; read it beside mIoU)",
    "dice": "mean Dice (F1 of a class's pixels): 2·TP / (2·TP + FP + FN) per class, averaged over the classes "
            "present in the truth or the prediction",
    "iou": "the class's intersection over union: TP / (TP + FP + FN) of its pixels",
    "support": "labelled pixels of this class in the truth",
    "confusion": "pixel counts: rows the true class, columns the predicted class (ignore pixels left out); the "
                 "row-normalised matrix shows where each class's pixels went",
    "image_iou": "an image's IoU: the mean IoU over the classes present in its truth or its prediction",
}


@dataclass
class SegmentationScores:
    """The cache of one evaluation (``scores.npz``): a pixel confusion matrix per image."""

    image_ids: np.ndarray  # (I,) str
    subsets: np.ndarray  # (I,) str
    confusion: np.ndarray  # (I, C, C) int64, rows truth, columns prediction
    class_ids: list[int]
    class_names: list[str]

    def __len__(self) -> int:
        return len(self.image_ids)

    @property
    def num_classes(self) -> int:
        return len(self.class_ids)

    def subset(self, names) -> np.ndarray:
        return subset_mask(self.subsets, names)

    def summed(self, images: np.ndarray | None = None) -> np.ndarray:
        """(C, C) pixel confusion of the chosen images (a boolean mask or indices; None: all), summed
        in slices (no copy of the chosen matrices: with 150 classes they are 180 kB an image)."""
        c = self.num_classes
        rows = np.arange(len(self)) if images is None else np.asarray(images)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        out = np.zeros((c, c), dtype=np.int64)
        for start in range(0, len(rows), SUM_SLICE):
            out += self.confusion[rows[start:start + SUM_SLICE]].sum(axis=0, dtype=np.int64)
        return out

    def image_parts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(I, C) each image's TP, true and predicted pixels per class (computed once)."""
        if getattr(self, "_parts", None) is None or len(self._parts[0]) != len(self):
            self._parts = parts(self.confusion) if len(self) else (np.zeros((0, self.num_classes), np.int64),) * 3
        return self._parts

    @property
    def pixels(self) -> np.ndarray:
        """(I,) valid (labelled, non-ignore) pixels of each image."""
        return self.confusion.sum(axis=(1, 2))

    def as_npz(self) -> dict[str, np.ndarray]:
        return {"image_ids": np.asarray(self.image_ids).astype(str), "subsets": np.asarray(self.subsets).astype(str),
                "confusion": np.asarray(self.confusion, dtype=np.int64),
                "class_ids": np.asarray(self.class_ids, dtype=np.int64),
                "class_names": np.asarray(self.class_names, dtype=str)}

    @classmethod
    def from_npz(cls, data) -> SegmentationScores:
        ids = np.asarray(data["image_ids"]).astype(str)
        class_ids = [int(i) for i in np.asarray(data["class_ids"]).tolist()]
        c = len(class_ids)
        return cls(image_ids=ids, subsets=np.asarray(data["subsets"]).astype(str),
                   confusion=np.asarray(data["confusion"], dtype=np.int64).reshape(len(ids), c, c),
                   class_ids=class_ids, class_names=[str(n) for n in np.asarray(data["class_names"]).tolist()])


# ---------------------------------------------------------------------- pixels -> confusion
def confusion_of(truth: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, C) pixel counts of one image from CHANNEL-index masks of the same shape: ``truth``
    with 255 (or any value >= C) for ignore; ``predicted`` in 0..C-1 (an argmax). Pixels whose
    truth is ignore are in no cell."""
    t = np.asarray(truth).ravel()
    p = np.asarray(predicted).ravel()
    if t.shape != p.shape:
        raise ValueError(f"truth has {t.size} pixels but the prediction {p.size}")
    valid = (t < num_classes) & (p < num_classes)
    flat = t[valid].astype(np.int64) * num_classes + p[valid].astype(np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


# ---------------------------------------------------------------------- confusion -> metrics
def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN where den is 0 (undefined)."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def parts(confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(TP, true pixels, predicted pixels) per class of one or many (…, C, C) confusions, summed in
    integers (a float copy of 10,000 images x 150 classes squared would be gigabytes)."""
    cm = np.asarray(confusion)
    return np.diagonal(cm, axis1=-2, axis2=-1), cm.sum(axis=-1), cm.sum(axis=-2)


def class_iou(confusion: np.ndarray) -> np.ndarray:
    """Per-class IoU of one or many (…, C, C) confusions; NaN for a class in neither truth nor
    prediction."""
    tp, truth, pred = parts(confusion)
    return _ratio(tp, truth + pred - tp)


def class_dice(confusion: np.ndarray) -> np.ndarray:
    tp, truth, pred = parts(confusion)
    return _ratio(2 * tp, truth + pred)


def _nanmean(a: np.ndarray, axis=-1) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    n = np.sum(~np.isnan(a), axis=axis)
    s = np.nansum(a, axis=axis)
    return _ratio(s, n)


def mean_iou(confusion: np.ndarray) -> np.ndarray:
    """mIoU of one or many confusions over the defined classes (NaN: no labelled pixel)."""
    return _nanmean(class_iou(confusion))


def pixel_accuracy(confusion: np.ndarray) -> np.ndarray:
    tp, truth, _pred = parts(confusion)
    return _ratio(tp.sum(axis=-1), truth.sum(axis=-1))


def _none(v) -> float | None:
    v = float(v)
    return None if not np.isfinite(v) else v


def metrics(confusion: np.ndarray) -> dict[str, float | None]:
    """The headline numbers of one (C, C) confusion: ``miou``, ``pixel_accuracy``, ``dice``
    (None when there is no labelled pixel)."""
    return {"miou": _none(mean_iou(confusion)), "pixel_accuracy": _none(pixel_accuracy(confusion)),
            "dice": _none(_nanmean(class_dice(confusion)))}


def image_class_iou(scores: SegmentationScores) -> np.ndarray:
    """(I, C) per image and class IoU (NaN where the class is in neither truth nor prediction)."""
    tp, truth, pred = scores.image_parts()
    return _ratio(tp, truth + pred - tp)


def image_iou(scores: SegmentationScores) -> np.ndarray:
    """(I,) each image's IoU: mean over the classes present in its truth or prediction (NaN for an
    image without labelled pixels)."""
    return _nanmean(image_class_iou(scores)) if len(scores) else np.zeros(0)


def image_pixel_accuracy(scores: SegmentationScores) -> np.ndarray:
    tp, truth, _pred = scores.image_parts()
    return _ratio(tp.sum(axis=1), truth.sum(axis=1)) if len(scores) else np.zeros(0)


def per_class(confusion: np.ndarray, class_ids, class_names) -> list[dict]:
    """Per class: id, name, IoU, Dice, precision, recall, support (true pixels), predicted pixels."""
    cm = np.asarray(confusion, dtype=np.int64)
    iou, dice = class_iou(cm), class_dice(cm)
    tp = np.diag(cm)
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    precision, recall = _ratio(tp, predicted), _ratio(tp, support)
    return [{"id": int(cid), "name": str(name), "iou": _none(iou[k]), "dice": _none(dice[k]),
             "precision": _none(precision[k]), "recall": _none(recall[k]), "support": int(support[k]),
             "predicted": int(predicted[k])}
            for k, (cid, name) in enumerate(zip(class_ids, class_names, strict=True))]


def row_normalised(confusion: np.ndarray) -> np.ndarray:
    """Each row divided by its total (where the true class's pixels went); 0 for an empty row."""
    cm = np.asarray(confusion, dtype=np.float64)
    return np.nan_to_num(_ratio(cm, cm.sum(axis=1, keepdims=True)))


def _resampled(parts_flat: np.ndarray, c: int):
    """The bootstrap statistic. A resample's summed confusion is never built: IoU, Dice and accuracy
    need only each class's TP, true and predicted pixels, so each resample is its images' counts
    (how often each was drawn) times the per-image (TP, truth, predicted) table — one matrix product
    of (resamples x images) by (images x 3C)."""

    def statistic(idx: np.ndarray) -> dict[str, np.ndarray]:
        b, n = idx.shape
        weights = np.bincount((np.arange(b)[:, None] * n + idx).ravel(), minlength=b * n).reshape(b, n)
        summed = weights.astype(np.float64) @ parts_flat
        tp, truth, pred = summed[:, :c], summed[:, c:2 * c], summed[:, 2 * c:]
        return {"miou": _nanmean(_ratio(tp, truth + pred - tp)), "pixel_accuracy": _ratio(tp.sum(1), truth.sum(1)),
                "dice": _nanmean(_ratio(2 * tp, truth + pred))}

    return statistic


def subset_report(scores: SegmentationScores, subset, *, resamples: int = 1000, seed: int = 0,
                  max_cells: int = 4_000_000) -> dict:
    """Everything ``aggregate.json`` says of one subset (``subset``: a name, names, or None/all):
    the headline metrics with 95 % bootstrap intervals over images, per class IoU / Dice /
    support, the pixel confusion (counts and row-normalised)."""
    images = scores.subset(subset)
    cm = scores.summed(images)
    c = scores.num_classes
    n = int(images.sum())
    intervals: dict = {}
    tp, truth, pred = (a[images] for a in scores.image_parts())
    if n >= 2 and resamples > 0:
        flat = np.concatenate([tp, truth, pred], axis=1).astype(np.float64)
        intervals = bootstrap_interval(n, _resampled(flat, c), resamples=resamples, seed=seed,
                                       max_cells=max(1, max_cells // (3 * c)))
    ious = _nanmean(_ratio(tp, truth + pred - tp)) if n else np.zeros(0)
    return {"subset": subset if isinstance(subset, str) or subset is None else "+".join(subset),
            "images": n, "pixels": int(cm.sum()), "metrics": metrics(cm), "intervals": intervals,
            "per_class": per_class(cm, scores.class_ids, scores.class_names),
            "confusion": cm.tolist(), "confusion_normalised": np.round(row_normalised(cm), 6).tolist(),
            "image_iou": {"mean": _none(np.nanmean(ious)) if np.isfinite(ious).any() else None,
                          "worst": _none(np.nanmin(ious)) if np.isfinite(ious).any() else None}}


def summary_lines(aggregate: dict) -> list[str]:
    """The console summary (``studio evaluate``): per subset mIoU with its interval, pixel
    accuracy, Dice, and the weakest classes."""
    lines = [f"{'subset':8s} {'images':>6s} {'mIoU (95 % interval)':26s} {'pixel acc':>9s} {'Dice':>6s}  weakest classes"]
    for subset, body in aggregate.get("subsets", {}).items():
        m, iv = body.get("metrics", {}), body.get("intervals", {})
        miou = f"{m['miou']:.3f}" if m.get("miou") is not None else "–"
        if iv.get("miou"):
            miou += f" ({iv['miou'][0]:.3f}–{iv['miou'][1]:.3f})"
        acc = f"{m['pixel_accuracy']:.3f}" if m.get("pixel_accuracy") is not None else "–"
        dice = f"{m['dice']:.3f}" if m.get("dice") is not None else "–"
        rows = [r for r in body.get("per_class", []) if r.get("iou") is not None]
        weak = ", ".join(f"{r['name']} {r['iou']:.2f}" for r in sorted(rows, key=lambda r: r["iou"])[:3])
        lines.append(f"{subset:8s} {body.get('images', 0):>6d} {miou:26s} {acc:>9s} {dice:>6s}  {weak}")
    return lines


__all__ = ["HOW", "IGNORE", "METRICS", "SegmentationScores", "class_dice", "class_iou", "confusion_of",
           "image_class_iou", "image_iou", "image_pixel_accuracy", "mean_iou", "metrics", "parts", "per_class",
           "pixel_accuracy", "row_normalised", "subset_report", "summary_lines"]
