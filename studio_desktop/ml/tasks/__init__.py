"""Task heads: the per-task part of the one training pipeline (DESIGN §2.4).

A head knows, for its task, how to read a record's target, build the network, compute the
loss and the metrics, and decode predictions. ``module.py`` and ``data.py`` are generic;
adding a task means adding a head here (keyed by the registry's task id).
"""

from __future__ import annotations

from ...core.errors import InvalidInput
from ...core.schemas import Project
from ...core.train_config import TrainConfig
from ...tasks import training_unavailable
from .anomaly import AnomalyHead
from .base import TaskHead
from .classification import ClassificationHead
from .detection import DetectionHead
from .regression import RegressionHead
from .segmentation import SegmentationHead

HEADS: dict[str, type[TaskHead]] = {
    "anomaly_detection": AnomalyHead,
    "classification": ClassificationHead,
    "object_detection": DetectionHead,
    "regression": RegressionHead,
    "semantic_segmentation": SegmentationHead,
}


def make_head(project: Project, config: TrainConfig) -> TaskHead:
    cls = HEADS.get(project.task)
    if cls is None:
        raise InvalidInput(training_unavailable(project.task) or f"no task head for {project.task}")
    return cls(project, config)


__all__ = ["HEADS", "TaskHead", "make_head"]
