"""Export page: prerequisites, the form's choices, a job followed to its end, the validation panel,
the latency table, the snippet (Copy, Save as…), Delete.

Exports are written as ``export.json`` records by hand (no torch in the GUI process, and none
needed here); the job test plays the worker's events file; one slow test exports through the
real worker from the page.
"""

from __future__ import annotations

import json
import os
import signal
import sys

import pytest
from PySide6.QtGui import QGuiApplication

from studio_desktop.core.experiments import ExperimentService, defaults_for
from studio_desktop.core.export_snippet import render
from studio_desktop.core.exports import (
    Check,
    ExportRecord,
    ExportService,
    Latency,
    LatencyRow,
    PrecisionChange,
    Validation,
)
from studio_desktop.core.projects import ProjectService
from studio_desktop.core.store import write_model

pytestmark = pytest.mark.gui


@pytest.fixture
def page_factory(qtbot, ctx):
    from studio_desktop.gui.pages.export import ExportPage

    def make():
        page = ExportPage(ctx)
        qtbot.addWidget(page)
        page.resize(1400, 900)
        page.show()
        return page

    return make


def trained_experiment(ws, name="net", task="classification"):
    project = ProjectService(ws).create("Parts", task, classes=["good", "scratch"])
    svc = ExperimentService(ws, project.id)
    exp = svc.create(defaults_for(task).model_copy(update={"model": "tiny_cnn"} if task == "classification" else {}),
                     name=name)
    ckpt = svc.checkpoint(exp.id, "best")
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"weights")
    return project, svc.update(exp.id, status="completed")


def put_export(ws, project, exp, export_id, *, status="ready", fmt="onnx", precision="fp32") -> ExportRecord:
    passed = status == "ready"
    checks = [Check(name="metadata read back as written", value=0, limit=0, kind="max", passed=True),
              Check(name="max logit difference", value=1.2e-6 if passed else 0.8, limit=4e-3, kind="max",
                    passed=passed, help="same input tensors"),
              Check(name="decisions agreeing with PyTorch", value=1.0 if passed else 0.6, limit=0.98, kind="min",
                    passed=passed, unit="share")]
    file = {"onnx": "model.onnx", "openvino": "model.xml", "torchscript": "model.pt"}[fmt]
    rec = ExportRecord(
        id=export_id, project_id=project.id, experiment_id=exp.id, experiment_name=exp.name, model="tiny_cnn",
        status=status, error=None if passed else "validation failed: max logit difference 0.8 above the limit",
        format=fmt, precision=precision, quantization="static" if precision == "int8" else None, opset=18,
        exporter="torch.onnx (dynamo)", file=file, files=[file, "predict.py"], file_size=1234, sha256="ab" * 32,
        input_shape=[1, 3, 64, 64], snippet="predict.py", checkpoint={"which": "best", "sha256": "cd" * 32},
        validation=Validation(passed=passed, images=40, subsets={"val": 40}, max_abs_diff=checks[1].value,
                              agreement=checks[2].value, metric="accuracy", metric_pytorch=0.95,
                              metric_exported=0.95 if passed else 0.55, checks=checks,
                              failures=[] if passed else ["max logit difference 0.8 above the limit 0.004"]),
        latency=Latency(threads=2, warmup=5, runs=30, input_size=64, device="CPU: test",
                        rows=[LatencyRow(runtime="PyTorch eager", median_ms=2.0, throughput=900, batch=8),
                              LatencyRow(runtime="ONNX Runtime", precision=precision, median_ms=0.5, throughput=1900,
                                         speedup=4.0)]),
        precision_change=PrecisionChange(metric="accuracy", metric_fp32=0.95, metric_exported=0.94, change=-0.01,
                                         agreement_with_fp32=0.98, latency_fp32_ms=1.0, latency_ms=0.5, speedup=2.0,
                                         size_fp32=4000, size=1234) if precision != "fp32" else None)
    svc = ExportService(ws, project.id, exp.id)
    folder = svc.folder(export_id)
    folder.mkdir(parents=True)
    (folder / file).write_bytes(b"model bytes")
    if fmt == "openvino":
        (folder / "model.bin").write_bytes(b"weights")
    runtime = {"onnx": "onnxruntime", "openvino": "openvino", "torchscript": "torch"}[fmt]
    (folder / "predict.py").write_text(render(runtime, file, "net"), encoding="utf-8")
    write_model(folder / "export.json", rec)
    return rec


