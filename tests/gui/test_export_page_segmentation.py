"""Export page with a semantic segmentation model: the form offers what segmentation files support, the
validation panel lists the per-pixel checks (logits on the same tensors, pixels given PyTorch's class
on the same tensors and through the metadata, mIoU under both), the history shows the share of pixels
agreeing, and the snippet is the one that writes mask PNGs. The record is written by hand (no torch
in the GUI process) with the numbers a real ONNX export of a Tiny U-Net on CamVid gave."""

from __future__ import annotations

import os

import pytest

from studio_desktop.core.experiments import ExperimentService, defaults_for
from studio_desktop.core.export_snippet import render
from studio_desktop.core.exports import Check, ExportRecord, ExportService, Latency, LatencyRow, Validation
from studio_desktop.core.projects import ProjectService
from studio_desktop.core.store import write_model

pytestmark = pytest.mark.gui

NAMES = ["sky", "building", "pole", "road", "pavement", "tree", "sign", "fence", "car", "pedestrian", "bicyclist",
         "void"]


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


def segmentation_export(ws, export_id="20261202-043000-onnx-fp32-5e65"):
    project = ProjectService(ws).create("Streets", "semantic_segmentation", classes=NAMES)
    svc = ExperimentService(ws, project.id)
    exp = svc.create(defaults_for("semantic_segmentation").model_copy(update={"model": "tiny_unet", "input_size": 128}),
                     name="streets")
    ckpt = svc.checkpoint(exp.id, "best")
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"weights")
    exp = svc.update(exp.id, status="completed")
    checks = [Check(name="metadata read back as written", value=0, limit=0, kind="max", passed=True),
              Check(name="max logit difference", value=4.47e-7, limit=0.0076, kind="max", passed=True),
              Check(name="pixels given PyTorch's class", value=1.0, limit=0.999, kind="min", passed=True, unit="share",
                    help="same input tensors: share of the 147,456 image pixels (letterbox padding excluded) whose "
                         "argmax class equals PyTorch's"),
              Check(name="pixels given PyTorch's class via metadata", value=0.998, limit=0.97, kind="min",
                    passed=True, unit="share"),
              Check(name="mIoU drop", value=0.0, limit=0.02, kind="max", passed=True)]
    rec = ExportRecord(
        id=export_id, project_id=project.id, experiment_id=exp.id, experiment_name=exp.name, model="tiny_unet",
        task="semantic_segmentation", status="ready", format="onnx", opset=18,
        exporter="torch.onnx (TorchScript-based)", file="model.onnx", files=["model.onnx", "predict.py"],
        file_size=1_947_000, sha256="ab" * 32, input_shape=[1, 3, 128, 128], snippet="predict.py",
        checkpoint={"which": "best", "sha256": "cd" * 32},
        outputs={"logits": "N x C x S x S raw class scores per pixel of the input"},
        validation=Validation(passed=True, images=12, subsets={"val": 12}, max_abs_diff=4.47e-7, compared="logit",
                              agreement=0.998, agreement_words="of pixels given PyTorch's class via metadata",
                              metric="mIoU", metric_pytorch=0.069, metric_exported=0.069, checks=checks),
        latency=Latency(threads=2, warmup=5, runs=20, input_size=128, device="CPU: test",
                        rows=[LatencyRow(runtime="PyTorch eager", median_ms=14.2, throughput=70, batch=8),
                              LatencyRow(runtime="ONNX Runtime", median_ms=6.1, throughput=164, speedup=2.33)]))
    folder = ExportService(ws, project.id, exp.id).folder(export_id)
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(b"model bytes")
    (folder / "predict.py").write_text(render("onnxruntime", "model.onnx", "streets", "semantic_segmentation"),
                                       encoding="utf-8")
    write_model(folder / "export.json", rec)
    return project, exp, rec


def test_a_segmentation_export_shows_its_pixel_checks_and_the_mask_snippet(ctx, page_factory, qtbot):
    project, exp, rec = segmentation_export(ctx.workspace)
    page = page_factory()
    ctx.open_project(project)
    assert page.stack.currentWidget() is page.main and page.experiment.id == exp.id
    form = page.form
    assert [form.format.itemData(i) for i in range(form.format.count())] == ["onnx", "torchscript", "openvino"]
    form.format.setCurrentIndex(form.format.findData("onnx"))
    assert form.export_button.isEnabled() and form.dynamic.isEnabled()
    hist = page.history.model
    assert hist.index(0, 2).data() == "ready" and hist.index(0, 5).data() == "99.8 %"
    d = page.details
    assert "READY" in d.title.text()
    rows = [[d.validation.item(r, c).text() for c in range(4)] for r in range(d.validation.rowCount())]
    assert rows[1][:3] == ["max logit difference", "4.47e-07", "at most 0.0076"]
    assert rows[2][:3] == ["pixels given PyTorch's class", "100 %", "at least 99.9 %"]
    assert rows[3][:3] == ["pixels given PyTorch's class via metadata", "99.8 %", "at least 97 %"]
    assert any(r[0] == "mIoU (PyTorch -> exported)" and r[1] == "0.069 -> 0.069" for r in rows)
    text = d.snippet.toPlainText()
    assert text.startswith('"""Segment images (a class for every pixel) with streets') and 'OUTPUT = "logits"' in text
    assert "def probabilities(" in text and "def write_masks(" in text and "NAME-mask.png" in text
    qtbot.wait(50)
    if os.path.isdir("/work/notes"):
        page.grab().save("/work/notes/export_segmentation.png")
