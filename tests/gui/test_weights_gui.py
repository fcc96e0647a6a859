"""The Weights dialog and the Training form's weights line, with real worker jobs against a
local HTTP server (the workers see the test's catalog entry through a sitecustomize)."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from weights_server import WeightsServer, fake_entry

from studio_desktop.core import weights_catalog
from studio_desktop.core.weights import MIRROR_ENV, cache_dir, saved_mirror

pytestmark = pytest.mark.gui
MODEL = "mobilenet_v3_small"
#: screenshots to look at, where that folder exists (the development machine)
NOTES = Path("/work/notes")
#: bytes standing in for weights where nothing loads them (downloads only check the checksum)
BLOB = os.urandom(3 * 1024 * 1024)

SITECUSTOMIZE = '''
import dataclasses, json, os
from studio_desktop.core import weights_catalog as c
for model, fields in json.load(open(os.environ["STUDIO_TEST_WEIGHTS"])).items():
    c.WEIGHTS[model] = (dataclasses.replace(c.WEIGHTS[model][0], **fields),)
'''


@pytest.fixture(autouse=True)
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for var in ("http_proxy", "HTTP_PROXY", "no_proxy", MIRROR_ENV):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def ctx(qtbot, workspace):
    from studio_desktop.gui.context import AppContext
    from studio_desktop.gui.jobs import JobManager

    c = AppContext(workspace)
    c.jobs = JobManager(grace_s=5.0, poll_ms=50)
    yield c
    for job in c.jobs.jobs():  # never leave a worker alive
        job._timer.stop()
        if job.pid and job.is_running:
            try:
                os.kill(job.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def serve(server, monkeypatch, tmp_path, data: bytes = BLOB, model: str = MODEL):
    """``data`` as ``model``'s weights, for this process and for the workers it starts."""
    entry = fake_entry(model, data, server.base)
    server.files[entry.file_name] = data
    monkeypatch.setitem(weights_catalog.WEIGHTS, model, (entry,))
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    spec = tmp_path / "weights.json"
    spec.write_text(json.dumps({model: {"url": entry.url, "size_mib": entry.size_mib}}))
    monkeypatch.setenv("STUDIO_TEST_WEIGHTS", str(spec))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    return entry


def shot(widget, name: str) -> None:
    if NOTES.is_dir():
        widget.grab().save(str(NOTES / name))


def row_state(dialog, model: str) -> str:
    return dialog.table.item(dialog.models.index(model), 3).text()


def test_dialog_lists_every_model_with_state_and_size(qtbot, ctx, monkeypatch, tmp_path):
    from studio_desktop.gui.widgets.weights_dialog import WeightsDialog

    with WeightsServer() as server:
        entry = serve(server, monkeypatch, tmp_path)
    cache_dir().mkdir(parents=True)
    (cache_dir() / entry.file_name).write_bytes(BLOB)
    damaged = cache_dir() / "resnet34-b627a593.pth"
    with open(damaged, "wb") as fh:
        fh.truncate(weights_catalog.default_weights("resnet34").approx_bytes)  # right size, wrong bytes
    dialog = WeightsDialog(ctx, None, MODEL)
    qtbot.addWidget(dialog)
    assert dialog.models[0] == "tiny_cnn" and "convnext_tiny" in dialog.models
    assert row_state(dialog, "tiny_cnn") == "No pretrained weights"
    assert row_state(dialog, "resnet18") == "Not downloaded"
    assert dialog.table.item(dialog.models.index("resnet18"), 2).text() == "46.8 MB"
    assert row_state(dialog, MODEL).startswith("Ready")
    # checksums come from a background thread
    qtbot.waitUntil(lambda: row_state(dialog, MODEL) == "Ready ✓", timeout=10000)
    assert row_state(dialog, "resnet34") == "Damaged"
    assert dialog.selected_model() == MODEL and entry.file_name in dialog.detail.text()
    assert not dialog.download_button.isEnabled() and dialog.delete_button.isEnabled()
    dialog.select("resnet18")
    assert dialog.download_button.isEnabled() and not dialog.delete_button.isEnabled()
    assert "download.pytorch.org/models/resnet18-f37072fd.pth" in dialog.detail.text()
    dialog.select("resnet34")
    assert dialog.delete_selected(confirm=False) == [damaged]
    assert row_state(dialog, "resnet34") == "Not downloaded"


