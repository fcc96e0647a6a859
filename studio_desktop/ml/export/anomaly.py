"""Exporting an anomaly model: raw score, verdict, map and display heat map, the threshold inside the graph.

The network (``ml/models/anomaly.py``: ``{"score": (N,), "map": (N, 1, S, S)}`` in eval mode) is
wrapped so that the file alone answers the user's three questions:

- ``score`` (N,): the raw image score, higher = more anomalous, in the units of the operating point;
- ``anomalous`` (N,) bool: ``score >= threshold``, the threshold a constant of the graph (the operating
  point saved on the Evaluation page, else the default chosen on normal validation images, see
  ``core/evaluation/anomaly_predictions.py``); the metadata states it and how it was chosen;
- ``map`` (N, 1, S, S): the raw anomaly map on the input square, in score units;
- ``heat`` (N, 1, S, S): the map on the colour scale (``core.anomaly.display_range`` and ``levels``,
  as the Evaluation page draws it: 0 at the median normal score, 0.5 at the threshold, 1 at the
  defects' scores, linear on each side of the threshold, clipped to 0..1) — what the usage snippet
  and any viewer colour, so a heat map looks the same everywhere.

The reference the file must reproduce is the app's own prediction path (the head's ``eval_batch`` of
the checkpoint), not the wrapped network: anomalib issue 3658 reports exported scores drifting from the
checkpoint's, which this validation catches (``anomaly_checks.py``). ONNX files cannot pass 2 GB
(protobuf): a PatchCore memory bank that would is refused before exporting (``onnx_format.check_size``),
with the coreset ratio that fits (:func:`coreset_hint`).
"""

from __future__ import annotations

import json

import numpy as np
import torch
from torch import nn

from ...core.anomaly import THRESHOLD_POSITION, levels
from ...core.errors import InvalidInput
from ...core.evaluation.anomaly_predictions import rule_for
from ...core.evaluation.store import evaluation_folder
from . import validation
from .anomaly_checks import auroc, compare_anomaly, pool_to
from .onnx_format import SIZE_LIMIT_BYTES, SIZE_MARGIN_BYTES, tensor_bytes


class AnomalyOutputs(nn.Module):
    """The exported network: score, verdict at the threshold, raw map and its display normalisation."""

    def __init__(self, model: nn.Module, threshold: float, low: float, high: float,
                 coreset_ratio: float | None = None):
        super().__init__()
        self.model = model
        #: PatchCore's coreset ratio when trained with one (what the 2 GB hint scales)
        self.coreset_ratio = coreset_ratio
        self.threshold = float(threshold)
        self.low = float(low)
        self.high = float(high) if float(high) > float(low) else float(low) + 1e-12
        self.span = self.high - self.low

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.model(x)
        score = out["score"].to(torch.float32).reshape(-1)
        amap = out["map"].to(torch.float32)
        amap = amap.reshape(amap.shape[0], 1, amap.shape[-2], amap.shape[-1])
        return score, score >= self.threshold, amap, self.heat(amap)

    def heat(self, amap: torch.Tensor) -> torch.Tensor:
        """The map on the colour scale (``core.anomaly.levels``): 0 at ``low``, the threshold at 0.5, 1 at
        ``high``, linear on each side of the threshold (linear throughout when it lies outside the range)."""
        thr, low, high = self.threshold, self.low, self.high
        if low < thr < high:
            below = (amap - low) / (thr - low) * THRESHOLD_POSITION
            above = THRESHOLD_POSITION + (amap - thr) / (high - thr) * (1.0 - THRESHOLD_POSITION)
            return torch.where(amap < thr, below, above).clamp(0.0, 1.0)
        return ((amap - low) / self.span).clamp(0.0, 1.0)

    def size_hint(self) -> str:
        """What to do when the network is too big for one ONNX file (the export's hint)."""
        return coreset_hint(self.model, self.coreset_ratio)


