"""Images of a split -> batches: decoding, an in-memory cache, the v2 pipeline, seeded order.

Images are decoded with ``torchvision.io`` (libjpeg-turbo / libpng, much faster than PIL),
shrunk once so that their short side is at most twice the input size (augmenting a 4000 px
photo to train at 224 px wastes time), and kept in a bounded in-memory cache: from the second
epoch on, small and medium datasets are never decoded again. The cache lives in the loading
process, so it is used with ``num_workers == 0`` (each worker process would hold its own copy).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision import tv_tensors
from torchvision.io import ImageReadMode, decode_image, read_file
from torchvision.transforms.v2 import functional as TF

from ..core.errors import InvalidInput
from ..core.schemas import ImageRecord

# torchvision 0.29 deprecates torchvision.io in favour of torchcodec (not installed here); it works
# and is the fastest decoder available, so the per-call warning is noise.
warnings.filterwarnings("ignore", message=".*decoding and encoding capabilities of TorchVision.*")


def decode(path: Path, min_side: int | None = None) -> torch.Tensor:
    """uint8 RGB CHW tensor of an image file; unreadable files raise a message naming the file.

    With ``min_side``, a JPEG much larger than needed is decoded at 1/2, 1/4 or 1/8 scale in the
    DCT domain (libjpeg's "draft" mode), keeping its short side >= ``min_side``: several times
    faster than decoding every pixel of a photo only to shrink it afterwards.
    """
    if min_side and path.suffix.lower() in (".jpg", ".jpeg"):
        try:
            from PIL import Image

            with Image.open(path) as im:
                w, h = im.size
                if min(w, h) >= 2 * min_side:
                    k = min_side / min(w, h)
                    im.draft("RGB", (math.ceil(w * k), math.ceil(h * k)))
                    return TF.pil_to_tensor(im.convert("RGB"))
        except (OSError, ValueError):
            pass  # fall through to the full decoders, which give the error message
    try:
        return decode_image(read_file(str(path)), mode=ImageReadMode.RGB)
    except RuntimeError:
        pass  # a format torchvision cannot decode (tiff, bmp...): let PIL try
    try:
        from PIL import Image

        with Image.open(path) as im:
            return TF.pil_to_tensor(im.convert("RGB"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot decode image: {exc}", path=path) from None


class ImageCache:
    """Decoded (pre-shrunk) images by id, up to a byte budget; the first come stay."""

    def __init__(self, budget_bytes: int = 1 << 30):
        self.budget = budget_bytes
        self.used = 0
        self._items: dict[str, torch.Tensor] = {}

    def get(self, key: str) -> torch.Tensor | None:
        return self._items.get(key)

    def put(self, key: str, tensor: torch.Tensor) -> None:
        size = tensor.numel() * tensor.element_size()
        if self.used + size <= self.budget:
            self._items[key] = tensor
            self.used += size

    def __len__(self) -> int:
        return len(self._items)


def shrink(image: torch.Tensor, size: int) -> torch.Tensor:
    """Downscale so the short side is at most ``2 * size`` (never upscales)."""
    h, w = image.shape[-2:]
    limit = 2 * size
    if min(h, w) <= limit:
        return image
    return TF.resize(image, limit, antialias=True)


class SampleSet(Dataset):
    """``(image, target)`` pairs of some records; ``target_of(record)`` comes from the task head."""

    def __init__(self, records: list[ImageRecord], root: Path, target_of: Callable[[ImageRecord], Any],
                 transform: Callable, size: int, cache: ImageCache | None = None):
        self.records = records
        self.root = Path(root)
        self.targets = [target_of(r) for r in records]
        self.transform = transform
        self.size = size
        self.cache = cache

    def __len__(self) -> int:
        return len(self.records)

    def image(self, index: int) -> torch.Tensor:
        rec = self.records[index]
        img = self.cache.get(rec.id) if self.cache is not None else None
        if img is None:
            img = shrink(decode(self.root / rec.file, 2 * self.size), self.size)
            if self.cache is not None:
                self.cache.put(rec.id, img)
        return img

    def __getitem__(self, index: int):
        return self.transform(tv_tensors.Image(self.image(index))), self.targets[index]


class StudioDataModule(pl.LightningDataModule):
    """Train/val/test loaders over the subsets of a split (records grouped by subset)."""

    def __init__(self, subsets: dict[str, list[ImageRecord]], root: Path, target_of, *,
                 train_transform, eval_transform, size: int, batch_size: int, num_workers: int = 0,
                 seed: int = 0, cache_bytes: int = 1 << 30):
        super().__init__()
        cache = ImageCache(cache_bytes) if num_workers == 0 else None
        self.sets = {
            "train": SampleSet(subsets.get("train", []), root, target_of, train_transform, size, cache),
            "val": SampleSet(subsets.get("val", []), root, target_of, eval_transform, size, cache),
            "test": SampleSet(subsets.get("test", []), root, target_of, eval_transform, size, cache),
        }
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed

    def _loader(self, subset: str, shuffle: bool) -> DataLoader:
        ds = self.sets[subset]
        gen = torch.Generator().manual_seed(self.seed) if shuffle else None
        return DataLoader(ds, batch_size=self.batch_size, shuffle=shuffle, generator=gen,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0,
                          drop_last=shuffle and len(ds) > self.batch_size,
                          pin_memory=torch.cuda.is_available())

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False)