def regression_export(ws, export_id="20260102-100000-onnx-fp32-dddd"):
    """A regression project (radius in px, brightness), a trained experiment and a ready ONNX export
    whose validation lists each target's differences in its unit and the MAE."""
    project = ProjectService(ws).create("Discs", "regression")
    project = ProjectService(ws).save(project.model_copy(update={"target_names": ["radius", "brightness"],
                                                                 "target_units": {"radius": "px"}}))
    svc = ExperimentService(ws, project.id)
    exp = svc.create(defaults_for("regression").model_copy(update={"model": "tiny_cnn"}), name="discs")
    ckpt = svc.checkpoint(exp.id, "best")
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"weights")
    exp = svc.update(exp.id, status="completed")
    checks = [Check(name="metadata read back as written", value=0, limit=0, kind="max", passed=True),
              Check(name="radius: max difference", value=7.6e-6, limit=0.011, kind="max", passed=True, unit="px"),
              Check(name="brightness: max difference", value=1.2e-7, limit=2.5e-4, kind="max", passed=True),
              Check(name="radius: max difference via metadata", value=3.8e-6, limit=0.22, kind="max", passed=True,
                    unit="px"),
              Check(name="brightness: max difference via metadata", value=2.4e-7, limit=0.005, kind="max",
                    passed=True),
              Check(name="MAE increase", value=-1.1e-7, limit=0.062, kind="max", passed=True)]
    rec = ExportRecord(
        id=export_id, project_id=project.id, experiment_id=exp.id, experiment_name=exp.name, model="tiny_cnn",
        task="regression", status="ready", format="onnx", opset=18, exporter="torch.onnx (dynamo)",
        file="model.onnx", files=["model.onnx", "predict.py"], file_size=431_900, sha256="ab" * 32,
        input_shape=[1, 3, 48, 48], snippet="predict.py", checkpoint={"which": "best", "sha256": "cd" * 32},
        outputs={"values": "predicted values in target units (N x T)"},
        validation=Validation(passed=True, images=20, subsets={"val": 10, "test": 10}, max_abs_diff=7.6e-6,
                              compared="value", agreement=None, metric="MAE", metric_pytorch=2.823,
                              metric_exported=2.823, checks=checks),
        latency=Latency(threads=2, warmup=5, runs=30, input_size=48, device="CPU: test",
                        rows=[LatencyRow(runtime="PyTorch eager", median_ms=1.3, throughput=134, batch=8),
                              LatencyRow(runtime="ONNX Runtime", median_ms=0.19, throughput=2054, speedup=6.81)]))
    folder = ExportService(ws, project.id, exp.id).folder(export_id)
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(b"model bytes")
    (folder / "predict.py").write_text(render("onnxruntime", "model.onnx", "discs", "regression"), encoding="utf-8")
    write_model(folder / "export.json", rec)
    return project, exp, rec


