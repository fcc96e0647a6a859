"""Run one experiment: the whole life of a training job, from split to summary.

Used by the worker (``studio worker train``, started detached by the GUI) and by ``studio
train`` in the foreground. It writes the status transitions to experiment.json (running ->
completed / stopped / failed), every protocol event to stdout and events.jsonl, and leaves
``best.ckpt`` / ``last.ckpt`` so that a stopped, failed or interrupted run can be resumed
with the same curves (metrics.jsonl is appended, epochs keep their numbers).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytorch_lightning as pl
import torch
import torchvision
from pytorch_lightning.callbacks import ModelCheckpoint

from ..core.datasets import DatasetStore
from ..core.errors import InvalidInput, StudioError
from ..core.experiments import Experiment, ExperimentService, resolve_split, stable_hash
from ..core.procs import EXPERIMENT_ENV, clear_control_files, is_secondary_rank
from ..core.projects import ProjectService
from ..core.protocol import Emitter, EmitterLogHandler
from ..core.schemas import now
from ..core.store import atomic_write_json
from .callbacks import ProtocolCallback, StopFlag
from .data import StudioDataModule
from .module import NonFiniteLoss, StudioModule
from .tasks import make_head

NAN_HINT = "lower the learning rate (for example divide it by 10), add warm-up epochs or gradient clipping"
OOM_HINT = "use a smaller batch size or input size"


@dataclass
class Outcome:
    status: str
    exit_code: int
    summary: dict = field(default_factory=dict)
    error: str | None = None
    hint: str | None = None


#: run "CPU" training as this many DDP processes (exercises the multi-GPU code path on any machine;
#: used by the tests, not a user setting: on a CPU, threads in one process are faster)
CPU_DDP_ENV = "STUDIO_CPU_DDP_PROCESSES"


def _cpu() -> dict:
    n = int(os.environ.get(CPU_DDP_ENV, "1") or 1)
    if n > 1:
        return {"accelerator": "cpu", "devices": n, "strategy": "ddp"}
    return {"accelerator": "cpu", "devices": 1}


def trainer_device(device: str, log) -> dict:
    """Lightning accelerator/devices/strategy for the config's device setting."""
    if device == "cpu":
        return _cpu()
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InvalidInput("invalid training setting 'device': no CUDA GPU is available on this computer; "
                               "use auto or cpu")
        if ":" in device:
            index = int(device.split(":")[1])
            if index >= torch.cuda.device_count():
                raise InvalidInput(f"invalid training setting 'device': there is no GPU {index} "
                                   f"(this computer has {torch.cuda.device_count()})")
            return {"accelerator": "gpu", "devices": [index]}
    if device in ("auto", "cuda") and torch.cuda.is_available():
        n = torch.cuda.device_count()
        return {"accelerator": "gpu", "devices": n, "strategy": "ddp" if n > 1 else "auto"}
    if device == "mps" and torch.backends.mps.is_available():
        return {"accelerator": "mps", "devices": 1}
    return _cpu()


def precision_for(dev: dict, mixed: bool, log) -> str:
    if dev["accelerator"] != "gpu":
        if mixed:
            log("mixed precision is off on CPU (it only speeds up GPUs)", "info")
        return "32-true"
    if not mixed:
        return "32-true"
    return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"


def device_name(dev: dict) -> str:
    if dev["accelerator"] == "gpu":
        idx = dev["devices"][0] if isinstance(dev["devices"], list) else 0
        return torch.cuda.get_device_name(idx)
    return f"CPU ({platform.processor() or platform.machine()})"


def _route_library_logs(emitter: Emitter) -> logging.Handler:
    handler = EmitterLogHandler(emitter)
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "py.warnings"):
        lg = logging.getLogger(name)
        lg.handlers = [handler]
        lg.propagate = False
    logging.captureWarnings(True)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*num_workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*decoding and encoding capabilities of TorchVision.*")
    return handler


