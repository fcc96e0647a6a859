"""Semantic segmentation evaluation: every image judged at its ORIGINAL resolution, per-pixel.

The generic evaluator's batch (letterboxed tensors) is not what a segmentation is judged on: a
mask is compared pixel for pixel with the ground truth at the image's own size. So the head's
``evaluate_batch`` hands each record to :func:`evaluate_batch` here, which reads the original
image (EXIF-oriented) and its mask, predicts with the one inference function every runner uses
(``ml/segmentation_infer.predict_probabilities``: letterbox or sliding window, back to the
original pixels), writes the predicted index mask (``evaluation/masks/<image id>.png``, CLASS
IDS, like a ground-truth mask) and keeps only the image's ``C x C`` pixel confusion matrix.

:class:`SegmentationEvaluation` turns those matrices into ``scores.npz``, ``aggregate.json`` (via
the numpy module ``core/evaluation/segmentation.py``, which the page uses too) and one
``results.jsonl`` line per image. The written numbers are checked against torchmetrics
(``MulticlassJaccardIndex`` / ``F1Score`` / ``Accuracy`` with ``ignore_index=255``) recomputed
from the written masks: a disagreement is logged as a warning, never hidden.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...core import segmentation as seg
from ...core.evaluation import segmentation as sm
from ...core.schemas import ImageRecord
from .base import EvalBatch, EvaluationResult

MASKS = "masks"
#: the torchmetrics check reads back at most this many pixels a subset (a check, not the numbers)
CHECK_PIXELS = 400_000_000


def _read_mask(path: Path) -> np.ndarray:
    """An index PNG's values (palette indices or grey levels; RGB: the first channel)."""
    from PIL import Image

    with Image.open(path) as im:
        if im.mode not in ("P", "L"):
            im = im.convert("RGB").getchannel(0) if im.mode in ("RGB", "RGBA") else im.convert("L")
        return np.asarray(im, dtype=np.uint8)


