"""The evaluator: one job for every task (DESIGN §10) — a checkpoint, some subsets, ``evaluation/``.

Generic on purpose: it loads the model (``ml/checkpoint.py``), runs the evaluation pipeline over
the chosen subsets exactly as training validated (``ml/preprocess.py``), caches each image's raw
outputs, and hands them to the task head's evaluation (``head.evaluation()``), which computes the
task's metrics and writes its result lines. What differs per task lives in the head; what
differs per task on screen lives in the GUI's result views.

Written whole or not at all (``core/evaluation/store.py``); stop, progress and failures follow
the worker protocol like training.
"""

from __future__ import annotations

import platform
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..core.datasets import DatasetStore
from ..core.errors import InvalidInput, StudioError
from ..core.evaluation.operating_point import load_operating_point
from ..core.evaluation.store import EvaluationInfo, EvaluationStore, write_info
from ..core.experiments import ExperimentService, resolve_split
from ..core.procs import StopFlag
from ..core.protocol import Emitter
from ..core.schemas import ImageRecord, now
from ..core.store import atomic_write_json, atomic_write_text
from .checkpoint import TrainedModel, load_trained
from .data import SampleSet, decode_threads
from .tasks.base import EvalBatch

SUBSET_ORDER = ("val", "test", "train")


@dataclass
class EvaluationOutcome:
    status: str  # completed | stopped | failed
    exit_code: int
    summary: dict = field(default_factory=dict)
    error: str | None = None
    hint: str | None = None


class Stopped(Exception):
    """A stop request arrived between two batches."""


def pick_device(device: str) -> torch.device:
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InvalidInput("invalid setting 'device': no CUDA GPU is available on this computer; use auto or cpu")
        return torch.device(device)
    if device == "auto" and torch.cuda.is_available():
        return torch.device("cuda")
    if device == "mps" and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def subsets_of(ws, trained: TrainedModel, wanted: list[str], log) -> tuple[dict[str, list[ImageRecord]], dict]:
    """The records of each wanted subset of the experiment's split that the model can be judged on.

    Images whose annotation the model cannot score (no label, or a class added after training)
    are left out and counted, never silently."""
    project, head = trained.project, trained.head
    split_id, assignments = resolve_split(ws, project.id, trained.config.split_id)
    dataset = DatasetStore(ws, project.id).load()
    out: dict[str, list[ImageRecord]] = {s: [] for s in wanted}
    skipped: dict[str, int] = {}
    for rec in dataset.images:
        where = assignments.get(rec.id)
        if where not in out:
            continue
        if not head.usable(rec) or not head.scorable(rec):
            skipped[where] = skipped.get(where, 0) + 1
            continue
        out[where].append(rec)
    for subset, n in skipped.items():
        log(f"{n} {subset} image(s) left out: no {head.info.annotation} this model can be judged on "
            "(unlabelled, or of a class added after training)", "warning")
    empty = [s for s in wanted if not out[s]]
    if len(empty) == len(wanted):
        raise InvalidInput(f"the split '{split_id}' has no {' or '.join(wanted)} images to evaluate on; "
                           "choose other subsets or create a split with them")
    for s in empty:
        log(f"the {s} subset is empty: nothing to evaluate there", "warning")
    return {s: recs for s, recs in out.items() if recs}, skipped


