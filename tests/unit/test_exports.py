"""The torch-free side of exports: records on disk, listing, deleting, cleaning up, the texts."""

from __future__ import annotations

import errno
import json
import os
import re
import time

import pytest

from studio_desktop.core import export_report
from studio_desktop.core.errors import InvalidInput, NotFound
from studio_desktop.core.exports import (
    FORMATS,
    Check,
    ExportRecord,
    ExportService,
    Latency,
    LatencyRow,
    PrecisionChange,
    Validation,
    check_free_space,
    check_options,
    disk_full_error,
    estimate_bytes,
    missing_package,
    new_export_id,
    worker_pid,
)
from studio_desktop.core.store import write_model


def record(export_id: str, status: str = "ready", **kw) -> ExportRecord:
    checks = [Check(name="max logit difference", value=2e-6, limit=1e-3, kind="max", passed=status == "ready"),
              Check(name="decisions agreeing with PyTorch", value=1.0, limit=0.98, kind="min", passed=True)]
    base = dict(id=export_id, project_id="p", experiment_id="e", experiment_name="tiny", model="resnet18",
                status=status, format="onnx", file="model.onnx", files=["model.onnx", "predict.py"],
                file_size=44_700_000, sha256="ab" * 32, input_shape=[1, 3, 224, 224], opset=18,
                exporter="torch.onnx (dynamo)", snippet="predict.py",
                error=None if status == "ready" else "validation failed: max logit difference 0.5 above 0.001",
                validation=Validation(passed=status == "ready", images=64, subsets={"val": 40, "test": 24},
                                      max_abs_diff=2e-6, agreement=1.0, metric="accuracy", metric_pytorch=0.953,
                                      metric_exported=0.953, checks=checks),
                latency=Latency(threads=4, warmup=5, runs=30, input_size=224, device="CPU: test",
                                rows=[LatencyRow(runtime="PyTorch eager", median_ms=20.0, throughput=60, batch=8),
                                      LatencyRow(runtime="ONNX Runtime", median_ms=10.0, throughput=100,
                                                 speedup=2.0)]))
    base.update(kw)
    return ExportRecord(**base)


def put(svc: ExportService, rec: ExportRecord) -> None:
    svc.folder(rec.id).mkdir(parents=True)
    (svc.folder(rec.id) / "model.onnx").write_bytes(b"onnx")
    write_model(svc.folder(rec.id) / "export.json", rec)


@pytest.fixture
def svc(workspace):
    return ExportService(workspace, "p", "e")


def test_list_ready_get_and_unreadable_folders(svc):
    assert svc.list() == []
    put(svc, record("20260101-000000-onnx-fp32-aaaa"))
    put(svc, record("20260102-000000-onnx-fp32-bbbb", status="failed"))
    svc.staging("x").mkdir()  # an export being built: not listed
    (svc.root / "broken").mkdir()
    (svc.root / "broken" / "export.json").write_text("{not json")
    assert [r.id for r in svc.list()] == ["20260102-000000-onnx-fp32-bbbb", "20260101-000000-onnx-fp32-aaaa"]
    assert [r.id for r in svc.ready()] == ["20260101-000000-onnx-fp32-aaaa"]
    assert len(svc.problems) == 1 and "is not valid JSON" in svc.problems[0][1]
    assert svc.get("20260101-000000-onnx-fp32-aaaa").title == "ONNX FP32"
    with pytest.raises(NotFound):
        svc.get("nope")
    with pytest.raises(InvalidInput):
        svc.folder("../../escape")


def test_delete_removes_the_folder_and_its_job_files(svc):
    rec = record("a1")
    put(svc, rec)
    svc.job_folder("a1").mkdir(parents=True)
    (svc.job_folder("a1") / "events.jsonl").write_text("{}\n")
    svc.delete("a1")
    assert svc.list() == [] and not svc.job_folder("a1").exists() and not list(svc.root.glob(".deleting-*"))
    with pytest.raises(NotFound):
        svc.delete("a1")


