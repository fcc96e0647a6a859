"""Does an exported segmentation model colour the pixels PyTorch colours? Checked per pixel.

The file's logits are compared with PyTorch's on the same input tensors (largest difference,
relative to the largest logit), then the predicted class of every pixel (argmax over the
channels): the share of pixels given the same class — on the same tensors, and with the file fed
by its own metadata through the usage snippet's Pillow + numpy preprocessing (a wrong mean,
colour order or size in the metadata fails there) — and the mIoU of both against the ground
truth. Only pixels of the image count: the letterbox padding is never compared, and ground-truth
pixels marked ignore (255) or with an unknown value are left out of the mIoU.

mIoU here is the mean over classes present in the truth or the prediction of these images of
``TP / (TP + FP + FN)`` from one confusion matrix summed over the images; a class absent from both
has no IoU (undefined, not 0 nor 1) and is left out of the mean, as on the Evaluation page.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...core.exports import Check, Validation
from ...core.letterbox import letterbox_size
from ...core.segmentation import IGNORE, channel_lut, to_channels
from .validation import _failures, _metadata_check


@dataclass(frozen=True)
class SegmentationLimits:
    #: same input tensors: max |logit difference|, x max(1, largest |logit|)
    logits_rel: float
    #: same input tensors: share of image pixels given PyTorch's class, at least
    pixels: float
    #: through the file's own metadata (Pillow resize instead of torch's): the same, at least
    file_pixels: float
    #: the exported mIoU (via metadata) may be lower than PyTorch's by at most this
    miou_drop: float


LIMITS: dict[str, SegmentationLimits] = {
    "fp32": SegmentationLimits(logits_rel=1e-3, pixels=0.999, file_pixels=0.97, miou_drop=0.02),
    "fp16": SegmentationLimits(logits_rel=2e-2, pixels=0.99, file_pixels=0.95, miou_drop=0.03),
    # post-training INT8: the decisions and the metric carry the verdict (see validation.py)
    "int8": SegmentationLimits(logits_rel=0.5, pixels=0.90, file_pixels=0.88, miou_drop=0.05),
}


@dataclass
class Truth:
    """One validation image's truth in the S x S input: ``mask`` (S, S) channel indices (255 = ignore)
    and ``inside`` (S, S) bool, the pixels of the image (False on the letterbox padding)."""

    mask: np.ndarray
    inside: np.ndarray

    @classmethod
    def letterboxed(cls, mask_path: Path | None, class_ids: list[int], size: int, resize: str = "letterbox"
                    ) -> Truth:
        """The dataset mask (class ids) placed where the image lies in the input: nearest-neighbour
        scaling, as the training transforms scale masks; no mask file: every pixel ignored."""
        from PIL import Image

        inside = np.zeros((size, size), dtype=bool)
        mask = np.full((size, size), IGNORE, dtype=np.uint8)
        if mask_path is None or not Path(mask_path).is_file():
            inside[:] = True
            return cls(mask, inside)
        with Image.open(mask_path) as im:
            ids = np.asarray(im.convert("L") if im.mode not in ("L", "P") else im)
        width, height = ids.shape[1], ids.shape[0]
        if resize == "stretch":
            nw, nh, px, py = size, size, 0, 0
        else:
            nw, nh = letterbox_size(width, height, size)
            px, py = (size - nw) // 2, (size - nh) // 2
        channels = to_channels(ids.astype(np.uint8), channel_lut(class_ids))
        scaled = np.asarray(Image.fromarray(channels).resize((nw, nh), Image.NEAREST))
        mask[py:py + nh, px:px + nw] = scaled
        inside[py:py + nh, px:px + nw] = True
        return cls(mask, inside)


def pixel_agreement(a: np.ndarray, b: np.ndarray, truth: list[Truth] | None) -> float | None:
    """Share of image pixels (the padding excluded when ``truth`` says where the images lie) whose
    class (argmax, (N, S, S)) is the same in ``a`` and ``b``."""
    a, b = np.asarray(a), np.asarray(b)
    if not a.size:
        return None
    same = a == b
    if truth is None:
        return float(same.mean())
    inside = np.stack([t.inside for t in truth])
    total = int(inside.sum())
    return float(same[inside].sum() / total) if total else None


def confusion(pred: np.ndarray, truth: list[Truth], classes: int) -> np.ndarray:
    """(C, C) pixel counts, rows truth, columns prediction, over labelled image pixels."""
    out = np.zeros((classes, classes), dtype=np.int64)
    for p, t in zip(np.asarray(pred), truth, strict=True):
        valid = t.inside & (t.mask != IGNORE) & (t.mask < classes)
        idx = t.mask[valid].astype(np.int64) * classes + np.clip(p[valid].astype(np.int64), 0, classes - 1)
        out += np.bincount(idx, minlength=classes * classes).reshape(classes, classes)
    return out


def mean_iou(pred: np.ndarray, truth: list[Truth], classes: int) -> float | None:
    """mIoU over the classes present in truth or prediction (see the module docstring); None when no
    pixel is labelled."""
    cm = confusion(pred, truth, classes)
    if not cm.sum():
        return None
    tp = np.diag(cm).astype(np.float64)
    union = cm.sum(axis=0) + cm.sum(axis=1) - tp
    present = union > 0
    return float((tp[present] / union[present]).mean())


def compare_segmentation(*, precision: str, subsets: dict[str, int], reference: np.ndarray,
                         same_input: np.ndarray, file: np.ndarray, truth: list[Truth], class_count: int,
                         metadata_mismatches: list[str] | None = None) -> Validation:
    """The :class:`Validation` of a segmentation export: ``reference`` (PyTorch), ``same_input`` (the file on
    the same tensors) and ``file`` (the file fed by its own metadata) are (N, C, S, S) logits."""
    lim = LIMITS[precision]
    n = len(truth)
    ref, same, via = (np.asarray(a, dtype=np.float32) for a in (reference, same_input, file))
    scale = max(1.0, float(np.abs(ref).max())) if ref.size else 1.0
    max_diff = float(np.abs(same - ref).max()) if n else None
    torch_cls, same_cls, file_cls = (a.argmax(axis=1) for a in (ref, same, via))
    same_share = pixel_agreement(torch_cls, same_cls, truth) if n else None
    via_share = pixel_agreement(torch_cls, file_cls, truth) if n else None
    m_torch = mean_iou(torch_cls, truth, class_count) if n else None
    m_file = mean_iou(file_cls, truth, class_count) if n else None
    drop = (m_torch - m_file) if m_torch is not None and m_file is not None else None
    pixels = int(np.stack([t.inside for t in truth]).sum()) if n else 0
    checks = [
        Check(name="max logit difference", value=max_diff, limit=lim.logits_rel * scale, kind="max",
              passed=max_diff is not None and max_diff <= lim.logits_rel * scale,
              help=f"same input tensors, every pixel; limit {lim.logits_rel:g} x max(1, largest |logit| = "
                   f"{scale:.3g})"),
        Check(name="pixels given PyTorch's class", value=same_share, limit=lim.pixels, kind="min", unit="share",
              passed=same_share is not None and same_share >= lim.pixels,
              help=f"same input tensors: share of the {pixels:,} image pixels (letterbox padding excluded) whose "
                   "argmax class equals PyTorch's"),
        Check(name="pixels given PyTorch's class via metadata", value=via_share, limit=lim.file_pixels, kind="min",
              unit="share", passed=via_share is not None and via_share >= lim.file_pixels,
              help="the file fed by its own metadata (Pillow + numpy, as the usage snippet does; Pillow's resize "
                   "differs slightly from the app's at edges)"),
        Check(name="mIoU drop", value=drop, limit=lim.miou_drop, kind="max", passed=drop is None or drop <= lim.miou_drop,
              help="PyTorch mIoU minus the exported file's (via metadata) against the ground-truth masks letterboxed "
                   "like the images" + ("" if drop is not None else "; not measured: no labelled pixels")),
    ]
    mismatches = list(metadata_mismatches or [])
    checks.insert(0, _metadata_check(mismatches, "class names, ids and colours, input size and geometry, "
                                                 "preprocessing"))
    failures = _failures(checks, mismatches, n)
    return Validation(passed=not failures, images=n, subsets=subsets, max_abs_diff=max_diff, compared="logit",
                      agreement=via_share, agreement_words="of pixels given PyTorch's class via metadata",
                      metric="mIoU", metric_pytorch=m_torch, metric_exported=m_file, checks=checks, failures=failures)


__all__ = ["LIMITS", "SegmentationLimits", "Truth", "compare_segmentation", "confusion", "mean_iou",
           "pixel_agreement"]
