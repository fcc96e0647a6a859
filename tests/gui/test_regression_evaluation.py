"""Evaluation page for regression: the numbers against aggregate.json and the core module, beside
the training-mean baseline; a click on a scatter point selects that image; the grid sorted by
absolute error (worst first) with true and predicted values; the target selector switches plots,
order and colours; the histogram's bars filter the grid; the detail shows every target with its
unit; "Try it" prints values with names and units; the report has the plots.

Evaluations are written from numpy (``_regression_factory``); one slow test trains a tiny
regression model and evaluates it through the real worker from the page.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
from _regression_factory import evaluated_regression
from PySide6.QtCore import QPoint, Qt

pytestmark = pytest.mark.gui


@pytest.fixture
def page_factory(evaluation_page_factory):
    return evaluation_page_factory


def open_evaluated(qtbot, ctx, page_factory, **kw):
    ev = evaluated_regression(ctx.workspace, **kw)
    page = page_factory()
    ctx.open_project(ev.project)
    page.experiments.select(ev.experiment.id)
    qtbot.waitUntil(lambda: page.results is not None and page.view.full is not None, timeout=10000)
    return ev, page


def grid_ids(page) -> list[str]:
    from studio_desktop.gui.models.images import IdRole

    m = page.images.model
    return [m.data(m.index(r), IdRole) for r in range(m.rowCount())]


def expected(ev, subset: str | None, target: int):
    """Image ids, truth, predictions of a subset in the evaluator's row order (val, then test)."""
    order = sorted(range(len(ev.ids)), key=lambda i: {"val": 0, "test": 1}[ev.subsets[i]])
    rows = [i for i in order if subset is None or ev.subsets[i] == subset]
    return ([ev.ids[i] for i in rows], ev.truth[rows, target], ev.predicted[rows, target])


def test_numbers_equal_aggregate_json_and_the_core_module(qtbot, ctx, page_factory):
    from studio_desktop.core.evaluation.regression import subset_report
    from studio_desktop.core.evaluation.store import EvaluationStore
    from studio_desktop.gui.pages.evaluation.views.regression import METRICS, fmt_interval, fmt_metric

    ev, page = open_evaluated(qtbot, ctx, page_factory)
    view = page.view
    agg = EvaluationStore(page.controller.folder(ev.experiment.id)).aggregate()
    assert type(view).__name__ == "RegressionView" and not view.compares
    assert page.config.checkpoint.itemText(0) == "best (lowest validation MAE)"
    for subset in ("test", "val"):
        view.subset.setCurrentIndex(view.subset.findData(subset))
        qtbot.waitUntil(lambda s=subset: view.full is not None and view.full["subset"] == s, timeout=10000)
        body = agg["subsets"][subset]
        core = subset_report(page.results.scores, subset)
        for t, (ours, theirs, direct) in enumerate(zip(view.full["per_target"], body["per_target"],
                                                       core["per_target"], strict=True)):
            unit = "px" if theirs["name"] == "radius" else ""
            assert ours["intervals"] == theirs["intervals"] == direct["intervals"]  # same seed, same resamples
            for key, _label, kind in METRICS:
                assert ours["metrics"][key] == pytest.approx(theirs["metrics"][key], rel=1e-9), key
                assert ours["baseline"][key] == pytest.approx(theirs["baseline"][key], rel=1e-9), key
                value, interval, baseline = view.metric_text(t, key)
                assert value == fmt_metric(theirs["metrics"][key], kind, unit)
                assert baseline == fmt_metric(theirs["baseline"][key], kind, unit)
                assert interval == fmt_interval(theirs["intervals"].get(key), kind, unit)
            assert view.metric_text(t, "skill")[0] == f"{100 * theirs['skill']:.0f} %"
            # the skill is 1 - MAE / baseline MAE, and said in words beside the table
            assert theirs["skill"] == pytest.approx(1 - theirs["metrics"]["mae"] / theirs["baseline"]["mae"])
            assert f"{100 * theirs['skill']:.0f} % less error than always predicting the training mean" \
                in view.words.text()
        for key, _label, kind in METRICS:  # the average of the targets
            assert view.metric_text(-1, key)[0] == fmt_metric(body["metrics"][key], kind)
    # with units: "1.003 px"
    view.subset.setCurrentIndex(view.subset.findData("test"))
    assert view.metric_text(0, "mae")[0].endswith(" px") and not view.metric_text(1, "mae")[0].endswith("px")
    summary = page.metrics_section.summary.text()
    assert "MAE of radius" in summary and "less error than the mean" in summary
    # the experiment list's headline: the skill on the test images
    head = page.experiments.model.index(page.experiments.model.row_of(ev.experiment.id), 5).data()
    skills = [t["skill"] for t in agg["subsets"]["test"]["per_target"]]
    assert head == f"test {100 * np.mean(skills):.0f} % less error"


