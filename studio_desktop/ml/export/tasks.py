"""What an export needs to know about a task: the network's outputs, their meaning, the metadata
that describes them, the reference the file must match, the checks and the metric.

One entry per exportable task in :data:`TASK_EXPORTS` (kept in step with
``core.exports.EXPORTABLE_TASKS`` by a test); the pipeline, the metadata, the runtime and the
snippet never branch on task names. An entry provides::

    task, output_names, metric_name            # output_names[0]: the main output (runtime.run, the snippet)
    compared                                   # what Validation.max_abs_diff measures ("logit", "value", "box (px)")
    onnx_exporter, fixed_batch                 # "auto" | "torchscript"; a batch size the graph is fixed to (None)
    metadata_keys, json_keys, float_keys       # the task's own metadata keys (README), how to decode them
    required_keys                              # a file of this task without them is refused
    float_layers                               # FP16/INT8: op types where the float head begins (None: default)
    network(trained, op) -> nn.Module          # what is exported
    reference(trained, network, images)        # {output: array} the file must reproduce (PyTorch)
    truth(samples, trained)                    # the samples' ground truth as score/validate read it
    outputs(network) -> {name: meaning}
    metadata(trained, op) -> {key: str}        # the task's keys, as written into the file
    mismatches(meta, trained, network, op)     # task keys read back that differ from the checkpoint's
    validate(evidence, trained, network, op) -> Validation
    score(main, targets, trained, op)          # the task metric of main outputs
    agreement(main_fp32, main, trained, op)    # share decided alike (None: the task decides nothing)
    agreement_words                            # what that share counts, in words ("": images decided alike)
    describe_outputs(meta, path)               # meta["classes"]/["class_names"]: the outputs for prediction
"""

from __future__ import annotations

import json

import numpy as np
import torch
from torch import nn

from ...core.errors import InvalidInput
from ...core.evaluation.operating_point import OperatingPoint, decide, softmax
from . import validation
from .anomaly import AnomalyExport
from .detection import DetectionExport
from .regression import RegressionExport
from .segmentation import SegmentationExport

#: the fields of an operating point that decide (see core/evaluation/operating_point.decide)
OPERATING_POINT_FIELDS = ("rule", "positive_class", "threshold", "uncertain_below", "temperature")


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


@torch.no_grad()
def run_network(network: nn.Module, names: tuple[str, ...], images: np.ndarray, chunk: int = 16
                ) -> dict[str, np.ndarray]:
    """{output name: array} of a network returning a tensor or a tuple of them, in chunks."""
    parts: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for i in range(0, len(images), chunk):
        out = network(torch.from_numpy(images[i:i + chunk]))
        out = out if isinstance(out, (tuple, list)) else (out,)
        for name, value in zip(names, out, strict=True):
            parts[name].append(value.numpy())
    return {n: np.concatenate(v) for n, v in parts.items()}


