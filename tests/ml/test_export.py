"""Export end to end on a trained tiny model: files, metadata, validation that can fail, bad input.

One trained 3-class experiment (32 px colour images) is shared by the module; every test makes
its own exports (or its own broken experiments) and checks only those.
"""

from __future__ import annotations

import errno
import json
import shutil

import numpy as np
import pytest
from export_helpers import export, make_tiny_project, quiet_emitter, untrained_experiment
from ml_helpers import tiny_config

from studio_desktop.core.errors import InvalidInput
from studio_desktop.core.evaluation.operating_point import OperatingPoint, decide, save_operating_point
from studio_desktop.core.experiments import ExperimentService
from studio_desktop.core.exports import EXPORTABLE_TASKS, ExportService
from studio_desktop.core.exports import FORMATS as FORMAT_INFO
from studio_desktop.core.procs import StopFlag
from studio_desktop.core.workspace import Workspace
from studio_desktop.ml.checkpoint import file_sha256, load_trained
from studio_desktop.ml.export import metadata, snippet
from studio_desktop.ml.export.pipeline import ExportRequest, run_export
from studio_desktop.ml.export.registry import FORMATS
from studio_desktop.ml.export.runtime import load_exported
from studio_desktop.ml.export.tasks import TASK_EXPORTS

