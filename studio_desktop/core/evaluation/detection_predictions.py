"""Object detection on new images: raw rows -> boxes on the original image, COCO results, drawn PNGs.

A checkpoint (the head's ``boxes``/``scores``/``labels``) and an exported file (its ``detections``
rows, N x K x 6) give the same raw predictions in pixels of the letterboxed input; this module
turns either into what the user asked for, one way (numpy and Pillow, no torch, the GUI may use
it): padding dropped (class -1), the operating point applied (each class's score threshold, then
a class-wise NMS at its ``nms_iou`` when it sets one, with ``core/evaluation/detection.py``'s
NMS, the Evaluation page's), boxes mapped back to the original image with ``core/letterbox.py``
and clamped to it, best first. The §5 annotation model: each box is ``cls`` (class id), ``x1 y1
x2 y2`` (original pixels), plus ``name`` and ``score``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..letterbox import to_original
from .detection import DEFAULT_SCORE_THRESHOLD, DetectionScores, nms
from .operating_point import OperatingPoint

#: a few distinct colours for classes (class index modulo the list), as the snippet draws them
COLOURS = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324", "#469990")


def raw_rows(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """(N, K, 6) rows x1 y1 x2 y2 score class from an export's ``detections`` or the head's arrays."""
    if "detections" in arrays:
        return np.asarray(arrays["detections"], dtype=np.float64).reshape(len(arrays["detections"]), -1, 6)
    boxes = np.asarray(arrays["boxes"], dtype=np.float64)
    return np.concatenate([boxes, np.asarray(arrays["scores"], dtype=np.float64)[..., None],
                           np.asarray(arrays["labels"], dtype=np.float64)[..., None]], axis=-1)


def thresholds(op: OperatingPoint | None, class_ids: list[int]) -> np.ndarray:
    """(C,) each class's score threshold (class index order): its own, else the operating point's, else 0.5."""
    base = op.score_threshold if op is not None and op.score_threshold is not None else DEFAULT_SCORE_THRESHOLD
    per = {int(k): float(v) for k, v in ((op.class_thresholds or {}) if op is not None else {}).items()}
    return np.array([per.get(int(c), float(base)) for c in class_ids], dtype=np.float64)


def keep_rows(rows: np.ndarray, op: OperatingPoint | None, class_ids: list[int]) -> np.ndarray:
    """One image's rows (K, 6) kept by the operating point, best first (input pixels)."""
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, 6)
    labels = np.rint(rows[:, 5]).astype(np.int64)
    real = (labels >= 0) & (labels < len(class_ids)) & (rows[:, 4] > 0)
    rows, labels = rows[real], labels[real]
    if len(rows):
        rows = rows[rows[:, 4] >= thresholds(op, class_ids)[labels]]
    if len(rows) and op is not None and op.nms_iou is not None:
        cache = DetectionScores(subsets=np.array(["new"]), det_image=np.zeros(len(rows), dtype=np.int64),
                                det_boxes=rows[:, :4], det_scores=rows[:, 4], det_labels=np.rint(rows[:, 5]),
                                gt_image=np.zeros(0), gt_boxes=np.zeros((0, 4)), gt_labels=np.zeros(0),
                                gt_ignore=np.zeros(0, dtype=bool), class_ids=list(class_ids))
        rows = rows[nms(cache, float(op.nms_iou))]
    return rows[np.argsort(-rows[:, 4], kind="stable")]