def _write_mask(path: Path, class_id_mask: np.ndarray) -> None:
    """8-bit greyscale PNG of class ids, written whole (temporary name, then renamed)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    Image.fromarray(np.ascontiguousarray(class_id_mask, dtype=np.uint8), mode="L").save(tmp, format="PNG")
    tmp.replace(path)


def evaluate_batch(head, model, x, y, batch: EvalBatch) -> tuple[dict[str, np.ndarray], list]:
    """One evaluation batch: per record, predict at the original size, write the predicted mask,
    return ``{"confusion": (N, C, C), "pixels": (N,), "unknown": (N,)}`` and no targets (the
    truth is in the confusion)."""
    from ...core.images import open_rgb
    from ...core.task_settings import settings_for
    from ..preprocess import Preprocessing
    from ..segmentation_infer import predict_probabilities, torch_runner

    class_ids = [c.id for c in head.project.classes]
    c = len(class_ids)
    lut = seg.channel_lut(class_ids)
    pre = Preprocessing.from_config(head.config)
    settings = settings_for(head.project.task, head.config)
    run = torch_runner(model, batch.device)
    head.eval_paths = (batch.root, batch.folder)  # where SegmentationEvaluation finds the masks to check
    conf = np.zeros((len(batch.records), c, c), dtype=np.int64)
    unknown = np.zeros(len(batch.records), dtype=np.int64)
    for i, rec in enumerate(batch.records):
        image = np.array(open_rgb(batch.root / rec.file))  # writable: torch.from_numpy warns on read-only arrays
        probs = predict_probabilities(run, image, pre, settings)
        predicted = np.asarray(probs).argmax(axis=0).astype(np.uint8)
        truth_ids = _read_mask(batch.root / rec.mask)
        if truth_ids.shape != predicted.shape:
            from ...core.errors import InvalidInput

            raise InvalidInput(f"the mask {rec.mask} is {truth_ids.shape[1]}x{truth_ids.shape[0]} pixels but its "
                               f"image {rec.file} is {predicted.shape[1]}x{predicted.shape[0]}",
                               path=batch.root / rec.mask, hint="import the image and its mask again")
        unknown[i] = sum(seg.unknown_values(truth_ids, lut).values())
        conf[i] = sm.confusion_of(seg.to_channels(truth_ids, lut), predicted, c)
        _write_mask(batch.folder / MASKS / f"{rec.id}.png", seg.to_class_ids(predicted, class_ids))
    return {"confusion": conf, "pixels": conf.sum(axis=(1, 2)), "unknown": unknown}, [None] * len(batch.records)


def torchmetrics_subset(pairs: list[tuple[Path, Path]], class_ids: list[int]) -> dict:
    """torchmetrics' mIoU, pixel accuracy and Dice of (truth mask, predicted mask) files (class ids
    on disk), ignore 255 and unknown values: the independent check of the numpy numbers. mIoU and
    Dice average the classes that occur in the truth or the prediction (torchmetrics gives the
    others 0; they are undefined and left out, as the page does)."""
    from torchmetrics.classification import (
        MulticlassAccuracy,
        MulticlassConfusionMatrix,
        MulticlassF1Score,
        MulticlassJaccardIndex,
    )

    c = len(class_ids)
    lut = seg.channel_lut(class_ids)
    iou = MulticlassJaccardIndex(c, average="none", ignore_index=seg.IGNORE, validate_args=False)
    f1 = MulticlassF1Score(c, average="none", ignore_index=seg.IGNORE, validate_args=False)
    acc = MulticlassAccuracy(c, average="micro", ignore_index=seg.IGNORE, validate_args=False)
    cm = MulticlassConfusionMatrix(c, ignore_index=seg.IGNORE, validate_args=False)
    for truth_path, pred_path in pairs:
        t = torch.from_numpy(seg.to_channels(_read_mask(truth_path), lut).astype(np.int64)).ravel()
        p = torch.from_numpy(seg.to_channels(_read_mask(pred_path), lut).astype(np.int64)).ravel()
        p = torch.where(p == seg.IGNORE, torch.zeros_like(p), p)  # never: predictions are class ids
        for metric in (iou, f1, acc, cm):
            metric.update(p, t)
    confusion = cm.compute().numpy()
    defined = (confusion.sum(axis=0) + confusion.sum(axis=1)) > 0
    ious, dices = iou.compute().numpy(), f1.compute().numpy()
    return {"miou": float(ious[defined].mean()) if defined.any() else None,
            "dice": float(dices[defined].mean()) if defined.any() else None,
            "pixel_accuracy": float(acc.compute()) if confusion.sum() else None,
            "per_class_iou": [float(v) if d else None for v, d in zip(ious, defined, strict=True)]}


class SegmentationEvaluation:
    """The ``TaskEvaluation`` of semantic segmentation (see the module docstring)."""

    def __init__(self, head):
        self.head = head
        self.class_ids = [c.id for c in head.project.classes]
        self.class_names = [c.name for c in head.project.classes]
        #: the dataset root and the staged evaluation folder (the masks to check), from evaluate_batch
        self.root, self.folder = getattr(head, "eval_paths", None) or (None, None)

    def evaluate(self, *, records: list[ImageRecord], subsets, targets: list, arrays: dict, op, log
                 ) -> EvaluationResult:
        c = len(self.class_ids)
        conf = np.asarray(arrays["confusion"], dtype=np.int64).reshape(len(records), c, c)
        scores = sm.SegmentationScores(image_ids=np.array([r.id for r in records]),
                                       subsets=np.asarray(subsets).astype(str), confusion=conf,
                                       class_ids=self.class_ids, class_names=self.class_names)
        unknown = np.asarray(arrays.get("unknown", np.zeros(len(records))), dtype=np.int64)
        if unknown.sum():
            log(f"{int(unknown.sum()):,} ground-truth pixel(s) in {int((unknown > 0).sum())} mask(s) have a value that "
                "is no class of this model: they were treated as ignore (like 255) and left out of the metrics",
                "warning")
        aggregate: dict = {"subsets": {}, "how": sm.HOW,
                           "classes": [{"id": i, "name": n} for i, n in zip(self.class_ids, self.class_names,
                                                                          strict=True)],
                           "unknown_pixels": int(unknown.sum())}
        headline: dict = {}
        for subset in dict.fromkeys(scores.subsets.tolist()):
            body = sm.subset_report(scores, subset)
            self._check(body, [r for r, s in zip(records, scores.subsets, strict=True) if s == subset], log)
            aggregate["subsets"][subset] = body
            headline[subset] = {"miou": body["metrics"]["miou"], "miou_interval": body["intervals"].get("miou"),
                                "pixel_accuracy": body["metrics"]["pixel_accuracy"], "dice": body["metrics"]["dice"]}
        return EvaluationResult(aggregate=aggregate, lines=self.lines(records, scores), scores=scores.as_npz(),
                                headline=headline)

    def _check(self, body: dict, records: list[ImageRecord], log) -> None:
        """torchmetrics on the written masks must give the numbers written (a warning otherwise)."""
        if self.folder is None or self.root is None:
            return
        pixels = sum(int(r.width or 0) * int(r.height or 0) for r in records)
        if pixels > CHECK_PIXELS:
            log(f"torchmetrics check skipped for {body['subset']}: {pixels:,} pixels", "info")
            return
        pairs = [(self.root / r.mask, self.folder / MASKS / f"{r.id}.png") for r in records]
        tm = torchmetrics_subset(pairs, self.class_ids)
        for key in sm.METRICS:
            ours, theirs = body["metrics"][key], tm[key]
            if (ours is None) != (theirs is None) or (ours is not None and abs(ours - theirs) > 1e-6):
                log(f"{body['subset']} {key}: torchmetrics {theirs} but the cache gives {ours}", "warning")

    def lines(self, records: list[ImageRecord], scores: sm.SegmentationScores) -> list[dict]:
        """One results.jsonl line per image: its masks, IoU, pixel accuracy and per-class IoU."""
        iou, acc, per = sm.image_iou(scores), sm.image_pixel_accuracy(scores), sm.image_class_iou(scores)
        out = []
        for i, rec in enumerate(records):
            out.append({"image": rec.id, "file": rec.file, "source": rec.source, "subset": str(scores.subsets[i]),
                        "width": rec.width, "height": rec.height, "truth": {"mask": rec.mask},
                        "prediction": {"mask": f"{MASKS}/{rec.id}.png"},
                        "iou": _round(iou[i]), "pixel_accuracy": _round(acc[i]),
                        "pixels": int(scores.confusion[i].sum()),
                        "ious": {str(cid): _round(per[i, k]) for k, cid in enumerate(self.class_ids)
                                 if np.isfinite(per[i, k])}})
        return out


def _round(v) -> float | None:
    v = float(v)
    return round(v, 6) if np.isfinite(v) else None


__all__ = ["MASKS", "SegmentationEvaluation", "evaluate_batch", "torchmetrics_subset"]
