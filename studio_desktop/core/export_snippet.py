"""The usage snippet saved beside every export: a small Python file that needs only the runtime,
Pillow and numpy, reads the preprocessing and the class names from the model file's own
metadata, and prints the predictions for images given on the command line.

Plain text, no torch: the Export page shows it (and writes it again under another model file
name for "Save as..."), the export job saves it (``ml/export/snippet.py``), and the job's
validation runs exported files through this very code, so a snippet that disagreed with
PyTorch would fail the export. Its ``decide`` is tested against the app's own
(``core/evaluation/operating_point.decide``).
"""

from __future__ import annotations

import json
import re

from .. import __version__

SNIPPET_FILE = "predict.py"

HEADER = '''"""Classify images with {title}, exported by AI Studio {version}.

Needs only:  pip install {packages}
Usage:       python predict.py IMAGE [IMAGE ...] [--json] [--model {file}]

The model file carries its own preprocessing and class names (its metadata): this script
reads them from it, so it works with any classification model exported by AI Studio.
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


def load(path):
    """The model as a function (batch -> logits) and its metadata."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = decode(session.get_modelmeta().custom_metadata_map)
    fixed = session.get_inputs()[0].shape[0]

    def run(batch):
        if isinstance(fixed, int) and len(batch) != fixed:  # exported without dynamic batch
            return np.concatenate([run(batch[i:i + fixed]) for i in range(0, len(batch), fixed)])
        return session.run(["logits"], {{meta["input_name"]: batch}})[0]

    return run, meta
'''),
    "openvino": ('openvino pillow numpy', '''import openvino as ov

MODEL = Path(__file__).with_name("{file}")


def load(path):
    """The model as a function (batch -> logits) and its metadata."""
    core = ov.Core()
    model = core.read_model(str(path))
    meta = decode({{k: v.astype(str) for k, v in model.get_rt_info()["studio"].items()}})
    # f32: on CPUs with bfloat16 support OpenVINO would otherwise compute in bf16
    compiled = core.compile_model(model, "CPU", {{"INFERENCE_PRECISION_HINT": "f32"}})
    dim = model.inputs[0].get_partial_shape()[0]
    fixed = None if dim.is_dynamic else dim.get_length()

    def run(batch):
        if fixed and len(batch) != fixed:  # exported without dynamic batch
            return np.concatenate([run(batch[i:i + fixed]) for i in range(0, len(batch), fixed)])
        return np.array(compiled(batch)[compiled.output("logits")])

    return run, meta
'''),
    "torch": ('torch pillow numpy', '''import torch

MODEL = Path(__file__).with_name("{file}")


def load(path):
    """The model as a function (batch -> logits) and its metadata."""
    files = {{"metadata.json": ""}}
    module = torch.jit.load(str(path), map_location="cpu", _extra_files=files).eval()
    meta = decode(json.loads(files["metadata.json"]))

    def run(batch):
        with torch.no_grad():
            return module(torch.from_numpy(batch))[0].numpy()

    return run, meta
'''),
}

COMMON = '''

JSON_KEYS = ("classes", "class_ids", "resize_fill", "mean", "std", "outputs", "operating_point")


def decode(raw):
    """Metadata strings -> values (lists and the operating point are JSON text)."""
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


def render(runtime: str, file_name: str, title: str) -> str:
    """The snippet's text for a model file named ``file_name`` run by ``runtime``."""
    packages, body = RUNTIMES[runtime]
    return (HEADER.format(title=title, version=__version__, packages=packages, file=file_name)
            + "\n" + body.format(file=file_name) + COMMON)


def with_model_file(text: str, file_name: str) -> str:
    """A snippet's text pointing at another model file name (the file saved elsewhere as...)."""
    line = f"MODEL = Path(__file__).with_name({json.dumps(file_name)})"
    return re.sub(r'^MODEL = Path\(__file__\)\.with_name\(.*\)$', lambda _m: line, text, count=1,
                  flags=re.MULTILINE)


__all__ = ["RUNTIMES", "SNIPPET_FILE", "render", "with_model_file"]
