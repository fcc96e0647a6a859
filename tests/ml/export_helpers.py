"""Helpers of the export tests: trained or freshly built experiments of the tiny 3-class project,
trained experiments of a tiny regression project (the procedural discs, radius in px), and a detection
project of real blood smears with the teaching detector trained on it."""

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



def rbc_detection_project(ws, fixtures, *, per_subset: int = 10, name: str = "cells"):
    """An object detection project of real blood smears (the fixture ``coco_bbox_rbc``, 416 px JPEGs, rbc/wbc
    with ~20 boxes an image): ``per_subset`` images of each of its train/valid/test folders, imported into
    the workspace (the fixture stays in place), split as the fixture splits them; returns (project, split)."""
    import shutil

    from PIL import Image

    from studio_desktop.core.datasets import DatasetStore
    from studio_desktop.core.formats.coco import READER
    from studio_desktop.core.projects import ProjectService
    from studio_desktop.core.schemas import Dataset, ImageRecord
    from studio_desktop.core.splits import SplitService

    parsed = READER.read(fixtures / "coco_bbox_rbc", "object_detection")
    project = ProjectService(ws).create(name, "object_detection", parsed.class_names)
    store = DatasetStore(ws, project.id)
    store.images_dir.mkdir(parents=True, exist_ok=True)
    records, subsets = [], []
    for tag in ("train", "val", "test"):
        chosen = sorted((p for p in parsed.images if tag in p.tags), key=lambda p: p.path.name)[:per_subset]
        for p in chosen:
            rid = f"{len(records):012x}"
            shutil.copyfile(p.path, store.images_dir / f"{rid}.jpg")
            with Image.open(p.path) as im:
                w, h = im.size
            records.append(ImageRecord(id=rid, file=f"images/{rid}.jpg", width=w, height=h, sha256=rid * 5,
                                       source=str(p.path), tags=[tag], boxes=list(p.boxes)))
            subsets.append(tag)
    store.save(Dataset(images=records))
    svc = SplitService(ws, project.id)
    plan = svc.plan(project, store.load(), ratios=(0.6, 0.2, 0.2))
    plan.assignments = {r.id: s for r, s in zip(records, subsets, strict=True)}
    for s in plan.stats:
        plan.stats[s].images = subsets.count(s)
    split = svc.create("fixture", plan)
    return ProjectService(ws).get(project.id), split


def trained_detector(ws, project, split, name: str = "tiny", *settings: str, epochs: int = 3, size: int = 128):
    """The teaching detector (tiny_fcos) trained for ``epochs`` at ``size`` px on the project's training images."""
    from studio_desktop.core.experiments import apply_settings, defaults_for
    from studio_desktop.worker.train import run_training

    cfg = apply_settings(defaults_for("object_detection"),
                         ["model=tiny_fcos", f"input_size={size}", f"epochs={epochs}", "batch_size=4",
                          "pretrained=false", f"split_id={split.id}", *settings], "object_detection")
    svc = ExperimentService(ws, project.id)
    exp = svc.create(cfg, name=name)
    outcome = run_training(ws, project.id, exp.id)
    assert outcome.status == "completed", outcome.error
    return svc.get(exp.id)


__all__ = ["export", "make_tiny_project", "quiet_emitter", "rbc_detection_project", "regression_project",
           "trained_detector", "trained_regression", "untrained_experiment"]
