"""Exporting a regression model: the de-normalisation inside the graph, values in target units.

The network learns z-scores of each target (``ml/tasks/regression.py``); the exported network
appends the head's own :class:`~studio_desktop.ml.tasks.regression.Denormalise`, so the file's
one output ``values`` (N x T) is already in target units and a stranger needs nothing but the
target names and units from the metadata. The metadata also states the normalisation (mean, std,
log per target) for information, marked as applied inside the graph.

The reference the file must reproduce is the app's own prediction path (the checkpoint's z-scores
de-normalised by the head, what evaluation and ``studio predict`` use), not the exported network
itself: a de-normalisation lost or wrong in the graph fails the validation.
"""

from __future__ import annotations

import json
import math

import numpy as np
import torch
from torch import nn

from ...core.errors import InvalidInput
from . import validation


class RegressionOutputs(nn.Module):
    """The exported network: the model's z-scores turned into target units inside the graph.

    Returns a tuple of one tensor, as every exported network returns its outputs as a tuple in
    the order of the metadata's ``outputs`` (a TorchScript caller takes ``[0]`` for any task)."""

    def __init__(self, model: nn.Module, denormalise: nn.Module):
        super().__init__()
        self.model = model
        self.denormalise = denormalise

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        return (self.denormalise(self.model(x)),)


def target_scales(normalisation: dict) -> np.ndarray:
    """Each target's training standard deviation in target units: the normalisation's std, or for a
    log-transformed target the log-normal estimate from the log scale's mean m and std s
    (sqrt(exp(s²) - 1) x exp(m + s²/2))."""
    out = []
    for m, s, log in zip(normalisation["mean"], normalisation["std"], normalisation["log"], strict=True):
        out.append(math.sqrt(math.expm1(s * s)) * math.exp(m + s * s / 2) if log else s)
    return np.asarray(out, dtype=np.float64)


class RegressionExport:
    """Regression: one output ``values`` (N x T, target units); MAE averaged over the targets."""

    task = "regression"
    output_names = ("values",)
    metric_name = "MAE"
    compared = "value"
    metadata_keys = {
        "targets": "JSON list of target names in output order (column i of `values` is targets[i])",
        "units": "JSON list of the targets' units in the same order (`\"\"` where the import gave none)",
        "normalisation": "JSON {`applied`, `mean`, `std`, `log`}: how the network's z-scores become target "
                         "units (z x std + mean, then exp where log is true); `applied` is `inside the graph`: "
                         "`values` is already in target units, stated for information",
    }
    json_keys = frozenset({"targets", "units", "normalisation"})
    float_keys: dict[str, str] = {}
    required_keys = ("targets",)
    #: FP16/INT8 keep the last layer and the de-normalisation float (a price overflows FP16; INT8
    #: would round the values to 256 levels)
    float_layers = ("Gemm", "MatMul", "Conv")
    onnx_exporter = "auto"
    fixed_batch = None
    agreement_words = ""

    def outputs(self, network) -> dict[str, str]:
        return {"values": "predicted values in target units (N x T): column i is the target `targets[i]`, in "
                          "`units[i]`; the de-normalisation is inside the graph"}

    def network(self, trained, op) -> nn.Module:
        return RegressionOutputs(trained.model, trained.head.export_head()).eval()

    @torch.no_grad()
    def reference(self, trained, network, images: np.ndarray, chunk: int = 16) -> dict[str, np.ndarray]:
        """The app's own prediction (checkpoint z-scores de-normalised by the head), not the network's."""
        head = trained.head
        parts = [head.eval_batch(trained.model(torch.from_numpy(images[i:i + chunk])))["values"]
                 for i in range(0, len(images), chunk)]
        return {"values": np.concatenate(parts) if parts else np.zeros((0, head.num_outputs))}

    def truth(self, samples, trained) -> np.ndarray:
        """The samples' true values in target units (N x T)."""
        return np.array([s.target for s in samples])

    @staticmethod
    def _names_units(trained) -> tuple[list[str], list[str]]:
        names = list(trained.head.names)
        return names, [str(trained.project.target_units.get(n, "")) for n in names]

    @staticmethod
    def _normalisation(trained) -> dict:
        norm = trained.head.normalisation()
        return {"applied": "inside the graph", "mean": norm["mean"], "std": norm["std"], "log": norm["log"]}

    def metadata(self, trained, op) -> dict[str, str]:
        names, units = self._names_units(trained)
        return {"targets": json.dumps(names, ensure_ascii=False), "units": json.dumps(units, ensure_ascii=False),
                "normalisation": json.dumps(self._normalisation(trained))}

    def mismatches(self, meta: dict, trained, network, op) -> list[str]:
        names, units = self._names_units(trained)
        expected = {"targets": names, "units": units, "normalisation": self._normalisation(trained)}
        return [k for k, v in expected.items() if meta.get(k) != v]

    def validate(self, ev: validation.Evidence, trained, network, op) -> validation.Validation:
        names, units = self._names_units(trained)
        return validation.compare_regression(
            precision=ev.precision, subsets=ev.subsets, names=names, units=units,
            scales=target_scales(trained.head.normalisation()), log=list(trained.head.normalisation()["log"]),
            values_torch=ev.reference["values"], values_same_input=ev.same_input["values"], values_file=ev.file,
            targets=ev.targets, metric_name=self.metric_name, metadata_mismatches=ev.mismatches)

    def score(self, main: np.ndarray, targets: np.ndarray, trained, op) -> float:
        return validation.mean_absolute_error(main, targets)

    def agreement(self, main_fp32: np.ndarray, main: np.ndarray, trained, op) -> float | None:
        return None  # values are not decisions

    def describe_outputs(self, meta: dict, path) -> None:
        names = [str(n) for n in meta.get("targets") or []]
        units = [str(u) for u in meta.get("units") or [""] * len(names)]
        if len(units) != len(names):
            raise InvalidInput(f"its metadata lists {len(names)} targets but {len(units)} units", path=path)
        meta["class_names"] = names
        meta["classes"] = [{"id": i, "name": n, "unit": u} for i, (n, u) in enumerate(zip(names, units, strict=True))]


__all__ = ["RegressionExport", "RegressionOutputs", "target_scales"]
