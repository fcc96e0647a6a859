"""Training page: prerequisites, the generated form and its validation, experiments list actions,
live curves from a (fake, then real) worker, comparison, and a screenshot to look at."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import Qt

pytestmark = pytest.mark.gui

SHOTS = Path("/tmp/shots")

FAKE_TRAIN = r'''
import json, os, sys, time
folder = sys.argv[1]
def emit(event, **kw):
    with open(os.path.join(folder, "events.jsonl"), "a") as fh:
        fh.write(json.dumps({"event": event, "time": time.time(), **kw}) + "\n")
emit("started", pid=os.getpid(), total_epochs=50)
epoch = 0
while True:
    if os.path.exists(os.path.join(folder, "STOP")):
        emit("stopped", epoch=epoch)
        sys.exit(0)
    epoch += 1
    if epoch <= 50:
        loss = 1.0 / epoch
        emit("progress", step=1, total=1, eta_s=(50 - epoch) * 0.1, epoch=epoch)
        emit("epoch", epoch=epoch, metrics={"train_loss": loss, "val_loss": loss * 1.2,
                                            "val_accuracy": 1 - loss / 2, "lr": 0.001})
    time.sleep(0.1)
'''


def make_project(ws, with_split: bool = True, n: int = 12):
    """A classification project of n 32×32 images (red = class 0, blue = class 1), and a split."""
    from studio_desktop.core.datasets import DatasetStore
    from studio_desktop.core.projects import ProjectService
    from studio_desktop.core.schemas import Dataset, ImageRecord
    from studio_desktop.core.splits import SplitService

    project = ProjectService(ws).create("Shapes", "classification", ["red", "blue"])
    store = DatasetStore(ws, project.id)
    store.images_dir.mkdir(parents=True, exist_ok=True)
    records = []
    for i in range(n):
        rid = f"{i:012x}"
        label = i % 2
        img = Image.new("RGB", (32, 32), (200, 30 + i, 30) if label == 0 else (30, 30 + i, 200))
        img.save(store.images_dir / f"{rid}.png")
        records.append(ImageRecord(id=rid, file=f"images/{rid}.png", width=32, height=32, sha256=rid * 5,
                                   source=f"/data/{rid}.png", label=label))
    dataset = Dataset(images=records)
    store.save(dataset)
    if with_split:
        svc = SplitService(ws, project.id)
        svc.create("main", svc.plan(project, dataset, ratios=(0.6, 0.4)))
    return project


@pytest.fixture
def page_factory(qtbot, ctx):
    from studio_desktop.gui.pages.training import TrainingPage

    pages = []

    def make():
        page = TrainingPage(ctx)
        qtbot.addWidget(page)
        page.resize(1400, 860)
        page.show()
        pages.append(page)
        return page

    yield make
    for p in pages:
        p.shutdown()


def test_no_project_then_no_split_explain_what_to_do(qtbot, ctx, page_factory):
    page = page_factory()
    assert page.stack.currentWidget() is page.panel
    with qtbot.waitSignal(ctx.showPageRequested) as blocker:
        qtbot.mouseClick(page.panel.button, Qt.MouseButton.LeftButton)
    assert blocker.args == ["project"]

    ctx.open_project(make_project(ctx.workspace, with_split=False))
    assert page.stack.currentWidget() is page.panel
    assert "split" in page.panel.text.text().lower()
    with qtbot.waitSignal(ctx.showPageRequested) as blocker:
        qtbot.mouseClick(page.panel.button, Qt.MouseButton.LeftButton)
    assert blocker.args == ["split"]


def test_a_task_this_version_cannot_train_says_so_before_any_setting(qtbot, ctx, page_factory):
    from studio_desktop.core.projects import ProjectService

    page = page_factory()
    ctx.open_project(ProjectService(ctx.workspace).create("cells", "instance_segmentation"))
    assert page.stack.currentWidget() is page.panel  # not the form, not "needs a split"
    text = page.panel.text.text()
    assert "instance segmentation models is not available yet" in text and "classification" in text


def test_form_is_generated_with_help_and_validation_disables_start(qtbot, ctx, page_factory):
    from studio_desktop.core.experiments import TrainConfig
    from studio_desktop.gui.pages.training.config_form import _editable

    ctx.open_project(make_project(ctx.workspace))
    page = page_factory()
    assert page.stack.currentWidget() is page.main
    form = page.form
    # every setting but the augmentation list and structured ones (a task's own settings, carried
    # as loaded) has a widget with its help as tooltip and hint
    help_ = TrainConfig.field_help()
    editable = {n for n in TrainConfig.model_fields if n != "augmentations" and _editable(n)}
    assert {"model", "pretrained", "lr", "epochs"} <= editable
    assert set(form.rows) == editable
    config = page.controller.defaults()
    form.set_config(config)
    for name in set(TrainConfig.model_fields) - editable - {"augmentations"}:
        assert form.values()[name] == getattr(config, name)
    for name, row in form.rows.items():
        assert help_[name][:30] in row.widget.toolTip()
        assert row.hint.text()
    assert page.start_button.isEnabled()

    epochs = form.rows["epochs"].widget
    epochs.setFocus()
    epochs.selectAll()
    qtbot.keyClicks(epochs, "0")
    err = form.rows["epochs"].error
    assert err.isVisible() and "Epochs" in err.text() and "1" in err.text()
    assert not page.start_button.isEnabled()
    assert "epochs" in page.start_error.text()

    epochs.selectAll()
    qtbot.keyClicks(epochs, "abc")
    assert "Epochs" in err.text() and not page.start_button.isEnabled()

    epochs.selectAll()
    qtbot.keyClicks(epochs, "3")
    assert not err.isVisible()
    assert page.start_button.isEnabled()

    lr = form.rows["lr"].widget
    lr.selectAll()
    qtbot.keyClicks(lr, "-1")
    assert form.rows["lr"].error.isVisible() and "Learning rate" in form.rows["lr"].error.text()
    assert not page.start_button.isEnabled()


def test_model_catalog_sets_default_input_size(qtbot, ctx, page_factory):
    ctx.open_project(make_project(ctx.workspace))
    page = page_factory()
    combo = page.form.rows["model"].widget
    names = [combo.itemData(i) for i in range(combo.count())]
    assert "tiny_cnn" in names and "resnet18" in names
    assert "25.6 M params" in combo.itemText(names.index("resnet50"))
    combo.setCurrentIndex(names.index("efficientnet_b3"))
    assert page.form.rows["input_size"].widget.text() == "300"
    assert "EfficientNet" in page.form.rows["model"].hint.text()
    combo.setCurrentIndex(names.index("tiny_cnn"))
    assert page.form.rows["input_size"].widget.text() == "64"
    assert page.config_data()["model"] == "tiny_cnn"


def test_augmentation_editor_edits_list_and_requests_preview(qtbot, ctx, page_factory, monkeypatch):
    ctx.open_project(make_project(ctx.workspace))
    page = page_factory()
    requested = []
    monkeypatch.setattr(page.preview, "request", lambda root, pid, cfg, seed=0: requested.append(cfg))
    editor = page.augment
    before = [s["name"] for s in editor.steps()]
    assert before  # classification starts with default augmentations
    editor.add_step("rotation")
    assert [s["name"] for s in editor.steps()] == before + ["rotation"]
    assert requested[-1]["augmentations"][-1]["name"] == "rotation"
    editor.move_current(-1)
    assert [s["name"] for s in editor.steps()][-2] == "rotation"
    editor.list.item(0).setCheckState(Qt.CheckState.Unchecked)
    assert editor.steps()[0]["enabled"] is False
    # edit a parameter through its spin box
    editor.list.setCurrentRow(len(before) - 1)  # rotation
    spin = editor.params_form.itemAt(0, editor.params_form.ItemRole.FieldRole).widget()
    spin.setValue(30)
    rot = editor.steps()[len(before) - 1]  # the added step (defaults may hold a rotation too)
    assert rot["name"] == "rotation" and rot["params"]["degrees"] == 30
    n = len(requested)
    editor.remove_current()
    assert [s["name"] for s in editor.steps()] == before
    assert len(requested) == n + 1
    assert page.validation.ok


def _use_fake_worker(page, tmp_path, monkeypatch):
    script = tmp_path / "fake_train.py"
    script.write_text(FAKE_TRAIN)
    jobs = page.jobs

    def fake_start(ws, project, exp, resume=False, epochs=None):
        folder = Path(ws.project_dir(project.id)) / "experiments" / exp.id
        return jobs.start_process(sys.executable, [str(script), str(folder)], folder,
                                  experiment_id=exp.id, name=exp.name, project_id=project.id)

    monkeypatch.setattr(jobs, "start_training", fake_start)


def test_start_follow_stop_with_fake_worker(qtbot, ctx, page_factory, tmp_path, monkeypatch):
    from studio_desktop.core.experiments import ExperimentService

    project = make_project(ctx.workspace)
    ctx.open_project(project)
    page = page_factory()
    _use_fake_worker(page, tmp_path, monkeypatch)
    name = page.form.name_edit
    qtbot.keyClicks(name, "first try")
    qtbot.keyClick(page.start_button, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    svc = ExperimentService(ctx.workspace, project.id)
    exps = svc.list()
    assert [e.name for e in exps] == ["first try"]
    job = page.jobs.job_for(exps[0].id)
    assert job is not None
    assert page.experiments.selected_ids() == [exps[0].id]
    # (curves appear over a few redraw ticks: a few new curves per tick, once the plots exist)
    wanted = {"train_loss", "val_loss", "val_accuracy", "lr"}
    qtbot.waitUntil(lambda: page.results.curves.point_count() >= 6
                    and wanted <= set(page.results.curves.series_names()), timeout=15000)
    assert page.results.epoch_label.text().startswith("epoch ")
    assert page.experiments.stop_button.isEnabled()
    assert not page.experiments.delete_button.isEnabled()  # refused while running
    qtbot.mouseClick(page.experiments.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not job.is_running, timeout=15000)
    assert job.state == "stopped"


def test_notes_are_saved_debounced(qtbot, ctx, page_factory):
    from studio_desktop.core.experiments import ExperimentService

    project = make_project(ctx.workspace)
    svc = ExperimentService(ctx.workspace, project.id)
    exp = svc.create(svc_config(project), "noted")
    ctx.open_project(project)
    page = page_factory()
    page.experiments.select([exp.id])
    assert page.experiments.notes.isEnabled()
    qtbot.keyClicks(page.experiments.notes, "lr too high")
    qtbot.waitUntil(lambda: svc.get(exp.id).notes == "lr too high", timeout=5000)
    qtbot.keyClicks(page.experiments.notes, "; try 1e-4")
    page.hide()  # closing right after typing still saves
    assert svc.get(exp.id).notes == "lr too high; try 1e-4"


def svc_config(project):
    from studio_desktop.core.experiments import defaults_for

    return defaults_for(project.task).model_copy(update={"model": "tiny_cnn", "epochs": 2})


def test_comparison_overlays_selected_experiments(qtbot, ctx, page_factory):
    from studio_desktop.core.experiments import ExperimentService

    project = make_project(ctx.workspace)
    svc = ExperimentService(ctx.workspace, project.id)
    a = svc.create(svc_config(project), "A")
    b = svc.create(svc_config(project), "B")
    for exp, base in ((a, 0.5), (b, 0.7)):
        rows = [{"kind": "epoch", "epoch": k, "train_loss": base / k, "val_loss": base / k + 0.1,
                 "val_accuracy": 1 - base / k, "lr": 0.001} for k in (1, 2, 3)]
        rows.append({"kind": "step", "step": 7, "epoch": 3, "train_loss": 9.0})
        (svc.folder(exp.id) / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    ctx.open_project(project)
    page = page_factory()
    page.experiments.select([a.id])
    curves = page.results.curves
    # the results follow the selection after a short pause, the curves on their redraw timer
    qtbot.waitUntil(lambda: curves.point_count() == 3 * 4, timeout=3000)  # 4 series; step row ignored
    page.experiments.select([a.id, b.id])
    qtbot.waitUntil(lambda: "Comparing 2" in page.results.title.text(), timeout=3000)
    qtbot.waitUntil(lambda: len(curves.series_names()) == 2 * 4, timeout=3000)
    names = curves.series_names()
    assert "A:val_accuracy" in names and "B:val_accuracy" in names and "B:train_loss" in names
    assert "Comparing 2" in page.results.title.text()
    assert not page.experiments.duplicate_button.isEnabled()


def test_duplicate_and_delete(qtbot, ctx, page_factory):
    from studio_desktop.core.experiments import ExperimentService

    project = make_project(ctx.workspace)
    svc = ExperimentService(ctx.workspace, project.id)
    exp = svc.create(svc_config(project), "orig")
    ctx.open_project(project)
    page = page_factory()
    page.experiments.select([exp.id])
    qtbot.mouseClick(page.experiments.duplicate_button, Qt.MouseButton.LeftButton)
    names = sorted(e.name for e in svc.list())
    assert names == ["orig", "orig copy"]
    assert page.experiments.model.rowCount() == 2
    page.experiments.select([exp.id])
    assert page.delete_selected(confirm=False)
    assert [e.name for e in svc.list()] == ["orig copy"]
    assert page.experiments.model.rowCount() == 1


@pytest.mark.slow
@pytest.mark.ml
def test_real_worker_end_to_end(qtbot, ctx, page_factory):
    """Start a real `worker train` with tiny_cnn from the page; curves fill; Stop -> stopped."""
    from studio_desktop.core.experiments import ExperimentService

    project = make_project(ctx.workspace, n=16)
    ctx.open_project(project)
    page = page_factory()
    form = page.form
    combo = form.rows["model"].widget
    combo.setCurrentIndex(combo.findData("tiny_cnn"))
    for key, value in (("epochs", "200"), ("input_size", "32"), ("batch_size", "4")):
        form.rows[key].widget.setText(value)
    form.rows["pretrained"].widget.setChecked(False)
    form.rows["device"].widget.setText("cpu")
    page._settings_changed()
    assert page.start_button.isEnabled(), page.start_error.text()
    job = page.start()
    assert job is not None
    try:
        qtbot.waitUntil(lambda: page.results.curves.point_count() >= 4 or not job.is_running, timeout=120000)
        assert job.is_running, f"worker ended: {job.state} {job.error} {job.hint}"
        qtbot.waitUntil(lambda: job.epoch_no >= 4 or not job.is_running, timeout=60000)
        assert not page.results.message.isVisible()  # no "not started yet" on a running job
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.results.curves.redraw_now()
        qtbot.wait(100)
        page.grab().save(str(SHOTS / "training_page.png"))
        qtbot.mouseClick(page.experiments.stop_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not job.is_running, timeout=60000)
        assert job.state == "stopped"
        svc = ExperimentService(ctx.workspace, project.id)
        qtbot.waitUntil(lambda: svc.get(job.experiment_id).status == "stopped", timeout=20000)
        # resume it with fewer epochs in total than planned: it continues and completes
        page.reload_list()
        page.experiments.select([job.experiment_id])
        qtbot.waitUntil(lambda: page.experiments.resume_button.isEnabled(), timeout=5000)
        done = svc.get(job.experiment_id).epochs_done
        job = page.resume_selected(epochs=done + 2)
        assert job is not None
        qtbot.waitUntil(lambda: not job.is_running, timeout=120000)
        assert job.state == "completed", f"{job.state} {job.error} {job.hint}"
        exp = svc.get(job.experiment_id)
        assert exp.status == "completed" and exp.epochs_done == done + 2
        qtbot.waitUntil(lambda: page.results.badge.text().strip() == "completed", timeout=5000)
    finally:
        if job.is_running and job.pid:
            os.kill(job.pid, signal.SIGKILL)


def test_page_reconciles_dead_runs_and_reattaches_live_ones(qtbot, ctx, page_factory, tmp_path):
    """After a GUI restart: a run whose worker died becomes 'interrupted'; a live one is followed."""
    import subprocess

    from studio_desktop.core.experiments import ExperimentService

    project = make_project(ctx.workspace)
    svc = ExperimentService(ctx.workspace, project.id)
    dead = svc.create(svc_config(project), "dead")
    live = svc.create(svc_config(project), "live")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    svc.update(dead.id, status="running", pid=gone.pid)
    script = tmp_path / "fake_train.py"
    script.write_text(FAKE_TRAIN)
    proc = subprocess.Popen([sys.executable, str(script), str(svc.folder(live.id))])
    try:
        svc.update(live.id, status="running", pid=proc.pid)
        ctx.open_project(project)
        page = page_factory()
        assert svc.get(dead.id).status == "interrupted"
        job = page.jobs.job_for(live.id)
        assert job is not None and job.pid == proc.pid
        page.experiments.select([live.id])
        qtbot.waitUntil(lambda: page.results.curves.point_count() >= 4, timeout=15000)
        assert page.experiments.stop_button.isEnabled()
        job.stop()
        qtbot.waitUntil(lambda: not job.is_running, timeout=15000)
        assert job.state == "stopped"
    finally:
        proc.kill()
        proc.wait()


def test_resume_passes_resume_and_epochs(qtbot, ctx, page_factory, monkeypatch):
    from studio_desktop.core.experiments import ExperimentService

    project = make_project(ctx.workspace)
    svc = ExperimentService(ctx.workspace, project.id)
    exp = svc.create(svc_config(project), "paused")
    svc.update(exp.id, status="stopped", epochs_done=1)
    ctx.open_project(project)
    page = page_factory()
    page.experiments.select([exp.id])
    assert not page.experiments.resume_button.isEnabled()  # no checkpoint yet
    ckpt = svc.checkpoint(exp.id)
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    ckpt.write_bytes(b"x")
    page.reload_list()
    page.experiments.select([])
    page.experiments.select([exp.id])
    assert page.experiments.resume_button.isEnabled()
    calls = []
    monkeypatch.setattr(page.jobs, "start_training",
                        lambda ws, project, e, resume=False, epochs=None: calls.append((e.id, resume, epochs)))
    page.resume_selected(epochs=5)
    assert calls == [(exp.id, True, 5)]


@pytest.mark.slow
@pytest.mark.ml
def test_real_augmentation_preview(qtbot, ctx, page_factory):
    ctx.open_project(make_project(ctx.workspace))
    page = page_factory()
    page.tabs.setCurrentIndex(1)
    with qtbot.waitSignal(page.preview.updated, timeout=120000) as blocker:
        page.augment.add_step("grayscale")
    assert blocker.args[0], page.preview.status.text()
    assert all(Path(p).suffix == ".png" and Path(p).exists() for p in blocker.args[0])
    assert page.preview.cells[0].pixmap() is not None and not page.preview.cells[0].pixmap().isNull()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.grab().save(str(SHOTS / "training_augmentations.png"))


def test_ctrl_n_resets_to_a_new_experiment(qtbot, ctx, page_factory):
    from studio_desktop.core.experiments import ExperimentService

    project = make_project(ctx.workspace)
    svc = ExperimentService(ctx.workspace, project.id)
    exp = svc.create(svc_config(project).model_copy(update={"epochs": 7}), "seven")
    ctx.open_project(project)
    page = page_factory()
    page.experiments.select([exp.id])
    qtbot.waitUntil(lambda: page.form.rows["epochs"].widget.text() == "7", timeout=3000)
    page.form.rows["lr"].widget.setFocus()
    qtbot.keyClick(page.form.rows["lr"].widget, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert page.experiments.selected_ids() == []
    assert page.form.rows["epochs"].widget.text() == str(page.controller.defaults().epochs)


def test_crashed_worker_is_shown_interrupted(qtbot, ctx, page_factory, tmp_path, monkeypatch):
    """A worker that dies without a final event: the job fails, the experiment becomes
    'interrupted' at once (not only at the next start-up) and the page says why."""
    from studio_desktop.core.experiments import ExperimentService

    project = make_project(ctx.workspace)
    ctx.open_project(project)
    page = page_factory()
    script = tmp_path / "crash.py"
    script.write_text("import json, os, sys, time\n"
                      "folder = sys.argv[1]\n"
                      "open(os.path.join(folder, 'events.jsonl'), 'a').write("
                      "json.dumps({'event': 'started', 'total_epochs': 3}) + '\\n')\n"
                      "time.sleep(0.5)\n"
                      "os._exit(9)\n")
    svc = ExperimentService(ctx.workspace, project.id)
    jobs = page.jobs

    def start(ws, project, exp, resume=False, epochs=None):
        folder = svc.folder(exp.id)
        job = jobs.start_process(sys.executable, [str(script), str(folder)], folder,
                                 experiment_id=exp.id, name=exp.name, project_id=project.id)
        svc.update(exp.id, status="running", pid=job.pid)  # what the real worker does first
        return job

    monkeypatch.setattr(jobs, "start_training", start)
    job = page.start()
    assert job is not None
    qtbot.waitUntil(lambda: job.state == "failed", timeout=15000)
    exp = svc.get(job.experiment_id)
    assert exp.status == "interrupted"
    qtbot.waitUntil(lambda: "ended unexpectedly" in page.results.message.text(), timeout=5000)
    assert page.results.badge.text().strip() == "interrupted"


def test_new_split_elsewhere_keeps_the_settings_being_edited(qtbot, ctx, page_factory):
    from studio_desktop.core.datasets import DatasetStore
    from studio_desktop.core.splits import SplitService

    project = make_project(ctx.workspace)
    ctx.open_project(project)
    page = page_factory()
    page.form.rows["epochs"].widget.setText("42")
    svc = SplitService(ctx.workspace, project.id)
    svc.create("second", svc.plan(project, DatasetStore(ctx.workspace, project.id).load(), ratios=(0.5, 0.5)))
    ctx.splitsChanged.emit()
    combo = page.form.rows["split_id"].widget
    assert [combo.itemText(i) for i in range(combo.count())] == ["(newest split)", "second", "main"]
    assert page.form.rows["epochs"].widget.text() == "42"


def test_start_on_a_duplicated_never_run_experiment_trains_that_one(qtbot, ctx, page_factory, tmp_path,
                                                                     monkeypatch):
    from studio_desktop.core.experiments import ExperimentService

    project = make_project(ctx.workspace)
    svc = ExperimentService(ctx.workspace, project.id)
    exp = svc.create(svc_config(project), "draft")
    ctx.open_project(project)
    page = page_factory()
    calls = []
    monkeypatch.setattr(page.jobs, "start_training",
                        lambda ws, project, e, resume=False, epochs=None: calls.append(e) or object())
    page.experiments.select([exp.id])
    qtbot.waitUntil(lambda: page.form.name_edit.text() == "draft", timeout=3000)
    page.form.rows["epochs"].widget.setText("9")
    page.form.name_edit.setText("draft renamed")
    assert page.start() is not None
    assert [e.id for e in calls] == [exp.id]
    stored = svc.get(exp.id)
    assert stored.config.epochs == 9 and stored.name == "draft renamed"
    assert len(svc.list()) == 1
