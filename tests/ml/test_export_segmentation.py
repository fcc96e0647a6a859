"""Semantic segmentation export end to end, on real street scenes (the fixture ``masks_camvid``, 480 x 360).

A Tiny U-Net with random weights (varied enough to predict several classes over an image; module
fixture) is exported to ONNX once and checked: validated per pixel against PyTorch with ONNX Runtime on
the validation photos (logits on the same tensors, the class of every image pixel on the same tensors and
through the file's own metadata, mIoU against the letterboxed truth masks) and describing itself
(classes, ids, palette, geometry). A wrong normalisation in the metadata and a broken graph FAIL with
their numbers; the usage snippet run in a clean process writes the masks the app predicts; a tiles-mode
model exports with the tile as its input and the snippet's sliding window matches the app's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from export_helpers import export
from PIL import Image
from segmentation_export_helpers import CAMVID, camvid_project, segmentation_experiment

from studio_desktop.core.evaluation.segmentation_predictions import read_mask
from studio_desktop.core.segmentation import palette
from studio_desktop.core.workspace import Workspace
from studio_desktop.ml.export.runtime import load_exported
from studio_desktop.ml.export.segmentation import SegmentationExport, SegmentationOutputs
from studio_desktop.ml.export.segmentation_checks import LIMITS

pytestmark = pytest.mark.ml

VAL = sorted((CAMVID / "val").glob("*.png"))


@pytest.fixture(scope="module")
def streets(tmp_path_factory):
    if not CAMVID.is_dir():
        pytest.skip(f"real fixtures not found at {CAMVID}")
    root = tmp_path_factory.mktemp("export-segmentation")
    ws = Workspace.open(root / "ws")
    project, split = camvid_project(ws)
    exp = segmentation_experiment(ws, project, split, "random")
    onnx = export(ws, project, exp, format="onnx", validation_images=6)
    yield SimpleNamespace(ws=ws, project=project, split=split, exp=exp, onnx=onnx, root=root)
    ws.close()


def _check(record, name):
    return next(c for c in record.validation.checks if c.name == name)


def test_onnx_export_is_validated_per_pixel_on_real_images_and_describes_itself(streets):
    outcome = streets.onnx
    assert outcome.status == "ready", outcome.error
    rec = outcome.record
    v = rec.validation
    assert v.passed and v.images == 6 and v.subsets == {"val": 6} and v.metric == "mIoU" and v.compared == "logit"
    assert [c.name for c in v.checks] == ["metadata read back as written", "max logit difference",
                                          "pixels given PyTorch's class", "pixels given PyTorch's class via metadata",
                                          "mIoU drop"]
    assert _check(rec, "max logit difference").value < 1e-3
    assert _check(rec, "pixels given PyTorch's class").value >= 0.999
    # 480 x 360 photos letterboxed to 64 x 48 inside 64 x 64: the padding is not counted
    assert "18,432 image pixels" in _check(rec, "pixels given PyTorch's class").help
    assert _check(rec, "pixels given PyTorch's class via metadata").value >= LIMITS["fp32"].file_pixels
    assert v.metric_pytorch is not None and 0 < v.metric_pytorch < 1 and abs(v.metric_pytorch - v.metric_exported) <= 0.02
    assert rec.input_shape == [1, 3, 64, 64] and list(rec.outputs) == ["logits"]
    meta = rec.metadata
    classes = streets.project.classes
    assert meta["task"] == "semantic_segmentation" and meta["classes"] == [c.name for c in classes]
    assert meta["class_ids"] == [c.id for c in classes]
    assert meta["palette"] == palette(classes)[: len(classes)].tolist()
    assert meta["background"] == [] and meta["mode"] == "resize" and meta["tile_blend"] == "gaussian"
    # what load_exported gives: logits per pixel, classes with their colours for prediction
    model = load_exported(outcome.folder)
    assert model.output == "logits"
    assert model.metadata["classes"][0] == {"id": classes[0].id, "name": classes[0].name,
                                            "colour": palette(classes)[0].tolist()}
    x = np.stack([model.preprocessing.tensor(p).numpy() for p in VAL[:2]])
    logits = model.run(x)
    assert logits.shape == (2, len(classes), 64, 64) and logits.dtype == np.float32
    assert len(np.unique(logits[:, :, 8:56].argmax(axis=1))) >= 3  # the network answers more than one class


def test_a_wrong_normalisation_in_the_metadata_fails_through_the_metadata(streets, monkeypatch):
    from studio_desktop.ml.export import metadata as meta_mod

    real_build = meta_mod.build

    def wrong_std(*a, **k):
        meta = real_build(*a, **k)
        meta["std"] = json.dumps([1.0, 1.0, 1.0])
        return meta

    monkeypatch.setattr(meta_mod, "build", wrong_std)
    outcome = export(streets.ws, streets.project, streets.exp, format="onnx", validation_images=6)
    assert outcome.status == "failed" and outcome.record is not None and not outcome.record.ready
    rec = outcome.record
    assert "reused" in rec.exporter or "graph of export" in rec.exporter  # the same graph, only the metadata differs
    assert _check(rec, "pixels given PyTorch's class").passed  # the network itself is right
    via = _check(rec, "pixels given PyTorch's class via metadata")
    assert not via.passed and via.value < LIMITS["fp32"].file_pixels
    assert any("metadata read back differs" in f and "std" in f for f in rec.validation.failures)
    assert outcome.error.startswith("validation failed:")


class RolledLogits(SegmentationOutputs):
    """A broken export: each class's scores come out one channel along (a wrong channel order in the graph)."""

    def forward(self, x):
        (logits,) = super().forward(x)
        return (torch.roll(logits, 1, dims=1),)