def bank_bytes(module: nn.Module) -> int:
    """Bytes of the memory bank(s) among a network's buffers (PatchCore's ``memory_bank``)."""
    return sum(t.numel() * t.element_size() for name, t in module.named_buffers() if "memory_bank" in name)


def coreset_hint(model: nn.Module, ratio: float | None = None, limit: int = SIZE_LIMIT_BYTES) -> str:
    """What to do when a network is too big for one ONNX file: with a memory bank, the coreset ratio that fits."""
    bank = bank_bytes(model)
    if bank <= 0:
        return "export to TorchScript, which has no such limit, or choose a smaller model"
    room = limit - SIZE_MARGIN_BYTES - (tensor_bytes(model) - bank)
    share = max(0.0, room / bank) * 0.9
    words = f"{bank / 1e9:.2f} GB of it is the memory bank: "
    if ratio is not None:
        return words + (f"train again with a coreset ratio of {ratio * share:.3g} or less (now {ratio:.3g}; the "
                        "memory bank shrinks in proportion), or export to TorchScript")
    return words + (f"train again with a smaller coreset (at most {share:.0%} of the current memory bank), or export "
                    "to TorchScript")


def _rule(trained, op):
    """The threshold and colour scale the export carries (operating point, else the default)."""
    folder = evaluation_folder(trained.checkpoint.parent.parent) if trained.checkpoint is not None else None
    rule = rule_for(op, folder)
    if rule.threshold is None:
        raise InvalidInput("an anomaly model needs a threshold before it is exported, and this experiment has "
                           "neither an operating point nor evaluation scores to choose one from",
                           hint="evaluate the experiment first (Evaluation page, or `studio evaluate`), then "
                                "export again")
    return rule