pytestmark = pytest.mark.ml


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(workspace, project, experiment) of a tiny_cnn trained for 3 epochs (val accuracy ~1)."""
    from studio_desktop.worker.train import run_training

    ws = Workspace.open(tmp_path_factory.mktemp("export-ws"))
    project, _ = make_tiny_project(ws)
    svc = ExperimentService(ws, project.id)
    exp = svc.create(tiny_config(epochs=3), name="tiny")
    assert run_training(ws, project.id, exp.id).status == "completed"
    yield ws, project, svc.get(exp.id)
    ws.close()


def _events(job_folder):
    return [json.loads(line) for line in (job_folder / "events.jsonl").read_text().splitlines()]


def test_registries_are_in_step():
    """The torch-free facts the GUI shows and the formats the worker runs are the same list."""
    assert list(FORMATS) == list(FORMAT_INFO)
    for name, module in FORMATS.items():
        assert module.NAME == name and module.FILE_NAME == FORMAT_INFO[name].file_name
        assert module.ANY_BATCH == FORMAT_INFO[name].any_batch
    assert set(TASK_EXPORTS) == set(EXPORTABLE_TASKS)


def test_onnx_export_writes_a_validated_self_describing_file(trained):
    import onnx

    ws, project, exp = trained
    out = export(ws, project, exp, format="onnx")
    assert out.status == "ready" and out.exit_code == 0, out.error
    rec, folder = out.record, out.folder
    svc = ExportService(ws, project.id, exp.id)
    assert folder == svc.folder(rec.id) and sorted(p.name for p in folder.iterdir()) == \
        ["export.json", "export.log", "model.onnx", "predict.py"]
    assert not list(svc.root.glob(".staging-*"))
    # export.json: what, from where, checked how, how fast
    ckpt = svc.root.parent / "checkpoints" / "best.ckpt"
    assert rec.checkpoint == {"which": "best", "file": str(ckpt), "sha256": file_sha256(ckpt)}
    assert rec.sha256 == file_sha256(folder / "model.onnx") and rec.file_size == (folder / "model.onnx").stat().st_size
    assert rec.input_shape == [1, 3, 32, 32] and rec.opset == 18 and "dynamo" in rec.exporter
    v = rec.validation
    assert v.passed and v.images == 12 and v.subsets == {"val": 12}
    assert v.max_abs_diff < 1e-4 and v.agreement == 1.0 and v.metric_pytorch == v.metric_exported >= 0.9
    assert [c.passed for c in v.checks] == [True] * 5
    assert [r.runtime for r in rec.latency.rows] == ["PyTorch eager", "ONNX Runtime"]
    assert rec.latency.rows[0].speedup is None and rec.latency.rows[1].speedup > 0 and rec.latency.threads == 1
    assert set(rec.timings) >= {"load_s", "export_s", "check_s", "validate_s", "latency_s", "total_s"}
    # the file describes itself: every documented key, as the record says
    model = onnx.load(str(folder / "model.onnx"))
    props = {p.key: p.value for p in model.metadata_props}
    assert set(props) == set(metadata.keys_of("classification"))
    assert json.loads(props["classes"]) == ["red", "green", "blue"] and props["experiment_id"] == exp.id
    assert props["checkpoint_sha256"] == rec.checkpoint["sha256"] and props["operating_point"] == "null"
    assert [o.name for o in model.graph.output] == ["logits", "probabilities"]
    onnx.checker.check_model(str(folder / "model.onnx"), full_check=True)
    # listed as ready; the job's events tell the story in order
    assert [r.id for r in svc.ready()] and rec.id in [r.id for r in svc.ready()]
    kinds = [e["event"] for e in _events(svc.job_folder(rec.id))]
    assert kinds[0] == "started" and kinds[-2:] == ["artifact", "completed"]
    messages = [e["message"] for e in _events(svc.job_folder(rec.id)) if e["event"] == "progress"]
    assert messages[:3] == ["loading the checkpoint", "exporting to ONNX (fp32)", "checking the file"]
    assert "validating 12/12" in messages and messages[-1] == "writing the export"


def test_metadata_round_trip_gives_pytorchs_predictions(trained):
    """A reader that knows only the file (its metadata) predicts what PyTorch predicts."""
    import torch

    ws, project, exp = trained
    out = export(ws, project, exp, format="onnx", dynamic_batch=True)
    assert out.status == "ready"
    model = load_exported(out.folder / "model.onnx")
    tm = load_trained(ws, project.id, exp.id, "best")
    assert model.format == "onnx" and model.task == "classification" and model.experiment_id == exp.id
    assert model.class_names == tm.class_names and model.class_ids == [c.id for c in tm.project.classes]
    assert model.metadata["classes"] == [{"id": c.id, "name": c.name} for c in tm.project.classes]
    assert model.preprocessing == tm.preprocessing and model.operating_point is None
    assert model.record is not None and model.record.id == out.record.id and model.runner.batch is None
    # every image of the project, through the metadata-only preprocessing (the snippet's) and the file
    reader = snippet.load_module(out.folder / "predict.py")
    _, meta = reader.load(str(out.folder / "model.onnx"))
    images = sorted((ws.project_dir(project.id) / "dataset" / "images").glob("*.png"))
    batch = np.stack([reader.preprocess(str(p), meta) for p in images])
    logits = model.run(batch)
    with torch.no_grad():
        ref = tm.model(torch.stack([tm.preprocessing.tensor(p) for p in images])).numpy()
    assert logits.shape == (30, 3) and np.abs(logits - ref).max() < 1e-4
    assert (logits.argmax(1) == ref.argmax(1)).all()
    assert (reader.decide(logits, meta)[0] == ref.argmax(1)).all()


def test_a_fixed_batch_export_runs_any_number_of_images(trained):
    ws, project, exp = trained
    out = export(ws, project, exp, format="openvino")
    assert out.status == "ready" and out.record.input_shape[0] == 1
    model = load_exported(out.folder)
    assert model.runner.batch == 1 and model.format == "openvino"
    x = np.random.default_rng(0).normal(size=(5, 3, 32, 32)).astype(np.float32)
    one_by_one = np.concatenate([model.run(x[i:i + 1]) for i in range(5)])
    assert model.run(x).shape == (5, 3) and np.allclose(model.run(x), one_by_one, atol=1e-5)


def test_fp16_and_int8_report_their_change_against_fp32(trained):
    import onnx

    ws, project, exp = trained
    for precision, marker in (("fp16", onnx.TensorProto.FLOAT16), ("int8", None)):
        out = export(ws, project, exp, format="onnx", precision=precision, calibration_images=8)
        assert out.status == "ready", out.error
        rec = out.record
        ch = rec.precision_change
        assert ch.metric == "accuracy" and ch.metric_fp32 >= 0.9
        assert ch.change == pytest.approx(ch.metric_exported - ch.metric_fp32)
        assert ch.latency_fp32_ms > 0 and ch.latency_ms > 0 and ch.speedup == pytest.approx(
            ch.latency_fp32_ms / ch.latency_ms, rel=0.02)
        assert ch.size < ch.size_fp32 and ch.size == rec.file_size
        assert [(r.runtime, r.precision) for r in rec.latency.rows] == [
            ("PyTorch eager", "fp32"), ("ONNX Runtime", "fp32"), ("ONNX Runtime", precision)]
        graph = onnx.load(str(out.folder / "model.onnx")).graph
        if marker is not None:
            assert any(t.data_type == marker for t in graph.initializer)
        else:
            assert rec.quantization == "static" and rec.calibration_images == 8
            assert sum(n.op_type == "QuantizeLinear" for n in graph.node) > 3
            # the decision layer and the softmax stay float: probabilities keep their resolution
            producers = {o: n for n in graph.node for o in n.output}
            assert producers["probabilities"].op_type == "Softmax"
        assert metadata.decode({p.key: p.value for p in onnx.load(str(out.folder / "model.onnx")).metadata_props}
                               )["precision"] == precision
        assert not list((out.folder).glob("*.fp32.*")), "the FP32 comparison model is not left in the export"


def test_dynamic_int8_and_openvino_int8(trained):
    ws, project, exp = trained
    dyn = export(ws, project, exp, format="onnx", precision="int8", quantization="dynamic")
    assert dyn.status == "ready" and dyn.record.quantization == "dynamic" and dyn.record.calibration_images is None
    ov8 = export(ws, project, exp, format="openvino", precision="int8", calibration_images=8)
    assert ov8.status == "ready" and ov8.record.precision_change.speedup > 0
    assert sorted(ov8.record.files) == ["model.bin", "model.xml", "predict.py"]


def test_wrong_normalisation_in_the_metadata_fails_validation(trained, monkeypatch):
    """A deliberately broken export: the file states the wrong mean/std; it must not be offered."""
    ws, project, exp = trained
    real = metadata.build

    def broken(*args, **kwargs):
        meta = real(*args, **kwargs)
        meta["mean"], meta["std"] = "[0.0, 0.0, 0.0]", "[1.0, 1.0, 1.0]"
        return meta

    monkeypatch.setattr(metadata, "build", broken)
    out = export(ws, project, exp, format="torchscript")
    assert out.status == "failed" and out.exit_code == 1
    rec = out.record
    assert rec.status == "failed" and not rec.validation.passed
    failed = {c.name for c in rec.validation.checks if not c.passed}
    assert "max probability difference" in failed and "metadata read back as written" in failed
    assert "max logit difference" not in failed  # the network itself is fine: the metadata is not
    assert rec.validation.checks[0].help.startswith("keys that differ: mean, std")
    assert "validation failed" in out.error and "max probability difference" in out.error
    assert "metadata read back differs from the checkpoint's (mean, std)" in out.error
    svc = ExportService(ws, project.id, exp.id)
    assert rec.id in [r.id for r in svc.list()] and rec.id not in [r.id for r in svc.ready()]
    with pytest.raises(InvalidInput, match="failed its validation"):
        load_exported(out.folder)
    with pytest.raises(InvalidInput, match="failed its validation"):
        load_exported(out.folder / "model.pt")
    events = _events(svc.job_folder(rec.id))
    assert events[-1]["event"] == "failed" and "max probability difference" in events[-1]["error"]


def test_corrupted_weights_fail_validation(trained, monkeypatch):
    """The network in the file differs from the checkpoint: the logit check catches it."""
    import torch

    from studio_desktop.ml.export import torchscript_format

    ws, project, exp = trained
    real = torchscript_format.export

    def damaged(network, example, options, folder, log):
        with torch.no_grad():
            network.model.fc.weight.mul_(-1.0)
        try:
            return real(network, example, options, folder, log)
        finally:
            with torch.no_grad():
                network.model.fc.weight.mul_(-1.0)

    monkeypatch.setattr(torchscript_format, "export", damaged)
    out = export(ws, project, exp, format="torchscript")
    assert out.status == "failed"
    failed = {c.name for c in out.record.validation.checks if not c.passed}
    assert {"max logit difference", "decisions agreeing with PyTorch", "accuracy drop"} <= failed
    assert out.record.validation.agreement < 0.5


def test_operating_point_travels_in_the_file_and_the_snippet_applies_it(trained):
    ws, project, exp = trained
    folder = ExperimentService(ws, project.id).folder(exp.id) / "evaluation"
    op = OperatingPoint(temperature=2.0, uncertain_below=0.9)
    save_operating_point(folder, op)
    try:
        out = export(ws, project, exp, format="torchscript")
    finally:
        shutil.rmtree(folder)
    assert out.status == "ready", out.error
    model = load_exported(out.folder)
    assert model.operating_point.temperature == 2.0 and model.operating_point.uncertain_below == 0.9
    assert model.metadata["temperature"] == 2.0
    reader = snippet.load_module(out.folder / "predict.py")
    run, meta = reader.load(str(out.folder / "model.pt"))
    images = sorted((ws.project_dir(project.id) / "dataset" / "images").glob("*.png"))[:10]
    x = np.stack([reader.preprocess(str(p), meta) for p in images])
    logits = run(x)
    probs = model.runner(x)["probabilities"]
    expected_pred, expected_probs, expected_uncertain = decide(logits, op, model.class_ids)
    assert np.allclose(probs, expected_probs, atol=1e-5)  # softmax(logits / 2) inside the file
    pred, conf, uncertain = reader.decide(logits, meta)
    assert (pred == expected_pred).all() and (uncertain == expected_uncertain).all()
    assert uncertain.any(), "temperature 2 makes some probabilities fall below 0.9"


@pytest.mark.parametrize("op", [
    None,
    OperatingPoint(rule="threshold", positive_class=7, threshold=0.8),
    OperatingPoint(rule="threshold", positive_class=3, threshold=0.2, uncertain_below=0.7, temperature=1.7),
    OperatingPoint(rule="threshold", positive_class=99, threshold=0.2),  # not a class: argmax
    OperatingPoint(uncertain_below=0.55, temperature=0.5),
])
def test_snippet_decide_is_the_apps_decide(tmp_path, op):
    """The snippet's decision rule is an independent copy (numpy only): it must equal the app's."""
    path = tmp_path / "predict.py"
    path.write_text(snippet.render("onnxruntime", "model.onnx", "test"), encoding="utf-8")
    reader = snippet.load_module(path)
    rng = np.random.default_rng(1)
    for classes, ids in ((2, [3, 7]), (3, [3, 7, 9])):
        logits = rng.normal(0, 3, size=(200, classes))
        meta = {"class_ids": ids, "operating_point": (
            {k: getattr(op, k) for k in metadata.OPERATING_POINT_FIELDS} if op is not None else None)}
        pred, conf, uncertain = reader.decide(logits, meta)
        ref_pred, ref_probs, ref_uncertain = decide(logits, op, ids)
        assert (pred == ref_pred).all() and (uncertain == ref_uncertain).all()
        assert np.allclose(conf, ref_probs[np.arange(200), ref_pred])


def test_older_opset_uses_the_torchscript_based_exporter(trained):
    ws, project, exp = trained
    out = export(ws, project, exp, format="onnx", opset=17)
    assert out.status == "ready" and out.record.opset == 17 and "TorchScript-based" in out.record.exporter


def test_openvino_reuses_a_validated_onnx_export_of_the_same_checkpoint(trained):
    ws, project, exp = trained
    first = export(ws, project, exp, format="onnx", dynamic_batch=True)
    again = export(ws, project, exp, format="openvino", dynamic_batch=True)
    assert again.status == "ready" and first.record.id in again.record.exporter
    assert again.record.input_shape[0] == "N"


# ---------------------------------------------------------------------------- bad input

def _new_experiment(ws, project, name):
    svc = ExperimentService(ws, project.id)
    return svc, svc.create(tiny_config(), name=name)


def _nothing_listed(ws, project, exp):
    svc = ExportService(ws, project.id, exp.id)
    assert svc.list() == [] and not list(svc.root.glob(".staging-*"))


def test_truncated_checkpoint_is_named_in_one_line(trained):
    ws, project, exp = trained
    svc, broken = _new_experiment(ws, project, "truncated")
    good = svc.checkpoint(exp.id, "best").read_bytes()
    path = svc.checkpoint(broken.id, "best")
    path.parent.mkdir(parents=True)
    path.write_bytes(good[: len(good) // 3])
    out = export(ws, project, broken)
    assert out.status == "failed" and out.exit_code == 1 and out.record is None
    assert out.error.startswith(f"{path}: cannot read the checkpoint") and "\n" not in out.error
    _nothing_listed(ws, project, broken)


def test_experiment_without_checkpoint(trained):
    ws, project, _ = trained
    _, empty = _new_experiment(ws, project, "never trained")
    out = export(ws, project, empty, format="openvino")
    assert out.status == "failed" and "has no best.ckpt" in out.error and "train it first" in out.error
    _nothing_listed(ws, project, empty)


def test_a_missing_package_is_named(trained, monkeypatch):
    import importlib.util

    ws, project, exp = trained
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else real(name, *a))
    out = export(ws, project, exp, format="openvino")
    assert out.status == "failed" and "needs the Python package 'openvino'" in out.error
    assert "pip install openvino" in out.error


def test_not_enough_disk_space_is_refused_before_writing(trained, monkeypatch):
    import shutil as sh
    from collections import namedtuple

    ws, project, exp = trained
    before = {r.id for r in ExportService(ws, project.id, exp.id).list()}
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(sh, "disk_usage", lambda p: usage(10 << 30, 10 << 30, 1 << 20))
    out = export(ws, project, exp, format="torchscript")
    assert out.status == "failed" and "not enough free disk space" in out.error and "1 MB free" in out.error
    assert {r.id for r in ExportService(ws, project.id, exp.id).list()} == before


def test_disk_full_while_writing_leaves_nothing(trained, monkeypatch):
    from studio_desktop.ml.export import torchscript_format

    ws, project, exp = trained
    before = {r.id for r in ExportService(ws, project.id, exp.id).list()}

    def full(network, example, options, folder, log):
        (folder / "model.pt").write_bytes(b"half a model")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torchscript_format, "export", full)
    out = export(ws, project, exp, format="torchscript")
    assert out.status == "failed" and "the disk is full" in out.error and "nothing was kept" in out.hint
    svc = ExportService(ws, project.id, exp.id)
    assert {r.id for r in svc.list()} == before and not list(svc.root.glob(".staging-*"))


def test_a_stop_during_validation_keeps_nothing(trained):
    ws, project, exp = trained
    stop = StopFlag()

    def emitter(events, log):
        e = quiet_emitter(events, log)
        real = e.emit

        def emit(event, **fields):
            if event == "progress" and fields.get("message") == "validating 3/12":
                stop.set("test stop")
            return real(event, **fields)

        e.emit = emit
        return e

    before = {r.id for r in ExportService(ws, project.id, exp.id).list()}
    out = run_export(ws, ExportRequest(project.id, exp.id, format="torchscript", latency_runs=2), emitter, stop=stop)
    assert out.status == "stopped" and out.exit_code == 0 and out.record is None
    svc = ExportService(ws, project.id, exp.id)
    assert {r.id for r in svc.list()} == before and not list(svc.root.glob(".staging-*"))


def test_load_exported_refuses_bad_files_naming_them(trained, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    ws, project, exp = trained
    with pytest.raises(InvalidInput, match="file not found"):
        load_exported(tmp_path / "nothing.onnx")
    damaged = tmp_path / "damaged.onnx"
    damaged.write_bytes(b"\x08\x07garbage" * 10)
    with pytest.raises(InvalidInput) as info:
        load_exported(damaged)
    assert str(damaged) in str(info.value) and "\n" not in str(info.value)
    foreign = tmp_path / "foreign.onnx"
    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])])
    onnx.save(helper.make_model(graph), foreign)
    with pytest.raises(InvalidInput, match="was not exported by AI Studio"):
        load_exported(foreign)
    with pytest.raises(InvalidInput, match="is not an export folder"):
        load_exported(tmp_path)
    other = tmp_path / "weights.ckpt"
    other.write_bytes(b"x")
    with pytest.raises(InvalidInput, match="not an exported model"):
        load_exported(other)
    out = export(ws, project, exp, format="openvino")
    (out.folder / "model.bin").unlink()
    with pytest.raises(InvalidInput, match="model.bin is missing"):
        load_exported(out.folder / "model.xml")


def test_unexportable_requests_are_refused_in_one_line(trained, workspace):
    ws, project, exp = trained
    out = export(ws, project, exp, format="torchscript", precision="int8")
    assert out.status == "failed" and "TorchScript export supports fp32, not int8" in out.error
    from studio_desktop.core.projects import ProjectService

    seg = ProjectService(workspace).create("masks", "instance_segmentation", classes=["a"])
    svc = ExperimentService(workspace, seg.id)
    from studio_desktop.core.experiments import defaults_for

    e = svc.create(defaults_for("instance_segmentation"), name="seg")
    out = export(workspace, seg, e)
    assert out.status == "failed" and "exporting instance segmentation models is not available" in out.error


def test_untrained_catalog_helper_checkpoint_loads(trained):
    """The catalog test's fresh checkpoints are read by the same loader as trained ones."""
    ws, project, _ = trained
    exp = untrained_experiment(ws, project, "tiny_cnn", name="fresh")
    assert load_trained(ws, project.id, exp.id, "best").config.model == "tiny_cnn"


