"""Evaluations written straight from numpy, without torch: what the Evaluation page tests and the
page benchmark open.

``evaluated_project`` builds a classification project (images, thumbnails, a split), one or more
experiments with checkpoint files, and for each an ``evaluation/`` folder exactly as the
evaluator lays it out (evaluation.json, aggregate.json, results.jsonl, scores.npz,
label_issues.json), its numbers computed by the same numpy module the evaluator checks against
torchmetrics.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from studio_desktop.core.datasets import DatasetStore
from studio_desktop.core.evaluation.classification import Scores, decisions, subset_report
from studio_desktop.core.evaluation.store import EvaluationInfo, EvaluationStore, write_info
from studio_desktop.core.experiments import ExperimentService
from studio_desktop.core.projects import ProjectService
from studio_desktop.core.schemas import Dataset, ImageRecord
from studio_desktop.core.splits import SplitService
from studio_desktop.core.store import atomic_write_json, atomic_write_text

COLORS = [(200, 40, 40), (40, 160, 60), (40, 60, 200), (200, 160, 30), (140, 40, 160)]
HOW = {"accuracy": "share of the counted images whose predicted class is the true class (test text)",
       "f1_macro": "harmonic mean of precision and recall per class, averaged (test text)"}


@dataclass
class Evaluated:
    project: object
    experiments: list
    ids: list[str]  # image ids in dataset order
    labels: list[int]  # class index per image
    subsets: list[str]


def _jpeg(color, size=(48, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG")
    return buf.getvalue()


def make_images(ws, project, labels: list[int], subsets: list[str], *, png: bool = True) -> list[str]:
    """Images (coloured squares, a little different each) with thumbnails, and a split putting
    image i in ``subsets[i]``."""
    store = DatasetStore(ws, project.id)
    store.images_dir.mkdir(parents=True, exist_ok=True)
    store.thumbnails_dir.mkdir(parents=True, exist_ok=True)
    records, ids = [], []
    shared = None if png else _jpeg((90, 140, 200))
    for i, label in enumerate(labels):
        rid = f"{i:016x}"
        ids.append(rid)
        base = COLORS[label % len(COLORS)]
        color = (base[0], min(255, base[1] + (i * 7) % 60), base[2])
        if png:
            Image.new("RGB", (32, 32), color).save(store.images_dir / f"{rid}.png")
            (store.thumbnails_dir / f"{rid}.jpg").write_bytes(_jpeg(color))
        else:
            (store.thumbnails_dir / f"{rid}.jpg").write_bytes(shared)
        records.append(ImageRecord(id=rid, file=f"images/{rid}.png", width=32, height=32, sha256=rid * 4,
                                   source=f"/data/{project.classes[label].name}/img_{i:05d}.png", label=label))
    DatasetStore(ws, project.id).save(Dataset(images=records))
    svc = SplitService(ws, project.id)
    dataset = DatasetStore(ws, project.id).load()
    plan = svc.plan(project, dataset, ratios=(0.6, 0.2, 0.2))
    plan.assignments = dict(zip(ids, subsets, strict=True))
    for name in plan.stats:
        plan.stats[name].images = sum(1 for s in subsets if s == name)
    svc.create("main", plan)
    return ids


def make_experiment(ws, project, name: str, *, checkpoints=("best", "last")):
    svc = ExperimentService(ws, project.id)
    split_id = SplitService(ws, project.id).list()[0].id
    exp = svc.create({"model": "tiny_cnn", "epochs": 3, "split_id": split_id, "input_size": 32}, name)
    exp = svc.update(exp.id, status="completed", epochs_done=3)
    folder = svc.folder(exp.id) / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    for which in checkpoints:
        (folder / f"{which}.ckpt").write_bytes(b"not a real checkpoint")
    return exp


def write_evaluation(experiment_folder: Path, project, ids: list[str], subsets: list[str], truth, logits,
                     *, issues: list[int] = (), files: list[str] | None = None, resamples: int = 1000) -> Path:
    """An evaluation/ folder as ml/evaluate.py writes it, from ``logits`` (N, C) of the images in
    dataset order: rows go val first, then test, then train, as the evaluator orders them."""
    rank = {"val": 0, "test": 1, "train": 2}
    order = sorted(range(len(ids)), key=lambda i: rank[subsets[i]])
    position = {i: k for k, i in enumerate(order)}
    ids = [ids[i] for i in order]
    subsets = [subsets[i] for i in order]
    truth = np.asarray(truth, dtype=np.int64)[order]
    logits = np.asarray(logits, dtype=np.float32)[order]
    files = [files[i] for i in order] if files else None
    issues = [position[i] for i in issues]
    class_ids = [c.id for c in project.classes]
    names = [c.name for c in project.classes]
    scores = Scores(image_ids=np.asarray(ids), subsets=np.asarray(subsets), truth=truth, logits=logits,
                    class_ids=class_ids, class_names=names)
    dec = decisions(scores, None)
    store = EvaluationStore(experiment_folder)
    staged = store.staging()
    np.savez_compressed(staged / "scores.npz", **scores.as_npz())
    order = list(dict.fromkeys(s for s in ("val", "test", "train") if s in set(subsets)))
    aggregate = {"schema_version": 1, "task": "classification", "operating_point": None, "how": HOW,
                 "classes": [{"id": i, "name": n} for i, n in zip(class_ids, names, strict=True)], "subsets": {}}
    for subset in order:
        body = subset_report(scores, dec, subset, resamples=resamples).as_json()
        cm = np.asarray(body["confusion"], dtype=float)
        rows = cm.sum(axis=1, keepdims=True)
        body["confusion_normalized"] = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0).tolist()
        aggregate["subsets"][subset] = body
    atomic_write_json(staged / "aggregate.json", aggregate)
    issue_list = []
    for rank, i in enumerate(issues, 1):
        suggested = int(dec.probs[i].argmax())
        issue_list.append({"rank": rank, "image": ids[i], "file": f"images/{ids[i]}.png", "subset": subsets[i],
                           "given": {"label": class_ids[truth[i]], "name": names[truth[i]]},
                           "suggested": {"label": class_ids[suggested], "name": names[suggested]},
                           "quality": 0.1, "suggested_probability": float(dec.probs[i, suggested])})
    atomic_write_json(staged / "label_issues.json", {"schema_version": 1, "method": "test", "issues": issue_list})
    rank_of = {d["image"]: d["rank"] for d in issue_list}
    lines = []
    for i, rid in enumerate(ids):
        t, p = int(truth[i]), int(dec.pred[i])
        lines.append(json.dumps({
            "image": rid, "file": (files[i] if files else f"images/{rid}.png"),
            "source": f"/data/{names[t]}/img_{i:05d}.png", "subset": subsets[i],
            "truth": {"label": class_ids[t], "name": names[t]}, "prediction": {"label": class_ids[p], "name": names[p]},
            "confidence": round(float(dec.probs[i, p]), 6), "probabilities": [round(float(v), 6) for v in dec.probs[i]],
            "correct": t == p, "uncertain": False, "label_issue": rank_of.get(rid)}) + "\n")
    atomic_write_text(staged / "results.jsonl", "".join(lines))
    info = EvaluationInfo(experiment_id=experiment_folder.name, project_id=project.id, task="classification",
                          checkpoint={"which": "best", "path": str(experiment_folder / "checkpoints" / "best.ckpt"),
                                      "sha256": "ab" * 32, "epoch": 3},
                          subsets=order, images={s: subsets.count(s) for s in order}, batch_size=16, device="cpu",
                          classes=[{"id": i, "name": n} for i, n in zip(class_ids, names, strict=True)],
                          timings={"total_s": 1.0, "images_per_s": 100.0},
                          environment={"app": "test", "python": "3.11", "torch": "2.14.1", "device": "CPU (test)"})
    write_info(staged, info)
    return store.commit(staged)


def logits_for(pred: list[int], num_classes: int, confidence: list[float] | None = None) -> np.ndarray:
    """Logits whose softmax puts probability ``confidence[i]`` (default 0.8) on ``pred[i]`` and
    shares the rest equally."""
    n = len(pred)
    conf = np.asarray(confidence if confidence is not None else [0.8] * n, dtype=np.float64)
    probs = np.tile(((1 - conf) / (num_classes - 1))[:, None], (1, num_classes))
    probs[np.arange(n), pred] = conf
    return np.log(probs).astype(np.float32)


def evaluated_project(ws, *, classes=("cat", "dog", "fox"), labels=None, subsets=None, preds=None,
                      confidences=None, second_preds=None, issues=(1, 4), logits=None) -> Evaluated:
    """A project with one evaluated experiment ("first") and, with ``second_preds``, a second one
    ("second") evaluated on the same images. Default: 24 images, 8 per class, 12 val / 12 test.
    ``logits`` (N, C) replaces the logits made from ``preds`` and ``confidences``."""
    project = ProjectService(ws).create("Pets", "classification", list(classes))
    c = len(classes)
    labels = list(labels if labels is not None else [i % c for i in range(24)])
    subsets = list(subsets if subsets is not None else ["val" if i % 2 else "test" for i in range(len(labels))])
    preds = list(preds if preds is not None else [(t + 1) % c if i % 5 == 0 else t for i, t in enumerate(labels)])
    ids = make_images(ws, project, labels, subsets)
    exps = []
    for name, p in (("first", preds), ("second", second_preds)):
        if p is None:
            continue
        exp = make_experiment(ws, project, name)
        raw = logits if (logits is not None and name == "first") else logits_for(list(p), c, confidences)
        write_evaluation(ExperimentService(ws, project.id).folder(exp.id), project, ids, subsets, labels, raw,
                         issues=list(issues))
        exps.append(exp)
    return Evaluated(project=project, experiments=exps, ids=ids, labels=labels, subsets=subsets)