class ClassificationExport:
    """Classification: outputs ``logits`` and ``probabilities``; accuracy of the decisions."""

    task = "classification"
    output_names = ("logits", "probabilities")
    metric_name = "accuracy"
    compared = "logit"
    metadata_keys = {
        "classes": "JSON list of class names in output order (output index i is classes[i])",
        "class_ids": "JSON list of the project's class ids in output order",
        "operating_point": "JSON decision rule chosen on the Evaluation page, or `null` (argmax); see below",
        "temperature": "the temperature inside `probabilities` (`1` when none)",
    }
    json_keys = frozenset({"classes", "class_ids", "operating_point"})
    #: keys decoded as numbers, with the value a file without them means
    float_keys = {"temperature": "1"}
    required_keys = ("classes",)
    #: INT8 keeps the logits layer and the softmax float (precision.py's default); FP16 converts all
    float_layers = None
    #: ONNX exporter: "auto" (dynamo, the TorchScript-based one where dynamo cannot) or "torchscript"
    onnx_exporter = "auto"
    #: the batch size the graph is fixed to whatever the options (None: as asked)
    fixed_batch = None
    #: what agreement() counts in words ("": images decided alike)
    agreement_words = ""

    def outputs(self, network: ClassifierOutputs) -> dict[str, str]:
        temperature = network.temperature
        t = f" / temperature {temperature:g}" if temperature != 1.0 else ""
        return {"logits": "raw class scores (N x C), in the order of the `classes` key",
                "probabilities": f"softmax(logits{t}) per image (N x C); each row sums to 1"}

    def network(self, trained, op: OperatingPoint | None) -> nn.Module:
        temperature = float(op.temperature) if op is not None and op.temperature else 1.0
        return ClassifierOutputs(trained.model, temperature).eval()

    def reference(self, trained, network: nn.Module, images: np.ndarray) -> dict[str, np.ndarray]:
        return run_network(network, self.output_names, images)

    def truth(self, samples, trained) -> np.ndarray:
        """The samples' true targets as the metric reads them (output indices)."""
        return np.array([s.target for s in samples])

    def metadata(self, trained, op: OperatingPoint | None) -> dict[str, str]:
        point = {k: getattr(op, k) for k in OPERATING_POINT_FIELDS} if op is not None else None
        return {"classes": json.dumps(trained.class_names, ensure_ascii=False),
                "class_ids": json.dumps([c.id for c in trained.project.classes]),
                "operating_point": json.dumps(point),
                "temperature": repr(float(point["temperature"])) if point and point.get("temperature") else "1"}

    def mismatches(self, meta: dict, trained, network, op) -> list[str]:
        expected = {"classes": trained.class_names, "class_ids": [c.id for c in trained.project.classes],
                    "operating_point": ({k: getattr(op, k) for k in OPERATING_POINT_FIELDS}
                                        if op is not None else None)}
        bad = [k for k, v in expected.items() if meta.get(k) != v]
        if abs(float(meta.get("temperature", 1.0)) - network.temperature) > 1e-9:
            bad.append("temperature")
        return bad

    def decisions(self, logits: np.ndarray, op: OperatingPoint | None, class_ids: list[int]) -> np.ndarray:
        """Output index decided for each row (the operating point applied, as everywhere else)."""
        return decide(np.asarray(logits, dtype=np.float64), op, class_ids)[0]

    def metric(self, decisions: np.ndarray, targets: np.ndarray) -> float:
        return float((np.asarray(decisions) == np.asarray(targets)).mean()) if len(targets) else float("nan")

    def validate(self, ev: validation.Evidence, trained, network, op) -> validation.Validation:
        class_ids = [c.id for c in trained.project.classes]
        logits_torch, logits_file = ev.reference["logits"], ev.file
        temperature = float(ev.file_meta.get("temperature", 1.0) or 1.0)
        return validation.compare(
            precision=ev.precision, metric_name=self.metric_name, subsets=ev.subsets,
            logits_torch=logits_torch, logits_same_input=ev.same_input["logits"],
            probs_torch=softmax(logits_torch, network.temperature), probs_file=softmax(logits_file, temperature),
            decisions_torch=self.decisions(logits_torch, op, class_ids),
            decisions_file=np.asarray(ev.snippet.decide(logits_file, ev.file_meta)[0]),
            targets=ev.targets, metric=self.metric, metadata_mismatches=ev.mismatches)

    def score(self, main: np.ndarray, targets: np.ndarray, trained, op) -> float:
        return self.metric(self.decisions(main, op, [c.id for c in trained.project.classes]), targets)

    def agreement(self, main_fp32: np.ndarray, main: np.ndarray, trained, op) -> float | None:
        ids = [c.id for c in trained.project.classes]
        return float((self.decisions(main_fp32, op, ids) == self.decisions(main, op, ids)).mean())

    def describe_outputs(self, meta: dict, path) -> None:
        names, ids = list(meta.get("classes") or []), list(meta.get("class_ids") or [])
        if len(names) != len(ids):
            raise InvalidInput(f"its metadata lists {len(names)} class names but {len(ids)} class ids", path=path)
        meta["class_names"] = names
        meta["classes"] = [{"id": int(i), "name": str(n)} for i, n in zip(ids, names, strict=True)]


TASK_EXPORTS = {"classification": ClassificationExport(), "regression": RegressionExport(),
                "object_detection": DetectionExport(), "semantic_segmentation": SegmentationExport(),
                "anomaly_detection": AnomalyExport()}


def task_export(task: str):
    try:
        return TASK_EXPORTS[task]
    except KeyError:
        raise InvalidInput(f"exporting {task.replace('_', ' ')} models is not available in this version") from None


__all__ = ["ClassificationExport", "ClassifierOutputs", "DetectionExport", "OPERATING_POINT_FIELDS", "RegressionExport", "TASK_EXPORTS",
           "run_network", "task_export"]
