"""Semantic segmentation in numpy: class ids <-> network channels, and the colours of masks.

A mask on disk is an 8-bit index PNG whose pixel values are the project's CLASS IDS (which need
not be 0..C-1: a project may have deleted a class), with 255 meaning "ignore" (unlabelled,
boundary, void). The network's output channel ``k`` is ``project.classes[k]`` (the output order
every task uses). Training, evaluation, prediction and the views all translate with the one
lookup table here, so nobody maps ids to channels their own way. No torch, no Qt: the GUI uses it.

A mask value that is neither a class id nor 255 is *unknown*: it becomes ignore in training and
evaluation, and :func:`unknown_values` lets callers count and report it (never silently).

Colours: :func:`palette` gives one RGB per channel (the project's class colours; a class named
"background" — or "void"/"unlabeled" — is drawn black so overlays leave the image visible);
:func:`colourise` turns a channel-index mask into an RGB image and :func:`overlay` blends one over
a photo. Every view and every written PNG uses these, so a class has one colour everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

__all__ = ["BACKBONES", "IGNORE", "IGNORE_COLOUR", "BACKGROUND_NAMES", "channel_lut", "to_channels",
           "to_class_ids", "unknown_values", "colour_of", "palette", "colourise", "overlay",
           "is_background", "background_channels"]

#: mask value (and channel index) meaning "no label here": never in the loss nor the metrics
IGNORE = 255
#: how ignore pixels look in a colourised mask (white, distinct from black background)
IGNORE_COLOUR = (255, 255, 255)
#: class names drawn black / left transparent in overlays
BACKGROUND_NAMES = frozenset({"background", "bg", "_background_", "void", "unlabeled", "unlabelled"})

#: segmentation network -> the classifier whose ImageNet weights its backbone starts from (the
#: weights store's file of that classifier; segmentation-models-pytorch never downloads its own)
BACKBONES: dict[str, str] = {
    "lraspp_mobilenet_v3_large": "mobilenet_v3_large", "deeplabv3_mobilenet_v3_large": "mobilenet_v3_large",
    "unet_resnet18": "resnet18", "unet_resnet34": "resnet34", "deeplabv3plus_resnet50": "resnet50",
    "deeplabv3_resnet50": "resnet50", "fcn_resnet50": "resnet50",
}

# Tableau 10 then a second tier; the same list as core/projects.PALETTE (class colours)
_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
            "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94"]


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    h = str(hex_colour).lstrip("#")
    if len(h) != 6:
        raise ValueError(f"not a #rrggbb colour: {hex_colour!r}")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def channel_lut(class_ids: Sequence[int]) -> np.ndarray:
    """A 256-entry uint8 table: ``lut[class_id] = channel``; 255 for ignore and unknown values.

    ``class_ids`` in output order (``[c.id for c in project.classes]``). Ids must be distinct
    integers 0..254 (255 is the ignore value) and at most 255 classes."""
    ids = [int(i) for i in class_ids]
    if len(set(ids)) != len(ids):
        raise ValueError(f"class ids are not distinct: {ids}")
    if len(ids) > 255:
        raise ValueError(f"at most 255 classes fit an 8-bit mask, got {len(ids)}")
    lut = np.full(256, IGNORE, dtype=np.uint8)
    for channel, cid in enumerate(ids):
        if not 0 <= cid < IGNORE:
            raise ValueError(f"class id {cid} cannot be a mask value (0..254; 255 means ignore)")
        lut[cid] = channel
    return lut


def to_channels(mask: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Mask of class ids (uint8, any shape) -> mask of channel indices (uint8, 255 = ignore)."""
    arr = np.asarray(mask)
    if arr.dtype != np.uint8:
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise ValueError("a mask's values must be 0..255")
        arr = arr.astype(np.uint8)
    return lut[arr]


