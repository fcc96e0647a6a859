"""Export page with an anomaly model: FP32 only, with the reason, the validation panel
with scores, maps and verdicts against the checkpoint, the threshold in the facts, the snippet that draws heat
maps, and a warning before an export that would pass ONNX's 2 GB limit with the coreset ratio that fits.

The export record is written by hand (no torch in the GUI process) with the numbers a real export of
PatchCore on ``mvtec_hazelnut`` gave (benchmarks/anomaly_export.py)."""

from __future__ import annotations

import os

import pytest

from studio_desktop.core.experiments import ExperimentService, defaults_for
from studio_desktop.core.export_snippet import render
from studio_desktop.core.exports import Check, ExportRecord, ExportService, Latency, LatencyRow, Validation
from studio_desktop.core.projects import ProjectService
from studio_desktop.core.store import write_model

pytestmark = pytest.mark.gui


@pytest.fixture
def page(qtbot, ctx):
    from studio_desktop.gui.pages.export import ExportPage

    page = ExportPage(ctx)
    qtbot.addWidget(page)
    page.resize(1400, 900)
    page.show()
    return page


def anomaly_export(ws, export_id="20260102-110000-onnx-fp32-aaaa"):
    project = ProjectService(ws).create("Hazelnuts", "anomaly_detection")
    svc = ExperimentService(ws, project.id)
    cfg = defaults_for("anomaly_detection").model_copy(update={"model": "patchcore_resnet18", "input_size": 256,
                                                               "task_settings": {"coreset_ratio": 0.1}})
    exp = svc.create(cfg, name="patchcore")
    ckpt = svc.checkpoint(exp.id, "best")
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"weights")
    exp = svc.update(exp.id, status="completed")
    checks = [Check(name="metadata read back as written", value=0, limit=0, kind="max", passed=True),
              Check(name="max score difference", value=2.4e-6, limit=3.1e-3, kind="max", passed=True),
              Check(name="max map difference", value=1.5e-3, limit=4.6e-3, kind="max", passed=True),
              Check(name="verdicts agreeing with PyTorch", value=1.0, limit=1.0, kind="min", passed=True, unit="share"),
              Check(name="heat follows the display range", value=3e-8, limit=1e-4, kind="max", passed=True),
              Check(name="verdicts via metadata", value=1.0, limit=0.98, kind="min", passed=True, unit="share"),
              Check(name="max score difference via metadata", value=0.021, limit=0.09, kind="max", passed=True),
              Check(name="image AUROC drop", value=0.0, limit=0.02, kind="max", passed=True)]
    meta = {"task": "anomaly_detection", "threshold": 3.12, "display_range": [2.66, 3.58], "operating_point": None,
            "threshold_source": "default: at most 5 % of the normal val images flagged"}
    rec = ExportRecord(
        id=export_id, project_id=project.id, experiment_id=exp.id, experiment_name=exp.name,
        model="patchcore_resnet18", task="anomaly_detection", status="ready", format="onnx", opset=18,
        exporter="torch.onnx (TorchScript-based)", file="model.onnx", files=["model.onnx", "predict.py"],
        file_size=12_400_000, sha256="ab" * 32, input_shape=[1, 3, 256, 256], snippet="predict.py",
        checkpoint={"which": "best", "sha256": "cd" * 32}, metadata=meta,
        outputs={"score": "raw image score (N)", "anomalous": "N booleans", "map": "raw anomaly map",
                 "heat": "the map on the display range"},
        validation=Validation(passed=True, images=23, subsets={"val": 12, "test": 11}, max_abs_diff=2.4e-6,
                              compared="score", agreement=1.0, metric="image AUROC", metric_pytorch=0.93,
                              metric_exported=0.93, checks=checks),
        latency=Latency(threads=2, warmup=3, runs=20, input_size=256, device="CPU: test",
                        rows=[LatencyRow(runtime="PyTorch eager", median_ms=61.0, throughput=17, batch=8),
                              LatencyRow(runtime="ONNX Runtime", median_ms=38.0, throughput=27, speedup=1.6)]))
    folder = ExportService(ws, project.id, exp.id).folder(export_id)
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(b"model bytes")
    (folder / "predict.py").write_text(render("onnxruntime", "model.onnx", "patchcore", "anomaly_detection"),
                                       encoding="utf-8")
    write_model(folder / "export.json", rec)
    return project, svc, exp, rec


def test_an_anomaly_export_shows_its_checks_and_warns_before_passing_2_gb(ctx, page, qtbot):
    project, svc, exp, rec = anomaly_export(ctx.workspace)
    ctx.open_project(project)
    assert page.stack.currentWidget() is page.main and page.experiment.id == exp.id
    form = page.form
    for fmt, offered in (("onnx", ["fp32"]), ("openvino", ["fp32"]), ("torchscript", ["fp32"])):
        form.format.setCurrentIndex(form.format.findData(fmt))
        assert [form.precision.itemData(i) for i in range(form.precision.count())] == offered
    assert "anomaly models export in FP32" in form.precision.toolTip() or fmt == "torchscript"
    d = page.details
    assert "READY" in d.title.text()
    assert "threshold 3.12 on the raw score (default: at most 5 % of the normal val images flagged)" in d.facts.text()
    rows = [[d.validation.item(r, c).text() for c in range(2)] for r in range(d.validation.rowCount())]
    names = [r[0] for r in rows]
    assert names[:4] == ["metadata read back as written", "max score difference", "max map difference",
                         "verdicts agreeing with PyTorch"] and rows[3][1] == "100 %"
    text = d.snippet.toPlainText()
    assert text.startswith('"""Find anomalies in images') and 'OUTPUT = "score"' in text and "def heat_map(" in text
    qtbot.wait(50)
    if os.path.isdir("/work/notes"):
        page.grab().save("/work/notes/anomaly-export.png")
    # a checkpoint past 2 GB (a huge PatchCore memory bank; sparse here): ONNX and OpenVINO warn, with the
    # coreset ratio that would fit; TorchScript does not
    ckpt = svc.checkpoint(exp.id, "best")
    with open(ckpt, "wb") as f:
        f.truncate(int(2.2 * 1024 ** 3))
    form.format.setCurrentIndex(form.format.findData("onnx"))
    page._form_changed()
    status = form.status.text()
    assert "cannot pass 2 GB" in status and "coreset ratio of about 0.0793" in status and form.export_button.isEnabled()
    qtbot.wait(50)  # the layout follows the new text on the next event-loop turn
    assert form.status.height() >= form.status.heightForWidth(form.status.width()) - 1
    if os.path.isdir("/work/notes"):
        page.grab().save("/work/notes/anomaly-export-2gb-warning.png")
    form.format.setCurrentIndex(form.format.findData("torchscript"))
    page._form_changed()
    assert "2 GB" not in form.status.text()
