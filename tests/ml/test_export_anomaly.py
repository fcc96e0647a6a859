"""Anomaly model export end to end: threshold and display normalisation inside the graph, validated on
real images against the checkpoint's own prediction path, so drifting scores fail (anomalib issue 3658).

PatchCore on an untrained ResNet-18 at 64 px, fitted and evaluated on the app's anomaly sample
(``anomaly_fixtures.py``, shared with the prediction tests). What is checked: the ONNX file's four
outputs (score, verdict, map, heat) and its metadata (threshold, how it was chosen, display range);
a broken export (scores drifting, a threshold in the metadata that is not the graph's) FAILS with its
numbers; the usage snippet in a clean process gives the app's verdicts and heat maps; an export past
ONNX's 2 GB is refused before writing, offering the coreset ratio that fits (and the Export page
warns from the checkpoint's size); OpenVINO and TorchScript validate (slow); FP16 and INT8 are refused.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from anomaly_fixtures import anomaly_parts, quiet_emitter, ready_onnx
from PIL import Image

from studio_desktop.core.anomaly import levels
from studio_desktop.core.errors import InvalidInput
from studio_desktop.core.evaluation.anomaly_predictions import rule_for
from studio_desktop.core.exports import onnx_size_warning
from studio_desktop.ml.export.anomaly import AnomalyExport, AnomalyOutputs, coreset_hint
from studio_desktop.ml.export.onnx_format import check_size
from studio_desktop.ml.export.pipeline import ExportRequest, run_export
from studio_desktop.ml.export.runtime import load_exported

pytestmark = pytest.mark.ml


@pytest.fixture
def parts(tmp_path_factory):
    return anomaly_parts(tmp_path_factory.getbasetemp() / "anomaly-parts")


def _export(parts, **options):
    options = {"latency_runs": 2, "latency_warmup": 1, "threads": 1, "latency_min_seconds": 0.0, **options}
    return run_export(parts.ws, ExportRequest(parts.project.id, parts.exp.id, **options), quiet_emitter)


def _check(record, name):
    return next(c for c in record.validation.checks if c.name == name)


def test_onnx_export_carries_the_threshold_and_agrees_with_the_checkpoint(parts):
    outcome = ready_onnx(parts)
    assert outcome.status == "ready", outcome.error
    rec = outcome.record
    v = rec.validation
    assert v.passed and v.images == 12 and v.subsets == {"val": 6, "test": 6} and v.compared == "score"
    assert v.metric == "image AUROC" and abs(v.metric_pytorch - v.metric_exported) <= 0.02
    assert _check(rec, "max score difference").value <= 1e-4 * max(1.0, abs(rec.metadata["threshold"]))
    assert _check(rec, "verdicts agreeing with PyTorch").value == 1.0
    assert _check(rec, "max map difference").passed and _check(rec, "heat follows the display range").passed
    assert _check(rec, "verdicts via metadata").value >= 0.98
    # the threshold in force (no operating point saved: the Evaluation page's default) and how it was chosen
    rule = rule_for(None, parts.evaluation)
    meta = rec.metadata
    assert meta["task"] == "anomaly_detection" and meta["threshold"] == pytest.approx(rule.threshold)
    assert meta["threshold_source"] == rule.source and "normal val images" in rule.source
    assert meta["display_range"] == pytest.approx([rule.low, rule.high]) and meta["operating_point"] is None
    assert list(rec.outputs) == ["score", "anomalous", "map", "heat"]
    # the file alone: verdict = score >= threshold, heat = the map on the display range
    model = load_exported(outcome.folder)
    x = np.stack([model.preprocessing.tensor(p).numpy() for p in parts.images])
    out = model.runner.run_all(x)
    assert out["score"].shape == (6,) and out["map"].shape == (6, 1, 64, 64) and out["anomalous"].dtype == bool
    assert (out["anomalous"] == (out["score"] >= meta["threshold"])).all()
    low, high = meta["display_range"]
    assert low < meta["threshold"] < high
    assert np.abs(out["heat"] - levels(out["map"], low, high, meta["threshold"])).max() < 1e-5
    assert ((out["heat"] >= 0.5) == (out["map"] >= meta["threshold"])).mean() > 0.999
    assert out["score"][3:].min() > out["score"][:3].max()  # defects score higher than good parts


class Drifting(AnomalyOutputs):
    """A broken export: scores 5 % off the checkpoint's (a normalisation lost: what anomalib issue 3658 reports)."""

    def forward(self, x):
        score, _, amap, heat = super().forward(x)
        score = score * 1.05
        return score, score >= self.threshold, amap, heat


