"""Images and their boxes through one pipeline: joint transforms, clean-up, collate.

Boxes are ``tv_tensors.BoundingBoxes`` travelling with the image through the same torchvision
``transforms.v2`` steps as every task (``augment.py``): a flip, a crop, the letterbox move them
exactly as they move the pixels. What detection adds:

* the image cache may have shrunk the image (``data.shrink``): boxes are first scaled from the
  record's size to the decoded tensor's;
* the zooming step is a *box-aware* crop: a crop that cuts every object off would teach the
  network that objects are background, so the crop is chosen among ones that keep the centre of
  every box (or left out), and then letterboxed, keeping proportions;
* afterwards boxes are clamped to the picture and those left thinner than a pixel are dropped
  and counted (:class:`DropCounter`, reported in the training log, never silently);
* ignore boxes (``difficult`` / ``iscrowd``) travel with the others, flagged, so the head keeps
  them out of the loss and marks them crowd for the metric;
* images without boxes are valid negatives: their target is empty, not missing.
"""

from __future__ import annotations

import math
import threading

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F
from torchvision.transforms.v2._utils import get_bounding_boxes, query_size

from ..core.schemas import ImageRecord
from ..core.train_config import AugmentationStep
from .augment import _AFTER_NORMALIZE, IMAGENET_MEAN, IMAGENET_STD, ToPIL, _step, letterbox

#: a box thinner than this (input pixels) after the transforms carries no object
MIN_SIDE = 1.0


class DropCounter:
    """Boxes the pipeline dropped since the last :meth:`take` (thread-safe: decode threads)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.dropped = 0
        self.images_emptied = 0

    def add(self, dropped: int, emptied: bool) -> None:
        if dropped:
            with self._lock:
                self.dropped += int(dropped)
                self.images_emptied += int(emptied)

    def __getstate__(self) -> dict:  # (a loader worker process gets its own, lock and all)
        return {"dropped": 0, "images_emptied": 0}

    def __setstate__(self, state: dict) -> None:
        self.__init__()

    def take(self) -> tuple[int, int]:
        with self._lock:
            out = (self.dropped, self.images_emptied)
            self.dropped = self.images_emptied = 0
            return out


class BoxAwareCrop(v2.Transform):
    """A random crop (area ``scale_min``..1 of the image, aspect ratio within ``1/ratio``..``ratio``)
    that keeps the centre of every box inside it; after ``tries`` failed draws the image is kept
    whole. Boxes are cut at the crop's edges (and dropped later if little is left)."""

    def __init__(self, scale_min: float, ratio: float, tries: int = 20):
        super().__init__()
        self.scale_min, self.ratio, self.tries = float(scale_min), float(ratio), int(tries)

    def make_params(self, flat_inputs: list) -> dict:
        h, w = query_size(flat_inputs)
        try:
            boxes = get_bounding_boxes(flat_inputs)
            centres = ((boxes[:, :2] + boxes[:, 2:]) / 2).tolist() if len(boxes) else []
        except ValueError:  # no boxes in the sample
            centres = []
        log_r = (math.log(1 / self.ratio), math.log(self.ratio))
        for _ in range(self.tries):
            area = w * h * float(torch.empty(1).uniform_(self.scale_min, 1.0))
            aspect = math.exp(float(torch.empty(1).uniform_(*log_r)))
            cw, ch = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
            if not (0 < cw <= w and 0 < ch <= h):
                continue
            top = int(torch.randint(0, h - ch + 1, (1,)))
            left = int(torch.randint(0, w - cw + 1, (1,)))
            if all(left <= cx <= left + cw and top <= cy <= top + ch for cx, cy in centres):
                return {"top": top, "left": left, "height": ch, "width": cw}
        return {"top": 0, "left": 0, "height": h, "width": w}

    def transform(self, inpt, params: dict):
        if params["width"] <= 0:
            return inpt
        return self._call_kernel(F.crop, inpt, **params)