def test_a_regression_export_shows_its_checks_in_target_units(ctx, page_factory):
    """Regression: the form offers every format and INT8 with its calibration; 'best' is the lowest
    validation MAE; the validation panel lists each target's differences with its unit and the
    MAE under both; no decisions to agree on."""
    project, exp, rec = regression_export(ctx.workspace)
    page = page_factory()
    ctx.open_project(project)
    assert page.stack.currentWidget() is page.main and page.experiment.id == exp.id
    form = page.form
    assert form.checkpoint.itemText(0) == "best (lowest validation MAE)"
    assert [form.format.itemData(i) for i in range(form.format.count())] == ["onnx", "torchscript", "openvino"]
    form.precision.setCurrentIndex(form.precision.findData("int8"))
    assert form.quantization.isEnabled() and form.calibration.isEnabled() and form.export_button.isEnabled()
    hist = page.history.model
    assert hist.index(0, 2).data() == "ready" and hist.index(0, 4).data() == "7.60e-06"
    assert hist.index(0, 5).data() == ""  # a regression decides nothing
    d = page.details
    assert "READY" in d.title.text() and d.save_button.isEnabled()
    rows = [[d.validation.item(r, c).text() for c in range(4)] for r in range(d.validation.rowCount())]
    assert rows[1] == ["radius: max difference", "7.60e-06 px", "at most 0.011 px", "✓ pass"]
    assert rows[2] == ["brightness: max difference", "1.20e-07", "at most 2.50e-04", "✓ pass"]
    assert rows[3][:3] == ["radius: max difference via metadata", "3.80e-06 px", "at most 0.22 px"]
    assert rows[5][:3] == ["MAE increase", "-1.10e-07", "at most 0.062"]
    assert rows[6][:2] == ["MAE (PyTorch -> exported)", "2.823 -> 2.823"]
    assert "Validation</b> on 20 images (10 validation, 10 test)" in d.validation_title.text()
    text = d.snippet.toPlainText()
    assert text.startswith('"""Predict values (regression) for images with discs') and 'OUTPUT = "values"' in text
    assert 'meta["targets"]' in text and "decide" not in text


def test_prerequisites_say_what_to_do(ctx, page_factory):
    page = page_factory()
    assert page.stack.currentWidget() is page.panel and "Open or create a project first" in page.panel.text.text()
    empty = ProjectService(ctx.workspace).create("Empty", "classification", classes=["a"])
    ctx.open_project(empty)
    assert "Export needs a trained model" in page.panel.title.text()
    assert page.panel.button.text() == "Go to the Training page"
    seg = ProjectService(ctx.workspace).create("Masks", "instance_segmentation", classes=["a"])
    ctx.open_project(seg)
    assert "not available for this task yet" in page.panel.title.text()


def test_form_offers_what_each_format_can_do(ctx, page_factory, monkeypatch):
    project, exp = trained_experiment(ctx.workspace)
    page = page_factory()
    ctx.open_project(project)
    form = page.form
    assert page.stack.currentWidget() is page.main and page.experiment.id == exp.id
    assert [form.checkpoint.itemData(i) for i in range(form.checkpoint.count())] == ["best"]
    assert [form.format.itemText(i) for i in range(form.format.count())] == ["ONNX", "TorchScript", "OpenVINO IR"]
    form.format.setCurrentIndex(form.format.findData("torchscript"))
    assert [form.precision.itemData(i) for i in range(form.precision.count())] == ["fp32"]
    assert not form.opset.isEnabled() and not form.dynamic.isEnabled()
    form.format.setCurrentIndex(form.format.findData("openvino"))
    assert [form.precision.itemData(i) for i in range(form.precision.count())] == ["fp32", "fp16", "int8"]
    assert form.opset.isEnabled() and form.dynamic.isEnabled() and not form.quantization.isEnabled()
    form.precision.setCurrentIndex(form.precision.findData("int8"))
    assert form.quantization.isEnabled() and form.calibration.isEnabled()
    assert "calibrated on training images" in form.help.text()
    form.quantization.setCurrentIndex(form.quantization.findData("dynamic"))
    assert not form.calibration.isEnabled() and form.export_button.isEnabled()
    # a format whose package is missing is offered greyed out, with the reason
    import studio_desktop.gui.pages.export.controller as controller

    monkeypatch.setattr(controller, "missing_package",
                        lambda f: "needs the Python package 'openvino'" if f == "openvino" else None)
    form.set_formats(page.controller.formats())
    i = form.format.findData("openvino")
    assert not form.format.model().item(i).isEnabled()
    assert form.format.itemData(i, 3) == "needs the Python package 'openvino'"  # ToolTipRole


