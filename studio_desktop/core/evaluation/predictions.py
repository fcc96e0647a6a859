"""Predictions on new images: one decode per task, and the two files every prediction writes.

The raw outputs of a checkpoint or of an exported model go through the same decoder (numpy, the
operating point's :func:`~.operating_point.decide`), so "Try it", ``studio predict`` and the
Evaluation page never disagree about what a score means. Files: ``predictions.json`` (everything,
machine-readable) and ``predictions.csv`` (one row per image, one column per class probability).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..images import is_image_file
from ..store import atomic_write_json, atomic_write_text
from .anomaly_predictions import anomaly_predictions, anomaly_text, draw_heat_map
from .anomaly_predictions import model_context as anomaly_model_context
from .anomaly_predictions import write_csv_rows as anomaly_csv_rows
from .detection_predictions import detection_predictions, detection_text
from .operating_point import OperatingPoint, decide
from .segmentation_predictions import draw_mask, segmentation_predictions, segmentation_text
from .segmentation_predictions import write_csv_rows as segmentation_csv_rows


def classification_predictions(arrays: dict[str, np.ndarray], op: OperatingPoint | None,
                               classes: list[dict], context: dict | None = None) -> list[dict]:
    """One prediction per row of ``arrays["logits"]`` in the §5 annotation model."""
    ids = [int(c["id"]) for c in classes]
    names = [str(c["name"]) for c in classes]
    pred, probs, uncertain = decide(arrays["logits"], op, ids)
    return [{"prediction": {"label": ids[p], "name": names[p]}, "confidence": round(float(probs[i, p]), 6),
             "probabilities": {n: round(float(v), 6) for n, v in zip(names, probs[i], strict=True)},
             "uncertain": bool(uncertain[i])} for i, p in enumerate(pred.tolist())]


def regression_predictions(arrays: dict[str, np.ndarray], op: OperatingPoint | None, classes: list[dict],
                           context: dict | None = None) -> list[dict]:
    """One prediction per row of ``arrays["values"]`` (already in target units); ``classes`` here are the
    targets (name, and unit when the import gave one)."""
    names = [str(c["name"]) for c in classes]
    values = np.asarray(arrays["values"], dtype=np.float64).reshape(len(arrays["values"]), -1)
    return [{"prediction": {"targets": {n: round(float(v), 6) for n, v in zip(names, row, strict=True)}}}
            for row in values]


#: task id -> decoder of raw outputs (arrays of one batch, operating point, classes in output order,
#: context: each image's original ``width``/``height`` under ``images`` and the ``input_size``)
DECODERS: dict[str, Callable[..., list[dict]]] = {
    "classification": classification_predictions,
    "regression": regression_predictions,
    "object_detection": detection_predictions,
    "semantic_segmentation": segmentation_predictions,
    "anomaly_detection": anomaly_predictions,
}
#: task id -> what its decoder needs from the model besides the outputs, as context entries: given the
#: operating point, the experiment's evaluation folder (a checkpoint; None for a file) and an exported
#: file's decoded metadata (None for a checkpoint) (an anomaly model's threshold and colour scale)
MODEL_CONTEXTS: dict[str, Callable[[OperatingPoint | None, Path | None, dict | None], dict]] = {
    "anomaly_detection": anomaly_model_context,
}
#: tasks whose predictions are boxes (``studio predict --coco-results``, ``--score-threshold``)
BOX_TASKS = frozenset({"object_detection"})


def _draw_boxes(row: dict, stem: Path, classes: list[dict]) -> list[Path]:
    from .detection_predictions import draw_boxes

    return [draw_boxes(row["file"], (row.get("prediction") or {}).get("boxes") or [], stem.parent / f"{stem.name}.png",
                       [int(c["id"]) for c in classes])]


#: task id -> writer of one predicted image's pictures for ``studio predict --draw``: given the row
#: (``file``, ``prediction``), the output path without suffix (``FOLDER/<image name>``) and the classes
#: in output order, it writes its PNG(s) atomically and returns their paths (boxes drawn, a colour
#: mask beside the index mask, a heat map...). A task without an entry has nothing to draw.
DRAWERS: dict[str, Callable[[dict, Path, list[dict]], list[Path]]] = {
    "object_detection": _draw_boxes,
    "semantic_segmentation": draw_mask,
    "anomaly_detection": draw_heat_map,
}


def decode_predictions(task: str, arrays: dict[str, np.ndarray], op: OperatingPoint | None,
                       classes: list[dict], context: dict | None = None) -> list[dict]:
    try:
        decoder = DECODERS[task]
    except KeyError:
        raise ValueError(f"prediction is not available for {task} models yet") from None
    return decoder(arrays, op, classes, context)


def collect_images(inputs: list[str | Path]) -> tuple[list[Path], list[dict]]:
    """The image files named or found (recursively, sorted) in the folders named, and the
    problems: a name that does not exist, or a named file that is not an image. Files in a folder
    that are not images (a README, labels) are simply not images to predict."""
    files: list[Path] = []
    problems: list[dict] = []
    for raw in inputs:
        path = Path(raw).expanduser()
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")
                            and is_image_file(p))
        elif path.is_file():
            if is_image_file(path):
                files.append(path)
            else:
                problems.append({"file": str(path), "ok": False,
                                 "error": "not an image file (jpg, png, bmp, tif or webp)"})
        else:
            problems.append({"file": str(path), "ok": False, "error": "no such file or folder"})
    seen, unique = set(), []
    for f in files:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique, problems


def write_prediction_files(out: Path, model: dict[str, Any], op: OperatingPoint | None, rows: list[dict],
                           class_names: list[str]) -> tuple[Path, Path]:
    """``predictions.json`` and ``predictions.csv`` in ``out`` (atomic). ``class_names`` are the
    outputs' names: classes, or a regression's targets (then one CSV column per target)."""
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "predictions.json"
    atomic_write_json(json_path, {"schema_version": 1, "model": model,
                                  "operating_point": op.model_dump(mode="json") if op else None,
                                  "images": len(rows), "failed": sum(1 for r in rows if not r.get("ok")),
                                  "predictions": rows})
    buf = io.StringIO()
    writer = csv.writer(buf)
    regression = any("targets" in (r.get("prediction") or {}) for r in rows)
    boxes = any("boxes" in (r.get("prediction") or {}) for r in rows)
    masks = any({"mask", "classes"} <= set(r.get("prediction") or {}) for r in rows)
    if masks:  # one row per image: its mask file and each class's share of its pixels
        segmentation_csv_rows(writer, rows, class_names)
        rows = []
    elif any("anomalous" in (r.get("prediction") or {}) for r in rows):  # score, verdict, heat map per image
        anomaly_csv_rows(writer, rows)
        rows = []
    elif boxes:  # one row per box (an image without boxes: one row with the class empty)
        writer.writerow(["file", "status", "class", "score", "x1", "y1", "x2", "y2", "error"])
        for r in rows:
            found = (r.get("prediction") or {}).get("boxes") or [] if r.get("ok") else []
            if not r.get("ok"):
                writer.writerow([r["file"], "failed", "", "", "", "", "", "", r.get("error", "")])
            for b in found:
                writer.writerow([r["file"], "ok", b.get("name", b["cls"]), f"{b['score']:.5f}",
                                 *[f"{b[k]:.2f}" for k in ("x1", "y1", "x2", "y2")], ""])
            if r.get("ok") and not found:
                writer.writerow([r["file"], "ok", "", "", "", "", "", "", ""])
        rows = []
    elif regression:
        writer.writerow(["file", "status", *class_names, "error"])
    else:
        writer.writerow(["file", "status", "class", "confidence", "uncertain", "error",
                         *[f"p_{n}" for n in class_names]])
    for r in rows:
        if not r.get("ok"):
            blanks = [""] * len(class_names)
            writer.writerow([r["file"], "failed", *blanks, r.get("error", "")] if regression else
                            [r["file"], "failed", "", "", "", r.get("error", ""), *blanks])
        elif regression:
            values = r["prediction"]["targets"]
            writer.writerow([r["file"], "ok", *[f"{values.get(n, float('nan')):.6g}" for n in class_names], ""])
        else:
            probs = r.get("probabilities") or {}
            writer.writerow([r["file"], "ok", r["prediction"]["name"], f"{r['confidence']:.6f}",
                             "yes" if r.get("uncertain") else "no", "",
                             *[f"{probs.get(n, 0.0):.6f}" for n in class_names]])
    csv_path = out / "predictions.csv"
    atomic_write_text(csv_path, buf.getvalue())
    return json_path, csv_path


__all__ = ["BOX_TASKS", "DECODERS", "DRAWERS", "MODEL_CONTEXTS", "classification_predictions", "collect_images", "decode_predictions", "prediction_text",
           "regression_predictions", "write_prediction_files"]


def prediction_text(row: dict, units: dict[str, str] | None = None) -> str:
    """One prediction in words: "cat 0.93", "cat 0.51 (uncertain: review it)", "radius 12.3 px"."""
    if not row.get("ok"):
        return f"FAILED {row.get('error')}"
    pred = row.get("prediction") or {}
    if "boxes" in pred:
        return detection_text(pred)
    if {"mask", "classes"} <= set(pred):
        return segmentation_text(pred)
    if "anomalous" in pred:
        return anomaly_text(pred)
    if "targets" in pred:
        units = units or {}
        return ", ".join(f"{n} {v:.4g}{(' ' + units[n]) if units.get(n) else ''}" for n, v in pred["targets"].items())
    flag = "  (uncertain: review it)" if row.get("uncertain") else ""
    return f"{pred.get('name')} {row.get('confidence', 0.0):.3f}{flag}"
