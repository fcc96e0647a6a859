"""Images of a split -> batches: decoding, an in-memory cache, the v2 pipeline, seeded order.

Images are decoded with ``torchvision.io`` (libjpeg-turbo / libpng, much faster than PIL) or, for
JPEGs much larger than needed, by libjpeg's DCT-domain scaling; then shrunk once to the detail
training can use (see :class:`Detail`) and kept in a bounded in-memory cache, so from the
second epoch on small and medium datasets are never decoded again. The cache lives in the
loading process, so it is used with ``num_workers == 0`` (each worker process would hold its
own copy); there, the images of a batch are decoded by a thread pool (the decoders release the
GIL) while the random augmentations still run one after the other in the loading thread, so a
seeded run gives the same batches whatever the number of threads.
"""

from __future__ import annotations

import math
import os
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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
from .resumable import ResumableLoader

# torchvision 0.29 deprecates torchvision.io in favour of torchcodec (not installed here); it works
# and is the fastest decoder available, so the per-call warning is noise.
warnings.filterwarnings("ignore", message=".*decoding and encoding capabilities of TorchVision.*")


@dataclass(frozen=True)
class Detail:
    """How many pixels of an image training can use, so that nothing larger is decoded or kept.

    A pipeline that letterboxes to ``size`` (every evaluation, and training without a resized
    crop) never uses more than ``size`` pixels along the long side. A resized crop zooms in, so
    it keeps the short side up to ``2 * size`` (a crop of a quarter of the area then still has
    ``size`` real pixels).
    """

    size: int
    zoom: bool = False

    def wanted(self, w: int, h: int) -> float:
        """Scale factor (<= 1) to apply to a ``w`` x ``h`` image."""
        if self.zoom:
            return min(1.0, 2 * self.size / min(w, h))
        return min(1.0, self.size / max(w, h))


def decode(path: Path, detail: Detail | None = None) -> torch.Tensor:
    """uint8 RGB CHW tensor of an image file; unreadable files raise a message naming the file.

    With ``detail``, a JPEG at least twice as large as needed is decoded at 1/2, 1/4 or 1/8 scale
    in the DCT domain (libjpeg's "draft" mode), never below the needed size: several times less
    work than decoding every pixel of a photo only to shrink it afterwards.
    """
    if detail is not None and path.suffix.lower() in (".jpg", ".jpeg"):
        try:
            from PIL import Image

            with Image.open(path) as im:
                w, h = im.size
                k = detail.wanted(w, h)
                if k <= 0.5:
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
        self._lock = threading.Lock()

    def get(self, key: str) -> torch.Tensor | None:
        return self._items.get(key)

    def put(self, key: str, tensor: torch.Tensor) -> None:
        size = tensor.numel() * tensor.element_size()
        with self._lock:  # the decode threads of a batch put concurrently
            if key not in self._items and self.used + size <= self.budget:
                self._items[key] = tensor
                self.used += size

    def __len__(self) -> int:
        return len(self._items)


def shrink(image: torch.Tensor, detail: Detail) -> torch.Tensor:
    """Downscale to the detail training can use (never upscales)."""
    h, w = image.shape[-2:]
    k = detail.wanted(w, h)
    if k >= 1.0:
        return image
    return TF.resize(image, [max(1, round(h * k)), max(1, round(w * k))], antialias=True)


def decode_threads() -> int:
    """Threads that decode the images of a batch: the machine's cores, at most 8."""
    return max(1, min(8, os.cpu_count() or 1))


