"""Detection metrics equal pycocotools' COCOeval: torchmetrics (faster-coco-eval backend) as the evaluator
writes them, and the numpy module the page and the bootstrap use.

On the real fixture ``coco_bbox_rbc`` (240 blood-smear images, rbc/wbc, ~23 boxes an image): the
ground truth perturbed with a seeded RNG into scored predictions — jittered boxes (some too far to
count at strict IoUs), misses, the other class, duplicates, false alarms, some crowd and difficult
boxes — and the evaluator's whole path from the network's letterboxed output to aggregate.json.
"""

from __future__ import annotations

import contextlib
import io
import json
from types import SimpleNamespace

import numpy as np
import pytest

from studio_desktop.core import letterbox
from studio_desktop.core.evaluation import detection as det
from studio_desktop.core.evaluation import detection_map as dmap
from studio_desktop.core.evaluation.operating_point import Goal, OperatingPoint
from studio_desktop.core.schemas import Box, ClassInfo, ImageRecord

TOL = 1e-4
CLASS_IDS = [7, 3]  # project class ids deliberately not the class indices


@pytest.fixture
def rbc(real_fixtures):
    """The fixture's 240 images as records (read from its COCO files; the reader has its own tests)."""
    root = real_fixtures / "coco_bbox_rbc"
    records, subsets = [], []
    rng = np.random.default_rng(11)
    for folder, subset in (("train", "train"), ("valid", "val"), ("test", "test")):
        data = json.loads((root / folder / "_annotations.coco.json").read_text())
        names = {c["id"]: c["name"] for c in data["categories"]}
        assert [names[1], names[2]] == ["rbc", "wbc"]  # category 0 is an unused supercategory
        by_image: dict[int, list[Box]] = {}
        for a in data["annotations"]:
            x, y, w, h = a["bbox"]
            by_image.setdefault(a["image_id"], []).append(
                Box(cls=CLASS_IDS[a["category_id"] - 1], x1=x, y1=y, x2=x + w, y2=y + h,
                    iscrowd=bool(rng.random() < 0.02), difficult=bool(rng.random() < 0.02)))
        for im in data["images"]:
            records.append(ImageRecord(id=f"{len(records):04d}", file=im["file_name"], width=im["width"],
                                       height=im["height"], sha256="0" * 64, source=str(root / folder / im["file_name"]),
                                       boxes=by_image.get(im["id"], [])))
            subsets.append(subset)
    return ["rbc", "wbc"], records, np.asarray(subsets)


def perturbed(records, seed=0, k=100):
    """Per image up to ``k`` scored predictions made from its ground truth (original pixels)."""
    rng = np.random.default_rng(seed)
    out = []
    for rec in records:
        boxes, scores, labels = [], [], []
        for b in rec.boxes:
            if rng.random() < 0.1:
                continue  # missed
            w, h = b.x2 - b.x1, b.y2 - b.y1
            jitter = rng.normal(0, rng.choice([0.03, 0.08, 0.2]), 4) * np.array([w, h, w, h])
            boxes.append(np.array([b.x1, b.y1, b.x2, b.y2]) + jitter)
            scores.append(rng.uniform(0.3, 0.99))
            labels.append(CLASS_IDS.index(b.cls) if rng.random() > 0.07 else 1 - CLASS_IDS.index(b.cls))
            if rng.random() < 0.2:  # a duplicate
                boxes.append(boxes[-1] + rng.normal(0, 3, 4))
                scores.append(rng.uniform(0.01, 0.5))
                labels.append(labels[-1])
        for _ in range(int(rng.integers(0, 6))):  # false alarms
            x, y, s = rng.uniform(0, rec.width - 60), rng.uniform(0, rec.height - 60), rng.uniform(5, 120)
            boxes.append(np.array([x, y, x + s, y + s * rng.uniform(0.5, 1.5)]))
            scores.append(rng.uniform(0.001, 0.8))
            labels.append(int(rng.integers(0, 2)))
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        b[:, 0::2] = b[:, 0::2].clip(0, rec.width)
        b[:, 1::2] = b[:, 1::2].clip(0, rec.height)
        b[:, 2:] = np.maximum(b[:, 2:], b[:, :2] + 0.5)
        order = np.argsort(-np.asarray(scores), kind="stable")[:k]
        out.append((b[order], np.round(np.asarray(scores)[order], 4), np.asarray(labels, dtype=np.int64)[order]))
    return out


