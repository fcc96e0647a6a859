"""Does the exported file give what PyTorch gives? Checked on real images before it is offered.

Two comparisons, because an export can break in two places:

1. **The network** — the exported file and PyTorch run on the *same* input tensors (the app's
   own preprocessing): the largest difference of the main output must stay within a tolerance
   (tight for FP32). Classification compares logits, relative to the logits' size; regression
   compares each target's values in target units, relative to the target's training standard
   deviation (the reference is the app's own de-normalised prediction, so a de-normalisation
   lost or wrong inside the graph fails here).
2. **The file as a stranger uses it** — the exported file is fed by the usage snippet's
   Pillow + numpy preprocessing driven only by the metadata read back from the file.
   Classification: its decisions (operating point applied by the snippet's ``decide``) against
   PyTorch's: the share of images decided alike, the largest probability difference, and the
   accuracy under both. Regression: each target's largest value difference and the MAE under
   both. Wrong normalisation or a wrong colour order in the metadata fail here; the task's
   names (classes and ids, or targets and units), input size, preprocessing and operating point
   or normalisation read back from the file must equal what the checkpoint says.

The limits depend on the precision and are written into ``export.json`` with the values.
The task entries (``tasks.py``) gather the evidence and call :func:`compare` or
:func:`compare_regression`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from ...core.export_report import share
from ...core.exports import Check, Validation


@dataclass
class Evidence:
    """What the pipeline measured on the validation images, for the task entry to judge."""

    precision: str
    subsets: dict[str, int]
    #: {output: array}: what the file must reproduce (PyTorch, the app's own inputs)
    reference: dict[str, np.ndarray]
    #: {output: array}: the exported file on the same input tensors
    same_input: dict[str, np.ndarray]
    #: the file's main output, fed by the snippet's preprocessing from the file's own metadata
    file: np.ndarray
    #: the usage snippet imported as a module, and the metadata it read from the file
    snippet: ModuleType
    file_meta: dict[str, Any]
    #: the true targets (class indices, or values in target units)
    targets: np.ndarray
    #: metadata keys read back that differ from the checkpoint's
    mismatches: list[str] = field(default_factory=list)


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


@dataclass(frozen=True)
class RegressionLimits:
    #: max |exported - PyTorch| of a target's values on the same input tensors, x the target's
    #: training standard deviation (target units)
    values_rel: float
    #: the same through the file's own metadata (the snippet's Pillow preprocessing), x the std
    file_rel: float
    #: the exported MAE may exceed PyTorch's by at most this share of it (plus MAE_FLOOR x the
    #: targets' mean std, so that a near-perfect model is not failed by rounding)
    mae_rel: float


#: the part of the MAE limit that does not shrink with PyTorch's MAE, x the targets' mean std
MAE_FLOOR = 1e-3


REGRESSION_LIMITS: dict[str, RegressionLimits] = {
    "fp32": RegressionLimits(values_rel=1e-3, file_rel=0.02, mae_rel=0.02),
    "fp16": RegressionLimits(values_rel=2e-2, file_rel=0.05, mae_rel=0.03),
    # INT8 activations move a regression's outputs by a fraction of a standard deviation: the
    # MAE carries the verdict, the value limits catch a graph that is broken outright
    "int8": RegressionLimits(values_rel=0.5, file_rel=0.6, mae_rel=0.10),
}


def _metadata_check(mismatches: list[str], what: str) -> Check:
    return Check(name="metadata read back as written", value=float(len(mismatches)), limit=0.0, kind="max",
                 passed=not mismatches,
                 help="keys that differ: " + ", ".join(mismatches) if mismatches else
                 f"{what} read back from the file equal the checkpoint's")


def _failures(checks: list[Check], mismatches: list[str], n: int) -> list[str]:
    def show(c: Check, v):
        if c.unit == "share":
            return share(v)
        return _fmt(v) + (f" {c.unit}" if c.unit and v is not None else "")

    failures = [f"{c.name} {show(c, c.value)} {'above' if c.kind == 'max' else 'below'} the limit {show(c, c.limit)}"
                for c in checks if not c.passed]
    if mismatches:
        failures[0] = f"metadata read back differs from the checkpoint's ({', '.join(mismatches)})"
    if not n:
        failures = ["no images to validate on"]
    return failures


def compare(*, precision: str, metric_name: str, subsets: dict[str, int], logits_torch: np.ndarray,
            logits_same_input: np.ndarray, probs_torch: np.ndarray, probs_file: np.ndarray,
            decisions_torch: np.ndarray, decisions_file: np.ndarray, targets: np.ndarray,
            metric, metadata_mismatches: list[str] | None = None) -> Validation:
    """Classification: the :class:`Validation` record with every check against the precision's limits."""
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
    checks.insert(0, _metadata_check(mismatches, "class names and ids, input size, preprocessing and operating "
                                                 "point"))
    return Validation(passed=not _failures(checks, mismatches, n), images=n, subsets=subsets, max_abs_diff=max_diff,
                      agreement=agreement, metric=metric_name, metric_pytorch=m_torch, metric_exported=m_file,
                      checks=checks, failures=_failures(checks, mismatches, n))


