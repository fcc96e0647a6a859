"""Helpers of the export tests: trained or freshly built experiments of the tiny 3-class project,
and trained experiments of a tiny regression project (the procedural discs, radius in px)."""

from __future__ import annotations

import io

import torch
from ml_helpers import make_tiny_project, tiny_config

from studio_desktop.core.experiments import ExperimentService
from studio_desktop.core.protocol import Emitter
from studio_desktop.ml.export.pipeline import ExportRequest, run_export
from studio_desktop.ml.tasks import make_head


def quiet_emitter(events, log):
    """The job's files as usual; stdout/stderr swallowed (pytest shows them only on failure)."""
    return Emitter(events, log, stdout=io.StringIO(), stderr=io.StringIO())


def untrained_experiment(ws, project, model: str, size: int = 32, name: str | None = None):
    """An experiment whose best.ckpt holds a freshly initialised ``model``, written the way training
    writes it (Lightning's ``state_dict`` with ``model.`` keys + the ``studio`` metadata)."""
    svc = ExperimentService(ws, project.id)
    cfg = tiny_config(model=model, input_size=size)
    exp = svc.create(cfg, name=name or model)
    head = make_head(project, cfg)
    torch.manual_seed(0)
    net = head.build_model(lambda *a, **k: None).eval()
    path = svc.checkpoint(exp.id, "best")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {f"model.{k}": v for k, v in net.state_dict().items()},
                "studio": head.checkpoint_meta()}, path)
    return svc.update(exp.id, status="completed", epochs_done=1,
                      environment={"split_id": cfg.split_id})


def regression_project(ws, root, *, images: int = 40, seed: int = 3, name: str = "discs"):
    """A regression project imported from the procedural sample (``images`` discs of 96 px, targets
    radius and brightness; the CSV header gives the radius its unit: ``radius (px)``) with a
    60/20/20 split; returns (project, split)."""
    from studio_desktop.core.datasets import DatasetStore
    from studio_desktop.core.importing import import_dataset
    from studio_desktop.core.projects import ProjectService
    from studio_desktop.core.samples import write_sample
    from studio_desktop.core.splits import SplitService

    sample = write_sample("regression", root / f"sample-{name}", images=images, seed=seed)
    table = sample / "labels.csv"
    table.write_text(table.read_text().replace("image,radius,", "image,radius (px),", 1), encoding="utf-8")
    project = ProjectService(ws).create(name, "regression")
    import_dataset(ws, project.id, sample)
    project = ProjectService(ws).get(project.id)
    splits = SplitService(ws, project.id)
    split = splits.create(None, splits.plan(project, DatasetStore(ws, project.id).load(), ratios=(0.6, 0.2, 0.2),
                                            seed=0))
    return project, split


def trained_regression(ws, project, split, name: str, *settings: str, epochs: int = 3):
    """A tiny_cnn regression experiment trained for ``epochs`` at 32 px (``settings``: more
    ``key=value`` training settings, e.g. ``log_targets=["radius"]``)."""
    from studio_desktop.core.experiments import apply_settings, defaults_for
    from studio_desktop.worker.train import run_training

    cfg = apply_settings(defaults_for("regression"),
                         ["model=tiny_cnn", "input_size=32", f"epochs={epochs}", "lr=0.003", "batch_size=8",
                          "pretrained=false", f"split_id={split.id}", *settings], "regression")
    svc = ExperimentService(ws, project.id)
    exp = svc.create(cfg, name=name)
    outcome = run_training(ws, project.id, exp.id)
    assert outcome.status == "completed", outcome.error
    return svc.get(exp.id)


def export(ws, project, experiment, **options):
    """Export with fast latency settings (the numbers are not what these tests check)."""
    options.setdefault("latency_runs", 3)
    options.setdefault("latency_warmup", 1)
    options.setdefault("threads", 1)
    options.setdefault("latency_min_seconds", 0.0)
    return run_export(ws, ExportRequest(project.id, experiment.id, **options), quiet_emitter)


__all__ = ["export", "make_tiny_project", "quiet_emitter", "regression_project", "trained_regression",
           "untrained_experiment"]