def test_drifting_scores_or_a_wrong_threshold_fail_the_export_with_their_numbers(parts, monkeypatch):
    real = AnomalyExport.network
    monkeypatch.setattr(AnomalyExport, "network", lambda self, trained, op: Drifting(
        *(lambda n: (n.model, n.threshold, n.low, n.low + n.span))(real(self, trained, op))).eval())
    # opset 17: not the shared ready export's, whose graph would be reused (same checkpoint and metadata)
    outcome = _export(parts, format="onnx", validation_images=6, opset=17)
    assert outcome.status == "failed" and not outcome.record.ready
    drift = _check(outcome.record, "max score difference")
    assert not drift.passed and drift.value > 10 * drift.limit
    assert any(f.startswith("max score difference") for f in outcome.record.validation.failures)
    assert outcome.error.startswith("validation failed:")
    # the graph right, but its metadata states another threshold: read back, and the snippet's verdicts
    monkeypatch.undo()
    from studio_desktop.ml.export import metadata as meta_mod

    real_build = meta_mod.build

    def wrong_threshold(*a, **k):
        meta = real_build(*a, **k)
        meta["threshold"] = repr(float(meta["threshold"]) * 100)
        return meta

    monkeypatch.setattr(meta_mod, "build", wrong_threshold)
    outcome = _export(parts, format="onnx", validation_images=6)
    assert outcome.status == "failed"
    failures = " | ".join(outcome.record.validation.failures)
    assert "metadata read back differs" in failures and "threshold" in failures
    assert _check(outcome.record, "max score difference").passed  # the network itself is right
    assert not _check(outcome.record, "verdicts via metadata").passed