def _truncate_metrics(path: Path, epochs_done: int) -> None:
    """Drop lines of epochs after the checkpoint (a crash between a line and the checkpoint)."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and int(row.get("epoch", 0)) <= epochs_done:
            keep.append(json.dumps(row))
    from ..core.store import atomic_write_text

    atomic_write_text(path, "".join(k + "\n" for k in keep))


class EpochCheckpoint(ModelCheckpoint):
    """A ModelCheckpoint that never saves the end of an epoch cut short by a stop request.

    Lightning still calls ``on_train_epoch_end`` after a stop in mid-epoch; a checkpoint saved
    there would look complete and a resume would skip the rest of that epoch."""

    def __init__(self, protocol: ProtocolCallback, **kw):
        super().__init__(**kw)
        self._protocol = protocol

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self._protocol.stopped_mid_epoch:
            return
        super().on_train_epoch_end(trainer, pl_module)

    def check_monitor_top_k(self, trainer, current=None) -> bool:
        """Ties replace the best: on a small validation set (15 images: steps of 6.7 %) the metric
        plateaus early, and Lightning's strict comparison would keep the first, least-trained epoch
        of the plateau; the later one has trained longer at a lower learning rate."""
        if current is not None and self.save_top_k == 1 and self.best_k_models:
            best = self.best_k_models[self.kth_best_model_path]
            if bool(current == best):
                return True
        return super().check_monitor_top_k(trainer, current)


def _epochs_in_checkpoint(path: Path) -> int | None:
    """Complete epochs recorded in a checkpoint by :class:`ProtocolCallback` (None if absent)."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - a damaged checkpoint gets one clear message
        raise InvalidInput(f"last.ckpt cannot be read ({str(exc).splitlines()[0][:150]}); start the "
                           "experiment again", path=path) from None
    for key, state in (ckpt.get("callbacks") or {}).items():
        if str(key).startswith("ProtocolCallback") and isinstance(state, dict) and "epochs_done" in state:
            return int(state["epochs_done"])
    return None


@torch.no_grad()
def evaluate_subset(module: StudioModule, loader, device: torch.device) -> tuple[dict, dict]:
    """Metrics and artifacts (confusion...) of ``module`` on one subset, outside the trainer."""
    head = module.head
    metrics = head.metrics().to(device)
    module.eval().to(device)
    loss_sum, count = 0.0, 0
    from lightning_fabric.utilities.apply_func import move_data_to_device

    for x, y in loader:
        x, y = move_data_to_device(x, device), move_data_to_device(y, device)
        out, loss = head.eval_step(module.model, x, y)
        if loss is not None:
            loss_sum += float(loss) * len(y)
            count += len(y)
        head.update_metrics(metrics, out, y)
    values = head.compute_metrics(metrics)
    if count:
        values["loss"] = loss_sum / count
    return values, head.epoch_artifacts()


