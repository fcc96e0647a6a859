"""Semantic-segmentation masks drawn from polygon and RLE annotations (COCO, labelme).

A semantic project stores one index mask per image (pixel value = class id, 255 = ignore).
Sources such as COCO and labelme outline objects instead; importing them into a semantic
project paints each object's class into a mask, and every pixel no object covers becomes the
project's ``background`` class (added when the project has none, matched case-insensitively,
as the masks reader and the procedural sample name it). Objects are painted largest first, so
a small object lying on a larger one stays visible, unless the source orders them as layers
(labelme: a later shape covers an earlier one, and ``__ignore__`` regions become 255); crowd
regions are painted like any other region of their class. Polygons are rasterised by each
source's own rule: pycocotools for COCO, PIL with the outline for labelme (as labelme2voc).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from .geometry import rle_decode, rle_from_polygons
from .projects import new_class
from .schemas import Instance, Project

BACKGROUND = "background"
#: mask value of pixels training leaves out
IGNORE = 255


def needs_masks_from_shapes(task_annotation: str, items) -> bool:
    """A semantic import whose images come with outlines (and no mask files)."""
    return task_annotation == "mask" and any(i.instances and i.mask_path is None for i in items)


def with_background(project: Project) -> tuple[Project, int, bool]:
    """The project with a background class, its id, and whether it was added now."""
    for c in project.classes:
        if c.name.strip().casefold() == BACKGROUND:
            return project, c.id, False
    background = new_class(project.classes, BACKGROUND)
    return project.model_copy(update={"classes": [*project.classes, background]}), background.id, True


def _drawn(polygons: list[list[float]], width: int, height: int) -> np.ndarray:
    """Polygons filled with their outline, as labelme draws them (PIL ImageDraw)."""
    canvas = Image.new("1", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for poly in polygons:
        draw.polygon([(poly[i], poly[i + 1]) for i in range(0, len(poly) - 1, 2)], fill=1, outline=1)
    return np.asarray(canvas, dtype=bool)


def paint(instances: list[Instance], width: int, height: int, background: int, *, layered: bool = False
          ) -> tuple[np.ndarray, list[str]]:
    """Index mask (``height`` x ``width``, uint8) of checked instances (``cls`` = the pixel value:
    a project class id, the background id or :data:`IGNORE`, in this image's frame), and a reason
    for each instance that could not be painted. ``layered``: labelme's way, in the given order
    with PIL's polygon fill and outline."""
    mask = np.full((height, width), background, dtype=np.uint8)
    problems: list[str] = []
    regions: list[tuple[int, int, np.ndarray]] = []
    for inst in instances:
        if inst.polygons and layered:
            region = _drawn(inst.polygons, width, height)
        elif inst.polygons:
            region = rle_decode(rle_from_polygons(inst.polygons, height, width)).astype(bool)
        elif inst.rle:
            h, w = (int(v) for v in inst.rle.get("size", (0, 0)))
            if (h, w) != (height, width):
                problems.append(f"mask of class {inst.cls} is {w}x{h} but the image is {width}x{height}")
                continue
            region = rle_decode(inst.rle).astype(bool)
        else:
            continue
        regions.append((int(region.sum()), inst.cls, region))
    for _, cls, region in (regions if layered else sorted(regions, key=lambda r: -r[0])):
        mask[region] = cls if cls == IGNORE else min(cls, 254)
    return mask, problems
