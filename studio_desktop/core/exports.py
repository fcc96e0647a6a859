"""Exported models on disk: ``experiments/<exp>/exports/<export-id>/`` (DESIGN §4, §10), without torch.

An export is a folder holding the model file(s), ``export.json`` (:class:`ExportRecord`: what
was exported, how it was checked and how fast it runs) and a usage snippet. The export job
(``ml/export``) builds it in ``.staging-<id>/`` and renames it into place only at the end,
with status ``ready`` (it passed its validation) or ``failed`` (it did not: the numbers say
why, and the file is never offered as ready). A cancelled or crashed export leaves only a
staging folder, which is not listed and is removed later (:meth:`ExportService.cleanup`).
The events and log of a running export live in ``.jobs/<id>/`` so the GUI can follow them
while the staging folder is renamed.

The Export page and ``studio export`` read everything they show from here; neither imports
torch or onnxruntime.
"""

from __future__ import annotations

import errno
import importlib.util
import json
import secrets
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from .errors import InvalidInput, NotFound, StoreError
from .procs import pid_alive
from .schemas import Stored, now
from .store import read_model
from .workspace import Workspace

RECORD_FILE = "export.json"
STAGING_PREFIX = ".staging-"
JOBS_FOLDER = ".jobs"
#: a staging folder without a live worker older than this is left over by a crash
STALE_STAGING_S = 600.0

PRECISIONS = ("fp32", "fp16", "int8")
PRECISION_HELP = {
    "fp32": "32-bit floats: the network exactly as trained (validated to within 1e-3 of PyTorch).",
    "fp16": "16-bit float weights: half the file size; on most CPUs no faster. Checked with looser limits.",
    "int8": "8-bit integers (ONNX Runtime quantization): about a quarter of the size and usually 2-4x "
            "faster on a CPU, at a small cost in accuracy, reported against FP32.",
}
#: tasks whose models this version can export (kept in step with ``ml/export`` by a test)
EXPORTABLE_TASKS = frozenset({"classification", "regression", "object_detection", "semantic_segmentation",
                              "anomaly_detection"})
#: tasks whose exports are offered in fewer precisions than the formats allow: {format: precisions},
#: and why (measured on the teaching detector, see the README)
TASK_PRECISIONS: dict[str, tuple[dict[str, tuple[str, ...]], str]] = {
    "object_detection": ({"onnx": ("fp32",), "torchscript": ("fp32",), "openvino": ("fp32", "fp16")},
                         "detectors export in FP32, and with FP16 weights in OpenVINO: ONNX Runtime's FP16 converter "
                         "breaks their graph, and INT8 moved their boxes too far (43 % of the detections lost)"),
    "anomaly_detection": ({"onnx": ("fp32",), "torchscript": ("fp32",), "openvino": ("fp32",)},
                          "anomaly models export in FP32: OpenVINO's FP16 weights round the threshold and colour "
                          "scale inside the graph too (PatchCore on MVTec hazelnuts: heat off by 2.4e-4, a score within "
                          "1e-4 of the threshold could change its verdict) for no speed gain, and INT8 moves the raw "
                          "scores, whose threshold sits between close values"),
}


#: tasks whose exported graphs run a fixed batch whatever the dynamic-batch option, and why
TASK_FIXED_BATCH: dict[str, str] = {
    "object_detection": "A detector's file runs one image per call (its per-image steps are unrolled when it is "
                        "traced); the usage snippet and studio predict feed images one at a time",
}


def precisions_for(task: str, fmt: str) -> tuple[str, ...]:
    """The precisions offered for a ``task`` model in format ``fmt``."""
    limited = TASK_PRECISIONS.get(task)
    allowed = limited[0].get(fmt, ("fp32",)) if limited else PRECISIONS
    return tuple(p for p in format_info(fmt).precisions if p in allowed)


def precision_note(task: str) -> str:
    """Why a task's models are offered fewer precisions ("" when they get every one)."""
    return TASK_PRECISIONS[task][1] if task in TASK_PRECISIONS else ""