class SampleSet(Dataset):
    """``(image, target)`` pairs of some records; ``target_of(record)`` comes from the task head."""

    def __init__(self, records: list[ImageRecord], root: Path, target_of: Callable[[ImageRecord], Any],
                 transform: Callable, detail: Detail, cache: ImageCache | None = None, threads: int = 1,
                 sample: Callable | None = None):
        self.records = records
        #: the head's ``sample(transform, image, target, record)`` (joint image + target transforms)
        self.sample = sample
        self.root = Path(root)
        self.targets = [target_of(r) for r in records]
        self.transform = transform
        self.detail = detail
        self.cache = cache
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None

    def __len__(self) -> int:
        return len(self.records)

    def __getstate__(self) -> dict:  # loader worker processes get no thread pool (they decode alone)
        return {**self.__dict__, "_pool": None, "threads": 1}

    def image(self, index: int) -> torch.Tensor:
        rec = self.records[index]
        img = self.cache.get(rec.id) if self.cache is not None else None
        if img is None:
            try:
                img = shrink(decode(self.root / rec.file, self.detail), self.detail)
            except InvalidInput as exc:  # name the image as the user knows it (its original file)
                raise InvalidInput(f"{exc.message} (imported from {rec.source or rec.file})", path=exc.path,
                                   hint="delete the image on the Dataset page or import it again, then "
                                        "resume") from None
            if self.cache is not None:
                self.cache.put(rec.id, img)
        return img

    def _pair(self, index: int, image: torch.Tensor):
        if self.sample is None:
            return self.transform(tv_tensors.Image(image)), self.targets[index]
        return self.sample(self.transform, tv_tensors.Image(image), self.targets[index], self.records[index])

    def __getitem__(self, index: int):
        return self._pair(index, self.image(index))

    def __getitems__(self, indices: list[int]) -> list:
        """A whole batch (the DataLoader asks for batches this way): the images not yet cached
        are decoded in parallel; the random transforms run in order, in this thread."""
        missing = [i for i in indices if self.cache is None or self.cache.get(self.records[i].id) is None]
        if self.threads > 1 and len(missing) > 1:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="decode")
            images = dict(zip(missing, self._pool.map(self.image, missing), strict=True))
        else:
            images = {}
        return [self._pair(i, images[i] if i in images else self.image(i)) for i in indices]


def drops_last(n: int, batch_size: int) -> bool:
    """Whether training drops its last batch: only when it would hold a single image.

    Every other partial batch is trained on (on a small dataset, dropping up to ``batch_size - 1``
    images of every epoch wastes data). A batch of one is dropped because batch norm cannot
    compute statistics over one sample; the shuffle leaves out a different image every epoch.
    """
    return n > batch_size and n % batch_size == 1


class StudioDataModule(pl.LightningDataModule):
    """Train/val/test loaders over the subsets of a split (records grouped by subset)."""

    def __init__(self, subsets: dict[str, list[ImageRecord]], root: Path, target_of, *,
                 train_transform, eval_transform, size: int, batch_size: int, num_workers: int = 0,
                 seed: int = 0, cache_bytes: int = 1 << 30, zoom: bool = False, threads: int | None = None,
                 sample: Callable | None = None, collate: Callable | None = None, detail: Detail | None = None):
        super().__init__()
        cache = ImageCache(cache_bytes) if num_workers == 0 else None
        # one cache serves train and eval, so it keeps the larger of their needs (or what the head says)
        detail = detail or Detail(size, zoom)
        threads = (decode_threads() if threads is None else threads) if num_workers == 0 else 1
        self.sets = {name: SampleSet(subsets.get(name, []), root, target_of,
                                     train_transform if name == "train" else eval_transform, detail, cache, threads,
                                     sample)
                     for name in ("train", "val", "test")}
        #: the head's collate (variable-size targets such as box lists); None: stack everything
        self.collate = collate
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed

    def _loader(self, subset: str, shuffle: bool) -> DataLoader:
        ds = self.sets[subset]
        common = dict(batch_size=self.batch_size, num_workers=self.num_workers,
                      persistent_workers=self.num_workers > 0, pin_memory=torch.cuda.is_available(),
                      drop_last=shuffle and drops_last(len(ds), self.batch_size))
        if self.collate is not None:
            common["collate_fn"] = self.collate
        if not shuffle:
            return DataLoader(ds, **common)
        if self.trainer is not None and self.trainer.world_size > 1:
            # several GPUs: Lightning shards the data with its DistributedSampler (a stop there
            # goes back to the end of the last whole epoch)
            return DataLoader(ds, shuffle=True, generator=torch.Generator().manual_seed(self.seed), **common)
        return ResumableLoader(ds, seed=self.seed, **common)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False)
