"""One export, start to finish: checkpoint -> file -> checks -> speed -> snippet -> ``export.json``.

The same steps for every format (the format module only writes and loads its file). Used by
``studio worker export`` (started by the Export page) and ``studio export`` in the foreground.
Everything is written into ``exports/.staging-<id>/`` and renamed to ``exports/<id>/`` only at
the end, with status ``ready`` or ``failed`` (validation not passed, numbers kept); an error or
a stop removes the staging folder, so nothing half-written is ever listed.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ... import __version__
from ...core.errors import InvalidInput, StudioError
from ...core.evaluation.operating_point import load_operating_point
from ...core.experiments import ExperimentService
from ...core.exports import (
    DEFAULT_CALIBRATION_IMAGES,
    DEFAULT_OPSET,
    DEFAULT_VALIDATION_IMAGES,
    RECORD_FILE,
    ExportRecord,
    ExportService,
    Latency,
    PrecisionChange,
    Validation,
    check_free_space,
    check_options,
    disk_full_error,
    estimate_bytes,
    missing_package,
    new_export_id,
)
from ...core.exports import (
    FORMATS as FORMAT_INFO,
)
from ...core.procs import StopFlag
from ...core.projects import ProjectService
from ...core.protocol import Emitter
from ...core.store import write_model
from ..checkpoint import file_sha256, load_trained
from . import latency, metadata, samples, snippet, validation
from .base import ExportOptions, first_line
from .registry import get_format
from .tasks import task_export


@dataclass
class ExportRequest:
    """What to export and how (the CLI's and the worker's arguments)."""

    project: str
    experiment: str
    checkpoint: str = "best"
    format: str = "onnx"
    precision: str = "fp32"
    opset: int = DEFAULT_OPSET
    dynamic_batch: bool = False
    quantization: str = "static"
    calibration_images: int = DEFAULT_CALIBRATION_IMAGES
    validation_images: int = DEFAULT_VALIDATION_IMAGES
    #: threads for latency and validation runs (None: up to 4, the cores of this machine)
    threads: int | None = None
    latency_runs: int = 30
    latency_warmup: int = 5
    #: the throughput loop runs at least this long (sub-millisecond calls are noisy)
    latency_min_seconds: float = 0.25
    export_id: str | None = None


@dataclass
class Outcome:
    status: str  # ready | failed | stopped
    exit_code: int
    record: ExportRecord | None = None
    folder: Path | None = None
    error: str | None = None
    hint: str | None = None
    summary: dict = field(default_factory=dict)


class Cancelled(Exception):
    """A stop was requested: the export is abandoned and its staging folder removed."""


def _release_native() -> None:
    """Free released runtimes now and repair the signal stack OpenVINO may leave dangling, so that
    a Ctrl+C or SIGTERM later in this process stops it gracefully (ml/native.py)."""
    import gc

    from ..native import repair_signal_stack

    gc.collect()
    repair_signal_stack()


def default_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _versions() -> dict:
    out = {"python": sys.version.split()[0], "torch": torch.__version__, "platform": platform.platform()}
    for pkg in ("onnx", "onnxruntime", "openvino"):
        mod = sys.modules.get(pkg)
        if mod is not None:
            out[pkg] = str(getattr(mod, "__version__", ""))
    return out


class ExportJob:
    """One export run (see the module docstring)."""

    def __init__(self, ws, request: ExportRequest, emitter_factory=None, *, stop: StopFlag | None = None):
        self.ws = ws
        self.req = request
        self.project = ProjectService(ws).get(request.project)
        self.experiment = ExperimentService(ws, self.project.id).get(request.experiment)
        self.service = ExportService(ws, self.project.id, self.experiment.id)
        self.export_id = request.export_id or new_export_id(request.format, request.precision)
        self.job_folder = self.service.job_folder(self.export_id)
        self.job_folder.mkdir(parents=True, exist_ok=True)
        self.staging = self.service.staging(self.export_id)
        self.final = self.service.folder(self.export_id)
        factory = emitter_factory or (lambda events, log: Emitter(events, log))
        self.emitter: Emitter = factory(self.job_folder / "events.jsonl", self.job_folder / "export.log")
        self.stop = stop or StopFlag()
        self.stop.folder = self.job_folder
        self.threads = request.threads or default_threads()
        self._step = 0
        self._total = 1
        self.timings: dict[str, float] = {}

    # ------------------------------------------------------------------ helpers
    def log(self, message: str, level: str = "info") -> None:
        if level == "debug":
            self.emitter.write_log(message, level)
        else:
            self.emitter.log(message, level)

    def progress(self, message: str, advance: int = 1) -> None:
        if self.stop.requested():
            raise Cancelled(self.stop.reason)
        self._step = min(self._total, self._step + advance)
        self.emitter.emit("progress", step=self._step, total=self._total, eta_s=None, message=message)

    def _phase(self, name: str, t0: float) -> None:
        self.timings[name] = round(time.monotonic() - t0, 3)

    # ------------------------------------------------------------------ run
    def run(self) -> Outcome:
        t0 = time.monotonic()
        try:
            return self._run(t0)
        except Cancelled as exc:
            self._discard()
            self.log(f"export stopped ({exc}); nothing was kept")
            self.emitter.emit("stopped", reason=str(exc) or "stop requested", export_id=self.export_id)
            return Outcome("stopped", 0)
        except StudioError as exc:
            return self._fail(exc.reason, exc.hint)
        except OSError as exc:
            self._discard()
            err = disk_full_error(exc, self.service.root)
            if err is not None:
                return self._fail(err.reason, err.hint)
            self.emitter.write_log(traceback.format_exc(), "error")
            return self._fail(f"cannot write the export: {first_line(exc)}", "see export.log in the job folder")
        except Exception as exc:  # noqa: BLE001 - a worker reports every failure as an event
            self.emitter.write_log(traceback.format_exc(), "error")
            return self._fail(f"{type(exc).__name__}: {first_line(exc)}",
                              f"see {self.job_folder / 'export.log'} for details")
        finally:
            self.emitter.close()

    def _fail(self, error: str, hint: str | None) -> Outcome:
        self._discard()
        self.emitter.emit("failed", error=error, hint=hint, export_id=self.export_id)
        return Outcome("failed", 1, error=error, hint=hint)

    def _discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)

    def _run(self, t0: float) -> Outcome:
        req = self.req
        check_options(self.project.task, req.format, req.precision)
        if (why := missing_package(req.format)) is not None:
            raise InvalidInput(why)
        if req.precision == "int8" and req.quantization not in ("static", "dynamic"):
            raise InvalidInput(f"unknown quantization '{req.quantization}'; choose static or dynamic")
        self.service.cleanup()
        exp_svc = ExperimentService(self.ws, self.project.id)
        ckpt = exp_svc.checkpoint(self.experiment.id, req.checkpoint) if req.checkpoint in ("best", "last") \
            else Path(req.checkpoint)
        check_free_space(self.service.root, estimate_bytes(ckpt, req.format, req.precision))
        self._total = 5 + max(1, req.validation_images)
        self.emitter.emit("started", experiment=self.experiment.id, name=self.experiment.name, pid=os.getpid(),
                          export_id=self.export_id, format=req.format, precision=req.precision)
        fmt = get_format(req.format)
        info = FORMAT_INFO[req.format]

        t = time.monotonic()
        self.progress("loading the checkpoint")
        trained = load_trained(self.ws, self.project.id, self.experiment.id, req.checkpoint)
        task = task_export(trained.project.task)
        op = load_operating_point(exp_svc.folder(self.experiment.id) / "evaluation")
        network = task.network(trained, op)
        pre = trained.preprocessing
        wanted = req.validation_images
        limit = getattr(task, "validation_limit", None)  # a task whose outputs are large per image caps them
        if limit is not None and (cap := limit(trained)) < wanted:
            self.log(f"validating on at most {cap} images (not {wanted}): each one's outputs take "
                     f"{task.output_bytes(trained) / 2**20:.0f} MB, kept three times for the comparisons")
            wanted = cap
        checks, calib = samples.choose(self.ws, trained, validation=wanted, calibration=req.calibration_images)
        if not checks:
            raise InvalidInput(f"experiment '{self.experiment.name}' has no labelled images to validate the export on")
        self._total = 5 + len(checks)
        images = np.stack([pre.tensor(s.path).numpy() for s in checks]).astype(np.float32)
        self._phase("load_s", t)

        t = time.monotonic()
        self.progress(f"exporting to {info.title} ({req.precision})")
        self.staging.mkdir(parents=True, exist_ok=False)
        scratch = self.staging / ".scratch"
        scratch.mkdir()
        dynamic = req.dynamic_batch or fmt.ANY_BATCH
        if task.fixed_batch is not None and dynamic:
            dynamic = False
            if req.dynamic_batch:
                self.log(f"a {trained.project.task.replace('_', ' ')} model exports with a fixed batch of "
                         f"{task.fixed_batch} (its per-image steps are unrolled when traced): dynamic batch is off",
                         "warning")
        meta = metadata.build(trained, pre, outputs=task.outputs(network), operating_point=op,
                              precision=req.precision, dynamic_batch=dynamic)
        options = ExportOptions(precision=req.precision, opset=req.opset, dynamic_batch=dynamic,
                                quantization=req.quantization, metadata=meta, output_names=task.output_names,
                                float_layers=task.float_layers, scratch=scratch, exporter=task.onnx_exporter,
                                calibration=lambda: (pre.tensor(s.path).numpy()[None] for s in calib))
        reuse = self._reusable_onnx(trained, meta, task)
        if reuse is not None:
            options.onnx_source, options.reused_from = reuse
        exported = fmt.export(network, torch.from_numpy(images[:2]), options, self.staging, self.log)
        self._phase("export_s", t)

        t = time.monotonic()
        self.progress("checking the file")
        embedded = metadata.decode(fmt.read_metadata(exported.path), exported.path)
        runner = fmt.load(exported.path, self.threads)
        snippet_path = snippet.write(self.staging, info.runtime, info.file_name,
                                     f"{self.experiment.name} ({trained.config.model}, {info.title} "
                                     f"{req.precision.upper()})", task=task.task)
        self._phase("check_s", t)

        t = time.monotonic()
        result, same_input = self._validate(network, runner, exported.path, snippet_path, task, op, trained,
                                            images, checks)
        self._phase("validate_s", t)
        change = None
        fp32_runner = None
        if exported.fp32_path is not None:
            fp32_runner = fmt.load(exported.fp32_path, self.threads)
            change = self._precision_change(fp32_runner, exported.fp32_path, task, op, trained, images, checks,
                                            same_input)

        t = time.monotonic()
        self.progress("measuring speed")
        timing = self._latency(network, runner, fp32_runner, images, change)
        self._phase("latency_s", t)

        self.progress("writing the export")
        if fp32_runner is not None:
            del fp32_runner
        del runner
        _release_native()
        shutil.rmtree(scratch, ignore_errors=True)
        record = self._record(trained, exported, embedded, result, timing, change, snippet_path, t0)
        write_model(self.staging / RECORD_FILE, record)
        log_copy = self.job_folder / "export.log"
        if log_copy.exists():
            shutil.copyfile(log_copy, self.staging / "export.log")
        os.replace(self.staging, self.final)
        if record.ready:
            self.log(f"export ready: {self.final / record.file}")
        self.emitter.emit("artifact", kind="export", path=str(self.final), export_id=self.export_id)
        summary = {"export_id": self.export_id, "status": record.status, "folder": str(self.final),
                   "file": str(self.final / record.file), "validation": validation.summary(result)}
        if record.ready:
            self.emitter.emit("completed", summary=summary)
            return Outcome("ready", 0, record, self.final, summary=summary)
        error = f"validation failed: {'; '.join(result.failures)}"
        hint = f"the file is kept as a failed export for inspection in {self.final}"
        self.emitter.emit("failed", error=error, hint=hint, export_id=self.export_id, summary=summary)
        return Outcome("failed", 1, record, self.final, error=error, hint=hint, summary=summary)

    # ------------------------------------------------------------------ steps
    def _reusable_onnx(self, trained, meta: dict, task) -> tuple[Path, str] | None:
        """A ready FP32 ONNX export of the same checkpoint, opset, batch and task keys (the operating
        point, a normalisation...), made by this version, whose file is intact: exporting the graph
        again would give the same file."""
        wanted = metadata.decode(meta)
        for r in self.service.ready():
            same = (r.format == "onnx" and r.precision == "fp32" and r.app_version == __version__
                    and r.checkpoint.get("sha256") == trained.checkpoint_sha256 and r.opset == self.req.opset
                    and r.metadata.get("batch") == meta["batch"]
                    and all(r.metadata.get(k) == wanted.get(k) for k in task.metadata_keys))
            path = self.service.model_path(r)
            if same and path.is_file() and file_sha256(path) == r.sha256:
                return path, r.id
        return None

    def _validate(self, network, runner, path: Path, snippet_path: Path, task, op, trained, images, checks):
        """Both comparisons of ``validation`` (judged by the task entry); returns the record and the
        file's outputs on the app's inputs."""
        reference = task.reference(trained, network, images)
        same_input = runner.run_all(images)
        # the file as a stranger uses it: the snippet's own loader and preprocessing
        module = snippet.load_module(snippet_path)
        run_file, meta_file = module.load(str(path))
        file_inputs = []
        for i, s in enumerate(checks):
            file_inputs.append(module.preprocess(str(s.path), meta_file))
            self.progress(f"validating {i + 1}/{len(checks)}")
        subsets: dict[str, int] = {}
        for s in checks:
            subsets[s.subset] = subsets.get(s.subset, 0) + 1
        evidence = validation.Evidence(
            precision=self.req.precision, subsets=subsets, reference=reference, same_input=same_input,
            file=np.asarray(run_file(np.stack(file_inputs))), snippet=module, file_meta=meta_file,
            targets=task.truth(checks, trained), mismatches=_mismatches(meta_file, trained, network, op, task))
        result = task.validate(evidence, trained, network, op)
        self.log(f"validation on {len(checks)} images ({', '.join(f'{v} {k}' for k, v in subsets.items())}): "
                 f"{validation.summary(result)}", "info" if result.passed else "warning")
        # the snippet's own OpenVINO model is released here, before ours: see ml/native.py
        del run_file, module, evidence
        _release_native()
        return result, same_input

    def _precision_change(self, fp32_runner, fp32_path: Path, task, op, trained, images, checks,
                          same_input: dict) -> PrecisionChange:
        """The same network in FP32 against this precision, on the same inputs."""
        main = task.output_names[0]
        out32, out = fp32_runner.run_all(images)[main], same_input[main]
        targets = task.truth(checks, trained)
        m32, mq = task.score(out32, targets, trained, op), task.score(out, targets, trained, op)
        size32 = sum(p.stat().st_size for p in (fp32_path, fp32_path.with_suffix(".bin")) if p.exists())
        return PrecisionChange(metric=task.metric_name, metric_fp32=m32, metric_exported=mq, change=mq - m32,
                               agreement_with_fp32=task.agreement(out32, out, trained, op),
                               agreement_words=task.agreement_words, size_fp32=int(size32))

    def _latency(self, network, runner, fp32_runner, images: np.ndarray, change) -> Latency:
        req = self.req
        sample = images[: min(8, len(images))]

        @torch.no_grad()
        def eager(x):
            return network(torch.from_numpy(x))

        contenders = [latency.Contender("PyTorch eager", "fp32", eager)]
        if fp32_runner is not None:
            contenders.append(latency.Contender(fp32_runner.runtime, "fp32", fp32_runner, fp32_runner.batch))
        contenders.append(latency.Contender(runner.runtime, req.precision, runner, runner.batch))
        previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            timings = latency.measure_all(contenders, sample, warmup=req.latency_warmup, runs=req.latency_runs,
                                          min_seconds=req.latency_min_seconds, stop=self.stop.requested)
        finally:
            torch.set_num_threads(previous)
        if self.stop.requested():
            raise Cancelled(self.stop.reason)
        base = timings[0].median_ms
        rows = [latency.row(c.runtime, c.precision, t, None if i == 0 else base)
                for i, (c, t) in enumerate(zip(contenders, timings, strict=True))]
        if change is not None and fp32_runner is not None:
            change.latency_fp32_ms = rows[1].median_ms
            change.latency_ms = rows[-1].median_ms
            change.speedup = round(rows[1].median_ms / rows[-1].median_ms, 2) if rows[-1].median_ms else None
        self.log("latency (batch 1, median): " + ", ".join(f"{r.runtime} {r.precision} {r.median_ms:.2f} ms"
                                                          for r in rows))
        return Latency(threads=self.threads, warmup=req.latency_warmup, runs=req.latency_runs,
                       input_size=int(images.shape[-1]), device=f"CPU: {_cpu_name()}", rows=rows)

    def _record(self, trained, exported, embedded, result: Validation, timing, change, snippet_path: Path,
                t0: float) -> ExportRecord:
        req = self.req
        files = [f for f in exported.files if (self.staging / f).exists()]
        size = sum((self.staging / f).stat().st_size for f in files)
        if change is not None:
            change.size = size
        self.timings["total_s"] = round(time.monotonic() - t0, 3)
        batch = "N" if embedded.get("batch") == "dynamic" else 1
        return ExportRecord(
            id=self.export_id, project_id=self.project.id, experiment_id=self.experiment.id,
            experiment_name=self.experiment.name, model=trained.config.model, task=trained.project.task,
            status="ready" if result.passed else "failed",
            error=None if result.passed else "validation failed: " + "; ".join(result.failures),
            format=req.format, precision=req.precision,
            quantization=req.quantization if req.precision == "int8" else None,
            calibration_images=req.calibration_images if req.precision == "int8" and req.quantization == "static"
            else None,
            opset=exported.opset, dynamic_batch=batch == "N", exporter=exported.exporter,
            file=exported.path.name, files=files + [snippet_path.name], file_size=size,
            sha256=file_sha256(exported.path), input_name="input",
            input_shape=[batch, 3, trained.preprocessing.input_size, trained.preprocessing.input_size],
            outputs=embedded.get("outputs") or {},
            checkpoint={"which": trained.which, "file": str(trained.checkpoint), "sha256": trained.checkpoint_sha256},
            metadata=embedded, validation=result, latency=timing, precision_change=change,
            timings=dict(self.timings), snippet=snippet_path.name, environment=_versions(), app_version=__version__)


def _mismatches(meta: dict, trained, network, op, task) -> list[str]:
    """Keys of the metadata read back from the file that differ from what the checkpoint says."""
    pre = trained.preprocessing
    expected = {"input_size": pre.input_size, "resize": pre.resize, "resize_fill": list(pre.fill),
                "mean": list(pre.mean), "std": list(pre.std), "colour_order": pre.colour_order,
                "task": trained.project.task}
    return task.mismatches(meta, trained, network, op) + [k for k, v in expected.items() if meta.get(k) != v]


def run_export(ws, request: ExportRequest, emitter_factory=None, *, stop: StopFlag | None = None) -> Outcome:
    """Export one experiment's checkpoint; never raises for export failures (see :class:`Outcome`)."""
    return ExportJob(ws, request, emitter_factory, stop=stop).run()


__all__ = ["Cancelled", "ExportJob", "ExportRequest", "Outcome", "default_threads", "run_export"]