# ---------------------------------------------------------------------------- the usage snippet

@pytest.mark.parametrize("fmt", ["onnx", "openvino", "torchscript"])
def test_snippet_runs_alone_in_a_clean_process(trained, tmp_path, fmt):
    """The saved predict.py, copied out of the workspace with its model, run by a clean Python
    (isolated mode, bare environment): it prints PyTorch's predictions, and for ONNX and OpenVINO
    it never imports torch (nor anything of this app)."""
    import os
    import subprocess
    import sys

    import torch
    from PIL import Image

    ws, project, exp = trained
    out = export(ws, project, exp, format=fmt)
    assert out.status == "ready"
    there = tmp_path / "elsewhere"
    shutil.copytree(out.folder, there)
    images = sorted((ws.project_dir(project.id) / "dataset" / "images").glob("*.png"))[::5]
    # and a photo-like one: a JPEG of another size, letterboxed on the way in
    wide = tmp_path / "wide photo.jpg"
    Image.open(images[0]).resize((90, 50)).save(wide, quality=92)
    files = [str(p) for p in images] + [str(wide)]
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "OMP_NUM_THREADS": "1",
           "SYSTEMROOT": os.environ.get("SYSTEMROOT", "")}
    proc = subprocess.run([sys.executable, "-I", "-X", "importtime", "predict.py", *files, "--json"],
                          cwd=there, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    assert "numpy" in imported and "PIL" in imported and "studio_desktop" not in imported
    runtime = FORMAT_INFO[fmt].runtime
    assert runtime in imported
    if fmt != "torchscript":
        assert "torch" not in imported
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    tm = load_trained(ws, project.id, exp.id, "best")
    with torch.no_grad():
        ref = tm.model(torch.stack([tm.preprocessing.tensor(p) for p in files])).softmax(1).numpy()
    assert [r["image"] for r in rows] == files
    assert [r["class"] for r in rows] == [tm.class_names[i] for i in ref.argmax(1)]
    assert [r["class_id"] for r in rows] == [tm.project.classes[i].id for i in ref.argmax(1)]
    assert np.allclose([r["probability"] for r in rows], ref.max(1), atol=0.02)
    # the plain text form a person reads
    proc = subprocess.run([sys.executable, "-I", "predict.py", str(wide)], cwd=there, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith(f"{wide}: {rows[-1]['class']} (")


def test_readme_documents_every_metadata_key_and_limit():
    from pathlib import Path

    from studio_desktop.ml.export.detection_checks import LIMITS as DETECTION_LIMITS
    from studio_desktop.ml.export.tasks import TASK_EXPORTS
    from studio_desktop.ml.export.validation import LIMITS, REGRESSION_LIMITS

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Exported models", 1)[1].split("\n## ", 1)[0]
    for key, meaning in metadata.KEYS.items():
        assert f"| `{key}` | {meaning} |" in section, key
    # each task's own keys in its own table (a key two tasks share may mean something else in each)
    tables = [t.split("\n\n", 2)[1] for t in section.split(" files add:")[1:]]
    for entry in TASK_EXPORTS.values():
        assert any(all(f"| `{k}` | {m} |" in t for k, m in entry.metadata_keys.items()) for t in tables), entry.task
    for precision, lim in DETECTION_LIMITS.items():
        row = (f"| {precision.upper()} | ≥ {lim.paired:.0%} | {lim.box_rel:g} | {lim.score:g} | ≥ {lim.file_paired:.0%} "
               f"| {lim.file_box_rel:g} | {lim.file_score:g} | ≤ {lim.file_counts:.0%} | ≤ {lim.map_drop:g} |")
        assert row in section, row
    for precision, lim in LIMITS.items():
        row = (f"| {precision.upper()} | {lim.logits_rel:g} | {lim.probability:g} | ≥ {round(lim.agreement * 100)} % "
               f"| ≤ {lim.metric_drop:g} |")
        assert row in section, row
    for precision, lim in REGRESSION_LIMITS.items():
        row = f"| {precision.upper()} | {lim.values_rel:g} | {lim.file_rel:g} | {lim.mae_rel:.0%} |"
        assert row in section, row
