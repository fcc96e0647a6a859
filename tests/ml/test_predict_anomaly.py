"""`studio predict` with an anomaly model: score, verdict at the operating point (or the Evaluation page's
default threshold) and a heat map PNG per image, the same through a checkpoint and its export.

The decode (threshold, verdict, heat map picture, words, CSV) is checked on hand-made maps; the CLI on
the anomaly sample with PatchCore on an untrained ResNet-18 (``anomaly_fixtures.py``, built once).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from anomaly_fixtures import anomaly_parts, quiet_emitter
from PIL import Image

from studio_desktop.cli import main
from studio_desktop.core.anomaly import display_range
from studio_desktop.core.evaluation.anomaly import AnomalyScores, default_threshold
from studio_desktop.core.evaluation.anomaly_predictions import REGION_COLOUR, anomaly_predictions, rule_for
from studio_desktop.core.evaluation.operating_point import OperatingPoint, save_operating_point
from studio_desktop.core.evaluation.predictions import prediction_text, write_prediction_files


@pytest.fixture
def parts(tmp_path_factory):
    return anomaly_parts(tmp_path_factory.getbasetemp() / "anomaly-parts")


def _image(path: Path, size=(80, 40)) -> Path:
    Image.fromarray(np.full((size[1], size[0], 3), 120, dtype=np.uint8)).save(path)
    return path


# ------------------------------------------------------------------ the decode, on hand-made maps

def test_the_decoder_gives_verdicts_at_the_threshold_and_writes_heat_maps(tmp_path):
    files = [_image(tmp_path / "a.png"), _image(tmp_path / "b.png")]
    maps = np.zeros((2, 1, 32, 32), dtype=np.float32)
    maps[1, 0, 8:24, 0:8] = 3.0  # a hot spot on the left of the second image (inside the letterboxed content)
    arrays = {"score": np.array([0.5, 3.0], dtype=np.float32), "map": maps}
    ctx = {"images": [{"width": 80, "height": 40}] * 2, "input_size": 32, "files": [str(f) for f in files],
           "names": ["a", "b"], "out": tmp_path / "out", "threshold": 2.0, "display_range": [0.0, 4.0]}
    a, b = anomaly_predictions(arrays, None, [], ctx)
    assert a["prediction"]["anomalous"] is False and b["prediction"]["anomalous"] is True
    assert b["prediction"]["threshold"] == 2.0 and (b["width"], b["height"]) == (80, 40)
    # the operating point wins over the context's default
    op = OperatingPoint(task="anomaly_detection", rule="threshold", threshold=4.0)
    assert [r["prediction"]["anomalous"] for r in anomaly_predictions(arrays, op, [], {**ctx, "out": None})] == \
        [False, False]
    # the heat map picture: original size, coloured and outlined where the map passes the threshold only
    with Image.open(b["prediction"]["heat_map"]) as im:
        hot = np.asarray(im.convert("RGB"), dtype=int)
    with Image.open(a["prediction"]["heat_map"]) as im:
        cold = np.asarray(im.convert("RGB"), dtype=int)
    assert hot.shape == cold.shape == (40, 80, 3)
    assert np.abs(cold - 120).max() <= 1  # below the display range's low end: the image unchanged
    assert np.abs(hot[:, 40:] - 120).max() <= 1 and np.abs(hot[:, :15] - 120).sum(axis=2).max() > 100
    assert (hot == REGION_COLOUR).all(axis=2).sum() > 10
    # words, CSV and the file rows
    rows = [{"file": str(f), "ok": True, **r} for f, r in zip(files, (a, b), strict=True)]
    assert prediction_text(rows[1]) == "anomalous (score 3 ≥ threshold 2)"
    assert prediction_text(rows[0]) == "normal (score 0.5 < threshold 2)"
    write_prediction_files(tmp_path / "p", {"task": "anomaly_detection"}, None,
                           rows + [{"file": "x.png", "ok": False, "error": "cannot decode image"}], [])
    table = list(csv.reader((tmp_path / "p" / "predictions.csv").open()))
    assert table[0] == ["file", "status", "score", "anomalous", "threshold", "heat_map", "error"]
    assert table[2][:5] == [str(files[1]), "ok", "3", "yes", "2"] and table[3][1] == "failed"
    # scores that differ only past the 4th digit are told apart
    close = anomaly_predictions({"score": np.array([0.303456])}, None, [], {"threshold": 0.303457})[0]
    assert prediction_text({"ok": True, **close}) == "normal (score 0.303456 < threshold 0.303457)"
    # no threshold anywhere: the score alone, said plainly
    [unknown] = anomaly_predictions({"score": np.array([1.0])}, None, [], {})
    assert unknown["prediction"]["anomalous"] is None
    assert "evaluate the model to choose one" in prediction_text({"ok": True, **unknown})


def test_the_default_threshold_and_colour_scale_come_from_the_evaluation_scores(tmp_path):
    rng = np.random.default_rng(0)
    score = np.concatenate([rng.normal(1, 0.1, 40), rng.normal(3, 0.3, 10)]).astype(np.float32)
    label = np.r_[np.zeros(40), np.ones(10)].astype(np.int8)
    subsets = np.array(["val"] * 20 + ["test"] * 20 + ["test"] * 10)
    scores = AnomalyScores(image_ids=np.arange(50).astype(str), subsets=subsets, score=score.astype(np.float64),
                           label=label, map=np.zeros((50, 2, 2), np.float16), has_mask=np.zeros(50, bool),
                           gt_mask=np.zeros((50, 2, 2), bool))
    np.savez(tmp_path / "scores.npz", **scores.as_npz())
    rule = rule_for(None, tmp_path)
    expected, words = default_threshold(AnomalyScores.from_npz(np.load(tmp_path / "scores.npz")))
    assert rule.threshold == pytest.approx(expected) and rule.source == words
    # the Evaluation page's colour scale: normal validation images, stretched up to the defects' scores
    assert (rule.low, rule.high) == pytest.approx(display_range(score[:20], expected, scores_anomalous=score[40:]))
    assert rule.high > display_range(score[:20], expected)[1]
    saved = OperatingPoint(task="anomaly_detection", rule="threshold", threshold=2.5)
    assert rule_for(saved, tmp_path).threshold == 2.5
    assert rule_for(saved, None).threshold == 2.5  # a checkpoint file outside its experiment
    assert rule_for(None, tmp_path / "nowhere").threshold is None


# ------------------------------------------------------------------ the CLI, checkpoint and export

@pytest.mark.ml
def test_predict_gives_score_verdict_and_heat_map_per_image_from_a_checkpoint_and_its_export(parts, tmp_path, capsys):
    from studio_desktop.ml.export.pipeline import ExportRequest, run_export

    base = ["--workspace", str(parts.ws.root), "predict"]
    out, drawn = tmp_path / "ckpt", tmp_path / "drawn"
    assert main([*base, parts.exp.id, *map(str, parts.images), "--out", str(out), "--draw", str(drawn),
                 "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["predictions"]
    assert [Path(r["file"]).name for r in rows] == [p.name for p in parts.images]
    rule = rule_for(None, parts.evaluation)
    for r in rows:
        pred = r["prediction"]
        assert pred["threshold"] == pytest.approx(rule.threshold) and pred["anomalous"] == (pred["score"] >=
                                                                                            rule.threshold)
        assert (r["width"], r["height"]) == (96, 96)
        with Image.open(pred["heat_map"]) as im:
            assert im.size == (96, 96)
        assert (drawn / f"{Path(r['file']).stem}.png").read_bytes() == Path(pred["heat_map"]).read_bytes()
    normal, defects = rows[:3], rows[3:]
    assert max(r["prediction"]["score"] for r in normal) < min(r["prediction"]["score"] for r in defects)
    assert sum(r["prediction"]["anomalous"] for r in defects) >= 2
    saved = json.loads((out / "predictions.json").read_text())
    assert saved["predictions"] == rows and saved["operating_point"] is None
    # a saved operating point moves every verdict; the exported file carries it and agrees
    mid = (normal[0]["prediction"]["score"] + normal[1]["prediction"]["score"]) / 2
    save_operating_point(parts.evaluation, OperatingPoint(task="anomaly_detection", rule="threshold", threshold=mid))
    try:
        assert main([*base, parts.exp.id, *map(str, parts.images), "--out", str(tmp_path / "op"), "--json"]) == 0
        moved = json.loads(capsys.readouterr().out)["predictions"]
        outcome = run_export(parts.ws, ExportRequest(parts.project.id, parts.exp.id, format="onnx", latency_runs=2,
                                                     latency_warmup=1, threads=1, latency_min_seconds=0.0,
                                                     validation_images=6), quiet_emitter)
    finally:
        (parts.evaluation / "operating_point.json").unlink()
    assert [r["prediction"]["anomalous"] for r in moved] == [r["prediction"]["score"] >= mid for r in moved]
    assert outcome.status == "ready", outcome.error
    assert main([*base, str(outcome.folder), *map(str, parts.images), "--out", str(tmp_path / "file"), "--json"]) == 0
    from_file = json.loads(capsys.readouterr().out)["predictions"]
    for a, b in zip(moved, from_file, strict=True):
        assert b["prediction"]["score"] == pytest.approx(a["prediction"]["score"], rel=1e-4, abs=1e-5)
        assert b["prediction"]["threshold"] == pytest.approx(mid)
        assert b["prediction"]["anomalous"] == a["prediction"]["anomalous"]
        with Image.open(a["prediction"]["heat_map"]) as x, Image.open(b["prediction"]["heat_map"]) as y:
            diff = np.abs(np.asarray(x, dtype=int) - np.asarray(y, dtype=int))
        assert diff.mean() < 2.0  # the file's full-size map vs the checkpoint's cached 64 px one: the same picture


@pytest.mark.ml
def test_a_bad_image_is_named_and_the_others_predicted(parts, tmp_path, capsys):
    fake = tmp_path / "broken.png"
    fake.write_text("not an image")
    assert main(["--workspace", str(parts.ws.root), "predict", parts.exp.id, str(parts.images[0]), str(fake),
                 "--out", str(tmp_path / "o")]) == 1
    text = capsys.readouterr().out
    assert f"{fake}: FAILED" in text and "cannot decode image" in text
    assert f"{parts.images[0]}: normal (score " in text or f"{parts.images[0]}: anomalous (score " in text
