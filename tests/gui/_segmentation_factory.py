"""Segmentation evaluations written straight from numpy on real images, without torch: what the
segmentation tests of the Evaluation page and the report open.

``evaluated_segmentation`` imports the real fixture ``masks_camvid`` (CamVid street scenes, 480x360,
index masks of 12 classes) into a semantic-segmentation project, assigns its 12 ``val`` images to
the validation subset and 12 of its ``train`` images to the test subset, adds one experiment with
checkpoint files, and writes an ``evaluation/`` folder laid out as SEGMENTATION.md says the
segmentation evaluator writes it: ``masks/<image id>.png`` (predicted class ids), ``scores.npz``
(one pixel confusion matrix per image), ``results.jsonl`` and ``aggregate.json``.

The predictions are the ground truth damaged in ways a real model errs: every mask shifted a few
pixels (boundary errors), one class painted as another on some images (class confusion), a class
erased into its neighbour on others (missed), and one image predicted almost entirely wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from studio_desktop.core import segmentation as seg
from studio_desktop.core.datasets import DatasetStore
from studio_desktop.core.evaluation import segmentation as sm
from studio_desktop.core.evaluation.store import EvaluationInfo, EvaluationStore, write_info
from studio_desktop.core.experiments import ExperimentService
from studio_desktop.core.importing import import_dataset
from studio_desktop.core.projects import ProjectService
from studio_desktop.core.splits import SplitService
from studio_desktop.core.store import atomic_write_json, atomic_write_text
from studio_desktop.core.train_config import MODEL_CATALOG


@dataclass
class SegmentationEvaluated:
    project: object
    experiment: object
    ids: list[str]  # image ids in results.jsonl order (val first, then test)
    subsets: list[str]
    truth: list[np.ndarray]  # class-id masks as on disk
    predicted: list[np.ndarray]


def import_camvid(ws, fixtures: Path, *, name: str = "Streets", test_images: int = 12):
    """A segmentation project with the fixture imported, a split: val = the fixture's val images,
    test = the first ``test_images`` train images (the rest train)."""
    project = ProjectService(ws).create(name, "semantic_segmentation")
    import_dataset(ws, project.id, fixtures / "masks_camvid")
    project = ProjectService(ws).get(project.id)
    store = DatasetStore(ws, project.id)
    records = sorted(store.load().images, key=lambda r: r.source)
    val = [r for r in records if "/val/" in r.source.replace("\\", "/")]
    train = [r for r in records if r not in val]
    test = train[:test_images]
    assignments = {r.id: "val" for r in val} | {r.id: "test" for r in test} | \
        {r.id: "train" for r in train[test_images:]}
    svc = SplitService(ws, project.id)
    plan = svc.plan(project, store.load(), ratios=(0.6, 0.2, 0.2))
    plan.assignments = assignments
    svc.create("main", plan)
    return project, store, val + test, ["val"] * len(val) + ["test"] * len(test)


def make_experiment(ws, project, name: str = "first"):
    svc = ExperimentService(ws, project.id)
    split_id = SplitService(ws, project.id).list()[0].id
    models = MODEL_CATALOG.get("semantic_segmentation") or MODEL_CATALOG["classification"]
    exp = svc.create({"model": models[0].name, "epochs": 3, "split_id": split_id, "input_size": 256}, name)
    exp = svc.update(exp.id, status="completed", epochs_done=3)
    folder = svc.folder(exp.id) / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    for which in ("best", "last"):
        (folder / f"{which}.ckpt").write_bytes(b"not a real checkpoint")
    return exp


def damage(truth: np.ndarray, i: int, class_ids: list[int], rng) -> np.ndarray:
    """A prediction made from a class-id truth mask (see the module docstring)."""
    pred = np.roll(truth, shift=(int(rng.integers(-4, 5)), int(rng.integers(-4, 5))), axis=(0, 1)).copy()
    present = [c for c in np.unique(truth).tolist() if c in class_ids]
    if i % 3 == 1 and len(present) >= 2:  # one class seen as another
        a, b = rng.choice(present, 2, replace=False)
        pred[pred == a] = b
    if i % 4 == 2 and len(present) >= 2:  # the smallest class missed: its neighbour grows over it
        counts = {c: int((truth == c).sum()) for c in present}
        small = min(counts, key=counts.get)
        pred[pred == small] = max(counts, key=counts.get)
    if i == 5:  # one image almost entirely wrong
        pred = np.full_like(truth, class_ids[int(rng.integers(0, len(class_ids)))])
    pred[pred == seg.IGNORE] = class_ids[0]  # a prediction is always a class
    lut = seg.channel_lut(class_ids)
    pred[lut[pred] == seg.IGNORE] = class_ids[0]
    return pred


def write_evaluation(experiment_folder: Path, project, store: DatasetStore, records, subsets, predicted,
                     *, resamples: int = 50) -> Path:
    """An evaluation/ folder as the segmentation evaluator writes it (records in results order)."""
    class_ids = [c.id for c in project.classes]
    names = [c.name for c in project.classes]
    lut = seg.channel_lut(class_ids)
    ev = EvaluationStore(experiment_folder)
    staged = ev.staging()
    (staged / "masks").mkdir()
    conf = []
    for rec, pred in zip(records, predicted, strict=True):
        Image.fromarray(pred.astype(np.uint8), mode="L").save(staged / "masks" / f"{rec.id}.png")
        truth = np.asarray(Image.open(store.path_of(rec.mask)))
        conf.append(sm.confusion_of(seg.to_channels(truth, lut), seg.to_channels(pred, lut), len(class_ids)))
    scores = sm.SegmentationScores(np.array([r.id for r in records]), np.array(subsets), np.stack(conf), class_ids,
                                   names)
    np.savez_compressed(staged / "scores.npz", **scores.as_npz())
    present = [s for s in ("val", "test") if s in subsets]
    aggregate = {"schema_version": 1, "task": "semantic_segmentation", "how": sm.HOW,
                 "classes": [{"id": i, "name": n} for i, n in zip(class_ids, names, strict=True)],
                 "subsets": {s: sm.subset_report(scores, s, resamples=resamples) for s in present}}
    atomic_write_json(staged / "aggregate.json", aggregate)
    iou, acc = sm.image_iou(scores), sm.image_pixel_accuracy(scores)
    per = sm.image_class_iou(scores)
    lines = []
    for i, rec in enumerate(records):
        lines.append(json.dumps({"image": rec.id, "file": rec.file, "source": rec.source, "subset": subsets[i],
                                 "width": rec.width, "height": rec.height, "truth": {"mask": rec.mask},
                                 "prediction": {"mask": f"masks/{rec.id}.png"}, "iou": float(iou[i]),
                                 "pixel_accuracy": float(acc[i]),
                                 "ious": {str(c): float(per[i, k]) for k, c in enumerate(class_ids)
                                          if np.isfinite(per[i, k])}}) + "\n")
    atomic_write_text(staged / "results.jsonl", "".join(lines))
    info = EvaluationInfo(experiment_id=experiment_folder.name, project_id=project.id, task="semantic_segmentation",
                          checkpoint={"which": "best", "path": str(experiment_folder / "checkpoints" / "best.ckpt"),
                                      "sha256": "ab" * 32, "epoch": 3},
                          subsets=present, images={s: subsets.count(s) for s in present}, batch_size=4,
                          device="cpu", classes=[{"id": i, "name": n} for i, n in zip(class_ids, names, strict=True)],
                          timings={"total_s": 2.0, "images_per_s": 6.0},
                          environment={"app": "test", "python": "3.11", "torch": "2.14.1", "device": "CPU (test)"})
    write_info(staged, info)
    return ev.commit(staged)


def _build(ws, fixtures: Path, seed: int, test_images: int) -> SegmentationEvaluated:
    project, store, records, subsets = import_camvid(ws, fixtures, test_images=test_images)
    exp = make_experiment(ws, project)
    rng = np.random.default_rng(seed)
    class_ids = [c.id for c in project.classes]
    truth = [np.asarray(Image.open(store.path_of(r.mask))) for r in records]
    predicted = [damage(t, i, class_ids, rng) for i, t in enumerate(truth)]
    write_evaluation(ExperimentService(ws, project.id).folder(exp.id), project, store, records, subsets, predicted)
    return SegmentationEvaluated(project=project, experiment=exp, ids=[r.id for r in records], subsets=subsets,
                                 truth=truth, predicted=predicted)


#: (fixtures, seed, test images) -> (template workspace folder, what was built there): the import and
#: the evaluation are made once a session and the project folder copied into each test's workspace
_TEMPLATES: dict = {}


def evaluated_segmentation(ws, fixtures: Path, *, seed: int = 0, test_images: int = 12) -> SegmentationEvaluated:
    """A project with one evaluated experiment ("first") on 12 val + ``test_images`` test images."""
    import atexit
    import shutil
    import tempfile

    from studio_desktop.core.workspace import Workspace

    key = (str(fixtures), seed, test_images)
    if key not in _TEMPLATES:
        root = Path(tempfile.mkdtemp(prefix="seg-eval-template-"))
        atexit.register(shutil.rmtree, root, True)
        template = Workspace.open(root / "ws")
        try:
            _TEMPLATES[key] = (template.project_dir("x").parent, _build(template, fixtures, seed, test_images))
        finally:
            template.close()
    projects_dir, built = _TEMPLATES[key]
    shutil.copytree(projects_dir / built.project.id, ws.project_dir(built.project.id))
    project = ProjectService(ws).get(built.project.id)
    return SegmentationEvaluated(project=project, experiment=ExperimentService(ws, project.id).get(built.experiment.id),
                                 ids=built.ids, subsets=built.subsets, truth=built.truth, predicted=built.predicted)
