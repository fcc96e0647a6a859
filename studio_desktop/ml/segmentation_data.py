"""Images and their masks through one pipeline: joint transforms, tiles, the mask cache.

A mask is an index PNG of CLASS IDS (``dataset/<record.mask>``, 255 = ignore). It is read, mapped
to network channels with the project's lookup table (``core/segmentation.py``; values that are no
class become ignore) and travels as a ``tv_tensors.Mask`` with the image through the same
torchvision ``transforms.v2`` steps: a flip or a crop moves both; resizing a mask is always
nearest-neighbour (a pixel is never half road, half sky); every border a geometric step or the
letterbox adds to a mask is *ignore*, never background, so the network is not taught that the
padding is a class.

Two geometries (``SegmentationSettings.mode``):

* ``resize``: like every task, the image is letterboxed to the input size (a zoom, when enabled,
  crops first, then letterboxes, keeping proportions);
* ``tiles``: the image is kept at full resolution (times ``scale``; see :class:`TileDetail`) and
  training sees random ``crop_size`` crops of it (a zoom takes a smaller crop and enlarges it);
  validation runs the sliding window on whole images (``segmentation_infer.py``).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image as PILImage
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F
from torchvision.transforms.v2._utils import query_size

from ..core.errors import InvalidInput
from ..core.schemas import ImageRecord
from ..core.segmentation import IGNORE, to_channels
from ..core.train_config import AugmentationStep
from .augment import _AFTER_NORMALIZE, BORDER_FILL, IMAGENET_MEAN, IMAGENET_STD, PadToSquare, ToPIL, _step
from .data import Detail

#: what geometric steps fill uncovered corners with: the letterbox colour for images, ignore for masks
SEG_FILL = {tv_tensors.Image: list(BORDER_FILL), PILImage.Image: BORDER_FILL, tv_tensors.Mask: IGNORE,
            "others": 0}


def read_mask(path: Path) -> np.ndarray:
    """The class-id mask of an index PNG (uint8 H x W); anything else raises a message naming the file."""
    try:
        with PILImage.open(path) as im:
            if im.mode in ("L", "P"):
                return np.asarray(im, dtype=np.uint8).copy()
            if im.mode in ("I", "I;16", "I;16B", "I;16L"):
                arr = np.asarray(im)
                if arr.size and int(arr.max()) > 255:
                    raise InvalidInput(f"mask has values up to {int(arr.max())}; masks hold class ids 0-254 "
                                       "and 255 for ignore", path=path)
                return arr.astype(np.uint8)
            raise InvalidInput(f"mask is a {im.mode} image, not an index (one value per pixel) PNG", path=path,
                               hint="import the masks again (the importer converts colour masks)")
    except InvalidInput:
        raise
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read mask: {exc}", path=path) from None


class MaskReader:
    """Channel masks (uint8, 255 = ignore) by file, from a small in-memory cache (thread-safe).

    Masks compress well as PNG but are re-read every epoch otherwise; the cache holds up to
    ``budget`` bytes (a loader worker process gets an empty one of its own)."""

    def __init__(self, root: Path, lut: np.ndarray, budget: int = 256 << 20):
        self.root, self.lut, self.budget = Path(root), lut, int(budget)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._used = 0
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        return {"root": self.root, "lut": self.lut, "budget": self.budget}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["root"], state["lut"], state["budget"])

    def channels(self, relative: str, record: ImageRecord | None = None) -> np.ndarray:
        with self._lock:
            hit = self._cache.get(relative)
        if hit is not None:
            return hit
        path = self.root / relative
        ids = read_mask(path)
        if record is not None and record.width and record.height and ids.shape != (record.height, record.width):
            raise InvalidInput(f"mask is {ids.shape[1]}x{ids.shape[0]} px but its image {record.file} is "
                               f"{record.width}x{record.height}", path=path, hint="import the image and its mask again")
        out = to_channels(ids, self.lut)
        with self._lock:
            if self._used + out.nbytes <= self.budget:
                self._cache[relative] = out
                self._used += out.nbytes
        return out


@dataclass(frozen=True)
class TileDetail(Detail):
    """The image cache keeps tiles-mode images at ``scale`` of their pixels (never the input size)."""

    scale: float = 1.0

    def wanted(self, w: int, h: int) -> float:
        return min(1.0, float(self.scale))


class PadMask(PadToSquare):
    """The letterbox's padding, with masks padded with ignore (not background)."""

    def transform(self, inpt, params: dict):
        if isinstance(inpt, tv_tensors.Mask) and any(params["padding"]):
            return F.pad(inpt, padding=params["padding"], fill=IGNORE)
        return super().transform(inpt, params)