def test_mape_is_skipped_with_its_reason_when_a_true_value_is_zero(qtbot, ctx, page_factory):
    from _regression_factory import write_evaluation

    from studio_desktop.core.evaluation.store import EvaluationStore
    from studio_desktop.core.experiments import ExperimentService

    ev = evaluated_regression(ctx.workspace)
    truth = ev.truth.copy()
    truth[1, 1] = 0.0  # a val image with brightness 0
    write_evaluation(ExperimentService(ctx.workspace, ev.project.id).folder(ev.experiment.id), ev.project, ev.ids,
                     ev.subsets, truth, ev.predicted, ev.train_mean)
    page = page_factory()
    ctx.open_project(ev.project)
    page.experiments.select(ev.experiment.id)
    qtbot.waitUntil(lambda: page.view.full is not None, timeout=10000)
    view = page.view
    view.subset.setCurrentIndex(view.subset.findData("val"))
    qtbot.waitUntil(lambda: view.full is not None and view.full["subset"] == "val", timeout=10000)
    assert EvaluationStore(page.controller.folder(ev.experiment.id)).aggregate()["subsets"]["val"][
        "per_target"][1]["metrics"]["mape"] is None
    assert view.metric_text(1, "mape")[0] == "skipped"
    row = next(i for i in range(view.table.rowCount())
               if view.table.item(i, 0).data(Qt.ItemDataRole.UserRole) == (1, "mape"))
    assert "true value is 0" in view.table.item(row, 1).toolTip()
    assert view.metric_text(0, "mape")[0].endswith("%")  # the other target keeps its MAPE


def test_grid_sorted_by_absolute_error_worst_first_with_values_on_each_caption(qtbot, ctx, page_factory):
    from studio_desktop.gui.pages.evaluation.grid import StatusRole

    ev, page = open_evaluated(qtbot, ctx, page_factory)
    images = page.images
    assert images.sort.currentData() == "error" and images.descending.isChecked()
    assert not images.truth.isVisible() and not images.issues.isVisible()  # no classes, no label errors
    ids, truth, pred = expected(ev, None, 0)
    err = np.abs(pred - truth)
    shown = grid_ids(page)
    assert shown == [ids[i] for i in np.argsort(err, kind="stable")[::-1]]
    m = images.model
    first = ids.index(shown[0])
    assert m.data(m.index(0)) == f"true {truth[first]:.4g} px\npred {pred[first]:.4g} px"
    assert images.delegate.sizeHint(None, m.index(0)).height() > 96 + 2 * 18  # room for both lines
    # borders against the baseline's MAE (over all evaluated images): green / amber / red
    base = np.abs(ev.truth[:, 0] - ev.train_mean[0]).mean()
    for r, image_id in enumerate(shown):
        e = err[ids.index(image_id)]
        assert m.data(m.index(r), StatusRole) == (1 if e < 0.5 * base else 0 if e >= base else -1)
    # a test filter keeps the order
    images.apply(subset="test")
    test_ids, t_truth, t_pred = expected(ev, "test", 0)
    assert grid_ids(page) == [test_ids[i] for i in np.argsort(np.abs(t_pred - t_truth), kind="stable")[::-1]]


