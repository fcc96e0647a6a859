"""Letterbox geometry in numpy: where an original image's pixels land in the network's input.

Every model sees its image letterboxed (``ml/augment.py: letterbox``): scaled so the long side is
``size`` (aspect ratio kept), then centred on a ``size`` x ``size`` square. A detector predicts
boxes in that square; the user wants them on the original image. This module states the same
arithmetic as torchvision's ``Resize(size=None, max_size=size)`` followed by ``PadToSquare`` —
without torch, so the GUI, evaluation, prediction and export all map boxes one way.

The short side is rounded down by torchvision (``int(size * short / long)``), so the horizontal
and vertical scale factors differ very slightly; :func:`to_input` and :func:`to_original` use
both, exactly as ``resize_bounding_boxes`` does, and agree with the torch transform to float
precision (tests/unit/test_letterbox.py).
"""

from __future__ import annotations

import numpy as np

__all__ = ["letterbox_params", "letterbox_size", "to_input", "to_original"]


def letterbox_size(width: int, height: int, size: int) -> tuple[int, int]:
    """``(new_width, new_height)`` of the scaled image before padding (the long side is ``size``)."""
    width, height, size = int(width), int(height), int(size)
    if width <= height:
        return int(size * width / height), size
    return size, int(size * height / width)


def _geometry(width: int, height: int, size: int) -> tuple[float, float, int, int]:
    new_w, new_h = letterbox_size(width, height, size)
    pad_x, pad_y = max(0, size - new_w) // 2, max(0, size - new_h) // 2
    return new_w / max(1, int(width)), new_h / max(1, int(height)), pad_x, pad_y


def letterbox_params(width: int, height: int, size: int) -> tuple[float, int, int]:
    """``(scale, pad_x, pad_y)``: input = original * scale + pad.

    ``scale`` is the long side's factor (``size / max(width, height)``); the short side's is at
    most one input pixel's worth smaller (torchvision rounds it down). For box mapping use
    :func:`to_input` / :func:`to_original`, which apply each axis's own factor."""
    _, _, pad_x, pad_y = _geometry(width, height, size)
    return int(size) / max(1, int(width), int(height)), pad_x, pad_y


def _boxes(boxes) -> np.ndarray:
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.size == 0:
        return arr.reshape(0, 4)
    return arr.reshape(-1, 4)


def to_input(boxes_xyxy, width: int, height: int, size: int) -> np.ndarray:
    """Boxes ``(n, 4)`` x1 y1 x2 y2 in original pixels -> input (letterboxed ``size``) pixels."""
    sx, sy, px, py = _geometry(width, height, size)
    arr = _boxes(boxes_xyxy)
    out = arr * np.array([sx, sy, sx, sy]) + np.array([px, py, px, py])
    return out.astype(np.float32)


def to_original(boxes_xyxy, width: int, height: int, size: int) -> np.ndarray:
    """Boxes ``(n, 4)`` in input pixels -> original pixels, clamped to the image.

    A box predicted over the letterbox border ends at the image's edge (the border is not the
    image); a box entirely in the border collapses to zero width or height there."""
    sx, sy, px, py = _geometry(width, height, size)
    arr = _boxes(boxes_xyxy)
    out = (arr - np.array([px, py, px, py])) / np.array([sx, sy, sx, sy])
    out[:, 0::2] = np.clip(out[:, 0::2], 0.0, float(width))
    out[:, 1::2] = np.clip(out[:, 1::2], 0.0, float(height))
    return out.astype(np.float32)
