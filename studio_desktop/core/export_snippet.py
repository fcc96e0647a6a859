"""The usage snippet saved beside every export: a small Python file that needs only the runtime,
Pillow and numpy, reads the preprocessing and the outputs' names (classes, or targets and their
units) from the model file's own metadata, and prints the predictions for images given on the
command line.

Plain text, no torch: the Export page shows it (and writes it again under another model file
name for "Save as..."), the export job saves it (``ml/export/snippet.py``), and the job's
validation runs exported files through this very code, so a snippet that disagreed with
PyTorch would fail the export. The text is the same for every task but for its
:class:`SnippetTask` part (what it says it does, the output it reads, how it prints), looked up
by task. A classifier's ``decide`` is tested against the app's own
(``core/evaluation/operating_point.decide``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from .. import __version__
from .export_snippet_anomaly import ANOMALY
from .export_snippet_segmentation import SEGMENTATION

SNIPPET_FILE = "predict.py"

HEADER = '''"""{purpose} with {title}, exported by AI Studio {version}.

Needs only:  pip install {packages}
Usage:       python predict.py IMAGE [IMAGE ...] [--json] [--model {file}]

The preprocessing and the {carries} come from the model file's own metadata,
so this script works with any {task} model exported by AI Studio.
"""

import argparse
import json
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
'''

RUNTIMES = {
    "onnxruntime": ('onnxruntime pillow numpy', '''import onnxruntime as ort

MODEL = Path(__file__).with_name("{file}")
OUTPUT = "{output}"  # the output printed: the metadata's `outputs` names them all


def load(path):
    """The model as a function (batch -> {output}) and its metadata."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = decode(session.get_modelmeta().custom_metadata_map)
    fixed = session.get_inputs()[0].shape[0]

    def run(batch, output=OUTPUT):
        if isinstance(fixed, int) and len(batch) != fixed:  # exported without dynamic batch
            return np.concatenate([run(batch[i:i + fixed], output) for i in range(0, len(batch), fixed)])
        return session.run([output], {{meta["input_name"]: batch}})[0]

    return run, meta
'''),
    "openvino": ('openvino pillow numpy', '''import openvino as ov

MODEL = Path(__file__).with_name("{file}")
OUTPUT = "{output}"  # the output printed: the metadata's `outputs` names them all


def load(path):
    """The model as a function (batch -> {output}) and its metadata."""
    core = ov.Core()
    model = core.read_model(str(path))
    meta = decode({{k: v.astype(str) for k, v in model.get_rt_info()["studio"].items()}})
    # f32: on CPUs with bfloat16 support OpenVINO would otherwise compute in bf16
    compiled = core.compile_model(model, "CPU", {{"INFERENCE_PRECISION_HINT": "f32"}})
    dim = model.inputs[0].get_partial_shape()[0]
    fixed = None if dim.is_dynamic else dim.get_length()

    def run(batch, output=OUTPUT):
        if fixed and len(batch) != fixed:  # exported without dynamic batch
            return np.concatenate([run(batch[i:i + fixed], output) for i in range(0, len(batch), fixed)])
        return np.array(compiled(batch)[compiled.output(output)])

    return run, meta
'''),
    "torch": ('torch pillow numpy', '''import torch

MODEL = Path(__file__).with_name("{file}")
OUTPUT = "{output}"  # the output printed: the first the module returns (`outputs` names them all)


def load(path):
    """The model as a function (batch -> {output}) and its metadata."""
    files = {{"metadata.json": ""}}
    module = torch.jit.load(str(path), map_location="cpu", _extra_files=files).eval()
    meta = decode(json.loads(files["metadata.json"]))
    fixed = None if meta.get("batch", "dynamic") == "dynamic" else int(meta["batch"])

    def run(batch, output=OUTPUT):
        if fixed and len(batch) != fixed:  # traced for a fixed batch (a detector runs one image per call)
            return np.concatenate([run(batch[i:i + fixed], output) for i in range(0, len(batch), fixed)])
        with torch.no_grad():  # the module returns a tuple of the outputs, in the order `outputs` names them
            return module(torch.from_numpy(batch))[list(meta["outputs"]).index(output)].numpy()

    return run, meta
'''),
}

COMMON = '''

def decode(raw):
    """Metadata strings -> values (lists and structured values are JSON text)."""
    meta = {k: (json.loads(v) if k in JSON_KEYS else v) for k, v in raw.items()}
    meta["input_size"] = int(meta["input_size"])
    meta["scale"] = float(meta.get("scale", 255))
    return meta