def test_target_selector_switches_the_plots_the_order_and_the_captions(qtbot, ctx, page_factory):
    ev, page = open_evaluated(qtbot, ctx, page_factory)
    view = page.view
    view.draw_all()
    scatter = view.plots["scatter"]
    _ids, truth0, pred0 = expected(ev, "test", 0)
    assert np.allclose(scatter.points[0], truth0) and np.allclose(scatter.points[1], pred0)
    assert "radius" in scatter.plotItem.titleLabel.text and "px" in scatter.getAxis("bottom").labelText
    view.set_target(1)
    assert page.results.target == 1
    ids, truth1, pred1 = expected(ev, "test", 1)
    assert np.allclose(scatter.points[0], truth1) and np.allclose(scatter.points[1], pred1)
    assert "brightness" in scatter.plotItem.titleLabel.text
    view.tabs.setCurrentIndex(1)  # error vs true: drawn when shown, for the new target
    rvt = view.plots["residual_vs_true"]
    assert np.allclose(rvt.points[1], pred1 - truth1)
    view.tabs.setCurrentIndex(0)
    hist = view.plots["histogram"]
    assert int(hist.bins[1].sum()) == len(ids)
    # the grid follows: sorted by the brightness error, captions in its (unit-less) values
    all_ids, t_all, p_all = expected(ev, None, 1)
    assert grid_ids(page) == [all_ids[i] for i in np.argsort(np.abs(p_all - t_all), kind="stable")[::-1]]
    m = page.images.model
    assert m.data(m.index(0)).startswith("true ") and "px" not in m.data(m.index(0))
    assert "MAE of brightness" in page.metrics_section.summary.text()
    assert "(brightness)" in page.images_section.summary.text()


def test_clicking_a_scatter_point_selects_that_image(qtbot, ctx, page_factory):
    from studio_desktop.gui.pages.evaluation.views.regression_plots import scene_pos_of

    ev, page = open_evaluated(qtbot, ctx, page_factory)
    view = page.view
    page.images.page_size = 10  # the image may be on another page of the grid
    page.images._refilter()
    scatter = view.plots["scatter"]
    qtbot.waitUntil(lambda: scatter.points is not None, timeout=5000)
    ids, truth, pred = expected(ev, "test", 0)
    err = np.abs(pred - truth)
    k = int(np.argsort(err)[0])  # the best prediction: last in the worst-first grid
    page.images.apply(subset="val")  # a filter that hides it: cleared by the click
    pos = scatter.mapFromScene(scene_pos_of(scatter, truth[k], pred[k]))
    with qtbot.waitSignal(page.images.imageSelected, timeout=5000):
        qtbot.mouseClick(scatter.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(int(pos.x()), int(pos.y())))
    detail = page.images.detail
    assert detail.current["image"] == ids[k] and detail.current["subset"] == "test"
    current = page.images.grid.currentIndex()
    assert page.images.model.data(current, Qt.ItemDataRole.UserRole + 10) == page.images._row_of(ids[k], "test")
    assert page.images.page == page.images.page_count() - 1  # turned to the page that holds it
    # the detail lists every target with its unit, the current one first in bold
    assert "radius" in detail.verdict.text() and "brightness" in detail.verdict.text() and " px" in detail.verdict.text()
    assert not detail.bars.isVisible()
    # and the plot rings the selected image's point
    marker = scatter.marker
    assert marker is not None and np.allclose(marker.getData()[0], [truth[k]])
    # a click far from every point selects nothing
    corner = scatter.mapFromScene(scatter.plotItem.vb.sceneBoundingRect().topLeft()) + QPoint(3, 3)
    qtbot.mouseClick(scatter.viewport(), Qt.MouseButton.LeftButton, pos=corner)
    assert detail.current["image"] == ids[k]


def test_a_histogram_bar_shows_the_images_with_those_errors(qtbot, ctx, page_factory):
    from studio_desktop.gui.pages.evaluation.views.regression_plots import scene_pos_of

    ev, page = open_evaluated(qtbot, ctx, page_factory)
    view = page.view
    hist = view.plots["histogram"]
    view.tabs.setCurrentIndex(0)
    qtbot.waitUntil(lambda: getattr(hist, "bins", None) is not None, timeout=5000)
    edges, counts = hist.bins
    i = int(np.argmax(counts))
    pos = hist.mapFromScene(scene_pos_of(hist, (edges[i] + edges[i + 1]) / 2, counts[i] / 2))
    qtbot.mouseClick(hist.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(int(pos.x()), int(pos.y())))
    ids, truth, pred = expected(ev, "test", 0)
    res = pred - truth
    inside = {ids[j] for j in range(len(ids)) if edges[i] <= res[j] < edges[i + 1] or
              (i == len(counts) - 1 and res[j] == edges[-1])}
    assert set(grid_ids(page)) == inside and len(inside) == counts[i]
    assert page.images.chip.isVisible() and "radius error" in page.images.chip.text()


