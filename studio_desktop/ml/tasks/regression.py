"""Image regression: one linear output per target column, normalised targets, MAE/RMSE/R².

The network learns z-scored targets (mean and standard deviation of the training subset, after
an optional log transform for positive, skewed targets): a house price in the hundreds of
thousands and a room count of 3 then pull on the weights alike, and the loss starts near 1 for
any units. The statistics travel in every checkpoint (``checkpoint_meta``) and are undone on
every prediction (:meth:`RegressionHead.denormalise`), so nothing outside training ever sees a
z-score. Metrics are in target units.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanAbsoluteError, MeanSquaredError, MetricCollection, R2Score

from ...core.errors import InvalidInput
from ...core.schemas import ImageRecord
from ...core.task_settings import settings_for
from ..models import build_classifier
from .base import TaskHead


class RegressionHead(TaskHead):
    task = "regression"

    def __init__(self, project, config):
        super().__init__(project, config)
        self.names = list(project.target_names)
        if not self.names:
            raise InvalidInput(f"project '{project.name}' has no regression targets; import a CSV file with "
                               "an image column and numeric target columns first")
        self.settings = settings_for("regression", config)
        unknown = [n for n in [*self.settings.log_targets, *self.settings.target_weights] if n not in self.names]
        if unknown:
            raise InvalidInput(f"invalid training setting: '{unknown[0]}' is not a target of this project "
                               f"(targets: {', '.join(self.names)})")
        t = len(self.names)
        self.log = torch.tensor([n in self.settings.log_targets for n in self.names])
        self.mean = torch.zeros(t)
        self.std = torch.ones(t)
        #: the training mean in target units: the baseline that predicts it for every image
        self.raw_mean = torch.zeros(t)
        self.weights = torch.tensor([float(self.settings.target_weights.get(n, 1.0)) for n in self.names])

    @property
    def num_outputs(self) -> int:
        return len(self.names)

    # ------------------------------------------------------------------ data
    def usable(self, record: ImageRecord) -> bool:
        return all(n in record.targets and math.isfinite(record.targets[n]) for n in self.names)

    def scorable(self, record: ImageRecord) -> bool:
        return self.usable(record)

    def target(self, record: ImageRecord) -> torch.Tensor:
        return torch.tensor([float(record.targets[n]) for n in self.names], dtype=torch.float32)

    def set_train_statistics(self, train_targets: list[torch.Tensor]) -> None:
        if not train_targets:
            return
        y = torch.stack(list(train_targets)).double()
        self.raw_mean = y.mean(0).float()
        for i, name in enumerate(self.names):
            if self.log[i] and bool((y[:, i] <= 0).any()):
                raise InvalidInput(f"invalid training setting 'log_targets': target '{name}' has values <= 0 "
                                   "in the training images; a log transform needs positive values")
        z = torch.where(self.log, torch.log(y.clamp_min(1e-12)), y)
        self.mean = z.mean(0).float()
        std = z.std(0, unbiased=False).float() if len(z) > 1 else torch.ones(len(self.names))
        self.std = torch.where(std > 1e-8, std, torch.ones_like(std))

    def normalise(self, y: torch.Tensor) -> torch.Tensor:
        log, mean, std = (t.to(y.device) for t in (self.log, self.mean, self.std))
        y = torch.where(log, torch.log(y.clamp_min(1e-12)), y)
        return (y - mean) / std

    def denormalise(self, out: torch.Tensor) -> torch.Tensor:
        """Network outputs (z-scores) -> target units."""
        log, mean, std = (t.to(out.device) for t in (self.log, self.mean, self.std))
        z = out.float() * std + mean
        return torch.where(log, torch.exp(z), z)

    # ------------------------------------------------------------------ model
    def build_model(self, log: Callable[[str, str], None]) -> nn.Module:
        return build_classifier(self.config.model, self.num_outputs, pretrained=self.config.pretrained,
                                weights_file=self.config.weights_file, log=log)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        z = self.normalise(targets.float())
        out = outputs.float()
        kind = self.settings.loss
        if kind == "l1":
            per = F.l1_loss(out, z, reduction="none")
        elif kind == "huber":
            per = F.huber_loss(out, z, reduction="none", delta=self.settings.huber_delta)
        else:
            per = F.mse_loss(out, z, reduction="none")
        w = self.weights.to(out.device)
        return (per * w).sum(1).mean() / w.sum()

    # ------------------------------------------------------------------ metrics
    def metrics(self) -> MetricCollection:
        t = self.num_outputs
        return MetricCollection({"mae": MeanAbsoluteError(num_outputs=t),
                                 "rmse": MeanSquaredError(squared=False, num_outputs=t),
                                 "r2": R2Score(multioutput="raw_values")})

    def update_metrics(self, metrics, outputs, targets) -> None:
        metrics.update(self.denormalise(outputs), targets.float())

    def compute_metrics(self, metrics) -> dict[str, float]:
        """Each metric per target (``mae_<target>``) and their mean (``mae``: the curves and the
        best checkpoint use it; lower is better), in target units."""
        out: dict[str, float] = {}
        for key, value in metrics.compute().items():
            per = value.reshape(-1).tolist()
            out[key] = float(sum(per) / len(per))
            if len(self.names) > 1:
                out.update({f"{key}_{n}": float(v) for n, v in zip(self.names, per, strict=True)})
        return out

    # ------------------------------------------------------------------ decode, save, evaluate
    def decode(self, outputs: torch.Tensor) -> list[dict]:
        values = self.denormalise(outputs).tolist()
        return [{"targets": dict(zip(self.names, row, strict=True))} for row in values]

    def checkpoint_meta(self) -> dict:
        return {**super().checkpoint_meta(), "normalisation": self.normalisation()}

    def normalisation(self) -> dict:
        return {"targets": list(self.names), "mean": self.mean.tolist(), "std": self.std.tolist(),
                "log": [bool(v) for v in self.log.tolist()], "train_mean": self.raw_mean.tolist(),
                "note": "the network outputs (value - mean) / std of each target (of log(value) where log "
                        "is true); predictions undo it"}

    def restore_meta(self, meta: dict) -> None:
        norm = meta.get("normalisation") or {}
        if norm.get("targets") and list(norm["targets"]) != self.names:
            raise InvalidInput(f"the checkpoint predicts {', '.join(norm['targets'])}, the project has "
                               f"{', '.join(self.names)}")
        if norm:
            self.mean = torch.tensor(norm["mean"], dtype=torch.float32)
            self.std = torch.tensor(norm["std"], dtype=torch.float32)
            self.log = torch.tensor([bool(v) for v in norm["log"]])
            self.raw_mean = torch.tensor(norm.get("train_mean", norm["mean"]), dtype=torch.float32)

    def experiment_info(self) -> dict:
        return {"target_normalisation": self.normalisation()}

    def eval_batch(self, outputs: torch.Tensor) -> dict:
        return {"values": self.denormalise(outputs).double().cpu().numpy()}

    def export_head(self) -> nn.Module:
        """What an exported model appends to the network: de-normalisation into target units."""
        return Denormalise(self.mean, self.std, self.log)

    def evaluation(self):
        from .regression_eval import RegressionEvaluation

        return RegressionEvaluation(self)


class Denormalise(nn.Module):
    """z-scores -> target units, inside an exported graph."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, log: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean.float().clone())
        self.register_buffer("std", std.float().clone())
        self.register_buffer("log", log.float().clone())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        v = z * self.std + self.mean
        return torch.where(self.log > 0.5, torch.exp(v), v)  # (exp of an unused large value stays unused)


__all__ = ["Denormalise", "RegressionHead"]
