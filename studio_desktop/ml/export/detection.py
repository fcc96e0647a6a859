"""Exporting an object detector: one output ``detections`` (N x K x 6), the operating point in the metadata.

The network (``ml/models/detection.py``'s ``Detector``) returns fixed-size boxes, scores and labels
(K = its ``max_detections``, padded); the exported graph concatenates them into one tensor whose
rows are ``x1, y1, x2, y2, score, class`` — boxes in pixels of the S x S letterboxed input, the
class as the project class index (-1 and score 0 on padding rows), sorted by score. One output
keeps every runtime, the usage snippet and ``studio predict`` on the same path as the other
tasks (the main output), and is the layout detector exports commonly use.

The detector keeps low-score boxes (mAP needs them), so the file does too: the operating point
(score threshold, per-class thresholds, NMS IoU) travels in the metadata and is applied by the
reader, as ``studio predict`` and the snippet do. The torchvision detectors export with the
TorchScript-based ONNX exporter only (DESIGN §11) and with a batch of 1: their per-image loops are
unrolled when traced, so a graph traced on one image runs exactly one image (``batch`` = ``1`` in
the metadata and ``export.json``; the runtimes and the snippet feed images one at a time).

Validation (``detection_checks.py``): boxes, scores and labels paired with PyTorch's per image
(same label, IoU >= 0.9), their differences, the counts kept at the operating point and mAP@0.5
under both, on the same input tensors and through the file's own metadata.
"""

from __future__ import annotations

import json

import numpy as np
import torch
from torch import nn

from ...core.errors import InvalidInput
from ...core.evaluation.detection import DEFAULT_MATCH_IOU, DEFAULT_SCORE_THRESHOLD
from ...core.letterbox import to_input
from . import validation
from .detection_checks import Truth, compare_detection, map_50, split_rows

#: the fields of a detection operating point (core/evaluation/operating_point.py) that the file carries
OPERATING_POINT_FIELDS = ("score_threshold", "class_thresholds", "nms_iou", "match_iou")
#: the detector's own NMS IoU and score floor when its settings do not say (DETECTION.md)
MODEL_NMS_IOU = 0.5
MODEL_SCORE_FLOOR = 0.001


class DetectionOutputs(nn.Module):
    """The exported network: the detector's boxes, scores and labels as one (N, K, 6) tensor."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        out = self.model(x)
        boxes = out["boxes"].to(torch.float32)
        return (torch.cat([boxes, out["scores"].to(torch.float32).unsqueeze(-1),
                           out["labels"].to(torch.float32).unsqueeze(-1)], dim=-1),)


def rows_of(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(N, K, 6) rows from the head's arrays (``eval_batch``): the exported layout."""
    b = np.asarray(boxes, dtype=np.float32)
    return np.concatenate([b, np.asarray(scores, dtype=np.float32)[..., None],
                           np.asarray(labels, dtype=np.float32)[..., None]], axis=-1)


def operating_point_of(op) -> dict | None:
    """The detection fields of an operating point, JSON-ready (class thresholds keyed by class id)."""
    if op is None:
        return None
    point = {k: getattr(op, k, None) for k in OPERATING_POINT_FIELDS}
    point["class_thresholds"] = {str(int(k)): float(v) for k, v in (point["class_thresholds"] or {}).items()}
    return point


def thresholds_of(point: dict | None, class_ids: list[int]) -> np.ndarray:
    """(C,) each class's score threshold (project class index order) under a decoded operating point."""
    point = point or {}
    base = point.get("score_threshold")
    base = DEFAULT_SCORE_THRESHOLD if base is None else float(base)
    per = {int(k): float(v) for k, v in (point.get("class_thresholds") or {}).items()}
    return np.array([per.get(int(c), base) for c in class_ids], dtype=np.float64)


def detector_settings(trained) -> dict:
    """The detector's settings that shape its outputs: max detections, its NMS IoU, its score floor."""
    raw = dict(getattr(trained.config, "task_settings", None) or {})
    model = trained.model
    return {"max_detections": int(getattr(model, "max_detections", 0) or raw.get("max_detections", 100)),
            "nms_iou": float(getattr(model, "nms_iou", 0) or raw.get("nms_iou", MODEL_NMS_IOU)),
            "score_floor": float(getattr(model, "score_floor", 0) or MODEL_SCORE_FLOOR)}


