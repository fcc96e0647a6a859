"""Data-health statistics of a dataset: what the Dataset page charts and ``dataset stats`` prints.

Computed from ``dataset.json`` alone (no image is opened), so it is instant even for large
datasets; only semantic masks are read, and only when asked (see :func:`dataset_stats`). Every figure is there to answer a question a user should ask before training:
is a class rare (imbalance warning)? are objects tiny (box sizes)? are images duplicated or
unlabelled? do regression targets span a sensible range?
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from ..tasks import get_task
from .schemas import Dataset, Project

#: max/min images-per-class ratio at which a class-imbalance warning is shown
IMBALANCE_WARNING_RATIO = 10.0
HISTOGRAM_BINS = 10


def _histogram(values: list[float], bins: int = HISTOGRAM_BINS) -> dict:
    """JSON-able histogram with edges, counts and the usual summary numbers."""
    if not values:
        return {"count": 0, "edges": [], "counts": []}
    arr = np.asarray(values, dtype=float)
    lo, hi = float(arr.min()), float(arr.max())
    counts, edges = np.histogram(arr, bins=bins if hi > lo else 1, range=(lo, hi) if hi > lo else (lo - 0.5, lo + 0.5))
    return {"count": int(arr.size), "min": lo, "max": hi, "mean": float(arr.mean()),
            "median": float(np.median(arr)), "std": float(arr.std()),
            "edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}


def _imbalance(per_class: dict[str, int], what: str) -> dict | None:
    present = {k: v for k, v in per_class.items() if v > 0}
    if len(per_class) < 2:
        return None
    most = max(per_class, key=lambda k: per_class[k])
    least = min(per_class, key=lambda k: per_class[k])
    if per_class[least] == 0:
        return {"ratio": None, "most": most, "least": least,
                "warning": f"class '{least}' has no {what}; add some or remove the class"}
    ratio = per_class[most] / per_class[least]
    warning = None
    if ratio >= IMBALANCE_WARNING_RATIO and len(present) >= 2:
        warning = (f"classes are imbalanced: '{most}' has {ratio:.0f}x more {what} than '{least}' "
                   f"({per_class[most]} vs {per_class[least]}); consider adding '{least}' examples or "
                   "class weights")
    return {"ratio": round(ratio, 2), "most": most, "least": least, "warning": warning}


def _mask_pixels(dataset_root: Path, rel: str) -> np.ndarray | None:
    """Pixel count per value (0..255) of one index mask; None when it cannot be read."""
    try:
        with Image.open(dataset_root / rel) as m:
            return np.bincount(np.asarray(m.convert("L") if m.mode not in ("L", "P") else m).ravel(),
                               minlength=256)
    except (OSError, ValueError):
        return None


def dataset_stats(dataset: Dataset, project: Project, dataset_root: Path | None = None) -> dict:
    """All statistics of ``dataset`` as a JSON-able dict (see the module docstring).

    Semantic masks are PNG files, not JSON: their per-class figures (images and pixels per
    class) are computed only when ``dataset_root`` (the ``dataset/`` folder) is given, since
    reading every mask takes time; without it those figures are left out rather than shown
    as zeros."""
    task = get_task(project.task)
    names = {c.id: c.name for c in project.classes}
    images = dataset.images
    per_class_images: Counter[str] = Counter({c.name: 0 for c in project.classes})
    per_class_objects: Counter[str] = Counter({c.name: 0 for c in project.classes})
    objects_per_image: list[int] = []
    box_w: list[float] = []
    box_h: list[float] = []
    box_rel_area: list[float] = []
    tags: Counter[str] = Counter()
    by_sha: dict[str, list[str]] = defaultdict(list)
    unannotated: list[str] = []
    anomaly: Counter[str] = Counter()
    defects: Counter[str] = Counter()
    for r in images:
        by_sha[r.sha256].append(r.id)
        tags.update(r.tags)
        if not r.is_annotated():
            unannotated.append(r.id)
        for cid in r.class_ids():
            per_class_images[names.get(cid, f"unknown class {cid}")] += 1
        boxes = [(b.cls, b.x2 - b.x1, b.y2 - b.y1) for b in r.boxes]
        boxes += [(i.cls, i.box[2] - i.box[0], i.box[3] - i.box[1]) for i in r.instances if len(i.box) == 4]
        boxes += [(rb.cls, rb.w, rb.h) for rb in r.rboxes]
        for cls, w, h in boxes:
            per_class_objects[names.get(cls, f"unknown class {cls}")] += 1
            box_w.append(float(w))
            box_h.append(float(h))
            box_rel_area.append(float(w * h) / max(1.0, float(r.width * r.height)))
        if task.annotation in ("boxes", "instances", "rboxes"):
            objects_per_image.append(len(boxes))
        if r.anomaly is not None:
            anomaly[r.anomaly.status] += 1
            if r.anomaly.defect:
                defects[r.anomaly.defect] += 1
    out: dict = {
        "project": project.name,
        "task": project.task,
        "images": len(images),
        "annotated": len(images) - len(unannotated),
        "images_without_annotations": {"count": len(unannotated), "ids": unannotated[:100]},
        "duplicates": {"groups": [ids for ids in by_sha.values() if len(ids) > 1],
                       "count": sum(len(ids) - 1 for ids in by_sha.values() if len(ids) > 1)},
        "image_width": _histogram([r.width for r in images]),
        "image_height": _histogram([r.height for r in images]),
        "tags": dict(tags.most_common()),
        "warnings": [],
    }
    mask_classes = task.annotation == "mask"
    if mask_classes and dataset_root is not None:
        pixels = np.zeros(256, dtype=np.int64)
        for r in images:
            counts = _mask_pixels(dataset_root, r.mask) if r.mask else None
            if counts is None:
                continue
            pixels += counts
            for cid in np.nonzero(counts[:255])[0]:
                per_class_images[names.get(int(cid), f"unknown class {cid}")] += 1
        out["pixels_per_class"] = {names.get(i, f"unknown class {i}"): int(pixels[i])
                                   for i in sorted(set(names) | set(np.nonzero(pixels[:255])[0].tolist()))}
        out["ignored_pixels"] = int(pixels[255])
        mask_classes = False
    if task.has_classes and not mask_classes:
        out["images_per_class"] = dict(per_class_images)
        imbalance = _imbalance(dict(per_class_images), "images")
        out["class_imbalance"] = imbalance
        if imbalance and imbalance["warning"]:
            out["warnings"].append(imbalance["warning"])
    if task.annotation in ("boxes", "instances", "rboxes"):
        out["objects_per_class"] = dict(per_class_objects)
        out["objects_per_image"] = _histogram([float(n) for n in objects_per_image])
        out["box_width"] = _histogram(box_w)
        out["box_height"] = _histogram(box_h)
        out["box_relative_area"] = _histogram(box_rel_area)
        small = sum(1 for a in box_rel_area if a < 0.001)
        if box_rel_area and small / len(box_rel_area) > 0.25:
            out["warnings"].append(f"{small} of {len(box_rel_area)} objects cover less than 0.1% of their "
                                   "image; use a larger input size or tiling")
    if task.annotation == "anomaly":
        out["anomaly"] = {"normal": anomaly.get("normal", 0), "anomalous": anomaly.get("anomalous", 0),
                          "defects": dict(defects)}
        if anomaly.get("normal", 0) == 0 and images:
            out["warnings"].append("no normal images: anomaly detection learns from good examples")
    if task.annotation == "targets":
        names_t = project.target_names or sorted({k for r in images for k in r.targets})
        out["targets"] = {t: _histogram([r.targets[t] for r in images if t in r.targets]) for t in names_t}
    if out["duplicates"]["count"]:
        out["warnings"].append(f"{out['duplicates']['count']} images are exact duplicates of others")
    if unannotated:
        out["warnings"].append(f"{len(unannotated)} images have no annotations")
    return out


def format_stats(stats: dict) -> str:
    """A short human-readable report (``studio dataset stats`` without --json)."""
    lines = [f"{stats['project']} ({stats['task']}): {stats['images']} images, {stats['annotated']} annotated"]
    for key, title in (("images_per_class", "images per class"), ("objects_per_class", "objects per class")):
        if key in stats and stats[key]:
            lines.append(f"{title}:")
            width = max(len(k) for k in stats[key])
            top = max(stats[key].values()) or 1
            for name, n in stats[key].items():
                lines.append(f"  {name:<{width}} {n:>7}  {'#' * round(30 * n / top)}")
    w, h = stats["image_width"], stats["image_height"]
    if w["count"]:
        lines.append(f"image size: width {w['min']:.0f}..{w['max']:.0f}, height {h['min']:.0f}..{h['max']:.0f}")
    if stats.get("box_width", {}).get("count"):
        bw, bh = stats["box_width"], stats["box_height"]
        lines.append(f"box size: width {bw['min']:.1f}..{bw['max']:.1f} (median {bw['median']:.1f}), "
                     f"height {bh['min']:.1f}..{bh['max']:.1f} (median {bh['median']:.1f})")
    if "anomaly" in stats:
        a = stats["anomaly"]
        lines.append(f"normal {a['normal']}, anomalous {a['anomalous']}"
                     + (f" ({', '.join(f'{k} {v}' for k, v in a['defects'].items())})" if a["defects"] else ""))
    for name, hist in stats.get("targets", {}).items():
        if hist["count"]:
            lines.append(f"target {name}: {hist['min']:g}..{hist['max']:g}, mean {hist['mean']:g}")
    lines += [f"warning: {w}" for w in stats["warnings"]]
    return "\n".join(lines)