def test_switching_between_classification_and_regression_projects(qtbot, ctx, page_factory):
    """Each task gets its own view; the page's Compare panel survives the switch (it belongs to the
    page, not to the view it sits in) and comes back with classification."""
    from _evaluation_factory import evaluated_project

    cls = evaluated_project(ctx.workspace)
    ev, page = open_evaluated(qtbot, ctx, page_factory)
    assert page.compare.parent() is None  # not among the regression view's tabs
    ctx.open_project(cls.project)
    page.experiments.select(cls.experiments[0].id)
    qtbot.waitUntil(lambda: page.results is not None and page.view.full is not None, timeout=10000)
    view = page.view
    assert type(view).__name__ == "ClassificationView" and view.tabs.indexOf(page.compare) >= 0
    assert page.images.truth.isVisibleTo(page) and page.images.issues.isVisibleTo(page)
    assert page.images.sort.currentData() == "order" and page.images.delegate.lines == 1
    ctx.open_project(ev.project)
    page.experiments.select(ev.experiment.id)
    qtbot.waitUntil(lambda: page.results is not None and page.results.task == "regression"
                    and page.view.full is not None, timeout=10000)
    assert page.images.delegate.lines == 2 and not page.images.truth.isVisibleTo(page)
    ctx.open_project(cls.project)
    page.experiments.select(cls.experiments[0].id)
    qtbot.waitUntil(lambda: page.results is not None and page.results.task == "classification"
                    and page.view.full is not None, timeout=10000)
    assert page.view.tabs.indexOf(page.compare) >= 0


def test_try_it_prints_values_with_names_and_units(qtbot, ctx, page_factory, monkeypatch, tmp_path):
    from PIL import Image

    ev, page = open_evaluated(qtbot, ctx, page_factory)
    script = tmp_path / "fake_predict.py"
    script.write_text(FAKE_PREDICT)

    def start_worker(ws, job, args, folder, **kw):
        return page.jobs.start_process(sys.executable, [str(script), *args], folder, kind=job, **kw)

    monkeypatch.setattr(page.jobs, "start_worker", start_worker)
    good = tmp_path / "disc.png"
    Image.new("RGB", (40, 30), (30, 200, 30)).save(good)
    panel = page.try_it
    with qtbot.waitSignal(panel.predictionsShown, timeout=15000):
        assert panel.predict([str(good)]) is not None
    m = panel.model
    assert m.data(m.index(0)) == "radius 12.35 px\nbrightness 0.5"
    assert "disc.png" in m.data(m.index(0), Qt.ItemDataRole.ToolTipRole)
    assert panel.delegate.lines == 2
    assert "argmax" not in panel.status.text() and "1 image(s) predicted" in panel.status.text()


FAKE_PREDICT = r'''
import json, os, sys, time
args = sys.argv[1:]
out = args[args.index("--out") + 1]
inputs = args[1:args.index("--out")]
os.makedirs(out, exist_ok=True)
def emit(event, **kw):
    with open(os.path.join(out, "events.jsonl"), "a") as fh:
        fh.write(json.dumps({"event": event, "time": time.time(), **kw}) + "\n")
emit("started", pid=os.getpid(), total=len(inputs))
preds = [{"file": p, "ok": True, "prediction": {"targets": {"radius": 12.3456, "brightness": 0.5}}} for p in inputs]
model = {"task": "regression", "outputs": [{"id": 0, "name": "radius", "unit": "px"},
                                           {"id": 1, "name": "brightness", "unit": ""}]}
with open(os.path.join(out, "predictions.json"), "w") as fh:
    json.dump({"schema_version": 1, "model": model, "operating_point": None, "predictions": preds}, fh)
with open(os.path.join(out, "predictions.csv"), "w") as fh:
    fh.write("file,status,radius,brightness,error\n")
emit("completed", summary={"images": len(inputs)})
'''