def mean_absolute_error(values: np.ndarray, targets: np.ndarray) -> float:
    """MAE of each target (its own units), averaged over the targets: the regression task's metric."""
    v = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    t = np.asarray(targets, dtype=np.float64).reshape(v.shape)
    return float(np.abs(v - t).mean(axis=0).mean()) if len(v) else float("nan")


def compare_regression(*, precision: str, subsets: dict[str, int], names: list[str], units: list[str],
                       scales: np.ndarray, log: list[bool], values_torch: np.ndarray, values_same_input: np.ndarray,
                       values_file: np.ndarray, targets: np.ndarray, metric_name: str = "MAE",
                       metadata_mismatches: list[str] | None = None) -> Validation:
    """Regression: each target's largest difference in its units (same inputs, then through the file's
    metadata) against a limit relative to its training standard deviation, and the MAE under both."""
    lim = REGRESSION_LIMITS[precision]
    n = len(targets)
    shape = (n, len(names))
    vt, vs, vf = (np.asarray(a, dtype=np.float64).reshape(shape) for a in (values_torch, values_same_input,
                                                                            values_file))
    same, through = [], []
    for t, name in enumerate(names):
        unit, scale = units[t], float(scales[t])
        what = f"{name}'s training standard deviation {scale:.3g}" + (f" {unit}" if unit else "") + \
            (" (estimated from its log scale)" if log[t] else "")
        d_same = float(np.abs(vs[:, t] - vt[:, t]).max()) if n else None
        d_file = float(np.abs(vf[:, t] - vt[:, t]).max()) if n else None
        same.append(Check(name=f"{name}: max difference", value=d_same, limit=lim.values_rel * scale, kind="max",
                          passed=d_same is not None and d_same <= lim.values_rel * scale, unit=unit,
                          help=f"same input tensors, in target units; limit {lim.values_rel:g} x {what}"))
        through.append(Check(name=f"{name}: max difference via metadata", value=d_file, limit=lim.file_rel * scale,
                             kind="max", passed=d_file is not None and d_file <= lim.file_rel * scale, unit=unit,
                             help="the file fed by its own metadata (Pillow + numpy, as the usage snippet does); "
                                  f"limit {lim.file_rel:g} x {what}"))
    m_torch = mean_absolute_error(vt, targets) if n else None
    m_file = mean_absolute_error(vf, targets) if n else None
    floor = MAE_FLOOR * float(np.mean(scales)) if len(scales) else 0.0
    limit = lim.mae_rel * (m_torch or 0.0) + floor
    increase = (m_file - m_torch) if n else None
    metric_check = Check(
        name=f"{metric_name} increase", value=increase, limit=limit, kind="max",
        passed=increase is not None and increase <= limit,
        help=f"the exported file's {metric_name} (fed by its own metadata) minus PyTorch's on the same images, "
             f"averaged over the targets; limit {lim.mae_rel:.0%} of PyTorch's {metric_name} + {floor:.2g} "
             f"({MAE_FLOOR:g} x the targets' mean standard deviation)")
    mismatches = list(metadata_mismatches or [])
    checks = [_metadata_check(mismatches, "target names and units, normalisation, input size and preprocessing"),
              *same, *through, metric_check]
    failures = _failures(checks, mismatches, n)
    max_diff = float(np.abs(vs - vt).max()) if n else None
    return Validation(passed=not failures, images=n, subsets=subsets, max_abs_diff=max_diff, agreement=None,
                      compared="value", metric=metric_name, metric_pytorch=m_torch, metric_exported=m_file,
                      checks=checks, failures=failures)


def _fmt(v: float | None) -> str:
    if v is None:
        return "n/a"
    return f"{v:.3g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"


def summary(v: Validation) -> str:
    """One line: "passed: max logit difference 3.1e-06, 64/64 decisions agree, accuracy 0.953 -> 0.953"."""
    head = "passed" if v.passed else "FAILED (" + "; ".join(v.failures) + ")"
    parts = []
    if v.max_abs_diff is not None:
        parts.append(f"max {v.compared} difference {_fmt(v.max_abs_diff)}")
    if v.agreement is not None and v.agreement_words:
        parts.append(f"{share(v.agreement)} {v.agreement_words}")
    elif v.agreement is not None:
        parts.append(f"{round(v.agreement * v.images)}/{v.images} decisions agree")
    if v.metric_pytorch is not None:
        parts.append(f"{v.metric} {v.metric_pytorch:.3f} (PyTorch) -> {v.metric_exported:.3f}")
    return f"{head}: " + ", ".join(parts) if parts else head


__all__ = ["Evidence", "LIMITS", "Limits", "REGRESSION_LIMITS", "RegressionLimits", "Validation", "compare",
           "compare_regression", "mean_absolute_error", "summary"]
