"""Regression end to end on the procedural sample: learns (beats the training-mean baseline), two
targets at once, normalisation stored and undone (predictions in target units), task settings."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from studio_desktop.core.datasets import DatasetStore
from studio_desktop.core.errors import InvalidInput
from studio_desktop.core.evaluation.store import EvaluationStore
from studio_desktop.core.experiments import ExperimentService, apply_settings, defaults_for
from studio_desktop.core.importing import import_dataset
from studio_desktop.core.projects import ProjectService
from studio_desktop.core.samples import write_sample
from studio_desktop.core.splits import SplitService
from studio_desktop.core.workspace import Workspace
from studio_desktop.worker.evaluate import evaluation_job
from studio_desktop.worker.train import run_training

pytestmark = pytest.mark.ml


@pytest.fixture(scope="module")
def regression(tmp_path_factory):
    root = tmp_path_factory.mktemp("reg")
    write_sample("regression", root / "sample", images=150, seed=1)
    ws = Workspace.open(root / "ws")
    torch.set_num_threads(1)
    project = ProjectService(ws).create("discs", "regression")
    import_dataset(ws, project.id, root / "sample")
    project = ProjectService(ws).get(project.id)
    svc_split = SplitService(ws, project.id)
    split = svc_split.create(None, svc_split.plan(project, DatasetStore(ws, project.id).load(), ratios=(0.6, 0.2, 0.2),
                                                  seed=0))
    cfg = apply_settings(defaults_for("regression"), ["model=tiny_cnn", "input_size=48", "epochs=20", "lr=0.003",
                                                      "batch_size=16", "pretrained=false", f"split_id={split.id}",
                                                      "loss=huber"], "regression")
    svc = ExperimentService(ws, project.id)
    exp = svc.create(cfg, name="discs")
    outcome = run_training(ws, project.id, exp.id)
    assert outcome.status == "completed", outcome.error
    yield ws, project, svc, exp, root
    ws.close()


def test_two_targets_learnt_better_than_the_training_mean(regression):
    ws, project, svc, exp, _ = regression
    assert project.target_names == ["radius", "brightness"]
    done = svc.get(exp.id)
    norm = done.environment["target_normalisation"]
    assert norm["targets"] == ["radius", "brightness"] and norm["std"][0] > 1
    assert evaluation_job(ws, project.id, exp.id, device="cpu").status == "completed"
    agg = EvaluationStore(svc.folder(exp.id)).aggregate()
    test = agg["subsets"]["test"]
    radius = next(t for t in test["per_target"] if t["name"] == "radius")
    assert radius["metrics"]["mae"] < 0.85 * radius["baseline"]["mae"], radius
    assert radius["metrics"]["r2"] > 0.2
    # torchmetrics (written) equal scikit-learn on the per-image lines
    from sklearn.metrics import mean_absolute_error, r2_score

    lines = [ln for ln in EvaluationStore(svc.folder(exp.id)).results() if ln["subset"] == "test"]
    y = [ln["truth"]["targets"]["radius"] for ln in lines]
    p = [ln["prediction"]["targets"]["radius"] for ln in lines]
    assert radius["metrics"]["mae"] == pytest.approx(mean_absolute_error(y, p), rel=1e-5)
    assert radius["metrics"]["r2"] == pytest.approx(r2_score(y, p), rel=1e-5)
    train_ids = {k for k, v in SplitService(ws, project.id).get(done.config.split_id).assignments.items()
                 if v == "train"}
    train_radius = [r.targets["radius"] for r in DatasetStore(ws, project.id).load().images if r.id in train_ids]
    assert agg["train_mean"][0] == pytest.approx(np.mean(train_radius), rel=1e-5)
    assert {ln["error_rank"] for ln in EvaluationStore(svc.folder(exp.id)).results()} == set(range(1, 61))


def test_predictions_are_in_target_units(regression):
    from studio_desktop.ml.predict import predict

    ws, project, svc, exp, root = regression
    rows, predictor, _ = predict(ws, exp.name, [root / "sample" / "images" / "0000.png"], None)
    values = rows[0]["prediction"]["targets"]
    assert set(values) == {"radius", "brightness"}
    assert 3 < values["radius"] < 50 and -0.5 < values["brightness"] < 1.5  # units, not z-scores
    # the checkpoint alone carries the normalisation
    rows2, _, _ = predict(None, str(svc.checkpoint(exp.id, "best")), [root / "sample" / "images" / "0000.png"],
                          None)
    assert rows2[0]["prediction"]["targets"] == pytest.approx(values)


def test_head_normalisation_round_trip_and_log_targets():
    from studio_desktop.core.schemas import Project
    from studio_desktop.ml.tasks.regression import RegressionHead

    project = Project(id="p", name="p", task="regression", target_names=["price", "rooms"])
    cfg = apply_settings(defaults_for("regression"), ["log_targets=[\"price\"]", "model=tiny_cnn"], "regression")
    head = RegressionHead(project, cfg)
    y = torch.tensor([[100_000.0, 2.0], [400_000.0, 3.0], [250_000.0, 5.0]])
    head.set_train_statistics(list(y))
    z = head.normalise(y)
    assert torch.allclose(z.mean(0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(head.denormalise(z), y, rtol=1e-5)
    assert math.isclose(float(head.mean[0]), float(torch.log(y[:, 0]).mean()), rel_tol=1e-6)
    exported = head.export_head()
    assert torch.allclose(exported(z), y, rtol=1e-5)
    with pytest.raises(InvalidInput, match="needs positive values"):
        head.set_train_statistics([torch.tensor([0.0, 1.0]), torch.tensor([5.0, 2.0])])


def test_task_settings_are_validated_by_name():
    cfg = apply_settings(defaults_for("regression"), ["loss=l1", "huber_delta=2"], "regression")
    assert cfg.task_settings == {"loss": "l1", "huber_delta": 2}
    with pytest.raises(InvalidInput, match="'loss'"):
        apply_settings(defaults_for("regression"), ["loss=cubic"], "regression")
    with pytest.raises(InvalidInput, match="is not a training setting"):
        apply_settings(defaults_for("classification"), ["loss=l1"], "classification")