def test_exports_are_listed_with_their_numbers_and_snippet(ctx, page_factory, tmp_path):
    project, exp = trained_experiment(ctx.workspace)
    put_export(ctx.workspace, project, exp, "20260101-100000-onnx-fp32-aaaa")
    put_export(ctx.workspace, project, exp, "20260101-110000-openvino-int8-bbbb", fmt="openvino", precision="int8")
    put_export(ctx.workspace, project, exp, "20260101-120000-onnx-fp32-cccc", status="failed")
    page = page_factory()
    ctx.open_project(project)
    model = page.experiments.model
    assert model.index(model.row_of(exp.id), 5).data() == "2 ready, 1 failed"
    hist = page.history.model
    assert [hist.index(r, 1).data() for r in range(3)] == ["ONNX FP32", "OpenVINO IR INT8 (static)", "ONNX FP32"]
    assert [hist.index(r, 2).data() for r in range(3)] == ["failed", "ready", "ready"]
    assert hist.index(0, 5).data() == "60 %" and hist.index(1, 5).data() == "100 %"
    # the failed one (newest) is selected first: its reason, its failing check, no Save as…
    d = page.details
    assert "FAILED" in d.title.text() and "validation failed: max logit difference 0.8" in d.facts.text()
    assert d.validation.item(1, 3).text() == "✗ FAIL" and not d.save_button.isEnabled()
    page.history.table.selectRow(1)
    assert "READY" in d.title.text() and d.save_button.isEnabled()
    rows = [[d.validation.item(r, c).text() for c in range(4)] for r in range(d.validation.rowCount())]
    assert rows[1] == ["max logit difference", "1.20e-06", "at most 0.004", "✓ pass"]
    assert rows[2] == ["decisions agreeing with PyTorch", "100 %", "at least 98 %", "✓ pass"]
    assert rows[3][:2] == ["accuracy (PyTorch -> exported)", "0.950 -> 0.950"]
    assert "Validation</b> on 40 images (40 validation)" in d.validation_title.text()
    assert "accuracy 0.950 (FP32) -> 0.940 (-0.010)" in d.change.text() and d.change.isVisibleTo(page)
    lat = [[d.latency.item(r, c).text() for c in range(5)] for r in range(d.latency.rowCount())]
    assert lat == [["PyTorch eager", "FP32", "2.00", "900 (batch 8)", "baseline"],
                   ["ONNX Runtime", "INT8", "0.50", "1900", "4.00x"]]
    assert "2 thread(s)" in d.latency_note.text()
    # the snippet: shown, copied, saved elsewhere pointing at the new file name
    assert 'with_name("model.xml")' in d.snippet.toPlainText()
    assert page.copy_snippet() == d.snippet.toPlainText() == QGuiApplication.clipboard().text()
    page.save_dialog = lambda suggested, suffix: str(tmp_path / "out" / "inspector")
    written = page.save_as()
    assert [p.name for p in written] == ["inspector.xml", "inspector.bin", "predict.py"]
    assert 'with_name("inspector.xml")' in (tmp_path / "out" / "predict.py").read_text()
    assert (tmp_path / "out" / "inspector.bin").read_bytes() == b"weights"
    # Delete (without the question): gone from the list and the disk
    assert page.delete_selected(confirm=False)
    assert [r.id for r in ExportService(ctx.workspace, project.id, exp.id).list()] == [
        "20260101-120000-onnx-fp32-cccc", "20260101-100000-onnx-fp32-aaaa"]
    assert page.history.model.rowCount() == 2


