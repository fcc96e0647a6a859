"""Anomaly maps for people: colours, a display range that keeps the threshold in place, geometry.

An anomaly model gives each image a raw score and a raw map in the same units (higher = more
anomalous), at the network's input geometry (an ``S`` x ``S`` square, stored area-downsampled to
at most 128 x 128). Every picture of a map — the Evaluation page's grid and detail, "Try it",
``studio predict --draw`` and the export snippet — is drawn with this module, in numpy only (the
GUI process may import it), so that the same score looks the same everywhere:

- :func:`display_range` fixes the colour scale from the NORMAL validation scores and the operating
  point's threshold: the threshold always sits at :data:`THRESHOLD_POSITION` of the scale, so
  "hotter than the middle colour" means "above the threshold" on every image of every model.
  (Scaling each map to its own min..max, as many tools do, paints every normal image red.)
- :func:`heat_rgba` turns a map into a semi-transparent RGBA overlay with a turbo-like colour
  table (dark blue, cyan, green at the threshold, orange, dark red): saturated colours that stay
  visible over any photo — an inferno-like table ends in pale yellow, which vanished on the
  yellow-and-red MVTec hazelnuts — and a fading opacity so normal areas stay clear.
- :func:`resize_map` brings a map back to the original image's pixels, undoing the letterbox
  (``core/letterbox.py``) or a plain squash, so that overlays and regions line up with the image.
- :func:`mask_to_grid` does the reverse for a ground-truth mask: the mask as the map's grid sees
  it, for pixel metrics computed at the cache's resolution.
"""

from __future__ import annotations

import numpy as np

from .letterbox import letterbox_size

__all__ = [
    "COLOUR_TABLE",
    "THRESHOLD_POSITION",
    "display_range",
    "heat_rgba",
    "levels",
    "mask_to_grid",
    "outline",
    "region",
    "resize_map",
]

#: where the threshold sits on the colour scale (0 = coldest, 1 = hottest)
THRESHOLD_POSITION = 0.5

# Control points of a turbo-like table (position, R, G, B), Google's "Turbo" sampled at nine
# points; interpolated to 256.
_ANCHORS = np.array([
    (0.000, 48, 18, 59),
    (0.125, 70, 107, 227),
    (0.250, 41, 187, 236),
    (0.375, 48, 242, 153),
    (0.500, 164, 252, 60),
    (0.625, 242, 204, 58),
    (0.750, 250, 128, 34),
    (0.875, 212, 54, 5),
    (1.000, 122, 4, 3),
], dtype=np.float64)


def _table() -> np.ndarray:
    t = np.linspace(0.0, 1.0, 256)
    rgb = [np.interp(t, _ANCHORS[:, 0], _ANCHORS[:, i]) for i in (1, 2, 3)]
    return np.round(np.stack(rgb, axis=1)).astype(np.uint8)


#: (256, 3) uint8: the colour of each normalised level
COLOUR_TABLE = _table()


def display_range(scores_normal, threshold: float, *, position: float = THRESHOLD_POSITION,
                  scores_anomalous=None) -> tuple[float, float]:
    """``(low, high)`` of the colour scale, so that ``threshold`` lands at ``position`` of it.

    ``low`` is the median score of the normal images (a typical normal image's hottest spot is
    barely coloured); ``high`` mirrors it so the threshold stays at ``position`` whatever the
    model's units. Without normal scores (or when they sit above the threshold) the span falls
    back to the threshold's own magnitude, so a range always exists and ``low < high``.

    Normal scores are often packed just under the threshold while defects score far above it;
    the mirrored span then paints every defect, and the whole object around it, the hottest
    colour. Given ``scores_anomalous``, ``high`` reaches at least their 95th percentile; draw with
    ``heat_rgba(..., threshold=threshold)`` so the threshold still sits at ``position``."""
    thr = float(threshold)
    if not np.isfinite(thr):
        thr = 0.0
    pos = min(max(float(position), 0.05), 0.95)
    arr = np.asarray(scores_normal, dtype=np.float64).ravel()
    arr = arr[np.isfinite(arr)]
    below = thr - float(np.median(arr)) if arr.size else 0.0
    if not below > 0.0:
        below = max(abs(thr) * 0.5, 1e-6)
    low = thr - below
    high = thr + below * (1.0 - pos) / pos
    top = np.asarray(scores_anomalous if scores_anomalous is not None else [], dtype=np.float64).ravel()
    top = top[np.isfinite(top)]
    if len(top):
        high = max(high, float(np.percentile(top, 95)))
    return low, high


