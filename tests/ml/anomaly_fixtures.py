"""A trained and evaluated anomaly model shared by the prediction and export tests (built once a session).

The app's anomaly sample (96 px parts: a grey disc with a dark hole; defects are a scratch or a
missing hole, with ground-truth masks), a normal-only split, PatchCore on an untrained ResNet-18 at
64 px (a fitted model: one feature pass and the coreset, seconds on a CPU), then evaluated, so that
``scores.npz`` gives the default threshold (5 % false positives on the normal validation images).
"""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

_BUILT: dict[str, SimpleNamespace] = {}


def anomaly_parts(root: Path) -> SimpleNamespace:
    """The shared project (built into ``root`` the first time this session asks)."""
    if "parts" in _BUILT:
        return _BUILT["parts"]
    from studio_desktop.core.datasets import DatasetStore
    from studio_desktop.core.experiments import ExperimentService, apply_settings, defaults_for
    from studio_desktop.core.importing import import_dataset
    from studio_desktop.core.projects import ProjectService
    from studio_desktop.core.samples import write_sample
    from studio_desktop.core.splits import SplitService
    from studio_desktop.core.workspace import Workspace
    from studio_desktop.worker.evaluate import evaluation_job
    from studio_desktop.worker.train import run_training

    ws = Workspace.open(root / "ws")
    sample = write_sample("anomaly_detection", root / "sample", images=24, seed=1)
    project = ProjectService(ws).create("parts", "anomaly_detection")
    import_dataset(ws, project.id, sample)
    project = ProjectService(ws).get(project.id)
    splits = SplitService(ws, project.id)
    split = splits.create(None, splits.plan(project, DatasetStore(ws, project.id).load(), ratios=(0.6, 0.2, 0.2),
                                            seed=0, anomaly_mode="normal-only"))
    cfg = apply_settings(defaults_for("anomaly_detection"),
                         ["model=patchcore_resnet18", "input_size=64", "batch_size=8", "pretrained=false",
                          f"split_id={split.id}"], "anomaly_detection")
    svc = ExperimentService(ws, project.id)
    exp = svc.create(cfg, name="patchcore")
    outcome = run_training(ws, project.id, exp.id)
    assert outcome.status == "completed", outcome.error
    evaluated = evaluation_job(ws, project.id, exp.id, device="cpu", quiet=True)
    assert evaluated.status == "completed", getattr(evaluated, "error", evaluated)
    test = sorted((sample / "test").rglob("*.png"))
    normal = [p for p in test if p.parent.name == "good"]
    defects = [p for p in test if p.parent.name != "good"]
    parts = SimpleNamespace(ws=ws, project=project, split=split, exp=svc.get(exp.id), svc=svc, sample=sample,
                            normal=normal, defects=defects, images=normal[:3] + defects[:3],
                            evaluation=svc.folder(exp.id) / "evaluation")
    _BUILT["parts"] = parts
    return parts


def ready_onnx(parts: SimpleNamespace):
    """The ONNX export of the shared model at its default threshold (exported once a session; 12 images checked)."""
    if "onnx" not in _BUILT:
        from studio_desktop.ml.export.pipeline import ExportRequest, run_export

        _BUILT["onnx"] = run_export(parts.ws, ExportRequest(parts.project.id, parts.exp.id, format="onnx",
                                                            latency_runs=2, latency_warmup=1, threads=1,
                                                            latency_min_seconds=0.0), quiet_emitter)
    return _BUILT["onnx"]


def quiet_emitter(events, log):
    from studio_desktop.core.protocol import Emitter

    return Emitter(events, log, stdout=io.StringIO(), stderr=io.StringIO())


__all__ = ["anomaly_parts", "quiet_emitter", "ready_onnx"]
