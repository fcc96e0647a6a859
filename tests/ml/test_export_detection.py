"""Object detection export end to end, on real images (blood smears of the fixture ``coco_bbox_rbc``).

The teaching detector is trained for a few epochs at 128 px on 10 smears (module fixture); each
test makes its own exports. What is checked: the ONNX file (TorchScript-based exporter, batch 1)
is validated against PyTorch with onnxruntime on the validation smears — boxes, scores and labels
paired per image, counts at the operating point, mAP@0.5 under both — and describes itself
(classes, operating point, score threshold, box space); a broken export (boxes scaled wrongly in
the graph, a wrong normalisation in the metadata) FAILS with its numbers; the usage snippet run in
a clean process prints and draws the boxes the app predicts; OpenVINO and TorchScript validate;
OpenVINO with FP16 weights validates; the other FP16/INT8 combinations are refused with the reason.
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
from export_helpers import export, rbc_detection_project, trained_detector

from studio_desktop.core.evaluation.operating_point import OperatingPoint, save_operating_point
from studio_desktop.core.experiments import ExperimentService
from studio_desktop.core.exports import ExportService
from studio_desktop.core.workspace import Workspace
from studio_desktop.ml.export.detection import DetectionExport, DetectionOutputs
from studio_desktop.ml.export.detection_checks import Detections, pair
from studio_desktop.ml.export.runtime import load_exported

pytestmark = pytest.mark.ml


#: the shared real-data fixtures (tests/conftest.py's), beside the repository
SHARED_FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "real"


@pytest.fixture(scope="module")
def cells(tmp_path_factory):
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"real fixtures not found at {SHARED_FIXTURES}")
    real_fixtures = SHARED_FIXTURES
    root = tmp_path_factory.mktemp("export-detection")
    ws = Workspace.open(root / "ws")
    project, split = rbc_detection_project(ws, real_fixtures, per_subset=10)
    exp = trained_detector(ws, project, split, "tiny", epochs=3)
    yield SimpleNamespace(ws=ws, project=project, exp=exp, root=root, fixtures=real_fixtures)
    ws.close()


def _check(record, name):
    return next(c for c in record.validation.checks if c.name == name)


@pytest.mark.slow
def test_onnx_export_of_a_detector_is_validated_on_real_images_and_describes_itself(cells):
    outcome = export(cells.ws, cells.project, cells.exp, format="onnx", validation_images=8)
    assert outcome.status == "ready", outcome.error
    rec = outcome.record
    v = rec.validation
    assert v.passed and v.images == 8 and v.subsets == {"val": 8} and v.metric == "mAP@0.5"
    assert v.metric_pytorch is not None and abs(v.metric_pytorch - v.metric_exported) <= 0.02
    paired = _check(rec, "detections paired with PyTorch's")
    assert paired.value >= 0.99 and "PyTorch kept" in paired.help
    assert _check(rec, "max box difference").value < 0.01 and _check(rec, "max box difference").unit == "px"
    assert _check(rec, "max score difference").value < 1e-3
    # through Pillow's resampling of real 416 px smears the file still finds the same cells
    assert _check(rec, "detections paired via metadata").value >= 0.9
    assert "images with another count of detections" in [c.name for c in v.checks]
    from studio_desktop.ml.export.validation import summary

    assert summary(v).startswith("passed: max box (px) difference ") and "% of detections paired via metadata" \
        in summary(v) and "decisions agree" not in summary(v)
    # the exporter detectors need, batch 1 stated everywhere
    assert "TorchScript-based" in rec.exporter and rec.opset >= 16
    assert rec.dynamic_batch is False and rec.input_shape == [1, 3, 128, 128]
    meta = rec.metadata
    assert meta["task"] == "object_detection" and meta["batch"] == "1" and meta["boxes"] == "input pixels"
    assert meta["classes"] == [c.name for c in cells.project.classes]
    assert meta["class_ids"] == [c.id for c in cells.project.classes]
    assert meta["operating_point"] is None and float(meta["score_threshold"]) == 0.5
    assert float(meta["max_detections"]) == 100 and float(meta["model_nms_iou"]) == 0.5
    assert list(rec.outputs) == ["detections"] and "N x K x 6" in rec.outputs["detections"]
    # what load_exported gives: rows in input pixels, classes described for prediction
    model = load_exported(outcome.folder)
    assert model.output == "detections" and model.runner.batch == 1
    assert model.metadata["classes"] == [{"id": c.id, "name": c.name} for c in cells.project.classes]
    x = np.stack([model.preprocessing.tensor(p).numpy() for p in sorted(cells.fixtures.glob(
        "coco_bbox_rbc/valid/*.jpg"))[:3]])
    rows = model.run(x)
    assert rows.shape == (3, 100, 6)
    real = rows[..., 5] >= 0
    assert ((rows[..., :4] >= -1) & (rows[..., :4] <= 129)).all()
    assert set(np.unique(rows[..., 5][real]).astype(int)) <= {0, 1}


class ScaledBoxes(DetectionOutputs):
    """A broken export: the boxes come out at 90 % of their size (a wrong scale in the graph)."""

    def forward(self, x):
        (rows,) = super().forward(x)
        return (torch.cat([rows[..., :4] * 0.9, rows[..., 4:]], dim=-1),)


@pytest.mark.slow
def test_a_broken_export_fails_with_its_numbers(cells, monkeypatch):
    exports = ExportService(cells.ws, cells.project.id, cells.exp.id)
    for r in exports.list():  # a ready ONNX of the same checkpoint would be reused instead of exporting again
        exports.delete(r.id)
    monkeypatch.setattr(DetectionExport, "network", lambda self, trained, op: ScaledBoxes(trained.model).eval())
    outcome = export(cells.ws, cells.project, cells.exp, format="onnx", validation_images=6)
    assert outcome.status == "failed" and outcome.record is not None and not outcome.record.ready
    failures = " | ".join(outcome.record.validation.failures)
    paired = _check(outcome.record, "detections paired with PyTorch's")
    assert not paired.passed and paired.value < 0.5, paired
    assert "detections paired with PyTorch's" in failures and "0 % below the limit 99 %" in failures
    assert "max box difference" not in failures or "px" in failures
    assert outcome.error.startswith("validation failed:")
    # a wrong normalisation in the metadata: the file fed by its own metadata finds other boxes
    monkeypatch.undo()
    from studio_desktop.ml.export import metadata as meta_mod

    real_build = meta_mod.build

    def wrong_std(*a, **k):
        meta = real_build(*a, **k)
        meta["std"] = json.dumps([1.0, 1.0, 1.0])
        return meta

    monkeypatch.setattr(meta_mod, "build", wrong_std)
    outcome = export(cells.ws, cells.project, cells.exp, format="onnx", validation_images=6)
    assert outcome.status == "failed"
    v = outcome.record.validation
    assert _check(outcome.record, "detections paired with PyTorch's").passed  # the graph itself is right
    via = _check(outcome.record, "detections paired via metadata")
    assert not via.passed and via.value < 0.9
    assert any("detections paired via metadata" in f for f in v.failures)
    assert any("metadata read back differs" in f and "std" in f for f in v.failures)


@pytest.mark.slow
def test_the_snippet_prints_and_draws_the_boxes_the_app_predicts_in_a_clean_process(cells, tmp_path):
    folder = ExperimentService(cells.ws, cells.project.id).folder(cells.exp.id) / "evaluation"
    folder.mkdir(parents=True, exist_ok=True)
    wbc = cells.project.classes[1].id
    save_operating_point(folder, OperatingPoint(task="object_detection", score_threshold=0.2,
                                                class_thresholds={wbc: 0.3}, nms_iou=0.4))
    try:
        outcome = export(cells.ws, cells.project, cells.exp, format="onnx", validation_images=4)
    finally:
        (folder / "operating_point.json").unlink()
    assert outcome.status == "ready", outcome.error
    meta = outcome.record.metadata
    assert meta["operating_point"] == {"score_threshold": 0.2, "class_thresholds": {str(wbc): 0.3}, "nms_iou": 0.4,
                                       "match_iou": None}
    assert float(meta["score_threshold"]) == 0.2
    images = sorted(cells.fixtures.glob("coco_bbox_rbc/test/*.jpg"))[:2]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    res = subprocess.run([sys.executable, "-I", str(outcome.folder / "predict.py"), *map(str, images), "--json",
                          "--draw", str(tmp_path / "drawn")], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert [Path(x["image"]).name for x in lines] == [p.name for p in images]
    # the app's own prediction through the same export (studio predict's decode)
    assert sum(len(x["detections"]) for x in lines) >= 2, lines  # something to compare
    from studio_desktop.ml.predict import predict

    rows, _, _ = predict(None, str(outcome.folder), images, None)
    for snippet_row, app_row in zip(lines, rows, strict=True):
        assert (snippet_row["width"], snippet_row["height"]) == (app_row["width"], app_row["height"]) == (416, 416)
        found = snippet_row["detections"]
        for d in found:
            assert d["score"] >= (0.3 if d["class_id"] == wbc else 0.2)
            assert 0 <= d["box"][0] <= d["box"][2] <= 416 and 0 <= d["box"][1] <= d["box"][3] <= 416
        app = app_row["prediction"]["boxes"]
        assert abs(len(found) - len(app)) <= max(1, len(app) // 10)
        a = Detections(np.array([d["box"] for d in found]).reshape(-1, 4), np.array([d["score"] for d in found]),
                       np.array([d["class_id"] for d in found]))
        b = Detections(np.array([[x["x1"], x["y1"], x["x2"], x["y2"]] for x in app]).reshape(-1, 4),
                       np.array([x["score"] for x in app]), np.array([x["cls"] for x in app]))
        assert (pair(a, b, 0.8) >= 0).mean() >= 0.9 if len(a) else True
        drawn = tmp_path / "drawn" / (Path(snippet_row["image"]).stem + ".png")
        assert drawn.is_file() and drawn.stat().st_size > 10_000
    # the plain text names classes and scores
    res = subprocess.run([sys.executable, "-I", str(outcome.folder / "predict.py"), str(images[0]), "--draw", ""],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert res.returncode == 0 and f"{images[0]}: " in res.stdout and "object(s)" in res.stdout


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["openvino", "torchscript"])
def test_openvino_and_torchscript_exports_validate(cells, fmt):
    outcome = export(cells.ws, cells.project, cells.exp, format=fmt, validation_images=4)
    assert outcome.status == "ready", outcome.error
    v = outcome.record.validation
    assert v.passed and _check(outcome.record, "detections paired with PyTorch's").value >= 0.99
    assert outcome.record.metadata["batch"] == "1"
    assert load_exported(outcome.folder).runner.batch == 1


def test_what_does_not_validate_is_refused_for_detectors_with_the_reason(cells):
    for fmt, precision in (("onnx", "fp16"), ("onnx", "int8"), ("openvino", "int8")):
        outcome = export(cells.ws, cells.project, cells.exp, format=fmt, precision=precision)
        assert outcome.status == "failed" and outcome.record is None
        assert outcome.error.startswith(f"{precision} is not available for object detection models in ")
        assert outcome.error.endswith("ONNX Runtime's FP16 converter breaks their graph, and INT8 moved their boxes "
                                      "too far (43 % of the detections lost)")


@pytest.mark.slow
def test_openvino_fp16_weights_validate_and_report_what_they_change(cells):
    outcome = export(cells.ws, cells.project, cells.exp, format="openvino", precision="fp16", validation_images=4)
    assert outcome.status == "ready", outcome.error
    v, change = outcome.record.validation, outcome.record.precision_change
    assert v.passed and _check(outcome.record, "detections paired with PyTorch's").value >= 0.97
    assert change.metric == "mAP@0.5" and change.agreement_with_fp32 >= 0.97 and change.size < change.size_fp32
    assert change.agreement_words == "of detections paired with FP32"


def test_the_exported_graph_keeps_working_for_any_number_of_detections(tmp_path):
    """The file is traced on one image; another image with fewer detections than K (a trained model
    with few boxes) must still run and give its own rows, padded (Detector.pad takes no Python
    number from the data: an `int(len)` baked into the trace failed in ONNX Runtime)."""
    from torch import nn

    from studio_desktop.ml.export import onnx_format
    from studio_desktop.ml.export.base import ExportOptions
    from studio_desktop.ml.models.detection import Detector

    class Stub(nn.Module):
        """Detections where the first row of the image is positive: their number follows the data."""

        def forward(self, images):
            out = []
            for im in images:
                s = im[0, 0, :20].sigmoid()
                keep = s > 0.5
                xs = torch.arange(20.0)
                boxes = torch.stack([xs, xs, xs + 5, xs + 5], 1)
                out.append({"boxes": boxes[keep], "scores": s[keep], "labels": torch.full((20,), 2)[keep]})
            return out

    net = DetectionOutputs(Detector(Stub(), max_detections=10)).eval()
    many = torch.linspace(0.5, 2.0, 32).expand(1, 3, 8, 32).clone()  # distinct scores: no ties to break
    few = many.clone()
    few[0, 0, 0, :17] = -1  # 3 detections
    exported = onnx_format.export(net, many, ExportOptions(metadata={"producer": "test"},
                                                           output_names=("detections",), exporter="torchscript"),
                                  tmp_path, lambda *a, **k: None)
    runner = onnx_format.load(exported.path)
    for x, n in ((many, 10), (few, 3)):
        rows = runner(x.numpy())["detections"]
        with torch.no_grad():
            expected = net(x)[0].numpy()
        assert rows.shape == (1, 10, 6) and int((rows[0, :, 5] >= 0).sum()) == n
        np.testing.assert_allclose(rows, expected, atol=1e-5)
        assert (rows[0, n:, 5] == -1).all() and (rows[0, n:, 4] == 0).all() and (rows[0, :n, 5] == 1).all()