def test_export_job_is_followed_to_the_new_export(ctx, page_factory, monkeypatch, qtbot):
    """Export starts `worker export` with the form's options; its events (played here) drive the
    progress and Cancel; at the end the new export is listed and selected."""
    import studio_desktop.gui.jobs as jobs

    project, exp = trained_experiment(ctx.workspace)
    started = []
    monkeypatch.setattr(jobs, "spawn_detached", lambda program, args, cwd, err: started.append(args) or os.getpid())
    page = page_factory()
    ctx.open_project(project)
    form = page.form
    form.format.setCurrentIndex(form.format.findData("onnx"))
    form.precision.setCurrentIndex(form.precision.findData("int8"))
    form.calibration.setValue(32)
    form.dynamic.setChecked(True)
    job = page.export()
    assert job is not None and job.kind == "export" and ctx.jobs.job_for(exp.id, "export") is job
    args = started[0]
    export_id = args[args.index("--export-id") + 1]
    i = args.index("export")
    assert args[i - 1] == "worker" and args[i + 1:i + 3] == [project.id, exp.id]
    for flag, value in (("--format", "onnx"), ("--precision", "int8"), ("--quantization", "static"),
                        ("--calibration-images", "32"), ("--checkpoint", "best"), ("--validation-images", "64")):
        assert args[args.index(flag) + 1] == value
    assert "--dynamic-batch" in args and "--parent-pid" in args
    assert not form.export_button.isEnabled() and form.cancel_button.isEnabled()
    svc = ExportService(ctx.workspace, project.id, exp.id)
    events = svc.job_folder(export_id) / "events.jsonl"
    with events.open("a") as fh:
        fh.write(json.dumps({"event": "started", "pid": os.getpid()}) + "\n")
        fh.write(json.dumps({"event": "progress", "step": 5, "total": 10, "message": "validating 2/5"}) + "\n")
    qtbot.waitUntil(lambda: form.progress_text.text() == "validating 2/5", timeout=5000)
    assert form.progress.value() == 500
    form.cancel_button.click()
    assert (svc.job_folder(export_id) / "STOP").exists()  # the worker's stop request
    put_export(ctx.workspace, project, exp, export_id, precision="int8")
    with events.open("a") as fh:
        fh.write(json.dumps({"event": "completed", "summary": {"export_id": export_id}}) + "\n")
    qtbot.waitUntil(lambda: not job.is_running, timeout=5000)
    qtbot.waitUntil(lambda: page.history.selected_id() == export_id, timeout=5000)
    assert "ready to use" in form.status.text() and form.export_button.isEnabled()
    assert "READY" in page.details.title.text()


def test_a_failed_job_shows_its_one_line_reason(ctx, page_factory, monkeypatch, qtbot):
    import studio_desktop.gui.jobs as jobs

    project, exp = trained_experiment(ctx.workspace)
    monkeypatch.setattr(jobs, "spawn_detached", lambda *a: os.getpid())
    page = page_factory()
    ctx.open_project(project)
    job = page.export()
    folder = job.folder
    with (folder / "events.jsonl").open("a") as fh:
        fh.write(json.dumps({"event": "failed", "error": "/x/best.ckpt: cannot read the checkpoint (damaged)",
                             "hint": "train again, or choose another checkpoint"}) + "\n")
    qtbot.waitUntil(lambda: not job.is_running, timeout=5000)
    assert "/x/best.ckpt: cannot read the checkpoint (damaged)" in page.form.status.text()
    assert "train again" in page.form.status.text() and page.history.model.rowCount() == 0


