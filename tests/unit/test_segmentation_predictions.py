"""Segmentation predictions on new images, without a network: probabilities -> index mask PNG (class ids),
areas, the CSV, the --draw pictures; and the export checks' pixel agreement and mIoU on hand-made masks."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from studio_desktop.core.evaluation.predictions import (
    DECODERS,
    DRAWERS,
    decode_predictions,
    prediction_text,
    write_prediction_files,
)
from studio_desktop.core.evaluation.segmentation_predictions import read_mask

CLASSES = [{"id": 0, "name": "background"}, {"id": 7, "name": "road", "colour": "#ff0000"},
           {"id": 3, "name": "car"}]


def _probabilities(channels: np.ndarray, classes: int = 3) -> np.ndarray:
    """(1, C, H, W) probabilities whose argmax is ``channels`` (winner 0.7, the rest shared)."""
    probs = np.full((classes, *channels.shape), 0.3 / (classes - 1), dtype=np.float32)
    for k in range(classes):
        probs[k][channels == k] = 0.7
    return probs[None]


def test_the_decoder_writes_the_index_mask_as_class_ids_and_counts_each_class(tmp_path):
    channels = np.zeros((6, 10), dtype=np.uint8)
    channels[:, 5:] = 1  # half road
    channels[0, :2] = 2  # two car pixels
    rows = decode_predictions("semantic_segmentation", {"probabilities": _probabilities(channels)}, None, CLASSES,
                              {"out": tmp_path, "names": ["street"], "images": [{"width": 10, "height": 6}]})
    assert DECODERS["semantic_segmentation"] and len(rows) == 1
    pred = rows[0]["prediction"]
    assert (rows[0]["width"], rows[0]["height"]) == (10, 6)
    assert pred["mask"] == str(tmp_path / "masks" / "street.png")
    written = np.asarray(Image.open(pred["mask"]))
    assert written.dtype == np.uint8 and written.shape == (6, 10)
    # class ids on disk (road is id 7, car id 3), not channel indices
    assert set(np.unique(written)) == {0, 7, 3} and (written[:, 5:] == 7).all() and (written[0, :2] == 3).all()
    assert (read_mask(pred["mask"], CLASSES) == channels).all()
    assert [c["name"] for c in pred["classes"]] == ["road", "background", "car"]
    assert [c["pixels"] for c in pred["classes"]] == [30, 28, 2]
    assert pred["classes"][0]["share"] == pytest.approx(0.5) and pred["confidence"] == pytest.approx(0.7)
    assert prediction_text({"ok": True, **rows[0]}) == "road 50%, background 47%, car 3%"


def test_without_a_folder_nothing_is_written_and_the_areas_are_still_given(tmp_path):
    channels = np.ones((4, 4), dtype=np.uint8)
    rows = decode_predictions("semantic_segmentation", {"channels": channels[None]}, None, CLASSES, {})
    assert rows[0]["prediction"]["mask"] is None
    assert rows[0]["prediction"]["classes"] == [{"id": 7, "name": "road", "pixels": 16, "share": 1.0}]
    assert not list(tmp_path.iterdir())


def test_csv_has_one_row_per_image_with_each_class_share(tmp_path):
    channels = np.zeros((2, 2), dtype=np.uint8)
    channels[0, 0] = 1
    ok = decode_predictions("semantic_segmentation", {"probabilities": _probabilities(channels)}, None, CLASSES,
                            {"out": tmp_path, "names": ["a"]})[0]
    rows = [{"file": "/x/a.png", "ok": True, **ok}, {"file": "/x/b.png", "ok": False, "error": "cannot decode"}]
    json_path, csv_path = write_prediction_files(tmp_path, {"task": "semantic_segmentation"}, None, rows,
                                                 [c["name"] for c in CLASSES])
    table = list(csv.reader(csv_path.open()))
    assert table[0] == ["file", "status", "mask", "confidence", "share_background", "share_road", "share_car",
                        "error"]
    assert table[1][:2] == ["/x/a.png", "ok"] and table[1][2].endswith("masks/a.png")
    assert [float(v) for v in table[1][4:7]] == [0.75, 0.25, 0.0]
    assert table[2] == ["/x/b.png", "failed", "", "", "", "", "", "cannot decode"]
    assert json.loads(json_path.read_text())["predictions"][0]["prediction"]["classes"][0]["name"] == "background"


def test_draw_writes_the_overlay_the_colour_mask_and_the_index_mask(tmp_path):
    photo = np.full((8, 12, 3), 200, dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "p.png")
    channels = np.zeros((8, 12), dtype=np.uint8)
    channels[:, 6:] = 1
    pred = decode_predictions("semantic_segmentation", {"channels": channels[None]}, None, CLASSES,
                              {"out": tmp_path / "pred", "names": ["p"]})[0]
    written = DRAWERS["semantic_segmentation"]({"file": str(tmp_path / "p.png"), "ok": True, **pred},
                                                tmp_path / "drawn" / "p", CLASSES)
    assert [w.name for w in written] == ["p.png", "p-colour.png", "p-mask.png"]
    overlay, colour, mask = (np.asarray(Image.open(w)) for w in written)
    # background black and left transparent on the overlay; road in its own colour (#ff0000), blended at 0.5
    assert (colour[:, :6] == 0).all() and (colour[:, 6:] == [255, 0, 0]).all()
    assert (overlay[:, :6] == 200).all() and (overlay[:, 6:] == [228, 100, 100]).all()
    assert (mask[:, 6:] == 7).all() and (mask[:, :6] == 0).all()


def test_export_checks_compare_image_pixels_only_and_miou_leaves_absent_classes_out():
    from studio_desktop.ml.export.segmentation_checks import (
        Truth,
        compare_segmentation,
        mean_iou,
        pixel_agreement,
    )

    inside = np.zeros((4, 4), dtype=bool)
    inside[1:3] = True  # rows 0 and 3 are letterbox padding
    mask = np.full((4, 4), 255, dtype=np.uint8)
    mask[1:3, :2], mask[1:3, 2:] = 0, 1
    mask[1, 3] = 255  # one ignored pixel
    truth = [Truth(mask, inside)]
    pred = np.zeros((1, 4, 4), dtype=np.int64)
    pred[0, 1:3, 2:] = 1
    other = pred.copy()
    other[0, 0] = 2  # differs on the padding only
    assert pixel_agreement(pred, other, truth) == 1.0 and pixel_agreement(pred, other, None) < 1.0
    assert mean_iou(pred, truth, 3) == pytest.approx(1.0)  # class 2 absent from truth and prediction: left out
    worse = pred.copy()
    worse[0, 2, 0] = 1  # one background pixel called class 1
    # class 0: 3 / 4; class 1: 3 / 4 (tp 3 of 3 labelled, + 1 false positive)
    assert mean_iou(worse, truth, 3) == pytest.approx(0.75)

    def logits(p):
        return np.eye(3, dtype=np.float32)[p].transpose(0, 3, 1, 2) * 5

    v = compare_segmentation(precision="fp32", subsets={"val": 1}, reference=logits(pred), same_input=logits(pred),
                             file=logits(worse), truth=truth, class_count=3)
    names = [c.name for c in v.checks]
    assert names == ["metadata read back as written", "max logit difference", "pixels given PyTorch's class",
                     "pixels given PyTorch's class via metadata", "mIoU drop"]
    assert not v.passed and v.agreement == pytest.approx(7 / 8) and v.metric_exported == pytest.approx(0.75)
    assert any("pixels given PyTorch's class via metadata 87.5 % below the limit 97 %" in f for f in v.failures), \
        v.failures


def test_large_segmentation_outputs_cap_the_validation_images():
    from types import SimpleNamespace

    from studio_desktop.ml.export.segmentation import SegmentationExport

    def trained(size, classes, **settings):
        return SimpleNamespace(project=SimpleNamespace(task="semantic_segmentation", classes=[object()] * classes),
                               config=SimpleNamespace(input_size=size, task_settings=settings),
                               preprocessing=SimpleNamespace(input_size=size))

    entry = SegmentationExport()
    assert entry.output_bytes(trained(512, 21)) == 4 * 21 * 512 * 512
    assert entry.validation_limit(trained(512, 21)) == 12  # 22 MB an image: 12 fit 256 MB
    assert entry.validation_limit(trained(96, 3)) > 64  # the default 64 images untouched
    # tiles: the file's input is the tile, whatever the letterbox size says
    assert entry.output_bytes(trained(96, 3, mode="tiles", crop_size=1024)) == 4 * 3 * 1024 * 1024
    assert entry.validation_limit(trained(2048, 150)) == 4  # never fewer than 4
