""""Try it" with an anomaly model: each new image with its heat map, verdict and score, anomalous ones
framed in red, a check box (H) to see the plain images; real MVTec hazelnuts.

The predictions are written the way ``worker predict`` writes them (the decoder of
``core/evaluation/anomaly_predictions.py`` with maps made from the fixture's own defect masks), so the
panel shows exactly what a run would give, without a model."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from studio_desktop.core.evaluation.anomaly_predictions import anomaly_predictions
from studio_desktop.core.evaluation.predictions import write_prediction_files
from studio_desktop.gui.pages.evaluation.try_it import TryItPanel

SHARED_FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "real"
NOTES = Path("/work/notes")


def _hazelnuts():
    root = SHARED_FIXTURES / "mvtec_hazelnut"
    if not root.is_dir():
        pytest.skip(f"real fixtures not found at {root}")
    good = sorted((root / "test" / "good").glob("*.jpg"))[:2]
    bad = sorted((root / "test" / "colour").glob("*.jpg"))[:2]
    return root, good, bad


def _write_run(folder: Path, good: list[Path], bad: list[Path], root: Path) -> None:
    """predictions.json and heat maps as a run writes them: a defect's map is its ground-truth mask (score 3),
    a good part's map is faint noise (score 0.4); threshold 1 on a display range of 0..2."""
    files = good + bad
    maps = np.zeros((len(files), 64, 64), dtype=np.float32)
    rng = np.random.default_rng(0)
    for i, f in enumerate(files):
        if f in bad:
            with Image.open(root / "ground_truth" / "colour" / f"{f.stem}.png") as m:
                maps[i] = np.asarray(m.convert("L").resize((64, 64), Image.BILINEAR), dtype=np.float32) / 255 * 3
        else:
            maps[i] = rng.uniform(0, 0.4, (64, 64))
    scores = maps.reshape(len(files), -1).max(axis=1)
    ctx = {"images": [{"width": 512, "height": 512}] * len(files), "input_size": 64, "files": [str(f) for f in files],
           "names": [f"{f.parent.name}-{f.stem}" for f in files], "out": folder, "threshold": 1.0,
           "display_range": [0.0, 2.0]}
    rows = [{"file": str(f), "ok": True, **r} for f, r in zip(files, anomaly_predictions(
        {"score": scores, "map": maps}, None, [], ctx), strict=True)]
    rows.append({"file": str(folder / "broken.jpg"), "ok": False, "error": "cannot decode image: truncated"})
    write_prediction_files(folder, {"task": "anomaly_detection", "outputs": []}, None, rows, [])


def test_try_it_shows_heat_maps_verdicts_and_scores(qtbot, tmp_path):
    root, good, bad = _hazelnuts()
    controller = SimpleNamespace(project=SimpleNamespace(task="anomaly_detection", classes=[], target_units={}),
                                 folder=lambda eid: tmp_path / "exp", checkpoints=lambda eid: ["best"],
                                 try_folder=lambda eid: tmp_path / "try" / "1",
                                 predict_args=lambda exp, inputs, out, ckpt: [exp.id, *inputs, "--out", str(out)])
    panel = TryItPanel()
    qtbot.addWidget(panel)
    panel.resize(900, 420)
    panel.set_experiment(controller, SimpleNamespace(id="e1"))
    heat = panel.try_view.heat
    assert heat.isChecked() and "H" in heat.shortcut().toString() and "threshold" in heat.toolTip()
    assert panel.loader.size.width() == 160 and panel.try_view.worker_args() == []
    folder = tmp_path / "try" / "1"
    _write_run(folder, good, bad, root)
    panel.show_folder(folder)
    panel.show()
    qtbot.waitUntil(lambda: len(panel.loader._cache) >= 4 if hasattr(panel.loader, "_cache") else True, timeout=5000)
    qtbot.wait(300)
    model = panel.model
    captions = [model.data(model.index(i)) for i in range(model.rowCount())]
    assert captions[:2] == ["normal 0.4", "normal 0.4"] and captions[2].startswith("ANOMALOUS 3")
    assert captions[4] == "cannot read"
    tip = model.data(model.index(2), role=__import__("PySide6.QtCore").QtCore.Qt.ItemDataRole.ToolTipRole)
    assert "anomalous (score 3 ≥ threshold 1)" in tip
    status = panel.status.text()
    assert "5 image(s) predicted" in status and "2 of 4 anomalous at threshold 1" in status
    assert "1 could not be read" in status
    # the heat map is drawn over the defect's thumbnail; unticked, the plain image
    rect = panel.view.visualRect(model.index(2))
    with_heat = panel.view.viewport().grab(rect).toImage()
    panel.grab().save(str(NOTES / "anomaly-try-it.png")) if NOTES.is_dir() else None
    heat.setChecked(False)
    qtbot.wait(50)
    plain = panel.view.viewport().grab(rect).toImage()
    changed = sum(1 for y in range(0, with_heat.height(), 2) for x in range(0, with_heat.width(), 2)
                  if with_heat.pixelColor(x, y) != plain.pixelColor(x, y))
    assert changed > 200, changed
    # a normal part's thumbnail barely changes (its map is below the colour scale's middle)
    rect0 = panel.view.visualRect(model.index(0))
    plain0 = panel.view.viewport().grab(rect0).toImage()
    heat.setChecked(True)
    qtbot.wait(50)
    heat0 = panel.view.viewport().grab(rect0).toImage()
    changed0 = sum(1 for y in range(0, heat0.height(), 2) for x in range(0, heat0.width(), 2)
                   if abs(heat0.pixelColor(x, y).red() - plain0.pixelColor(x, y).red()) > 40)
    assert changed0 < changed / 4
