"""The one LightningModule for every task: the task head supplies model, loss and metrics.

Kept lean on purpose (the training-overhead benchmark holds it to ≤ 5 % over a bare PyTorch
loop): nothing is logged per step through Lightning; the training loss is summed on the
device and read once per epoch; validation metrics are logged once per epoch so that
checkpointing and early stopping can monitor them.
"""

from __future__ import annotations

import math

import pytorch_lightning as pl
import torch
from torch import nn

from ..core.train_config import TrainConfig
from .models.classification import apply_finetune
from .tasks.base import TaskHead


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or infinite: training cannot continue meaningfully."""


class StudioModule(pl.LightningModule):
    def __init__(self, head: TaskHead, config: TrainConfig, model: nn.Module, steps_per_epoch: int = 1):
        super().__init__()
        self.head = head
        self.config = config
        self.model = model
        self.steps_per_epoch = max(1, steps_per_epoch)
        # (a fitted model trains nothing: no fine-tuning mode applies)
        self.frozen = [] if head.fits else apply_finetune(model, config.finetune, config.unfreeze_stages)
        self.val_metrics = head.metrics()
        self.test_metrics = head.metrics()
        self._loss_sum = torch.zeros(())
        self._loss_count = 0
        self._val_loss_sum = torch.zeros(())
        self._val_count = 0
        #: the metrics of the last finished epoch, read by the protocol callback
        self.epoch_train: dict[str, float] = {}
        self.epoch_val: dict[str, float] = {}
        self.artifacts: dict = {}
        #: (epoch, step in epoch) of the last training step, for the NaN message
        self.last_loss: float | None = None
        #: a fitted model's stop check while it fits (train.py points it at the run's StopFlag)
        self.fit_stop = lambda: False

    def forward(self, x):
        return self.model(x)

    # ------------------------------------------------------------------ train
    def on_train_start(self) -> None:
        for m in self.frozen:  # also when a resumed run starts in mid-epoch (no epoch start then)
            m.eval()
        self._loss_sum = self._loss_sum.to(self.device)  # (restored from a checkpoint on the CPU)

    def on_train_epoch_start(self) -> None:
        for m in self.frozen:  # frozen stages keep their pretrained batch-norm statistics
            m.eval()
        self._loss_sum = torch.zeros((), device=self.device)
        self._loss_count = 0

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # the running training loss of the epoch: a run stopped in mid-epoch reports the whole
        # epoch's mean when it goes on
        checkpoint["studio_epoch_loss"] = {"sum": float(self._loss_sum), "count": self._loss_count}
        # what the weights are for: evaluation, prediction and export check it and rebuild the
        # network from it, so a checkpoint is usable on its own (``studio predict best.ckpt``)
        checkpoint["studio"] = self.head.checkpoint_meta()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint.get("studio_epoch_loss") or {}
        self._loss_sum = torch.tensor(float(state.get("sum", 0.0)))
        self._loss_count = int(state.get("count", 0))

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = self.head.training_loss(self.model, x, y)
        if loss is None:  # a fitted model's feature pass: nothing to optimise
            return None
        if not torch.isfinite(loss.detach()):
            raise NonFiniteLoss(f"loss became NaN at epoch {self.current_epoch + 1} step {batch_idx + 1}")
        self._loss_sum += loss.detach()
        self._loss_count += 1
        self.last_loss_tensor = loss.detach()
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        """A fitted model is built after the last batch of its one pass, before validation and
        before the epoch's checkpoints (callbacks ran first: a stop seen there skips the fit)."""
        trainer = self.trainer
        if not self.head.fits or trainer.should_stop or batch_idx + 1 < trainer.num_training_batches:
            return
        if not self.head.fit(self.model, self.fit_stop):
            trainer.should_stop = True
            for cb in trainer.callbacks:  # the epoch is incomplete: no metrics, no checkpoint
                if hasattr(cb, "stopped_mid_epoch"):
                    cb.stopped_mid_epoch = True

    def on_train_epoch_end(self) -> None:
        if self._loss_count:
            self.epoch_train = {"train_loss": float(self._loss_sum) / self._loss_count}
        self.head.end_of_epoch(self.current_epoch + 1)

    # ------------------------------------------------------------------ eval
    def _eval_start(self) -> None:
        self._val_loss_sum = torch.zeros((), device=self.device)
        self._val_count = 0

    def _eval_step(self, batch, metrics) -> None:
        x, y = batch
        out, loss = self.head.eval_step(self.model, x, y)
        if loss is not None:
            self._val_loss_sum += loss.detach() * len(y)
            self._val_count += len(y)
        self.head.update_metrics(metrics, out, y)

    def _eval_end(self, metrics, prefix: str) -> dict[str, float]:
        values = {f"{prefix}_{k}": v for k, v in self.head.compute_metrics(metrics).items()}
        metrics.reset()
        if self._val_count:
            values[f"{prefix}_loss"] = float(self._val_loss_sum) / self._val_count
        self.artifacts = self.head.epoch_artifacts()
        # logged once per epoch for ModelCheckpoint / EarlyStopping (not a per-step cost)
        self.log_dict({k: v for k, v in values.items() if math.isfinite(v)}, on_epoch=True, prog_bar=False,
                      logger=False, sync_dist=self.trainer.world_size > 1)
        return values

    def on_validation_epoch_start(self) -> None:
        self._eval_start()

    def validation_step(self, batch, batch_idx):
        self._eval_step(batch, self.val_metrics)

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            self.val_metrics.reset()
            return
        self.epoch_val = self._eval_end(self.val_metrics, "val")

    def on_test_epoch_start(self) -> None:
        self._eval_start()

    def test_step(self, batch, batch_idx):
        self._eval_step(batch, self.test_metrics)

    def on_test_epoch_end(self) -> None:
        self.epoch_val = self._eval_end(self.test_metrics, "test")

    # ------------------------------------------------------------------ optim
    def configure_optimizers(self):
        from .optim import build_optimization

        if self.head.fits:
            return None
        return build_optimization(self, self.config, self._steps_per_epoch())

    def _steps_per_epoch(self) -> int:
        """Optimizer steps per epoch as the trainer will run them: with several GPUs (DDP) each
        process takes its share of the batches, so a schedule counted from the whole loader
        would stop halfway through its curve."""
        trainer = self._trainer
        # (only then: asking Lightning sets the data up before a resumed run's loader position is
        # restored, so a single-process run counts its own loader's batches)
        if trainer is not None and trainer.world_size > 1 and trainer.max_epochs and trainer.max_epochs > 0:
            total = trainer.estimated_stepping_batches
            if math.isfinite(total) and total > 0:
                return max(1, math.ceil(total / trainer.max_epochs))
        return self.steps_per_epoch
