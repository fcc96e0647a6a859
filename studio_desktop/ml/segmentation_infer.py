"""The one segmentation predictor: class probabilities at the image's ORIGINAL resolution.

Evaluation, ``studio predict``, "Try it" and export validation all call
:func:`predict_probabilities` with a *runner*: any function ``(N, 3, h, w) float32 normalised
-> logits (N, C, h, w)`` (a PyTorch module via :func:`torch_runner`, an ONNX Runtime or OpenVINO
session), so a checkpoint and its exported file are judged by the same pixels.

* resize mode: the image is letterboxed exactly as in evaluation (``Preprocessing``), the network
  runs once, the padding is cut off and the probabilities are resized (bilinear) back to the
  original size;
* tiles mode: the image is scaled by ``scale`` (1: untouched), cut into ``crop_size`` tiles that
  overlap by ``overlap``, the tiles go through the network ``tile_batch`` at a time, and their
  softmax probabilities are averaged with a weight that favours each tile's centre (a tile's
  edge lacks context). Only one batch of tiles is ever in the network; a 4000 x 3000 photo is
  never shrunk to the input size and never sent whole (benchmarks/segmentation_sliding_window.py).

The index mask is the argmax over channels (:func:`index_mask`); channel k is
``project.classes[k]`` (``core/segmentation.to_class_ids`` writes it as class ids).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..core.letterbox import letterbox_size

Runner = Callable[[np.ndarray], Any]


def torch_runner(model: torch.nn.Module, device: torch.device | str = "cpu") -> Runner:
    """A runner of a PyTorch network (eval mode, no gradients)."""
    device = torch.device(device)

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = model(torch.from_numpy(np.ascontiguousarray(batch)).to(device))
        return out.float().cpu().numpy()

    return run


def _logits(run: Runner, batch: np.ndarray) -> np.ndarray:
    out = run(batch.astype(np.float32, copy=False))
    if isinstance(out, torch.Tensor):
        out = out.detach().float().cpu().numpy()
    out = np.asarray(out, dtype=np.float32)
    if out.ndim != 4 or out.shape[0] != batch.shape[0] or out.shape[2:] != batch.shape[2:]:
        raise ValueError(f"the segmentation network returned {out.shape} for input {batch.shape}; expected "
                         "(N, C, H, W) logits at the input's size")
    return out


def softmax(logits: np.ndarray, axis: int = 1) -> np.ndarray:
    z = logits - logits.max(axis=axis, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=axis, keepdims=True)
    return z


def normalise(image: np.ndarray, mean, std) -> np.ndarray:
    """HxWx3 uint8 -> 3xHxW float32, /255 then (x - mean) / std (the training pipeline's)."""
    x = np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0
    return (x - np.asarray(mean, np.float32)[:, None, None]) / np.asarray(std, np.float32)[:, None, None]


def _resize(probs: np.ndarray, height: int, width: int) -> np.ndarray:
    """(C, h, w) -> (C, height, width), bilinear (half-pixel centres)."""
    if probs.shape[1:] == (height, width):
        return probs
    t = torch.from_numpy(np.ascontiguousarray(probs))[None]
    return F.interpolate(t, size=(height, width), mode="bilinear", align_corners=False)[0].numpy()


# --------------------------------------------------------------------------- resize mode


def letterboxed(image: np.ndarray, pre) -> torch.Tensor:
    """The network input of an HxWx3 uint8 image in resize mode: ``Preprocessing``'s pipeline."""
    from torchvision import tv_tensors

    return pre.transform()(tv_tensors.Image(torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1)))


def predict_resized(run: Runner, image: np.ndarray, pre) -> np.ndarray:
    h, w = image.shape[:2]
    size = int(pre.input_size)
    x = letterboxed(image, pre).numpy()[None]
    probs = softmax(_logits(run, x))[0]
    new_w, new_h = letterbox_size(w, h, size)
    px, py = max(0, size - new_w) // 2, max(0, size - new_h) // 2
    return _resize(np.ascontiguousarray(probs[:, py:py + new_h, px:px + new_w]), h, w)


# --------------------------------------------------------------------------- tiles mode


def tile_starts(length: int, tile: int, overlap: float) -> list[int]:
    """Where tiles start along one side: evenly ``tile * (1 - overlap)`` apart, the last flush
    with the end (every pixel covered; a side shorter than a tile gets one, padded)."""
    if length <= tile:
        return [0]
    step = max(1, int(round(tile * (1.0 - float(overlap)))))
    starts = list(range(0, length - tile, step))
    return [*starts, length - tile]


