"""Anomaly-detection evaluations written straight from numpy on real images, without torch: what the
anomaly tests of the Evaluation page, the report and ``studio operating-point`` open.

``evaluated_anomaly`` imports the real fixture ``mvtec_hazelnut`` (MVTec AD layout: good hazelnuts
and ones with a colour defect, 0/255 defect masks) through the app's importer, splits it (validation:
good training images plus defective ones; test: the test images; or, with ``normal_only_val``,
validation without any defect), adds one experiment with checkpoint files, and writes an
``evaluation/`` folder laid out as ANOMALY.md says the evaluator writes it (scores.npz with score,
map, label, has_mask, gt_mask; results.jsonl; aggregate.json from ``core/evaluation/anomaly.py``'s
subset reports, the numbers the evaluator checks against torchmetrics; evaluation.json).

The "model" is made from the truth: each image's map is the defect mask on the map grid, blurred,
plus noise; defective images score its maximum — a few defects are made faint (missed) and a few
good images get a hot spot (false alarms), so every cell of the 2x2 matrix has images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from studio_desktop.core.anomaly import display_range, mask_to_grid
from studio_desktop.core.datasets import DatasetStore
from studio_desktop.core.evaluation import anomaly as an
from studio_desktop.core.evaluation.store import EvaluationInfo, EvaluationStore, write_info
from studio_desktop.core.experiments import ExperimentService
from studio_desktop.core.importing import import_dataset
from studio_desktop.core.projects import ProjectService
from studio_desktop.core.splits import SplitService
from studio_desktop.core.store import atomic_write_json, atomic_write_text

GRID = 64
INPUT = 256
HOW = {"image_auroc": "image AUROC (test text)", "pixel_auroc": "pixel AUROC (test text)"}


@dataclass
class AnomalyEvaluated:
    project: object
    experiment: object
    records: list  # in results.jsonl order
    subsets: list[str]
    scores: an.AnomalyScores


def import_hazelnut(ws, fixtures: Path, *, name: str = "Hazelnuts", normal_only_val: bool = False):
    """An anomaly project with the fixture imported and a split: train = some good training images,
    val = other good training images (+ half the defects unless ``normal_only_val``), test = the rest."""
    project = ProjectService(ws).create(name, "anomaly_detection")
    import_dataset(ws, project.id, fixtures / "mvtec_hazelnut", "mvtec", workers=1)
    store = DatasetStore(ws, project.id)
    records = sorted(store.load().images, key=lambda r: r.source)
    good_train = [r for r in records if r.anomaly.status == "normal" and "train" in r.tags]
    good_test = [r for r in records if r.anomaly.status == "normal" and "train" not in r.tags]
    defects = [r for r in records if r.anomaly.status == "anomalous"]
    assign = {r.id: "train" for r in good_train[:16]}
    assign.update({r.id: "val" for r in good_train[16:]})
    assign.update({r.id: "test" for r in good_test})
    for i, r in enumerate(defects):
        assign[r.id] = "test" if normal_only_val or i % 2 else "val"
    svc = SplitService(ws, project.id)
    plan = svc.plan(project, store.load(), ratios=(0.6, 0.2, 0.2))
    plan.assignments = assign
    for s in plan.stats:
        plan.stats[s].images = sum(1 for v in assign.values() if v == s)
    svc.create("main", plan)
    return project, records, assign


def make_experiment(ws, project, name: str = "patchcore"):
    svc = ExperimentService(ws, project.id)
    split_id = SplitService(ws, project.id).list()[0].id
    exp = svc.create({"epochs": 1, "split_id": split_id, "input_size": INPUT}, name)
    exp = svc.update(exp.id, status="completed", epochs_done=1)
    folder = svc.folder(exp.id) / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    for which in ("best", "last"):
        (folder / f"{which}.ckpt").write_bytes(b"not a real checkpoint")
    return exp


def fake_maps(root: Path, records, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(score, map, gt_mask, has_mask) made from the truth (see the module docstring)."""
    from PIL import Image
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    n = len(records)
    maps = np.zeros((n, GRID, GRID), np.float32)
    gt = np.zeros((n, GRID, GRID), bool)
    has = np.zeros(n, bool)
    for i, r in enumerate(records):
        if r.anomaly.status == "anomalous" and r.anomaly.mask:
            with Image.open(root / r.anomaly.mask) as m:
                gt[i] = mask_to_grid(np.asarray(m.convert("L")), GRID, input_size=INPUT)
            has[i] = True
        elif r.anomaly.status == "normal":
            has[i] = True
        strength = 3.0 if r.anomaly.status == "anomalous" else 0.0
        if r.anomaly.status == "anomalous" and i % 7 == 3:
            strength = 0.6  # a faint defect: missed
        spot = np.zeros((GRID, GRID), np.float32)
        if r.anomaly.status == "normal" and i % 9 == 4:  # a hot spot on a good image: a false alarm
            y, x = rng.integers(10, GRID - 10, 2)
            spot[y - 3:y + 3, x - 3:x + 3] = 2.5
        maps[i] = gaussian_filter(gt[i].astype(np.float32) * strength + spot, 1.5) + rng.normal(0, 0.15, (GRID, GRID))
    score = maps.reshape(n, -1).max(axis=1)
    return score, maps.astype(np.float16), gt, has