def to_class_ids(channels: np.ndarray, class_ids: Sequence[int]) -> np.ndarray:
    """Mask of channel indices (e.g. an argmax) -> mask of class ids (uint8; 255 stays 255).

    This is what is written to disk (``evaluation/masks/<id>.png``, predicted index PNGs), so a
    written mask reads back like a ground-truth mask."""
    table = np.full(256, IGNORE, dtype=np.uint8)
    table[: len(class_ids)] = np.asarray([int(i) for i in class_ids], dtype=np.uint8)
    return table[np.asarray(channels).astype(np.uint8, copy=False)]


def unknown_values(mask: np.ndarray, lut: np.ndarray) -> dict[int, int]:
    """``{value: pixel count}`` of mask values that are neither a class id nor ignore."""
    counts = np.bincount(np.asarray(mask, dtype=np.uint8).ravel(), minlength=256)
    bad = (lut == IGNORE) & (counts > 0)
    bad[IGNORE] = False
    return {int(v): int(counts[v]) for v in np.flatnonzero(bad)}


def is_background(name: str) -> bool:
    """Whether a class name means "nothing of interest" (drawn black, transparent in overlays)."""
    return str(name).strip().lower() in BACKGROUND_NAMES


def colour_of(index: int, name: str | None = None, colour: str | None = None) -> tuple[int, int, int]:
    """RGB of the class at output index ``index``: black for a background class, else its own
    ``colour`` (#rrggbb, from project.json) or the palette's entry for that index."""
    if name is not None and is_background(name):
        return 0, 0, 0
    if colour:
        try:
            return _rgb(colour)
        except ValueError:
            pass
    return _rgb(_PALETTE[int(index) % len(_PALETTE)])


def palette(classes: Iterable) -> np.ndarray:
    """``(256, 3)`` uint8 colour table indexed by CHANNEL: one row per class (ClassInfo-like
    objects with ``name``/``color`` or plain names), ignore (255) white, the rest grey."""
    table = np.full((256, 3), 128, dtype=np.uint8)
    for k, c in enumerate(classes):
        name = c if isinstance(c, str) else getattr(c, "name", None)
        colour = None if isinstance(c, str) else getattr(c, "color", None)
        table[k] = colour_of(k, name, colour)
    table[IGNORE] = IGNORE_COLOUR
    return table


def background_channels(classes: Iterable) -> list[int]:
    """Channels whose class is a background class (left transparent by :func:`overlay`)."""
    out = []
    for k, c in enumerate(classes):
        name = c if isinstance(c, str) else getattr(c, "name", "")
        if is_background(name):
            out.append(k)
    return out


def colourise(index_mask: np.ndarray, colours: np.ndarray | None = None) -> np.ndarray:
    """Channel-index mask ``(H, W)`` -> RGB ``(H, W, 3)`` uint8 with ``colours`` (see
    :func:`palette`; default: the plain palette, index 0 as palette colour 0)."""
    table = colours if colours is not None else _default_table()
    return table[np.asarray(index_mask).astype(np.uint8, copy=False)]


def _default_table() -> np.ndarray:
    table = np.full((256, 3), 128, dtype=np.uint8)
    for k in range(255):
        table[k] = colour_of(k)
    table[IGNORE] = IGNORE_COLOUR
    return table


def overlay(image: np.ndarray, index_mask: np.ndarray, colours: np.ndarray | None = None,
            alpha: float = 0.5, transparent: Sequence[int] = ()) -> np.ndarray:
    """Blend the colourised mask over an RGB ``image`` (H, W, 3 uint8) with opacity ``alpha``.

    Pixels whose channel is in ``transparent`` (e.g. :func:`background_channels`) or ignore keep
    the photo unchanged, so the background does not darken the picture."""
    img = np.asarray(image)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    img = img[..., :3].astype(np.float32)
    mask = np.asarray(index_mask).astype(np.uint8, copy=False)
    if mask.shape != img.shape[:2]:
        raise ValueError(f"mask {mask.shape} and image {img.shape[:2]} differ in size")
    colour = colourise(mask, colours).astype(np.float32)
    skip = np.zeros(256, dtype=bool)
    skip[IGNORE] = True
    skip[list(transparent)] = True
    weight = np.where(skip[mask], 0.0, float(alpha))[..., None]
    out = img * (1.0 - weight) + colour * weight
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