def tile_weight(tile: int, blend: str = "gaussian") -> np.ndarray:
    """(tile, tile) float32 weight of a tile's pixels in the average: highest at the centre."""
    x = np.arange(tile, dtype=np.float64) - (tile - 1) / 2.0
    if blend == "gaussian":
        sigma = tile / 8.0
        w1 = np.exp(-(x ** 2) / (2 * sigma ** 2))
    elif blend == "linear":
        w1 = 1.0 - np.abs(x) / (tile / 2.0 + 1.0)
    else:
        raise ValueError(f"unknown tile blending '{blend}' (gaussian or linear)")
    w = np.outer(w1, w1)
    return np.maximum(w / w.max(), 1e-3).astype(np.float32)


def _tiles(height: int, width: int, tile: int, overlap: float) -> Iterator[tuple[int, int]]:
    for top in tile_starts(height, tile, overlap):
        for left in tile_starts(width, tile, overlap):
            yield top, left


def sliding_window(run: Runner, x: np.ndarray, tile: int, overlap: float = 0.25, blend: str = "gaussian",
                   tile_batch: int = 4) -> np.ndarray:
    """Class probabilities (C, h, w) of a normalised image ``x`` (3, h, w) from overlapping tiles.

    A side shorter than ``tile`` is padded with zeros (the letterbox colour after
    normalisation) and cut back afterwards. Memory: the accumulated probabilities (C x h x w) and
    one batch of tiles, never the whole image through the network."""
    _, h, w = x.shape
    ph, pw = max(0, tile - h), max(0, tile - w)
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, ph), (0, pw)))
    H, W = x.shape[1:]
    weight = tile_weight(tile, blend)
    acc: np.ndarray | None = None
    wsum = np.zeros((H, W), np.float32)
    spots = list(_tiles(H, W, tile, overlap))
    for i in range(0, len(spots), max(1, int(tile_batch))):
        group = spots[i:i + max(1, int(tile_batch))]
        batch = np.stack([x[:, t:t + tile, c:c + tile] for t, c in group])
        probs = softmax(_logits(run, batch))
        if acc is None:
            acc = np.zeros((probs.shape[1], H, W), np.float32)
        for (t, c), p in zip(group, probs, strict=True):
            acc[:, t:t + tile, c:c + tile] += p * weight
            wsum[t:t + tile, c:c + tile] += weight
    assert acc is not None
    acc /= wsum[None]
    return acc[:, :h, :w]


def scaled(image: np.ndarray, scale: float) -> np.ndarray:
    """The image (HxWx3 uint8) at ``scale`` exactly as the training cache keeps it (``data.shrink``)."""
    if scale >= 1.0:
        return image
    from .data import shrink
    from .segmentation_data import TileDetail

    t = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
    return shrink(t, TileDetail(size=0, scale=scale)).permute(1, 2, 0).numpy()


def predict_tiled(run: Runner, image: np.ndarray, pre, settings) -> np.ndarray:
    h, w = image.shape[:2]
    x = normalise(scaled(image, float(settings.scale)), pre.mean, pre.std)
    probs = sliding_window(run, x, int(settings.crop_size), float(settings.overlap), str(settings.blend),
                           int(settings.tile_batch))
    return _resize(probs, h, w)


# --------------------------------------------------------------------------- the entry point


def predict_probabilities(run: Runner, image: np.ndarray, pre, settings) -> np.ndarray:
    """(C, H, W) float32 class probabilities of ``image`` (HxWx3 uint8, EXIF-oriented, original
    size) at its original size. ``pre``: the model's ``Preprocessing``; ``settings``: its
    ``SegmentationSettings`` (mode, tile size, overlap...)."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an H x W x 3 uint8 RGB image, got {image.shape} {image.dtype}")
    if getattr(settings, "mode", "resize") == "tiles":
        return predict_tiled(run, image, pre, settings)
    return predict_resized(run, image, pre)


def index_mask(probs: np.ndarray) -> np.ndarray:
    """Channel index of the most probable class per pixel (H, W) uint8."""
    return np.asarray(probs).argmax(0).astype(np.uint8)


__all__ = ["Runner", "index_mask", "letterboxed", "normalise", "predict_probabilities", "predict_resized",
           "predict_tiled", "scaled", "sliding_window", "softmax", "tile_starts", "tile_weight", "torch_runner"]
