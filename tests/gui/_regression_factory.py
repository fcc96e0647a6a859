"""Regression evaluations written straight from numpy, without torch: what the regression tests of
the Evaluation page, the report and the Training page open.

``evaluated_regression`` builds a regression project (targets with units, images with
thumbnails, a split), one experiment with checkpoint files, and an ``evaluation/`` folder laid out
as ``ml/tasks/regression_eval.py`` writes it (evaluation.json, aggregate.json with the core
module's numbers, which the evaluator checks equal to torchmetrics'; results.jsonl with truth,
prediction, absolute error and error rank; scores.npz).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from studio_desktop.core.datasets import DatasetStore
from studio_desktop.core.evaluation.regression import RegressionScores, subset_report
from studio_desktop.core.evaluation.store import EvaluationInfo, EvaluationStore, write_info
from studio_desktop.core.experiments import ExperimentService
from studio_desktop.core.projects import ProjectService
from studio_desktop.core.schemas import Dataset, ImageRecord
from studio_desktop.core.splits import SplitService
from studio_desktop.core.store import atomic_write_json, atomic_write_text

HOW = {"mae": "mean absolute error (test text)", "r2": "coefficient of determination (test text)"}


@dataclass
class RegressionEvaluated:
    project: object
    experiment: object
    ids: list[str]  # image ids in dataset order
    truth: np.ndarray  # (N, T) in dataset order
    predicted: np.ndarray  # (N, T)
    subsets: list[str]
    train_mean: np.ndarray


def regression_project(ws, *, targets=("radius", "brightness"), units=None, name="Discs"):
    svc = ProjectService(ws)
    project = svc.create(name, "regression")
    units = dict(units if units is not None else {"radius": "px"})
    return svc.save(project.model_copy(update={"target_names": list(targets), "target_units": units}))


def make_images(ws, project, truth: np.ndarray, subsets: list[str]) -> list[str]:
    """Grey squares (lighter for larger first targets) with thumbnails and a split putting image i in
    ``subsets[i]``."""
    store = DatasetStore(ws, project.id)
    store.images_dir.mkdir(parents=True, exist_ok=True)
    store.thumbnails_dir.mkdir(parents=True, exist_ok=True)
    names = project.target_names
    lo, hi = float(truth[:, 0].min()), float(truth[:, 0].max())
    records, ids = [], []
    for i, row in enumerate(truth):
        rid = f"{i:016x}"
        ids.append(rid)
        level = int(40 + 200 * (row[0] - lo) / ((hi - lo) or 1.0))
        Image.new("RGB", (32, 32), (level, level, 255 - level)).save(store.images_dir / f"{rid}.png")
        Image.new("RGB", (48, 48), (level, level, 255 - level)).save(store.thumbnails_dir / f"{rid}.jpg", "JPEG")
        records.append(ImageRecord(id=rid, file=f"images/{rid}.png", width=32, height=32, sha256=rid * 4,
                                   source=f"/data/disc_{i:05d}.png",
                                   targets={n: float(v) for n, v in zip(names, row, strict=True)}))
    store.save(Dataset(images=records))
    svc = SplitService(ws, project.id)
    plan = svc.plan(project, store.load(), ratios=(0.6, 0.2, 0.2))
    plan.assignments = dict(zip(ids, subsets, strict=True))
    for name in plan.stats:
        plan.stats[name].images = sum(1 for s in subsets if s == name)
    svc.create("main", plan)
    return ids


def make_experiment(ws, project, name: str = "first", task_settings: dict | None = None):
    svc = ExperimentService(ws, project.id)
    split_id = SplitService(ws, project.id).list()[0].id
    exp = svc.create({"model": "tiny_cnn", "epochs": 3, "split_id": split_id, "input_size": 32,
                      "task_settings": task_settings or {}}, name)
    exp = svc.update(exp.id, status="completed", epochs_done=3)
    folder = svc.folder(exp.id) / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    for which in ("best", "last"):
        (folder / f"{which}.ckpt").write_bytes(b"not a real checkpoint")
    return exp


def write_evaluation(experiment_folder: Path, project, ids, subsets, truth, predicted, train_mean, *,
                     resamples: int = 1000) -> Path:
    """An evaluation/ folder as the regression evaluator writes it; rows go val, test, train."""
    rank = {"val": 0, "test": 1, "train": 2}
    order = sorted(range(len(ids)), key=lambda i: rank[subsets[i]])
    ids = [ids[i] for i in order]
    subsets = [subsets[i] for i in order]
    truth = np.asarray(truth, dtype=np.float64)[order]
    predicted = np.asarray(predicted, dtype=np.float64)[order]
    names = list(project.target_names)
    scores = RegressionScores(image_ids=np.asarray(ids), subsets=np.asarray(subsets), truth=truth, values=predicted,
                              target_names=names, train_mean=np.asarray(train_mean, dtype=np.float64))
    store = EvaluationStore(experiment_folder)
    staged = store.staging()
    np.savez_compressed(staged / "scores.npz", **scores.as_npz())
    present = [s for s in ("val", "test", "train") if s in set(subsets)]
    aggregate = {"schema_version": 1, "task": "regression", "how": HOW, "targets": names,
                 "train_mean": list(map(float, train_mean)), "subsets": {}}
    for subset in present:
        aggregate["subsets"][subset] = subset_report(scores, subset, resamples=resamples)
    atomic_write_json(staged / "aggregate.json", aggregate)
    err = np.abs(predicted - truth).mean(axis=1)
    ranks = np.empty(len(err), dtype=int)
    ranks[np.argsort(-err, kind="stable")] = np.arange(1, len(err) + 1)
    lines = []
    for i, rid in enumerate(ids):
        pred = {n: round(float(v), 6) for n, v in zip(names, predicted[i], strict=True)}
        true = {n: float(v) for n, v in zip(names, truth[i], strict=True)}
        lines.append(json.dumps({"image": rid, "file": f"images/{rid}.png", "source": f"/data/disc_{rid}.png",
                                 "subset": subsets[i], "truth": {"targets": true}, "prediction": {"targets": pred},
                                 "abs_error": {n: round(abs(pred[n] - true[n]), 6) for n in names},
                                 "error_rank": int(ranks[i])}) + "\n")
    atomic_write_text(staged / "results.jsonl", "".join(lines))
    info = EvaluationInfo(experiment_id=experiment_folder.name, project_id=project.id, task="regression",
                          checkpoint={"which": "best", "path": str(experiment_folder / "checkpoints" / "best.ckpt"),
                                      "sha256": "cd" * 32, "epoch": 3},
                          subsets=present, images={s: subsets.count(s) for s in present}, batch_size=16, device="cpu",
                          timings={"total_s": 1.0, "images_per_s": 100.0},
                          environment={"app": "test", "python": "3.11", "torch": "2.14.1", "device": "CPU (test)"})
    write_info(staged, info)
    return store.commit(staged)


def evaluated_regression(ws, *, n: int = 40, seed: int = 0, targets=("radius", "brightness"), units=None,
                         noise=(1.5, 0.05)) -> RegressionEvaluated:
    """A project with one evaluated experiment ("first"): ``n`` images (half val, half test),
    radius 5-40 px and brightness 0.2-0.9 predicted with Gaussian noise; the training mean is the
    truth's mean shifted a little (as a real training subset's would be)."""
    rng = np.random.default_rng(seed)
    project = regression_project(ws, targets=targets, units=units)
    t = len(targets)
    lows, highs = np.array([5.0, 0.2, 1.0][:t]), np.array([40.0, 0.9, 9.0][:t])
    truth = lows + (highs - lows) * rng.random((n, t))
    predicted = truth + rng.normal(0, 1, (n, t)) * np.array(list(noise) + [0.5] * t)[:t]
    subsets = ["val" if i % 2 else "test" for i in range(n)]
    train_mean = truth.mean(axis=0) + 0.1 * (highs - lows) / 10
    ids = make_images(ws, project, truth, subsets)
    exp = make_experiment(ws, project)
    write_evaluation(ExperimentService(ws, project.id).folder(exp.id), project, ids, subsets, truth, predicted,
                     train_mean)
    return RegressionEvaluated(project=project, experiment=exp, ids=ids, truth=truth, predicted=predicted,
                               subsets=subsets, train_mean=train_mean)
