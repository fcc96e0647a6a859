"""Evaluation page for anomaly detection, on real images (the fixture mvtec_hazelnut imported, maps
made from its defect masks; ``_anomaly_factory``): the numbers agree with aggregate.json, the core
module and the grid; dragging the histogram's threshold line recounts at once and applies on
release; a 2x2 cell filters the grid to exactly its images; the detail draws the heat map, the
defect outline and the flagged region; a false-positive-rate goal works on a validation set without
defects (best F1 is refused there, clearly); saving; the report; ``studio operating-point``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from _anomaly_factory import evaluated_anomaly
from PySide6.QtCore import Qt

pytestmark = pytest.mark.gui


def open_evaluated(qtbot, ctx, factory, real_fixtures, **kw):
    ev = evaluated_anomaly(ctx.workspace, real_fixtures, **kw)
    page = factory()
    ctx.open_project(ev.project)
    page.experiments.select(ev.experiment.id)
    qtbot.waitUntil(lambda: page.results is not None and page.view.quick is not None, timeout=15000)
    return ev, page


def grid_rows(page) -> list[int]:
    from studio_desktop.gui.pages.evaluation.grid import ResultRowRole

    m = page.images.model
    return [m.data(m.index(r), ResultRowRole) for r in range(m.rowCount())]


def grid_status(page) -> dict[int, int]:
    from studio_desktop.gui.pages.evaluation.grid import ResultRowRole, StatusRole

    m = page.images.model
    return {m.data(m.index(r), ResultRowRole): m.data(m.index(r), StatusRole) for r in range(m.rowCount())}


def drag_line(qtbot, view, to_value: float, steps: int = 8, during=None) -> None:
    """Drag the histogram's threshold line with the mouse (press on it, move, release); ``during`` is
    called after every move, while the button is still down."""
    from pyqtgraph import Point
    from PySide6.QtTest import QTest

    plot = view.histogram
    vb = plot.plotItem.vb
    y = vb.viewRange()[1][1] * 0.5

    def at(x: float):
        return plot.mapFromScene(vb.mapViewToScene(Point(x, y)))

    start, end = at(plot.line.value()), at(to_value)
    port = plot.viewport()
    QTest.mousePress(port, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    for k in range(1, steps + 1):
        QTest.mouseMove(port, start + (end - start) * k / steps)
        qtbot.wait(5)
        if during is not None:
            during()
    QTest.mouseRelease(port, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)


def matrix(view) -> dict[str, int]:
    return {k: view.count_text(k) for k in ("tp", "fp", "fn", "tn")}


def test_numbers_agree_and_dragging_the_threshold_recounts(qtbot, ctx, evaluation_page_factory, real_fixtures):
    from studio_desktop.core.evaluation import anomaly as an
    from studio_desktop.core.evaluation.store import EvaluationStore

    ev, page = open_evaluated(qtbot, ctx, evaluation_page_factory, real_fixtures)
    view, r = page.view, page.results
    assert type(view).__name__ == "AnomalyView" and type(r).__name__ == "AnomalyResults"
    agg = EvaluationStore(page.controller.folder(ev.experiment.id)).aggregate()
    subset = view.current_subset()
    assert subset == "test"
    body = agg["subsets"]["test"]
    value, interval = view.metric_text("image_auroc")
    lo, hi = body["intervals"]["image_auroc"]
    assert value == f"{body['image_auroc']:.3f}" and interval == f"{lo:.3f}–{hi:.3f}"
    assert view.metric_text("pixel_auroc")[0] == f"{body['pixel_auroc']:.3f}"
    # at the default threshold (FPR 5 % on the normal validation images): the matrix = the core's counts
    rows = r.scores.subset("test")
    s, y = r.scores.score[rows], r.scores.label[rows]
    assert r.threshold == an.default_threshold(r.scores)[0]
    want = an.counts(s, y, r.threshold)
    assert matrix(view) == want and want["fn"] > 0 and want["tp"] > 0
    # the grid shows this subset's images, highest score first, with status colours matching the matrix
    page.images.apply(subset="test", outcome="any", truth=None, predicted=None)
    shown = grid_rows(page)
    assert sorted(shown) == np.flatnonzero(rows).tolist()
    assert list(r.scores.score[shown]) == sorted(r.scores.score[shown], reverse=True)
    status = grid_status(page)
    assert sum(1 for st in status.values() if st == 0) == want["fn"]  # red: missed defects
    assert sum(1 for st in status.values() if st == -1) == want["fp"]  # amber: false alarms

    # drag the line with the mouse below the lowest defect score: the counts follow every move at once
    view.draw_all()  # the ROC tab drawn too: its dot must follow the line
    lowest = float(s[y == 1].min())
    seen = []

    def check():  # while the button is down: the 2x2 on screen is the core's count at the line
        seen.append(r.threshold)
        assert matrix(view) == an.counts(s, y, r.threshold)
        assert view.editor.threshold.value() == pytest.approx(r.threshold, abs=1e-4)

    drag_line(qtbot, view, lowest - 0.3, during=check)
    assert len(set(seen)) >= 4 and seen == sorted(seen, reverse=True)
    target = r.threshold
    now = an.counts(s, y, target)
    assert target < lowest and matrix(view) == now and now["fn"] == 0 and now != want
    assert view.plots["roc"].dot.data["y"][0] == pytest.approx(1.0)  # recall 1 at this threshold
    assert view.histogram.line.value() == pytest.approx(target)
    assert r.dirty and "not saved" in view.summary.text()  # released: applied everywhere, not saved
    qtbot.waitUntil(lambda: sum(1 for st in grid_status(page).values() if st == 0) == 0, timeout=3000)
    # the experiment list's headline: test image and pixel AUROC
    head = page.experiments.model.index(page.experiments.model.row_of(ev.experiment.id), 5).data()
    assert head == f"test AUROC {body['image_auroc']:.3f}, pixel {body['pixel_auroc']:.3f}"
    # Save writes the dragged threshold: prediction and export read it from there
    qtbot.mouseClick(view.editor.save_button, Qt.MouseButton.LeftButton)
    saved = json.loads((page.controller.folder(ev.experiment.id) / "evaluation" / "operating_point.json").read_text())
    assert saved["task"] == "anomaly_detection" and saved["threshold"] == pytest.approx(target)
    assert not r.dirty and "not saved" not in view.summary.text()
    # keyboard: Alt+Right raises the threshold by a step
    before = r.threshold
    view.editor.threshold.setValue(before + view.editor.step())
    assert r.threshold > before


def test_matrix_cell_filters_the_grid_and_the_detail_draws_the_heat_map(qtbot, ctx, evaluation_page_factory,
                                                                        real_fixtures, monkeypatch):
    from studio_desktop.gui.pages.evaluation import anomaly_results

    # layers made smaller than the 512 px photos (as for a 12-megapixel one): stretched over the picture
    monkeypatch.setattr(anomaly_results, "LAYER_SIDE", 256)
    ev, page = open_evaluated(qtbot, ctx, evaluation_page_factory, real_fixtures)
    view, r = page.view, page.results
    rows = r.scores.subset("test")
    truth, flagged = r.scores.label == 1, r.flagged
    for cell, want in {(1, 0): truth & ~flagged, (0, 1): ~truth & flagged, (1, 1): truth & flagged}.items():
        qtbot.mouseClick(view.matrix, Qt.MouseButton.LeftButton, pos=view.matrix.cell_center(*cell))
        assert view.matrix.selected == cell
        assert sorted(grid_rows(page)) == np.flatnonzero(rows & want).tolist()
    # the detail of a found defect: heat map, cyan outline of its mask, magenta flagged region
    detail = page.images.detail
    page.images.grid.setCurrentIndex(page.images.model.index(0))
    qtbot.waitUntil(lambda: detail.current is not None and detail._layer_key == detail.current.get("layer_key"),
                    timeout=10000)
    d = detail.current
    row = grid_rows(page)[0]
    assert d["image"] == r.scores.image_ids[row] and "≥ threshold" in d["verdict"]
    layers = r.layer_images(row)
    w, h = r.layer_size(row)
    assert (w, h) == (256, 256) and r.image_size(row) == (512, 512)
    assert {k: v.shape for k, v in layers.items()} == {k: (h, w, 4) for k in ("heat", "truth", "region")}
    picture = detail.canvas.image_item.sceneBoundingRect()
    assert detail.layers.items["heat"].sceneBoundingRect() == picture and picture.width() == 512
    assert layers["heat"][..., 3].max() > 100 and (layers["truth"][..., 3] > 0).any()
    # the truth outline lies around the defect mask: inside the mask's bounding box (on the map grid)
    ys, xs = np.nonzero(layers["truth"][..., 3])
    assert 0 < ys.min() and ys.max() < h - 1 and 0 < xs.min() and xs.max() < w - 1
    assert [b.text() for b in detail.layers.buttons.values()][:3] == ["Heat map (H)", "Defect outline (T)",
                                                                      "Flagged region (R)"]
    # a filter-bar change that leaves the cell drops its outline
    page.images.truth.setCurrentIndex(page.images.truth.findData(None))
    assert view.matrix.selected is None


def test_fpr_goal_on_validation_without_defects(qtbot, ctx, evaluation_page_factory, real_fixtures):
    ev, page = open_evaluated(qtbot, ctx, evaluation_page_factory, real_fixtures, normal_only_val=True)
    view, r = page.view, page.results
    editor = view.editor
    val = r.scores.subset("val")
    assert not (r.scores.label[val] == 1).any()  # no defect to calibrate on
    editor.goal_kind.setCurrentIndex(editor.goal_kind.findData("f1"))
    editor.goal_subset.setCurrentIndex(editor.goal_subset.findData("val"))
    assert editor.choose_goal() is None and "false-positive-rate" in editor.goal_result.text()
    editor.goal_kind.setCurrentIndex(editor.goal_kind.findData("fpr"))
    editor.goal_value.setValue(0.1)
    op = editor.choose_goal()
    normal = r.scores.score[val]
    assert op is not None and r.threshold == op.threshold
    assert int((normal >= r.threshold).sum()) == int(np.floor(0.1 * len(normal)))
    assert "chosen for at most 10.0% of normal images flagged on val" in view.editor.description.text()
    assert view.metric_text("image_auroc")[0] != "–"  # the test subset has both kinds


def test_plots_report_and_screenshots(qtbot, ctx, evaluation_page_factory, real_fixtures):
    ev, page = open_evaluated(qtbot, ctx, evaluation_page_factory, real_fixtures)
    view, r = page.view, page.results
    view.draw_all()
    hist = view.histogram
    assert hist.line.value() == pytest.approx(r.threshold)
    filled = [c for c in hist.plotItem.listDataItems() if c.name()]
    assert sorted(c.name().split(" ")[0] for c in filled) == ["anomalous", "normal"]
    page.images.grid.setCurrentIndex(page.images.model.index(0))
    detail = page.images.detail
    qtbot.waitUntil(lambda: detail.current is not None and detail._layer_key == detail.current.get("layer_key"),
                    timeout=10000)
    page.resize(1600, 1000)
    qtbot.wait(100)
    page.grab().save("/work/notes/anomaly-evaluation.png")
    view.tabs.setCurrentIndex(1)
    qtbot.wait(50)
    view.grab().save("/work/notes/anomaly-roc.png")
    with qtbot.waitSignal(page.reportWritten, timeout=60000) as sig:
        page.write_report(open_it=False)
    text = open(sig.args[0], encoding="utf-8").read()
    assert "Image AUROC" in text and "Wrong verdicts" in text and "score histogram" in text
    assert f"at least {r.threshold:.4g}" in text  # the operating point on screen
    assert text.count("data:image/png;base64") >= 5


def test_studio_operating_point_goals_for_anomaly(ctx, real_fixtures, capsys):
    from studio_desktop.cli import main
    from studio_desktop.core.evaluation.operating_point import load_operating_point
    from studio_desktop.core.experiments import ExperimentService

    ev = evaluated_anomaly(ctx.workspace, real_fixtures, normal_only_val=True)
    folder = ExperimentService(ctx.workspace, ev.project.id).folder(ev.experiment.id) / "evaluation"
    ctx.workspace.close()
    base = ["--workspace", str(ctx.workspace.root), "operating-point", "Hazelnuts", ev.experiment.name]
    assert main([*base, "--goal", "fpr=0.05", "--json"]) == 0
    op = json.loads(capsys.readouterr().out)
    normal = ev.scores.score[ev.scores.subset("val")]
    assert op["goal"]["kind"] == "fpr" and int((normal >= op["threshold"]).sum()) == int(0.05 * len(normal))
    assert load_operating_point(folder).threshold == op["threshold"]
    assert main([*base, "--goal", "f1"]) != 0
    assert "false-positive-rate goal" in capsys.readouterr().err
    assert main([*base, "--goal", "recall=0.9", "--on", "test"]) == 0
    assert "recall 0.9" in capsys.readouterr().out
    assert main([*base, "--threshold", "-1.5"]) == 0  # raw scores may be negative
    assert load_operating_point(folder).threshold == -1.5
    assert main([*base, "--nms-iou", "0.5"]) != 0 and "object detection" in capsys.readouterr().err
    assert main([*base, "--reset"]) == 0 and load_operating_point(folder).threshold is None


def test_histogram_bins_follow_the_bulk_of_each_group_and_the_threshold():
    from studio_desktop.gui.pages.evaluation.views.anomaly_plots import bin_edges

    rng = np.random.default_rng(0)
    normal = np.r_[rng.random(100), 1e6]  # one wild score must not squeeze the rest into one bar
    edges = bin_edges(normal, np.array([2.0, 3.0]), 1.5)
    assert -0.1 < edges[0] < 0.05 and 3.0 < edges[-1] < 3.2
    assert bin_edges(normal, np.array([]), 7.0)[-1] > 7.0  # the threshold is always on the axis
    assert np.isfinite(bin_edges(np.array([]), np.array([]), float("nan"))).all()