def test_a_broken_graph_fails_on_the_same_input_tensors(streets, monkeypatch):
    monkeypatch.setattr(SegmentationExport, "network", lambda self, trained, op: RolledLogits(trained.model).eval())
    outcome = export(streets.ws, streets.project, streets.exp, format="torchscript", validation_images=4)
    assert outcome.status == "failed"
    failures = " | ".join(outcome.record.validation.failures)
    same = _check(outcome.record, "pixels given PyTorch's class")
    assert not same.passed and same.value < 0.5, same
    assert "max logit difference" in failures and "pixels given PyTorch's class " in failures


def test_the_snippet_writes_the_masks_the_app_predicts_in_a_clean_process(streets, tmp_path):
    from studio_desktop.ml.predict import predict

    outcome = streets.onnx
    images = VAL[:2]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    res = subprocess.run([sys.executable, "-I", str(outcome.folder / "predict.py"), *map(str, images), "--json",
                          "--out", str(tmp_path / "snippet")], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert [Path(x["image"]).name for x in lines] == [p.name for p in images]
    rows, _, _ = predict(None, str(outcome.folder), images, tmp_path / "app")
    classes = streets.project.classes
    ids = {c.id for c in classes}
    for line, row in zip(lines, rows, strict=True):
        assert (line["width"], line["height"]) == (row["width"], row["height"]) == (480, 360)
        snippet_mask = np.asarray(Image.open(line["mask"]))
        app_mask = np.asarray(Image.open(row["prediction"]["mask"]))
        assert snippet_mask.shape == app_mask.shape == (360, 480) and set(np.unique(snippet_mask)) <= ids
        # Pillow's resizes (input, then probabilities back) against torch's: the same class almost everywhere
        assert (snippet_mask == app_mask).mean() >= 0.97
        shares = {c["name"]: c["share"] for c in row["prediction"]["classes"]}
        assert set(line["classes"]) == set(shares) or abs(sum(line["classes"].values()) - 1) < 1e-6
        colour = np.asarray(Image.open(line["colour"]))
        channels = read_mask(line["mask"], [{"id": c.id, "name": c.name} for c in classes])
        assert (colour == palette(classes)[channels]).all()
        assert np.asarray(Image.open(line["overlay"])).shape == (360, 480, 3)
    res = subprocess.run([sys.executable, "-I", str(outcome.folder / "predict.py"), str(images[0]), "--out",
                          str(tmp_path / "plain")], capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert res.returncode == 0 and res.stdout.startswith(f"{images[0]}: ") and "mask in " in res.stdout


def test_a_tiles_model_exports_its_tile_and_the_snippet_stitches_like_the_app(streets, tmp_path):
    from studio_desktop.ml.export import snippet as snippet_mod
    from studio_desktop.ml.predict import predict

    exp = segmentation_experiment(streets.ws, streets.project, streets.split, "tiles", "mode=tiles", "crop_size=96",
                                  "scale=0.5", "overlap=0.25", size=128)
    outcome = export(streets.ws, streets.project, exp, format="torchscript", validation_images=3)
    assert outcome.status == "ready", outcome.error
    meta = outcome.record.metadata
    assert outcome.record.input_shape[1:] == [3, 96, 96] and meta["input_size"] == 96
    assert (meta["mode"], meta["tile_size"], meta["tile_scale"], meta["tile_overlap"]) == ("tiles", 96, 0.5, 0.25)
    module = snippet_mod.load_module(outcome.folder / "predict.py")
    run, file_meta = module.load(str(outcome.folder / "model.pt"))
    probs = module.probabilities(run, str(VAL[0]), file_meta)
    assert probs.shape == (len(streets.project.classes), 360, 480)
    rows, _, _ = predict(streets.ws, exp.id, [VAL[0]], tmp_path / "app", project=streets.project.id)
    app = read_mask(rows[0]["prediction"]["mask"], [{"id": c.id, "name": c.name} for c in streets.project.classes])
    assert app.shape == (360, 480) and len(np.unique(app)) >= 2 and (probs.argmax(axis=0) == app).mean() >= 0.97
    # studio predict with the file: the same sliding window at full resolution, the tiles through the file
    by_file, predictor, _ = predict(None, str(outcome.folder), [VAL[0]], tmp_path / "file")
    assert predictor.image_run is not None
    assert (np.asarray(Image.open(by_file[0]["prediction"]["mask"])) ==
            np.asarray(Image.open(rows[0]["prediction"]["mask"]))).mean() >= 0.999


@pytest.mark.slow
def test_openvino_fp32_and_fp16_validate(streets):
    """The other runtime: OpenVINO IR (converted from the ONNX graph) passes the same checks in FP32, and with
    FP16 weights the file halves while the pixels keep PyTorch's class."""
    vino = export(streets.ws, streets.project, streets.exp, format="openvino", validation_images=4)
    assert vino.status == "ready", vino.error
    assert vino.record.validation.passed and _check(vino.record, "max logit difference").value < 1e-3
    assert vino.record.latency.rows[-1].runtime == "OpenVINO"
    half = export(streets.ws, streets.project, streets.exp, format="openvino", precision="fp16", validation_images=4)
    assert half.status == "ready", half.error
    change = half.record.precision_change
    assert change.metric == "mIoU" and change.agreement_with_fp32 >= 0.99 and change.size < 0.7 * change.size_fp32
    assert _check(half.record, "max logit difference").limit > _check(vino.record, "max logit difference").limit
