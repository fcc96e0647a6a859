"""Does an exported detector find what PyTorch finds? Boxes, scores and labels matched per image.

A detector's outputs cannot be compared element by element: two runs that agree on every object
may list them in another order, and a tiny float difference can swap two boxes of equal score.
So each image's detections are *paired*: in descending score, a detection takes the unpaired
detection of the other run with the same label and the highest IoU, if that IoU is at least
:data:`PAIR_IOU` (0.9). Then, at the operating point (the score threshold of each class):

- **paired share**: of the detections kept by either run, the share that has a partner in the
  other run (at any score: a box just above the threshold in one run and just below it in the
  other is the same object, counted under "count differences" instead);
- **box and score differences** of the pairs where either side is kept (pixels of the S x S input;
  scores 0-1);
- **count differences**: the images whose number of kept detections differs, with the totals;
- **mAP@0.5** of both runs against the ground truth (COCO's definition, ignore boxes as crowd).

Checked twice, like the other tasks (``validation.py``): on the same input tensors (the network
itself), and with the file fed by its own metadata through the usage snippet's preprocessing
(a wrong mean, colour order or box scale in the metadata fails there).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...core.evaluation.detection import box_iou
from ...core.exports import Check, Validation
from .validation import _failures, _metadata_check

#: IoU a detection needs with the other run's to be the same detection
PAIR_IOU = 0.9
#: boxes, scores and labels are compared down to this score (or the operating point's threshold when
#: lower): an under-trained model may keep nothing at its operating point, and the file must still
#: reproduce what it finds
COMPARE_SCORE = 0.05


@dataclass(frozen=True)
class DetectionLimits:
    #: same input tensors: at least this share of kept detections paired
    paired: float
    #: same input tensors: max |box coordinate difference| of pairs, x the input size S
    box_rel: float
    #: same input tensors: max |score difference| of pairs
    score: float
    #: through the file's metadata (Pillow + numpy): paired share, box (x S) and score limits
    file_paired: float
    file_box_rel: float
    file_score: float
    #: share of images whose count of kept detections may differ through the metadata
    file_counts: float
    #: the exported mAP@0.5 may be lower than PyTorch's by at most this
    map_drop: float


LIMITS: dict[str, DetectionLimits] = {
    "fp32": DetectionLimits(paired=0.99, box_rel=1e-3, score=1e-3, file_paired=0.9, file_box_rel=0.02,
                            file_score=0.05, file_counts=0.2, map_drop=0.02),
    # OpenVINO with FP16 weights (computed in f32): the teaching detector's boxes moved 0.0023 px and
    # its scores 1.3e-4, mAP@0.5 unchanged; the limits leave room for bigger networks
    "fp16": DetectionLimits(paired=0.97, box_rel=5e-3, score=1e-2, file_paired=0.9, file_box_rel=0.02,
                            file_score=0.05, file_counts=0.2, map_drop=0.03),
}


@dataclass
class Detections:
    """One image's detections (padding removed): boxes (n, 4), scores (n,), labels (n,) class index."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray

    @classmethod
    def from_rows(cls, rows: np.ndarray) -> Detections:
        """From an exported file's rows (K, 6): x1 y1 x2 y2 score label; label -1 is padding."""
        rows = np.asarray(rows, dtype=np.float64).reshape(-1, 6)
        real = (rows[:, 5] >= 0) & (rows[:, 4] > 0)
        return cls(rows[real, :4], rows[real, 4], np.rint(rows[real, 5]).astype(np.int64))

    def __len__(self) -> int:
        return len(self.scores)

    def kept(self, thresholds: np.ndarray) -> np.ndarray:
        """(n,) bool: at or above the threshold of its class."""
        if not len(self):
            return np.zeros(0, dtype=bool)
        lab = np.clip(self.labels, 0, len(thresholds) - 1)
        return self.scores >= thresholds[lab]


def split_rows(det: np.ndarray) -> list[Detections]:
    """(N, K, 6) rows -> one :class:`Detections` per image."""
    return [Detections.from_rows(r) for r in np.asarray(det)]