def preprocess(path, meta):
    """One image file -> the network's input (3, S, S) float32, exactly as stated in the metadata."""
    size = meta["input_size"]
    with Image.open(path) as image:
        w, h = image.size
        k = size / max(w, h)
        if image.format == "JPEG" and k <= 0.5:  # decode a big JPEG at 1/2, 1/4 or 1/8 scale, as the app does
            image.draft("RGB", (math.ceil(w * k), math.ceil(h * k)))
        if meta.get("exif_orientation") == "apply":
            image = ImageOps.exif_transpose(image)
        image = image.convert("RGB")
    w, h = image.size
    if meta["resize"] == "stretch":
        image = image.resize((size, size), Image.BILINEAR)
    else:  # letterbox: long side to `size`, aspect ratio kept, centred on a filled square
        if max(w, h) > size:  # shrink (rounded sizes)
            k = size / max(w, h)
            nw, nh = max(1, round(w * k)), max(1, round(h * k))
        else:  # enlarge (short side rounded down)
            nw, nh = (size, int(size * h / w)) if w > h else (int(size * w / h), size)
        if (nw, nh) != (w, h):
            image = image.resize((nw, nh), Image.BILINEAR)
        canvas = Image.new("RGB", (size, size), tuple(meta["resize_fill"]))
        canvas.paste(image, ((size - nw) // 2, (size - nh) // 2))
        image = canvas
    x = np.asarray(image, dtype=np.float32) / meta["scale"]
    x = (x - np.asarray(meta["mean"], dtype=np.float32)) / np.asarray(meta["std"], dtype=np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))
'''

CLASSIFICATION = '''

def decide(logits, meta):
    """(class index, its probability, uncertain?) per row, by the operating point in the metadata.

    No operating point: the most probable class. "threshold": the positive class when its
    probability reaches the threshold, else the most probable other class. A temperature
    divides the logits before the softmax; below `uncertain_below` a prediction is flagged
    uncertain (to be checked by a person)."""
    op = meta.get("operating_point") or {}
    z = np.asarray(logits, dtype=np.float64)
    if op.get("temperature") not in (None, 1.0):
        z = z / float(op["temperature"])
    z = z - z.max(axis=1, keepdims=True)
    probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    pred = probs.argmax(axis=1)
    ids = meta["class_ids"]
    if (op.get("rule") == "threshold" and op.get("positive_class") is not None and op.get("threshold") is not None
            and op["positive_class"] in ids and probs.shape[1] >= 2):
        pos = ids.index(op["positive_class"])
        others = probs.copy()
        others[:, pos] = -1.0
        pred = np.where(probs[:, pos] >= op["threshold"], pos, others.argmax(axis=1))
    conf = probs[np.arange(len(pred)), pred]
    if op.get("uncertain_below") is not None:
        uncertain = conf < op["uncertain_below"]
    else:
        uncertain = np.zeros(len(pred), dtype=bool)
    return pred, conf, uncertain


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="+", help="image files")
    parser.add_argument("--model", default=str(MODEL), help="the exported model file")
    parser.add_argument("--json", action="store_true", help="print one JSON object per image")
    args = parser.parse_args(argv)
    run, meta = load(args.model)
    for path in args.images:
        logits = run(preprocess(path, meta)[None])
        index, prob, uncertain = (v[0] for v in decide(logits, meta))
        name = meta["classes"][int(index)]
        if args.json:
            print(json.dumps({"image": path, "class": name, "class_id": meta["class_ids"][int(index)],
                              "probability": float(prob), "uncertain": bool(uncertain)}))
        else:
            print(f"{path}: {name} ({prob:.1%})" + (" - uncertain, check it" if uncertain else ""))


if __name__ == "__main__":
    main()
'''


REGRESSION = '''

def number(value):
    """A value as people read it: 4 significant digits, no exponent below 10 000."""
    return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="+", help="image files")
    parser.add_argument("--model", default=str(MODEL), help="the exported model file")
    parser.add_argument("--json", action="store_true", help="print one JSON object per image")
    args = parser.parse_args(argv)
    run, meta = load(args.model)
    names = meta["targets"]
    units = meta.get("units") or [""] * len(names)
    for path in args.images:
        values = [float(v) for v in run(preprocess(path, meta)[None])[0]]  # already in target units
        if args.json:
            print(json.dumps({"image": path, "values": dict(zip(names, values)), "units": dict(zip(names, units))}))
        else:
            print(f"{path}: " + ", ".join(f"{n}: {number(v)}" + (f" {u}" if u else "")
                                         for n, v, u in zip(names, values, units)))


