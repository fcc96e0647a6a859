"""Drag the score threshold of a 1,000-image x 100-prediction detection evaluation on the page.

    python benchmarks/detection_evaluation_page.py [--images N] [--predictions P] [--classes C]

Writes a synthetic detection evaluation (scores.npz with N images x P cached predictions, about
P / 5 ground-truth boxes an image, aggregate.json from the core's numpy mAP with 100 resamples,
results.jsonl; every thumbnail a copy of one small JPEG), opens it on a real ``EvaluationPage``
(offscreen) with the grid, the detail on an image and the PR curves on screen, and measures with a
5 ms ``QTimer`` heartbeat on the GUI thread (the approach of ``evaluation_page.py``):

* the GUI-thread time of one threshold update, end to end: the results decided again, the grid
  re-filtered and repainted, the counts, the confusion matrix, the PR dots and the detail's boxes
  redrawn (goal: the longest under 50 ms so a drag stays fluid);
* the longest heartbeat gap while dragging 20 positions, one per frame;
* one NMS IoU change (rematching every prediction once) and one match IoU change.

Same-run baselines: the core's ``at_operating_point`` alone (the floor the page adds to) and the
heartbeat's longest gap while the event loop idles (the machine's noise). Prints figures; not a
pass/fail test.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def build(root: Path, n: int, per_image: int, classes: int) -> None:
    import numpy as np
    from PIL import Image

    from studio_desktop.core.datasets import DatasetStore
    from studio_desktop.core.evaluation import detection as det
    from studio_desktop.core.evaluation import detection_map as dmap
    from studio_desktop.core.evaluation.store import EvaluationInfo, EvaluationStore, write_info
    from studio_desktop.core.experiments import ExperimentService
    from studio_desktop.core.projects import ProjectService
    from studio_desktop.core.schemas import Dataset, ImageRecord
    from studio_desktop.core.splits import SplitService
    from studio_desktop.core.store import atomic_write_json, atomic_write_text
    from studio_desktop.core.train_config import MODEL_CATALOG
    from studio_desktop.core.workspace import Workspace

    rng = np.random.default_rng(0)
    ws = Workspace.open(root)
    names = [f"class {i:02d}" for i in range(classes)]
    project = ProjectService(ws).create("Detection benchmark", "object_detection", names)
    store = DatasetStore(ws, project.id)
    store.images_dir.mkdir(parents=True, exist_ok=True)
    store.thumbnails_dir.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    Image.new("RGB", (640, 480), (180, 150, 160)).save(buf, "JPEG")
    jpeg = buf.getvalue()
    thumb = io.BytesIO()
    Image.new("RGB", (256, 192), (180, 150, 160)).save(thumb, "JPEG")
    subsets = ["val" if i % 2 else "test" for i in range(n)]
    records, gt_image, gt_boxes, gt_labels = [], [], [], []
    det_image, det_boxes, det_scores, det_labels = [], [], [], []
    for i in range(n):
        rid = f"{i:012x}"
        (store.images_dir / f"{rid}.jpg").write_bytes(jpeg)
        store.thumbnail_path(rid).write_bytes(thumb.getvalue())
        records.append(ImageRecord(id=rid, file=f"images/{rid}.jpg", width=640, height=480, sha256=rid * 5,
                                   source=f"/data/img_{i:05d}.jpg", tags=[subsets[i]]))
        k = per_image // 5
        xy = rng.uniform(0, 560, (k, 2)) * [1, 0.75]
        wh = rng.uniform(16, 80, (k, 2))
        boxes = np.c_[xy, xy + wh]
        labels = rng.integers(0, classes, k)
        gt_image += [i] * k
        gt_boxes.append(boxes)
        gt_labels.append(labels)
        # per object: a good box, two duplicates; the rest false alarms; random scores
        hit = boxes[:, None, :] + rng.normal(0, 4, (k, 3, 4))
        lab = np.repeat(labels[:, None], 3, axis=1)
        lab[rng.random(lab.shape) < 0.1] = rng.integers(0, classes)
        extra = per_image - 3 * k
        fxy = rng.uniform(0, 560, (extra, 2)) * [1, 0.75]
        det_boxes += [hit.reshape(-1, 4), np.c_[fxy, fxy + rng.uniform(16, 80, (extra, 2))]]
        det_labels += [lab.reshape(-1), rng.integers(0, classes, extra)]
        det_scores.append(np.r_[rng.beta(5, 2, 3 * k), rng.beta(1.5, 5, extra)])
        det_image += [i] * per_image
    store.save(Dataset(images=records))
    svc = SplitService(ws, project.id)
    plan = svc.plan(project, store.load(), ratios=(0.6, 0.2, 0.2))
    plan.assignments = {r.id: s for r, s in zip(records, subsets, strict=True)}
    split = svc.create("main", plan)
    exp_svc = ExperimentService(ws, project.id)
    exp = exp_svc.create({"model": MODEL_CATALOG["object_detection"][0].name, "epochs": 1, "split_id": split.id}, "bench")
    exp = exp_svc.update(exp.id, status="completed", epochs_done=1)
    folder = exp_svc.folder(exp.id)
    (folder / "checkpoints").mkdir(parents=True, exist_ok=True)
    (folder / "checkpoints" / "best.ckpt").write_bytes(b"not a checkpoint")
    scores = det.DetectionScores(
        subsets=np.asarray(subsets), det_image=np.asarray(det_image), det_boxes=np.concatenate(det_boxes),
        det_scores=np.concatenate(det_scores), det_labels=np.concatenate(det_labels), gt_image=np.asarray(gt_image),
        gt_boxes=np.concatenate(gt_boxes), gt_labels=np.concatenate(gt_labels), gt_ignore=np.zeros(len(gt_image), bool),
        image_ids=np.asarray([r.id for r in records]), class_ids=list(range(classes)), class_names=names)
    ev = EvaluationStore(folder)
    staged = ev.staging()
    np.savez_compressed(staged / "scores.npz", **scores.as_npz())
    agg = {"subsets": {s: dmap.subset_report(scores, s, None, resamples=100) for s in ("val", "test")}}
    atomic_write_json(staged / "aggregate.json", json.loads(json.dumps(agg, default=float)))
    atomic_write_text(staged / "results.jsonl", "".join(
        json.dumps({"image": r.id, "file": r.file, "source": r.source, "subset": s, "width": 640, "height": 480})
        + "\n" for r, s in zip(records, subsets, strict=True)))
    write_info(staged, EvaluationInfo(experiment_id=exp.id, project_id=project.id, task="object_detection",
                                      checkpoint={"which": "best"}, subsets=["val", "test"],
                                      images={"val": n // 2, "test": n - n // 2},
                                      classes=[{"id": i, "name": m} for i, m in enumerate(names)]))
    ev.commit(staged)
    ws.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--predictions", type=int, default=100)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--profile", action="store_true", help="print where one threshold update spends its time")
    ap.add_argument("--build-into", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.build_into:
        build(Path(args.build_into), args.images, args.predictions, args.classes)
        return 0
    import subprocess

    tmp = tempfile.TemporaryDirectory(prefix="studio-detpage-")
    root = Path(tmp.name) / "ws"
    t = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--build-into", str(root), "--images", str(args.images),
                    "--predictions", str(args.predictions), "--classes", str(args.classes)], check=True)
    print(f"built {args.images:,} images x {args.predictions} predictions, {args.classes} classes, in "
          f"{time.perf_counter() - t:.1f} s")

    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    from studio_desktop.core.evaluation.detection import at_operating_point
    from studio_desktop.core.evaluation.operating_point import OperatingPoint
    from studio_desktop.core.projects import ProjectService
    from studio_desktop.core.workspace import Workspace
    from studio_desktop.gui.context import AppContext
    from studio_desktop.gui.pages.evaluation import EvaluationPage

    ws = Workspace.open(root)
    project = ProjectService(ws).list()[0]
    app = QApplication.instance() or QApplication([])
    ctx = AppContext(ws)
    page = EvaluationPage(ctx)
    page.open_reports = False
    page.resize(1600, 1050)
    page.show()

    def spin(seconds: float) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.001)

    clock = QElapsedTimer()
    clock.start()
    gaps: dict[str, list[int]] = {"idle": [], "drag": []}
    state = {"phase": "", "last": 0}

    def beat():
        now = clock.elapsed()
        if state["phase"] in gaps:
            gaps[state["phase"]].append(now - state["last"])
        state["last"] = now

    heart = QTimer()
    heart.setInterval(5)
    heart.timeout.connect(beat)
    heart.start()
    t = time.perf_counter()
    ctx.open_project(project)
    while page.results is None or page.view.quick is None:
        app.processEvents()
        time.sleep(0.001)
    opened = time.perf_counter() - t
    spin(0.5)
    view, r = page.view, page.results
    view.tabs.setCurrentIndex(view.tabs.indexOf(view._holders["pr"]))  # the PR dots move on screen
    page.images.grid.setCurrentIndex(page.images.model.index(0))  # the detail draws its boxes
    spin(0.5)
    state["phase"], state["last"] = "idle", clock.elapsed()
    spin(1.0)

    # baseline: the core alone at 20 thresholds
    core_ms = []
    for k in range(20):
        op = OperatingPoint(task="object_detection", score_threshold=0.2 + 0.03 * k)
        t = time.perf_counter()
        at_operating_point(r.scores, op)
        core_ms.append((time.perf_counter() - t) * 1000)

    # one update end to end on the GUI thread: decide, refilter + repaint the grid, refresh the view
    update_ms = []
    if args.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
    for k in range(20):
        op = OperatingPoint(task="object_detection", score_threshold=0.2 + 0.03 * k)
        t = time.perf_counter()
        view.set_operating_point(op)
        view._refresh_timer.stop()
        view.refresh()
        page.images.grid.viewport().repaint()
        page.images.detail.canvas.viewport().repaint()
        update_ms.append((time.perf_counter() - t) * 1000)
        spin(0.02)
    if args.profile:
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(18)

    # a drag, one position per frame, through the slider
    state["phase"], state["last"] = "drag", clock.elapsed()
    for k in range(20):
        view.editor.slider.setValue(700 - 25 * k)
        spin(0.033)
    spin(0.2)
    state["phase"] = ""

    nms_ms = []
    for iou in (0.45, 0.6):
        t = time.perf_counter()
        view.set_operating_point(r.op.model_copy(update={"nms_iou": iou}))
        view.refresh()
        nms_ms.append((time.perf_counter() - t) * 1000)
    t = time.perf_counter()
    view.set_operating_point(r.op.model_copy(update={"match_iou": 0.75}))
    view.refresh()
    match_ms = (time.perf_counter() - t) * 1000
    heart.stop()
    c = r.counts()
    print(f"opened (results read off the GUI thread + first numbers): {opened:.2f} s; {len(r.scores.det_scores):,} "
          f"cached predictions, {len(r.scores.gt_labels):,} boxes; at the last threshold TP {c['tp']:,} FP {c['fp']:,} "
          f"FN {c['fn']:,}")
    print(f"core at_operating_point (baseline): median {sorted(core_ms)[10]:.1f} ms, longest {max(core_ms):.1f} ms")
    print(f"one threshold update on the page (GUI thread, end to end): median {sorted(update_ms)[10]:.1f} ms, "
          f"longest {max(update_ms):.1f} ms ({max(update_ms) / max(1e-9, max(core_ms)):.1f}x the core's longest)")
    print(f"dragging 20 positions: longest heartbeat gap {max(gaps['drag'], default=0)} ms "
          f"(idle noise floor: {max(gaps['idle'], default=0)} ms)")
    print(f"new NMS IoU (rematch every prediction): {', '.join(f'{v:.0f}' for v in nms_ms)} ms; new match IoU: "
          f"{match_ms:.0f} ms")
    page.shutdown()
    ws.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
