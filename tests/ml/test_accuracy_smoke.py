"""Accuracy smoke test: the procedural classification sample is learnt clearly above chance.

The class is the *shape* (random colours, textured backgrounds), so this fails if images,
labels and the split are misaligned, the augmentations destroy the shapes, or the loop does
not learn. Chance is 33 %."""

from __future__ import annotations

import pytest

from studio_desktop.core.datasets import DatasetStore
from studio_desktop.core.experiments import AugmentationStep, ExperimentService, defaults_for
from studio_desktop.core.samples import create_sample_project
from studio_desktop.core.splits import SplitService
from studio_desktop.worker.train import run_training

pytestmark = [pytest.mark.ml, pytest.mark.slow]


def test_sample_is_learnt_clearly_above_chance(workspace):
    project = create_sample_project(workspace, "classification", images=300, seed=1)
    splits = SplitService(workspace, project.id)
    plan = splits.plan(project, DatasetStore(workspace, project.id).load(), ratios=(0.7, 0.3), seed=0)
    split = splits.create("smoke", plan)
    cfg = defaults_for("classification").model_copy(update={
        "model": "tiny_cnn", "pretrained": False, "input_size": 48, "epochs": 20, "batch_size": 16, "lr": 3e-3,
        "split_id": split.id, "augmentations": [AugmentationStep(name="flip_horizontal"),
                                                AugmentationStep(name="rotation", params={"degrees": 180})]})
    exp = ExperimentService(workspace, project.id).create(cfg)
    outcome = run_training(workspace, project.id, exp.id)
    assert outcome.status == "completed", outcome.error
    acc = outcome.summary["val"]["accuracy"]
    assert acc >= 0.55, f"val accuracy {acc:.2f} is not clearly above chance (0.33)"