class Run:
    """One training run of one experiment (fresh or resumed)."""

    def __init__(self, ws, project_ref: str, exp_ref: str, emitter_factory, *, resume: bool = False,
                 epochs: int | None = None, stop: StopFlag | None = None):
        self.ws = ws
        self.project = ProjectService(ws).get(project_ref)
        self.svc = ExperimentService(ws, self.project.id)
        self.exp: Experiment = self.svc.get(exp_ref)
        self.folder = self.svc.folder(self.exp.id)
        self.emitter: Emitter = emitter_factory(self.folder / "events.jsonl", self.folder / "train.log")
        self.resume = resume
        self.epochs = epochs
        self.stop = stop or StopFlag()
        self.stop.folder = self.folder
        # Under DDP Lightning starts one copy of this command per extra GPU (LOCAL_RANK/NODE_RANK > 0):
        # those copies train but neither speak the protocol nor write experiment.json.
        self._restart_note: str | None = None
        self.rank0 = not is_secondary_rank()
        self.emitter.enabled = self.rank0
        if self.rank0:
            os.environ[EXPERIMENT_ENV] = self.exp.id  # inherited by the copies DDP starts

    def _update(self, **changes) -> Experiment:
        if not self.rank0:
            return Experiment.model_validate({**self.exp.model_dump(), **changes})
        return self.svc.update(self.exp.id, **changes)

    def log(self, message: str, level: str = "info") -> None:
        self.emitter.log(message, level)

    def _fail(self, error: str, hint: str | None, t0: float) -> Outcome:
        self._update(status="failed", error=error, hint=hint, ended=now(), pid=None,
                        duration_s=self.exp.duration_s + (time.monotonic() - t0))
        self.emitter.emit("failed", error=error, hint=hint)
        return Outcome("failed", 1, error=error, hint=hint)

    def run(self) -> Outcome:
        t0 = time.monotonic()
        try:
            self._resume_from, self._total = self._prepare_resume()
        except StudioError as exc:
            # a request that cannot be honoured leaves the experiment exactly as it was
            self.emitter.emit("failed", error=exc.reason, hint=exc.hint)
            self.emitter.close()
            return Outcome(self.exp.status, 1, error=exc.reason, hint=exc.hint)
        handler = _route_library_logs(self.emitter)
        try:
            return self._run(t0)
        except NonFiniteLoss as exc:
            return self._fail(str(exc), NAN_HINT, t0)
        except StudioError as exc:
            return self._fail(exc.reason, exc.hint, t0)
        except (torch.cuda.OutOfMemoryError, MemoryError) as exc:
            return self._fail(f"out of memory: {str(exc).splitlines()[0][:200]}", OOM_HINT, t0)
        except RuntimeError as exc:
            text = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            self.emitter.write_log(traceback.format_exc(), "error")
            if _is_out_of_memory(str(exc)):
                return self._fail(f"out of memory: {text}", OOM_HINT, t0)
            return self._fail(text, "see train.log in the experiment folder for details", t0)
        except Exception as exc:  # noqa: BLE001 - a worker reports every failure as an event
            self.emitter.write_log(traceback.format_exc(), "error")
            return self._fail(f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}",
                              "see train.log in the experiment folder for details", t0)
        finally:
            logging.captureWarnings(False)
            handler.close()
            self.emitter.close()

    # ------------------------------------------------------------------ the run
    def _prepare_resume(self) -> tuple[str | None, int]:
        cfg = self.exp.config
        total = self.epochs or cfg.epochs
        if not self.rank0:  # rank 0 has checked and set everything up already
            ckpt = self.svc.checkpoint(self.exp.id)
            return (str(ckpt) if self.resume and ckpt.exists() else None), total
        if not self.resume:
            if self.exp.status not in ("created",):
                raise InvalidInput(f"experiment '{self.exp.name}' has already run ({self.exp.status}); "
                                   "resume it or duplicate it to train again")
            return None, total
        ckpt = self.svc.checkpoint(self.exp.id)
        if self.exp.status == "running":
            raise InvalidInput(f"experiment '{self.exp.name}' is already running")
        if self.exp.epochs_done == 0 and not ckpt.exists():
            # killed inside its first epoch (a stop saves its place): nothing to continue, so it
            # trains again from the start
            for kind in ("last", "best"):
                self.svc.checkpoint(self.exp.id, kind).unlink(missing_ok=True)
            _truncate_metrics(self.folder / "metrics.jsonl", 0)
            self._restart_note = "no complete epoch to resume from: training again from epoch 1"
            return None, total
        if not ckpt.exists():
            raise InvalidInput(f"experiment '{self.exp.name}' has no last.ckpt to resume from; start it again")
        if self.exp.status == "completed" and total <= self.exp.epochs_done:
            raise InvalidInput(f"experiment '{self.exp.name}' already trained {self.exp.epochs_done} epochs; "
                               "pass more epochs to continue it")
        if total < self.exp.epochs_done:
            raise InvalidInput(f"invalid training setting 'epochs': {total} is fewer than the "
                               f"{self.exp.epochs_done} epochs already trained")
        done = _epochs_in_checkpoint(ckpt)
        if done is not None and done != self.exp.epochs_done:
            self.exp = self._update(epochs_done=done)
        _truncate_metrics(self.folder / "metrics.jsonl", self.exp.epochs_done)
        return str(ckpt), total

    def _run(self, t0: float) -> Outcome:
        ckpt_path, total = self._resume_from, self._total
        clear_control_files(self.folder)
        cfg = self.exp.config.model_copy(update={"epochs": total})
        split_id, assignments = resolve_split(self.ws, self.project.id, cfg.split_id)
        cfg = cfg.model_copy(update={"split_id": split_id})
        head = make_head(self.project, cfg)
        head.report = self.log
        if head.fits:  # one pass over the images, then the fit: no epochs to choose
            total = 1
            cfg = cfg.model_copy(update={"epochs": 1})
        store = DatasetStore(self.ws, self.project.id)
        head.root = store.root
        dataset = store.load()
        subsets: dict[str, list] = {"train": [], "val": [], "test": []}
        skipped = 0
        for rec in dataset.images:
            where = assignments.get(rec.id)
            if where in subsets:
                if head.usable(rec):
                    subsets[where].append(rec)
                else:
                    skipped += 1
        if not subsets["train"]:
            raise InvalidInput(f"split '{split_id}' has no labelled training images in this dataset")
        if skipped:
            self.log(f"{skipped} image(s) of the split have no {head.info.annotation} and are left out", "warning")
        subsets = head.prepare_subsets(subsets)
        env = self._environment(cfg, split_id, assignments, subsets, head)
        dev = trainer_device(cfg.device, self.log)
        precision = precision_for(dev, cfg.mixed_precision, self.log)
        env.update(device=device_name(dev), accelerator=dev["accelerator"], precision=precision)
        self.exp = self._update(status="running", pid=_pid(), host=platform.node(), started=now(),
                                   ended=None, error=None, hint=None, config=cfg.model_dump(), environment=env,
                                   resumed_from=(f"last.ckpt at epoch {self.exp.epochs_done}" if ckpt_path
                                                 else None), detached=False)
        self.emitter.emit("started", experiment=self.exp.id, name=self.exp.name, pid=_pid(), total_epochs=total,
                          resumed=bool(ckpt_path), epochs_done=self.exp.epochs_done,
                          images={k: len(v) for k, v in subsets.items()})
        if self._restart_note:
            self.log(self._restart_note)
        pl.seed_everything(cfg.seed, workers=True, verbose=False)
        head.set_train_statistics([head.target(r) for r in subsets["train"]])
        if info := head.experiment_info():  # e.g. a regression's target normalisation
            self.exp = self._update(environment={**self.exp.environment, **info})
        dm = StudioDataModule(
            subsets, store.root, head.target,
            train_transform=head.transforms(train=True), eval_transform=head.transforms(train=False),
            size=cfg.input_size, batch_size=cfg.batch_size, num_workers=cfg.num_workers, seed=cfg.seed,
            zoom=head.zooms(), detail=head.detail(), sample=head.sample, collate=head.collate)
        steps = max(1, len(dm.train_dataloader()))
        model = head.build_model(self.log)
        if head.weights_used is not None:
            self._record_weights(head.weights_used, cfg)
        module = StudioModule(head, cfg, model, steps_per_epoch=steps)
        module.fit_stop = self.stop.requested
        head.fit_progress = lambda step, total, message: self.emitter.emit(
            "progress", step=step, total=total, eta_s=None, message=message, phase="fit")
        trainer, protocol = self._trainer(cfg, dev, precision, head, has_val=head.validates(subsets["val"]))
        trainer.fit(module, datamodule=dm, ckpt_path=ckpt_path)
        _leave_process_group()
        if not self.rank0:
            return Outcome("completed", 0)
        self.exp = self.svc.get(self.exp.id)
        elapsed = time.monotonic() - t0
        if self.stop.requested():
            last = self.svc.checkpoint(self.exp.id)
            # last.ckpt holds the place in the epoch where the stop came (the protocol callback
            # saved it after that step; the loader resumes at the next batch). With several GPUs
            # the data order cannot resume mid-epoch: last.ckpt is the end of the last whole epoch.
            if last.exists():
                self.emitter.emit("artifact", kind="checkpoint", path=str(last))
            self._update(status="stopped", ended=now(), pid=None,
                            duration_s=self.exp.duration_s + elapsed)
            self.log(f"stopped: {self.stop.reason or 'stop requested'}")
            self.emitter.emit("stopped", epoch=self.exp.epochs_done, reason=self.stop.reason)
            return Outcome("stopped", 0)
        summary = self._summary(module, dm, dev, subsets, protocol)
        summary["duration_s"] = round(self.exp.duration_s + elapsed, 1)
        self._update(status="completed", ended=now(), pid=None,
                        duration_s=self.exp.duration_s + elapsed)
        self.emitter.emit("completed", summary=summary)
        return Outcome("completed", 0, summary=summary)

    def _environment(self, cfg, split_id, assignments, subsets, head) -> dict:
        used = sorted((head.annotation_key(r) for recs in subsets.values() for r in recs), key=lambda k: k[0])
        return {"python": sys.version.split()[0], "torch": torch.__version__,
                "torchvision": torchvision.__version__, "lightning": pl.__version__,
                "platform": platform.platform(), "seed": cfg.seed, "split_id": split_id,
                "dataset_hash": stable_hash(used), "split_hash": stable_hash(assignments),
                "images": {k: len(v) for k, v in subsets.items()}}

    def _record_weights(self, weights: dict, cfg) -> None:
        """experiment.json keeps which weights the run started from and what input they expect."""
        self.exp = self._update(environment={**self.exp.environment, "weights": weights})
        crop = (weights.get("preprocessing") or {}).get("crop_size")
        if crop and crop != cfg.input_size:
            self.log(f"these weights were trained on {crop} px images; this run uses {cfg.input_size} px "
                     f"(smaller is faster but usually less accurate with pretrained weights)")

    def _on_epoch(self, epoch: int, metrics: dict, best) -> None:
        changes = {"epochs_done": epoch, "last_metrics": metrics}
        if best is not None:
            changes["best"] = {"metric": self._monitor.removeprefix("val_"), "value": best[0], "epoch": best[1]}
        self.exp = self._update(**changes)

    def _trainer(self, cfg, dev, precision, head, *, has_val: bool):
        from pytorch_lightning.callbacks import EarlyStopping

        self._monitor = head.monitor if has_val else "train_loss"
        mode = head.monitor_mode if has_val else "min"
        if not has_val:
            self.log("the split has no validation images: best.ckpt is simply the last epoch", "warning")
        best = (self.exp.best.value, self.exp.best.epoch) if self.exp.best is not None and self.resume else None
        metrics_path = self.folder / "metrics.jsonl" if self.rank0 else None  # DDP: one writer
        protocol = ProtocolCallback(self.emitter, self.stop, metrics_path=metrics_path,
                                    # (a fitted model's pass cannot resume in mid-pass: it starts again)
                                    stop_checkpoint=(self.svc.checkpoint(self.exp.id) if self.rank0 and not head.fits
                                                     else None),
                                    monitor=self._monitor, mode=mode, on_epoch=self._on_epoch, best=best)
        # best.ckpt: the best epoch by the task's primary metric; last.ckpt: every epoch's end (a
        # ModelCheckpoint with save_last only writes last.ckpt when best improves, hence two).
        best_ckpt = EpochCheckpoint(protocol, dirpath=self.folder / "checkpoints", filename="best",
                                    monitor=head.monitor if has_val else None, mode=mode, save_top_k=1,
                                    auto_insert_metric_name=False, enable_version_counter=False,
                                    save_on_train_epoch_end=True)
        last_ckpt = EpochCheckpoint(protocol, dirpath=self.folder / "checkpoints", filename="last", monitor=None,
                                    save_top_k=1, auto_insert_metric_name=False, enable_version_counter=False,
                                    save_on_train_epoch_end=True)
        # (without validation both would monitor nothing and clash: best.ckpt is copied from last)
        callbacks = [protocol, last_ckpt] + ([best_ckpt] if has_val else [])
        if cfg.early_stopping and has_val:
            es_mode = "min" if cfg.early_stopping_metric.endswith(("loss", "mae", "rmse")) else "max"
            callbacks.append(EarlyStopping(monitor=cfg.early_stopping_metric, patience=cfg.patience, mode=es_mode,
                                           strict=False, check_on_train_epoch_end=False))
        trainer = pl.Trainer(max_epochs=cfg.epochs, logger=False, enable_progress_bar=False,
                             enable_model_summary=False, num_sanity_val_steps=0, callbacks=callbacks,
                             gradient_clip_val=cfg.grad_clip or None, precision=precision,
                             default_root_dir=str(self.folder), limit_val_batches=1.0 if has_val else 0,
                             **dev)
        return trainer, protocol

    def _summary(self, module, dm, dev, subsets, protocol) -> dict:
        """Evaluate best.ckpt on val and test; write confusion.json; the completed event's summary."""
        best_path = self.svc.checkpoint(self.exp.id, "best")
        last_path = self.svc.checkpoint(self.exp.id, "last")
        if not best_path.exists() and last_path.exists():
            import shutil

            shutil.copyfile(last_path, best_path)
        if best_path.exists():
            state = torch.load(best_path, map_location="cpu", weights_only=False)["state_dict"]
            module.load_state_dict(state)
        device = torch.device("cuda", dev["devices"][0] if isinstance(dev["devices"], list) else 0) \
            if dev["accelerator"] == "gpu" else torch.device("cpu")
        summary: dict = {"best": self.exp.best.model_dump() if self.exp.best else None,
                         "epochs": self.exp.epochs_done}
        confusion = {}
        for subset in ("val", "test"):
            if subsets[subset]:
                values, artifacts = evaluate_subset(module, dm._loader(subset, False), device)
                summary[subset] = values
                if "confusion" in artifacts:
                    confusion[subset] = artifacts["confusion"]
        for kind in ("best", "last"):
            path = self.svc.checkpoint(self.exp.id, kind)
            if path.exists():
                self.emitter.emit("artifact", kind="checkpoint", path=str(path), which=kind)
        if confusion:
            path = self.folder / "confusion.json"
            atomic_write_json(path, {"schema_version": 1, "checkpoint": "best.ckpt", **confusion})
            summary["confusion"] = confusion
            self.emitter.emit("artifact", kind="confusion", path=str(path))
        self._update(last_metrics={**self.exp.last_metrics,
                                                   **{f"best_{s}_{k}": v for s in ("val", "test")
                                                      for k, v in summary.get(s, {}).items()}})
        return summary


def _leave_process_group() -> None:
    """After a multi-GPU fit every process is done with the others: the first one then evaluates
    best.ckpt alone, and torchmetrics would otherwise wait for the others at every compute()."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _is_out_of_memory(message: str) -> bool:
    """A RuntimeError that means memory ran out: CUDA's "out of memory", the CPU allocator's
    "can't allocate memory" (errno 12, "Cannot allocate memory"), MPS's "out of memory"."""
    text = message.lower()
    return any(k in text for k in ("out of memory", "can't allocate memory", "cannot allocate memory"))


def _pid() -> int:
    return os.getpid()


def train_experiment(ws, project_ref: str, exp_ref: str, emitter_factory, **kw) -> Outcome:
    """Run (or resume) one experiment; never raises for training failures (see :class:`Outcome`)."""
    return Run(ws, project_ref, exp_ref, emitter_factory, **kw).run()