class AnomalyExport:
    """Anomaly detection: outputs ``score``, ``anomalous``, ``map``, ``heat``; image AUROC of the scores."""

    task = "anomaly_detection"
    output_names = ("score", "anomalous", "map", "heat")
    metric_name = "image AUROC"
    compared = "score"
    #: the TorchScript-based exporter: anomalib's networks trace the same either way (PatchCore at 64 px:
    #: identical scores, maps within 4e-6), and it wrote the file 12x faster than dynamo (0.8 s / 9.8 s)
    onnx_exporter = "torchscript"
    fixed_batch = None
    agreement_words = ""
    float_layers = None
    metadata_keys = {
        "threshold": "the raw score at or above which an image is anomalous (inside the graph: `anomalous`); "
                     "the same number applied to `map` outlines the anomalous region",
        "threshold_source": "how the threshold was chosen, in words (a goal on the Evaluation page, by hand, or "
                            "the default: 5 % false positives on normal validation images)",
        "display_range": "JSON [low, high]: the raw scores mapped to 0 and 1 in `heat`, the threshold to 0.5 (linear "
                         "on each side of it)",
        "operating_point": "JSON {`threshold`, `goal`, `achieved`} as saved on the Evaluation page, or `null` "
                           "when the default threshold is used",
    }
    json_keys = frozenset({"display_range", "operating_point"})
    float_keys = {"threshold": "nan"}
    required_keys = ("threshold", "display_range")

    def outputs(self, network) -> dict[str, str]:
        return {"score": "raw image score (N), higher = more anomalous, in the units of `threshold`",
                "anomalous": "N booleans: score >= threshold (the verdict at the operating point)",
                "map": "raw anomaly map (N x 1 x S x S) on the S x S input, in score units",
                "heat": "the map on the display range (N x 1 x S x S), 0..1: low -> 0, the threshold -> 0.5, "
                        "high -> 1, linear on each side of the threshold; colour it for a heat map"}

    def network(self, trained, op) -> nn.Module:
        rule = _rule(trained, op)
        ratio = getattr(getattr(trained.head, "settings", None), "coreset_ratio", None)
        return AnomalyOutputs(trained.model, rule.threshold, rule.low, rule.high,
                              float(ratio) if isinstance(ratio, (int, float)) else None).eval()

    @torch.no_grad()
    def reference(self, trained, network: AnomalyOutputs, images: np.ndarray, chunk: int = 8
                  ) -> dict[str, np.ndarray]:
        """The app's own prediction (the head's ``eval_batch`` of the checkpoint): scores, verdicts at the
        threshold, maps on the cache's grid."""
        scores, maps = [], []
        for i in range(0, len(images), chunk):
            arrays = trained.head.eval_batch(trained.model(torch.from_numpy(images[i:i + chunk])))
            scores.append(np.asarray(arrays["score"], dtype=np.float32).reshape(-1))
            m = np.asarray(arrays["map"], dtype=np.float32)
            maps.append(m.reshape(len(m), 1, m.shape[-2], m.shape[-1]))
        score = np.concatenate(scores) if scores else np.zeros(0, dtype=np.float32)
        amap = np.concatenate(maps) if maps else np.zeros((0, 1, 1, 1), dtype=np.float32)
        return {"score": score, "anomalous": score >= network.threshold, "map": amap,
                "heat": levels(amap, network.low, network.high, network.threshold)}

    def truth(self, samples, trained) -> np.ndarray:
        """1 for an anomalous image, 0 for a normal one."""
        return np.array([int(getattr(getattr(s.record, "anomaly", None), "status", "normal") == "anomalous")
                         for s in samples], dtype=np.int64)

    def _point(self, op) -> dict | None:
        if op is None or op.threshold is None:
            return None
        return {"threshold": float(op.threshold), "goal": op.goal, "achieved": dict(op.achieved or {})}

    def metadata(self, trained, op) -> dict[str, str]:
        rule = _rule(trained, op)
        return {"threshold": repr(float(rule.threshold)), "threshold_source": rule.source,
                "display_range": json.dumps([rule.low, rule.high]), "operating_point": json.dumps(self._point(op))}

    def mismatches(self, meta: dict, trained, network, op) -> list[str]:
        bad = []
        if not abs(float(meta.get("threshold", "nan")) - network.threshold) <= 1e-9 * max(1.0, abs(network.threshold)):
            bad.append("threshold")
        low, high = (list(meta.get("display_range") or []) + [None, None])[:2]
        if low is None or abs(float(low) - network.low) > 1e-9 or abs(float(high) - network.high) > 1e-9:
            bad.append("display_range")
        if meta.get("operating_point") != json.loads(json.dumps(self._point(op))):
            bad.append("operating_point")
        return bad

    def validate(self, ev: validation.Evidence, trained, network, op) -> validation.Validation:
        return compare_anomaly(
            precision=ev.precision, subsets=ev.subsets, threshold=network.threshold,
            low=network.low, high=network.high, reference=ev.reference, same_input=ev.same_input,
            file_scores=np.asarray(ev.file, dtype=np.float64).reshape(-1),
            file_verdicts=np.asarray(ev.snippet.verdicts(ev.file, ev.file_meta)),
            targets=np.asarray(ev.targets), metadata_mismatches=ev.mismatches)

    def score(self, main: np.ndarray, targets: np.ndarray, trained, op) -> float:
        value = auroc(np.asarray(main, dtype=np.float64).reshape(-1), np.asarray(targets))
        return float("nan") if value is None else value

    def agreement(self, main_fp32: np.ndarray, main: np.ndarray, trained, op) -> float | None:
        threshold = _rule(trained, op).threshold
        a = np.asarray(main_fp32).reshape(-1) >= threshold
        b = np.asarray(main).reshape(-1) >= threshold
        return float((a == b).mean()) if len(a) else None

    def describe_outputs(self, meta: dict, path) -> None:
        if not np.isfinite(float(meta.get("threshold", float("nan")))):
            raise InvalidInput("its metadata has no usable threshold", path=path)
        meta["class_names"] = []
        meta["classes"] = []


__all__ = ["AnomalyExport", "AnomalyOutputs", "bank_bytes", "coreset_hint", "pool_to"]
