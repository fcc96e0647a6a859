"""Does the exported file give what PyTorch gives? Checked on real images before it is offered.

Two comparisons, because an export can break in two places:

1. **The network** — the exported file and PyTorch run on the *same* input tensors (the app's
   own preprocessing): the largest logit difference must stay within a tolerance relative to
   the logits' size (tight for FP32).
2. **The file as a stranger uses it** — the exported file is fed by the usage snippet's
   Pillow + numpy preprocessing driven only by the metadata read back from the file, and its
   decisions (operating point applied by the snippet's ``decide``) are compared with
   PyTorch's: the share of images decided alike, the largest probability difference, and the
   task metric (accuracy) under both. Wrong normalisation or a wrong colour order in the
   metadata fail here; class names, ids, input size and operating point read back from the
   file must equal what the checkpoint says.

The limits depend on the precision and are written into ``export.json`` with the values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...core.export_report import share
from ...core.exports import Check, Validation


@dataclass(frozen=True)
class Limits:
    #: max |exported - PyTorch| logit difference, relative to max(1, max |PyTorch logit|)
    logits_rel: float
    #: max |exported - PyTorch| probability difference through the file's own metadata
    probability: float
    #: share of images whose decision matches PyTorch's, at least
    agreement: float
    #: the exported metric may be lower than PyTorch's by at most this
    metric_drop: float


LIMITS: dict[str, Limits] = {
    "fp32": Limits(logits_rel=1e-3, probability=0.02, agreement=0.98, metric_drop=0.02),
    "fp16": Limits(logits_rel=2e-2, probability=0.05, agreement=0.97, metric_drop=0.03),
    # post-training INT8 moves logits by tens of percent on some networks while keeping their
    # decisions (MobileNetV3 from scratch: largest logit moved 27 % of the largest logit, 95.6 % of
    # decisions and the accuracy within 1.1 points kept): for INT8 the decisions and the metric
    # carry the verdict, the logit limit only catches a graph that is broken outright
    "int8": Limits(logits_rel=0.5, probability=0.25, agreement=0.90, metric_drop=0.05),
}


def compare(*, precision: str, metric_name: str, subsets: dict[str, int], logits_torch: np.ndarray,
            logits_same_input: np.ndarray, probs_torch: np.ndarray, probs_file: np.ndarray,
            decisions_torch: np.ndarray, decisions_file: np.ndarray, targets: np.ndarray,
            metric, metadata_mismatches: list[str] | None = None) -> Validation:
    """The :class:`Validation` record with every check against the precision's limits."""
    lim = LIMITS[precision]
    n = len(targets)
    scale = max(1.0, float(np.abs(logits_torch).max())) if logits_torch.size else 1.0
    max_diff = float(np.abs(logits_same_input - logits_torch).max()) if n else None
    prob_diff = float(np.abs(probs_file - probs_torch).max()) if n else None
    agreement = float((decisions_file == decisions_torch).mean()) if n else None
    m_torch, m_file = (float(metric(decisions_torch, targets)), float(metric(decisions_file, targets))) if n \
        else (None, None)
    drop = (m_torch - m_file) if n else None
    checks = [
        Check(name="max logit difference", value=max_diff, limit=lim.logits_rel * scale, kind="max",
              passed=max_diff is not None and max_diff <= lim.logits_rel * scale,
              help=f"same input tensors; limit {lim.logits_rel:g} x max(1, largest |logit| = {scale:.3g})"),
        Check(name="max probability difference", value=prob_diff, limit=lim.probability, kind="max",
              passed=prob_diff is not None and prob_diff <= lim.probability,
              help="the file fed by its own metadata (Pillow + numpy, as the usage snippet does)"),
        Check(name="decisions agreeing with PyTorch", value=agreement, limit=lim.agreement, kind="min",
              passed=agreement is not None and agreement >= lim.agreement, unit="share",
              help="share of images given the same class (operating point applied)"),
        Check(name=f"{metric_name} drop", value=drop, limit=lim.metric_drop, kind="max",
              passed=drop is not None and drop <= lim.metric_drop,
              help=f"PyTorch {metric_name} minus the exported file's, on the same images"),
    ]
    mismatches = list(metadata_mismatches or [])
    checks.insert(0, Check(name="metadata read back as written", value=float(len(mismatches)), limit=0.0, kind="max",
                           passed=not mismatches,
                           help="keys that differ: " + ", ".join(mismatches) if mismatches else
                           "class names and ids, input size, preprocessing and operating point read back "
                           "from the file equal the checkpoint's"))

    def show(c: Check, v):
        return share(v) if c.unit == "share" else _fmt(v)

    failures = [f"{c.name} {show(c, c.value)} {'above' if c.kind == 'max' else 'below'} the limit {show(c, c.limit)}"
                for c in checks if not c.passed]
    if mismatches:
        failures[0] = f"metadata read back differs from the checkpoint's ({', '.join(mismatches)})"
    if not n:
        failures = ["no images to validate on"]
    return Validation(passed=not failures, images=n, subsets=subsets, max_abs_diff=max_diff, agreement=agreement,
                      metric=metric_name, metric_pytorch=m_torch, metric_exported=m_file, checks=checks,
                      failures=failures)


def _fmt(v: float | None) -> str:
    if v is None:
        return "n/a"
    return f"{v:.3g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"


def summary(v: Validation) -> str:
    """One line: "passed: max logit difference 3.1e-06, 64/64 decisions agree, accuracy 0.953 -> 0.953"."""
    head = "passed" if v.passed else "FAILED (" + "; ".join(v.failures) + ")"
    parts = []
    if v.max_abs_diff is not None:
        parts.append(f"max logit difference {_fmt(v.max_abs_diff)}")
    if v.agreement is not None:
        parts.append(f"{round(v.agreement * v.images)}/{v.images} decisions agree")
    if v.metric_pytorch is not None:
        parts.append(f"{v.metric} {v.metric_pytorch:.3f} (PyTorch) -> {v.metric_exported:.3f}")
    return f"{head}: " + ", ".join(parts) if parts else head


__all__ = ["LIMITS", "Limits", "compare", "summary"]
