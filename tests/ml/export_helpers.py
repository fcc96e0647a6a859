"""Helpers of the export tests: trained or freshly built experiments of the tiny 3-class project."""

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


def export(ws, project, experiment, **options):
    """Export with fast latency settings (the numbers are not what these tests check)."""
    options.setdefault("latency_runs", 3)
    options.setdefault("latency_warmup", 1)
    options.setdefault("threads", 1)
    options.setdefault("latency_min_seconds", 0.0)
    return run_export(ws, ExportRequest(project.id, experiment.id, **options), quiet_emitter)


__all__ = ["export", "make_tiny_project", "quiet_emitter", "untrained_experiment"]
