"""Helpers of the segmentation prediction and export tests: a project of real street scenes (the fixture
``masks_camvid``: 24 training and 12 validation 480 x 360 photos with 12-class index masks, imported in
place of a copy) split by its folders, and experiments holding a Tiny U-Net with random weights (batch-norm
statistics measured on the images) written the way training writes a checkpoint (what is tested is that every runtime gives the network's answer,
not what the network learnt)."""

from __future__ import annotations

from pathlib import Path

import torch

from studio_desktop.core.datasets import DatasetStore
from studio_desktop.core.experiments import ExperimentService, apply_settings, defaults_for
from studio_desktop.core.importing import import_dataset
from studio_desktop.core.projects import ProjectService
from studio_desktop.core.splits import SplitService
from studio_desktop.ml.tasks import make_head

#: the shared real-data fixtures, beside the repository
SHARED_FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "real"
CAMVID = SHARED_FIXTURES / "masks_camvid"


def camvid_project(ws, name: str = "streets"):
    """The CamVid fixture imported into a semantic segmentation project, split train/val by its folders;
    returns (project, split)."""
    project = ProjectService(ws).create(name, "semantic_segmentation")
    import_dataset(ws, project.id, CAMVID)
    project = ProjectService(ws).get(project.id)
    store = DatasetStore(ws, project.id)
    records = store.load().images
    svc = SplitService(ws, project.id)
    plan = svc.plan(project, store.load(), ratios=(0.67, 0.33))
    plan.assignments = {r.id: ("val" if "/val/" in (r.source or "").replace("\\", "/") else "train") for r in records}
    return project, svc.create("folders", plan)


def segmentation_experiment(ws, project, split, name: str, *settings: str, size: int = 64, seed: int = 0):
    """An experiment whose best.ckpt holds a Tiny U-Net with random weights whose batch-norm statistics were
    measured on 8 of the project's images (a fresh network answers one class everywhere; this one answers
    several, varying over an image as a trained one does); ``settings``: more ``key=value`` training
    settings, e.g. ``mode=tiles``."""
    from studio_desktop.ml.preprocess import Preprocessing

    cfg = apply_settings(defaults_for("semantic_segmentation"),
                         ["model=tiny_unet", f"input_size={size}", "epochs=1", "pretrained=false",
                          f"split_id={split.id}", *settings], "semantic_segmentation")
    svc = ExperimentService(ws, project.id)
    exp = svc.create(cfg, name=name)
    head = make_head(project, cfg)
    torch.manual_seed(seed)
    net = head.build_model(lambda *a, **k: None)
    store = DatasetStore(ws, project.id)
    pre = Preprocessing(input_size=size)
    images = torch.stack([pre.tensor(store.path_of(r.file)) for r in sorted(store.load().images, key=lambda r: r.id)[:8]])
    for m in net.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.momentum = None  # the plain average of what it sees
    with torch.no_grad():
        net.train()(images)
    net.eval()
    path = svc.checkpoint(exp.id, "best")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {f"model.{k}": v for k, v in net.state_dict().items()},
                "studio": head.checkpoint_meta()}, path)
    return svc.update(exp.id, status="completed", epochs_done=1, environment={"split_id": split.id})


__all__ = ["CAMVID", "SHARED_FIXTURES", "camvid_project", "segmentation_experiment"]