def network_arrays(records, preds, size, k=100):
    """What DetectionHead.eval_batch hands the evaluator: boxes in INPUT pixels padded to K per image."""
    n = len(records)
    boxes, scores, labels = np.zeros((n, k, 4), np.float32), np.zeros((n, k), np.float32), np.full((n, k), -1)
    for i, (rec, (b, s, lab)) in enumerate(zip(records, preds, strict=True)):
        boxes[i, :len(b)] = letterbox.to_input(b, rec.width, rec.height, size)
        scores[i, :len(b)] = s
        labels[i, :len(b)] = lab
    return {"boxes": boxes, "scores": scores, "labels": labels}


def cocoeval(scores: det.DetectionScores, images=None):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt, dt = dmap.coco_dicts(scores, images)
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        e = COCOeval(coco, coco.loadRes(dt) if dt else COCO(), "bbox")
        e.evaluate()
        e.accumulate()
        e.summarize()
    names = ["map", "map_50", "map_75", "map_small", "map_medium", "map_large", "mar_1", "mar_10", "mar_100",
             "mar_small", "mar_medium", "mar_large"]
    out = {n: (None if v < 0 else float(v)) for n, v in zip(names, e.stats, strict=True)}
    prec, rec = e.eval["precision"], e.eval["recall"]  # (T, R, K, A, M), (T, K, A, M)
    out["per_class"] = {}
    for k in range(len(e.params.catIds)):
        p, p50, r = prec[:, :, k, 0, -1], prec[0, :, k, 0, -1], rec[:, k, 0, -1]
        out["per_class"][k] = {"ap": float(p[p > -1].mean()) if (p > -1).any() else None,
                               "ap_50": float(p50[p50 > -1].mean()) if (p50 > -1).any() else None,
                               "ar_100": float(r[r > -1].mean()) if (r > -1).any() else None}
    return out


def cache_of(names, records, subsets, preds) -> det.DetectionScores:
    gi, gb, gl, ig = [], [], [], []
    for i, rec in enumerate(records):
        for b in rec.boxes:
            gi.append(i)
            gb.append((b.x1, b.y1, b.x2, b.y2))
            gl.append(CLASS_IDS.index(b.cls))
            ig.append(b.difficult or b.iscrowd)
    return det.DetectionScores(
        subsets=subsets, det_image=np.concatenate([np.full(len(p[0]), i) for i, p in enumerate(preds)]),
        det_boxes=np.concatenate([p[0] for p in preds]), det_scores=np.concatenate([p[1] for p in preds]),
        det_labels=np.concatenate([p[2] for p in preds]), gt_image=np.asarray(gi), gt_boxes=np.asarray(gb),
        gt_labels=np.asarray(gl), gt_ignore=np.asarray(ig), image_ids=np.array([r.id for r in records]),
        class_ids=CLASS_IDS, class_names=list(names))


def close(a, b) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and abs(a - b) <= TOL)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_torchmetrics_and_numpy_equal_pycocotools_on_the_real_fixture(rbc, seed):
    from studio_desktop.ml.tasks.detection_eval import torchmetrics_map

    names, records, subsets = rbc
    scores = cache_of(names, records, subsets, perturbed(records, seed))
    assert len(records) == 240 and scores.gt_ignore.sum() > 50 and len(scores.det_scores) > 5000
    for images in (None, scores.subset("train"), scores.subset("test")):
        images = scores.subset(None) if images is None else images
        ref = cocoeval(scores, images)
        assert 0.2 < ref["map"] < 0.9 and ref["map_50"] > ref["map_75"]  # a realistic, non-trivial case
        ours = torchmetrics_map(scores, images)
        for key in ("map", "map_50", "map_75", "map_small", "map_medium", "map_large", "mar_1", "mar_10",
                    "mar_100", "mar_small", "mar_medium", "mar_large"):
            assert close(ours[key], ref[key]), (key, ours[key], ref[key])
        for k in (0, 1):
            for key in ("ap", "ap_50", "ar_100"):
                assert close(ours["per_class"][k][key], ref["per_class"][k][key]), (k, key)
        mine = dmap.coco_map(scores, images)
        for key in ("map", "map_50", "map_75"):
            assert close(mine[key], ref[key]), (key, mine[key], ref[key])
        for k in (0, 1):
            assert close(mine["per_class"][k]["ap"], ref["per_class"][k]["ap"])
            assert close(mine["per_class"][k]["ap_50"], ref["per_class"][k]["ap_50"])


