"""Semantic segmentation: a class for every pixel, cross-entropy + Dice, mean IoU.

What differs from classification lives here and nowhere in the generic code:

* a target is the record's mask file (an index PNG of class ids, 255 = ignore); the sample
  function (``ml/segmentation_data.py``) reads it, maps ids to channels with the lookup table of
  ``core/segmentation.py`` and moves it with the image;
* the loss is ``ce_weight`` x cross-entropy (ignore index 255, optional balanced class weights)
  + ``dice_weight`` x soft Dice (``SegmentationSettings``), plus ``aux_weight`` x cross-entropy
  of a network's deep-supervision maps (:meth:`SegmentationHead.training_loss`);
* validation accumulates a pixel confusion matrix (torchmetrics, ignore pixels left out) and
  reports ``miou`` (the mean over classes that occur in the truth or the prediction: a class
  absent from both has no IoU and is not counted as 0), ``pixel_accuracy`` and ``dice``;
* in tiles mode the image cache keeps full-resolution images (:meth:`detail`) and validation
  predicts whole images with the sliding window (``ml/segmentation_infer.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...core.errors import InvalidInput
from ...core.schemas import ImageRecord
from ...core.segmentation import IGNORE, background_channels, channel_lut, overlay, palette, unknown_values
from ...core.task_settings import settings_for
from .base import TaskHead

#: balanced class weights are capped at this many times the mean (a class of a few pixels must not
#: dominate the loss)
MAX_CLASS_WEIGHT = 10.0


class SegmentationHead(TaskHead):
    task = "semantic_segmentation"

    def __init__(self, project, config):
        super().__init__(project, config)
        if not project.classes:
            raise InvalidInput(f"project '{project.name}' has no classes; import images with masks first")
        self.ids = [c.id for c in project.classes]
        self.names = [c.name for c in project.classes]
        try:
            self.lut = channel_lut(self.ids)
        except ValueError as exc:
            raise InvalidInput(f"project '{project.name}': {exc}") from None
        self.settings = settings_for("semantic_segmentation", config)
        #: the dataset root (``record.mask`` is relative to it); training sets it
        self.root: Path | None = None
        self.class_weights: torch.Tensor | None = None
        self._reader = None

    @property
    def num_classes(self) -> int:
        return len(self.names)

    @property
    def tiles(self) -> bool:
        return self.settings.mode == "tiles"

    # ------------------------------------------------------------------ data
    def usable(self, record: ImageRecord) -> bool:
        return bool(record.mask)

    def target(self, record: ImageRecord) -> str:
        if not record.mask:
            raise InvalidInput(f"image {record.file} has no mask")
        return record.mask

    def annotation_key(self, record: ImageRecord):
        return [record.id, record.mask]

    def _mask_reader(self):
        from ..segmentation_data import MaskReader

        if self.root is None:
            raise RuntimeError("the dataset root must be set before masks are read (head.root)")
        if self._reader is None or self._reader.root != Path(self.root):
            self._reader = MaskReader(Path(self.root), self.lut)
        return self._reader

    @property
    def sample(self):
        """The joint image + mask sample function (picklable; see ``segmentation_data``)."""
        from ..segmentation_data import SegmentationSample

        return SegmentationSample(self._mask_reader())

    def transforms(self, train: bool):
        from ..segmentation_data import segmentation_transforms

        return segmentation_transforms(self.config.augmentations, self.config.input_size, train=train,
                                       mode=self.settings.mode, crop_size=self.settings.crop_size)

    def detail(self):
        """Tiles mode keeps images at ``scale`` of their full resolution in the cache (None: the
        usual input-size detail)."""
        from ..segmentation_data import TileDetail

        return TileDetail(self.config.input_size, scale=self.settings.scale) if self.tiles else None

    def collate(self, batch):
        from ..segmentation_data import collate

        return collate(batch)

    def set_train_statistics(self, train_targets: list[str]) -> None:
        """Read the training masks once: say what is ignored or unknown, and weigh classes if asked."""
        if self.root is None or not train_targets:
            return
        from ..segmentation_data import read_mask

        counts = np.zeros(256, np.int64)
        unknown: dict[int, int] = {}
        first_bad = None
        for rel in train_targets:
            ids = read_mask(Path(self.root) / rel)
            counts += np.bincount(ids.ravel(), minlength=256)
            bad = unknown_values(ids, self.lut)
            if bad and first_bad is None:
                first_bad = rel
            for v, n in bad.items():
                unknown[v] = unknown.get(v, 0) + n
        per_class = np.array([counts[i] for i in self.ids], np.float64)
        total = per_class.sum()
        self.report(f"{len(train_targets)} training masks, {int(total)} labelled pixels ("
                    + ", ".join(f"{n} {100 * c / max(1, total):.1f} %" for n, c in zip(self.names, per_class, strict=True))
                    + ")", "info")
        if counts[IGNORE]:
            self.report(f"{int(counts[IGNORE])} pixels are marked ignore (255): left out of the loss and the metrics",
                        "info")
        if unknown:
            values = ", ".join(str(v) for v in sorted(unknown)[:8])
            self.report(f"{sum(unknown.values())} mask pixels have values that are no class of the project "
                        f"({values}; first in {first_bad}): they are treated as ignore. Add the classes or fix "
                        "the masks on the Dataset page", "warning")
        missing = [n for n, c in zip(self.names, per_class, strict=True) if c == 0]
        if missing:
            self.report(f"no training pixels of class(es) {', '.join(missing)}: the model cannot learn them",
                        "warning")
        if self.settings.class_weights == "balanced" and total > 0:
            present = per_class > 0
            w = np.ones_like(per_class)
            w[present] = total / (present.sum() * per_class[present])
            w = np.clip(w / w[present].mean(), 1.0 / MAX_CLASS_WEIGHT, MAX_CLASS_WEIGHT)
            self.class_weights = torch.tensor(w, dtype=torch.float32)
            self.report("class weights (balanced): " + ", ".join(f"{n} {v:.2f}" for n, v in zip(self.names, w, strict=True)),
                        "info")

    def draw_target(self, image: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        """The mask over the image in the class colours (background and ignore left clear)."""
        if target is None:
            return image
        mask = target.detach().cpu().numpy().astype(np.uint8)
        img = image.detach().cpu().permute(1, 2, 0).numpy()
        out = overlay(img, mask, palette(self.project.classes), alpha=0.5,
                      transparent=background_channels(self.names))
        return torch.from_numpy(out).permute(2, 0, 1).contiguous()

    # ------------------------------------------------------------------ model
    def build_model(self, log: Callable[[str, str], None]) -> nn.Module:
        from ..models.segmentation import TEACHING, build_segmenter, load_segmentation_weights

        model = build_segmenter(self.config.model, self.num_classes)
        if self.config.weights_file or (self.config.pretrained and self.config.model != TEACHING):
            self.weights_used = load_segmentation_weights(model, self.config.model, self.config.weights_file, log)
        return model

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = outputs.float()
        s = self.settings
        valid = targets != IGNORE
        total = logits.new_zeros(())
        if not bool(valid.any()):  # a crop of nothing but ignore: no signal, but keep the graph
            return total + logits.sum() * 0.0
        if s.ce_weight > 0:
            weight = self.class_weights.to(logits.device) if self.class_weights is not None else None
            total = total + s.ce_weight * F.cross_entropy(logits, targets, weight=weight, ignore_index=IGNORE)
        if s.dice_weight > 0:
            total = total + s.dice_weight * dice_loss(logits, targets, valid)
        return total

    def training_loss(self, model, x, y):
        """The loss of the full-resolution logits plus ``aux_weight`` x cross-entropy of each
        deep-supervision map against the mask at its scale (nearest; padding is ignore)."""
        logits, aux = model.forward_train(x)
        total = self.loss(logits, y)
        weight = self.settings.aux_weight
        if not aux or weight <= 0:
            return total
        h, w = y.shape[-2:]
        stride = int(getattr(model, "stride", 1))
        padded = F.pad(y, (0, (-w) % stride, 0, (-h) % stride), value=IGNORE)
        for coarse in aux:
            small = F.interpolate(padded[:, None].float(), size=coarse.shape[-2:], mode="nearest")[:, 0].long()
            if bool((small != IGNORE).any()):
                total = total + weight * F.cross_entropy(coarse.float(), small, ignore_index=IGNORE)
            else:
                total = total + coarse.sum() * 0.0
        return total

    def eval_step(self, model, x, y):
        if isinstance(x, list | tuple):  # tiles mode: whole images of different sizes
            from ..segmentation_infer import sliding_window, torch_runner

            run = torch_runner(model, x[0].device)
            s = self.settings
            probs = [torch.from_numpy(sliding_window(run, xi.float().cpu().numpy(), s.crop_size, s.overlap,
                                                     s.blend, s.tile_batch)).to(xi.device) for xi in x]
            return probs, None
        out = model(x)
        return out, self.loss(out, y)

    # ------------------------------------------------------------------ metrics
    def metrics(self):
        from torchmetrics.classification import MulticlassConfusionMatrix

        return MulticlassConfusionMatrix(max(2, self.num_classes), ignore_index=IGNORE)

    def update_metrics(self, metrics, outputs, targets) -> None:
        if isinstance(outputs, list | tuple):
            for p, t in zip(outputs, targets, strict=True):
                metrics.update(p.argmax(0).flatten(), t.to(p.device).flatten())
            return
        metrics.update(outputs.argmax(1).flatten(), targets.flatten())

    def compute_metrics(self, metrics) -> dict[str, float]:
        return scores_of(metrics.compute().double().cpu().numpy()[: self.num_classes, : self.num_classes])

    # ------------------------------------------------------------------ decode, evaluate
    def decode(self, outputs: torch.Tensor) -> list[dict]:
        """Per image: the share of pixels of each class in the (input-size) prediction."""
        idx = outputs.argmax(1)
        lines = []
        for m in idx:
            counts = torch.bincount(m.flatten(), minlength=self.num_classes).tolist()
            n = max(1, sum(counts))
            lines.append({"pixels": {str(self.ids[k]): counts[k] / n for k in range(self.num_classes)}})
        return lines

    def eval_batch(self, outputs: torch.Tensor) -> dict:
        return {"logits": outputs.float().cpu().numpy()}

    def evaluate_batch(self, model, x, y, batch):
        """At the original resolution, with the one predictor (``ml/tasks/segmentation_eval.py``)."""
        from .segmentation_eval import evaluate_batch

        return evaluate_batch(self, model, x, y, batch)

    def evaluation(self):
        from .segmentation_eval import SegmentationEvaluation

        return SegmentationEvaluation(self)


def dice_loss(logits: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """1 - soft Dice per class over the batch, averaged over classes; ignore pixels left out.

    Every class counts the same, so a small structure weighs as much as the background; a class
    absent from the batch's truth is pushed towards predicting none of it."""
    probs = logits.softmax(1) * valid[:, None]
    onehot = F.one_hot(torch.where(valid, targets, torch.zeros_like(targets)), logits.shape[1])
    onehot = onehot.permute(0, 3, 1, 2).to(probs.dtype) * valid[:, None]
    dims = (0, 2, 3)
    inter = (probs * onehot).sum(dims)
    card = probs.sum(dims) + onehot.sum(dims)
    return 1.0 - ((2 * inter + smooth) / (card + smooth)).mean()


def scores_of(confusion: np.ndarray) -> dict[str, float]:
    """miou, pixel_accuracy and dice from a pixel confusion matrix (rows truth, columns prediction).

    IoU_k = TP / (TP + FP + FN); a class with no pixel in the truth nor the prediction has no IoU
    (0 / 0) and is left out of the means, not counted as 0."""
    cm = np.asarray(confusion, dtype=np.float64)
    tp = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - tp
    seen = union > 0
    total = cm.sum()
    if not seen.any():
        return {"miou": 0.0, "pixel_accuracy": 0.0, "dice": 0.0}
    iou = tp[seen] / union[seen]
    dice = 2 * tp[seen] / (union[seen] + tp[seen])
    return {"miou": float(iou.mean()), "pixel_accuracy": float(tp.sum() / total) if total else 0.0,
            "dice": float(dice.mean())}


__all__ = ["SegmentationHead", "dice_loss", "scores_of"]
