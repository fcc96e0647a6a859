"""Regression export end to end: de-normalisation inside the graph, validated in target units.

Two tiny_cnn experiments of the procedural discs (40 images of 96 px; targets radius, in px by
the CSV header, and brightness), one of them learning the radius on a log scale, are shared by
the module. Every test makes its own exports. What is checked: ONNX, TorchScript and OpenVINO
files are validated per target in target units and describe themselves (targets, units,
normalisation, no operating point); a broken de-normalisation fails with its numbers; train ->
export -> predict gives the checkpoint's values in target units (the log transform included);
the usage snippet prints values with units in a clean process; FP16/INT8 keep the
de-normalisation float; real photos with prices in the millions export in FP16.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from export_helpers import export, regression_project, trained_regression

from studio_desktop.core.errors import InvalidInput
from studio_desktop.core.export_report import report
from studio_desktop.core.export_snippet import SNIPPET_TASKS
from studio_desktop.core.exports import FORMATS as FORMAT_INFO
from studio_desktop.core.exports import ExportService
from studio_desktop.core.workspace import Workspace
from studio_desktop.ml.checkpoint import load_trained
from studio_desktop.ml.export import metadata
from studio_desktop.ml.export.precision import float_head
from studio_desktop.ml.export.regression import RegressionExport
from studio_desktop.ml.export.runtime import load_exported
from studio_desktop.ml.export.tasks import TASK_EXPORTS
from studio_desktop.ml.export.validation import REGRESSION_LIMITS

pytestmark = pytest.mark.ml

TARGETS = ["radius", "brightness"]
#: the shared real-data fixtures (tests/conftest.py's), beside the repository
SHARED_FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "real"


@pytest.fixture(scope="module")
def discs(tmp_path_factory):
    root = tmp_path_factory.mktemp("export-regression")
    ws = Workspace.open(root / "ws")
    project, split = regression_project(ws, root)
    plain = trained_regression(ws, project, split, "plain")
    logged = trained_regression(ws, project, split, "log radius", 'log_targets=["radius"]')
    images = sorted((root / "sample-discs" / "images").glob("*.png"))
    yield SimpleNamespace(ws=ws, project=project, plain=plain, logged=logged, root=root, images=images)
    ws.close()


def _reference(ws, project, exp, files) -> np.ndarray:
    """The checkpoint's predictions in target units, the app's way (z-scores de-normalised)."""
    tm = load_trained(ws, project.id, exp.id, "best")
    with torch.no_grad():
        z = tm.model(torch.stack([tm.preprocessing.tensor(p) for p in files]))
    return tm.head.denormalise(z).numpy()


def test_every_exportable_task_has_its_snippet_part_in_step():
    """The torch-free snippet text and the task entries agree on outputs and JSON keys."""
    assert set(SNIPPET_TASKS) == set(TASK_EXPORTS)
    for task, entry in TASK_EXPORTS.items():
        part = SNIPPET_TASKS[task]
        assert part.output == entry.output_names[0]
        assert set(part.json_keys) == set(metadata.JSON_KEYS | entry.json_keys)
        assert set(entry.metadata_keys) & set(metadata.KEYS) == set()


def test_onnx_export_is_validated_in_target_units_and_describes_itself(discs):
    import onnx

    ws, project, exp = discs.ws, discs.project, discs.plain
    out = export(ws, project, exp, format="onnx")
    assert out.status == "ready" and out.exit_code == 0, out.error
    rec, folder = out.record, out.folder
    assert rec.task == "regression" and rec.input_shape == [1, 3, 32, 32]
    v = rec.validation
    assert v.passed and v.images == 16 and v.subsets == {"val": 8, "test": 8}
    assert v.compared == "value" and v.agreement is None and v.metric == "MAE"
    assert [c.name for c in v.checks] == [
        "metadata read back as written", "radius: max difference", "brightness: max difference",
        "radius: max difference via metadata", "brightness: max difference via metadata", "MAE increase"]
    assert all(c.passed for c in v.checks)
    # each target against its own scale: 1e-3 of its training standard deviation, in its unit
    norm = load_trained(ws, project.id, exp.id, "best").head.normalisation()
    radius, brightness = v.checks[1], v.checks[2]
    assert radius.unit == "px" and brightness.unit == ""
    assert radius.limit == pytest.approx(REGRESSION_LIMITS["fp32"].values_rel * norm["std"][0])
    assert brightness.limit == pytest.approx(REGRESSION_LIMITS["fp32"].values_rel * norm["std"][1])
    assert radius.value < radius.limit and v.max_abs_diff < 1e-3
    # the MAE in target units (radius in px: well above a z-score's size) under both
    assert 0.5 < v.metric_pytorch < 20 and v.metric_exported == pytest.approx(v.metric_pytorch, abs=1e-3)
    text = report(rec, folder)
    assert re.search(r"ok   radius: max difference +\S+ px  at most \S+ px", text)
    assert "MAE (PyTorch -> exported)" in text and "decisions" not in text
    # the file: one output in target units, the de-normalisation inside the graph
    model = onnx.load(str(folder / "model.onnx"))
    assert [o.name for o in model.graph.output] == ["values"]
    assert {"Mul", "Add", "Where"} <= {n.op_type for n in model.graph.node}
    props = {p.key: p.value for p in model.metadata_props}
    assert set(props) == set(metadata.keys_of("regression"))
    assert not {"classes", "class_ids", "operating_point", "temperature"} & set(props)
    assert props["task"] == "regression" and json.loads(props["targets"]) == TARGETS
    assert json.loads(props["units"]) == ["px", ""]
    assert json.loads(props["normalisation"]) == {"applied": "inside the graph", "mean": norm["mean"],
                                                   "std": norm["std"], "log": [False, False]}
    assert list(json.loads(props["outputs"])) == ["values"] and "target units" in rec.outputs["values"]
    # values equal the checkpoint's in target units
    loaded = load_exported(folder)
    assert loaded.task == "regression" and loaded.output == "values" and loaded.class_names == TARGETS
    assert loaded.metadata["classes"] == [{"id": 0, "name": "radius", "unit": "px"},
                                          {"id": 1, "name": "brightness", "unit": ""}]
    files = discs.images[:6]
    x = np.stack([loaded.preprocessing.tensor(p).numpy() for p in files])
    values = loaded.run(x)
    assert values.shape == (6, 2) and np.allclose(values, _reference(ws, project, exp, files), rtol=1e-4, atol=1e-5)
    assert loaded.run(x[:0]).shape == (0, 2)


@pytest.mark.parametrize("fmt", ["torchscript", "openvino"])
def test_torchscript_and_openvino_exports_are_validated(discs, fmt):
    ws, project, exp = discs.ws, discs.project, discs.logged
    out = export(ws, project, exp, format=fmt)
    assert out.status == "ready", out.error
    assert out.record.validation.passed and all(c.passed for c in out.record.validation.checks)
    assert out.record.file == FORMAT_INFO[fmt].file_name
    loaded = load_exported(out.folder)
    assert loaded.format == fmt and loaded.metadata["normalisation"]["log"] == [True, False]
    files = discs.images[6:11]
    x = np.stack([loaded.preprocessing.tensor(p).numpy() for p in files])
    assert np.allclose(loaded.run(x), _reference(ws, project, exp, files), rtol=1e-4, atol=1e-5)


def test_openvino_from_the_torchscript_based_onnx_graph_keeps_the_output_name(discs):
    """The bundle cannot run the dynamo exporter (no source for onnxscript's decorators), so its
    ONNX comes from the TorchScript-based exporter (opset 17 forces it here); OpenVINO then gives
    the output tensor more than one name and 'values' must still be found (CI's bundle self-test
    failed with KeyError: 'values')."""
    ws, project, exp = discs.ws, discs.project, discs.plain
    out = export(ws, project, exp, format="openvino", opset=17)
    assert out.status == "ready", out.error
    loaded = load_exported(out.folder)
    files = discs.images[:3]
    x = np.stack([loaded.preprocessing.tensor(p).numpy() for p in files])
    assert np.allclose(loaded.run(x), _reference(ws, project, exp, files), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("which", ["plain", "logged"])
def test_normalisation_round_trip_train_export_predict(discs, which, tmp_path, capsys):
    """Train -> export -> ``studio predict`` with the exported file: the checkpoint's values, in
    target units (a log-transformed radius comes back in px too)."""
    from studio_desktop.cli import main
    from studio_desktop.ml.predict import predict

    ws, project = discs.ws, discs.project
    exp = getattr(discs, which)
    out = export(ws, project, exp, format="onnx", dynamic_batch=True)
    assert out.status == "ready", out.error
    files = discs.images[::4]
    by_ckpt, _, _ = predict(ws, exp.name, files, None, project=project.id)
    by_file, predictor, _ = predict(None, str(out.folder / "model.onnx"), files, None)
    assert predictor.task == "regression" and predictor.op is None
    assert predictor.classes == [{"id": 0, "name": "radius", "unit": "px"}, {"id": 1, "name": "brightness", "unit": ""}]
    radii = []
    for a, b in zip(by_ckpt, by_file, strict=True):
        assert a["file"] == b["file"] and a["ok"] and b["ok"]
        assert b["prediction"]["targets"] == pytest.approx(a["prediction"]["targets"], rel=1e-4, abs=1e-5)
        radii.append(b["prediction"]["targets"]["radius"])
    assert 5 < np.mean(radii) < 45  # pixels, not z-scores around 0
    # the command line prints each value with its unit
    code = main(["predict", str(out.folder / "model.onnx"), str(files[0]), "--out", str(tmp_path / "p")])
    line = capsys.readouterr().out.strip()
    assert code == 0 and re.fullmatch(rf"{re.escape(str(files[0]))}: radius [\d.]+ px, brightness [-\d.e]+", line)
    header = (tmp_path / "p" / "predictions.csv").read_text().splitlines()[0]
    assert header == "file,status,radius,brightness,error"


@pytest.mark.parametrize("broken", ["dropped", "wrong std", "stated wrongly"])
def test_a_broken_denormalisation_fails_validation_with_the_numbers(discs, monkeypatch, broken):
    """A de-normalisation lost or wrong inside the graph gives values that are not the app's: the
    per-target checks fail with their numbers; a normalisation misstated in the metadata fails the
    metadata check. Nothing is offered for use."""
    from torch import nn

    from studio_desktop.ml.tasks.regression import RegressionHead

    ws, project, exp = discs.ws, discs.project, discs.plain
    real_head, real_build = RegressionHead.export_head, metadata.build

    def head(self):
        if broken == "dropped":
            return nn.Identity()
        module = real_head(self)
        module.std.mul_(2.0)
        return module

    def build(*args, **kwargs):
        meta = real_build(*args, **kwargs)
        norm = json.loads(meta["normalisation"])
        norm["std"][0] *= 2
        meta["normalisation"] = json.dumps(norm)
        return meta

    if broken == "stated wrongly":
        monkeypatch.setattr(metadata, "build", build)
    else:
        monkeypatch.setattr(RegressionHead, "export_head", head)
    out = export(ws, project, exp, format="torchscript")
    assert out.status == "failed" and out.exit_code == 1
    v = out.record.validation
    failed = [c.name for c in v.checks if not c.passed]
    if broken == "stated wrongly":
        assert failed == ["metadata read back as written"]
        assert v.checks[0].help == "keys that differ: normalisation"
        assert "metadata read back differs from the checkpoint's (normalisation)" in out.error
    else:
        assert set(failed) >= {"radius: max difference", "radius: max difference via metadata"}
        assert "metadata read back as written" not in failed  # the file states the truth; its graph does not
        radius = v.checks[1]
        assert radius.value > 1.0 and radius.value > 100 * radius.limit  # pixels off, not rounding
        shown = f"radius: max difference {radius.value:.3g} px above the limit {radius.limit:.3g} px"
        assert shown in out.error, out.error
        if broken == "dropped":  # z-scores instead of pixels
            assert "MAE increase" in failed and v.metric_exported > 2 * v.metric_pytorch
    svc = ExportService(ws, project.id, exp.id)
    assert out.record.id not in [r.id for r in svc.ready()]
    with pytest.raises(InvalidInput, match="failed its validation"):
        load_exported(out.folder)


def _head_is_float(path) -> list[str]:
    """The ops of the de-normalisation head of an ONNX file, asserting they run in float32."""
    import onnx

    model = onnx.load(str(path))
    producers = {o: n for n in model.graph.node for o in n.output}
    inits = {t.name: t for t in model.graph.initializer}
    names = set(float_head(model, ("values",), RegressionExport.float_layers))
    head = [n for n in model.graph.node if n.name in names]
    for node in head:
        for name in node.input:
            if name in inits:  # weights, std and mean in float32 (the log mask is boolean)
                assert inits[name].data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.BOOL), (node.op_type, name)
            elif node.op_type != "Gemm":  # the last layer's activations may come quantized
                assert producers[name].op_type not in ("DequantizeLinear", "Cast"), (node.op_type, name)
    return [n.op_type for n in head]


def test_fp16_and_int8_keep_the_denormalisation_float_and_report_the_mae(discs):
    import onnx

    ws, project, exp = discs.ws, discs.project, discs.logged
    for precision in ("fp16", "int8"):
        out = export(ws, project, exp, format="onnx", precision=precision, calibration_images=8)
        assert out.status == "ready", out.error
        rec = out.record
        ch = rec.precision_change
        assert ch.metric == "MAE" and ch.agreement_with_fp32 is None and 0.5 < ch.metric_fp32 < 20
        assert ch.change == pytest.approx(ch.metric_exported - ch.metric_fp32)
        assert ch.size < ch.size_fp32
        path = out.folder / "model.onnx"
        ops = _head_is_float(path)
        assert {"Where", "Gemm", "Mul", "Add", "Exp"} <= set(ops)
        graph = onnx.load(str(path)).graph
        if precision == "fp16":
            assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in graph.initializer)
        else:
            assert sum(n.op_type == "QuantizeLinear" for n in graph.node) > 3
        onnx.checker.check_model(str(path), full_check=True)


@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_snippet_prints_values_with_units_in_a_clean_process(discs, tmp_path, fmt):
    """predict.py copied out of the workspace with its model, run by a clean Python (isolated mode,
    bare environment): 'radius: 12.3 px, brightness: 0.52' per image, the checkpoint's values;
    neither torch nor anything of this app imported."""
    ws, project, exp = discs.ws, discs.project, discs.logged
    out = export(ws, project, exp, format=fmt)
    assert out.status == "ready", out.error
    there = tmp_path / "elsewhere"
    shutil.copytree(out.folder, there)
    files = [str(p) for p in discs.images[1:8:3]]
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "OMP_NUM_THREADS": "1",
           "SYSTEMROOT": os.environ.get("SYSTEMROOT", "")}
    proc = subprocess.run([sys.executable, "-I", "-X", "importtime", "predict.py", *files, "--json"], cwd=there,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    assert FORMAT_INFO[fmt].runtime in imported and "torch" not in imported and "studio_desktop" not in imported
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    ref = _reference(ws, project, exp, files)
    assert [r["image"] for r in rows] == files and all(r["units"] == {"radius": "px", "brightness": ""} for r in rows)
    got = np.array([[r["values"][n] for n in TARGETS] for r in rows])
    assert np.allclose(got, ref, rtol=1e-3, atol=1e-3)
    proc = subprocess.run([sys.executable, "-I", "predict.py", files[0]], cwd=there, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = re.fullmatch(rf"{re.escape(files[0])}: radius: ([\d.]+) px, brightness: ([-\d.e]+)", proc.stdout.strip())
    assert line is not None, proc.stdout
    assert [float(line[1]), float(line[2])] == pytest.approx(ref[0], rel=2e-3, abs=2e-3)


def test_studio_export_of_a_regression_experiment_exits_0_with_a_ready_export(discs, capsys):
    from studio_desktop.cli import main

    ws, project, exp = discs.ws, discs.project, discs.plain
    code = main(["--workspace", str(ws.root), "export", project.name, exp.name, "--format", "onnx",
                 "--latency-runs", "2", "--threads", "1"])
    out = capsys.readouterr()
    assert code == 0, out.err[-2000:]
    assert f"ONNX FP32 of '{exp.name}' (tiny_cnn) - ready: passed its validation on 16 images" in out.out
    assert re.search(r"ok   radius: max difference via metadata +\S+ px", out.out)
    assert "ok   MAE increase" in out.out and "try it: python " in out.out


@pytest.mark.slow
def test_real_photos_with_prices_in_the_millions_export_in_fp16(tmp_path):
    """The houses photos (sizes vary; price 22k-5.86M learnt on a log scale, zip codes around 90 000
    as they are): FP16 files keep the de-normalisation float32, so no value overflows FP16's
    65 504, and they pass the same validation as FP32."""
    from studio_desktop.core.datasets import DatasetStore
    from studio_desktop.core.importing import import_dataset
    from studio_desktop.core.projects import ProjectService
    from studio_desktop.core.splits import SplitService

    houses = SHARED_FIXTURES / "regression_houses"
    if not houses.is_dir():
        pytest.skip(f"real fixtures not found at {SHARED_FIXTURES}")
    ws = Workspace.open(tmp_path / "ws")
    try:
        project = ProjectService(ws).create("houses", "regression")
        import_dataset(ws, project.id, houses)
        project = ProjectService(ws).get(project.id)
        splits = SplitService(ws, project.id)
        split = splits.create(None, splits.plan(project, DatasetStore(ws, project.id).load(), ratios=(0.6, 0.2, 0.2),
                                                seed=0))
        exp = trained_regression(ws, project, split, "prices", 'log_targets=["column5"]', epochs=2)
        for fmt in ("onnx", "openvino"):
            out = export(ws, project, exp, format=fmt, precision="fp16")
            assert out.status == "ready", (fmt, out.error)
            loaded = load_exported(out.folder)
            x = np.stack([loaded.preprocessing.tensor(p).numpy()
                          for p in sorted(houses.glob("*.jpg"))[:4]])
            values = loaded.run(x)
            assert np.isfinite(values).all() and values[:, 4].min() > 1000 and values[:, 3].min() > 10_000
    finally:
        ws.close()