def test_cleanup_removes_what_dead_exports_left_and_keeps_live_ones(svc):
    dead, live, young = svc.staging("dead"), svc.staging("live"), svc.staging("young")
    for folder in (dead, live, young):
        folder.mkdir(parents=True)
    for name, pid in (("dead", 2 ** 22 + 12345), ("live", os.getpid())):
        svc.job_folder(name).mkdir(parents=True)
        (svc.job_folder(name) / "events.jsonl").write_text(json.dumps({"event": "started", "pid": pid}) + "\n")
    (svc.root / ".deleting-x-1234").mkdir()
    removed = svc.cleanup()
    assert sorted(removed) == [".deleting-x-1234", ".staging-dead"]
    assert live.exists() and young.exists() and svc.running() == ["live"]
    old = time.time() - 3600
    os.utime(young, (old, old))
    assert svc.cleanup() == [".staging-young"]
    # job folders: kept while their export exists or is young; a stopped export's goes when old
    put(svc, record("kept"))
    for name in ("kept", "stopped"):
        svc.job_folder(name).mkdir(parents=True)
        os.utime(svc.job_folder(name), (old, old))
    assert svc.cleanup() == [".jobs/stopped"]
    assert svc.job_folder("kept").is_dir() and svc.job_folder("live").is_dir()


def test_worker_pid_reads_the_last_start(tmp_path):
    path = tmp_path / "events.jsonl"
    assert worker_pid(path) is None
    path.write_text('{"event": "started", "pid": 11}\nnoise\n{"event": "progress"}\n{"event": "started", "pid": 12}\n')
    assert worker_pid(path) == 12


def test_options_are_checked_in_one_line():
    check_options("classification", "onnx", "int8")
    with pytest.raises(InvalidInput, match="TorchScript export supports fp32, not fp16"):
        check_options("classification", "torchscript", "fp16")
    with pytest.raises(InvalidInput, match="unknown export format 'tflite'; choose one of: onnx, torchscript, openvino"):
        check_options("classification", "tflite", "fp32")
    with pytest.raises(InvalidInput, match="exporting instance segmentation models is not available"):
        check_options("instance_segmentation", "onnx", "fp32")
    check_options("object_detection", "onnx", "fp32")
    check_options("object_detection", "openvino", "fp32")
    check_options("object_detection", "openvino", "fp16")
    for fmt, precision in (("onnx", "fp16"), ("onnx", "int8"), ("openvino", "int8")):
        title = {"onnx": "ONNX", "openvino": "OpenVINO IR"}[fmt]
        with pytest.raises(InvalidInput, match=f"{precision} is not available for object detection models in "
                                               f"{title}: detectors export in FP32, and with FP16 weights in "
                                               "OpenVINO"):
            check_options("object_detection", fmt, precision)


def test_missing_package_names_it_and_how_to_install(monkeypatch):
    import importlib.util

    assert missing_package("onnx") is None
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "onnxruntime" else real(n, *a))
    why = missing_package("openvino")
    assert why == ("OpenVINO IR export needs the Python package 'onnxruntime', which is not installed in this "
                   "installation (pip install openvino)")
    assert missing_package("torchscript") is None


def test_disk_space(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    ckpt = tmp_path / "best.ckpt"
    ckpt.write_bytes(b"x" * 1000)
    assert estimate_bytes(ckpt, "onnx", "fp32") < estimate_bytes(ckpt, "openvino", "int8")
    check_free_space(tmp_path / "not" / "yet", 1000)  # an absent folder is judged by its parent's disk
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(1, 1, 5_000_000))
    with pytest.raises(InvalidInput) as info:
        check_free_space(tmp_path, 50_000_000)
    assert str(info.value) == (f"{tmp_path}: not enough free disk space for the export: 5 MB free, about 50 MB "
                               "needed (free some space and export again)")
    assert "disk is full" in str(disk_full_error(OSError(errno.ENOSPC, "full"), tmp_path))
    assert disk_full_error(OSError(errno.EACCES, "denied"), tmp_path) is None


def test_ids_are_unique_and_readable():
    a, b = new_export_id("onnx", "int8"), new_export_id("onnx", "int8")
    assert a != b and "-onnx-int8-" in a and a[:8].isdigit()