def test_the_numpy_matching_equals_cocoevals_matches(rbc):
    """COCOeval's own per-detection matches at IoU 0.5 and 0.75 are the TP/ignored flags of match()."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    names, records, subsets = rbc
    scores = cache_of(names, records, subsets, perturbed(records, 3))
    gt, dt = dmap.coco_dicts(scores)
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        e = COCOeval(coco, coco.loadRes(dt), "bbox")
        e.evaluate()
    # loadRes numbers results 1..P in order: result id - 1 is the cache's prediction index
    for t_index, iou in ((0, 0.5), (5, 0.75)):
        m = scores.matching(None, iou)
        tp, ignored = np.zeros(len(scores.det_scores), bool), np.zeros(len(scores.det_scores), bool)
        for ev in e.evalImgs:
            if ev is None or ev["aRng"] != [0, 1e10] or ev["maxDet"] != 100:
                continue
            ids = np.asarray(ev["dtIds"], dtype=np.int64) - 1
            tp[ids] = (ev["dtMatches"][t_index] > 0) & ~ev["dtIgnore"][t_index]
            ignored[ids] = ev["dtIgnore"][t_index]
        assert m.det_tp.tolist() == tp.tolist()
        assert m.det_ignored.tolist() == ignored.tolist()


def fake_head(names, size):
    project = SimpleNamespace(classes=[ClassInfo(id=c, name=n) for c, n in zip(CLASS_IDS, names, strict=True)],
                              task="object_detection")
    return SimpleNamespace(project=project, config=SimpleNamespace(input_size=size))


def test_the_evaluation_from_letterboxed_network_output(rbc):
    """DetectionEvaluation: input-pixel boxes back to original pixels, mAP equal to COCOeval,
    intervals around it, counts/confusion at the operating point, lines and the cache."""
    from studio_desktop.ml.tasks.detection_eval import DetectionEvaluation

    names, records, subsets = rbc
    keep = np.flatnonzero(subsets != "train")  # val + test: 30 images
    records, subsets = [records[i] for i in keep], subsets[keep]
    preds = perturbed(records, 5)
    size = 320
    arrays = network_arrays(records, preds, size)
    logs = []
    op = OperatingPoint(task="object_detection", score_threshold=0.4, class_thresholds={3: 0.6}, nms_iou=0.6)
    result = DetectionEvaluation(fake_head(names, size)).evaluate(
        records=records, subsets=subsets, targets=[], arrays=arrays, op=op, log=lambda m, level="info": logs.append(m))
    assert not [m for m in logs if "torchmetrics" in m], logs
    back = det.DetectionScores.from_npz(result.scores)
    # boxes survive the letterbox round trip (float32 input pixels: well under a pixel)
    flat = np.concatenate([p[0] for p in preds])
    assert np.abs(back.det_boxes - flat).max() < 0.05
    assert back.class_ids == CLASS_IDS and back.subsets.tolist() == subsets.tolist()
    for subset in ("val", "test"):
        body = result.aggregate["subsets"][subset]
        images = back.subset(subset)
        ref = cocoeval(back, images)
        for key in ("map", "map_50", "map_75", "map_small", "mar_100"):
            assert close(body["metrics"][key], ref[key]), (subset, key)
        lo, hi = body["intervals"]["map"]
        assert lo <= body["metrics"]["map"] + 1e-9 and body["metrics"]["map"] <= hi + 1e-9 and hi - lo > 0.001
        assert [r["name"] for r in body["per_class"]] == list(names)
        for k, row in enumerate(body["per_class"]):
            assert close(row["ap"], ref["per_class"][k]["ap"]) and close(row["ar_100"], ref["per_class"][k]["ar_100"])
        # counts and the confusion matrix at the operating point, and the lines, agree
        outcome = det.at_operating_point(back, op)
        c = outcome.counts(images)
        at = body["at_operating_point"]
        assert (at["tp"], at["fp"], at["fn"]) == (c["tp"], c["fp"], c["fn"]) and at["tp"] > 0
        cm = np.asarray(body["confusion"])
        assert cm.shape == (3, 3) and np.trace(cm[:2, :2]) == at["tp"]
        assert cm[:, :2].sum() - np.trace(cm[:2, :2]) == at["fp"] and cm[:2, :].sum() - np.trace(cm[:2, :2]) == at["fn"]
        lines = [ln for ln in result.lines if ln["subset"] == subset]
        assert sum(ln["tp"] for ln in lines) == at["tp"] and sum(ln["fn"] for ln in lines) == at["fn"]
        assert sum(ln["fp"] for ln in lines) == at["fp"]
        assert len(body["curves"]) == 2 and body["curves"][0]["precision"]
    line = result.lines[0]
    assert {"image", "file", "subset", "width", "height", "truth", "prediction", "tp", "fp", "fn"} <= set(line)
    assert all(b["score"] >= (0.6 if b["cls"] == 3 else 0.4) for ln in result.lines for b in ln["prediction"]["boxes"])
    assert {b["outcome"] for ln in result.lines for b in ln["truth"]["boxes"]} <= {"tp", "fn", "ignored"}
    assert result.headline["val"]["map"] == result.aggregate["subsets"]["val"]["metrics"]["map"]
    assert any("mAP" in s for s in det.summary_lines(result.aggregate))


@pytest.mark.slow
def test_a_trained_detector_through_studio_evaluate_and_operating_point(tmp_path):
    """The teaching detector trained briefly on the shapes sample, evaluated by the worker through
    the CLI: the evaluation folder is complete, its mAP equals COCOeval on its own cache, its counts
    and lines agree; then the operating point is chosen from a goal and set by hand."""
    import os
    import subprocess
    import sys

    ws = tmp_path / "ws"
    env = dict(os.environ, OMP_NUM_THREADS="1")

    def studio(*args):
        res = subprocess.run([sys.executable, "-m", "studio_desktop", "--workspace", str(ws), *args],
                             capture_output=True, text=True, timeout=600, env=env)
        assert res.returncode == 0, (args, res.stdout[-2000:], res.stderr[-2000:])
        return res.stdout

    studio("sample", "--task", "object_detection", str(tmp_path / "s"), "--images", "24")
    studio("project", "create", "shapes", "--task", "object_detection")
    studio("dataset", "import", "shapes", str(tmp_path / "s"))
    studio("split", "create", "shapes")
    studio("train", "shapes", "--epochs", "8", "--set", "input_size=64", "--device", "cpu")
    (folder,) = ws.glob("projects/*/experiments/*/experiment.json")
    exp_id = json.loads(folder.read_text())["id"]
    out = studio("evaluate", "shapes", exp_id, "--device", "cpu")
    assert "mAP@.5:.95" in out and "TP " in out
    ev = folder.parent / "evaluation"
    agg = json.loads((ev / "aggregate.json").read_text())
    lines = [json.loads(s) for s in (ev / "results.jsonl").read_text().splitlines()]
    scores = det.DetectionScores.from_npz(np.load(ev / "scores.npz"))
    assert agg["task"] == "object_detection" and set(agg["subsets"]) == {"val", "test"}
    assert len(lines) == len(scores) and [ln["image"] for ln in lines] == scores.image_ids.tolist()
    assert len(scores.det_scores) > 0 and len(scores.gt_labels) > 0
    assert max(body["metrics"]["map_50"] or 0 for body in agg["subsets"].values()) > 0  # it learned something
    for subset, body in agg["subsets"].items():
        images = scores.subset(subset)
        ref = cocoeval(scores, images)
        for key in ("map", "map_50", "map_75", "map_small", "map_medium", "map_large", "mar_100"):
            assert close(body["metrics"][key], ref[key]), (subset, key, body["metrics"][key], ref[key])
        for k, row in enumerate(body["per_class"]):
            assert close(row["ap"], ref["per_class"].get(k, {}).get("ap"))
        at = body["at_operating_point"]
        mine = [ln for ln in lines if ln["subset"] == subset]
        assert (at["tp"], at["fp"], at["fn"]) == tuple(sum(ln[k] for ln in mine) for k in ("tp", "fp", "fn"))
        assert at["tp"] + at["fn"] == sum(1 for ln in mine for b in ln["truth"]["boxes"] if b["outcome"] != "ignored")
    # boxes are in original pixels: inside their images
    for ln in lines:
        for b in ln["prediction"]["boxes"]:
            assert 0 <= b["x1"] <= b["x2"] <= ln["width"] and 0 <= b["y1"] <= b["y2"] <= ln["height"]
    # the operating point: from a goal on the validation images, then by hand
    chosen = json.loads(studio("operating-point", "shapes", exp_id, "--goal", "f1", "--json"))
    assert chosen["task"] == "object_detection" and chosen["goal"]["kind"] == "f1"
    best = det.choose_operating_point(scores, Goal(kind="f1", subset="val"))
    assert chosen["score_threshold"] == pytest.approx(best.score_threshold)
    name = scores.class_names[0]
    hand = json.loads(studio("operating-point", "shapes", exp_id, "--threshold", "0.3", "--class-threshold",
                             f"{name}=0.6", "--nms-iou", "0.5", "--json"))
    assert hand["score_threshold"] == 0.3 and hand["class_thresholds"] == {str(scores.class_ids[0]): 0.6}
    assert hand["nms_iou"] == 0.5 and hand["goal"] is None
    text = studio("operating-point", "shapes", exp_id)
    assert "at least 0.3" in text and f"'{name}' 0.6" in text
    # a re-evaluation follows the stored operating point
    studio("evaluate", "shapes", exp_id, "--device", "cpu")
    agg = json.loads((ev / "aggregate.json").read_text())
    assert agg["operating_point"]["score_threshold"] == 0.3
    assert all(b["score"] >= 0.3 for ln in (json.loads(s) for s in (ev / "results.jsonl").read_text().splitlines())
               for b in ln["prediction"]["boxes"])
    studio("operating-point", "shapes", exp_id, "--reset")
    assert json.loads(studio("operating-point", "shapes", exp_id, "--json"))["score_threshold"] is None


def test_an_evaluation_without_any_prediction_or_without_any_object():
    """An untrained detector that finds nothing, and images without objects: numbers are None or 0, never
    a crash, and every object is a miss / every prediction a false alarm."""
    from studio_desktop.ml.tasks.detection_eval import DetectionEvaluation

    records = [ImageRecord(id=f"{i}", file=f"{i}.png", width=200, height=100, sha256="0" * 64,
                           boxes=[Box(cls=CLASS_IDS[0], x1=10, y1=10, x2=50, y2=40)] if i < 2 else [])
               for i in range(4)]
    subsets = np.array(["val", "val", "test", "test"])
    head = fake_head(["rbc", "wbc"], 64)
    empty = {"boxes": np.zeros((4, 5, 4), np.float32), "scores": np.zeros((4, 5), np.float32),
             "labels": np.full((4, 5), -1)}
    res = DetectionEvaluation(head).evaluate(records=records, subsets=subsets, targets=[], arrays=empty, op=None,
                                             log=lambda m, level="info": None)
    val, test = res.aggregate["subsets"]["val"], res.aggregate["subsets"]["test"]
    assert val["at_operating_point"]["fn"] == 2 and val["at_operating_point"]["tp"] == 0
    assert val["metrics"]["map"] in (0.0, None) and test["metrics"]["map"] is None
    assert val["confusion"][0][2] == 2  # both rbc missed: the background column
    # predictions on images without objects: all false alarms
    boxes = np.tile(np.array([[5, 20, 30, 40]], np.float32), (4, 5, 1))
    found = {"boxes": boxes, "scores": np.full((4, 5), 0.9, np.float32), "labels": np.ones((4, 5), np.int64)}
    res = DetectionEvaluation(head).evaluate(records=records, subsets=subsets, targets=[], arrays=found, op=None,
                                             log=lambda m, level="info": None)
    test = res.aggregate["subsets"]["test"]
    assert test["at_operating_point"]["fp"] == 10 and test["metrics"]["map"] is None
    assert test["confusion"][2][1] == 10 and test["intervals"] == {}
    assert [ln["fp"] for ln in res.lines if ln["subset"] == "test"] == [5, 5]
