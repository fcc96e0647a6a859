"""What the Export page asks of the workspace, without Qt (testable on its own).

Which experiments can be exported (a checkpoint on disk, not training now), which formats and
precisions this installation offers and why some are not, the worker's arguments, the earlier
exports and their files. Everything shown about an export comes from its ``export.json``; the
page never loads a model (no torch, no onnxruntime in the GUI process).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from ....core.errors import InvalidInput, StudioError
from ....core.experiments import Experiment, ExperimentService
from ....core.export_snippet import SNIPPET_FILE, with_model_file
from ....core.exports import (
    DEFAULT_CALIBRATION_IMAGES,
    DEFAULT_OPSET,
    DEFAULT_VALIDATION_IMAGES,
    EXPORTABLE_TASKS,
    FORMATS,
    ExportRecord,
    ExportService,
    FormatInfo,
    check_options,
    missing_package,
    new_export_id,
    onnx_size_warning,
)
from ....core.schemas import Project
from ....core.workspace import Workspace

#: export status -> (badge colour, meaning)
STATUS_STYLE = {
    "ready": ("#2ca02c", "passed its validation: ready to use"),
    "failed": ("#d62728", "did not pass its validation: kept with its numbers, not offered for use"),
}


@dataclass
class ExportSettings:
    """The form's choices (what ``studio export`` takes as options)."""

    checkpoint: str = "best"
    format: str = "onnx"
    precision: str = "fp32"
    opset: int = DEFAULT_OPSET
    dynamic_batch: bool = False
    quantization: str = "static"
    calibration_images: int = DEFAULT_CALIBRATION_IMAGES
    validation_images: int = DEFAULT_VALIDATION_IMAGES


class ExportController:
    """The Export page's view of one project."""

    def __init__(self, workspace: Workspace, project: Project):
        self.ws = workspace
        self.project = project
        self.service = ExperimentService(workspace, project.id)

    @property
    def exportable(self) -> bool:
        return self.project.task in EXPORTABLE_TASKS

    # -------------------------------------------------------------- experiments
    def experiments(self) -> list[Experiment]:
        """Experiments with a checkpoint on disk that are not training now."""
        return [e for e in self.service.list() if e.status != "running" and self.service.checkpoints(e.id)]

    def checkpoints(self, exp_id: str) -> list[str]:
        return list(self.service.checkpoints(exp_id))

    def exports_service(self, exp_id: str) -> ExportService:
        return ExportService(self.ws, self.project.id, exp_id)

    def exports(self, exp_id: str) -> list[ExportRecord]:
        return self.exports_service(exp_id).list()

    def headline(self, exp_id: str) -> str:
        """The list's column: "2 ready, 1 failed" or nothing."""
        records = self.exports(exp_id)
        ready = sum(r.ready for r in records)
        failed = len(records) - ready
        parts = ([f"{ready} ready"] if ready else []) + ([f"{failed} failed"] if failed else [])
        return ", ".join(parts)

    # ------------------------------------------------------------------ formats
    def formats(self) -> list[tuple[FormatInfo, str | None]]:
        """Every format with the reason it cannot be used here (None: available)."""
        return [(info, missing_package(name)) for name, info in FORMATS.items()]

    @staticmethod
    def precisions(fmt: str) -> tuple[str, ...]:
        return FORMATS[fmt].precisions

    # --------------------------------------------------------------------- jobs
    def problem(self, exp: Experiment, s: ExportSettings) -> str | None:
        """Why this export cannot start (one line), or None."""
        try:
            check_options(self.project.task, s.format, s.precision)
        except InvalidInput as exc:
            return str(exc)
        if (why := missing_package(s.format)) is not None:
            return why
        if s.checkpoint not in self.checkpoints(exp.id):
            return f"experiment '{exp.name}' has no {s.checkpoint} checkpoint"
        return None

    def warning(self, exp: Experiment, s: ExportSettings) -> str | None:
        """A warning about an export that may start but will likely be refused (one that would pass ONNX's
        2 GB limit: a large PatchCore memory bank; with the smaller coreset ratio that would fit), or None."""
        svc = ExperimentService(self.ws, self.project.id)
        ratio = (exp.config.task_settings or {}).get("coreset_ratio") if exp.config is not None else None
        return onnx_size_warning(svc.checkpoint(exp.id, s.checkpoint), s.format,
                                 float(ratio) if isinstance(ratio, (int, float)) else None)

    @staticmethod
    def new_id(s: ExportSettings) -> str:
        return new_export_id(s.format, s.precision)

    def job_folder(self, exp_id: str, export_id: str) -> Path:
        return self.exports_service(exp_id).job_folder(export_id)

    def worker_args(self, exp: Experiment, s: ExportSettings, export_id: str) -> list[str]:
        """Arguments of ``studio worker export`` for these settings."""
        args = [self.project.id, exp.id, "--checkpoint", s.checkpoint, "--format", s.format,
                "--precision", s.precision, "--opset", str(int(s.opset)),
                "--validation-images", str(int(s.validation_images)), "--export-id", export_id]
        if s.dynamic_batch:
            args.append("--dynamic-batch")
        if s.precision == "int8":
            args += ["--quantization", s.quantization, "--calibration-images", str(int(s.calibration_images))]
        return args

    # ------------------------------------------------------------------ exports
    def folder(self, exp_id: str, record: ExportRecord) -> Path:
        return self.exports_service(exp_id).folder(record.id)

    def snippet_text(self, exp_id: str, record: ExportRecord) -> str:
        if not record.snippet:
            return ""
        try:
            return (self.folder(exp_id, record) / record.snippet).read_text(encoding="utf-8")
        except OSError as exc:
            return f"# the usage snippet could not be read: {exc}"

    def delete(self, exp_id: str, export_id: str) -> None:
        self.exports_service(exp_id).delete(export_id)

    def save_as(self, exp_id: str, record: ExportRecord, target: Path) -> list[Path]:
        """Copy the model file to ``target`` (its companions renamed alike: OpenVINO's .bin) with the
        usage snippet beside it pointing at the new name; returns the files written."""
        if not record.ready:
            raise InvalidInput("only an export that passed its validation can be saved elsewhere")
        src_folder = self.folder(exp_id, record)
        target = Path(target)
        if target.suffix.lower() != Path(record.file).suffix.lower():
            target = target.with_name(target.name + Path(record.file).suffix)
        written = []
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src_folder / record.file, target)
            written.append(target)
            for companion in FORMATS[record.format].companions:
                dst = target.with_suffix(Path(companion).suffix)
                shutil.copyfile(src_folder / companion, dst)
                written.append(dst)
            if record.snippet:
                snippet = target.parent / SNIPPET_FILE
                if snippet.exists() and snippet not in written:
                    snippet = target.with_name(f"{target.stem}_{SNIPPET_FILE}")
                snippet.write_text(with_model_file(self.snippet_text(exp_id, record), target.name), encoding="utf-8")
                written.append(snippet)
        except OSError as exc:
            raise InvalidInput(f"could not save the export: {exc.strerror or exc}", path=target) from None
        return written

    def running(self, exp_id: str) -> list[str]:
        """Exports of this experiment being built by a live worker (started elsewhere too)."""
        try:
            return self.exports_service(exp_id).running()
        except (OSError, StudioError):
            return []


__all__ = ["ExportController", "ExportSettings", "STATUS_STYLE"]