def levels(values, low: float, high: float, threshold: float | None = None,
           position: float = THRESHOLD_POSITION) -> np.ndarray:
    """Map values -> colour levels in [0, 1]: linear from ``low`` to ``high``, or, given a
    ``threshold`` inside the range, linear on each side of it with the threshold at ``position``."""
    v = np.asarray(values, dtype=np.float32)
    low, high = float(low), float(high)
    if threshold is not None and low < float(threshold) < high:
        thr = np.float32(threshold)
        below = (v - np.float32(low)) / np.float32(float(threshold) - low) * np.float32(position)
        above = np.float32(position) + (v - thr) / np.float32(high - float(threshold)) * np.float32(1.0 - position)
        t = np.where(v < thr, below, above)
    else:
        span = high - low
        if not np.isfinite(span) or span <= 0:
            span = 1e-12
        t = (v - np.float32(low)) / np.float32(span)
    return np.clip(np.nan_to_num(t, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)


def heat_rgba(map_, low: float, high: float, alpha: float = 0.6, *, fade: bool = True,
              threshold: float | None = None) -> np.ndarray:
    """An ``(h, w)`` map -> ``(h, w, 4)`` uint8 RGBA overlay coloured between ``low`` and ``high``
    (with ``threshold``: the threshold's colour is the scale's middle, see :func:`levels`).

    ``alpha`` is the opacity of the hottest colour. With ``fade`` (default) the opacity grows with
    the level (transparent at ``low``), so the image stays visible where nothing is wrong and the
    hot spots stand out; without it every pixel gets ``alpha``."""
    levels_ = levels(map_, low, high, threshold)
    index = np.round(levels_ * 255.0).astype(np.uint8)
    out = np.empty(levels_.shape + (4,), dtype=np.uint8)
    out[..., :3] = COLOUR_TABLE[index]
    a = float(min(max(alpha, 0.0), 1.0))
    if fade:
        out[..., 3] = np.round(255.0 * a * np.sqrt(levels_)).astype(np.uint8)
    else:
        out[..., 3] = np.uint8(round(255.0 * a))
    return out


def region(map_, threshold: float) -> np.ndarray:
    """Boolean ``(h, w)``: the pixels the operating point calls anomalous (map >= threshold).

    The pixel threshold is the image threshold (a PatchCore image score is its map's maximum, so
    an image above the threshold always shows a region)."""
    return np.asarray(map_, dtype=np.float32) >= np.float32(threshold)


def outline(mask) -> np.ndarray:
    """Boolean ``(h, w)``: the border pixels of a boolean mask (inside pixels with an outside
    4-neighbour, image edges count as outside) — drawn as the ground-truth or region contour."""
    m = np.asarray(mask, dtype=bool)
    if m.ndim != 2 or m.size == 0:
        return np.zeros(m.shape, dtype=bool)
    padded = np.pad(m, 1, constant_values=False)
    inner = (padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:])
    return m & ~inner


def _content_box(width: int, height: int, input_size: int, resize: str) -> tuple[float, float, float, float]:
    """(x0, y0, w, h) of the image's content inside the ``input_size`` square, in input pixels."""
    if resize == "letterbox":
        new_w, new_h = letterbox_size(width, height, input_size)
        pad_x, pad_y = max(0, input_size - new_w) // 2, max(0, input_size - new_h) // 2
        return float(pad_x), float(pad_y), float(new_w), float(new_h)
    return 0.0, 0.0, float(input_size), float(input_size)


