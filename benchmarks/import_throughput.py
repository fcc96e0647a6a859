"""Import throughput: the import pipeline against a naive single-process baseline, same run.

Makes N JPEG photos-like images (640x480; 2,000 by default, 200 with --quick) in a
folder-per-class layout, then measures

* baseline: one process, per file: copy, ``PIL.Image.verify()``, re-open, full decode,
  ``thumbnail()`` to 256 px, save JPEG -- what a straightforward importer does;
* pipeline: ``core.importing.import_dataset`` into a fresh workspace (hash + dedupe, full
  verification, EXIF handling, thumbnails with JPEG ``draft()``, thread pool, transactional
  commit, dataset.json).

Prints images/s for both and their ratio (goal: >= 1.5x). Not a pass/fail test.

    python benchmarks/import_throughput.py [--quick] [--images N] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio_desktop.core.importing import import_dataset  # noqa: E402
from studio_desktop.core.projects import ProjectService  # noqa: E402
from studio_desktop.core.workspace import Workspace  # noqa: E402


def make_images(folder: Path, n: int, size=(640, 480), seed: int = 0) -> int:
    """n distinct JPEGs with texture (so JPEG decoding costs what real photos cost)."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    base = ((np.sin(xx / 17.0)[..., None] * 40 + np.cos(yy / 23.0)[..., None] * 40) + 128).astype(np.float32)
    total = 0
    for i in range(n):
        noise = rng.normal(0, 12, size=(h // 4, w // 4, 3)).repeat(4, 0).repeat(4, 1)
        arr = np.clip(base + noise + rng.uniform(-40, 40, size=3), 0, 255).astype(np.uint8)
        img = Image.fromarray(arr)
        d = ImageDraw.Draw(img)
        for _ in range(3):
            x, y = rng.integers(0, w - 60), rng.integers(0, h - 60)
            d.rectangle([x, y, x + rng.integers(20, 60), y + rng.integers(20, 60)],
                        fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
        out = folder / f"class_{i % 4}" / f"img_{i:05d}.jpg"
        out.parent.mkdir(parents=True, exist_ok=True)
        img.save(out, "JPEG", quality=90)
        total += out.stat().st_size
    return total


def baseline(src: Path, dest: Path) -> int:
    (dest / "images").mkdir(parents=True)
    (dest / "thumbnails").mkdir()
    n = 0
    for path in sorted(src.rglob("*.jpg")):
        shutil.copyfile(path, dest / "images" / path.name)
        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:
            im = im.convert("RGB")
            im.thumbnail((256, 256))
            im.save(dest / "thumbnails" / path.name, "JPEG", quality=85)
        n += 1
    return n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="200 images instead of 2,000")
    ap.add_argument("--images", type=int, default=None)
    ap.add_argument("--workers", type=int, default=None, help="import threads (default: automatic)")
    args = ap.parse_args()
    n = args.images or (200 if args.quick else 2000)
    with tempfile.TemporaryDirectory(prefix="studio-bench-") as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        size = make_images(tmp / "src", n)
        print(f"made {n} JPEGs 640x480 ({size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f}s; "
              f"{os.cpu_count()} CPUs")
        results = {}
        for name in ("baseline", "pipeline"):
            os.sync() if hasattr(os, "sync") else None
            t = time.perf_counter()
            if name == "baseline":
                done = baseline(tmp / "src", tmp / "baseline")
            else:
                ws = Workspace.open(tmp / "ws")
                try:
                    p = ProjectService(ws).create("bench", "classification")
                    report = import_dataset(ws, p.id, tmp / "src", workers=args.workers)
                    done = report.imported
                finally:
                    ws.close()
            dt = time.perf_counter() - t
            results[name] = done / dt
            print(f"{name:9s}: {done} images in {dt:6.2f}s = {done / dt:7.1f} images/s")
        print(f"ratio pipeline/baseline: {results['pipeline'] / results['baseline']:.2f}x (goal >= 1.5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
