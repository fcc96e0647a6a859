"""`studio predict` with a segmentation model, on real street scenes (``masks_camvid``, 480 x 360 photos):
each image segmented whole at its own size through the one predictor, by a checkpoint and by its exported
file alike; index masks of class ids beside predictions.json, the CSV of class shares, ``--draw``'s
overlay and colour mask; bad inputs named in one line. (A tiles-mode model's file against its checkpoint:
tests/ml/test_export_segmentation.py.)"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from export_helpers import export
from PIL import Image
from segmentation_export_helpers import CAMVID, camvid_project, segmentation_experiment

from studio_desktop.cli import main
from studio_desktop.core.evaluation.segmentation_predictions import read_mask
from studio_desktop.core.segmentation import palette
from studio_desktop.core.workspace import Workspace

pytestmark = pytest.mark.ml

VAL = sorted((CAMVID / "val").glob("*.png"))


@pytest.fixture(scope="module")
def streets(tmp_path_factory):
    if not CAMVID.is_dir():
        pytest.skip(f"real fixtures not found at {CAMVID}")
    root = tmp_path_factory.mktemp("predict-segmentation")
    ws = Workspace.open(root / "ws")
    project, split = camvid_project(ws)
    exp = segmentation_experiment(ws, project, split, "streets-net")
    yield ws, project, split, exp, root
    ws.close()


def _classes(project):
    return [{"id": c.id, "name": c.name} for c in project.classes]


def test_a_checkpoint_writes_masks_at_each_images_size_the_csv_and_drawings(streets, tmp_path, capsys):
    ws, project, _, exp, root = streets
    out, drawn = tmp_path / "pred", tmp_path / "drawn"
    base = ["--workspace", str(root / "ws"), "predict"]
    assert main([*base, "streets-net", str(VAL[0]), str(VAL[1]), "--out", str(out), "--draw", str(drawn)]) == 0
    printed = capsys.readouterr()
    assert printed.out.splitlines()[0].startswith(f"{VAL[0]}: ") and "%" in printed.out
    data = json.loads((out / "predictions.json").read_text())
    rows = data["predictions"]
    assert data["model"]["task"] == "semantic_segmentation" and len(rows) == 2 and all(r["ok"] for r in rows)
    ids = {c.id for c in project.classes}
    for row, image in zip(rows, VAL[:2], strict=True):
        pred = row["prediction"]
        assert (row["width"], row["height"]) == (480, 360)
        assert Path(pred["mask"]) == out / "masks" / f"{image.stem}.png"
        mask = np.asarray(Image.open(pred["mask"]))
        assert mask.shape == (360, 480) and mask.dtype == np.uint8 and set(np.unique(mask)) <= ids
        # the areas are the mask's own pixel counts, largest first, shares summing to 1
        counts = {int(v): int(n) for v, n in zip(*np.unique(mask, return_counts=True), strict=True)}
        assert {c["id"]: c["pixels"] for c in pred["classes"]} == counts
        assert [c["pixels"] for c in pred["classes"]] == sorted(counts.values(), reverse=True)
        assert sum(c["share"] for c in pred["classes"]) == pytest.approx(1.0, abs=1e-4)
        assert len(pred["classes"]) >= 2 and 0 < pred["confidence"] <= 1
        # --draw: the overlay on the photo, the coloured mask, the index mask
        overlay, colour = (np.asarray(Image.open(drawn / f"{image.stem}{s}.png")) for s in ("", "-colour"))
        assert overlay.shape == colour.shape == (360, 480, 3)
        assert (colour == palette(project.classes)[read_mask(pred["mask"], _classes(project))]).all()
        assert (np.asarray(Image.open(drawn / f"{image.stem}-mask.png")) == mask).all()
        photo = np.asarray(Image.open(image).convert("RGB")).astype(int)
        assert np.abs(overlay.astype(int) - photo).mean() > 5  # the mask is visibly drawn over it
    table = list(csv.reader((out / "predictions.csv").open()))
    assert table[0][:4] == ["file", "status", "mask", "confidence"] and len(table) == 3
    assert table[0][4:-1] == [f"share_{c.name}" for c in project.classes]
    assert sum(float(v) for v in table[1][4:-1]) == pytest.approx(1.0, abs=1e-3)


def test_an_exported_file_predicts_the_masks_of_its_checkpoint(streets, tmp_path):
    from studio_desktop.ml.predict import predict

    ws, project, _, exp, _ = streets
    outcome = export(ws, project, exp, format="torchscript", validation_images=2)
    assert outcome.status == "ready", outcome.error
    by_ckpt, predictor, _ = predict(ws, exp.id, VAL[:3], tmp_path / "ckpt", project=project.id)
    by_file, file_predictor, _ = predict(None, str(outcome.folder / "model.pt"), VAL[:3], tmp_path / "file")
    assert predictor.image_run is not None and file_predictor.image_run is not None
    assert [c["id"] for c in file_predictor.classes] == [c.id for c in project.classes]
    for a, b in zip(by_ckpt, by_file, strict=True):
        ma, mb = (np.asarray(Image.open(r["prediction"]["mask"])) for r in (a, b))
        assert ma.shape == mb.shape == (360, 480)
        assert (ma == mb).mean() >= 0.999
        assert a["prediction"]["confidence"] == pytest.approx(b["prediction"]["confidence"], abs=1e-4)


def test_bad_inputs_give_one_line_naming_the_file(streets, tmp_path, capsys):
    _, _, _, _, root = streets
    fake = tmp_path / "fake.png"
    fake.write_text("not a picture")
    out = tmp_path / "o"
    assert main(["--workspace", str(root / "ws"), "predict", "streets-net", str(VAL[0]), str(fake), "--out",
                 str(out)]) == 1
    err = capsys.readouterr()
    assert "fake.png: FAILED" in err.out and "Traceback" not in err.err
    rows = json.loads((out / "predictions.json").read_text())["predictions"]
    assert [r["ok"] for r in rows] == [True, False] and "fake.png" in rows[1]["file"]
    assert (out / "masks" / f"{VAL[0].stem}.png").is_file() and not (out / "masks" / "fake.png").exists()
    assert main(["--workspace", str(root / "ws"), "predict", "streets-net", str(VAL[0]), "--out", str(out),
                 "--score-threshold", "0.5"]) == 1
    assert "only applies to models that predict boxes" in capsys.readouterr().err


def test_the_try_it_job_writes_masks_and_their_pictures(streets, tmp_path, capsys):
    """``worker predict --draw`` (what "Try it" starts for a segmentation model): index masks, overlays and
    coloured masks in the run's folder, and a completed event."""
    _, _, _, _, root = streets
    out = tmp_path / "try"
    assert main(["--workspace", str(root / "ws"), "worker", "predict", "streets-net", str(VAL[2]), "--out", str(out),
                 "--draw"]) == 0
    capsys.readouterr()
    stem = VAL[2].stem
    assert (out / "masks" / f"{stem}.png").is_file()
    assert {p.name for p in (out / "drawn").iterdir()} == {f"{stem}.png", f"{stem}-colour.png", f"{stem}-mask.png"}
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "completed" and events[-1]["summary"]["images"] == 1