class Evaluation:
    """One evaluation run of one experiment."""

    def __init__(self, ws, project_ref: str, experiment_ref: str, emitter: Emitter, *, checkpoint: str = "best",
                 subsets: list[str] | None = None, batch_size: int | None = None, device: str = "auto",
                 stop: StopFlag | None = None):
        from ..core.projects import ProjectService

        self.ws = ws
        self.project = ProjectService(ws).get(project_ref)
        self.svc = ExperimentService(ws, self.project.id)
        self.exp = self.svc.get(experiment_ref)
        self.folder = self.svc.folder(self.exp.id)
        self.store = EvaluationStore(self.folder)
        self.emitter = emitter
        self.checkpoint = checkpoint
        self.wanted = list(dict.fromkeys(subsets or ["val", "test"]))
        bad = [s for s in self.wanted if s not in SUBSET_ORDER]
        if bad:
            raise InvalidInput(f"unknown subset '{bad[0]}'; choose from train, val, test")
        self.batch_size = batch_size
        self.device_setting = device
        self.stop = stop or StopFlag()

    def log(self, message: str, level: str = "info") -> None:
        self.emitter.log(message, level)

    def run(self) -> EvaluationOutcome:
        t0 = time.monotonic()
        staged = None
        try:
            self.store.clean_staging()
            trained = load_trained(self.ws, self.project.id, self.exp.id, self.checkpoint)
            staged = self.store.staging()
            summary = self._run(trained, staged, t0)
            self.store.commit(staged)
            staged = None
            self.emitter.emit("artifact", kind="evaluation", path=str(self.store.folder))
            self.emitter.emit("completed", summary=summary)
            return EvaluationOutcome("completed", 0, summary=summary)
        except Stopped:
            self.log(f"stopped: {self.stop.reason or 'stop requested'}; the previous evaluation is unchanged")
            self.emitter.emit("stopped", reason=self.stop.reason)
            return EvaluationOutcome("stopped", 0)
        except StudioError as exc:
            return self._fail(exc.reason, exc.hint)
        except (torch.cuda.OutOfMemoryError, MemoryError) as exc:
            return self._fail(f"out of memory: {str(exc).splitlines()[0][:200]}", "use a smaller batch size")
        except Exception as exc:  # noqa: BLE001 - a worker reports every failure as an event
            self.emitter.write_log(traceback.format_exc(), "error")
            text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
            return self._fail(f"{type(exc).__name__}: {text}",
                              f"see {self.folder / 'jobs' / 'evaluate' / 'evaluate.log'} for details")
        finally:
            if staged is not None:
                import shutil

                shutil.rmtree(staged, ignore_errors=True)

    def _fail(self, error: str, hint: str | None) -> EvaluationOutcome:
        self.emitter.emit("failed", error=error, hint=hint)
        return EvaluationOutcome("failed", 1, error=error, hint=hint)

    # ------------------------------------------------------------------ the run
    def _run(self, trained: TrainedModel, staged: Path, t0: float) -> dict:
        head = trained.head
        device = pick_device(self.device_setting)
        batch_size = int(self.batch_size or trained.config.batch_size)
        subsets, skipped = subsets_of(self.ws, trained, self.wanted, self.log)
        order = [s for s in SUBSET_ORDER if s in subsets]
        records = [r for s in order for r in subsets[s]]
        names = [s for s in order for _ in subsets[s]]
        total = len(records)
        self.emitter.emit("started", job="evaluate", experiment=self.exp.id, name=self.exp.name,
                          checkpoint=trained.which, images={s: len(subsets[s]) for s in order}, total=total)
        self.log(f"evaluating {trained.which} checkpoint (epoch {trained.epoch}) on "
                 + ", ".join(f"{len(subsets[s])} {s}" for s in order) + f" images, on {device}")
        t_load = time.monotonic() - t0
        pre = trained.preprocessing
        root = DatasetStore(self.ws, self.project.id).root
        dataset = SampleSet(records, root, head.target, pre.transform(),
                            pre.detail(), None, threads=decode_threads())
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0,
                            pin_memory=device.type == "cuda", collate_fn=head.collate)
        trained.to(device)
        raw: dict[str, list[np.ndarray]] = {}
        targets: list = []
        done, t_infer, t_start = 0, 0.0, time.monotonic()
        last_emit = 0.0
        with torch.inference_mode():
            for x, y in loader:
                if self.stop.requested():
                    raise Stopped
                ti = time.monotonic()
                batch = EvalBatch(records[done:done + len(x)], root, staged, device)
                arrays, kept = head.evaluate_batch(trained, x, y, batch)
                for key, value in arrays.items():
                    raw.setdefault(key, []).append(value)
                t_infer += time.monotonic() - ti
                targets.extend(kept)
                done += len(x)
                now_t = time.monotonic()
                if now_t - last_emit >= 0.25 or done == total:
                    last_emit = now_t
                    rate = done / max(1e-9, now_t - t_start)
                    self.emitter.emit("progress", step=done, total=total, eta_s=round((total - done) / rate, 1),
                                      message=f"evaluating: {done}/{total} images")
        t_run = time.monotonic() - t_start
        arrays = {k: np.concatenate(v) for k, v in raw.items()}
        self.emitter.emit("progress", step=total, total=total, message="computing metrics")
        tm = time.monotonic()
        op = load_operating_point(self.store.folder)
        result = head.evaluation().evaluate(records=records, subsets=np.asarray(names), targets=targets,
                                            arrays=arrays, op=op, log=self.log)
        t_metrics = time.monotonic() - tm
        np.savez_compressed(staged / "scores.npz", **result.scores)
        atomic_write_text(staged / "results.jsonl",
                          "".join(_json_line(line) for line in result.lines))
        atomic_write_json(staged / "aggregate.json", {"schema_version": 1, "task": self.project.task,
                                                      "operating_point": op.model_dump(mode="json") if op else None,
                                                      **result.aggregate})
        for name, data in result.files.items():
            atomic_write_json(staged / name, data)
        timings = {"load_s": round(t_load, 3), "inference_s": round(t_infer, 3), "loop_s": round(t_run, 3),
                   "metrics_s": round(t_metrics, 3), "total_s": round(time.monotonic() - t0, 3),
                   "images_per_s": round(total / max(1e-9, t_run), 1)}
        info = EvaluationInfo(
            experiment_id=self.exp.id, project_id=self.project.id, task=self.project.task,
            checkpoint=trained.describe_checkpoint(), subsets=order, images={s: len(subsets[s]) for s in order},
            skipped=skipped, batch_size=batch_size, device=str(device),
            classes=[{"id": c.id, "name": c.name} for c in trained.project.classes], ended=now().isoformat(),
            timings=timings, environment=_environment(device),
            operating_point=op.model_dump(mode="json") if op else None)
        write_info(staged, info)
        return {"experiment": self.exp.id, "checkpoint": trained.which, "images": info.images,
                "headline": result.headline, "timings": timings}


def _json_line(obj: dict) -> str:
    import json

    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"


def _environment(device: torch.device) -> dict:
    import torchvision

    from .. import __version__

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"CPU ({platform.processor() or platform.machine()})"
    return {"app": __version__, "python": sys.version.split()[0], "torch": torch.__version__,
            "torchvision": torchvision.__version__, "platform": platform.platform(), "device": name,
            "threads": torch.get_num_threads()}


def evaluate_experiment(ws, project_ref: str, experiment_ref: str, emitter: Emitter, **kw) -> EvaluationOutcome:
    """Evaluate one experiment; never raises for evaluation failures (see :class:`EvaluationOutcome`)."""
    try:
        run = Evaluation(ws, project_ref, experiment_ref, emitter, **kw)
    except StudioError as exc:
        emitter.emit("failed", error=exc.reason, hint=exc.hint)
        return EvaluationOutcome("failed", 1, error=exc.reason, hint=exc.hint)
    return run.run()


__all__ = ["Evaluation", "EvaluationOutcome", "evaluate_experiment", "pick_device", "subsets_of"]
