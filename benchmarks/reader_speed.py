"""Annotation-reader speed: the COCO and YOLO readers against a plain baseline, same run.

Writes a synthetic dataset (N images, ~10 objects each, boxes and polygons) in COCO JSON and in
YOLO txt, then measures

* COCO: ``pycocotools.coco.COCO(json)`` (load + index, what every COCO tool starts with) against
  ``formats.coco.READER.read`` (load, resolve every image file, validate every box and polygon,
  build the annotation records);
* YOLO: a bare loop that reads every label file and splits its lines against
  ``formats.yolo.READER.read`` (which also reads each image's size from its header).

Prints annotations/s for each and the ratio reader/baseline. Not a pass/fail test.

    python benchmarks/reader_speed.py [--quick] [--images N]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio_desktop.core.formats.coco import READER as COCO  # noqa: E402
from studio_desktop.core.formats.yolo import READER as YOLO  # noqa: E402


def make(root: Path, n: int, per_image: int = 10, size: int = 64) -> int:
    rnd = random.Random(0)
    images, anns = [], []
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for i in range(n):
        name = f"img_{i:05d}.png"
        Image.new("RGB", (size, size), (i % 255, 0, 0)).save(root / "images" / name)
        images.append({"id": i, "file_name": name, "width": size, "height": size})
        lines = []
        for _ in range(per_image):
            x, y = rnd.uniform(0, size - 20), rnd.uniform(0, size - 20)
            w, h = rnd.uniform(4, 19), rnd.uniform(4, 19)
            poly = [x, y, x + w, y, x + w, y + h, x, y + h]
            anns.append({"id": len(anns), "image_id": i, "category_id": 1 + len(anns) % 3,
                         "bbox": [x, y, w, h], "segmentation": [poly], "area": w * h, "iscrowd": 0})
            lines.append(f"{len(anns) % 3} {(x + w / 2) / size:.6f} {(y + h / 2) / size:.6f} "
                         f"{w / size:.6f} {h / size:.6f}")
        (root / "labels" / f"img_{i:05d}.txt").write_text("\n".join(lines) + "\n")
    cats = [{"id": k, "name": f"class{k}"} for k in (1, 2, 3)]
    (root / "annotations.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    (root / "data.yaml").write_text("train: images\nnames: [class1, class2, class3]\n")
    return len(anns)


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="300 images instead of 3,000")
    ap.add_argument("--images", type=int, default=None, help="number of synthetic images")
    args = ap.parse_args()
    n = args.images or (300 if args.quick else 3000)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        total = make(root, n)

        def coco_baseline():
            from pycocotools.coco import COCO as PyCOCO

            with contextlib.redirect_stdout(io.StringIO()):
                PyCOCO(str(root / "annotations.json"))

        def yolo_baseline():
            for p in sorted((root / "labels").glob("*.txt")):
                [line.split() for line in p.read_text().splitlines()]

        rows = []
        for label, base, ours in (
            ("COCO instances", coco_baseline,
             lambda: COCO.read(root / "annotations.json", "instance_segmentation")),
            ("YOLO boxes", yolo_baseline, lambda: YOLO.read(root / "data.yaml", "object_detection")),
        ):
            tb, to = timed(base), timed(ours)
            rows.append((label, total / tb, total / to, tb / to))
        print(f"{n} images, {total} annotations")
        for label, base_rate, our_rate, ratio in rows:
            print(f"{label:16s} baseline {base_rate:10.0f} ann/s   reader {our_rate:10.0f} ann/s   "
                  f"reader/baseline {ratio:.2f}x")


if __name__ == "__main__":
    main()
