"""The interface every task head implements."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from torchmetrics import MetricCollection

from ...core.schemas import ImageRecord, Project
from ...core.train_config import TrainConfig
from ...tasks import LOWER_IS_BETTER, get_task


@dataclass
class EvaluationResult:
    """What a task's evaluation hands back to the generic evaluator to write."""

    aggregate: dict[str, Any]
    lines: list[dict]
    scores: dict[str, Any]
    #: extra JSON files of the evaluation folder (e.g. label_issues.json)
    files: dict[str, Any] = field(default_factory=dict)
    #: a few numbers for the completed event and the CLI's summary line
    headline: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvalBatch:
    """What an evaluation batch is besides its tensors: a head that judges at the image's own
    resolution (segmentation masks, anomaly maps) reads the originals and writes per-image files."""

    #: the batch's records, in the order of its tensors
    records: list[ImageRecord]
    #: the dataset root: ``record.file`` and ``record.mask`` are relative to it
    root: Path
    #: the staged evaluation folder (swapped in whole at the end): per-image files go under it
    folder: Path
    device: torch.device


class TaskEvaluation(Protocol):
    def evaluate(self, *, records: list[ImageRecord], subsets, targets: list, arrays: dict, op,
                 log: Callable[[str, str], None]) -> EvaluationResult: ...