def detection_predictions(arrays: dict[str, np.ndarray], op: OperatingPoint | None, classes: list[dict],
                          context: dict | None = None) -> list[dict]:
    """One prediction per image: ``{"prediction": {"boxes": [...]}, "width", "height"}``; ``context``
    gives each image's original size (``images``: [{"width", "height"}]) and the ``input_size``."""
    context = context or {}
    ids = [int(c["id"]) for c in classes]
    names = [str(c["name"]) for c in classes]
    rows = raw_rows(arrays)
    images = context.get("images") or []
    size = int(context.get("input_size") or 0)
    out = []
    for i, image_rows in enumerate(rows):
        kept = keep_rows(image_rows, op, ids)
        info = images[i] if i < len(images) else {}
        width, height = int(info.get("width") or size), int(info.get("height") or size)
        boxes = to_original(kept[:, :4], width, height, size) if size else kept[:, :4]
        out.append({"prediction": {"boxes": [
            {"cls": ids[int(r[5])], "name": names[int(r[5])], "x1": round(float(b[0]), 2), "y1": round(float(b[1]), 2),
             "x2": round(float(b[2]), 2), "y2": round(float(b[3]), 2), "score": round(float(r[4]), 5)}
            for r, b in zip(kept, boxes, strict=True)]}, "width": width, "height": height})
    return out


def coco_image_id(file: str, position: int) -> int:
    """COCO results need an integer image id: the number a file is named by (COCO's ``000000139.jpg``),
    else its 1-based position among the predictions."""
    stem = Path(file).stem
    return int(stem) if re.fullmatch(r"\d{1,18}", stem) else position


def coco_results(rows: list[dict]) -> list[dict]:
    """COCO detection results (``loadRes`` format): image_id, category_id (class id), bbox [x, y, w, h]
    in original pixels, score; one entry per box of every image predicted."""
    out = []
    for position, row in enumerate(rows, start=1):
        if not row.get("ok"):
            continue
        image_id = coco_image_id(str(row["file"]), position)
        for b in (row.get("prediction") or {}).get("boxes") or []:
            out.append({"image_id": image_id, "category_id": int(b["cls"]),
                        "bbox": [round(b["x1"], 2), round(b["y1"], 2), round(b["x2"] - b["x1"], 2),
                                 round(b["y2"] - b["y1"], 2)], "score": round(float(b["score"]), 5)})
    return out


def draw_boxes(image_path: str | Path, boxes: list[dict], out_path: Path, class_ids: list[int]):
    """The image (EXIF orientation applied) with its boxes drawn, class name and score on each, saved as
    PNG (atomically: a half-written picture never appears under its name)."""
    from PIL import ImageDraw

    from ..images import open_rgb
    from ..store import atomic_write_bytes

    image = open_rgb(Path(image_path), oriented=True)
    pen = ImageDraw.Draw(image)
    width = max(2, round(max(image.size) / 300))
    for b in boxes:
        index = class_ids.index(b["cls"]) if b["cls"] in class_ids else 0
        colour = COLOURS[index % len(COLOURS)]
        pen.rectangle([b["x1"], b["y1"], b["x2"], b["y2"]], outline=colour, width=width)
        text = f"{b.get('name', b['cls'])} {float(b.get('score', 0)):.2f}"
        left, top, right, bottom = pen.textbbox((b["x1"], b["y1"]), text)
        lift = bottom - top + 2
        y = b["y1"] - lift if b["y1"] >= lift else b["y1"]
        pen.rectangle([b["x1"], y, b["x1"] + right - left + 4, y + lift], fill=colour)
        pen.text((b["x1"] + 2, y), text, fill="white")
    import io

    buf = io.BytesIO()
    image.save(buf, format="PNG")
    atomic_write_bytes(out_path, buf.getvalue())
    return out_path


def detection_text(pred: dict) -> str:
    """One image's detections in words: "3 objects: RBC 0.91, RBC 0.85, WBC 0.77" (the 5 best)."""
    boxes = pred.get("boxes") or []
    if not boxes:
        return "no objects found"
    shown = ", ".join(f"{b.get('name', b['cls'])} {float(b.get('score', 0)):.2f}" for b in boxes[:5])
    more = f" (+{len(boxes) - 5} more)" if len(boxes) > 5 else ""
    return f"{len(boxes)} object{'s' if len(boxes) != 1 else ''}: {shown}{more}"


__all__ = ["COLOURS", "coco_image_id", "coco_results", "detection_predictions", "detection_text", "draw_boxes",
           "keep_rows", "raw_rows", "thresholds"]
