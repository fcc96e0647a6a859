""""Try it" with a detector: boxes drawn on each new image with class and score, a score threshold
that starts at the operating point, goes to the prediction run and filters the boxes at once."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from studio_desktop.core.evaluation.detection_predictions import COLOURS
from studio_desktop.core.evaluation.operating_point import OperatingPoint, save_operating_point
from studio_desktop.core.formats.coco import READER
from studio_desktop.core.schemas import ClassInfo
from studio_desktop.gui.pages.evaluation.try_it import TryItPanel

SHARED_FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "real"
NOTES = Path("/work/notes")


def _smears(n: int):
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"real fixtures not found at {SHARED_FIXTURES}")
    parsed = READER.read(SHARED_FIXTURES / "coco_bbox_rbc", "object_detection")
    return parsed.class_names, sorted((p for p in parsed.images if "test" in p.tags), key=lambda p: p.path.name)[:n]


def _count(image, colour: str) -> int:
    """Pixels of ``image`` (QImage) within a few levels of ``colour``."""
    c = QColor(colour)
    hits = 0
    for y in range(0, image.height()):
        for x in range(0, image.width()):
            p = image.pixelColor(x, y)
            if abs(p.red() - c.red()) < 40 and abs(p.green() - c.green()) < 40 and abs(p.blue() - c.blue()) < 40:
                hits += 1
    return hits


def test_try_it_draws_boxes_with_class_and_score_and_follows_the_threshold(qtbot, tmp_path):
    names, images = _smears(3)
    classes = [ClassInfo(id=i, name=n) for i, n in enumerate(names)]
    exp_folder = tmp_path / "exp"
    save_operating_point(exp_folder / "evaluation", OperatingPoint(task="object_detection", score_threshold=0.3))
    calls = []

    def start_job(args, folder):
        calls.append(args)
        raise RuntimeError("no workers in this test")

    controller = SimpleNamespace(project=SimpleNamespace(task="object_detection", classes=classes, target_units={}),
                                 folder=lambda eid: exp_folder, checkpoints=lambda eid: ["best"],
                                 try_folder=lambda eid: tmp_path / "try" / "1",
                                 predict_args=lambda exp, inputs, out, ckpt: [exp.id, *inputs, "--out", str(out)])
    panel = TryItPanel()
    qtbot.addWidget(panel)
    panel.resize(980, 560)
    panel.start_job = start_job
    panel.set_experiment(controller, SimpleNamespace(id="e1"))
    spin = panel.try_view.spin
    assert spin.value() == pytest.approx(0.3) and "operating point" in spin.toolTip()
    assert panel.view_controls.count() == 2 and panel.loader.size.width() == 200
    # the threshold goes to the prediction run
    panel.predict([str(images[0].path)])
    assert calls and calls[0][-2:] == ["--score-threshold", "0.3"]
    # predictions as `worker predict` writes them: the fixture's own boxes, scores falling with their order
    folder = tmp_path / "try" / "1"
    folder.mkdir(parents=True)
    preds = []
    for item in images:
        boxes = [{"cls": b.cls, "name": names[b.cls], "x1": b.x1, "y1": b.y1, "x2": b.x2, "y2": b.y2,
                  "score": round(0.95 - 0.04 * k, 3)} for k, b in enumerate(item.boxes)]
        preds.append({"file": str(item.path), "ok": True, "prediction": {"boxes": boxes}, "width": 416, "height": 416})
    preds.append({"file": str(tmp_path / "broken.jpg"), "ok": False, "error": "cannot decode image: truncated"})
    (folder / "predictions.json").write_text(json.dumps({
        "model": {"task": "object_detection", "outputs": [{"id": c.id, "name": c.name} for c in classes]},
        "operating_point": {"score_threshold": 0.3}, "predictions": preds}))
    with qtbot.waitSignal(panel.predictionsShown, timeout=5000):
        panel.show_folder(folder)
    m = panel.model
    first = [b for b in preds[0]["prediction"]["boxes"] if b["score"] >= 0.3]
    caption = m.data(m.index(0))
    assert caption.startswith(f"{sum(1 for b in first if b['name'] == 'rbc')} rbc") or "wbc" in caption
    tip = m.data(m.index(0), Qt.ItemDataRole.ToolTipRole)
    assert f"{len(first)} object(s) scoring at least 0.30" in tip and f"{first[0]['name']} 0.95 at (" in tip
    assert m.data(m.index(3)) == "cannot read" and "truncated" in m.data(m.index(3), Qt.ItemDataRole.ToolTipRole)
    assert f"{sum(len([b for b in p['prediction']['boxes'] if b['score'] >= 0.3]) for p in preds[:3])} box(es)" \
        in panel.status.text()
    # the boxes are drawn on the thumbnails once they are decoded
    for p in preds[:3]:
        qtbot.waitUntil(lambda p=p: panel.loader.pixmap(p["file"], p["file"]) is not None, timeout=10000)
    panel.view.viewport().update()
    qtbot.wait(50)
    drawn = _count(panel.view.viewport().grab().toImage(), COLOURS[0])
    assert drawn > 150, drawn
    if NOTES.is_dir():
        panel.grab().save(str(NOTES / "try_it_detection.png"))
    # raising the threshold hides boxes at once; lowering it below the run's says to predict again
    spin.setValue(0.9)
    fewer = m.data(m.index(0))
    assert sum(int(part.split()[0]) for part in fewer.split(", ")) == 2  # scores 0.95 and 0.91
    panel.view.viewport().update()
    qtbot.wait(50)
    assert _count(panel.view.viewport().grab().toImage(), COLOURS[0]) < drawn
    spin.setValue(0.1)
    assert "predict again to see lower scores" in panel.status.text()