def test_report_of_a_regression_experiment_has_its_plots(qtbot, ctx, page_factory):
    ev, page = open_evaluated(qtbot, ctx, page_factory)
    with qtbot.waitSignal(page.reportWritten, timeout=60000) as blocker:
        page.write_report(open_it=False)
    text = Path(blocker.args[0]).read_text(encoding="utf-8")
    for section in ("Configuration", "Dataset and split", "Training", "Evaluation",
                    r"radius \(px\): predicted vs true", "brightness: predicted vs true", "Largest errors",
                    "Environment"):
        assert re.search(rf"<h2><a name='s\d+'></a>{section}", text), section
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    # 3 plots per target (scatter, errors, error vs true) + the largest errors' thumbnails
    assert len(images) >= 2 * 3 + 12
    assert all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in images)
    assert "less error than always predicting the training mean" in text
    assert "baseline" in text and "mean absolute error (test text)" in text  # how each metric is computed
    assert "radius (px), brightness" in text  # the targets with their units
    assert "Confusion matrix" not in text


@pytest.mark.slow
@pytest.mark.ml
def test_real_regression_training_and_evaluation_from_the_page(qtbot, ctx, page_factory, tmp_path):
    """Train the Tiny CNN on a small disc sample with the real worker, press Evaluate: the page
    shows the real evaluation, its numbers equal aggregate.json (torchmetrics) and the grid is
    sorted worst first."""
    import subprocess

    from ml.ml_helpers import worker_env  # noqa: I001

    from studio_desktop.core.datasets import DatasetStore
    from studio_desktop.core.evaluation.store import EvaluationStore
    from studio_desktop.core.experiments import ExperimentService
    from studio_desktop.core.importing import import_dataset
    from studio_desktop.core.projects import ProjectService
    from studio_desktop.core.samples import write_sample
    from studio_desktop.core.splits import SplitService
    from studio_desktop.core.train_config import apply_settings, defaults_for

    write_sample("regression", tmp_path / "discs", images=60, seed=2)
    project = ProjectService(ctx.workspace).create("discs", "regression")
    import_dataset(ctx.workspace, project.id, tmp_path / "discs")
    project = ProjectService(ctx.workspace).get(project.id)
    svc_split = SplitService(ctx.workspace, project.id)
    svc_split.create("main", svc_split.plan(project, DatasetStore(ctx.workspace, project.id).load(),
                                            ratios=(0.6, 0.2, 0.2)))
    svc = ExperimentService(ctx.workspace, project.id)
    cfg = apply_settings(defaults_for("regression"), ["model=tiny_cnn", "input_size=32", "epochs=2", "batch_size=8",
                                                      "device=cpu", "pretrained=false", "loss=huber"], "regression")
    exp = svc.create(cfg, "tiny")
    train = subprocess.run([sys.executable, "-m", "studio_desktop", "--workspace", str(ctx.workspace.root),
                            "worker", "train", project.id, exp.id], env=worker_env(), capture_output=True,
                           text=True, timeout=300)
    assert train.returncode == 0, train.stderr[-2000:]
    page = page_factory()
    ctx.open_project(project)
    qtbot.waitUntil(lambda: page.experiment is not None and page.experiment.id == exp.id)
    page.config.device.setCurrentIndex(page.config.device.findData("cpu"))
    job = page.evaluate()
    assert job is not None
    try:
        qtbot.waitUntil(lambda: not job.is_running, timeout=240000)
        assert job.state == "completed", f"{job.state} {job.error} {job.hint}"
        qtbot.waitUntil(lambda: page.results is not None and page.view.full is not None, timeout=20000)
        agg = EvaluationStore(svc.folder(exp.id)).aggregate()
        subset = page.view.current_subset()
        for ours, theirs in zip(page.view.full["per_target"], agg["subsets"][subset]["per_target"], strict=True):
            for key in ("mae", "rmse", "r2"):
                assert ours["metrics"][key] == pytest.approx(theirs["metrics"][key], rel=1e-5, abs=1e-6), key
            assert ours["intervals"] == theirs["intervals"]
        r = page.results
        shown = grid_ids(page)
        rows = [page.images._row_of(i, s) for i, s in zip(shown, [str(r.scores.subsets[k]) for k in
                                                                   page.images.model.rows], strict=True)]
        assert np.all(np.diff(r.abs_error[rows]) <= 0)  # worst first
        assert len(shown) == sum(agg["subsets"][s]["images"] for s in agg["subsets"])
    finally:
        if job.is_running and job.pid:
            os.kill(job.pid, signal.SIGKILL)
