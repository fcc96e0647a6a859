"""Exporting a semantic segmentation model: one output ``logits`` (N x C x S x S), the colours and the
input geometry in the metadata.

The network (``SegmentationHead.build_model``) returns per-pixel logits at its input size; the file
carries exactly that, so every runtime and the usage snippet read one tensor and take the argmax
per pixel (channel ``k`` is ``classes[k]``, written to a mask PNG as ``class_ids[k]``). How an
image becomes inputs is stated in the metadata: ``mode`` ``resize`` (the whole image letterboxed
to S, like every task) or ``tiles`` (S x S tiles of the image at its own resolution times
``tile_scale``, overlapping by ``tile_overlap``, probabilities averaged where tiles overlap — the app's
sliding window, ``ml/segmentation_infer.py``). The palette travels too, so a mask coloured by
the snippet looks like the app's.

Validation (``segmentation_checks.py``): on the validation images letterboxed to S (both modes: the
network is the same for a tile and a letterboxed image), the largest logit difference on the same
input tensors, the share of pixels given PyTorch's class (same tensors, then through the file's
own metadata and the snippet's Pillow preprocessing), and the mIoU of both against the
letterboxed ground-truth masks (padding and ignore pixels excluded).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...core.errors import InvalidInput
from ...core.segmentation import IGNORE, background_channels, palette
from . import validation
from .segmentation_checks import Truth, compare_segmentation, mean_iou, pixel_agreement

#: the SegmentationSettings fields the file states (metadata key -> settings field, default)
GEOMETRY_KEYS = {"mode": ("mode", "resize"), "tile_size": ("crop_size", 256), "tile_overlap": ("overlap", 0.25),
                 "tile_scale": ("scale", 1.0), "tile_blend": ("blend", "gaussian")}


class SegmentationOutputs(nn.Module):
    """The exported network: the segmentation model's logits, as the one output ``logits``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        out = self.model(x)
        if isinstance(out, dict):  # a torchvision model not wrapped: its main head
            out = out["out"]
        return (out,)


def segmentation_settings(trained) -> dict:
    """The input geometry the model was trained and is evaluated with: mode, tile size (S), overlap,
    scale and blending, from the experiment's task settings (defaults for what they lack)."""
    from ...core.task_settings import settings_for

    try:
        settings = settings_for(trained.project.task, trained.config)
    except Exception:  # noqa: BLE001 - a checkpoint from before the settings existed: their defaults
        settings = None
    raw = dict(getattr(trained.config, "task_settings", None) or {})
    out = {}
    for key, (field, default) in GEOMETRY_KEYS.items():
        value = getattr(settings, field, None) if settings is not None else None
        out[key] = raw.get(field, default) if value is None else value
    out["tile_size"] = int(out["tile_size"])
    return out


def class_colours(trained) -> list[list[int]]:
    """RGB of each output channel, the palette of every view and PNG (``core/segmentation.py``)."""
    table = palette(trained.project.classes)
    return [[int(v) for v in table[k]] for k in range(len(trained.project.classes))]