class DetectionExport:
    """Object detection: output ``detections`` (N x K x 6, input pixels); mAP@0.5 and paired boxes."""

    task = "object_detection"
    output_names = ("detections",)
    metric_name = "mAP@0.5"
    compared = "box (px)"
    #: the torchvision detectors trace into ONNX only with the TorchScript-based exporter (DESIGN §11)
    onnx_exporter = "torchscript"
    #: their per-image loops unroll when traced: the file runs one image per call
    fixed_batch = 1
    agreement_words = "of detections paired with FP32"
    #: FP32, and FP16 weights in OpenVINO (core/exports.py TASK_PRECISIONS says why no more)
    float_layers = None
    metadata_keys = {
        "classes": "JSON list of class names; the class column of `detections` indexes it",
        "class_ids": "JSON list of the project's class ids in the same order",
        "operating_point": "JSON detection rule chosen on the Evaluation page (`score_threshold`, "
                           "`class_thresholds` by class id, `nms_iou`, `match_iou`), or `null`; see below",
        "score_threshold": "the score a detection needs to be reported (the operating point's, else `0.5`); a "
                           "class in `class_thresholds` uses its own",
        "max_detections": "K: rows per image in `detections` (padding rows have score 0 and class -1)",
        "model_nms_iou": "IoU of the class-wise NMS inside the graph (a lower `nms_iou` in the operating point is "
                         "applied by the reader)",
        "boxes": "`input pixels`: box corners are pixels of the S x S letterboxed input; see \"Boxes on the "
                 "original image\" below",
    }
    json_keys = frozenset({"classes", "class_ids", "operating_point"})
    float_keys = {"score_threshold": str(DEFAULT_SCORE_THRESHOLD), "max_detections": "100",
                  "model_nms_iou": str(MODEL_NMS_IOU)}
    required_keys = ("classes", "class_ids")

    def outputs(self, network) -> dict[str, str]:
        return {"detections": "N x K x 6 rows x1, y1, x2, y2, score, class per image: box corners in pixels of the "
                              "S x S letterboxed input, the class an index into `classes` (-1 with score 0: "
                              "padding), sorted by score; the model's NMS is applied, the score threshold is not"}

    def network(self, trained, op) -> nn.Module:
        return DetectionOutputs(trained.model).eval()

    @torch.no_grad()
    def reference(self, trained, network, images: np.ndarray, chunk: int = 8) -> dict[str, np.ndarray]:
        """The app's own prediction (the head's ``eval_batch`` of the checkpoint), in the exported layout."""
        parts = []
        for i in range(0, len(images), chunk):
            arrays = trained.head.eval_batch(trained.model(torch.from_numpy(images[i:i + chunk])))
            parts.append(rows_of(arrays["boxes"], arrays["scores"], arrays["labels"]))
        return {"detections": np.concatenate(parts) if parts else np.zeros((0, 0, 6), dtype=np.float32)}

    def metadata(self, trained, op) -> dict[str, str]:
        point = operating_point_of(op)
        ids = [c.id for c in trained.project.classes]
        settings = detector_settings(trained)
        base = point.get("score_threshold") if point else None
        return {"classes": json.dumps(trained.class_names, ensure_ascii=False), "class_ids": json.dumps(ids),
                "operating_point": json.dumps(point),
                "score_threshold": repr(float(DEFAULT_SCORE_THRESHOLD if base is None else base)),
                "max_detections": str(settings["max_detections"]),
                "model_nms_iou": repr(settings["nms_iou"]), "boxes": "input pixels"}

    def mismatches(self, meta: dict, trained, network, op) -> list[str]:
        expected = self.metadata(trained, op)
        bad = [k for k in ("classes", "class_ids", "operating_point") if meta.get(k) != json.loads(expected[k])]
        bad += [k for k in self.float_keys if abs(float(meta.get(k, "nan")) - float(expected[k])) > 1e-9]
        return bad + (["boxes"] if meta.get("boxes") != expected["boxes"] else [])

    def truth(self, samples, trained) -> list[Truth]:
        """Each sample's ground-truth boxes in input pixels (the space of ``detections``)."""
        index = {c.id: i for i, c in enumerate(trained.project.classes)}
        size = trained.preprocessing.input_size
        out = []
        for s in samples:
            rec = s.record
            boxes = [b for b in (rec.boxes or []) if b.cls in index]
            xyxy = np.array([[b.x1, b.y1, b.x2, b.y2] for b in boxes], dtype=np.float64).reshape(-1, 4)
            out.append(Truth(to_input(xyxy, rec.width, rec.height, size).astype(np.float64),
                             np.array([index[b.cls] for b in boxes], dtype=np.int64),
                             np.array([b.difficult or b.iscrowd for b in boxes], dtype=bool)))
        return out

    def validate(self, ev: validation.Evidence, trained, network, op) -> validation.Validation:
        ids = [c.id for c in trained.project.classes]
        return compare_detection(
            precision=ev.precision, subsets=ev.subsets, size=trained.preprocessing.input_size,
            thresholds=thresholds_of(operating_point_of(op), ids), reference=ev.reference["detections"],
            same_input=ev.same_input["detections"], file=ev.file, truth=list(ev.targets),
            metadata_mismatches=ev.mismatches)

    def score(self, main: np.ndarray, targets, trained, op) -> float:
        value = map_50(split_rows(main), list(targets))
        return float("nan") if value is None else value

    def agreement(self, main_fp32: np.ndarray, main: np.ndarray, trained, op) -> float | None:
        from .detection_checks import agreement

        ids = [c.id for c in trained.project.classes]
        return agreement(split_rows(main_fp32), split_rows(main),
                         thresholds_of(operating_point_of(op), ids)).paired_share

    def describe_outputs(self, meta: dict, path) -> None:
        names, ids = list(meta.get("classes") or []), list(meta.get("class_ids") or [])
        if len(names) != len(ids):
            raise InvalidInput(f"its metadata lists {len(names)} class names but {len(ids)} class ids", path=path)
        meta["class_names"] = names
        meta["classes"] = [{"id": int(i), "name": str(n)} for i, n in zip(ids, names, strict=True)]


__all__ = ["DEFAULT_MATCH_IOU", "DetectionExport", "DetectionOutputs", "OPERATING_POINT_FIELDS", "detector_settings",
           "operating_point_of", "rows_of", "thresholds_of"]
