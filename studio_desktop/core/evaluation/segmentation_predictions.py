"""Semantic segmentation on new images: class probabilities -> an index mask PNG, per-class areas, pictures.

A checkpoint and an exported file give the same thing (``ml/segmentation_predict.py``): each
image's class probabilities (C, H, W) at its ORIGINAL size. This module turns them into what the
user keeps, one way (numpy and Pillow, no torch; the GUI reads what it writes):

- the predicted class of every pixel (argmax), written as an 8-bit index PNG of CLASS IDS —
  ``<out>/masks/<name>.png``, readable like a ground-truth mask — when the prediction has a folder;
- the prediction line: the mask's path, each predicted class's pixel count and share of the
  image, and the mean confidence (the mean over pixels of the winning probability: low values
  say the model hesitated over much of the image);
- for ``studio predict --draw``: the coloured mask and the overlay on the photo, in the palette
  every view uses (``core/segmentation.py``; background classes left transparent), beside a copy
  of the index mask.
"""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from ..segmentation import (
    IGNORE,
    background_channels,
    channel_lut,
    overlay,
    palette,
    to_channels,
    to_class_ids,
)
from ..store import atomic_write_bytes
from .operating_point import OperatingPoint

#: the sub-folder of a prediction folder holding the index masks
MASKS = "masks"


def class_table(classes: list[dict]) -> list[SimpleNamespace]:
    """The prediction's classes (``{"id", "name", "colour"?}``, output order) as palette entries."""
    return [SimpleNamespace(id=int(c["id"]), name=str(c["name"]), color=c.get("colour") or c.get("color"))
            for c in classes]


def png_bytes(array: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buf, format="PNG")
    return buf.getvalue()


def channels_of(arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
    """(N, H, W) uint8 predicted channel per pixel and (N, H, W) winning probability (None when the
    arrays hold channels already)."""
    if "channels" in arrays:
        return np.asarray(arrays["channels"], dtype=np.uint8), None
    probs = np.asarray(arrays["probabilities"])
    return probs.argmax(axis=1).astype(np.uint8), probs.max(axis=1)


def area_of(channels: np.ndarray, classes: list[dict]) -> list[dict]:
    """Each predicted class's pixels and share of the image, largest first (classes with no pixel left out)."""
    counts = np.bincount(channels.ravel(), minlength=len(classes))[: len(classes)]
    total = max(1, int(channels.size))
    order = np.argsort(-counts, kind="stable")
    return [{"id": int(classes[k]["id"]), "name": str(classes[k]["name"]), "pixels": int(counts[k]),
             "share": round(float(counts[k]) / total, 6)} for k in order if counts[k]]


def segmentation_predictions(arrays: dict[str, np.ndarray], op: OperatingPoint | None, classes: list[dict],
                             context: dict | None = None) -> list[dict]:
    """One prediction per image of ``arrays`` (``probabilities`` (N, C, H, W) at the original size, or
    ``channels`` (N, H, W)); with ``context["out"]`` each index mask is written to
    ``out/masks/<name>.png`` (``context["names"]``) and the line names it (absolute path)."""
    context = context or {}
    ids = [int(c["id"]) for c in classes]
    channels, confidence = channels_of(arrays)
    out_folder = context.get("out")
    names = context.get("names") or []
    rows = []
    for i, ch in enumerate(channels):
        pred: dict = {"mask": None, "classes": area_of(ch, classes)}
        if confidence is not None:
            pred["confidence"] = round(float(confidence[i].mean()), 6)
        if out_folder is not None and i < len(names):
            path = Path(out_folder) / MASKS / f"{names[i]}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, png_bytes(to_class_ids(ch, ids)))
            pred["mask"] = str(path)
        rows.append({"prediction": pred, "width": int(ch.shape[1]), "height": int(ch.shape[0])})
    return rows


def read_mask(path: str | Path, classes: list[dict]) -> np.ndarray:
    """A written index mask (class ids) back as channel indices (255 where no class)."""
    from PIL import Image

    with Image.open(path) as im:
        ids = np.asarray(im)
    return to_channels(ids.astype(np.uint8), channel_lut([int(c["id"]) for c in classes]))


def colour_mask(channels: np.ndarray, classes: list[dict]) -> np.ndarray:
    """(H, W, 3) the classes' colours (the palette of every view)."""
    return palette(class_table(classes))[channels]


def blend(image: np.ndarray, channels: np.ndarray, classes: list[dict], alpha: float = 0.5) -> np.ndarray:
    """The photo with the coloured mask over it; background classes and ignore leave it unchanged."""
    table = class_table(classes)
    return overlay(image, channels, palette(table), alpha=alpha, transparent=background_channels(table))


def draw_mask(row: dict, stem: Path, classes: list[dict]) -> list[Path]:
    """``studio predict --draw``: ``<stem>.png`` the overlay on the photo, ``<stem>-colour.png`` the coloured
    mask and ``<stem>-mask.png`` the index mask (class ids), written atomically."""
    from ..images import open_rgb

    mask = (row.get("prediction") or {}).get("mask")
    if not mask or not Path(mask).is_file():
        return []
    channels = read_mask(mask, classes)
    image = np.asarray(open_rgb(Path(row["file"]), oriented=True))
    if image.shape[:2] != channels.shape:
        return []
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = [stem.parent / f"{stem.name}.png", stem.parent / f"{stem.name}-colour.png",
           stem.parent / f"{stem.name}-mask.png"]
    atomic_write_bytes(out[0], png_bytes(blend(image, channels, classes)))
    atomic_write_bytes(out[1], png_bytes(colour_mask(channels, classes)))
    atomic_write_bytes(out[2], Path(mask).read_bytes())
    return out


def segmentation_text(pred: dict) -> str:
    """One image's segmentation in words: "road 41 %, sky 22 %, building 19 % (+3 more)"."""
    found = pred.get("classes") or []
    if not found:
        return "no pixels"
    shown = ", ".join(f"{c['name']} {float(c['share']):.0%}" for c in found[:4])
    return shown + (f" (+{len(found) - 4} more)" if len(found) > 4 else "")




def write_csv_rows(writer, rows: list[dict], class_names: list[str]) -> None:
    """``predictions.csv`` of a segmentation: one row per image — its mask file, mean confidence and
    each class's share of the image's pixels (0-1)."""
    writer.writerow(["file", "status", "mask", "confidence", *[f"share_{n}" for n in class_names], "error"])
    for r in rows:
        if not r.get("ok"):
            writer.writerow([r["file"], "failed", "", "", *[""] * len(class_names), r.get("error", "")])
            continue
        pred = r.get("prediction") or {}
        shares = {c["name"]: float(c["share"]) for c in pred.get("classes") or []}
        conf = pred.get("confidence")
        writer.writerow([r["file"], "ok", pred.get("mask") or "", f"{conf:.6f}" if conf is not None else "",
                         *[f"{shares.get(n, 0.0):.6f}" for n in class_names], ""])


__all__ = ["IGNORE", "MASKS", "area_of", "blend", "channels_of", "class_table", "colour_mask", "draw_mask",
           "read_mask", "segmentation_predictions", "segmentation_text", "write_csv_rows"]
