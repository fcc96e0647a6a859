"""Metrics with torchmetrics, named as the task registry names them (``val_accuracy``...)."""

from __future__ import annotations

import torch
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
)


def classification_metrics(num_classes: int) -> MetricCollection:
    """accuracy (micro: fraction of images right) and macro precision/recall/F1 (every class counts
    the same, so a rare class that is always missed shows up)."""
    n = max(num_classes, 2)
    return MetricCollection({
        "accuracy": MulticlassAccuracy(n, average="micro"),
        "precision_macro": MulticlassPrecision(n, average="macro"),
        "recall_macro": MulticlassRecall(n, average="macro"),
        "f1_macro": MulticlassF1Score(n, average="macro"),
    })


def confusion_matrix(num_classes: int) -> MulticlassConfusionMatrix:
    return MulticlassConfusionMatrix(max(num_classes, 2))


def to_floats(values: dict[str, torch.Tensor], prefix: str) -> dict[str, float]:
    return {f"{prefix}{k}": float(v) for k, v in values.items()}