def pair(a: Detections, b: Detections, iou: float = PAIR_IOU) -> np.ndarray:
    """(len(a),) index into b of each detection's partner, -1 where it has none (see module doc)."""
    out = np.full(len(a), -1, dtype=np.int64)
    if not len(a) or not len(b):
        return out
    ious = box_iou(a.boxes, b.boxes)
    ious[a.labels[:, None] != b.labels[None, :]] = -1.0
    used = np.zeros(len(b), dtype=bool)
    for i in np.argsort(-a.scores, kind="stable"):
        row = np.where(used, -1.0, ious[i])
        j = int(row.argmax())
        if row[j] >= iou:
            out[i], used[j] = j, True
    return out


@dataclass
class Agreement:
    """How two runs' detections agree over a set of images (see the module docstring)."""

    kept_a: int
    kept_b: int
    paired: int
    max_box: float | None
    max_score: float | None
    count_images: int
    images: int

    @property
    def paired_share(self) -> float | None:
        total = self.kept_a + self.kept_b
        return self.paired / total if total else (1.0 if self.images else None)

    @property
    def count_share(self) -> float | None:
        return self.count_images / self.images if self.images else None


def agreement(a: list[Detections], b: list[Detections], thresholds: np.ndarray) -> Agreement:
    kept_a = kept_b = paired = differ = 0
    boxes, scores = [], []
    for da, db in zip(a, b, strict=True):
        ka, kb = da.kept(thresholds), db.kept(thresholds)
        kept_a, kept_b = kept_a + int(ka.sum()), kept_b + int(kb.sum())
        differ += int(ka.sum() != kb.sum())
        p = pair(da, db)
        has = p >= 0
        # a kept detection counts as paired when it has a partner at any score, on either side
        partnered_b = np.zeros(len(db), dtype=bool)
        partnered_b[p[has]] = True
        paired += int((ka & has).sum()) + int((kb & partnered_b).sum())
        either = has.copy()
        either[has] = ka[has] | kb[p[has]]
        if either.any():
            idx = np.where(either)[0]
            boxes.append(np.abs(da.boxes[idx] - db.boxes[p[idx]]).max())
            scores.append(np.abs(da.scores[idx] - db.scores[p[idx]]).max())
    return Agreement(kept_a, kept_b, paired, float(max(boxes)) if boxes else None,
                     float(max(scores)) if scores else None, differ, len(a))


@dataclass
class Truth:
    """One image's ground truth in input pixels: boxes (g, 4), labels (g,) class index, ignore (g,)."""

    boxes: np.ndarray
    labels: np.ndarray
    ignore: np.ndarray


def map_50(dets: list[Detections], truth: list[Truth]) -> float | None:
    """COCO mAP at IoU 0.5 (torchmetrics' MeanAveragePrecision; ignore boxes as crowd), or None
    when there is no ground-truth box to find."""
    if not any(len(t.labels) and not t.ignore.all() for t in truth):
        return None
    import torch
    from torchmetrics.detection import MeanAveragePrecision

    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", iou_thresholds=[0.5])
    preds = [{"boxes": torch.as_tensor(d.boxes, dtype=torch.float32).reshape(-1, 4),
              "scores": torch.as_tensor(d.scores, dtype=torch.float32),
              "labels": torch.as_tensor(d.labels, dtype=torch.int64)} for d in dets]
    target = [{"boxes": torch.as_tensor(t.boxes, dtype=torch.float32).reshape(-1, 4),
               "labels": torch.as_tensor(t.labels, dtype=torch.int64),
               "iscrowd": torch.as_tensor(t.ignore, dtype=torch.int64)} for t in truth]
    metric.update(preds, target)
    value = float(metric.compute()["map_50"])
    return value if value >= 0 else None


def _pairs_text(ag: Agreement) -> str:
    return (f"PyTorch kept {ag.kept_a}, the file {ag.kept_b}; {ag.paired} of these {ag.kept_a + ag.kept_b} have a "
            f"partner (same label, IoU >= {PAIR_IOU:g})")


