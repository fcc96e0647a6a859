"""Lightning callbacks that turn the loop into protocol events, metrics lines and stop requests.

:class:`ProtocolCallback` reports progress (with ETA), one ``epoch`` event per epoch (train and
validation metrics, learning rate), appends ``metrics.jsonl``, keeps experiment.json's
``epochs_done`` / ``best`` / ``last_metrics`` current, and checks for a stop request after
every step: the STOP file in the experiment folder, a ``stop`` line on stdin, the parent
process gone, or Ctrl+C all set the same :class:`StopFlag`; the trainer then stops after the
step, and ``last.ckpt`` is saved right there with the loader's place in the epoch (see
``resumable.py``), so a resumed run goes on with the next batch.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytorch_lightning as pl

from ..core.procs import StopFlag, stop_requested  # noqa: F401 - StopFlag is used by callers through here
from .optim import plateau_warmup


def append_jsonl(path: Path, row: dict) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                             for k, v in row.items()}) + "\n")
        fh.flush()


def _resumable(trainer):
    """The training loader when it can resume in mid-epoch (see ``resumable.py``), else None."""
    loader = trainer.train_dataloader
    return loader if hasattr(loader, "trained_batches") else None


class ProtocolCallback(pl.Callback):
    """Progress, epoch events, metrics.jsonl, experiment.json updates, stop checks."""

    #: at most this many progress events per second (the GUI redraws at ~20 Hz anyway)
    PROGRESS_HZ = 5.0

    def __init__(self, emitter, stop: StopFlag, *, metrics_path: Path | None, monitor: str, mode: str,
                 on_epoch=None, best: tuple[float, int] | None = None, steps_lines: int = 10,
                 stop_checkpoint: Path | None = None):
        self.emitter = emitter
        self.stop = stop
        self.metrics_path = metrics_path
        self.monitor = monitor
        self.mode = mode
        #: called with (epoch, metrics, best) after each epoch (experiment.json update)
        self.on_epoch = on_epoch
        self.best = best  # (value, epoch)
        self.steps_lines = steps_lines
        #: where a stop in mid-epoch saves the state (last.ckpt), when the loader can resume there
        self.stop_checkpoint = stop_checkpoint
        self.stopped_mid_epoch = False
        self._agreed = False
        self._last_emit = 0.0
        #: complete epochs so far; saved in every checkpoint so a resume knows where the curves end
        self.epochs_done = 0

    def state_dict(self) -> dict:
        return {"epochs_done": self.epochs_done}

    def load_state_dict(self, state: dict) -> None:
        self.epochs_done = int(state.get("epochs_done", 0))

    # ------------------------------------------------------------------ helpers
    def _total_steps(self, trainer) -> int:
        per_epoch = trainer.num_training_batches if math.isfinite(trainer.num_training_batches) else 0
        return int(per_epoch * trainer.max_epochs)

    def on_train_start(self, trainer, pl_module) -> None:
        self._t0 = time.monotonic()
        self._step0 = trainer.global_step  # a resumed run starts counting ETA from here

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if getattr(pl_module, "warmup_steps", 0) and trainer.optimizers:
            plateau_warmup(pl_module, trainer.optimizers[0], trainer.global_step)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        total = self._total_steps(trainer)
        per_epoch = int(trainer.num_training_batches)
        now = time.monotonic()
        last_of_epoch = batch_idx + 1 >= per_epoch
        if now - self._last_emit >= 1.0 / self.PROGRESS_HZ or last_of_epoch or step == self._step0 + 1:
            self._last_emit = now
            done = max(1, step - self._step0)
            eta = (now - self._t0) / done * max(0, total - step)
            loss = getattr(pl_module, "last_loss_tensor", None)
            self.emitter.emit("progress", step=step, total=total, eta_s=round(eta, 1),
                              epoch=trainer.current_epoch + 1, batch=batch_idx + 1, batches=per_epoch,
                              metrics={"train_loss": float(loss)} if loss is not None else {})
        if self.metrics_path is not None and per_epoch and (batch_idx + 1) % max(1, per_epoch // self.steps_lines) == 0:
            loss = getattr(pl_module, "last_loss_tensor", None)
            if loss is not None:
                append_jsonl(self.metrics_path, {"kind": "step", "step": step, "epoch": trainer.current_epoch + 1,
                                                 "train_loss": float(loss), "time": round(time.time(), 3)})
        loader = _resumable(trainer)
        if loader is not None:
            loader.trained_batches = batch_idx + 1
        if self._stop_agreed(trainer):
            trainer.should_stop = True
            self.stopped_mid_epoch = not last_of_epoch
            if self.stopped_mid_epoch and loader is not None and self.stop_checkpoint is not None:
                trainer.save_checkpoint(self.stop_checkpoint)  # resumes at the next batch of this epoch

    def _stop_agreed(self, trainer) -> bool:
        """The stop decision, the same in every process of a multi-GPU (DDP) run.

        Each process sees the sources at its own moment (one reads stdin, the STOP file appears
        between their checks); a process that stopped alone would leave the others waiting for
        it forever in the next gradient exchange. So the processes agree after every step: any
        request stops all of them at the same step."""
        local = self.stop.requested()
        if trainer.world_size > 1:
            agreed = bool(trainer.strategy.reduce_boolean_decision(local, all=False))
            if agreed and not local:
                self.stop.set("stop requested (another training process)")
            self._agreed = agreed
        else:
            self._agreed = local
        return self._agreed

    def _stopping(self, trainer) -> bool:
        """Stop decided at the last step (DDP: agreed then; not re-read, which could differ)."""
        return self._agreed if trainer.world_size > 1 else self.stop.requested()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self._stopping(trainer) and self.stopped_mid_epoch:
            return  # a partial epoch has no complete metrics yet; a resumed run finishes it
        if trainer.sanity_checking:
            return
        loader = _resumable(trainer)
        if loader is not None:
            loader.trained_batches = 0  # (before the end-of-epoch checkpoints are written)
        epoch = trainer.current_epoch + 1
        metrics: dict[str, float] = {}
        if pl_module._loss_count:
            metrics["train_loss"] = float(pl_module._loss_sum) / pl_module._loss_count
        metrics.update(pl_module.epoch_val)
        pl_module.epoch_val = {}
        if trainer.optimizers and trainer.optimizers[0].param_groups:  # (a fitted model has none)
            metrics["lr"] = float(trainer.optimizers[0].param_groups[0]["lr"])
        value = metrics.get(self.monitor)
        if value is not None and math.isfinite(value):
            # a tie counts as better: the later epoch has trained longer (same rule as best.ckpt)
            better = (self.best is None or (value >= self.best[0] if self.mode == "max" else value <= self.best[0]))
            if better:
                self.best = (value, epoch)
        self.epochs_done = epoch
        row = {"kind": "epoch", "epoch": epoch, **metrics, "time": round(time.time(), 3)}
        if self.metrics_path is not None:
            append_jsonl(self.metrics_path, row)
        self.emitter.emit("epoch", epoch=epoch, metrics=metrics)
        if self.on_epoch is not None:
            self.on_epoch(epoch, metrics, self.best)
        if self._stopping(trainer):
            trainer.should_stop = True
