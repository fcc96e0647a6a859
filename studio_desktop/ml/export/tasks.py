"""What an export needs to know about a task: the network's outputs, their meaning, the metric.

One entry per exportable task in :data:`TASK_EXPORTS` (kept in step with
``core.exports.EXPORTABLE_TASKS`` by a test); the pipeline never branches on task names.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...core.errors import InvalidInput
from ...core.evaluation.operating_point import OperatingPoint, decide


class ClassifierOutputs(nn.Module):
    """The exported network: the logits as trained, and their softmax.

    The probabilities use the operating point's temperature (when one was fitted), so an outside
    runtime reads calibrated probabilities without knowing about temperature scaling."""

    def __init__(self, model: nn.Module, temperature: float = 1.0):
        super().__init__()
        self.model = model
        self.temperature = float(temperature)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.model(x)
        scaled = logits / self.temperature if self.temperature != 1.0 else logits
        return logits, torch.softmax(scaled, dim=1)


class ClassificationExport:
    """Classification: outputs ``logits`` and ``probabilities``; accuracy of the decisions."""

    task = "classification"
    output_names = ("logits", "probabilities")
    metric_name = "accuracy"

    def outputs(self, temperature: float = 1.0) -> dict[str, str]:
        t = f" / temperature {temperature:g}" if temperature != 1.0 else ""
        return {"logits": "raw class scores (N x C), in the order of the `classes` key",
                "probabilities": f"softmax(logits{t}) per image (N x C); each row sums to 1"}

    def network(self, model: nn.Module, op: OperatingPoint | None) -> nn.Module:
        temperature = float(op.temperature) if op is not None and op.temperature else 1.0
        return ClassifierOutputs(model, temperature).eval()

    def decisions(self, logits: np.ndarray, op: OperatingPoint | None, class_ids: list[int]) -> np.ndarray:
        """Output index decided for each row (the operating point applied, as everywhere else)."""
        return decide(np.asarray(logits, dtype=np.float64), op, class_ids)[0]

    def metric(self, decisions: np.ndarray, targets: np.ndarray) -> float:
        return float((np.asarray(decisions) == np.asarray(targets)).mean()) if len(targets) else float("nan")


TASK_EXPORTS = {"classification": ClassificationExport()}


def task_export(task: str):
    try:
        return TASK_EXPORTS[task]
    except KeyError:
        raise InvalidInput(f"exporting {task.replace('_', ' ')} models is not available in this version") from None


__all__ = ["ClassificationExport", "ClassifierOutputs", "TASK_EXPORTS", "task_export"]
