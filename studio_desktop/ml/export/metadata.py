"""The metadata every exported file carries, so that a stranger holding only the file can use it.

Written into ONNX ``metadata_props``, OpenVINO ``rt_info`` (section ``studio``) and a
TorchScript archive's ``extra/metadata.json``: always the same flat string keys, documented in
README.md ("Exported models"): the keys of every file (:data:`KEYS`: task, preprocessing,
outputs, provenance) plus the task's own (``tasks.py``: classes and operating point, or targets,
units and normalisation). Structured values (lists, the operating point) are JSON text.
:func:`decode` turns the strings back into numbers and lists; :func:`preprocessing_of` rebuilds
the :class:`~studio_desktop.ml.preprocess.Preprocessing` the model was validated with.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from ... import __version__
from ...core.errors import InvalidInput
from .tasks import OPERATING_POINT_FIELDS, TASK_EXPORTS, task_export

#: a newer layout of the keys gets a new number; readers refuse what they do not know
METADATA_VERSION = "1"

#: key -> what it holds, for every file; each task adds its own keys (``tasks.py``,
#: ``metadata_keys``); the README table is checked against both by a test
KEYS: dict[str, str] = {
    "producer": "always `AI Studio`",
    "metadata_version": "layout of these keys (`1`)",
    "app_version": "version of AI Studio that exported the file",
    "task": " or ".join(f"`{t}`" for t in TASK_EXPORTS) + ": which of the task keys below the file carries",
    "input_name": "name of the input tensor (`input`)",
    "input_size": "S: the input is S x S pixels",
    "input_layout": "`NCHW` (batch, channel, height, width)",
    "input_dtype": "`float32`",
    "batch": "`dynamic` (any batch size) or the fixed batch size (`1`)",
    "exif_orientation": "`apply`: turn the image upright by its EXIF orientation first (the training images "
                        "were stored upright)",
    "colour_order": "`RGB`: channel 0 is red",
    "resize": "`letterbox`: scale so the long side is S (bilinear, antialiased), keep the aspect ratio, "
              "centre on an S x S canvas; `stretch`: scale both sides to S",
    "resize_fill": "JSON [R, G, B] 0-255 colour of the letterbox borders",
    "scale": "pixel values (0-255) are divided by this (`255`) before normalising",
    "mean": "JSON [R, G, B] subtracted after scaling",
    "std": "JSON [R, G, B] divided by after subtracting the mean",
    "preprocessing": "the same steps in one sentence",
    "outputs": "JSON {output name: meaning}, in the order the network returns them: classification `logits` "
               "(raw scores, N x C) and `probabilities` (softmax of logits / temperature, N x C); regression "
               "`values` (N x T, target units); object detection `detections` (N x K x 6: x1, y1, x2, y2, score, "
               "class)",
    "model": "architecture (e.g. `resnet18`)",
    "project": "project name",
    "experiment_id": "experiment id in the workspace",
    "experiment_name": "experiment name",
    "checkpoint_sha256": "sha256 of the checkpoint the file was exported from",
    "precision": "`fp32`, `fp16` or `int8`",
    "exported": "UTC date and time of the export (ISO 8601)",
}

#: keys of every file whose value is JSON text (each task adds its own: ``json_keys``)
JSON_KEYS = frozenset({"resize_fill", "mean", "std", "outputs"})


def keys_of(task: str) -> dict[str, str]:
    """Every key a file of ``task`` carries, with its meaning."""
    return {**KEYS, **task_export(task).metadata_keys}


def documented_keys() -> dict[str, str]:
    """Every key of every exportable task (what README "Exported models" documents)."""
    out = dict(KEYS)
    for entry in TASK_EXPORTS.values():
        out.update(entry.metadata_keys)
    return out


def build(trained, preprocessing, *, outputs: dict[str, str], operating_point=None, precision: str = "fp32",
          dynamic_batch: bool = True, input_name: str = "input") -> dict[str, str]:
    """The metadata of an export of ``trained`` (a :class:`~studio_desktop.ml.checkpoint.TrainedModel`)."""
    p = preprocessing.as_dict()
    task = trained.project.task
    exp = trained.experiment
    meta = {
        "producer": "AI Studio",
        "metadata_version": METADATA_VERSION,
        "app_version": __version__,
        "task": task,
        **task_export(task).metadata(trained, operating_point),
        "input_name": input_name,
        "input_size": str(p["input_size"]),
        "input_layout": p["layout"],
        "input_dtype": p["dtype"],
        "batch": "dynamic" if dynamic_batch else "1",
        "exif_orientation": "apply",
        "colour_order": p["colour_order"],
        "resize": p["resize"],
        "resize_fill": json.dumps(p["fill"]),
        "scale": "255",
        "mean": json.dumps(p["mean"]),
        "std": json.dumps(p["std"]),
        "preprocessing": preprocessing.describe(),
        "outputs": json.dumps(outputs),
        "model": trained.config.model,
        "project": trained.project.name,
        "experiment_id": exp.id if exp is not None else "",
        "experiment_name": exp.name if exp is not None else "",
        "checkpoint_sha256": trained.checkpoint_sha256,
        "precision": precision,
        "exported": datetime.now(UTC).replace(microsecond=0).isoformat(),
    }
    # the documented keys are exactly what is written
    assert set(meta) == set(keys_of(task)), f"metadata keys not as documented: {set(meta) ^ set(keys_of(task))}"
    return meta


def decode(raw: dict[str, str], path=None) -> dict[str, Any]:
    """Typed metadata from the file's strings; a file without AI Studio metadata is refused."""
    if raw.get("producer") != "AI Studio" or "input_size" not in raw:
        raise InvalidInput("was not exported by AI Studio (its metadata has no task, outputs or preprocessing); "
                           "export the model from the Export page or `studio export`", path=path)
    if raw.get("metadata_version", METADATA_VERSION) != METADATA_VERSION:
        raise InvalidInput(f"its metadata layout {raw.get('metadata_version')} is newer than this version "
                           f"reads ({METADATA_VERSION})", path=path, hint="update AI Studio")
    task = raw.get("task", "classification")
    entry = TASK_EXPORTS.get(task)
    if entry is None:
        raise InvalidInput(f"is a {task.replace('_', ' ')} model, which this version cannot run", path=path,
                           hint="update AI Studio")
    if missing := [k for k in entry.required_keys if k not in raw]:
        raise InvalidInput(f"its AI Studio metadata is incomplete (no {', '.join(missing)})", path=path)
    out: dict[str, Any] = dict(raw)
    try:
        for key in (JSON_KEYS | entry.json_keys) & set(raw):
            out[key] = json.loads(raw[key])
        out["input_size"] = int(raw["input_size"])
        out["scale"] = float(raw.get("scale", "255"))
        for key, default in entry.float_keys.items():
            out[key] = float(raw.get(key, default))
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"its AI Studio metadata is damaged ({type(exc).__name__}: {exc})", path=path) from None
    return out


def preprocessing_of(meta: dict[str, Any]):
    """The :class:`Preprocessing` stated by decoded metadata."""
    from ..preprocess import Preprocessing

    return Preprocessing(input_size=int(meta["input_size"]), resize=str(meta.get("resize", "letterbox")),
                         fill=tuple(int(v) for v in meta["resize_fill"]),
                         colour_order=str(meta.get("colour_order", "RGB")),
                         mean=tuple(float(v) for v in meta["mean"]), std=tuple(float(v) for v in meta["std"]),
                         layout=str(meta.get("input_layout", "NCHW")), dtype=str(meta.get("input_dtype", "float32")))


__all__ = ["JSON_KEYS", "KEYS", "METADATA_VERSION", "OPERATING_POINT_FIELDS", "build", "decode", "documented_keys",
           "keys_of", "preprocessing_of"]