def detection_transforms(augmentations: list[AugmentationStep], size: int, *, train: bool) -> v2.Compose:
    """The pipeline of ``(image, {"boxes": BoundingBoxes, ...})`` samples (the image a uint8
    ``tv_tensors.Image``) -> normalised float image ``size`` x ``size`` and boxes in input pixels.

    Evaluation (``train=False``) is exactly ``augment.build_transforms([], size, train=False)``
    for the image, so the model sees what ``Preprocessing`` gives at prediction time."""
    steps = [s for s in augmentations if s.enabled] if train else []
    before = [s for s in steps if s.name not in _AFTER_NORMALIZE]
    after = [s for s in steps if s.name in _AFTER_NORMALIZE]
    crops = [s for s in before if s.name == "resized_crop"]
    ops: list[v2.Transform] = [ToPIL()]
    for s in crops:  # zoom first, on the (larger) cached image, then letterbox (proportions kept)
        ops.append(BoxAwareCrop(s.value("scale_min"), s.value("ratio")))
    ops += letterbox(size)
    ops += [_step(s, size) for s in before if s.name != "resized_crop"]
    ops += [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    ops += [_step(s, size) for s in after]
    return v2.Compose(ops)


def record_scale(record: ImageRecord, image: torch.Tensor) -> tuple[float, float]:
    """Factors from the record's pixels (what boxes are in) to the decoded tensor's."""
    h, w = image.shape[-2:]
    rw, rh = int(record.width or 0), int(record.height or 0)
    return (w / rw if rw > 0 else 1.0), (h / rh if rh > 0 else 1.0)


def joint_sample(transform, image: tv_tensors.Image, target: dict, record: ImageRecord,
                 counter: DropCounter | None = None) -> tuple[torch.Tensor, dict]:
    """One training/validation sample: image and boxes through ``transform`` together.

    ``target``: ``{"boxes": (n, 4) float in the record's pixels, "labels": (n,) int64 model labels,
    "ignore": (n,) bool}``. Returns the input tensor and the same keys in input pixels, clamped,
    without degenerate boxes; their number travels in the target (``"dropped"``), so that the
    training process counts them even when a loader worker process made the sample (and
    ``counter``, when given, counts them here)."""
    sx, sy = record_scale(record, image)
    h, w = image.shape[-2:]
    boxes = target["boxes"].to(torch.float32) * torch.tensor([sx, sy, sx, sy])
    bb = tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=(int(h), int(w)))
    out_image, out = transform(image, {"boxes": bb, "labels": target["labels"], "ignore": target["ignore"]})
    clean, dropped = clean_boxes(out["boxes"], out["labels"], out["ignore"])
    if counter is not None:
        counter.add(dropped, emptied=bool(dropped) and len(clean["boxes"]) == 0)
    clean["dropped"] = torch.tensor(dropped)
    return out_image, clean


def clean_boxes(boxes, labels: torch.Tensor, ignore: torch.Tensor) -> tuple[dict, int]:
    """Clamp ``boxes`` (a ``BoundingBoxes``) to their canvas; drop those under :data:`MIN_SIDE`."""
    if len(boxes):
        clamped = F.clamp_bounding_boxes(boxes).as_subclass(torch.Tensor)
    else:
        clamped = boxes.as_subclass(torch.Tensor).reshape(0, 4)
    keep = ((clamped[:, 2] - clamped[:, 0]) >= MIN_SIDE) & ((clamped[:, 3] - clamped[:, 1]) >= MIN_SIDE)
    dropped = int((~keep).sum())
    return {"boxes": clamped[keep].to(torch.float32), "labels": labels[keep].to(torch.int64),
            "ignore": ignore[keep].to(torch.bool)}, dropped


def collate(batch: list) -> tuple[torch.Tensor, list[dict]]:
    """Images stacked (all letterboxed to one size); targets as a list (a box count per image)."""
    images = torch.stack([b[0].as_subclass(torch.Tensor) if isinstance(b[0], torch.Tensor) else b[0]
                          for b in batch])
    return images, [b[1] for b in batch]


__all__ = ["BoxAwareCrop", "DropCounter", "MIN_SIDE", "clean_boxes", "collate", "detection_transforms",
           "joint_sample", "record_scale"]