def test_the_snippet_gives_the_apps_verdicts_and_heat_maps_in_a_clean_process(parts, tmp_path):
    outcome = ready_onnx(parts)
    assert outcome.status == "ready", outcome.error
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    res = subprocess.run([sys.executable, "-I", str(outcome.folder / "predict.py"), *map(str, parts.images), "--json",
                          "--draw", str(tmp_path / "drawn")], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    from studio_desktop.ml.predict import predict

    rows, _, _ = predict(None, str(outcome.folder), parts.images, tmp_path / "app")
    for snippet_row, app_row in zip(lines, rows, strict=True):
        pred = app_row["prediction"]
        assert snippet_row["score"] == pytest.approx(pred["score"], rel=1e-4, abs=1e-5)
        assert snippet_row["anomalous"] == pred["anomalous"] and snippet_row["threshold"] == pred["threshold"]
        with Image.open(snippet_row["heat_map"]) as a, Image.open(pred["heat_map"]) as b:
            assert a.size == b.size == (96, 96)
            diff = np.abs(np.asarray(a.convert("RGB"), dtype=int) - np.asarray(b.convert("RGB"), dtype=int))
        assert diff.mean() < 3.0, diff.mean()  # Pillow's resampling vs the app's: the same picture
    res = subprocess.run([sys.executable, "-I", str(outcome.folder / "predict.py"), str(parts.defects[0]), "--draw",
                          ""], capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert res.returncode == 0 and res.stdout.startswith(f"{parts.defects[0]}: anomalous (score ")


def test_an_export_past_onnx_2_gb_is_refused_before_writing_with_the_coreset_that_fits(parts, tmp_path):
    from studio_desktop.ml.checkpoint import load_trained

    trained = load_trained(parts.ws, parts.project.id, parts.exp.id)
    network = AnomalyExport().network(trained, None)
    bank = network.model.inner.memory_bank
    size = sum(t.numel() * t.element_size() for t in [*network.parameters(), *network.buffers()])
    limit = size - bank.numel() * bank.element_size() // 2 + 64 * 1024 ** 2  # room for half the memory bank
    with pytest.raises(InvalidInput) as exc:
        check_size(network, limit=limit)
    assert "an ONNX file cannot pass" in exc.value.reason
    ratio = trained.head.settings.coreset_ratio
    hint = coreset_hint(network.model, ratio, limit=limit)
    suggested = float(hint.split("coreset ratio of ")[1].split(" ")[0])
    assert 0.3 * ratio < suggested < 0.5 * ratio and "memory bank" in hint and "TorchScript" in hint
    check_size(network)  # the real limit: this small model fits
    # the Export page warns from the checkpoint's size alone (no torch): a 2.2 GB file (sparse)
    big = tmp_path / "big.ckpt"
    with open(big, "wb") as f:
        f.truncate(int(2.2 * 1024 ** 3))
    warning = onnx_size_warning(big, "onnx", 0.1)
    assert warning.startswith("This checkpoint is 2.36 GB") and "coreset ratio of about 0.0793 or less" in warning
    assert onnx_size_warning(big, "torchscript", 0.1) is None
    assert onnx_size_warning(parts.svc.checkpoint(parts.exp.id, "best"), "onnx", 0.1) is None


@pytest.mark.slow
def test_openvino_and_torchscript_exports_validate(parts):
    for fmt, precision in (("openvino", "fp32"), ("torchscript", "fp32")):
        outcome = _export(parts, format=fmt, precision=precision, validation_images=12)
        assert outcome.status == "ready", (fmt, precision, outcome.error)
        v = outcome.record.validation
        assert v.passed and _check(outcome.record, "verdicts via metadata").value >= 0.95
        assert outcome.record.metadata["threshold"] == pytest.approx(rule_for(None, parts.evaluation).threshold)
        model = load_exported(outcome.folder)
        out = model.runner.run_all(np.stack([model.preprocessing.tensor(p).numpy() for p in parts.images]))
        assert set(out) >= {"score", "anomalous", "map", "heat"}
        assert torch.equal(torch.from_numpy(out["anomalous"].astype(bool)),
                           torch.from_numpy(out["score"] >= outcome.record.metadata["threshold"]))


def test_fp16_and_int8_are_refused_with_the_reason():
    from studio_desktop.core.exports import check_options, precisions_for

    for fmt in ("onnx", "openvino", "torchscript"):
        assert precisions_for("anomaly_detection", fmt) == ("fp32",)
    with pytest.raises(InvalidInput) as exc:
        check_options("anomaly_detection", "openvino", "fp16")
    assert "anomaly models export in FP32: OpenVINO's FP16 weights round the threshold" in exc.value.reason


def test_readme_documents_the_anomaly_keys_and_limits():
    from studio_desktop.ml.export.anomaly_checks import LIMITS

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Exported models", 1)[1].split("\n## ", 1)[0]
    table = section.split("Anomaly detection files add:", 1)[1].split("\n\n", 2)[1]
    for key, meaning in AnomalyExport.metadata_keys.items():
        assert f"| `{key}` | {meaning} |" in table, key
    for precision, lim in LIMITS.items():
        row = (f"| {precision.upper()} | {lim.score_rel:g} | {lim.map_rel:g} | ≥ {lim.verdicts:.0%} | "
               f"≥ {lim.file_verdicts:.0%} | {lim.file_score_rel:g} | ≤ {lim.auroc_drop:g} |")
        assert row in section, row


def test_a_model_without_a_threshold_is_refused_before_exporting(tmp_path):
    from types import SimpleNamespace

    trained = SimpleNamespace(checkpoint=tmp_path / "exp" / "checkpoints" / "best.ckpt", head=None, model=None)
    with pytest.raises(InvalidInput) as exc:
        AnomalyExport().network(trained, None)
    assert "needs a threshold before it is exported" in exc.value.reason and "evaluate the experiment" in exc.value.hint
