"""Image classification: one class per image, cross-entropy, accuracy / macro P-R-F1 / confusion."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ...core.errors import InvalidInput
from ...core.schemas import ImageRecord
from ..metrics import classification_metrics, confusion_matrix
from ..models import build_classifier
from .base import TaskHead


class ClassificationHead(TaskHead):
    task = "classification"

    def __init__(self, project, config):
        super().__init__(project, config)
        if not project.classes:
            raise InvalidInput(f"project '{project.name}' has no classes; import labelled images first")
        #: class id (project.json) -> output index, in the project's class order
        self.index = {c.id: i for i, c in enumerate(project.classes)}
        self.names = [c.name for c in project.classes]
        self.class_weights: torch.Tensor | None = None
        self._confusion = confusion_matrix(len(self.names))

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def usable(self, record: ImageRecord) -> bool:
        return record.label is not None

    def target(self, record: ImageRecord) -> int:
        try:
            return self.index[record.label]
        except KeyError:
            raise InvalidInput(f"image {record.file} has label {record.label}, which is not a class of the "
                               "project") from None

    def build_model(self, log: Callable[[str, str], None]) -> nn.Module:
        return build_classifier(self.config.model, self.num_classes, pretrained=self.config.pretrained,
                                weights_file=self.config.weights_file, log=log,
                                on_weights=lambda record: setattr(self, "weights_used", record))

    def set_train_statistics(self, train_targets: list[int]) -> None:
        if not self.config.class_weights or not train_targets:
            return
        counts = Counter(train_targets)
        n, c = len(train_targets), self.num_classes
        # inverse frequency, normalised so a balanced set gets weight 1 everywhere
        self.class_weights = torch.tensor([n / (c * counts[i]) if counts.get(i) else 1.0 for i in range(c)],
                                          dtype=torch.float32)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        weight = self.class_weights.to(outputs.device) if self.class_weights is not None else None
        return F.cross_entropy(outputs.float(), targets, weight=weight,
                               label_smoothing=self.config.label_smoothing)

    def metrics(self):
        return classification_metrics(self.num_classes)

    def update_metrics(self, metrics, outputs, targets) -> None:
        preds = outputs.argmax(1)
        metrics.update(preds, targets)
        self._confusion = self._confusion.to(preds.device)
        self._confusion.update(preds, targets)

    def epoch_artifacts(self) -> dict:
        matrix = self._confusion.compute().cpu().tolist()
        self._confusion.reset()
        return {"confusion": {"classes": self.names, "matrix": matrix,
                              "note": "rows: true class, columns: predicted class"}}

    def scorable(self, record: ImageRecord) -> bool:
        return record.label in self.index

    def eval_batch(self, outputs: torch.Tensor) -> dict:
        return {"logits": outputs.float().cpu().numpy()}

    def evaluation(self):
        from .classification_eval import ClassificationEvaluation

        return ClassificationEvaluation(self)

    def decode(self, outputs: torch.Tensor) -> list[dict]:
        probs = outputs.float().softmax(1)
        conf, idx = probs.max(1)
        return [{"class": self.project.classes[i].id, "name": self.names[i], "score": float(s)}
                for i, s in zip(idx.tolist(), conf.tolist(), strict=True)]