def write_evaluation(experiment_folder: Path, records, subsets, score, maps, gt, has, *, resamples: int = 50) -> Path:
    order = np.argsort([{"val": 0, "test": 1, "train": 2}[s] for s in subsets], kind="stable")
    records = [records[i] for i in order]
    subsets = [subsets[i] for i in order]
    score, maps, gt, has = score[order], maps[order], gt[order], has[order]
    scores = an.AnomalyScores(image_ids=np.array([r.id for r in records]), subsets=np.array(subsets),
                              score=score.astype(np.float64),
                              label=np.array([r.anomaly.status == "anomalous" for r in records], np.int8),
                              map=maps, has_mask=has, gt_mask=gt)
    threshold, how = an.effective_threshold(scores, None)
    store = EvaluationStore(experiment_folder)
    staged = store.staging()
    np.savez_compressed(staged / "scores.npz", **scores.as_npz())
    lines = []
    for i, r in enumerate(records):
        lines.append({"image": r.id, "file": r.file, "source": r.source, "subset": subsets[i], "width": r.width,
                      "height": r.height, "truth": {"status": r.anomaly.status, "mask": r.anomaly.mask,
                                                    "defect": r.anomaly.defect},
                      "prediction": {"score": float(score[i]), "anomalous": bool(score[i] >= threshold)}})
    import json

    atomic_write_text(staged / "results.jsonl", "".join(json.dumps(x) + "\n" for x in lines))
    present = [s for s in ("val", "test", "train") if s in subsets]
    low, high = display_range(scores.score[scores.subset("val") & (scores.label == 0)], threshold,
                              scores_anomalous=scores.score[scores.label == 1])
    aggregate = {"schema_version": 1, "task": "anomaly_detection", "operating_point": None, "how": HOW,
                 "threshold": {"value": threshold, "how": how, "default": True}, "display_range": [low, high],
                 "map_size": GRID, "input": {"size": INPUT, "resize": "letterbox"},
                 "subsets": {s: an.subset_report(scores, s, threshold, resamples=resamples) for s in present}}
    atomic_write_json(staged / "aggregate.json", aggregate)
    info = EvaluationInfo(experiment_id=experiment_folder.name, project_id="p", task="anomaly_detection",
                          checkpoint={"which": "best", "epoch": 1, "sha256": "0" * 64}, subsets=present,
                          images={s: subsets.count(s) for s in present}, skipped={}, batch_size=8, device="cpu",
                          classes=[], ended="2026-01-01T00:00:00+00:00", timings={}, environment={},
                          operating_point=None)
    write_info(staged, info)
    store.commit(staged)
    return store.folder


def evaluated_anomaly(ws, fixtures: Path, *, normal_only_val: bool = False, seed: int = 0) -> AnomalyEvaluated:
    project, records, assign = import_hazelnut(ws, fixtures, normal_only_val=normal_only_val)
    exp = make_experiment(ws, project)
    chosen = [r for r in records if assign.get(r.id) in ("val", "test")]
    subsets = [assign[r.id] for r in chosen]
    root = DatasetStore(ws, project.id).root
    score, maps, gt, has = fake_maps(root, chosen, seed)
    folder = ExperimentService(ws, project.id).folder(exp.id)
    write_evaluation(folder, chosen, subsets, score, maps, gt, has)
    scores = an.AnomalyScores.from_npz(EvaluationStore(folder).scores_arrays())
    rank = {"val": 0, "test": 1}
    ordered = sorted(range(len(chosen)), key=lambda i: rank[subsets[i]])
    return AnomalyEvaluated(project, exp, [chosen[i] for i in ordered], [subsets[i] for i in ordered], scores)