def compare_detection(*, precision: str, subsets: dict[str, int], size: int, thresholds: np.ndarray,
                      reference: np.ndarray, same_input: np.ndarray, file: np.ndarray, truth: list[Truth],
                      metadata_mismatches: list[str] | None = None) -> Validation:
    """The :class:`Validation` of a detector export: ``reference`` (PyTorch), ``same_input`` (the file on
    the same tensors) and ``file`` (the file fed by its own metadata) are (N, K, 6) rows in input pixels."""
    lim = LIMITS[precision]
    n = len(truth)
    torch_dets = split_rows(reference)
    compared = np.minimum(thresholds, COMPARE_SCORE)
    same = agreement(torch_dets, split_rows(same_input), compared)
    file_dets = split_rows(file)
    via = agreement(torch_dets, file_dets, compared)
    counts = agreement(torch_dets, file_dets, thresholds)
    floor = f"detections scoring at least {COMPARE_SCORE:g} (or their class's lower threshold)"
    m_torch, m_file = map_50(torch_dets, truth), map_50(file_dets, truth)
    drop = (m_torch - m_file) if m_torch is not None and m_file is not None else None

    def at_most(name, value, limit, help_, unit=""):
        return Check(name=name, value=value, limit=limit, kind="max", passed=value is None or value <= limit,
                     help=help_, unit=unit)

    def at_least(name, value, limit, help_):
        return Check(name=name, value=value, limit=limit, kind="min", unit="share",
                     passed=value is not None and value >= limit, help=help_)

    checks = [
        at_least("detections paired with PyTorch's", same.paired_share, lim.paired,
                 f"same input tensors, {floor}: " + _pairs_text(same)),
        at_most("max box difference", same.max_box, lim.box_rel * size,
                f"same input tensors, paired detections, in input pixels; limit {lim.box_rel:g} x the input size "
                f"{size}", "px"),
        at_most("max score difference", same.max_score, lim.score, "same input tensors, paired detections"),
        at_least("detections paired via metadata", via.paired_share, lim.file_paired,
                 f"the file fed by its own metadata (Pillow + numpy, as the usage snippet does), {floor}: "
                 + _pairs_text(via)),
        at_most("max box difference via metadata", via.max_box, lim.file_box_rel * size,
                f"paired detections, in input pixels; limit {lim.file_box_rel:g} x the input size {size}", "px"),
        at_most("max score difference via metadata", via.max_score, lim.file_score, "paired detections"),
        Check(name="images with another count of detections", value=counts.count_share, limit=lim.file_counts,
              kind="max", unit="share",
              passed=counts.count_share is not None and counts.count_share <= lim.file_counts,
              help=f"via metadata, at the operating point: {counts.count_images} of {counts.images} images; "
                   f"{counts.kept_a} detections kept by PyTorch, {counts.kept_b} by the file"),
        at_most("mAP@0.5 drop", drop, lim.map_drop,
                "PyTorch mAP@0.5 minus the exported file's (via metadata) on the same images"
                + ("" if drop is not None else "; not measured: these images have no boxes to find")),
    ]
    mismatches = list(metadata_mismatches or [])
    checks.insert(0, _metadata_check(mismatches, "class names and ids, input size, preprocessing, the operating "
                                                 "point and the detector's settings"))
    failures = _failures(checks, mismatches, n)
    return Validation(passed=not failures, images=n, subsets=subsets, max_abs_diff=same.max_box, compared="box (px)",
                      agreement=via.paired_share, agreement_words="of detections paired via metadata",
                      metric="mAP@0.5", metric_pytorch=m_torch, metric_exported=m_file,
                      checks=checks, failures=failures)


__all__ = ["Agreement", "DetectionLimits", "Detections", "COMPARE_SCORE", "LIMITS", "PAIR_IOU", "Truth", "agreement",
           "compare_detection", "map_50", "pair", "split_rows"]
