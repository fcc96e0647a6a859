"""Anomaly detection on new images: raw score and map -> verdict, heat map PNG, words.

A checkpoint (the head's ``eval_batch``: ``score`` (N,), ``map`` (N, h, w)) and an exported file
(its ``score``, ``map`` (N, 1, S, S) outputs...) give the same raw numbers; this module turns
either into what the user asked for, one way (numpy and Pillow, no torch: the GUI may use it):

- the **threshold** on the raw score: the operating point's (``operating_point.json`` or an
  export's metadata); without one, the Evaluation page's default (``core/evaluation/anomaly.py``:
  at most 5 % of the NORMAL validation images flagged, a goal that needs no defect to be chosen,
  where an F1-adaptive threshold fails: anomalib issue 2433), from the experiment's cached
  evaluation scores. With neither, the verdict is unknown (``anomalous: null``) and says so.
- the **colour scale** of the heat map: ``core.anomaly.display_range`` of the normal validation
  scores, the threshold and the defects' scores, exactly as the Evaluation page sets it (the threshold's
  colour mid-scale), so the same score looks the same in predict PNGs, "Try it", the Evaluation page
  and the export's snippet.
- the **heat map PNG**: the map brought back to the original image's pixels (letterbox undone,
  ``core.anomaly.resize_map``), coloured by ``core.anomaly.heat_rgba`` over the image, with the
  thresholded region outlined.

A row of ``predictions.json``: ``{"prediction": {"score", "anomalous", "threshold", "heat_map"},
"width", "height"}``; ``heat_map`` is the picture written beside the predictions
(``<out>/heatmaps/<name>.png``), which ``studio predict --draw`` copies and "Try it" shows.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..anomaly import display_range, heat_rgba, outline, region, resize_map
from ..store import atomic_write_bytes
from .anomaly import AnomalyScores, effective_threshold
from .operating_point import OperatingPoint

#: the cached evaluation scores of an experiment (``ml/tasks/anomaly_eval.py`` writes them)
SCORES_FILE = "scores.npz"
#: the outline of the thresholded region in heat map pictures (RGB)
REGION_COLOUR = (80, 220, 255)
#: where the heat map pictures go, under the predictions' folder
HEAT_MAPS = "heatmaps"
#: the opacity of the hottest colour (the Evaluation page's)
HEAT_ALPHA = 0.65


@dataclass(frozen=True)
class AnomalyRule:
    """How raw scores read for one model: its threshold (None: unknown), in words, and the colour scale."""

    threshold: float | None
    #: how the threshold was chosen, in words ("goal: 5 % false positives on val", "set by hand"...)
    source: str
    low: float
    high: float

    @property
    def display(self) -> tuple[float, float]:
        return self.low, self.high

    def as_context(self) -> dict:
        """What the decoder reads besides the outputs (``decode_predictions``' context)."""
        return {"threshold": self.threshold, "threshold_source": self.source, "display_range": [self.low, self.high]}


def normal_scores(scores) -> np.ndarray:
    """The normal images' cached scores the colour scale is set on: the validation subset's, else every
    normal image's (as the Evaluation page sets it)."""
    normal = np.asarray(scores.label) == 0
    rows = normal & scores.subset("val")
    return np.asarray(scores.score, dtype=np.float64)[rows if rows.any() else normal]


def _load_scores(folder: Path | None):
    if folder is None:
        return None
    try:
        with np.load(Path(folder) / SCORES_FILE, allow_pickle=False) as data:
            return AnomalyScores.from_npz({k: data[k] for k in data.files})
    except (OSError, ValueError, KeyError):
        return None


def rule_for(op: OperatingPoint | None, evaluation_folder: Path | None = None) -> AnomalyRule:
    """The threshold and colour scale of an experiment: its operating point, else the Evaluation page's
    default from its cached scores (``core/evaluation/anomaly.py``: 5 % false positives on the normal
    validation images); never raises. Without either the threshold is None."""
    scores = _load_scores(evaluation_folder)
    normal = normal_scores(scores) if scores is not None else np.zeros(0)
    if scores is not None:
        threshold, source = effective_threshold(scores, op)
    elif op is not None and op.threshold is not None:
        threshold, source = float(op.threshold), op.describe()
    else:
        threshold, source = None, "none: evaluate the model to choose a threshold"
    if threshold is None:
        return AnomalyRule(None, source, 0.0, 1.0)
    anomalous = np.asarray(scores.score, dtype=np.float64)[np.asarray(scores.label) == 1] if scores is not None \
        else None
    low, high = display_range(normal, float(threshold), scores_anomalous=anomalous)
    return AnomalyRule(float(threshold), source, float(low), float(high))


def rule_from_metadata(meta: dict) -> AnomalyRule:
    """The rule an exported file carries (``threshold``, ``threshold_source``, ``display_range``)."""
    low, high = (float(v) for v in meta.get("display_range") or (0.0, 1.0))
    return AnomalyRule(float(meta["threshold"]), str(meta.get("threshold_source", "")), low, high)


def _maps(arrays: dict[str, np.ndarray]) -> np.ndarray | None:
    """(N, m, m) float32 maps on the input square, from the head's ``map`` (N, h, w) or a file's (N, 1, S, S)."""
    raw = arrays.get("map")
    if raw is None:
        return None
    m = np.asarray(raw, dtype=np.float32)
    return m.reshape(len(m), m.shape[-2], m.shape[-1])


def anomaly_predictions(arrays: dict[str, np.ndarray], op: OperatingPoint | None, classes: list[dict],
                        context: dict | None = None) -> list[dict]:
    """One prediction per image: the raw score, the verdict at the threshold (the operating point's, else
    ``context["threshold"]``; None when neither) and each image's size (``context["images"]``). With
    ``context["out"]`` (and the images' ``files`` and ``names``) each image's heat map picture is written to
    ``out/heatmaps/<name>.png`` (coloured on ``context["display_range"]``) and the line names it."""
    context = context or {}
    scores = np.asarray(arrays["score"], dtype=np.float64).reshape(-1)
    threshold = op.threshold if op is not None and op.threshold is not None else context.get("threshold")
    maps = _maps(arrays)
    images = context.get("images") or []
    files, names = context.get("files") or [], context.get("names") or []
    out_folder = context.get("out")
    size = int(context.get("input_size") or 0)
    display = context.get("display_range")
    if display is None and threshold is not None:
        display = display_range([], float(threshold))
    out = []
    for i, s in enumerate(scores):
        info = images[i] if i < len(images) else {}
        pred = {"score": round(float(s), 6), "anomalous": None if threshold is None else bool(s >= float(threshold)),
                "threshold": None if threshold is None else float(threshold), "heat_map": None}
        if out_folder is not None and maps is not None and display is not None and i < min(len(files), len(names)):
            picture = heat_picture(files[i], maps[i], low=float(display[0]), high=float(display[1]),
                                   threshold=pred["threshold"], input_size=size or maps.shape[-1],
                                   resize=str(context.get("resize") or "letterbox"))
            path = Path(out_folder) / HEAT_MAPS / f"{names[i]}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, png_bytes(picture))
            pred["heat_map"] = str(path)
        out.append({"prediction": pred, "width": int(info.get("width") or size),
                    "height": int(info.get("height") or size)})
    return out


def png_bytes(picture) -> bytes:
    buf = io.BytesIO()
    picture.save(buf, format="PNG")
    return buf.getvalue()


def heat_picture(image_path: str | Path, map_: np.ndarray, *, low: float, high: float, threshold: float | None,
                 input_size: int, resize: str = "letterbox", alpha: float = HEAT_ALPHA):
    """The image (EXIF orientation applied) with the heat map over it (the threshold's colour mid-scale, as on
    the Evaluation page) and the region above the threshold outlined: a Pillow RGB image of the original size."""
    from PIL import Image

    from ..images import open_rgb

    image = open_rgb(Path(image_path), oriented=True)
    width, height = image.size
    full = resize_map(map_, width, height, input_size=input_size or None, resize=resize)
    base = np.asarray(image, dtype=np.float32)
    rgba = heat_rgba(full, low, high, alpha, threshold=threshold).astype(np.float32)
    a = rgba[..., 3:4] / 255.0
    out = base * (1.0 - a) + rgba[..., :3] * a
    if threshold is not None:
        edge = outline(region(full, threshold))
        out[edge] = REGION_COLOUR
    return Image.fromarray(np.clip(np.round(out), 0, 255).astype(np.uint8))


def draw_heat_map(row: dict, stem: Path, classes: list[dict]) -> list[Path]:
    """``studio predict --draw``'s writer for an anomaly model: ``<stem>.png``, the image's heat map picture
    (the one written beside the predictions), copied atomically. Nothing when it has none."""
    heat = (row.get("prediction") or {}).get("heat_map")
    if not heat or not Path(heat).is_file():
        return []
    path = Path(stem).parent / f"{Path(stem).name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, Path(heat).read_bytes())
    return [path]


def model_context(op: OperatingPoint | None, evaluation: Path | None, metadata: dict | None) -> dict:
    """What the decoder needs from the model besides its outputs: the threshold and colour scale of an
    exported file (its ``metadata``), else of the experiment (its operating point and ``evaluation`` folder)."""
    rule = rule_from_metadata(metadata) if metadata else rule_for(op, evaluation)
    return rule.as_context()


def write_csv_rows(writer, rows: list[dict]) -> None:
    """predictions.csv of an anomaly model: one row per image, its score, verdict, threshold and heat map."""
    writer.writerow(["file", "status", "score", "anomalous", "threshold", "heat_map", "error"])
    for r in rows:
        if not r.get("ok"):
            writer.writerow([r["file"], "failed", "", "", "", "", r.get("error", "")])
            continue
        pred = r.get("prediction") or {}
        verdict = {True: "yes", False: "no"}.get(pred.get("anomalous"), "")
        threshold = pred.get("threshold")
        writer.writerow([r["file"], "ok", f"{float(pred['score']):.6g}", verdict,
                         "" if threshold is None else f"{float(threshold):.6g}", pred.get("heat_map") or "", ""])


def anomaly_text(pred: dict) -> str:
    """One image's verdict in words: "anomalous (score 3.21 ≥ threshold 2.5)", "normal (score 1.02 < 2.5)"."""
    score = float(pred.get("score", float("nan")))
    threshold = pred.get("threshold")
    if pred.get("anomalous") is None or threshold is None:
        return f"score {score:.4g} (no threshold: evaluate the model to choose one)"
    a, b = _distinct(score, float(threshold))
    if pred["anomalous"]:
        return f"anomalous (score {a} ≥ threshold {b})"
    return f"normal (score {a} < threshold {b})"


def _distinct(a: float, b: float) -> tuple[str, str]:
    """Two numbers with the fewest significant digits (at least 4) that tell them apart."""
    for digits in range(4, 12):
        x, y = f"{a:.{digits}g}", f"{b:.{digits}g}"
        if x != y or a == b:
            return x, y
    return x, y


__all__ = ["AnomalyRule", "HEAT_MAPS", "anomaly_predictions", "anomaly_text", "draw_heat_map", "heat_picture",
           "model_context", "normal_scores", "png_bytes", "rule_for", "rule_from_metadata", "write_csv_rows"]