def test_download_from_the_dialog_is_a_job_with_progress_and_cancel(qtbot, ctx, monkeypatch, tmp_path):
    from studio_desktop.gui.widgets.job_status import JobStatusArea
    from studio_desktop.gui.widgets.weights_dialog import WeightsDialog, running_job

    with WeightsServer() as server:
        entry = serve(server, monkeypatch, tmp_path)
        server.mode[entry.file_name] = "slow"
        server.slow_chunk, server.slow_delay_s = 32 * 1024, 0.05  # ~5 s for the whole file
        dialog = WeightsDialog(ctx, None, MODEL)
        qtbot.addWidget(dialog)
        status = JobStatusArea(ctx.jobs)
        qtbot.addWidget(status)
        qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
        job = running_job(ctx, MODEL)
        assert job is not None and job.kind == "download-weights"
        assert dialog.download_button.text() == "Cancel download"
        qtbot.waitUntil(lambda: job.step > 0 or not job.is_running, timeout=20000)
        assert job.is_running, f"{job.state} {job.error}"
        qtbot.waitUntil(lambda: row_state(dialog, MODEL).startswith("Downloading… "), timeout=5000)
        qtbot.waitUntil(lambda: "MB" in status.rows[job.key].label.text(), timeout=5000)
        assert status.rows[job.key].label.text().startswith(f"Download {MODEL} weights: ")
        shot(dialog, "weights-dialog-downloading.png")
        qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)  # cancel
        qtbot.waitUntil(lambda: not job.is_running, timeout=15000)
        assert job.state == "stopped" and not job.killed
        assert not cache_dir().exists() or not any(cache_dir().glob(f"*{entry.file_name}*"))
        assert row_state(dialog, MODEL) == "Not downloaded"
        # again, at full speed: completes, verified
        server.mode.pop(entry.file_name)
        qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
        job = running_job(ctx, MODEL)
        qtbot.waitUntil(lambda: not job.is_running, timeout=20000)
        assert job.state == "completed", f"{job.error} {job.hint}"
        qtbot.waitUntil(lambda: row_state(dialog, MODEL) == "Ready ✓", timeout=10000)
        assert (cache_dir() / entry.file_name).read_bytes() == BLOB


def test_a_failed_download_shows_why(qtbot, ctx, monkeypatch, tmp_path):
    from studio_desktop.gui.widgets.weights_dialog import WeightsDialog, running_job

    with WeightsServer() as server:
        serve(server, monkeypatch, tmp_path)
    dialog = WeightsDialog(ctx, None, MODEL)  # the server is gone: no connection
    qtbot.addWidget(dialog)
    dialog.download_or_cancel()
    job = running_job(ctx, MODEL)
    qtbot.waitUntil(lambda: not job.is_running, timeout=20000)
    assert job.state == "failed"
    qtbot.waitUntil(lambda: not dialog.error.isHidden(), timeout=5000)
    assert "no connection to 127.0.0.1: download on another computer and import the file" in dialog.error.text()


def test_mirror_setting_is_kept_in_the_workspace(qtbot, ctx, monkeypatch):
    from studio_desktop.gui.widgets.weights_dialog import WeightsDialog

    dialog = WeightsDialog(ctx)
    qtbot.addWidget(dialog)
    dialog.mirror_edit.setText("https://mirror.corp.example/torch/")
    qtbot.mouseClick(dialog.mirror_save, Qt.MouseButton.LeftButton)
    assert saved_mirror(ctx.workspace.root) == "https://mirror.corp.example/torch"
    assert "mirror.corp.example" in dialog.mirror_note.text()
    dialog.mirror_edit.setText("not a url")
    dialog.save_mirror()
    assert not dialog.error.isHidden() and "neither an address" in dialog.error.text()
    monkeypatch.setenv(MIRROR_ENV, "http://env.example/w")
    dialog._update_mirror_note()
    assert MIRROR_ENV in dialog.mirror_note.text() and "wins" in dialog.mirror_note.text()