class ZoomCrop(v2.Transform):
    """A random crop of ``scale_min``..1 of the area (aspect ``1/ratio``..``ratio``), the image
    and mask cropped alike; the letterbox that follows keeps proportions."""

    def __init__(self, scale_min: float, ratio: float):
        super().__init__()
        self.scale_min, self.ratio = float(scale_min), float(ratio)

    def make_params(self, flat_inputs: list) -> dict:
        h, w = query_size(flat_inputs)
        area = w * h * float(torch.empty(1).uniform_(self.scale_min, 1.0))
        aspect = math.exp(float(torch.empty(1).uniform_(-math.log(self.ratio), math.log(self.ratio))))
        cw, ch = min(w, max(1, round(math.sqrt(area * aspect)))), min(h, max(1, round(math.sqrt(area / aspect))))
        return {"top": int(torch.randint(0, h - ch + 1, (1,))), "left": int(torch.randint(0, w - cw + 1, (1,))),
                "height": ch, "width": cw}

    def transform(self, inpt, params: dict):
        return self._call_kernel(F.crop, inpt, **params)


class RandomTile(v2.Transform):
    """A random ``size`` x ``size`` tile of a full-resolution image (tiles mode).

    With ``scale_min`` < 1 (the zoom augmentation) a smaller window (``scale_min``..1 of the tile's
    area) is cut and enlarged to the tile. An image smaller than the window is padded (image: the
    letterbox colour, mask: ignore)."""

    def __init__(self, size: int, scale_min: float = 1.0, ratio: float = 1.0):
        super().__init__()
        self.size, self.scale_min, self.ratio = int(size), float(scale_min), float(ratio)

    def make_params(self, flat_inputs: list) -> dict:
        h, w = query_size(flat_inputs)
        area = self.size * self.size * float(torch.empty(1).uniform_(self.scale_min, 1.0))
        aspect = math.exp(float(torch.empty(1).uniform_(-math.log(self.ratio), math.log(self.ratio))))
        cw, ch = max(1, round(math.sqrt(area * aspect))), max(1, round(math.sqrt(area / aspect)))
        top = int(torch.randint(0, max(0, h - ch) + 1, (1,))) if h > ch else -((ch - h) // 2)
        left = int(torch.randint(0, max(0, w - cw) + 1, (1,))) if w > cw else -((cw - w) // 2)
        return {"top": top, "left": left, "height": ch, "width": cw}

    def transform(self, inpt, params: dict):
        size = [self.size, self.size]
        if isinstance(inpt, tv_tensors.Mask):
            pad = _out_of_bounds(inpt.shape[-2:], params)
            out = F.pad(inpt, pad, fill=IGNORE) if any(pad) else inpt
            out = F.crop(out, params["top"] + pad[1], params["left"] + pad[0], params["height"], params["width"])
            return F.resize(out, size, interpolation=v2.InterpolationMode.NEAREST)
        if isinstance(inpt, PILImage.Image | tv_tensors.Image):
            hw = (inpt.height, inpt.width) if isinstance(inpt, PILImage.Image) else tuple(inpt.shape[-2:])
            pad = _out_of_bounds(hw, params)
            fill = BORDER_FILL if isinstance(inpt, PILImage.Image) else list(BORDER_FILL)
            out = F.pad(inpt, pad, fill=fill) if any(pad) else inpt
            out = F.crop(out, params["top"] + pad[1], params["left"] + pad[0], params["height"], params["width"])
            return F.resize(out, size, antialias=True)
        return inpt


def _out_of_bounds(hw, params: dict) -> list[int]:
    """``[left, top, right, bottom]`` padding needed for the window of ``params`` to lie inside."""
    h, w = int(hw[0]), int(hw[1])
    left = max(0, -params["left"])
    top = max(0, -params["top"])
    right = max(0, params["left"] + params["width"] - w)
    bottom = max(0, params["top"] + params["height"] - h)
    return [left, top, right, bottom]


def _seg_step(step: AugmentationStep, size: int) -> v2.Transform:
    """An augmentation step whose uncovered corners are ignore in the mask."""
    v = step.value
    match step.name:
        case "rotation":
            return v2.RandomRotation(degrees=v("degrees"), fill=SEG_FILL)
        case "affine":
            s = v("scale")
            return v2.RandomAffine(degrees=0, translate=(v("translate"), v("translate")), scale=(1 - s, 1 + s),
                                   fill=SEG_FILL)
        case "perspective":
            return v2.RandomPerspective(distortion_scale=v("distortion"), p=v("p"), fill=SEG_FILL)
    return _step(step, size)


def letterbox_mask(size: int) -> list[v2.Transform]:
    """``augment.letterbox`` with masks padded with ignore (Resize is nearest for masks)."""
    return [v2.Resize(size=None, max_size=size, antialias=True), PadMask(size), v2.CenterCrop((size, size))]


@dataclass
class SegmentationPipeline:
    """The joint pipeline: ``geometry`` steps on (image, mask), then ``after`` on the image only."""

    joint: v2.Compose
    after: v2.Compose | None

    def __call__(self, image, mask):
        image, mask = self.joint(image, mask)
        if self.after is not None:
            image = self.after(image)
        return image, mask


def segmentation_transforms(augmentations: list[AugmentationStep], size: int, *, train: bool, mode: str = "resize",
                            crop_size: int = 256) -> SegmentationPipeline:
    """``(uint8 Image, Mask)`` -> ``(normalised float image, channel mask)``.

    resize mode: ``size`` x ``size`` letterboxed (evaluation: exactly ``Preprocessing``'s input).
    tiles mode, training: random ``crop_size`` tiles; evaluation: the whole image (the sliding
    window cuts it later)."""
    steps = [s for s in augmentations if s.enabled] if train else []
    before = [s for s in steps if s.name not in _AFTER_NORMALIZE]
    after = [s for s in steps if s.name in _AFTER_NORMALIZE]
    zoom = next((s for s in before if s.name == "resized_crop"), None)
    ops: list[v2.Transform] = [ToPIL()]
    if mode == "tiles":
        if train:
            ops.append(RandomTile(crop_size, zoom.value("scale_min") if zoom else 1.0, zoom.value("ratio") if zoom else 1.0))
    else:
        if zoom is not None:
            ops.append(ZoomCrop(zoom.value("scale_min"), zoom.value("ratio")))
        ops += letterbox_mask(size)
    ops += [_seg_step(s, crop_size if mode == "tiles" else size) for s in before if s.name != "resized_crop"]
    ops += [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    return SegmentationPipeline(v2.Compose(ops), v2.Compose([_step(s, size) for s in after]) if after else None)


class SegmentationSample:
    """The head's ``sample(transform, image, target, record)``: picklable (a loader worker may get it).

    ``target`` is the record's mask file (dataset-relative). The mask is read (cached), mapped to
    channels, brought to the decoded image's size (the image cache may have shrunk it; nearest),
    then moved with the image. Returns ``(image, mask int64 H x W)``, 255 = ignore."""

    def __init__(self, reader: MaskReader, scale: float = 1.0):
        self.reader = reader
        self.scale = float(scale)

    def __call__(self, transform: SegmentationPipeline, image: tv_tensors.Image, target: str | None,
                 record: ImageRecord) -> tuple[torch.Tensor, torch.Tensor]:
        h, w = image.shape[-2:]
        if target is None:  # an image without a mask (the augmentation preview may show one)
            mask = torch.full((1, int(h), int(w)), IGNORE, dtype=torch.uint8)
        else:
            mask = torch.from_numpy(self.reader.channels(target, record))[None]
        if tuple(mask.shape[-2:]) != (h, w):
            mask = F.resize(mask, [int(h), int(w)], interpolation=v2.InterpolationMode.NEAREST)
        out_image, out_mask = transform(image, tv_tensors.Mask(mask))
        return out_image.as_subclass(torch.Tensor), out_mask.as_subclass(torch.Tensor)[0].to(torch.int64)


def collate(batch: list) -> tuple:
    """Images and masks stacked when they share a size (training, resize mode); else lists (whole
    images of a tiles-mode validation, cut by the sliding window)."""
    images = [b[0] for b in batch]
    masks = [b[1] for b in batch]
    if not all(isinstance(m, torch.Tensor) for m in masks):  # (evaluation: the mask files' names)
        return torch.stack(images) if len({tuple(i.shape) for i in images}) == 1 else images, masks
    if len({tuple(i.shape) for i in images}) == 1:
        return torch.stack(images), torch.stack(masks)
    return images, masks


__all__ = ["MaskReader", "PadMask", "RandomTile", "SEG_FILL", "SegmentationPipeline", "SegmentationSample",
           "TileDetail", "ZoomCrop", "collate", "letterbox_mask", "read_mask", "segmentation_transforms"]
