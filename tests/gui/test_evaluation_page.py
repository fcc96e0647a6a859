"""Evaluation page: prerequisites, the numbers against aggregate.json, the confusion-matrix drill-down,
the operating point, Reset, compare, the evaluation job with progress and Stop, "Try it", the report.

Evaluations are written from numpy (``_evaluation_factory``) so these tests need no torch; one
slow test trains a tiny model and evaluates it through the real worker from the page.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
from _evaluation_factory import evaluated_project, make_experiment, make_images
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

pytestmark = pytest.mark.gui


@pytest.fixture
def page_factory(evaluation_page_factory):
    return evaluation_page_factory


def open_evaluated(qtbot, ctx, page_factory, **kw):
    """A page showing the evaluation of experiment "first" (intervals computed)."""
    ev = evaluated_project(ctx.workspace, **kw)
    page = page_factory()
    ctx.open_project(ev.project)
    page.experiments.select(ev.experiments[0].id)
    qtbot.waitUntil(lambda: page.results is not None and page.view.full is not None, timeout=10000)
    return ev, page


def grid_ids(page) -> list[str]:
    from studio_desktop.gui.models.images import IdRole

    m = page.images.model
    return [m.data(m.index(r), IdRole) for r in range(m.rowCount())]


def test_prerequisites_say_what_to_do(qtbot, ctx, page_factory):
    from studio_desktop.core.projects import ProjectService

    page = page_factory()
    assert page.stack.currentWidget() is page.panel
    with qtbot.waitSignal(ctx.showPageRequested) as blocker:
        qtbot.mouseClick(page.panel.button, Qt.MouseButton.LeftButton)
    assert blocker.args == ["project"]
    # a project whose experiments have no checkpoint yet: train first
    project = ProjectService(ctx.workspace).create("Empty", "classification", ["a", "b"])
    ctx.open_project(project)
    assert page.stack.currentWidget() is page.panel
    assert "Training page" in page.panel.text.text()
    with qtbot.waitSignal(ctx.showPageRequested) as blocker:
        qtbot.mouseClick(page.panel.button, Qt.MouseButton.LeftButton)
    assert blocker.args == ["training"]
    # a task without result views says so
    masks = ProjectService(ctx.workspace).create("Masks", "instance_segmentation", ["a"])
    ctx.open_project(masks)
    assert "not available" in page.panel.title.text()


def test_only_existing_checkpoints_are_offered_and_unevaluated_says_so(qtbot, ctx, page_factory):
    from studio_desktop.core.projects import ProjectService

    project = ProjectService(ctx.workspace).create("Pets", "classification", ["cat", "dog"])
    make_images(ctx.workspace, project, [0, 1, 0, 1], ["val", "test", "test", "val"])
    exp = make_experiment(ctx.workspace, project, "only last", checkpoints=("last",))
    page = page_factory()
    ctx.open_project(project)
    qtbot.waitUntil(lambda: page.experiment is not None)
    combo = page.config.checkpoint
    assert [combo.itemData(i) for i in range(combo.count())] == ["last"]
    assert page.experiment.id == exp.id
    assert "not been evaluated" in page.metrics_message.text()
    assert page.config.evaluate_button.isEnabled()
    assert not page.config.reset_button.isEnabled()
    # subsets without images in the split cannot be chosen
    assert not page.config.subsets["train"].isEnabled()
    assert page.config.chosen_subsets() == ["val", "test"]


def test_default_numbers_equal_aggregate_json(qtbot, ctx, page_factory):
    from studio_desktop.core.evaluation.store import EvaluationStore
    from studio_desktop.gui.pages.evaluation.views.classification import METRICS, fmt, fmt_interval

    ev, page = open_evaluated(qtbot, ctx, page_factory)
    agg = EvaluationStore(page.controller.folder(ev.experiments[0].id)).aggregate()
    view = page.view
    for subset in ("test", "val"):
        view.subset.setCurrentIndex(view.subset.findData(subset))
        qtbot.waitUntil(lambda s=subset: view.full is not None and view.full.subset == s, timeout=10000)
        body = agg["subsets"][subset]
        assert view.quick.confusion == body["confusion"]
        for key, _label, pct in METRICS:
            if key not in body["metrics"]:
                continue
            assert view.full.metrics[key] == pytest.approx(body["metrics"][key], abs=1e-6), key
            value, interval = view.metric_text(key)
            assert value == fmt(body["metrics"][key], pct)
            if key in body["intervals"]:
                assert interval == fmt_interval(body["intervals"][key], pct), key
        for ours, theirs in zip(view.full.per_class, body["per_class"], strict=True):
            assert ours["recall"] == pytest.approx(theirs["recall"]) and ours["support"] == theirs["support"]
    # each metric says how it was computed, under which rule, on which checkpoint and images
    tip = view.table.item(0, 1).toolTip()
    assert "test text" in tip and "argmax" in tip and "Checkpoint: best, epoch 3" in tip and "val" in tip


def test_confusion_cell_click_shows_exactly_those_images(qtbot, ctx, page_factory):
    ev, page = open_evaluated(qtbot, ctx, page_factory)
    preds = [(t + 1) % 3 if i % 5 == 0 else t for i, t in enumerate(ev.labels)]
    cm = page.view.confusion
    assert page.view.current_subset() == "test"
    for truth, pred in ((0, 1), (1, 1), (2, 0), (0, 2)):
        qtbot.mouseClick(cm, Qt.MouseButton.LeftButton, pos=cm.cell_center(truth, pred))
        expected = {ev.ids[i] for i in range(len(ev.ids))
                    if ev.subsets[i] == "test" and ev.labels[i] == truth and preds[i] == pred}
        shown = grid_ids(page)
        assert sorted(shown) == sorted(expected), (truth, pred)
        assert len(shown) == cm.counts[truth][pred]  # the cell's number is the grid's count
        # the filter bar shows why: subset, true and predicted class
        assert page.images.truth.currentData() == truth and page.images.predicted.currentData() == pred
        assert page.images.subset.currentData() == "test"
    assert cm.selected == (0, 2)
    page.images.clear_filters()
    assert len(grid_ids(page)) == 24


def test_filters_sort_paging_and_detail(qtbot, ctx, page_factory):
    from studio_desktop.gui.pages.evaluation.grid import StatusRole

    conf = [0.4 + 0.02 * i for i in range(24)]
    ev, page = open_evaluated(qtbot, ctx, page_factory, confidences=conf)
    images = page.images
    images.apply(outcome="incorrect")
    wrong = {ev.ids[i] for i in range(24) if i % 5 == 0}
    assert set(grid_ids(page)) == wrong
    m = images.model
    assert all(m.data(m.index(r), StatusRole) == 0 for r in range(m.rowCount()))
    images.set_filter(images.filter.but(outcome="any", sort="confidence", descending=True))
    shown = grid_ids(page)
    assert shown[0] == ev.ids[23] and shown[-1] == ev.ids[0]  # most confident first
    images.apply(label_issues=True, sort="label_issue", descending=False)
    assert len(grid_ids(page)) == 2
    # paging: 100 per page holds all; force a smaller page to see page switching
    images.page_size = 10
    images._refilter()
    images.set_filter(images.filter.but(label_issues=False, sort="order"))
    assert images.page_count() == 3 and images.model.rowCount() == 10
    images.go_page(2)
    assert images.model.rowCount() == 4 and images.page_label.text() == "21–24 of 24"
    # the detail view shows the probabilities of the clicked image, truth in bold
    images.grid.setCurrentIndex(images.model.index(0))
    detail = images.detail
    assert detail.current is not None
    assert [name for name, _ in detail.bars.rows][0] == detail.current["predicted"]
    assert abs(sum(p for _, p in detail.bars.rows) - 1.0) < 1e-3
    qtbot.waitSignal(detail.shown, timeout=5000)


def test_reset_deletes_the_evaluation_at_once(qtbot, ctx, page_factory, monkeypatch):
    ev, page = open_evaluated(qtbot, ctx, page_factory)
    folder = page.controller.folder(ev.experiments[0].id) / "evaluation"
    assert folder.is_dir()
    answers = [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: answers.pop(0)))
    qtbot.mouseClick(page.config.reset_button, Qt.MouseButton.LeftButton)
    assert folder.is_dir() and page.results is not None  # "No" keeps it
    qtbot.mouseClick(page.config.reset_button, Qt.MouseButton.LeftButton)
    assert not folder.exists()  # at once, no job, no wait
    assert page.results is None and page.images.model.rowCount() == 0
    assert "not been evaluated" in page.metrics_message.text()
    assert not page.config.reset_button.isEnabled()
    row = page.experiments.model.row_of(ev.experiments[0].id)
    assert page.experiments.model.index(row, 5).data() == "—"


def test_threshold_changes_counts_and_colours_consistently_and_is_saved(qtbot, ctx, page_factory):
    from studio_desktop.gui.pages.evaluation.grid import StatusRole

    n = 20
    labels = [i % 2 for i in range(n)]
    p_defect = np.linspace(0.05, 0.95, n)
    logits = np.log(np.stack([1 - p_defect, p_defect], axis=1)).astype(np.float32)
    ev, page = open_evaluated(qtbot, ctx, page_factory, classes=("ok", "defect"), labels=labels,
                              subsets=["test"] * 14 + ["val"] * 6, preds=[0] * n, logits=logits, issues=())
    view, editor = page.view, page.view.editor
    truth = np.array(labels)

    def check(threshold: float) -> None:
        pred = (p_defect >= threshold).astype(int)
        test = np.arange(n) < 14
        cm = [[int(((truth == t) & (pred == p) & test).sum()) for p in (0, 1)] for t in (0, 1)]
        qtbot.waitUntil(lambda: view.quick.confusion == cm, timeout=5000)
        assert view.confusion.counts == cm
        acc = (pred == truth)[test].mean()
        assert view.metric_text("accuracy")[0] == f"{100 * acc:.1f} %"
        summary = page.metrics_section.summary.text()  # the section header agrees with its table
        assert f"accuracy <b>{100 * acc:.1f} %</b>" in summary and page.results.describe_rule() in summary
        # every thumbnail's colour follows the same decisions
        m = page.images.model
        assert m.rowCount() == n
        for r, image_id in enumerate(grid_ids(page)):
            i = ev.ids.index(image_id)
            assert m.data(m.index(r), StatusRole) == int(pred[i] == truth[i]), image_id
        assert page.results.counts()["incorrect"] == int((pred != truth).sum())
        assert f"{int((pred != truth).sum())} wrong" in page.images_section.summary.text()

    check(0.5)
    editor.rule.setCurrentIndex(editor.rule.findData("threshold"))
    assert editor.positive.currentText() == "defect"
    editor.threshold.setValue(0.3)
    check(0.3)
    assert page.results.dirty and editor.save_button.isEnabled()
    assert "not saved" in editor.description.text()
    qtbot.mouseClick(editor.save_button, Qt.MouseButton.LeftButton)
    path = page.controller.folder(ev.experiments[0].id) / "evaluation" / "operating_point.json"
    saved = json.loads(path.read_text())
    assert saved["rule"] == "threshold" and saved["threshold"] == pytest.approx(0.3) and saved["positive_class"] == 1
    assert not page.results.dirty and not editor.save_button.isEnabled()
    # a fresh page reads the saved rule back and shows the same numbers
    from studio_desktop.gui.pages.evaluation import EvaluationPage

    page2 = EvaluationPage(ctx)
    qtbot.addWidget(page2)
    page2.resize(1500, 1000)
    page2.show()
    page2.experiments.select(ev.experiments[0].id)
    qtbot.waitUntil(lambda: page2.view.results is not None, timeout=10000)
    assert page2.results.op.threshold == pytest.approx(0.3) and not page2.results.dirty
    assert page2.view.quick.confusion == view.quick.confusion
    page2.shutdown()
    # a goal: recall of "defect" at least 0.99 on the validation images
    editor.goal_kind.setCurrentIndex(editor.goal_kind.findData("recall"))
    editor.goal_class.setCurrentIndex(editor.goal_class.findData(1))
    editor.goal_value.setValue(0.99)
    op = editor.choose_goal()
    assert op is not None and op.achieved["recall"] >= 0.99 and page.results.op is op
    assert "Chosen on the val images" in editor.goal_result.text()


def test_uncertain_cut_off_flags_images_and_leaves_them_out(qtbot, ctx, page_factory):
    from studio_desktop.gui.pages.evaluation.grid import StatusRole

    conf = [0.4 + 0.02 * i for i in range(24)]
    ev, page = open_evaluated(qtbot, ctx, page_factory, confidences=conf)
    editor = page.view.editor
    editor.uncertain_on.setChecked(True)
    editor.uncertain.setValue(0.5)
    unsure = {ev.ids[i] for i in range(24) if conf[i] < 0.5}
    qtbot.waitUntil(lambda: page.results.counts()["uncertain"] == len(unsure), timeout=5000)
    page.images.apply(outcome="uncertain")
    assert set(grid_ids(page)) == unsure
    m = page.images.model
    assert all(m.data(m.index(r), StatusRole) == -1 for r in range(m.rowCount()))
    test_unsure = sum(1 for i in range(24) if conf[i] < 0.5 and ev.subsets[i] == "test")
    qtbot.waitUntil(lambda: page.view.quick.flagged == test_unsure, timeout=5000)
    assert sum(map(sum, page.view.quick.confusion)) == 12 - test_unsure


def test_compare_shows_the_paired_test_and_the_flips(qtbot, ctx, page_factory):
    labels = [i % 3 for i in range(24)]
    second = [t if i % 4 else (t + 2) % 3 for i, t in enumerate(labels)]
    ev, page = open_evaluated(qtbot, ctx, page_factory, second_preds=second)
    first = [(t + 1) % 3 if i % 5 == 0 else t for i, t in enumerate(labels)]
    test = [i for i in range(24) if ev.subsets[i] == "test"]
    only_first = {ev.ids[i] for i in test if first[i] == labels[i] and second[i] != labels[i]}
    only_second = {ev.ids[i] for i in test if second[i] == labels[i] and first[i] != labels[i]}
    panel = page.compare
    with qtbot.waitSignal(panel.compared, timeout=10000) as blocker:
        panel.choose(ev.experiments[1].id)
    comp = blocker.args[0]
    assert set(comp.only_a_right) == only_first and set(comp.only_b_right) == only_second
    assert comp.common == 12
    assert f"Only first right ({len(only_first)})" == panel.only_a.text()
    assert "McNemar" in panel.verdict.text() or "exact binomial" in panel.verdict.text()
    qtbot.waitUntil(lambda: panel.table.item(0, 2) is not None and "%" in panel.table.item(0, 2).text(), timeout=10000)
    assert "(" in panel.table.item(0, 1).text()  # value with its interval
    qtbot.mouseClick(panel.only_a, Qt.MouseButton.LeftButton)
    assert set(grid_ids(page)) == only_first
    assert page.images.chip.isVisible() and "first right, second wrong" in page.images.chip.text()
    qtbot.mouseClick(panel.only_b, Qt.MouseButton.LeftButton)
    assert set(grid_ids(page)) == only_second
    page.images.chip_clear.click()
    assert len(grid_ids(page)) == 12  # back to the other filters (the test subset)


FAKE_EVALUATE = r'''
import json, os, sys, time
folder = sys.argv[1]
def emit(event, **kw):
    with open(os.path.join(folder, "events.jsonl"), "a") as fh:
        fh.write(json.dumps({"event": event, "time": time.time(), **kw}) + "\n")
emit("started", pid=os.getpid(), total=40)
step = 0
while True:
    if os.path.exists(os.path.join(folder, "STOP")):
        emit("stopped")
        sys.exit(0)
    step = min(40, step + 4)
    emit("progress", step=step, total=40, eta_s=3, message=f"evaluating: {step}/40 images")
    time.sleep(0.1)
'''


def test_evaluate_starts_the_job_shows_progress_and_stops(qtbot, ctx, page_factory, monkeypatch, tmp_path):
    ev, page = open_evaluated(qtbot, ctx, page_factory)
    script = tmp_path / "fake_evaluate.py"
    script.write_text(FAKE_EVALUATE)
    calls = []

    def start_worker(ws, job, args, folder, **kw):
        calls.append((job, args, Path(folder), kw))
        return page.jobs.start_process(sys.executable, [str(script), str(folder)], folder, kind=job, **kw)

    monkeypatch.setattr(page.jobs, "start_worker", start_worker)
    page.config.subsets["val"].setChecked(False)
    page.config.batch.setValue(7)
    qtbot.keyClick(page.config.evaluate_button, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert len(calls) == 1
    job_name, args, folder, kw = calls[0]
    exp = ev.experiments[0]
    assert job_name == "evaluate" and folder == page.controller.folder(exp.id) / "jobs" / "evaluate"
    assert args == [ev.project.id, exp.id, "--checkpoint", "best", "--subsets", "test", "--batch-size", "7",
                    "--device", "auto"]
    assert kw["experiment_id"] == exp.id
    job = page.jobs.job_for(exp.id, "evaluate")
    assert not page.config.evaluate_button.isEnabled() and page.config.stop_button.isVisible()
    qtbot.waitUntil(lambda: page.config.progress.value() > 0, timeout=10000)
    assert "images" in page.config.progress_text.text()
    qtbot.mouseClick(page.config.stop_button, Qt.MouseButton.LeftButton)
    assert (folder / "STOP").exists()
    qtbot.waitUntil(lambda: not job.is_running, timeout=10000)
    assert job.state == "stopped"
    qtbot.waitUntil(lambda: "Stopped" in page.config.status.text(), timeout=5000)
    assert page.config.evaluate_button.isEnabled()
    assert page.results is not None or page._loader.busy  # the previous evaluation is still shown


def test_an_evaluation_left_running_is_shown_again_after_a_restart(qtbot, ctx, page_factory, monkeypatch,
                                                                   tmp_path):
    """Quit with "keep running", start again: the page shows the running evaluation with its
    progress and Stop, as the Training page does for a training."""
    from studio_desktop.gui.context import AppContext
    from studio_desktop.gui.pages.evaluation import EvaluationPage

    ev, page = open_evaluated(qtbot, ctx, page_factory)
    script = tmp_path / "fake_evaluate.py"
    script.write_text(FAKE_EVALUATE)
    monkeypatch.setattr(page.jobs, "start_worker", lambda ws, job, args, folder, **kw: page.jobs.start_process(
        sys.executable, [str(script), str(folder)], folder, kind=job, **kw))
    qtbot.keyClick(page.config.evaluate_button, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    exp = ev.experiments[0]
    first = page.jobs.job_for(exp.id, "evaluate")
    qtbot.waitUntil(lambda: first.step > 0, timeout=10000)
    first._timer.stop()  # the first session is gone; its worker goes on

    later = AppContext(ctx.workspace)  # the next session: a new job manager, a new page
    second = EvaluationPage(later)
    second.open_reports = False
    qtbot.addWidget(second)
    second.show()
    try:
        later.open_project(ev.project)
        second.experiments.select(exp.id)
        job = later.jobs.job_for(exp.id, "evaluate")
        assert job is not None and job.pid == first.pid
        assert second.config.stop_button.isVisible() and not second.config.evaluate_button.isEnabled()
        qtbot.waitUntil(lambda: second.config.progress.value() > 0, timeout=10000)
        qtbot.mouseClick(second.config.stop_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not job.is_running, timeout=10000)
        assert job.state == "stopped"
    finally:
        second.shutdown()
        for j in [*later.jobs.jobs(), *page.jobs.jobs()]:
            j._timer.stop()
            if j.pid and j.is_running:
                os.kill(j.pid, signal.SIGKILL)


FAKE_PREDICT = r'''
import csv, json, os, sys, time
args = sys.argv[1:]
out = args[args.index("--out") + 1]
inputs = args[1:args.index("--out")]
os.makedirs(out, exist_ok=True)
def emit(event, **kw):
    with open(os.path.join(out, "events.jsonl"), "a") as fh:
        fh.write(json.dumps({"event": event, "time": time.time(), **kw}) + "\n")
emit("started", pid=os.getpid(), total=len(inputs))
preds = []
for i, path in enumerate(inputs, 1):
    if path.endswith(".txt"):
        preds.append({"file": path, "ok": False, "error": "cannot decode image: not an image"})
    else:
        preds.append({"file": path, "ok": True, "prediction": {"label": 1, "name": "dog"}, "confidence": 0.93,
                      "probabilities": {"cat": 0.05, "dog": 0.93, "fox": 0.02}, "uncertain": False})
    emit("progress", step=i, total=len(inputs), message=f"predicting {i}/{len(inputs)}")
with open(os.path.join(out, "predictions.json"), "w") as fh:
    json.dump({"schema_version": 1, "model": {}, "operating_point": None, "predictions": preds}, fh)
with open(os.path.join(out, "predictions.csv"), "w") as fh:
    fh.write("file,prediction,confidence\n")
emit("completed", summary={"images": len(inputs)})
'''


def test_try_it_predicts_dropped_images_through_a_worker(qtbot, ctx, page_factory, monkeypatch, tmp_path):
    from PIL import Image

    ev, page = open_evaluated(qtbot, ctx, page_factory)
    script = tmp_path / "fake_predict.py"
    script.write_text(FAKE_PREDICT)
    calls = []

    def start_worker(ws, job, args, folder, **kw):
        calls.append((job, args))
        return page.jobs.start_process(sys.executable, [str(script), *args], folder, kind=job, **kw)

    monkeypatch.setattr(page.jobs, "start_worker", start_worker)
    good = tmp_path / "new.png"
    Image.new("RGB", (40, 30), (30, 200, 30)).save(good)
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    panel = page.try_it
    page.try_section.set_expanded(True)
    with qtbot.waitSignal(panel.predictionsShown, timeout=15000):
        assert panel.predict([str(good), str(bad)]) is not None
    job, args = calls[0]
    exp = ev.experiments[0]
    assert job == "predict" and args[0] == exp.id and args[1:3] == [str(good), str(bad)]
    out = Path(args[args.index("--out") + 1])
    assert out.parent == page.controller.folder(exp.id) / "try"
    assert args[args.index("--checkpoint") + 1] == "best" and args[args.index("--project") + 1] == ev.project.id
    items = panel.model.items
    assert [panel.model.data(panel.model.index(r)) for r in range(2)] == ["dog 93%", "cannot read"]
    assert "not an image" in panel.model.data(panel.model.index(1), Qt.ItemDataRole.ToolTipRole)
    assert len(items) == 2 and "1 could not be read" in panel.status.text()
    assert panel.open_button.isEnabled()
    # a path that does not exist is refused before any job starts
    assert panel.predict([str(tmp_path / "missing.png")]) is None and len(calls) == 1
    assert "not found" in panel.status.text()


def test_report_written_with_its_images_and_a_pdf(qtbot, ctx, page_factory):
    from studio_desktop.gui.report.pdf import pdf_page_count

    ev, page = open_evaluated(qtbot, ctx, page_factory)
    with qtbot.waitSignal(page.reportWritten, timeout=60000) as blocker:
        page.write_report(open_it=False)
    html_path = Path(blocker.args[0])
    exp = ev.experiments[0]
    assert html_path == page.controller.folder(exp.id) / "report" / "report.html"
    text = html_path.read_text(encoding="utf-8")
    for section in ("Configuration", "Dataset and split", "Training", "Evaluation", "Confusion matrix",
                    "Most confident errors", "Likely label errors", "Environment"):
        assert re.search(rf"<h2><a name='s\d+'></a>{section}", text), section
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    # confusion, per class, PR, ROC, reliability + 3 errors + 2 label issues
    assert len(images) >= 10
    assert all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in images)
    assert "src=\"http" not in text and "src='http" not in text  # self-contained
    assert "share of the counted images" in text  # how each metric is computed
    assert "the most probable class (argmax)" in text
    pdf = html_path.with_suffix(".pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert pdf_page_count(pdf) >= 1


def test_studio_report_command(qtbot, ctx, tmp_path, capsys):
    from studio_desktop.cli import main
    from studio_desktop.gui.report.pdf import pdf_page_count

    ev = evaluated_project(ctx.workspace)
    untested = make_experiment(ctx.workspace, ev.project, "untested")
    ctx.workspace.close()  # the command opens the workspace itself
    out_pdf = tmp_path / "handed-in.pdf"
    code = main(["--workspace", str(ctx.workspace.root), "report", "Pets", "first", "--pdf", str(out_pdf)])
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "report.html" in printed and str(out_pdf) in printed
    assert pdf_page_count(out_pdf) >= 1
    html = ctx.workspace.project_dir(ev.project.id) / "experiments" / ev.experiments[0].id / "report" / "report.html"
    assert html.is_file()
    # an experiment not evaluated yet still gets its report, which says what is missing
    assert main(["--workspace", str(ctx.workspace.root), "report", "Pets", "untested"]) == 0
    assert "not evaluated yet" in capsys.readouterr().err
    text = (ctx.workspace.project_dir(ev.project.id) / "experiments" / untested.id / "report" / "report.html"
            ).read_text(encoding="utf-8")
    assert "has not been evaluated yet" in text and "<h2>Confusion matrix" not in text
    code = main(["--workspace", str(ctx.workspace.root), "report", "Pets", "no such experiment"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error:") and "Traceback" not in err


@pytest.mark.slow
@pytest.mark.ml
def test_real_training_and_evaluation_from_the_page(qtbot, ctx, page_factory, tmp_path):
    """Train tiny_cnn with the real worker, press Evaluate: the real `worker evaluate` writes the
    evaluation, the page shows it, and its numbers equal aggregate.json (torchmetrics)."""
    import subprocess

    from ml.ml_helpers import make_tiny_project, tiny_config, worker_env  # noqa: I001

    from studio_desktop.core.evaluation.store import EvaluationStore
    from studio_desktop.core.experiments import ExperimentService

    project, _split = make_tiny_project(ctx.workspace, per_class=8)
    svc = ExperimentService(ctx.workspace, project.id)
    exp = svc.create(tiny_config(epochs=2, device="cpu"), "tiny")
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
        body = agg["subsets"]["val"]
        assert page.view.current_subset() == "val"
        assert page.view.quick.confusion == body["confusion"]
        for key in ("accuracy", "f1_macro", "precision_macro", "recall_macro", "roc_auc_macro", "ece"):
            assert page.view.full.metrics[key] == pytest.approx(body["metrics"][key], abs=1e-5), key
        assert page.images.model.rowCount() == sum(agg["subsets"][s]["images"] for s in agg["subsets"])
        assert page.experiments.model.index(page.experiments.model.row_of(exp.id), 5).data().startswith("val ")
    finally:
        if job.is_running and job.pid:
            os.kill(job.pid, signal.SIGKILL)


def test_read_only_workspace_shows_but_does_not_write(qtbot, workspace, page_factory, monkeypatch):
    from studio_desktop.core.workspace import Workspace
    from studio_desktop.gui.context import AppContext
    from studio_desktop.gui.pages.evaluation import EvaluationPage

    ev = evaluated_project(workspace)
    other = Workspace.open(workspace.root, lock=False)  # as a second window would: read-only
    ctx = AppContext(other)
    page = EvaluationPage(ctx)
    qtbot.addWidget(page)
    page.resize(1500, 1000)
    page.show()
    ctx.open_project(ev.project)
    page.experiments.select(ev.experiments[0].id)
    qtbot.waitUntil(lambda: page.view.results is not None, timeout=10000)
    assert not page.config.evaluate_button.isEnabled() and not page.config.reset_button.isEnabled()
    editor = page.view.editor
    editor.uncertain_on.setChecked(True)
    qtbot.waitUntil(lambda: page.results.dirty, timeout=5000)
    assert not editor.save_button.isEnabled()
    page.view.save_operating_point()  # Ctrl+S
    assert not (page.controller.folder(ev.experiments[0].id) / "evaluation" / "operating_point.json").exists()
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: QMessageBox.StandardButton.Yes))
    assert not page.reset()
    assert (page.controller.folder(ev.experiments[0].id) / "evaluation").is_dir()
    page.shutdown()
    other.close()