def drop(widget, path: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    widget.dropEvent(event)


@pytest.mark.slow
@pytest.mark.ml
def test_import_by_dropping_a_file(qtbot, ctx, tmp_path):
    """A real import job: a wrong file says which model it is for; a right one is imported."""
    sys.path.insert(0, str(Path(__file__).parent.parent / "ml"))
    from weights_data import state_dict_bytes

    from studio_desktop.gui.widgets.weights_dialog import IMPORT_JOB, WeightsDialog, running_job

    dialog = WeightsDialog(ctx, None, MODEL)
    qtbot.addWidget(dialog)
    wrong = tmp_path / "resnet.pth"
    wrong.write_bytes(state_dict_bytes("resnet18"))
    drop(dialog, wrong)
    job = running_job(ctx, MODEL, IMPORT_JOB)
    assert job is not None and row_state(dialog, MODEL) == "Checking the file…"
    qtbot.waitUntil(lambda: not job.is_running, timeout=60000)
    assert job.state == "failed"
    qtbot.waitUntil(lambda: not dialog.error.isHidden(), timeout=5000)
    assert "these weights are for resnet18, not mobilenet_v3_small" in dialog.error.text()
    good = tmp_path / "mine.pth"
    good.write_bytes(state_dict_bytes(MODEL))
    drop(dialog, good)
    job = running_job(ctx, MODEL, IMPORT_JOB)
    qtbot.waitUntil(lambda: not job.is_running, timeout=60000)
    assert job.state == "completed", job.error
    qtbot.waitUntil(lambda: row_state(dialog, MODEL) == "Ready (imported)", timeout=10000)
    assert "mine.pth" in dialog.detail.text()


def test_tools_menu_opens_the_dialog(qtbot, workspace, main_window_factory):
    window = main_window_factory(workspace)
    assert window.weights_action.text() == "Pretrained &weights…"
    dialog = window.show_weights()
    qtbot.addWidget(dialog)
    assert dialog.isVisible() and dialog.table.rowCount() == len(dialog.models)


# --------------------------------------------------------------------------- the Training form


@pytest.fixture
def training_page(qtbot, ctx, monkeypatch):
    from test_training_page import make_project

    from studio_desktop.gui.pages.training.page import TrainingPage

    project = make_project(ctx.workspace)
    ctx.open_project(project)
    started = []
    monkeypatch.setattr(ctx.jobs, "start_training",
                        lambda ws, project, exp, resume=False, epochs=None: started.append(exp) or None)
    page = TrainingPage(ctx)
    qtbot.addWidget(page)
    page.resize(1400, 900)
    page.show()
    page.started = started
    yield page
    page.shutdown()


def pick(page, model: str) -> None:
    combo = page.form.rows["model"].widget
    combo.setCurrentIndex(combo.findData(model))


def test_pretrained_is_disabled_with_a_reason_for_the_tiny_cnn(training_page):
    form = training_page.form
    box = form.rows["pretrained"].widget
    pick(training_page, "tiny_cnn")
    assert not box.isEnabled() and not box.isChecked()
    assert "teaching network without pretrained weights" in form.rows["pretrained"].hint.text()
    assert "from scratch" in box.toolTip()
    assert not form.rows["finetune"].widget.isEnabled()  # fine-tuning needs pretrained weights
    assert form.weights_line.label.text() == "No pretrained weights for this model."
    assert form.weights_line.download_button.isHidden()
    pick(training_page, "resnet18")
    assert box.isEnabled() and box.isChecked()  # the user's choice comes back
    assert form.rows["finetune"].widget.isEnabled()
    assert form.values()["input_size"] == 224  # the size the weights were trained at


def test_learning_rate_follows_the_fine_tuning_mode_unless_typed(training_page):
    form = training_page.form
    pick(training_page, "resnet18")
    lr = form.rows["lr"].widget
    assert lr.text() == "0.0001"  # full fine-tuning of pretrained weights
    form.rows["finetune"].widget.setCurrentText("linear_probe")
    assert lr.text() == "0.001"
    form.rows["pretrained"].widget.setChecked(False)
    assert lr.text() == "0.001" and not form.rows["finetune"].widget.isEnabled()
    pick(training_page, "tiny_cnn")
    assert lr.text() == "0.003"  # the measured from-scratch rate of the Tiny CNN
    lr.setText("0.02")
    lr.textEdited.emit("0.02")
    pick(training_page, "resnet18")
    assert lr.text() == "0.02"  # typed by the user: kept


def test_weights_line_shows_the_state_of_the_chosen_model(training_page, monkeypatch, tmp_path):
    line = training_page.form.weights_line
    pick(training_page, "resnet18")
    assert line.label.text() == "Pretrained weights not downloaded yet (46.8 MB)."
    assert not line.download_button.isHidden()
    assert "download.pytorch.org" in line.label.toolTip()
    with WeightsServer() as server:
        entry = serve(server, monkeypatch, tmp_path, model="resnet18")
    cache_dir().mkdir(parents=True)
    (cache_dir() / entry.file_name).write_bytes(BLOB)
    training_page._settings_changed()
    assert line.label.text().startswith("✓ Pretrained weights ready (IMAGENET1K_V1).")
    assert line.download_button.isHidden()
    training_page.form.rows["input_size"].widget.setText("64")
    training_page._settings_changed()
    assert "Trained at 224 px: 64 px is faster, usually less accurate." in line.label.text()


def test_start_without_the_weights_asks_instead_of_training_from_scratch(training_page, monkeypatch):
    from studio_desktop.core.experiments import ExperimentService

    page = training_page
    pick(page, "resnet18")
    answers = []
    monkeypatch.setattr(page.weights, "ask", lambda status: answers.pop(0))
    svc = ExperimentService(page.ctx.workspace, page.controller.project.id)
    answers.append("cancel")
    assert page.start() is None and svc.list() == [] and page.started == []
    answers.append("scratch")
    page.start()
    assert [e.config.pretrained for e in page.started] == [False]
    assert svc.get(page.started[0].id).config.model == "resnet18"


def test_download_now_then_the_run_starts(qtbot, training_page, monkeypatch, tmp_path):
    from studio_desktop.gui.widgets.weights_dialog import running_job

    page = training_page
    with WeightsServer() as server:
        entry = serve(server, monkeypatch, tmp_path, model="resnet18")
        server.mode[entry.file_name] = "slow"
        server.slow_chunk, server.slow_delay_s = 256 * 1024, 0.1
        pick(page, "resnet18")
        monkeypatch.setattr(page.weights, "ask", lambda status: "download")
        assert page.start() is None  # not yet: the weights come first
        job = running_job(page.ctx, "resnet18")
        assert job is not None and page.weights.pending_start == "resnet18"
        qtbot.waitUntil(lambda: job.step > 0 or not job.is_running, timeout=20000)
        page._settings_changed()
        assert page.form.weights_line.label.text().startswith("Downloading the pretrained weights… ")
        assert page.form.weights_line.label.text().endswith("Training starts when it is done.")
        shot(page, "weights-training-downloading.png")
        qtbot.waitUntil(lambda: not job.is_running, timeout=30000)
        assert job.state == "completed", f"{job.error} {job.hint}"
        qtbot.waitUntil(lambda: len(page.started) == 1, timeout=5000)
    exp = page.started[0]
    assert exp.config.model == "resnet18" and exp.config.pretrained
    assert page.form.weights_line.label.text().startswith("✓ Pretrained weights ready")
    shot(page, "weights-training-ready.png")