if __name__ == "__main__":
    main()
'''


DETECTION = '''

def fitted_size(w, h, size):
    """The image's size inside the letterbox square, exactly as `preprocess` scales it."""
    if max(w, h) > size:
        k = size / max(w, h)
        return max(1, round(w * k)), max(1, round(h * k))
    return (size, int(size * h / w)) if w > h else (int(size * w / h), size)


def nms(boxes, scores, iou):
    """Indices kept by greedy non-maximum suppression (boxes of one class, sorted by score)."""
    keep, order = [], np.argsort(-scores, kind="stable")
    while len(order):
        i, order = order[0], order[1:]
        keep.append(i)
        x1 = np.maximum(boxes[i, 0], boxes[order, 0])
        y1 = np.maximum(boxes[i, 1], boxes[order, 1])
        x2 = np.minimum(boxes[i, 2], boxes[order, 2])
        y2 = np.minimum(boxes[i, 3], boxes[order, 3])
        inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        union = area[i] + area[order] - inter
        order = order[inter <= iou * np.maximum(union, 1e-12)]
    return np.array(keep, dtype=int)


def detections(rows, meta, width, height):
    """One image's rows (K x 6: x1 y1 x2 y2 in input pixels, score, class) -> the detections the
    operating point keeps, as (class index, score, box in the ORIGINAL image's pixels), best first.

    Padding rows (class -1) are dropped; a detection is kept when its score reaches its class's
    threshold (`class_thresholds` by class id, else `score_threshold`); an `nms_iou` lower than the
    model's own merges overlapping boxes of a class further; boxes go back through the letterbox:
    minus the border, divided by the scale of each axis, clamped to the image."""
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, 6)
    rows = rows[(rows[:, 5] >= 0) & (rows[:, 4] > 0)]
    op = meta.get("operating_point") or {}
    per_class = {int(k): float(v) for k, v in (op.get("class_thresholds") or {}).items()}
    ids = meta["class_ids"]
    labels = rows[:, 5].astype(int)
    limits = np.array([per_class.get(ids[c], float(meta["score_threshold"])) for c in labels])
    rows = rows[rows[:, 4] >= limits] if len(rows) else rows
    iou = op.get("nms_iou")
    if iou is not None and float(iou) < float(meta.get("model_nms_iou", 1)) and len(rows):
        keep = [np.where(rows[:, 5] == c)[0][nms(rows[rows[:, 5] == c, :4], rows[rows[:, 5] == c, 4], float(iou))]
                for c in np.unique(rows[:, 5])]
        rows = rows[np.sort(np.concatenate(keep))]
    rows = rows[np.argsort(-rows[:, 4], kind="stable")]
    size = meta["input_size"]
    if meta["resize"] == "stretch":
        sx, sy, px, py = size / width, size / height, 0, 0
    else:
        nw, nh = fitted_size(width, height, size)
        sx, sy, px, py = nw / width, nh / height, (size - nw) // 2, (size - nh) // 2
    boxes = (rows[:, :4] - [px, py, px, py]) / [sx, sy, sx, sy]
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
    return [(int(r[5]), float(r[4]), [round(float(v), 2) for v in b]) for r, b in zip(rows, boxes)]


COLOURS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324", "#469990"]


