""""Try it" with a segmentation model: the predicted mask drawn over each new image in the classes'
colours (background left clear), captions with the largest classes' shares, and a mask toggle and
opacity that change the drawing at once. The predictions are written by the real decoder from the
CamVid fixture's own annotations (a model that is always right), as ``worker predict`` writes them."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from studio_desktop.core.evaluation.segmentation_predictions import segmentation_predictions
from studio_desktop.core.projects import PALETTE
from studio_desktop.core.schemas import ClassInfo
from studio_desktop.gui.pages.evaluation.try_it import TryItPanel

CAMVID = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "real" / "masks_camvid"
NOTES = Path("/work/notes")
NAMES = ["sky", "building", "pole", "road", "pavement", "tree", "sign", "fence", "car", "pedestrian", "bicyclist",
         "void"]


def _distance(image, rgb) -> np.ndarray:
    """(H, W) colour distance of a QImage's pixels to ``rgb``."""
    image = image.convertToFormat(image.Format.Format_RGB888)
    arr = np.frombuffer(image.constBits(), dtype=np.uint8).reshape(image.height(), image.bytesPerLine())
    arr = arr[:, : image.width() * 3].reshape(image.height(), image.width(), 3).astype(int)
    return np.abs(arr - np.array(rgb)).sum(axis=2)


def test_try_it_draws_the_mask_over_each_image_and_follows_the_toggle_and_opacity(qtbot, tmp_path):
    if not CAMVID.is_dir():
        pytest.skip(f"real fixtures not found at {CAMVID}")
    images = sorted((CAMVID / "val").glob("*.png"))[:4]
    classes = [ClassInfo(id=i, name=n, color=PALETTE[i % len(PALETTE)]) for i, n in enumerate(NAMES)]
    classes[-1] = ClassInfo(id=11, name="void", color="#000000")  # a background class: never drawn
    outputs = [{"id": c.id, "name": c.name, "colour": c.color} for c in classes]
    folder = tmp_path / "try" / "1"
    preds = []
    for path in images:
        truth = np.asarray(Image.open(CAMVID / "valannot" / path.name)).astype(np.uint8)
        [row] = segmentation_predictions({"channels": truth[None]}, None, outputs, {"out": folder, "names": [path.stem]})
        preds.append({"file": str(path), "ok": True, **row})
    preds.append({"file": str(tmp_path / "broken.png"), "ok": False, "error": "cannot decode image: truncated"})
    (folder / "predictions.json").write_text(json.dumps({
        "model": {"task": "semantic_segmentation", "outputs": outputs}, "operating_point": None,
        "predictions": preds}))
    controller = SimpleNamespace(project=SimpleNamespace(task="semantic_segmentation", classes=classes,
                                                         target_units={}),
                                 folder=lambda eid: tmp_path / "exp", checkpoints=lambda eid: ["best"],
                                 try_folder=lambda eid: folder,
                                 predict_args=lambda exp, inputs, out, ckpt: [exp.id, *inputs, "--out", str(out)])
    panel = TryItPanel()
    qtbot.addWidget(panel)
    panel.resize(1000, 600)
    panel.set_experiment(controller, SimpleNamespace(id="e1"))
    view = panel.try_view
    assert type(view).__name__ == "SegmentationTryView" and panel.loader.size.width() == 200
    assert [panel.view_controls.itemAt(i).widget() for i in range(panel.view_controls.count())] == view.controls()
    assert view.worker_args() == ["--draw"] and "Alt+M" in view.show.toolTip()
    with qtbot.waitSignal(panel.predictionsShown, timeout=5000):
        panel.show_folder(folder)
    m = panel.model
    first = preds[0]["prediction"]["classes"]
    assert m.data(m.index(0)) == f"{first[0]['name']} {first[0]['share']:.0%}, {first[1]['name']} {first[1]['share']:.0%} …"
    tip = m.data(m.index(0), Qt.ItemDataRole.ToolTipRole)
    assert tip.startswith(f"{images[0].name}: 480 x 360 px") and f"  {first[0]['name']}: " in tip and "mask: " in tip
    assert m.data(m.index(4)) == "cannot read" and "truncated" in m.data(m.index(4), Qt.ItemDataRole.ToolTipRole)
    assert "4 mask(s) written" in panel.status.text()
    for p in preds[:4]:
        qtbot.waitUntil(lambda p=p: panel.loader.pixmap(p["file"], p["file"]) is not None, timeout=10000)

    def grab():
        panel.view.viewport().update()
        qtbot.wait(50)
        return panel.view.viewport().grab().toImage()

    # road (class 3) is the largest region of these street scenes: its colour covers the thumbnails' lower half
    road = tuple(int(PALETTE[3][k:k + 2], 16) for k in (1, 3, 5))
    shown = grab()
    near = (_distance(shown, road) < 120).sum()
    assert near > 2000, near
    if NOTES.is_dir():
        panel.grab().save(str(NOTES / "try_it_segmentation.png"))
    view.opacity.setValue(100)
    assert (_distance(grab(), road) < 30).sum() > near // 2  # full opacity: the exact colour
    view.show.setChecked(False)
    assert not view.opacity.isEnabled()
    assert (_distance(grab(), road) < 120).sum() < near // 10  # the photos alone
    view.show.setChecked(True)
    assert (_distance(grab(), road) < 120).sum() > near // 2
    # a project whose classes changed since the run (road renamed and recoloured): the run's own classes still
    # colour its masks
    controller.project.classes = [*classes[:3], ClassInfo(id=3, name="street", color="#00ff00"), *classes[4:]]
    panel.set_experiment(controller, SimpleNamespace(id="e1"))
    panel.show_folder(folder)
    for p in preds[:4]:
        qtbot.waitUntil(lambda p=p: panel.loader.pixmap(p["file"], p["file"]) is not None, timeout=10000)
    assert (_distance(grab(), road) < 120).sum() > near // 2 and (_distance(grab(), (0, 255, 0)) < 120).sum() < 50
