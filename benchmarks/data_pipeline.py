"""Data pipeline throughput: images/s our DataModule delivers vs raw ``torchvision.io.decode_jpeg``.

Same JPEG files, same process, same run; medians of three first epochs (new DataModules) and
of two later ones. The DataModule does everything training needs
(decode, shrink, the classification default augmentations, letterbox, normalise, batch); the
baseline only decodes. The first epoch ("cold") decodes every file; later epochs ("warm") are
served from the in-memory cache of pre-shrunk images, so they are faster than decoding at all.
The DataModule decodes the files of a batch on a thread pool (one thread per core, at most 8);
both that default and a single decode thread are measured. The baseline is one thread.

    python benchmarks/data_pipeline.py [--quick] [--size 64] [--photo 640x480]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from torchvision.io import decode_jpeg, read_file

from studio_desktop.core.schemas import ImageRecord
from studio_desktop.core.train_config import defaults_for
from studio_desktop.ml.allocator import keep_freed_memory
from studio_desktop.ml.augment import build_transforms, zooms
from studio_desktop.ml.data import StudioDataModule, decode_threads


def make_photos(folder: Path, n: int, w: int, h: int) -> list[ImageRecord]:
    """Photo-like JPEGs (smooth gradient, noise, a few shapes) so that compression is realistic."""
    rng = np.random.default_rng(0)
    (folder / "images").mkdir(parents=True)
    yy, xx = np.mgrid[0:h, 0:w]
    records = []
    for i in range(n):
        base = np.stack([(xx * rng.uniform(0.1, 0.4) + yy * rng.uniform(0.1, 0.4) + rng.uniform(0, 255)) % 255
                         for _ in range(3)], -1)
        base = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        img = Image.fromarray(base)
        draw = ImageDraw.Draw(img)
        for _ in range(5):
            x, y, r = rng.integers(0, w), rng.integers(0, h), rng.integers(10, min(w, h) // 4)
            draw.ellipse([x - r, y - r, x + r, y + r], fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
        path = folder / "images" / f"{i:05d}.jpg"
        img.save(path, quality=90)
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        records.append(ImageRecord(id=f"{i:05d}", file=f"images/{i:05d}.jpg", width=w, height=h, sha256=sha,
                                   label=i % 3))
    return records


def raw_decode(folder: Path, records) -> float:
    t = time.perf_counter()
    for r in records:
        decode_jpeg(read_file(str(folder / r.file)))
    return len(records) / (time.perf_counter() - t)


def pipeline_epoch(dm) -> float:
    t = time.perf_counter()
    n = sum(len(y) for _, y in dm.train_dataloader())
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer images")
    ap.add_argument("--size", type=int, default=defaults_for("classification").input_size,
                    help="training input size (default: the classification default)")
    ap.add_argument("--photo", default="640x480", help="size of the JPEG files, WxH")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: fair to the single-threaded decode)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory()  # as in every training worker (both the baseline and the DataModule run here)
    import warnings

    warnings.filterwarnings("ignore")
    w, h = (int(v) for v in args.photo.split("x"))
    n = 48 if args.quick else 300
    cfg = defaults_for("classification")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        records = make_photos(folder, n, w, h)
        raw_decode(folder, records[:8])  # warm the decoder and the page cache alike
        raw = statistics.median(raw_decode(folder, records) for _ in range(3))

        def module(threads: int) -> StudioDataModule:
            # a new DataModule each time: its first epoch really decodes every file
            return StudioDataModule({"train": records}, folder, lambda r: r.label,
                                    train_transform=build_transforms(cfg.augmentations, args.size, train=True),
                                    eval_transform=build_transforms([], args.size, train=False), size=args.size,
                                    batch_size=cfg.batch_size, num_workers=0, seed=0,
                                    zoom=zooms(cfg.augmentations), threads=threads)

        for threads in (1, decode_threads()):
            cold = statistics.median(pipeline_epoch(module(threads)) for _ in range(3))  # 3 first epochs
            dm = module(threads)
            pipeline_epoch(dm)
            warm = statistics.median(pipeline_epoch(dm) for _ in range(2))
            rows.append((threads, cold, warm))
    print(f"{n} JPEG files of {w}x{h}, input size {args.size}, augmentations: "
          f"{', '.join(s.name for s in cfg.augmentations)}; torch threads {torch.get_num_threads()}, "
          f"{os.cpu_count()} cores")
    print(f"raw decode_jpeg, one thread              {raw:8.1f} images/s")
    for threads, cold, warm in rows:
        label = "decode threads 1" if threads == 1 else f"decode threads {threads} (default)"
        print(f"DataModule, {label:28s}  first epoch {cold:8.1f} images/s  ratio {cold / raw:5.2f}x   "
              f"later epochs {warm:8.1f} images/s  ratio {warm / raw:5.2f}x")
    print("goal: ratio >= 0.8x (default settings)")


if __name__ == "__main__":
    main()
