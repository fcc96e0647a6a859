"""Segmentation of new images, whole, at their own resolution: a checkpoint and an exported file alike.

``ml/predict.py`` predicts most tasks as batches of letterboxed inputs; a segmentation model must
answer for every pixel of the ORIGINAL image (a 4000 px photo in tiles mode is never shrunk to the
input size), so prediction goes image by image through the one inference function the evaluation
also uses, ``segmentation_infer.predict_probabilities(run, image, pre, settings)``, with ``run``
either the checkpoint's network or the exported file (``ml/predict.py`` ``WHOLE_IMAGE_TASKS``). The
settings (resize or tiles, tile size, overlap, scale, blending) come from the experiment's
configuration, or from the exported file's metadata — so both give the same masks.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..core.task_settings import SegmentationSettings, settings_for

#: an image (H, W, 3 uint8, EXIF orientation applied) -> the decoder's arrays for that one image
ImageRunner = Callable[[np.ndarray], dict[str, np.ndarray]]


def settings_of_metadata(meta: dict) -> SegmentationSettings:
    """The settings an exported file states (its ``mode`` and ``tile_*`` keys; defaults for what it lacks)."""
    fields = {"mode": meta.get("mode"), "crop_size": meta.get("tile_size"), "overlap": meta.get("tile_overlap"),
              "scale": meta.get("tile_scale"), "blend": meta.get("tile_blend")}
    values = {k: v for k, v in fields.items() if v not in (None, "", 0, 0.0)}
    if "crop_size" in values:
        values["crop_size"] = int(values["crop_size"])
    return SegmentationSettings(**values)


def _runner(run: Callable[[np.ndarray], np.ndarray], pre, settings) -> ImageRunner:
    from .segmentation_infer import predict_probabilities

    def predict(image: np.ndarray) -> dict[str, np.ndarray]:
        probs = predict_probabilities(run, image, pre, settings)
        return {"probabilities": np.asarray(probs, dtype=np.float32)[None]}

    return predict


def checkpoint_runner(trained) -> ImageRunner:
    """Prediction with a checkpoint's network (on the device it was loaded to)."""
    model = trained.model
    device = next((p.device for p in model.parameters()), torch.device("cpu"))

    @torch.inference_mode()
    def run(batch: np.ndarray) -> np.ndarray:
        out = model(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(device))
        if isinstance(out, dict):
            out = out["out"]
        return out.float().cpu().numpy()

    return _runner(run, trained.preprocessing, settings_for(trained.project.task, trained.config))


def export_runner(exported) -> ImageRunner:
    """Prediction with an exported file (``runtime.ExportedModel``): its logits, its metadata's geometry."""
    return _runner(exported.run, exported.preprocessing, settings_of_metadata(exported.metadata))


__all__ = ["ImageRunner", "checkpoint_runner", "export_runner", "settings_of_metadata"]