def test_report_texts():
    rec = record("r1", precision="int8", quantization="static", calibration_images=64,
                 precision_change=PrecisionChange(metric="accuracy", metric_fp32=0.953, metric_exported=0.945,
                                                  change=-0.008, agreement_with_fp32=0.97, latency_fp32_ms=10.0,
                                                  latency_ms=3.4, speedup=2.94, size_fp32=44_700_000,
                                                  size=11_300_000))
    assert rec.title == "ONNX INT8 (static)"
    assert export_report.verdict(rec) == "ready: passed its validation on 64 images"
    assert export_report.subsets_text(rec) == "40 validation, 24 test"
    assert export_report.validation_rows(rec)[0] == ("max logit difference", "2.00e-06", "at most 0.001", True, "")
    assert export_report.validation_rows(rec)[-1][:2] == ("accuracy (PyTorch -> exported)", "0.953 -> 0.953")
    assert export_report.latency_rows(rec) == [("PyTorch eager", "FP32", "20.00", "60 (batch 8)", "baseline"),
                                               ("ONNX Runtime", "FP32", "10.00", "100", "2.00x")]
    assert export_report.precision_text(rec) == ("accuracy 0.953 (FP32) -> 0.945 (-0.008); 97.0% of decisions as "
                                                 "FP32; 2.94x the FP32 speed (10.00 -> 3.40 ms); 25% of the FP32 size")
    text = export_report.report(rec, __import__("pathlib").Path("/x"))
    assert "ok   max logit difference" in text and "try it: python /x/predict.py IMAGE" in text
    failed = record("r2", status="failed")
    assert export_report.verdict(failed).startswith("failed on 64 images: validation failed")
    assert "FAIL max logit difference" in export_report.report(failed, __import__("pathlib").Path("/x"))
    assert export_report.size_text(44_700_000) == "44.7 MB" and export_report.number(None) == "n/a"


def test_report_texts_of_a_regression_export():
    """Each target's check with its unit, the MAE under both and against FP32; no decisions."""
    checks = [Check(name="radius: max difference", value=7.63e-6, limit=0.011, kind="max", passed=True, unit="px"),
              Check(name="brightness: max difference via metadata", value=0.02, limit=0.0124, kind="max",
                    passed=False),
              Check(name="MAE increase", value=-1.08e-7, limit=0.0621, kind="max", passed=True)]
    rec = record("g1", status="failed", task="regression",
                 error="validation failed: brightness: max difference via metadata 0.02 above the limit 0.0124",
                 validation=Validation(passed=False, images=20, subsets={"val": 10, "test": 10}, max_abs_diff=7.63e-6,
                                       compared="value", metric="MAE", metric_pytorch=2.823, metric_exported=2.8234,
                                       checks=checks),
                 precision="int8", quantization="static",
                 precision_change=PrecisionChange(metric="MAE", metric_fp32=2.914, metric_exported=2.916, change=0.002,
                                                  agreement_with_fp32=None, latency_fp32_ms=0.2, latency_ms=0.14,
                                                  speedup=1.43, size_fp32=400_000, size=130_000))
    rows = export_report.validation_rows(rec)
    assert rows[0][:4] == ("radius: max difference", "7.63e-06 px", "at most 0.011 px", True)
    assert rows[1][:4] == ("brightness: max difference via metadata", "0.02", "at most 0.0124", False)
    assert rows[-1][:2] == ("MAE (PyTorch -> exported)", "2.823 -> 2.823")
    assert export_report.precision_text(rec) == ("MAE 2.914 (FP32) -> 2.916 (+0.002); 1.43x the FP32 speed "
                                                 "(0.20 -> 0.14 ms); 32% of the FP32 size")
    text = export_report.report(rec, __import__("pathlib").Path("/x"))
    assert re.search(r"FAIL brightness: max difference via metadata +0\.02  at most 0\.0124\n", text)
    assert "ok   radius: max difference " in text and "try it" not in text
    assert export_report.metric_number(0.00042) == "4.20e-04" and export_report.metric_number(0.0) == "0.000"


def test_every_format_declares_what_the_gui_needs():
    for name, info in FORMATS.items():
        assert info.name == name and info.help and info.precisions[0] == "fp32" and info.file_name.startswith("model.")