@dataclass(frozen=True)
class FormatInfo:
    """What the GUI and the CLI need to know about an export format, without loading it."""

    name: str
    title: str
    #: the main model file's name in the export folder
    file_name: str
    #: the Python package that makes (and runs) it, and how to install it
    package: str
    install: str
    #: the runtime a usage snippet uses
    runtime: str
    precisions: tuple[str, ...]
    help: str
    #: other files that belong to the model (OpenVINO's weights)
    companions: tuple[str, ...] = ()
    #: the ONNX opset applies (the file is ONNX or converted from it)
    uses_opset: bool = True
    #: the file accepts any batch size whatever the dynamic-batch option (a traced graph)
    any_batch: bool = False


FORMATS: dict[str, FormatInfo] = {
    "onnx": FormatInfo(
        "onnx", "ONNX", "model.onnx", "onnxruntime", "pip install onnx onnxruntime", "onnxruntime",
        ("fp32", "fp16", "int8"),
        "The open standard: runs in ONNX Runtime (Python, C++, C#, Java, JavaScript, mobile) and "
        "converts to TensorRT, CoreML and others. The usual choice."),
    "torchscript": FormatInfo(
        "torchscript", "TorchScript", "model.pt", "torch", "pip install torch", "torch",
        ("fp32",),
        "PyTorch's own serialised network: loads in Python or C++ (LibTorch) with PyTorch, "
        "without this app's code. FP32 only.", uses_opset=False, any_batch=True),
    "openvino": FormatInfo(
        "openvino", "OpenVINO IR", "model.xml", "openvino", "pip install openvino", "openvino",
        ("fp32", "fp16", "int8"),
        "Intel's runtime (model.xml + model.bin), converted from the ONNX export: often the "
        "fastest on Intel CPUs and integrated GPUs.", companions=("model.bin",)),
}

DEFAULT_OPSET = 18
OPSETS = (17, 18, 19, 20, 21)
DEFAULT_VALIDATION_IMAGES = 64
DEFAULT_CALIBRATION_IMAGES = 64


def format_info(name: str) -> FormatInfo:
    try:
        return FORMATS[name]
    except KeyError:
        raise InvalidInput(f"unknown export format '{name}'; choose one of: {', '.join(FORMATS)}") from None


def missing_package(fmt: str) -> str | None:
    """Why ``fmt`` cannot be exported on this installation (its package is missing), or None.

    Asks the import system where the package would come from, which imports nothing."""
    info = format_info(fmt)
    needed = [info.package] + (["onnx", "onnxruntime"] if fmt in ("onnx", "openvino") else [])
    for pkg in dict.fromkeys(needed):
        try:
            found = importlib.util.find_spec(pkg) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return (f"{info.title} export needs the Python package '{pkg}', which is not installed "
                    f"in this installation ({info.install})")
    return None


def check_options(task: str, fmt: str, precision: str) -> None:
    """Refuse, with one line, a combination this version cannot export."""
    if task not in EXPORTABLE_TASKS:
        raise InvalidInput(f"exporting {task.replace('_', ' ')} models is not available in this version "
                           f"(exportable: {', '.join(sorted(EXPORTABLE_TASKS))})")
    info = format_info(fmt)
    if precision not in PRECISIONS:
        raise InvalidInput(f"unknown precision '{precision}'; choose one of: {', '.join(PRECISIONS)}")
    if precision not in info.precisions:
        raise InvalidInput(f"{info.title} export supports {', '.join(info.precisions)}, not {precision}; "
                           "use ONNX or OpenVINO for fp16 and int8")
    if precision not in precisions_for(task, fmt):
        raise InvalidInput(f"{precision} is not available for {task.replace('_', ' ')} models in {info.title}: "
                           f"{precision_note(task)}")


# ------------------------------------------------------------------ disk space

#: bytes an export may need besides the network's weights (graph, snippet, logs)
SPACE_MARGIN = 32 << 20


def estimate_bytes(checkpoint: Path, fmt: str, precision: str) -> int:
    """A generous estimate of what exporting a checkpoint writes (staging included).

    A checkpoint holds the weights plus the optimiser's state (about 2-3x the weights);
    an export writes the weights once per intermediate file: ONNX, then the converted or
    quantized copy."""
    size = checkpoint.stat().st_size if checkpoint.exists() else 0
    copies = 1 + (fmt == "openvino") + (precision != "fp32")
    return int(size * copies) + SPACE_MARGIN


