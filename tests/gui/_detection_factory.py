"""Detection evaluations written straight from numpy on real images, without torch: what the
detection tests of the Evaluation page and the report open.

``evaluated_detection`` imports the validation and test images of the real fixture
``coco_bbox_rbc`` (blood smears, classes rbc and wbc, ~20 boxes an image) into a detection
project (images, thumbnails, a split), adds one experiment with checkpoint files, and writes an
``evaluation/`` folder laid out as DETECTION.md says the detection evaluator writes it:
``scores.npz`` (the raw cache: every prediction at a low score, the ground truth with its ignore
flags), ``results.jsonl`` (one line per image with the predictions above the operating point and
its TP/FP/FN), ``aggregate.json`` (mAP and per-class AP computed here with pycocotools' COCOeval,
the reference the evaluator is tested against) and ``evaluation.json``.

The predictions are the ground truth perturbed: most boxes found with a jittered box and a high
score, some missed, some found with the other class, false alarms at low scores, and low-score
duplicates that only NMS removes; one box per subset is ``iscrowd`` (an ignore box).
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from studio_desktop.core.datasets import DatasetStore
from studio_desktop.core.evaluation.store import EvaluationInfo, EvaluationStore, write_info
from studio_desktop.core.experiments import ExperimentService
from studio_desktop.core.formats.coco import READER
from studio_desktop.core.projects import ProjectService
from studio_desktop.core.schemas import Box, Dataset, ImageRecord
from studio_desktop.core.splits import SplitService
from studio_desktop.core.store import atomic_write_json, atomic_write_text
from studio_desktop.core.train_config import MODEL_CATALOG

SUBSET_OF_TAG = {"val": "val", "test": "test"}
HOW = {"map": "COCO mAP@0.5:0.95 (test text)", "map_50": "COCO AP at IoU 0.5 (test text)"}


@dataclass
class DetectionEvaluated:
    project: object
    experiment: object
    ids: list[str]  # image ids in results.jsonl order (val first, then test)
    subsets: list[str]
    sizes: list[tuple[int, int]]
    gt: list[list[Box]]  # per image
    det_image: np.ndarray
    det_boxes: np.ndarray
    det_scores: np.ndarray
    det_labels: np.ndarray


def import_rbc(ws, fixtures: Path, *, name: str = "Blood cells", limit: int | None = None):
    """A detection project with the fixture's validation and test images (copied into the
    workspace as the importer would; the fixture stays in place), thumbnails and a split."""
    parsed = READER.read(fixtures / "coco_bbox_rbc", "object_detection")
    project = ProjectService(ws).create(name, "object_detection", parsed.class_names)
    store = DatasetStore(ws, project.id)
    store.images_dir.mkdir(parents=True, exist_ok=True)
    store.thumbnails_dir.mkdir(parents=True, exist_ok=True)
    chosen = [p for p in parsed.images if any(t in SUBSET_OF_TAG for t in p.tags)]
    chosen.sort(key=lambda p: (0 if "val" in p.tags else 1, p.path.name))
    if limit:
        chosen = chosen[:limit]
    records, subsets = [], []
    for i, p in enumerate(chosen):
        rid = f"{i:012x}"
        shutil.copyfile(p.path, store.images_dir / f"{rid}.jpg")
        with Image.open(p.path) as im:
            w, h = im.size
            thumb = im.convert("RGB")
            thumb.thumbnail((256, 256))
            thumb.save(store.thumbnail_path(rid), "JPEG")
        subset = next(SUBSET_OF_TAG[t] for t in p.tags if t in SUBSET_OF_TAG)
        subsets.append(subset)
        records.append(ImageRecord(id=rid, file=f"images/{rid}.jpg", width=w, height=h, sha256=rid * 5,
                                   source=str(p.path), tags=[subset], boxes=list(p.boxes)))
    store.save(Dataset(images=records))
    svc = SplitService(ws, project.id)
    plan = svc.plan(project, store.load(), ratios=(0.6, 0.2, 0.2))
    plan.assignments = {r.id: s for r, s in zip(records, subsets, strict=True)}
    for s in plan.stats:
        plan.stats[s].images = subsets.count(s)
    svc.create("main", plan)
    return project, records, subsets


def make_experiment(ws, project, name: str = "first"):
    svc = ExperimentService(ws, project.id)
    split_id = SplitService(ws, project.id).list()[0].id
    model = MODEL_CATALOG["object_detection"][0].name
    exp = svc.create({"model": model, "epochs": 3, "split_id": split_id, "input_size": 320}, name)
    exp = svc.update(exp.id, status="completed", epochs_done=3)
    folder = svc.folder(exp.id) / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    for which in ("best", "last"):
        (folder / f"{which}.ckpt").write_bytes(b"not a real checkpoint")
    return exp


def perturb(records, seed: int = 0, *, crowd_every: int = 9):
    """Predictions made from the ground truth (see the module docstring); marks some GT iscrowd."""
    rng = np.random.default_rng(seed)
    n_classes = 1 + max((b.cls for r in records for b in r.boxes), default=0)
    det_image, det_boxes, det_scores, det_labels = [], [], [], []
    gts = []
    for i, rec in enumerate(records):
        boxes = []
        for k, b in enumerate(rec.boxes):
            crowd = k == 0 and i % crowd_every == 0
            boxes.append(b.model_copy(update={"iscrowd": crowd}))
        gts.append(boxes)
        for b in boxes:
            w, h = b.x2 - b.x1, b.y2 - b.y1
            u = rng.random()
            if u < 0.12:
                continue  # missed
            cls = (b.cls + 1) % n_classes if u < 0.18 else b.cls  # found as the other class
            jitter = rng.normal(0, 0.06, 4) * np.array([w, h, w, h])
            box = np.array([b.x1, b.y1, b.x2, b.y2]) + jitter
            det_image.append(i)
            det_boxes.append(box)
            det_scores.append(float(rng.uniform(0.45, 0.99)))
            det_labels.append(cls)
            if rng.random() < 0.3:  # a low-score duplicate that NMS removes
                det_image.append(i)
                det_boxes.append(box + rng.normal(0, 0.03, 4) * np.array([w, h, w, h]))
                det_scores.append(float(rng.uniform(0.01, 0.2)))
                det_labels.append(cls)
        for _ in range(int(rng.integers(0, 4))):  # false alarms
            x, y = rng.uniform(0, rec.width - 40), rng.uniform(0, rec.height - 40)
            s = rng.uniform(20, 60)
            det_image.append(i)
            det_boxes.append(np.array([x, y, min(x + s, rec.width), min(y + s, rec.height)]))
            det_scores.append(float(rng.uniform(0.02, 0.7)))
            det_labels.append(int(rng.integers(0, n_classes)))
    boxes = np.clip(np.asarray(det_boxes, dtype=np.float32).reshape(-1, 4), 0, None)
    return (gts, np.asarray(det_image, dtype=np.int64), boxes, np.asarray(det_scores, dtype=np.float32),
            np.asarray(det_labels, dtype=np.int64))


def coco_metrics(records, gts, det_image, det_boxes, det_scores, det_labels, rows, n_classes):
    """pycocotools' COCOeval on the images ``rows``: the headline numbers and per-class AP."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, anns = [], []
    for i in rows:
        images.append({"id": int(i), "width": records[i].width, "height": records[i].height})
        for b in gts[i]:
            anns.append({"id": len(anns) + 1, "image_id": int(i), "category_id": b.cls + 1,
                         "bbox": [b.x1, b.y1, b.x2 - b.x1, b.y2 - b.y1], "area": (b.x2 - b.x1) * (b.y2 - b.y1),
                         "iscrowd": int(b.iscrowd or b.difficult)})
    gt = COCO()
    gt.dataset = {"images": images, "annotations": anns,
                  "categories": [{"id": c + 1, "name": str(c)} for c in range(n_classes)]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        keep = np.isin(det_image, rows)
        dets = [{"image_id": int(i), "category_id": int(c) + 1, "bbox": [float(b[0]), float(b[1]),
                 float(b[2] - b[0]), float(b[3] - b[1])], "score": float(s)}
                for i, b, s, c in zip(det_image[keep], det_boxes[keep], det_scores[keep], det_labels[keep],
                                      strict=True)]
        dt = gt.loadRes(dets) if dets else COCO()
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    s = ev.stats
    metrics = {"map": s[0], "map_50": s[1], "map_75": s[2], "map_small": s[3], "map_medium": s[4],
               "map_large": s[5], "mar_100": s[8]}
    per_class = []
    prec = ev.eval["precision"]  # (T, R, K, A, M)
    rec = ev.eval["recall"]  # (T, K, A, M)
    for k in range(n_classes):
        p = prec[:, :, k, 0, 2]
        ap = float(p[p > -1].mean()) if (p > -1).any() else None
        p50 = prec[0, :, k, 0, 2]
        ap50 = float(p50[p50 > -1].mean()) if (p50 > -1).any() else None
        r = rec[:, k, 0, 2]
        ar = float(r[r > -1].mean()) if (r > -1).any() else None
        per_class.append({"ap": ap, "ap_50": ap50, "ar_100": ar})
    return {k: (float(v) if v >= 0 else None) for k, v in metrics.items()}, per_class


def write_evaluation(experiment_folder: Path, project, records, subsets, gts, det_image, det_boxes, det_scores,
                     det_labels, *, threshold: float = 0.5, resamples: int = 8) -> Path:
    """An evaluation/ folder as the detection evaluator writes it (records in results order)."""
    names = [c.name for c in project.classes]
    store = EvaluationStore(experiment_folder)
    staged = store.staging()
    gt_image = np.asarray([i for i, g in enumerate(gts) for _ in g], dtype=np.int64)
    gt_boxes = np.asarray([[b.x1, b.y1, b.x2, b.y2] for g in gts for b in g], dtype=np.float32).reshape(-1, 4)
    gt_labels = np.asarray([b.cls for g in gts for b in g], dtype=np.int64)
    gt_ignore = np.asarray([b.iscrowd or b.difficult for g in gts for b in g], dtype=bool)
    np.savez_compressed(staged / "scores.npz", det_image=det_image, det_boxes=det_boxes, det_scores=det_scores,
                        det_labels=det_labels, gt_image=gt_image, gt_boxes=gt_boxes, gt_labels=gt_labels,
                        gt_ignore=gt_ignore, subsets=np.asarray(subsets, dtype=str),
                        image_ids=np.asarray([r.id for r in records], dtype=str),
                        class_ids=np.asarray([c.id for c in project.classes], dtype=np.int64),
                        class_names=np.asarray(names, dtype=str))
    present = [s for s in ("val", "test") if s in subsets]
    key = (tuple(r.id for r in records), tuple(subsets), det_scores.tobytes(), det_boxes.tobytes(), resamples,
           tuple(b.iscrowd for g in gts for b in g))
    if key not in _AGGREGATES:  # the same predictions give the same numbers: computed once a session
        _AGGREGATES[key] = _aggregate(project, records, subsets, gts, det_image, det_boxes, det_scores, det_labels,
                                      present, resamples)
    atomic_write_json(staged / "aggregate.json", _AGGREGATES[key])
    lines = []
    for i, rec in enumerate(records):
        keep = (det_image == i) & (det_scores >= threshold)
        preds = [{"cls": int(c), "x1": float(b[0]), "y1": float(b[1]), "x2": float(b[2]), "y2": float(b[3]),
                  "score": round(float(sc), 4)}
                 for b, sc, c in zip(det_boxes[keep], det_scores[keep], det_labels[keep], strict=True)]
        lines.append(json.dumps({"id": rec.id, "image": rec.id, "file": rec.file, "source": rec.source,
                                 "subset": subsets[i], "width": rec.width, "height": rec.height,
                                 "truth": {"boxes": [b.model_dump() for b in gts[i]]},
                                 "prediction": {"boxes": preds}}) + "\n")
    atomic_write_text(staged / "results.jsonl", "".join(lines))
    info = EvaluationInfo(experiment_id=experiment_folder.name, project_id=project.id, task="object_detection",
                          checkpoint={"which": "best", "path": str(experiment_folder / "checkpoints" / "best.ckpt"),
                                      "sha256": "ab" * 32, "epoch": 3},
                          subsets=present, images={s: subsets.count(s) for s in present}, batch_size=8,
                          device="cpu", classes=[{"id": c.id, "name": c.name} for c in project.classes],
                          timings={"total_s": 2.0, "images_per_s": 15.0},
                          environment={"app": "test", "python": "3.11", "torch": "2.14.1", "device": "CPU (test)"})
    write_info(staged, info)
    return store.commit(staged)


_AGGREGATES: dict = {}


def _aggregate(project, records, subsets, gts, det_image, det_boxes, det_scores, det_labels, present, resamples):
    names = [c.name for c in project.classes]
    n_classes = len(names)
    aggregate = {"schema_version": 1, "task": "object_detection", "how": HOW, "classes": names, "subsets": {}}
    rng = np.random.default_rng(0)
    for s in present:
        rows = np.asarray([i for i, x in enumerate(subsets) if x == s])
        metrics, per_class = coco_metrics(records, gts, det_image, det_boxes, det_scores, det_labels, rows,
                                          n_classes)
        boot = {"map": [], "map_50": [], "map_75": []}
        for _ in range(resamples):  # a few resamples: the page only shows what the file says
            pick = rng.choice(rows, len(rows))
            m, _ = coco_metrics(records, gts, det_image, det_boxes, det_scores, det_labels, np.unique(pick),
                                n_classes)
            for k in boot:
                boot[k].append(m[k] or 0.0)
        intervals = {k: [float(np.quantile(v, 0.025)), float(np.quantile(v, 0.975))] for k, v in boot.items()}
        aggregate["subsets"][s] = {
            "subset": s, "images": len(rows), "objects": int(sum(len(gts[i]) for i in rows)),
            "metrics": metrics, "intervals": intervals,
            "per_class": [{"id": c.id, "name": c.name, **pc} for c, pc in zip(project.classes, per_class,
                                                                             strict=True)]}
    return aggregate


def evaluated_detection(ws, fixtures: Path, *, seed: int = 0, limit: int | None = None) -> DetectionEvaluated:
    """A project with one evaluated experiment ("first") on the fixture's 30 val + test images."""
    project, records, subsets = import_rbc(ws, fixtures, limit=limit)
    exp = make_experiment(ws, project)
    gts, det_image, det_boxes, det_scores, det_labels = perturb(records, seed)
    write_evaluation(ExperimentService(ws, project.id).folder(exp.id), project, records, subsets, gts, det_image,
                     det_boxes, det_scores, det_labels)
    return DetectionEvaluated(project=project, experiment=exp, ids=[r.id for r in records], subsets=subsets,
                              sizes=[(r.width, r.height) for r in records], gt=gts, det_image=det_image,
                              det_boxes=det_boxes, det_scores=det_scores, det_labels=det_labels)
