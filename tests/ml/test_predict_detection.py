"""`studio predict` with a detector: a checkpoint and its export through one decode, boxes in the
original image's pixels, JSON + CSV + COCO results + drawn PNGs, and clear lines for bad input.

The teaching detector is trained for a few epochs at 128 px on real blood smears (416 px JPEGs of
the fixture ``coco_bbox_rbc``; module fixture). The decode itself (padding, per-class thresholds,
NMS, letterbox back to the image) is checked on hand-made rows without a model.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from export_helpers import export, rbc_detection_project, trained_detector, untrained_experiment
from ml_helpers import make_tiny_project

from studio_desktop.cli import main
from studio_desktop.core.evaluation.detection_predictions import coco_image_id, detection_predictions
from studio_desktop.core.evaluation.operating_point import OperatingPoint
from studio_desktop.core.letterbox import to_input
from studio_desktop.core.workspace import Workspace
from studio_desktop.ml.export.detection_checks import Detections, pair

SHARED_FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "real"
CLASSES = [{"id": 7, "name": "rbc"}, {"id": 9, "name": "wbc"}]


# ------------------------------------------------------------------ the decode, on hand-made rows

def _rows(*dets, k=5):
    rows = np.zeros((1, k, 6), dtype=np.float32)
    rows[0, :, 5] = -1
    for i, d in enumerate(dets):
        rows[0, i] = d
    return rows


def test_decode_maps_boxes_back_through_the_letterbox_and_applies_the_operating_point():
    # a 400 x 200 image letterboxed to 100: scale 0.25, 25 px borders above and below
    box = [40.0, 20.0, 200.0, 120.0]
    x1, y1, x2, y2 = to_input([box], 400, 200, 100)[0]
    rows = _rows([x1, y1, x2, y2, 0.9, 0], [x1 + 1, y1, x2 + 1, y2, 0.8, 0], [10, 30, 20, 40, 0.45, 1],
                 [10, 30, 20, 40, 0.35, 0])
    ctx = {"images": [{"width": 400, "height": 200}], "input_size": 100}
    [plain] = detection_predictions({"detections": rows}, None, CLASSES, ctx)
    boxes = plain["prediction"]["boxes"]
    assert (plain["width"], plain["height"]) == (400, 200)
    assert [(b["name"], b["score"]) for b in boxes] == [("rbc", 0.9), ("rbc", 0.8)]  # 0.5 by default
    assert [boxes[0][k] for k in ("x1", "y1", "x2", "y2")] == pytest.approx(box, abs=0.05)
    assert boxes[0]["cls"] == 7
    # per-class threshold (by class id) and the operating point's NMS merge the duplicate
    op = OperatingPoint(task="object_detection", score_threshold=0.4, class_thresholds={9: 0.3}, nms_iou=0.5)
    [kept] = detection_predictions({"detections": rows}, op, CLASSES, ctx)
    assert [(b["name"], b["score"]) for b in kept["prediction"]["boxes"]] == [("rbc", 0.9), ("wbc", 0.45)]
    # the head's arrays (a checkpoint) decode the same way as the file's rows
    arrays = {"boxes": rows[..., :4], "scores": rows[..., 4], "labels": rows[..., 5].astype(np.int64)}
    assert detection_predictions(arrays, op, CLASSES, ctx) == [kept]
    # a box over the border is clamped to the image; padding and an image with nothing give no boxes
    [edge] = detection_predictions({"detections": _rows([0, 0, 60, 20, 0.7, 1])}, None, CLASSES, ctx)
    assert [edge["prediction"]["boxes"][0][k] for k in ("x1", "y1", "x2", "y2")] == [0.0, 0.0, 240.0, 0.0]
    [empty] = detection_predictions({"detections": _rows()}, None, CLASSES, ctx)
    assert empty["prediction"] == {"boxes": []}


def test_coco_image_ids_come_from_numeric_file_names_else_the_position():
    assert coco_image_id("/data/000000000139.jpg", 4) == 139
    assert coco_image_id("/data/smear-2.jpg", 4) == 4


# ------------------------------------------------------------------ the CLI on real images

@pytest.fixture(scope="module")
def cells(tmp_path_factory):
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"real fixtures not found at {SHARED_FIXTURES}")
    root = tmp_path_factory.mktemp("predict-detection")
    ws = Workspace.open(root / "ws")
    project, split = rbc_detection_project(ws, SHARED_FIXTURES, per_subset=8)
    exp = trained_detector(ws, project, split, "tiny", epochs=3)
    images = sorted((SHARED_FIXTURES / "coco_bbox_rbc" / "test").glob("*.jpg"))[:3]
    yield SimpleNamespace(ws=ws, project=project, exp=exp, root=root, images=images)
    ws.close()


def _detections(row) -> Detections:
    boxes = row["prediction"]["boxes"]
    return Detections(np.array([[b["x1"], b["y1"], b["x2"], b["y2"]] for b in boxes]).reshape(-1, 4),
                      np.array([b["score"] for b in boxes]), np.array([b["cls"] for b in boxes]))


@pytest.mark.ml
@pytest.mark.slow
def test_predict_with_a_checkpoint_and_its_export_writes_boxes_coco_results_and_drawings(cells, tmp_path, capsys):
    from pycocotools.coco import COCO

    base = ["--workspace", str(cells.ws.root), "predict"]
    out, coco, drawn = tmp_path / "ckpt", tmp_path / "results.json", tmp_path / "drawn"
    assert main([*base, "tiny", *map(str, cells.images), "--out", str(out), "--score-threshold", "0.1",
                 "--coco-results", str(coco), "--draw", str(drawn), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    rows = printed["predictions"]
    assert [Path(r["file"]).name for r in rows] == [p.name for p in cells.images]
    total = sum(len(r["prediction"]["boxes"]) for r in rows)
    assert total >= 3
    for r in rows:
        assert r["ok"] and (r["width"], r["height"]) == (416, 416)
        for b in r["prediction"]["boxes"]:
            assert b["score"] >= 0.1 and b["name"] in ("rbc", "wbc", "cells")
            assert 0 <= b["x1"] <= b["x2"] <= 416 and 0 <= b["y1"] <= b["y2"] <= 416
    saved = json.loads((out / "predictions.json").read_text())
    assert saved["predictions"] == rows and saved["operating_point"]["score_threshold"] == 0.1
    table = list(csv.reader((out / "predictions.csv").open()))
    assert table[0] == ["file", "status", "class", "score", "x1", "y1", "x2", "y2", "error"]
    assert len(table) - 1 == total + sum(1 for r in rows if not r["prediction"]["boxes"])
    # COCO results load with pycocotools against ground truth numbered the same way
    results = json.loads(coco.read_text())
    assert len(results) == total and {r["image_id"] for r in results} <= {1, 2, 3}
    first = rows[0]["prediction"]["boxes"][0] if rows[0]["prediction"]["boxes"] else None
    if first is not None:
        r0 = results[0]
        assert r0["bbox"] == pytest.approx([first["x1"], first["y1"], first["x2"] - first["x1"],
                                            first["y2"] - first["y1"]], abs=0.02)
    gt = COCO()
    gt.dataset = {"images": [{"id": i, "width": 416, "height": 416} for i in (1, 2, 3)], "annotations": [],
                  "categories": [{"id": c.id, "name": c.name} for c in cells.project.classes]}
    gt.createIndex()
    assert len(gt.loadRes(str(coco)).getAnnIds()) == total
    # a drawing per image, with the boxes' colours on it
    from PIL import Image

    for p in cells.images:
        png = drawn / f"{p.stem}.png"
        with Image.open(png) as im, Image.open(p) as orig:
            assert im.size == orig.size
            diff = np.abs(np.asarray(im.convert("RGB"), dtype=int) - np.asarray(orig.convert("RGB"), dtype=int))
        assert (diff.sum(axis=2) > 100).sum() > 200
    # the exported file gives the same boxes through the same decode
    outcome = export(cells.ws, cells.project, cells.exp, format="onnx", validation_images=4)
    assert outcome.status == "ready", outcome.error
    capsys.readouterr()  # pycocotools' and the export's chatter
    assert main([*base, str(outcome.folder / "model.onnx"), *map(str, cells.images), "--out",
                 str(tmp_path / "onnx"), "--score-threshold", "0.1", "--json"]) == 0
    from_file = json.loads(capsys.readouterr().out)["predictions"]
    assert all(r["width"] == 416 for r in from_file)
    for a, b in zip(rows, from_file, strict=True):
        da, db = _detections(a), _detections(b)
        assert abs(len(da) - len(db)) <= max(1, len(da) // 10)
        if len(da):
            assert (pair(da, db, 0.9) >= 0).mean() >= 0.9
    # a higher threshold keeps fewer boxes
    assert main([*base, "tiny", *map(str, cells.images), "--out", str(tmp_path / "high"), "--score-threshold",
                 "0.99", "--json"]) == 0
    high = json.loads(capsys.readouterr().out)["predictions"]
    assert sum(len(r["prediction"]["boxes"]) for r in high) < total


@pytest.mark.ml
@pytest.mark.slow
def test_bad_inputs_give_one_line_naming_the_file(cells, tmp_path, capsys):
    fake = tmp_path / "broken.jpg"
    fake.write_text("not an image")
    out = tmp_path / "out"
    base = ["--workspace", str(cells.ws.root), "predict", "tiny"]
    assert main([*base, str(cells.images[0]), str(fake), str(tmp_path / "absent.png"), "--out", str(out)]) == 1
    text = capsys.readouterr()
    assert f"{fake}: FAILED" in text.out and "cannot decode image" in text.out
    assert f"{tmp_path / 'absent.png'}: FAILED no such file or folder" in text.out
    assert f"{cells.images[0]}: " in text.out and ("object" in text.out)
    assert main([*base, str(cells.images[0]), "--out", str(out), "--score-threshold", "1.5"]) == 1
    assert "the score threshold must be between 0 and 1, not 1.5" in capsys.readouterr().err


@pytest.mark.ml
def test_box_options_on_a_classifier_are_refused_in_one_line(workspace_dir, tmp_path, capsys):
    ws = Workspace.open(workspace_dir)
    project, _ = make_tiny_project(ws, per_class=2)
    untrained_experiment(ws, project, "tiny_cnn", name="net")
    image = next(p for p in ws.project_dir(project.id).rglob("*.png") if "thumb" not in str(p))
    ws.close()
    assert main(["--workspace", str(workspace_dir), "predict", "net", str(image), "--out", str(tmp_path / "o"),
                 "--coco-results", str(tmp_path / "c.json"), "--draw", str(tmp_path / "d")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == ("error: --coco-results only applies to models that predict boxes (object detection); this "
                   "is a classification model")
    assert not (tmp_path / "c.json").exists()
    # a classifier has nothing to draw either: said, not an empty folder
    assert main(["--workspace", str(workspace_dir), "predict", "net", str(image), "--out", str(tmp_path / "o"),
                 "--draw", str(tmp_path / "d")]) == 1
    assert capsys.readouterr().err.strip() == (
        "error: --draw has nothing to draw for a classification model (it draws boxes, masks and heat maps); its "
        "predictions are in predictions.json")
    assert not (tmp_path / "d").exists()