def draw(path, found, meta, out_folder):
    """Save the image with its detections drawn (class and score on each box) as PNG; returns its path."""
    from PIL import ImageDraw

    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image) if meta.get("exif_orientation") == "apply" else image
        image = image.convert("RGB")
    pen = ImageDraw.Draw(image)
    width = max(2, round(max(image.size) / 300))
    for index, score, (x1, y1, x2, y2) in found:
        colour = COLOURS[index % len(COLOURS)]
        pen.rectangle([x1, y1, x2, y2], outline=colour, width=width)
        text = f"{meta['classes'][index]} {score:.2f}"
        left, top, right, bottom = pen.textbbox((x1, y1), text)
        lift = bottom - top + 2
        pen.rectangle([x1, y1 - lift, x1 + right - left + 4, y1], fill=colour)
        pen.text((x1 + 2, y1 - lift), text, fill="white")
    out = Path(out_folder) / (Path(path).stem + ".png")
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="+", help="image files")
    parser.add_argument("--model", default=str(MODEL), help="the exported model file")
    parser.add_argument("--json", action="store_true", help="print one JSON object per image")
    parser.add_argument("--draw", metavar="FOLDER", default="drawn",
                        help="save each image with its boxes drawn into this folder (default: drawn)")
    args = parser.parse_args(argv)
    run, meta = load(args.model)
    for path in args.images:
        with Image.open(path) as image:
            width, height = (ImageOps.exif_transpose(image) if meta.get("exif_orientation") == "apply"
                             else image).size
        found = detections(run(preprocess(path, meta)[None])[0], meta, width, height)
        drawn = draw(path, found, meta, args.draw) if args.draw else None
        if args.json:
            print(json.dumps({"image": path, "width": width, "height": height, "drawn": str(drawn) if drawn else None,
                              "detections": [{"class": meta["classes"][c], "class_id": meta["class_ids"][c],
                                              "score": round(s, 4), "box": b} for c, s, b in found]}))
        else:
            print(f"{path}: {len(found)} object(s)" + (f", drawn in {drawn}" if drawn else ""))
            for c, s, (x1, y1, x2, y2) in found:
                print(f"  {meta['classes'][c]} {s:.2f} at x1={x1:.0f} y1={y1:.0f} x2={x2:.0f} y2={y2:.0f}")


if __name__ == "__main__":
    main()
'''


@dataclass(frozen=True)
class SnippetTask:
    """What a task's snippet says it does, which output it reads, and how it prints predictions."""

    purpose: str
    carries: str
    output: str
    #: the metadata keys holding JSON text (the common ones and the task's own)
    json_keys: tuple[str, ...]
    #: the code after ``preprocess``: how outputs become printed predictions (``main``)
    tail: str


#: task id -> its part of the snippet (kept in step with ``ml/export/tasks.py`` by a test)
SNIPPET_TASKS: dict[str, SnippetTask] = {
    "classification": SnippetTask("Classify images", "class names", "logits",
                                  ("classes", "class_ids", "resize_fill", "mean", "std", "outputs",
                                   "operating_point"), CLASSIFICATION),
    "regression": SnippetTask("Predict values (regression) for images", "target names and units", "values",
                              ("targets", "units", "normalisation", "resize_fill", "mean", "std", "outputs"),
                              REGRESSION),
    "object_detection": SnippetTask("Detect objects in images", "class names, operating point and box geometry",
                                    "detections", ("classes", "class_ids", "operating_point", "resize_fill", "mean",
                                                   "std", "outputs"), DETECTION),
    "semantic_segmentation": SnippetTask("Segment images (a class for every pixel)",
                                         "class names, ids, colours and input geometry", "logits",
                                         ("classes", "class_ids", "palette", "background", "resize_fill", "mean",
                                          "std", "outputs"), SEGMENTATION),
    "anomaly_detection": SnippetTask("Find anomalies in images (score, verdict and heat map)",
                                     "threshold, display range and input geometry", "score",
                                     ("display_range", "operating_point", "resize_fill", "mean", "std", "outputs"),
                                     ANOMALY),
}


def render(runtime: str, file_name: str, title: str, task: str = "classification") -> str:
    """The snippet's text for a ``task`` model file named ``file_name`` run by ``runtime``."""
    packages, body = RUNTIMES[runtime]
    part = SNIPPET_TASKS[task]
    return (HEADER.format(purpose=part.purpose, title=title, version=__version__, packages=packages, file=file_name,
                          carries=part.carries, task=task.replace("_", " "))
            + "\n" + body.format(file=file_name, output=part.output)
            + "\n\nJSON_KEYS = (" + ", ".join(f'"{k}"' for k in part.json_keys) + ")\n" + COMMON + part.tail)


def with_model_file(text: str, file_name: str) -> str:
    """A snippet's text pointing at another model file name (the file saved elsewhere as...)."""
    line = f"MODEL = Path(__file__).with_name({json.dumps(file_name)})"
    return re.sub(r'^MODEL = Path\(__file__\)\.with_name\(.*\)$', lambda _m: line, text, count=1,
                  flags=re.MULTILINE)


__all__ = ["RUNTIMES", "SNIPPET_FILE", "SNIPPET_TASKS", "SnippetTask", "render", "with_model_file"]
