"""Procedural sample datasets, one per task, in that task's native format.

Why procedural: a newcomer (or a test, or a benchmark) gets a learnable dataset for every
task without a download: coloured circles, squares and triangles on textured, noisy
backgrounds, 64-128 px. The class is the *shape* (colours are random), so a small CNN must
learn form, not colour, and still reaches >95% quickly. Everything is deterministic per seed.

Formats written: classification = folder per class; object detection = COCO boxes; semantic
segmentation = images/ + masks/ index PNGs + classes.txt; instance segmentation = COCO
polygons; anomaly detection = MVTec AD layout; regression = CSV (radius, brightness);
oriented object detection = DOTA labelTxt.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..tasks import TASKS, get_task
from .errors import InvalidInput
from .schemas import Project
from .workspace import Workspace

SHAPES = ("circle", "square", "triangle")
#: classification: 300 images (240/30/30 with the default split) trains in about a minute on a
#: laptop CPU, and its 30 test images make the accuracy mean something (with 15, one mistake was
#: already 93.3 %)
# object detection: 200 images (~580 boxes): the teaching detector needs them to learn from scratch
# semantic segmentation: 200 images: with 40 (32 to train on) the Tiny U-Net reached test mIoU 0.69
# (74 s of training); with 200 it tells the shapes apart on images it never saw
# (benchmarks/segmentation_accuracy.py)
DEFAULT_IMAGES = {"classification": 300, "object_detection": 200, "semantic_segmentation": 200,
                  "instance_segmentation": 40, "anomaly_detection": 60, "regression": 300,
                  "oriented_object_detection": 40}
MAX_IMAGES = 100_000


def _background(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """A textured, noisy background: a tinted gradient, stripes or blotches, plus noise."""
    base = rng.uniform(40, 200, size=3)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, math.pi)
    freq = rng.uniform(0.05, 0.3)
    texture = np.sin((xx * math.cos(angle) + yy * math.sin(angle)) * freq) * rng.uniform(5, 20)
    gradient = (xx / max(w, 1) - 0.5) * rng.uniform(-30, 30)
    img = base[None, None, :] + (texture + gradient)[..., None] + rng.normal(0, 8, size=(h, w, 3))
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def _luma(rgb) -> float:
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]


def _colour(rng: np.random.Generator, background: Image.Image | None = None) -> tuple[int, int, int]:
    """A random hue whose brightness clearly differs from the background's (>= 80 levels), so
    that the shape, not a faint edge, is what a model sees."""
    c = rng.uniform(0, 255, size=3)
    if background is not None:
        bg = _luma(np.asarray(background, dtype=np.float32).reshape(-1, 3).mean(axis=0))
        if bg > 128:  # darken below bg - 80
            target = max(0.0, bg - 80 - rng.uniform(0, 40))
            c = c * (target / max(_luma(c), 1.0)) if _luma(c) > target else c
        else:  # lighten above bg + 80 by blending towards white
            target = min(255.0, bg + 80 + rng.uniform(0, 40))
            if _luma(c) < target:
                t = (target - _luma(c)) / max(255.0 - _luma(c), 1.0)
                c = c + (255.0 - c) * t
    c = np.clip(c, 0, 255)
    return int(c[0]), int(c[1]), int(c[2])


def shape_polygon(shape: str, cx: float, cy: float, r: float, angle: float = 0.0) -> list[float]:
    """Flat polygon of ``shape`` centred at (cx, cy) with 'radius' r (circles as 32-gons)."""
    n, start = {"circle": (32, 0.0), "square": (4, math.pi / 4), "triangle": (3, -math.pi / 2)}[shape]
    pts: list[float] = []
    for k in range(n):
        a = start + angle + 2 * math.pi * k / n
        pts += [cx + r * math.cos(a), cy + r * math.sin(a)]
    return pts


def _draw(draw: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, r: float, fill, angle: float = 0.0):
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    else:
        poly = shape_polygon(shape, cx, cy, r, angle)
        draw.polygon(list(zip(poly[0::2], poly[1::2], strict=True)), fill=fill)


def _bbox(poly: list[float]) -> list[float]:
    return [min(poly[0::2]), min(poly[1::2]), max(poly[0::2]), max(poly[1::2])]


def _size(rng: np.random.Generator) -> tuple[int, int]:
    return int(rng.integers(64, 129)), int(rng.integers(64, 129))


def _scene(rng: np.random.Generator, count: int):
    """An image with ``count`` non-overlapping shapes: (image, [(shape, cx, cy, r, angle)])."""
    w, h = _size(rng)
    img = _background(rng, w, h)
    draw = ImageDraw.Draw(img)
    placed: list[tuple[str, float, float, float, float]] = []
    for _ in range(count * 20):
        if len(placed) == count:
            break
        r = float(rng.uniform(9, min(w, h) / 4))
        cx, cy = float(rng.uniform(r + 1, w - r - 1)), float(rng.uniform(r + 1, h - r - 1))
        if any(math.hypot(cx - x, cy - y) < r + q + 2 for _, x, y, q, _ in placed):
            continue
        shape = SHAPES[int(rng.integers(0, 3))]
        angle = float(rng.uniform(-0.25, 0.25)) if shape != "circle" else 0.0  # upright, as in classification
        _draw(draw, shape, cx, cy, r, _colour(rng, img), angle)
        placed.append((shape, cx, cy, r, angle))
    return img, placed


def _coco(out: Path, n: int, rng: np.random.Generator, polygons: bool) -> None:
    (out / "images").mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for i in range(n):
        img, shapes = _scene(rng, int(rng.integers(1, 5)))
        name = f"{i:04d}.png"
        img.save(out / "images" / name)
        images.append({"id": i + 1, "file_name": name, "width": img.width, "height": img.height})
        for shape, cx, cy, r, angle in shapes:
            poly = shape_polygon(shape, cx, cy, r, angle)
            x1, y1, x2, y2 = _bbox(poly)
            ann = {"id": len(anns) + 1, "image_id": i + 1, "category_id": SHAPES.index(shape) + 1,
                   "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
                   "area": round((x2 - x1) * (y2 - y1), 2), "iscrowd": 0,
                   "segmentation": [[round(v, 2) for v in poly]] if polygons else []}
            anns.append(ann)
    cats = [{"id": k + 1, "name": s, "supercategory": "shape"} for k, s in enumerate(SHAPES)]
    (out / "annotations.json").write_text(json.dumps(
        {"info": {"description": "AI Studio procedural sample"}, "images": images,
         "annotations": anns, "categories": cats}, indent=1), encoding="utf-8")


def _classification(out: Path, n: int, rng: np.random.Generator) -> None:
    for i in range(n):
        shape = SHAPES[i % 3]
        w, h = _size(rng)
        img = _background(rng, w, h)
        r = float(rng.uniform(min(w, h) * 0.28, min(w, h) * 0.42))
        cx, cy = float(rng.uniform(r, w - r)), float(rng.uniform(r, h - r))
        # small tilt only: upright triangles, squares and circles are easy to tell apart even for a
        # tiny CNN trained from scratch on a hundred images
        tilt = float(rng.uniform(-0.25, 0.25))
        _draw(ImageDraw.Draw(img), shape, cx, cy, r, _colour(rng, img), tilt)
        (out / shape).mkdir(parents=True, exist_ok=True)
        img.save(out / shape / f"{i:04d}.png")


def _semantic(out: Path, n: int, rng: np.random.Generator) -> None:
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img, shapes = _scene(rng, int(rng.integers(1, 5)))
        mask = Image.new("L", img.size, 0)
        draw = ImageDraw.Draw(mask)
        for shape, cx, cy, r, angle in shapes:
            _draw(draw, shape, cx, cy, r, SHAPES.index(shape) + 1, angle)
        img.save(out / "images" / f"{i:04d}.png")
        mask.save(out / "masks" / f"{i:04d}.png")
    (out / "classes.txt").write_text("background\n" + "\n".join(SHAPES) + "\n", encoding="utf-8")


def _anomaly(out: Path, n: int, rng: np.random.Generator) -> None:
    """Good parts: a grey disc with a dark hole; defects: a scratch or a missing hole."""
    n_test = max(4, n // 3)
    n_train = max(2, n - n_test)
    for k in range(n_train + n_test):
        train = k < n_train
        defect = None if train or k % 2 == 0 else ("scratch" if k % 4 == 1 else "hole")
        w = h = 96
        img = _background(np.random.default_rng(1234 + int(rng.integers(0, 3))), w, h)
        draw = ImageDraw.Draw(img)
        cx, cy = 48 + rng.normal(0, 1.5), 48 + rng.normal(0, 1.5)
        draw.ellipse([cx - 34, cy - 34, cx + 34, cy + 34], fill=(150, 150, 160))
        mask = Image.new("L", (w, h), 0)
        if defect != "hole":
            draw.ellipse([cx - 8, cy - 8, cx + 8, cy + 8], fill=(30, 30, 30))
        else:
            ImageDraw.Draw(mask).ellipse([cx - 9, cy - 9, cx + 9, cy + 9], fill=255)
        if defect == "scratch":
            x0, y0 = rng.uniform(20, 40, size=2)
            x1, y1 = rng.uniform(56, 76, size=2)
            draw.line([x0, y0, x1, y1], fill=(240, 60, 40), width=3)
            ImageDraw.Draw(mask).line([x0, y0, x1, y1], fill=255, width=5)
        arr = np.asarray(img).astype(np.int16) + rng.normal(0, 3, size=(h, w, 3)).astype(np.int16)
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
        sub = out / ("train" if train else "test") / (defect or "good")
        sub.mkdir(parents=True, exist_ok=True)
        img.save(sub / f"{k:03d}.png")
        if defect:
            gt = out / "ground_truth" / defect
            gt.mkdir(parents=True, exist_ok=True)
            mask.save(gt / f"{k:03d}_mask.png")


#: regression images all have this size: the radius target is in pixels, and a model sees every
#: image scaled to its input size, so images of varying sizes would make the radius unobservable
REGRESSION_SIDE = 96


def _regression(out: Path, n: int, rng: np.random.Generator) -> None:
    (out / "images").mkdir(parents=True, exist_ok=True)
    lines = ["image,radius,brightness"]
    for i in range(n):
        w, h = REGRESSION_SIDE, REGRESSION_SIDE
        img = _background(rng, w, h)
        r = float(rng.uniform(6, min(w, h) * 0.45))
        cx, cy = float(rng.uniform(r, w - r)), float(rng.uniform(r, h - r))
        level = int(rng.integers(30, 256))
        _draw(ImageDraw.Draw(img), "circle", cx, cy, r, (level, level, level))
        img.save(out / "images" / f"{i:04d}.png")
        lines.append(f"images/{i:04d}.png,{r:.2f},{level / 255:.4f}")
    (out / "labels.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _oriented(out: Path, n: int, rng: np.random.Generator) -> None:
    """DOTA: long bars ("bar") and squares ("block"), rotated at any angle."""
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labelTxt").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        w, h = _size(rng)
        img = _background(rng, w, h)
        draw = ImageDraw.Draw(img)
        lines: list[str] = []
        centres: list[tuple[float, float, float]] = []
        for _ in range(40):
            if len(centres) >= int(rng.integers(1, 4)):
                break
            cls = "bar" if rng.random() < 0.5 else "block"
            long_side = float(rng.uniform(16, min(w, h) / 2))
            short = long_side / 3 if cls == "bar" else long_side
            reach = math.hypot(long_side, short) / 2
            cx, cy = float(rng.uniform(reach, w - reach)), float(rng.uniform(reach, h - reach))
            if any(math.hypot(cx - x, cy - y) < reach + q + 2 for x, y, q in centres):
                continue
            a = float(rng.uniform(0, math.pi))
            ux, uy, vx, vy = math.cos(a), -math.sin(a), math.sin(a), math.cos(a)
            hw, hh = long_side / 2, short / 2
            pts = [(cx - hw * ux - hh * vx, cy - hw * uy - hh * vy), (cx + hw * ux - hh * vx, cy + hw * uy - hh * vy),
                   (cx + hw * ux + hh * vx, cy + hw * uy + hh * vy), (cx - hw * ux + hh * vx, cy - hw * uy + hh * vy)]
            draw.polygon(pts, fill=_colour(rng, img))
            centres.append((cx, cy, reach))
            lines.append(" ".join(f"{v:.1f}" for p in pts for v in p) + f" {cls} 0")
        img.save(out / "images" / f"P{i:04d}.png")
        (out / "labelTxt" / f"P{i:04d}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


WRITERS = {
    "classification": _classification,
    "object_detection": lambda out, n, rng: _coco(out, n, rng, polygons=False),
    "semantic_segmentation": _semantic,
    "instance_segmentation": lambda out, n, rng: _coco(out, n, rng, polygons=True),
    "anomaly_detection": _anomaly,
    "regression": _regression,
    "oriented_object_detection": _oriented,
}
assert set(WRITERS) == set(TASKS), "every task needs a sample writer"


def write_sample(task: str, out_dir: Path, images: int | None = None, seed: int = 0) -> Path:
    """Write the sample dataset of ``task`` into ``out_dir`` (created; must be empty) and return it."""
    get_task(task)
    n = DEFAULT_IMAGES[task] if images is None else int(images)
    if not 1 <= n <= MAX_IMAGES:
        raise InvalidInput(f"the number of sample images must be between 1 and {MAX_IMAGES} (got {n})")
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise InvalidInput("is not empty; choose a new folder for the sample", path=out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    WRITERS[task](out_dir, n, np.random.default_rng(seed))
    return out_dir


def create_sample_project(ws: Workspace, task: str, name: str | None = None,
                          images: int | None = None, seed: int = 0) -> Project:
    """Create "<Task> sample" (made unique) and import the task's sample into it."""
    import tempfile

    from .importing import import_dataset
    from .projects import ProjectService

    info = get_task(task)
    projects = ProjectService(ws)
    taken = {p.name.casefold() for p in projects.list()}
    base = name or f"{info.display_name} sample"
    chosen, k = base, 2
    while chosen.casefold() in taken:
        chosen, k = f"{base} {k}", k + 1
    project = projects.create(chosen, task, description=f"Procedural sample for {info.display_name.lower()}.")
    try:
        with tempfile.TemporaryDirectory(prefix="studio-sample-") as tmp:
            src = write_sample(task, Path(tmp) / "sample", images=images, seed=seed)
            import_dataset(ws, project.id, src)
    except BaseException:
        projects.delete(project.id)  # no empty "sample" project left behind
        raise
    return projects.get(project.id)