class SegmentationExport:
    """Semantic segmentation: output ``logits`` (N x C x S x S); per-pixel agreement and mIoU."""

    task = "semantic_segmentation"
    output_names = ("logits",)
    metric_name = "mIoU"
    compared = "logit"
    #: the TorchScript-based ONNX exporter: the same graph's outputs (max difference from PyTorch 6e-8 for the
    #: Tiny U-Net, 4e-8 for LR-ASPP, 9e-6 for the smp U-Net with either exporter) in a third to a quarter of
    #: the dynamo exporter's time (Tiny U-Net 2.9 s against 10.8 s, LR-ASPP 8.2 s against 23.6 s at 128 px)
    onnx_exporter = "torchscript"
    fixed_batch = None
    float_layers = None
    agreement_words = "of pixels given the FP32 file's class"
    metadata_keys = {
        "classes": "JSON list of class names; channel k of `logits` is classes[k]",
        "class_ids": "JSON list of the project's class ids in the same order: the value written for channel k in "
                     "an index mask PNG (255 means ignore / unlabelled)",
        "palette": "JSON list of [R, G, B] per channel: the colour of each class in the app's coloured masks and "
                   "overlays (background classes black)",
        "background": "JSON list of the channels left transparent in overlays (classes named background, void...)",
        "mode": "`resize`: the whole image letterboxed to S; `tiles`: S x S tiles at the image's own resolution "
                "(times `tile_scale`), stitched (see \"Segmentation masks\" below)",
        "tile_size": "`tiles` mode: the side of a tile in pixels (the input size S)",
        "tile_overlap": "`tiles` mode: the fraction of a tile shared with its neighbour",
        "tile_scale": "`tiles` mode: the image is scaled by this before tiling (`1`: native resolution)",
        "tile_blend": "`tiles` mode: how overlapping tiles are averaged (`gaussian` or `linear` weight of each "
                      "tile's softmax probabilities, highest at its centre)",
    }
    json_keys = frozenset({"classes", "class_ids", "palette", "background"})
    float_keys = {"tile_size": "0", "tile_overlap": "0.25", "tile_scale": "1"}
    required_keys = ("classes", "class_ids")

    #: the validation keeps the logits of PyTorch, of the file and of the file via metadata (float32): at most
    #: this many bytes in each, so a 512 px model of 21 classes (22 MB an image) validates on 12 images, not 64
    VALIDATION_BYTES = 256 * 2**20

    def output_bytes(self, trained) -> int:
        """Bytes of one image's logits (C x S x S float32)."""
        size = segmentation_settings(trained)["tile_size"] if segmentation_settings(trained)["mode"] == "tiles" \
            else int(trained.preprocessing.input_size)
        return 4 * len(trained.project.classes) * size * size

    def validation_limit(self, trained) -> int:
        """How many validation images the logits of three runs fit in (at least 4)."""
        return max(4, self.VALIDATION_BYTES // max(1, self.output_bytes(trained)))

    def outputs(self, network) -> dict[str, str]:
        return {"logits": "N x C x S x S raw class scores per pixel of the input, channel k in the order of "
                          "`classes`; the predicted class of a pixel is the argmax over C"}

    def network(self, trained, op) -> nn.Module:
        """The logits module. A tiles-mode model's file runs tiles, so its input side S is the tile size:
        when the configuration's input size says otherwise, the export (and its validation inputs,
        metadata and checks, which the pipeline derives from ``trained.preprocessing`` afterwards) use
        the tile size."""
        geometry = segmentation_settings(trained)
        if geometry["mode"] == "tiles" and int(trained.config.input_size) != geometry["tile_size"]:
            trained.config = trained.config.model_copy(update={"input_size": geometry["tile_size"]})
        return SegmentationOutputs(trained.model).eval()

    @torch.no_grad()
    def reference(self, trained, network, images: np.ndarray, chunk: int = 4) -> dict[str, np.ndarray]:
        """The app's own logits (the checkpoint's network, what evaluation and prediction run), not the
        exported wrapper's: a wrapper that changed them would fail here."""
        app = SegmentationOutputs(trained.model).eval()
        parts = [app(torch.from_numpy(images[i:i + chunk]))[0].numpy() for i in range(0, len(images), chunk)]
        return {"logits": np.concatenate(parts) if parts else np.zeros((0, 0, 0, 0), dtype=np.float32)}

    def metadata(self, trained, op) -> dict[str, str]:
        geometry = segmentation_settings(trained)
        return {"classes": json.dumps(trained.class_names, ensure_ascii=False),
                "class_ids": json.dumps([c.id for c in trained.project.classes]),
                "palette": json.dumps(class_colours(trained)),
                "background": json.dumps(background_channels(trained.project.classes)),
                "mode": str(geometry["mode"]), "tile_size": str(geometry["tile_size"]),
                "tile_overlap": repr(float(geometry["tile_overlap"])),
                "tile_scale": repr(float(geometry["tile_scale"])), "tile_blend": str(geometry["tile_blend"])}

    def mismatches(self, meta: dict, trained, network, op) -> list[str]:
        expected = self.metadata(trained, op)
        bad = [k for k in self.json_keys if meta.get(k) != json.loads(expected[k])]
        bad += [k for k in self.float_keys if abs(float(meta.get(k, "nan")) - float(expected[k])) > 1e-9]
        return bad + [k for k in ("mode", "tile_blend") if meta.get(k) != expected[k]]

    def truth(self, samples, trained) -> list[Truth]:
        """Each sample's ground-truth mask letterboxed into the S x S input (channel indices, 255 where
        ignored or unknown) and where the image lies in it (the padding is never compared)."""
        size = int(trained.preprocessing.input_size)
        ids = [c.id for c in trained.project.classes]
        return [Truth.letterboxed(_mask_path(s), ids, size, trained.preprocessing.resize) for s in samples]

    def validate(self, ev: validation.Evidence, trained, network, op) -> validation.Validation:
        return compare_segmentation(precision=ev.precision, subsets=ev.subsets, reference=ev.reference["logits"],
                                    same_input=ev.same_input["logits"], file=ev.file, truth=list(ev.targets),
                                    class_count=len(trained.project.classes), metadata_mismatches=ev.mismatches)

    def score(self, main: np.ndarray, targets, trained, op) -> float:
        value = mean_iou(np.asarray(main).argmax(axis=1), list(targets), len(trained.project.classes))
        return float("nan") if value is None else value

    def agreement(self, main_fp32: np.ndarray, main: np.ndarray, trained, op) -> float | None:
        return pixel_agreement(np.asarray(main_fp32).argmax(axis=1), np.asarray(main).argmax(axis=1), None)

    def describe_outputs(self, meta: dict, path) -> None:
        names, ids = list(meta.get("classes") or []), list(meta.get("class_ids") or [])
        if len(names) != len(ids):
            raise InvalidInput(f"its metadata lists {len(names)} class names but {len(ids)} class ids", path=path)
        colours = meta.get("palette") or []
        meta["class_names"] = names
        meta["classes"] = [{"id": int(i), "name": str(n), **({"colour": list(colours[k])} if k < len(colours) else {})}
                           for k, (i, n) in enumerate(zip(ids, names, strict=True))]


def _mask_path(sample) -> Path | None:
    """The dataset mask of a validation sample (``record.mask`` is relative to the dataset root)."""
    rec = sample.record
    rel = getattr(rec, "mask", None) if rec is not None else None
    if not rel:
        return None
    root = Path(sample.path)
    for _ in Path(rec.file).parts:
        root = root.parent
    return root / rel


__all__ = ["GEOMETRY_KEYS", "IGNORE", "SegmentationExport", "SegmentationOutputs", "class_colours",
           "segmentation_settings"]