def _sample(map_: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``map_`` at grid coordinates (pixel centres at integers), edges clamped."""
    h, w = map_.shape
    ys = np.clip(ys, 0.0, h - 1.0)
    xs = np.clip(xs, 0.0, w - 1.0)
    y0 = np.floor(ys).astype(np.intp)
    x0 = np.floor(xs).astype(np.intp)
    y1 = np.minimum(y0 + 1, h - 1)
    x1 = np.minimum(x0 + 1, w - 1)
    fy = (ys - y0).astype(map_.dtype)[:, None]
    fx = (xs - x0).astype(map_.dtype)[None, :]
    top = map_[y0][:, x0] * (1 - fx) + map_[y0][:, x1] * fx
    bottom = map_[y1][:, x0] * (1 - fx) + map_[y1][:, x1] * fx
    return top * (1 - fy) + bottom * fy


def resize_map(map_, width: int, height: int, *, input_size: int | None = None,
               resize: str = "letterbox") -> np.ndarray:
    """A map on the input square (``(m, m)``, any ``m``) -> ``(height, width)`` float32 on the
    original image, bilinear.

    ``resize`` is the preprocessing's (``"letterbox"``: the letterbox border is cut away first, with
    ``core/letterbox.py``'s exact geometry at ``input_size``; anything else: the image was squashed
    to the square). ``input_size`` defaults to the map's side (exact when the map was not
    downsampled; otherwise the border is placed to within one input pixel)."""
    m = np.asarray(map_, dtype=np.float32)
    if m.ndim != 2 or m.size == 0:
        raise ValueError(f"an anomaly map must be a non-empty 2-D array, got shape {m.shape}")
    width, height = max(1, int(width)), max(1, int(height))
    size = int(input_size or m.shape[0])
    x0, y0, cw, ch = _content_box(width, height, size, resize)
    gy, gx = m.shape[0] / size, m.shape[1] / size
    # Centre of original pixel i in input pixels, then in map-grid coordinates (centres at k).
    xs = (x0 + (np.arange(width) + 0.5) * cw / width) * gx - 0.5
    ys = (y0 + (np.arange(height) + 0.5) * ch / height) * gy - 0.5
    return _sample(m, ys, xs)


def mask_to_grid(mask, grid: int, *, input_size: int | None = None, resize: str = "letterbox") -> np.ndarray:
    """A ground-truth mask on the original image (``(H, W)``, non-zero = defect) -> boolean
    ``(grid, grid)`` as the map's cells see it: the same letterbox/squash geometry, then a cell is a
    defect when at least half of it is (area average >= 0.5); the letterbox border is never a
    defect. Pixel metrics compare this with the cached map, cell for cell."""
    src = (np.asarray(mask) > 0).astype(np.float32)
    if src.ndim != 2 or src.size == 0:
        raise ValueError(f"a mask must be a non-empty 2-D array, got shape {src.shape}")
    height, width = src.shape
    size = int(input_size or grid)
    x0, y0, cw, ch = _content_box(width, height, size, resize)
    cell = size / float(grid)
    # Fraction of defect per grid cell: integrate the mask (as a step function over the content
    # box) over each cell's extent with a summed-area table.
    integral = np.zeros((height + 1, width + 1), dtype=np.float64)
    integral[1:, 1:] = src.cumsum(0).cumsum(1)

    def edges(start: float, extent: float, n: int) -> np.ndarray:
        # cell edges in original-pixel coordinates, clamped to the image
        e = (np.arange(grid + 1) * cell - start) * n / extent
        return np.clip(e, 0.0, float(n))

    ex, ey = edges(x0, cw, width), edges(y0, ch, height)

    def area(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        # integral at fractional coordinates: bilinear in the summed-area table is exact for a
        # piecewise-constant image along each axis
        return _sample(integral, yy, xx)

    total = area(ey, ex)
    inside = total[1:, 1:] - total[:-1, 1:] - total[1:, :-1] + total[:-1, :-1]
    orig_cell = (cell * width / cw) * (cell * height / ch)
    return inside / orig_cell >= 0.5 - 1e-6
