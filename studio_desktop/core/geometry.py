"""Geometry shared by the annotation readers (and anyone who draws or checks annotations).

Why one module: every format states the same shapes differently (COCO ``xywh``, VOC 1-based
corners, YOLO normalised centres, DOTA four corners, labelme point lists). Converting them in
one place, with shapely for polygons and pycocotools for RLE, keeps the conventions identical
everywhere. No Qt, no torch: this runs in the GUI process too.

Conventions (DESIGN §5):

* Pixel coordinates are continuous: the image spans ``[0, width] x [0, height]``; pixel ``(i, j)``
  covers ``[i, i + 1) x [j, j + 1)``.
* Polygons are flat lists ``[x1, y1, x2, y2, ...]``.
* Rotated boxes are ``(cx, cy, w, h, angle)`` with ``angle`` in degrees, counter-clockwise as
  seen on screen (y grows downwards), exactly torchvision's ``CXCYWHR``: the first corner is
  the box's "top-left", the ``w`` edge runs from corner 1 to corner 2 along
  ``(cos a, -sin a)`` and the ``h`` edge from corner 2 to corner 3 along ``(sin a, cos a)``.
  :func:`rbox_corners` gives the corners in torchvision's ``XYXYXYXY`` order, so the ML side
  can hand either form to ``tv_tensors.BoundingBoxes`` unchanged.
* RLE masks are COCO's ``{"size": [h, w], "counts": str}`` (compressed counts as text so
  that they survive JSON).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "box_is_valid",
    "clip_box",
    "flat_to_points",
    "polygon_area",
    "polygon_box",
    "polygon_is_usable",
    "points_to_flat",
    "rbox_corners",
    "rbox_from_corners",
    "rle_area",
    "rle_box",
    "rle_decode",
    "rle_encode",
    "rle_from_polygons",
    "rle_normalize",
    "xywh_to_xyxy",
]


# ------------------------------------------------------------------------- boxes

def xywh_to_xyxy(x: float, y: float, w: float, h: float) -> tuple[float, float, float, float]:
    """COCO ``[x, y, width, height]`` -> ``(x1, y1, x2, y2)``."""
    return float(x), float(y), float(x) + float(w), float(y) + float(h)


def box_is_valid(x1: float, y1: float, x2: float, y2: float) -> bool:
    """True when the box has positive width and height and finite coordinates."""
    vals = (x1, y1, x2, y2)
    return all(math.isfinite(v) for v in vals) and x2 > x1 and y2 > y1


def clip_box(x1: float, y1: float, x2: float, y2: float, width: float, height: float,
             ) -> tuple[tuple[float, float, float, float], bool]:
    """Clip a box to the image ``[0, width] x [0, height]``.

    Returns the clipped box and whether anything changed, so that a reader can report a
    "clipped" issue. A box entirely outside the image comes back with zero width or height
    (check with :func:`box_is_valid`).
    """
    cx1 = min(max(x1, 0.0), width)
    cy1 = min(max(y1, 0.0), height)
    cx2 = min(max(x2, 0.0), width)
    cy2 = min(max(y2, 0.0), height)
    clipped = (cx1, cy1, cx2, cy2)
    return clipped, clipped != (x1, y1, x2, y2)


# ------------------------------------------------------------------------- polygons

def flat_to_points(flat: Sequence[float]) -> list[tuple[float, float]]:
    return [(float(flat[i]), float(flat[i + 1])) for i in range(0, len(flat) - 1, 2)]


def points_to_flat(points: Sequence[Sequence[float]]) -> list[float]:
    return [float(c) for p in points for c in (p[0], p[1])]


def polygon_area(flat: Sequence[float]) -> float:
    """Area of a polygon given as a flat list (0 for fewer than 3 points).

    The shoelace sum, which is what GEOS computes for a ring too: building a shapely polygon
    costs ~100 µs, which over a million COCO annotations is minutes of import for nothing.
    """
    if len(flat) < 6:
        return 0.0
    return abs(_signed_area(flat_to_points(flat)))


def polygon_is_usable(flat: Sequence[float]) -> bool:
    """True when the polygon has at least 3 finite points and a positive area.

    Self-intersecting polygons are still usable (rasterisation fills them); degenerate ones
    (a line, a point, NaN) are not.
    """
    if len(flat) < 6 or len(flat) % 2:
        return False
    if not all(math.isfinite(float(v)) for v in flat):
        return False
    return polygon_area(flat) > 0


def polygon_box(polygons: Sequence[Sequence[float]]) -> list[float]:
    """Bounding box ``[x1, y1, x2, y2]`` of one or several flat polygons."""
    xs = [float(v) for p in polygons for v in p[0::2]]
    ys = [float(v) for p in polygons for v in p[1::2]]
    if not xs or not ys:
        return []
    return [min(xs), min(ys), max(xs), max(ys)]


# ------------------------------------------------------------------------- rotated boxes

def rbox_corners(cx: float, cy: float, w: float, h: float, angle: float) -> list[float]:
    """The 4 corners ``[x1, y1, ..., x4, y4]`` of a rotated box (torchvision XYXYXYXY order)."""
    a = math.radians(angle)
    cos, sin = math.cos(a), math.sin(a)
    # corner 1 = centre - w/2 along the w edge - h/2 along the h edge
    x1 = cx - w / 2 * cos - h / 2 * sin
    y1 = cy + w / 2 * sin - h / 2 * cos
    x2, y2 = x1 + w * cos, y1 - w * sin
    x3, y3 = x2 + h * sin, y2 + h * cos
    x4, y4 = x1 + h * sin, y1 + h * cos
    return [x1, y1, x2, y2, x3, y3, x4, y4]


def _signed_area(points: Sequence[tuple[float, float]]) -> float:
    """Shoelace area: positive when the points run clockwise on screen (y down)."""
    s = 0.0
    for (xa, ya), (xb, yb) in zip(points, points[1:] + points[:1], strict=True):
        s += xa * yb - xb * ya
    return s / 2


def rbox_from_corners(corners: Sequence[float]) -> tuple[float, float, float, float, float] | None:
    """``(cx, cy, w, h, angle)`` of the rectangle best fitting 4 given corners, or None.

    Annotated quadrilaterals (DOTA) are rarely exact rectangles, so the minimum-area rectangle
    around them (shapely) is taken; its corners are then ordered to start at the rectangle
    corner nearest the annotator's first point and to run the same way round as on screen, so
    that the object's "head" direction the annotator gave survives the conversion. Returns
    None for degenerate input (fewer than 3 distinct points, zero area, NaN).
    """
    from shapely.geometry import MultiPoint

    if len(corners) != 8 or not all(math.isfinite(float(v)) for v in corners):
        return None
    given = flat_to_points(corners)
    hull = MultiPoint(given).convex_hull
    if hull.geom_type != "Polygon" or hull.area <= 0:
        return None
    rect = hull.minimum_rotated_rectangle
    pts = [(float(x), float(y)) for x, y in list(rect.exterior.coords)[:4]]
    # clockwise on screen, like torchvision's corner order (corner 1 -> 2 -> 3 -> 4)
    if _signed_area(pts) < 0:
        pts.reverse()
    gx, gy = given[0]
    start = min(range(4), key=lambda i: (pts[i][0] - gx) ** 2 + (pts[i][1] - gy) ** 2)
    pts = pts[start:] + pts[:start]
    (x1, y1), (x2, y2), (x3, y3), _ = pts
    w = math.hypot(x2 - x1, y2 - y1)
    h = math.hypot(x3 - x2, y3 - y2)
    if w <= 0 or h <= 0:
        return None
    angle = math.degrees(math.atan2(y1 - y2, x2 - x1))
    cx = sum(p[0] for p in pts) / 4
    cy = sum(p[1] for p in pts) / 4
    # shapely's float noise (1e-12) is not information; keep results readable in dataset.json
    return round(cx, 6), round(cy, 6), round(w, 6), round(h, 6), round(angle, 6)


# ------------------------------------------------------------------------- RLE

def rle_normalize(rle: dict, height: int | None = None, width: int | None = None) -> dict:
    """A COCO RLE (compressed or uncompressed counts) as ``{"size": [h, w], "counts": str}``.

    Raises ValueError when the RLE is malformed (wrong size, counts not summing to h*w...),
    so a reader can report the annotation instead of storing something undecodable.
    """
    from pycocotools import mask as mask_utils

    if not isinstance(rle, dict) or "counts" not in rle or "size" not in rle:
        raise ValueError("RLE needs 'size' and 'counts'")
    size = rle["size"]
    if not (isinstance(size, list | tuple) and len(size) == 2):
        raise ValueError("RLE 'size' must be [height, width]")
    try:
        h, w = int(size[0]), int(size[1])
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError("RLE 'size' must be two whole numbers") from exc
    if h <= 0 or w <= 0:
        raise ValueError(f"RLE size {h}x{w} is empty")
    if h >= 2**31 or w >= 2**31:
        raise ValueError(f"RLE size {h}x{w} is too large")
    if height is not None and width is not None and (h, w) != (int(height), int(width)):
        raise ValueError(f"RLE size {w}x{h} differs from the image size {width}x{height}")
    counts = rle["counts"]
    if isinstance(counts, list):
        if not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c < 2**32 for c in counts):
            raise ValueError("uncompressed RLE counts must be non-negative integers")
        if sum(counts) != h * w:
            raise ValueError(f"RLE counts sum to {sum(counts)}, expected {h * w}")
        out = mask_utils.frPyObjects({"size": [h, w], "counts": counts}, h, w)
    elif isinstance(counts, str | bytes):
        text = counts.decode("ascii", errors="replace") if isinstance(counts, bytes) else counts
        runs = _string_counts(text)  # checks the alphabet and the run lengths without decoding
        if sum(runs) != h * w:
            raise ValueError(f"compressed RLE runs cover {sum(runs)} pixels, expected {h * w}")
        out = {"size": [h, w], "counts": text}
    else:
        raise ValueError("RLE 'counts' must be a list or a string")
    counts_out = out["counts"]
    return {"size": [h, w], "counts": counts_out.decode("ascii") if isinstance(counts_out, bytes) else counts_out}


def rle_encode(mask: np.ndarray) -> dict:
    """Binary ``HxW`` mask -> compressed RLE with text counts."""
    from pycocotools import mask as mask_utils

    arr = np.asfortranarray(np.asarray(mask, dtype=np.uint8) > 0, dtype=np.uint8)
    rle = mask_utils.encode(arr)
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def rle_decode(rle: dict) -> np.ndarray:
    """Compressed RLE -> binary ``HxW`` uint8 mask."""
    import warnings

    from pycocotools import mask as mask_utils

    with warnings.catch_warnings():
        # pycocotools 2.0.x trips numpy 2's __array__(copy=...) deprecation; harmless here
        warnings.simplefilter("ignore", DeprecationWarning)
        return np.asarray(mask_utils.decode(_pyc(rle)), dtype=np.uint8)


def rle_area(rle: dict) -> int:
    from pycocotools import mask as mask_utils

    return int(mask_utils.area(_pyc(rle)))


def rle_box(rle: dict) -> list[float]:
    """``[x1, y1, x2, y2]`` of the pixels an RLE covers (empty list when it covers none)."""
    from pycocotools import mask as mask_utils

    if rle_area(rle) == 0:
        return []
    x, y, w, h = (float(v) for v in mask_utils.toBbox(_pyc(rle)))
    return [x, y, x + w, y + h]


def rle_from_polygons(polygons: Sequence[Sequence[float]], height: int, width: int) -> dict:
    """Rasterise flat polygons (COCO's way) into one compressed RLE."""
    from pycocotools import mask as mask_utils

    polys = [list(map(float, p)) for p in polygons if len(p) >= 6]
    if not polys:
        return rle_encode(np.zeros((height, width), np.uint8))
    merged = mask_utils.merge(mask_utils.frPyObjects(polys, height, width))
    return {"size": [int(merged["size"][0]), int(merged["size"][1])], "counts": merged["counts"].decode("ascii")}


def _string_counts(text: str) -> list[int]:
    """Run lengths of COCO's compressed RLE text (the inverse of pycocotools' rleToString).

    Decoding the runs, not the mask, validates a mask of any declared size in O(len(text)).
    """
    runs: list[int] = []
    p, n = 0, len(text)
    while p < n:
        x, k, more = 0, 0, True
        while more:
            if p >= n:
                raise ValueError("compressed RLE counts end in the middle of a number")
            c = ord(text[p]) - 48
            if c < 0 or c > 63:
                raise ValueError("compressed RLE counts hold characters outside COCO's alphabet")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
            if k > 13:
                raise ValueError("compressed RLE counts hold a number too long")
        if len(runs) > 2:
            x += runs[-2]
        if x < 0:
            raise ValueError("compressed RLE counts decode to a negative run")
        runs.append(x)
    if not runs:
        raise ValueError("compressed RLE counts are empty")
    return runs


def _pyc(rle: dict) -> dict:
    counts = rle["counts"]
    return {"size": list(rle["size"]), "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