@pytest.mark.slow
@pytest.mark.ml
def test_real_export_from_the_page(qtbot, ctx, page_factory):
    """Train tiny_cnn with the real worker, then Export (TorchScript) from the page: the real
    `worker export` writes a ready export that the page lists and shows."""
    import subprocess

    from ml.ml_helpers import make_tiny_project, tiny_config, worker_env  # noqa: I001

    project, _ = make_tiny_project(ctx.workspace, per_class=6)
    svc = ExperimentService(ctx.workspace, project.id)
    exp = svc.create(tiny_config(epochs=1, device="cpu"), "tiny")
    train = subprocess.run([sys.executable, "-m", "studio_desktop", "--workspace", str(ctx.workspace.root),
                            "worker", "train", project.id, exp.id], env=worker_env(), capture_output=True,
                           text=True, timeout=300)
    assert train.returncode == 0, train.stderr[-2000:]
    page = page_factory()
    ctx.open_project(project)
    qtbot.waitUntil(lambda: page.experiment is not None and page.experiment.id == exp.id)
    page.form.format.setCurrentIndex(page.form.format.findData("torchscript"))
    page.form.validation.setValue(8)
    job = page.export()
    assert job is not None
    try:
        qtbot.waitUntil(lambda: not job.is_running, timeout=240000)
        assert job.state == "completed", f"{job.state} {job.error} {job.hint}"
        qtbot.waitUntil(lambda: page.history.model.rowCount() == 1, timeout=10000)
        rec = page.history.selected()
        assert rec.ready and rec.format == "torchscript" and rec.validation.images == 6
        assert page.details.latency.rowCount() == 2 and "import torch" in page.details.snippet.toPlainText()
    finally:
        if job.is_running and job.pid:
            os.kill(job.pid, signal.SIGKILL)


def detection_export(ws, export_id="20260102-110000-onnx-fp32-eeee"):
    """An object detection project (rbc, wbc), a trained experiment and a ready ONNX export whose
    validation pairs boxes with PyTorch's (numbers as a real export of the teaching detector gave)."""
    project = ProjectService(ws).create("Cells", "object_detection", classes=["rbc", "wbc"])
    svc = ExperimentService(ws, project.id)
    exp = svc.create(defaults_for("object_detection").model_copy(update={"model": "tiny_fcos", "input_size": 128}),
                     name="cells")
    ckpt = svc.checkpoint(exp.id, "best")
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"weights")
    exp = svc.update(exp.id, status="completed")
    checks = [Check(name="metadata read back as written", value=0, limit=0, kind="max", passed=True),
              Check(name="detections paired with PyTorch's", value=1.0, limit=0.99, kind="min", passed=True,
                    unit="share", help="same input tensors: PyTorch kept 800, the file 800"),
              Check(name="max box difference", value=7.6e-6, limit=0.128, kind="max", passed=True, unit="px"),
              Check(name="max score difference", value=1.3e-7, limit=0.001, kind="max", passed=True),
              Check(name="detections paired via metadata", value=0.97, limit=0.9, kind="min", passed=True,
                    unit="share"),
              Check(name="max box difference via metadata", value=0.41, limit=2.56, kind="max", passed=True,
                    unit="px"),
              Check(name="max score difference via metadata", value=0.012, limit=0.05, kind="max", passed=True),
              Check(name="images with another count of detections", value=0.125, limit=0.2, kind="max",
                    passed=True, unit="share"),
              Check(name="mAP@0.5 drop", value=0.001, limit=0.02, kind="max", passed=True)]
    rec = ExportRecord(
        id=export_id, project_id=project.id, experiment_id=exp.id, experiment_name=exp.name, model="tiny_fcos",
        task="object_detection", status="ready", format="onnx", opset=18,
        exporter="torch.onnx (TorchScript-based)", file="model.onnx", files=["model.onnx", "predict.py"],
        file_size=1_251_000, sha256="ab" * 32, input_shape=[1, 3, 128, 128], snippet="predict.py",
        checkpoint={"which": "best", "sha256": "cd" * 32},
        outputs={"detections": "N x K x 6 rows x1, y1, x2, y2, score, class"},
        validation=Validation(passed=True, images=8, subsets={"val": 8}, max_abs_diff=7.6e-6, compared="box (px)",
                              agreement=0.97, metric="mAP@0.5", metric_pytorch=0.046, metric_exported=0.045,
                              checks=checks),
        latency=Latency(threads=2, warmup=5, runs=30, input_size=128, device="CPU: test",
                        rows=[LatencyRow(runtime="PyTorch eager", median_ms=22.5, throughput=60, batch=8),
                              LatencyRow(runtime="ONNX Runtime", median_ms=4.9, throughput=190, speedup=4.6)]))
    folder = ExportService(ws, project.id, exp.id).folder(export_id)
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(b"model bytes")
    (folder / "predict.py").write_text(render("onnxruntime", "model.onnx", "cells", "object_detection"),
                                       encoding="utf-8")
    write_model(folder / "export.json", rec)
    return project, exp, rec