class TaskHead:
    """Per-task behaviour used by the generic LightningModule and DataModule."""

    task: str = ""

    def __init__(self, project: Project, config: TrainConfig):
        self.project = project
        self.config = config
        self.info = get_task(project.task)
        #: where the head reports to the user (the training log); training sets it
        self.report: Callable[..., None] = lambda message, level="info": None
        #: the dataset root (``record.file`` and ``record.mask`` are relative to it): training sets
        #: it before any target is read (a mask-reading head needs it)
        self.root: Path | None = None
        #: set by :meth:`build_model` when it loaded pretrained weights: what experiment.json
        #: records about them (``core.weights.WeightsForTraining.record``)
        self.weights_used: dict | None = None

    # -- data
    def usable(self, record: ImageRecord) -> bool:
        """Whether the record carries this task's annotation (unlabelled images are left out)."""
        raise NotImplementedError

    def target(self, record: ImageRecord) -> Any:
        raise NotImplementedError

    def annotation_key(self, record: ImageRecord) -> Any:
        """What of the record enters the dataset hash (the id plus its annotation)."""
        return [record.id, record.model_dump(mode="json").get(self.info.annotation)]

    def collate(self, batch):  # default: stack images and targets
        return torch.utils.data.default_collate(batch)

    def transforms(self, train: bool) -> Callable:
        """The training (augmented) or evaluation pipeline of this head's config."""
        from ..augment import build_transforms

        return build_transforms(self.config.augmentations if train else [], self.config.input_size, train=train)

    def zooms(self) -> bool:
        """Whether the training pipeline zooms in (images are then cached with more pixels)."""
        from ..augment import zooms

        return zooms(self.config.augmentations)

    def detail(self):
        """How many pixels of each image the data cache keeps (a ``data.Detail``). None (the
        default): what the input size needs. A head that trains on full-resolution crops
        (tiles-mode segmentation) keeps more."""
        return None

    def prepare_subsets(self, subsets: dict[str, list[ImageRecord]]) -> dict[str, list[ImageRecord]]:
        """The records each subset trains and validates on (default: as the split says). A task
        may leave some out (normal-only anomaly models train on normal images only) or refuse
        a split it cannot learn from, with a message."""
        return subsets

    def validates(self, records: list[ImageRecord]) -> bool:
        """Whether the validation records can be scored at all (default: when there are any);
        if not, training runs without validation and best.ckpt is the last epoch."""
        return bool(records)

    def sample(self, transform: Callable, image, target: Any, record: ImageRecord) -> tuple[Any, Any]:
        """One ``(input, target)`` pair from a decoded image (a ``tv_tensors.Image``, possibly shrunk
        by the image cache) and the record's target. The default transforms the image alone; a task
        whose target lives in the image's geometry (boxes, masks) moves it with the image."""
        return transform(image), target

    # -- model
    def build_model(self, log: Callable[[str, str], None]) -> nn.Module:
        raise NotImplementedError

    #: a *fitted* model (PatchCore, PaDiM) learns in one pass without an optimiser: the training
    #: loss is None, the run has one epoch, and :meth:`fit` builds the model after the pass
    fits: bool = False

    def fit(self, model: nn.Module, stop: Callable[[], bool]) -> bool:
        """Build a fitted model from what the pass over the training images collected; False when
        a stop request came first (nothing is then saved)."""
        return True

    def set_train_statistics(self, train_targets: list[Any]) -> None:
        """Called once with the training targets (class weights...)."""

    def loss(self, outputs: Any, targets: Any) -> torch.Tensor:
        raise NotImplementedError

    def training_loss(self, model: nn.Module, x: Any, y: Any) -> torch.Tensor:
        """The loss of one training batch. Default: the head's loss of the network's outputs; a
        network that computes its own loss from the targets (torchvision's detectors) overrides it."""
        return self.loss(model(x), y)

    def eval_step(self, model: nn.Module, x: Any, y: Any) -> tuple[Any, torch.Tensor | None]:
        """``(outputs, loss)`` of one evaluation batch (model in eval mode); the loss may be None
        when the network cannot give one in eval mode (no ``val_loss`` is then logged)."""
        out = model(x)
        return out, self.loss(out, y)

    def draw_target(self, image: torch.Tensor, target: Any) -> torch.Tensor:
        """A uint8 CHW training input with its target drawn on it (the augmentation preview):
        nothing to draw by default; a detector draws its boxes."""
        return image

    def end_of_epoch(self, epoch: int) -> None:
        """Called after each training epoch (e.g. to report what the data pipeline dropped)."""

    def metrics(self) -> MetricCollection:
        raise NotImplementedError

    def update_metrics(self, metrics: MetricCollection, outputs: Any, targets: Any) -> None:
        metrics.update(outputs, targets)

    def compute_metrics(self, metrics: MetricCollection) -> dict[str, float]:
        """The epoch's metric values by name (a head with per-output metrics names each output)."""
        return {k: float(v) for k, v in metrics.compute().items()}

    def restore_meta(self, meta: dict[str, Any]) -> None:
        """Take back what :meth:`checkpoint_meta` saved beyond the config (e.g. target normalisation)."""

    def experiment_info(self) -> dict[str, Any]:
        """Facts of this run recorded in experiment.json's environment (e.g. target normalisation)."""
        return {}

    def epoch_artifacts(self) -> dict[str, Any]:
        """Extra results of the last evaluation pass (e.g. a confusion matrix)."""
        return {}

    def decode(self, outputs: Any) -> list[dict]:
        raise NotImplementedError

    # -- evaluation (ml/evaluate.py): the evaluator is generic, these say what is task-specific
    def scorable(self, record: ImageRecord) -> bool:
        """Whether this model can be judged on the record (e.g. its class existed when it was trained)."""
        return True

    def eval_batch(self, outputs: Any) -> dict[str, Any]:
        """Per-image raw outputs of one batch to cache (numpy arrays, first axis = images)."""
        raise NotImplementedError

    def evaluate_batch(self, model: Callable[[torch.Tensor], Any], x: torch.Tensor, y: Any,
                       batch: EvalBatch) -> tuple[dict[str, np.ndarray], list]:
        """One evaluation batch: ``(arrays to cache, targets to keep)``. Default: the network on the
        prepared inputs, :meth:`eval_batch` of its outputs, the targets as they came. A head that
        predicts at the original resolution (a sliding window) or writes per-image files overrides it."""
        out = model(x.to(batch.device, non_blocking=True))
        return self.eval_batch(out), (y.tolist() if isinstance(y, torch.Tensor) else list(y))

    def evaluation(self) -> TaskEvaluation:
        """The task's metrics, result lines and cached scores from the raw outputs."""
        raise NotImplementedError

    # -- what a checkpoint carries
    def checkpoint_meta(self) -> dict[str, Any]:
        """Stored in every checkpoint under ``"studio"``: enough to rebuild the network and to
        refuse a checkpoint of another project (see ``ml/checkpoint.py``)."""
        from ... import __version__

        return {"schema_version": 1, "task": self.project.task, "project_id": self.project.id,
                "project_name": self.project.name,
                "classes": [{"id": c.id, "name": c.name} for c in self.project.classes],
                "target_names": list(self.project.target_names), "target_units": dict(self.project.target_units),
                "config": self.config.model_dump(mode="json"),
                "app_version": __version__}

    # -- names
    @property
    def monitor(self) -> str:
        return f"val_{self.info.primary_metric}"

    @property
    def monitor_mode(self) -> str:
        return "min" if self.info.primary_metric in LOWER_IS_BETTER else "max"
