"""Running an exported file back: what prediction (``ml/predict.py``) and the tests use.

``load_exported(path)`` accepts the model file (``.onnx``, TorchScript ``.pt``, OpenVINO
``.xml``) or its export folder (with ``export.json``) and returns an :class:`ExportedModel`
whose :meth:`~ExportedModel.run` gives the task's main output (:attr:`~ExportedModel.output`):
a classifier's logits with the same meaning as the PyTorch model's, a regression's values in
target units (the de-normalisation is inside the file), a detector's ``detections`` rows (N x K x 6,
boxes in input pixels; ``core/evaluation/detection_predictions.py`` maps them to the image). Everything needed to feed it comes from the file's own metadata, so a file copied
out of the workspace works the same. A missing, damaged or foreign file raises
:class:`~studio_desktop.core.errors.InvalidInput` naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...core.errors import InvalidInput, StudioError
from ...core.evaluation.operating_point import OperatingPoint
from ...core.exports import RECORD_FILE, ExportRecord, missing_package
from ...core.store import read_model
from ..preprocess import Preprocessing
from . import metadata as meta_mod
from .base import Runner
from .registry import FORMATS, format_of_file
from .tasks import task_export


@dataclass
class ExportedModel:
    """An exported file, loaded, with its metadata decoded."""

    path: Path
    format: str
    #: the file's metadata decoded (README "Exported models"): task, input_size, resize, mean/std,
    #: operating_point (dict or None), experiment_id...; here ``classes`` lists the main output's
    #: columns in order, as prediction reads them: a classifier's [{"id", "name"}] (the file stores
    #: the names in ``classes`` and the ids in ``class_ids``), a regression's targets
    #: [{"id": column, "name", "unit"}] (from ``targets`` and ``units``); ``class_names`` the names alone
    metadata: dict[str, Any]
    preprocessing: Preprocessing
    runner: Runner = field(repr=False)
    #: export.json when the file sits in its export folder (None for a file copied elsewhere)
    record: ExportRecord | None = None
    #: the output :meth:`run` returns ("logits", "values")
    output: str = "logits"

    @property
    def task(self) -> str:
        return str(self.metadata.get("task", ""))

    @property
    def class_names(self) -> list[str]:
        return list(self.metadata.get("class_names") or [])

    @property
    def class_ids(self) -> list[int]:
        return [int(i) for i in self.metadata.get("class_ids") or []]

    @property
    def operating_point(self) -> OperatingPoint | None:
        """The decision rule the file carries (None: argmax)."""
        op = self.metadata.get("operating_point")
        return OperatingPoint.model_validate(op) if isinstance(op, dict) else None

    @property
    def experiment_id(self) -> str:
        return str(self.metadata.get("experiment_id", ""))

    def run(self, batch: np.ndarray) -> np.ndarray:
        """The main output (N, C) of a preprocessed batch (N, 3, S, S) float32: logits, or values in
        target units; a file exported with a fixed batch of 1 runs the images one at a time."""
        batch = np.asarray(batch, dtype=np.float32)
        if batch.ndim != 4:
            raise InvalidInput(f"expected a batch (N, 3, S, S), got shape {tuple(batch.shape)}", path=self.path)
        if len(batch) == 0:
            return np.zeros((0, len(self.class_names)), dtype=np.float32)
        return self.runner.run_all(batch)[self.output]


def _model_file(path: Path) -> tuple[Path, ExportRecord | None]:
    """The model file for ``path`` (a file, or an export folder), and export.json when there is one."""
    if path.is_dir():
        record_path = path / RECORD_FILE
        if not record_path.is_file():
            raise InvalidInput("is not an export folder (it has no export.json)", path=path)
        record = read_model(record_path, ExportRecord)
        return path / record.file, record
    if not path.exists():
        raise InvalidInput("file not found", path=path)
    record_path = path.parent / RECORD_FILE
    record = None
    if record_path.is_file():
        try:
            record = read_model(record_path, ExportRecord)
        except StudioError:
            record = None  # a model file beside an unrelated or damaged export.json: judge the file itself
        if record is not None and record.file != path.name:
            record = None
    return path, record


def load_exported(path: str | Path, threads: int = 1) -> ExportedModel:
    """An exported model ready to run (see the module docstring)."""
    model_path, record = _model_file(Path(path).expanduser())
    if record is not None and not record.ready:
        raise InvalidInput(f"this export failed its validation and is not offered for use ({record.error})",
                           path=model_path, hint="export the model again")
    fmt = record.format if record is not None else format_of_file(model_path)
    if fmt is None or fmt not in FORMATS:
        raise InvalidInput("is not an exported model (expected .onnx, .pt (TorchScript) or .xml (OpenVINO))",
                           path=model_path)
    if not model_path.is_file():
        raise InvalidInput("the exported model file is missing", path=model_path)
    if (why := missing_package(fmt)) is not None:
        raise InvalidInput(why, path=model_path)
    module = FORMATS[fmt]
    meta = meta_mod.decode(module.read_metadata(model_path), model_path)
    task = task_export(meta.setdefault("task", "classification"))
    task.describe_outputs(meta, model_path)
    runner = module.load(model_path, threads)
    return ExportedModel(path=model_path, format=fmt, metadata=meta, preprocessing=meta_mod.preprocessing_of(meta),
                         runner=runner, record=record, output=task.output_names[0])


__all__ = ["ExportedModel", "load_exported"]