def test_a_detection_export_offers_what_validates_and_shows_its_paired_boxes(ctx, page_factory, qtbot):
    """Detection: FP32 (and OpenVINO FP16) with the reason, no dynamic batch (the file runs one image per call); the
    validation panel lists paired boxes with their pixel differences and mAP@0.5 under both; the
    snippet draws boxes."""
    project, exp, rec = detection_export(ctx.workspace)
    page = page_factory()
    ctx.open_project(project)
    assert page.stack.currentWidget() is page.main and page.experiment.id == exp.id
    form = page.form
    for fmt, offered, note in (("onnx", ["fp32"], "No FP16 or INT8 here: detectors export in FP32"),
                               ("openvino", ["fp32", "fp16"], "No INT8 here: detectors export in FP32, and with "
                                                              "FP16 weights in OpenVINO"),
                               ("torchscript", ["fp32"], "")):
        form.format.setCurrentIndex(form.format.findData(fmt))
        assert [form.precision.itemData(i) for i in range(form.precision.count())] == offered
        assert not form.dynamic.isEnabled() and not form.dynamic.isChecked()
        assert note in form.precision.toolTip() and ("here:" in form.precision.toolTip()) == bool(note)
    form.format.setCurrentIndex(form.format.findData("onnx"))
    assert "one image per call" in form.dynamic.toolTip() and form.export_button.isEnabled()
    assert form.settings().precision == "fp32" and form.settings().dynamic_batch is False
    d = page.details
    assert "READY" in d.title.text()
    rows = [[d.validation.item(r, c).text() for c in range(4)] for r in range(d.validation.rowCount())]
    assert rows[1][:3] == ["detections paired with PyTorch's", "100 %", "at least 99 %"]
    assert rows[2][:3] == ["max box difference", "7.60e-06 px", "at most 0.128 px"]
    assert rows[5][:3] == ["max box difference via metadata", "0.41 px", "at most 2.56 px"]
    assert any(r[0] == "mAP@0.5 (PyTorch -> exported)" and r[1] == "0.046 -> 0.045" for r in rows)
    text = d.snippet.toPlainText()
    assert text.startswith('"""Detect objects in images with cells') and 'OUTPUT = "detections"' in text
    assert "def draw(" in text and "def detections(" in text
    qtbot.wait(50)  # the layout follows the new texts on the next event-loop turn
    for label in (d.title, d.facts, d.change, d.latency_note):  # ten checks push nothing under another
        if not label.isHidden() and label.text():
            assert label.height() >= label.heightForWidth(label.width()) - 1, label.text()[:40]
    if os.path.isdir("/work/notes"):
        page.grab().save("/work/notes/export_detection.png")
    # an older classification project still gets every precision
    project2, _ = trained_experiment(ctx.workspace)
    ctx.open_project(project2)
    form.format.setCurrentIndex(form.format.findData("onnx"))
    assert [form.precision.itemData(i) for i in range(form.precision.count())] == ["fp32", "fp16", "int8"]
    assert form.dynamic.isEnabled()