def check_free_space(folder: Path, needed: int) -> None:
    """Refuse to start an export that cannot fit, naming the folder and the sizes."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < needed:
        raise InvalidInput(f"not enough free disk space for the export: {free / 1e6:.0f} MB free, about "
                           f"{needed / 1e6:.0f} MB needed", path=folder, hint="free some space and export again")


def disk_full_error(exc: OSError, folder: Path) -> InvalidInput | None:
    """The one-line message for a write that failed because the disk is full (else None)."""
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return InvalidInput("the disk is full: the export could not be written", path=folder,
                            hint="free some space and export again; nothing was kept")
    return None


#: protobuf's limit on one ONNX file (ONNX and OpenVINO exports go through one), and room for the graph
ONNX_LIMIT_BYTES = 2 * 1024 ** 3
ONNX_MARGIN_BYTES = 64 * 1024 ** 2


def onnx_size_warning(checkpoint: Path, fmt: str, coreset_ratio: float | None = None) -> str | None:
    """A warning before an ONNX or OpenVINO export whose weights would likely pass ONNX's 2 GB limit (a
    large PatchCore memory bank), judged from the checkpoint's size without loading it: with a coreset
    ratio, the ratio that would fit. None when it fits (the export job checks exactly before writing)."""
    if fmt not in ("onnx", "openvino") or not checkpoint.is_file():
        return None
    size = checkpoint.stat().st_size
    room = ONNX_LIMIT_BYTES - ONNX_MARGIN_BYTES
    if size <= room:
        return None
    text = (f"This checkpoint is {size / 1e9:.2f} GB and an ONNX file cannot pass {ONNX_LIMIT_BYTES / 1024 ** 3:.0f} "
            "GB, so this export will likely be refused. ")
    if coreset_ratio:
        return text + (f"Train again with a coreset ratio of about {coreset_ratio * room / size * 0.9:.3g} or less "
                       f"(now {coreset_ratio:.3g}: the memory bank shrinks in proportion), or export to TorchScript.")
    return text + "Export to TorchScript, which has no such limit, or choose a smaller model."


# ------------------------------------------------------------------ the record

class Check(BaseModel):
    """One line of the validation panel: a measured value against its limit."""

    model_config = ConfigDict(extra="ignore")
    name: str
    value: float | None
    limit: float
    #: "max": the value must not exceed the limit; "min": it must reach it
    kind: Literal["max", "min"]
    passed: bool
    help: str = ""
    #: "share": a fraction shown as a percentage; "": a plain number; any other text: the unit of
    #: the value and the limit (a regression target's, e.g. "px")
    unit: str = ""


class Validation(BaseModel):
    """The exported model run back on real images against PyTorch (DESIGN §10)."""

    model_config = ConfigDict(extra="ignore")
    passed: bool
    images: int
    #: how many images of each subset were used ("val", "test", or "train" when nothing else)
    subsets: dict[str, int] = Field(default_factory=dict)
    #: largest |exported - PyTorch| over every logit (classification) or every value in target
    #: units (regression), on the same input tensors
    max_abs_diff: float | None = None
    #: what max_abs_diff compares: "logit" or "value"
    compared: str = "logit"
    #: share of images whose decision (operating point applied) is the same as PyTorch's, the
    #: exported model being fed by the file's own metadata (Pillow + numpy preprocessing);
    #: None for a task that decides nothing (regression)
    agreement: float | None = None
    #: what ``agreement`` counts when it is not images decided alike (a detector: "of detections paired
    #: via metadata"); "" for decisions
    agreement_words: str = ""
    metric: str = ""
    metric_pytorch: float | None = None
    metric_exported: float | None = None
    checks: list[Check] = Field(default_factory=list)
    failures: list[str] = Field(default_factory=list)


class LatencyRow(BaseModel):
    model_config = ConfigDict(extra="ignore")
    runtime: str
    precision: str = "fp32"
    #: median time of one image (batch 1), milliseconds
    median_ms: float
    p90_ms: float | None = None
    #: images per second, running ``batch`` images per call
    throughput: float | None = None
    batch: int = 1
    #: PyTorch eager median / this median (>1: faster than PyTorch)
    speedup: float | None = None


class Latency(BaseModel):
    model_config = ConfigDict(extra="ignore")
    threads: int
    warmup: int
    runs: int
    input_size: int
    device: str = ""
    rows: list[LatencyRow] = Field(default_factory=list)


class PrecisionChange(BaseModel):
    """What FP16 or INT8 costs and gains against the same network exported in FP32, measured here."""

    model_config = ConfigDict(extra="ignore")
    baseline: str = "fp32"
    metric: str = ""
    metric_fp32: float | None = None
    metric_exported: float | None = None
    change: float | None = None
    agreement_with_fp32: float | None = None
    #: what ``agreement_with_fp32`` counts ("" : decisions; a detector: "of detections paired with FP32")
    agreement_words: str = ""
    latency_fp32_ms: float | None = None
    latency_ms: float | None = None
    speedup: float | None = None
    size_fp32: int | None = None
    size: int | None = None


class ExportRecord(Stored):
    """``export.json``: everything known about one export (format, checks, speed, provenance)."""

    KIND: ClassVar[str] = "export"
    SCHEMA_VERSION: ClassVar[int] = 1

    id: str
    project_id: str
    experiment_id: str
    experiment_name: str = ""
    model: str = ""
    task: str = "classification"
    created: datetime = Field(default_factory=now)
    status: Literal["ready", "failed"]
    error: str | None = None
    hint: str | None = None
    format: str
    precision: str = "fp32"
    #: int8 only: "static" (calibrated) or "dynamic"
    quantization: str | None = None
    calibration_images: int | None = None
    opset: int | None = None
    dynamic_batch: bool = False
    #: how the file was produced: "torch.onnx dynamo", "torch.onnx torchscript", "torch.jit.trace"...
    exporter: str = ""
    file: str
    files: list[str] = Field(default_factory=list)
    file_size: int = 0
    sha256: str = ""
    input_name: str = "input"
    #: [batch, 3, size, size]; batch is "N" when any batch size is accepted
    input_shape: list[Any] = Field(default_factory=list)
    outputs: dict[str, str] = Field(default_factory=dict)
    #: {"which": "best", "file": ".../best.ckpt", "sha256": "..."}
    checkpoint: dict[str, Any] = Field(default_factory=dict)
    #: the metadata embedded in the model file, decoded (see README "Exported models")
    metadata: dict[str, Any] = Field(default_factory=dict)
    validation: Validation | None = None
    latency: Latency | None = None
    precision_change: PrecisionChange | None = None
    #: seconds per phase: load, export, check, validate, latency, total
    timings: dict[str, float] = Field(default_factory=dict)
    snippet: str | None = None
    environment: dict[str, Any] = Field(default_factory=dict)
    app_version: str = ""

    @property
    def ready(self) -> bool:
        return self.status == "ready"

    @property
    def title(self) -> str:
        info = FORMATS.get(self.format)
        text = f"{info.title if info else self.format} {self.precision.upper()}"
        if self.quantization:
            text += f" ({self.quantization})"
        return text


def new_export_id(fmt: str, precision: str) -> str:
    """Sortable, readable and unique: ``20260101-120000-onnx-fp32-1a2b``."""
    return f"{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}-{fmt}-{precision}-{secrets.token_hex(2)}"


def _valid_id(export_id: str) -> str:
    if not export_id or "/" in export_id or "\\" in export_id or export_id.startswith(".") or ".." in export_id:
        raise InvalidInput(f"'{export_id}' is not an export id")
    return export_id


class ExportService:
    """The exports of one experiment."""

    def __init__(self, ws: Workspace, project_id: str, experiment_id: str):
        self.ws = ws
        self.project_id = project_id
        self.experiment_id = experiment_id
        self.root = ws.project_dir(project_id) / "experiments" / experiment_id / "exports"
        #: export folders that could not be read by the last :meth:`list` (folder, reason)
        self.problems: list[tuple[str, str]] = []

    # ------------------------------------------------------------- paths
    def folder(self, export_id: str) -> Path:
        return self.root / _valid_id(export_id)

    def staging(self, export_id: str) -> Path:
        return self.root / f"{STAGING_PREFIX}{_valid_id(export_id)}"

    def job_folder(self, export_id: str) -> Path:
        """Where a running export's events.jsonl, log and STOP control file live."""
        return self.root / JOBS_FOLDER / _valid_id(export_id)

    def model_path(self, record: ExportRecord) -> Path:
        return self.folder(record.id) / record.file

    # ----------------------------------------------------------- reading
    def list(self) -> list[ExportRecord]:
        """Finished exports (ready and failed), newest first; unreadable ones go to :attr:`problems`."""
        self.problems = []
        out: list[ExportRecord] = []
        if not self.root.is_dir():
            return out
        for folder in self.root.iterdir():
            if not folder.is_dir() or folder.name.startswith("."):
                continue
            try:
                out.append(read_model(folder / RECORD_FILE, ExportRecord))
            except StoreError as exc:
                self.problems.append((str(folder), str(exc)))
        out.sort(key=lambda r: (r.created, r.id), reverse=True)
        return out

    def ready(self) -> list[ExportRecord]:
        return [r for r in self.list() if r.ready]

    def get(self, export_id: str) -> ExportRecord:
        path = self.folder(export_id) / RECORD_FILE
        if not path.exists():
            raise NotFound(f"no export '{export_id}' in this experiment")
        return read_model(path, ExportRecord)

    def running(self) -> list[str]:
        """Ids of exports being built now (a staging folder whose worker is alive)."""
        if not self.root.is_dir():
            return []
        return [p.name.removeprefix(STAGING_PREFIX) for p in self.root.glob(f"{STAGING_PREFIX}*")
                if self._worker_alive(p.name.removeprefix(STAGING_PREFIX))]

    def _worker_alive(self, export_id: str) -> bool:
        return pid_alive(worker_pid(self.job_folder(export_id) / "events.jsonl"))

    # ----------------------------------------------------------- writing
    def delete(self, export_id: str) -> None:
        """Remove an export (any status) and its job files; the folder goes first by rename, so a
        half-deleted export is never listed."""
        self.ws.ensure_writable()
        folder = self.folder(export_id)
        if not folder.exists():
            raise NotFound(f"no export '{export_id}' in this experiment")
        trash = self.root / f".deleting-{export_id}-{secrets.token_hex(2)}"
        folder.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)
        shutil.rmtree(self.job_folder(export_id), ignore_errors=True)

    def cleanup(self, stale_s: float = STALE_STAGING_S) -> list[str]:
        """Remove what crashed, killed or cancelled exports left behind (staging folders without a
        live worker, half-deleted folders, job folders of exports that wrote nothing, once older
        than ``stale_s``); returns the names removed."""
        removed = []
        if not self.root.is_dir():
            return removed
        for p in self.root.iterdir():
            if p.name.startswith(".deleting-"):
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p.name)
            elif p.name.startswith(STAGING_PREFIX):
                export_id = p.name.removeprefix(STAGING_PREFIX)
                if self._worker_alive(export_id):
                    continue
                try:
                    age = time.time() - p.stat().st_mtime
                except OSError:
                    continue
                has_pid = worker_pid(self.job_folder(export_id) / "events.jsonl") is not None
                if has_pid or age > stale_s:
                    shutil.rmtree(p, ignore_errors=True)
                    removed.append(p.name)
        # the events and log of exports that left nothing (stopped, failed before writing) once old
        jobs = self.root / JOBS_FOLDER
        if jobs.is_dir():
            for p in jobs.iterdir():
                if (self.root / p.name).exists() or (self.root / f"{STAGING_PREFIX}{p.name}").exists() \
                        or self._worker_alive(p.name):
                    continue
                try:
                    old = time.time() - p.stat().st_mtime > stale_s
                except OSError:
                    continue
                if old:
                    shutil.rmtree(p, ignore_errors=True)
                    removed.append(f"{JOBS_FOLDER}/{p.name}")
        return removed


def worker_pid(events: Path) -> int | None:
    """The pid in the last ``started`` event of a job's events file (None when there is none)."""
    try:
        lines = events.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and obj.get("event") == "started" and obj.get("pid"):
            return int(obj["pid"])
    return None


__all__ = ["Check", "DEFAULT_CALIBRATION_IMAGES", "DEFAULT_OPSET", "DEFAULT_VALIDATION_IMAGES", "EXPORTABLE_TASKS",
           "ExportRecord", "ExportService", "FORMATS", "FormatInfo", "Latency", "LatencyRow", "OPSETS",
           "PRECISIONS", "PRECISION_HELP", "PrecisionChange", "RECORD_FILE", "Validation", "check_free_space",
           "TASK_FIXED_BATCH", "TASK_PRECISIONS", "check_options", "disk_full_error", "estimate_bytes", "format_info", "missing_package",
           "ONNX_LIMIT_BYTES", "onnx_size_warning",
           "new_export_id", "precision_note", "precisions_for", "worker_pid"]
