"""Segmentation metrics: the numpy module (what the page and aggregate.json show) against a confusion
matrix and IoUs worked out by hand — ignore pixels (255), a mask value that is no class, class ids
that are not 0..C-1, a class only predicted (IoU 0, counted), a class in neither truth nor prediction
of an image (undefined, left out of the mean) — and against torchmetrics on the same pixels, and the
evaluator's pieces that turn masks into the cache (``ml/tasks/segmentation_eval.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from studio_desktop.core import segmentation as seg
from studio_desktop.core.evaluation import segmentation as sm

CLASS_IDS = [0, 2, 5]  # ids as a project may have them after deleting classes: not 0..C-1
NAMES = ["road", "car", "sign"]
# image 1 (ids on disk): 255 = ignore, 7 = a value that is no class (treated as ignore)
TRUTH_1 = np.array([[0, 0, 2, 2], [0, 0, 2, 2], [255, 255, 2, 2], [7, 0, 0, 0]], dtype=np.uint8)
PRED_1 = np.array([[0, 2, 2, 2], [0, 0, 0, 2], [5, 5, 2, 2], [5, 0, 0, 5]], dtype=np.uint8)
# image 2: "sign" in neither truth nor prediction
TRUTH_2 = np.array([[0, 2], [2, 255]], dtype=np.uint8)
PRED_2 = np.array([[0, 2], [0, 0]], dtype=np.uint8)
#: worked out by hand from the masks above (rows truth, columns prediction, in channel order)
HAND_1 = [[5, 1, 1], [1, 5, 0], [0, 0, 0]]
HAND_2 = [[1, 0, 0], [1, 1, 0], [0, 0, 0]]


def channels(mask):
    return seg.to_channels(mask, seg.channel_lut(CLASS_IDS))


def scores() -> sm.SegmentationScores:
    conf = np.stack([sm.confusion_of(channels(TRUTH_1), channels(PRED_1), 3),
                     sm.confusion_of(channels(TRUTH_2), channels(PRED_2), 3)])
    return sm.SegmentationScores(image_ids=np.array(["a", "b"]), subsets=np.array(["test", "test"]),
                                 confusion=conf, class_ids=CLASS_IDS, class_names=NAMES)


def test_confusion_from_masks_equals_the_hand_count():
    s = scores()
    assert s.confusion[0].tolist() == HAND_1 and s.confusion[1].tolist() == HAND_2
    assert s.pixels.tolist() == [13, 3]  # 2 ignore + 1 unknown pixel left out of image 1, 1 ignore of image 2


def test_metrics_equal_the_hand_computed_reference():
    s = scores()
    # image 1: road 5/(7+6-5), car 5/(6+6-5), sign only predicted: 0/(0+1-0) = 0, counted
    assert sm.image_class_iou(s)[0] == pytest.approx([5 / 8, 5 / 7, 0.0])
    # image 2: sign in neither: undefined (NaN), left out of its mean
    iou2 = sm.image_class_iou(s)[1]
    assert iou2[:2] == pytest.approx([0.5, 0.5]) and np.isnan(iou2[2])
    assert sm.image_iou(s) == pytest.approx([(5 / 8 + 5 / 7) / 3, 0.5])
    assert sm.image_pixel_accuracy(s) == pytest.approx([10 / 13, 2 / 3])
    # the subset: summed confusion [[6,1,1],[2,6,0],[0,0,0]]
    rep = sm.subset_report(s, "test", resamples=0)
    assert rep["confusion"] == [[6, 1, 1], [2, 6, 0], [0, 0, 0]] and rep["pixels"] == 16
    m = rep["metrics"]
    assert m["miou"] == pytest.approx((6 / 10 + 6 / 9 + 0) / 3)
    assert m["pixel_accuracy"] == pytest.approx(12 / 16)
    assert m["dice"] == pytest.approx((12 / 16 + 12 / 15 + 0) / 3)
    by = {r["name"]: r for r in rep["per_class"]}
    assert by["road"]["iou"] == pytest.approx(0.6) and by["road"]["support"] == 8 and by["road"]["predicted"] == 8
    assert by["sign"]["iou"] == 0.0 and by["sign"]["support"] == 0 and by["sign"]["recall"] is None
    assert rep["confusion_normalised"][1] == pytest.approx([0.25, 0.75, 0.0])


def test_a_class_in_no_image_is_left_out_not_zero():
    s = scores()
    only_2 = sm.subset_report(sm.SegmentationScores(s.image_ids[1:], s.subsets[1:], s.confusion[1:], CLASS_IDS,
                                                    NAMES), None, resamples=0)
    assert only_2["metrics"]["miou"] == pytest.approx(0.5)  # (0.5 + 0.5) / 2, not / 3
    assert only_2["per_class"][2]["iou"] is None


def test_bootstrap_interval_contains_the_value_and_is_reproducible():
    rng = np.random.default_rng(1)
    conf = rng.integers(0, 50, size=(40, 3, 3))
    conf[:, [0, 1, 2], [0, 1, 2]] += rng.integers(50, 400, size=(40, 3))
    s = sm.SegmentationScores(np.array([str(i) for i in range(40)]), np.array(["val"] * 40), conf, CLASS_IDS, NAMES)
    a = sm.subset_report(s, "val", resamples=300)
    b = sm.subset_report(s, "val", resamples=300, max_cells=5000)  # other chunking, same draws
    lo, hi = a["intervals"]["miou"]
    assert lo < a["metrics"]["miou"] < hi and a["intervals"] == b["intervals"]
    # the resampled statistic equals summing the chosen images' matrices
    idx = rng.integers(0, 40, size=(3, 40))
    stat = sm._resampled(np.concatenate(sm.parts(conf), axis=1).astype(float), 3)(idx)
    assert stat["miou"] == pytest.approx([float(sm.mean_iou(conf[i].sum(axis=0))) for i in idx])


def test_torchmetrics_agrees_on_the_same_pixels():
    import torch
    from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score, MulticlassJaccardIndex

    t = torch.from_numpy(np.concatenate([channels(TRUTH_1).ravel(), channels(TRUTH_2).ravel()]).astype(np.int64))
    p = torch.from_numpy(np.concatenate([channels(PRED_1).ravel(), channels(PRED_2).ravel()]).astype(np.int64))
    iou = MulticlassJaccardIndex(3, average="none", ignore_index=255)(p, t).numpy()
    dice = MulticlassF1Score(3, average="none", ignore_index=255)(p, t).numpy()
    acc = float(MulticlassAccuracy(3, average="micro", ignore_index=255)(p, t))
    rep = sm.subset_report(scores(), None, resamples=0)
    assert [r["iou"] for r in rep["per_class"]] == pytest.approx(iou.tolist())
    assert [r["dice"] for r in rep["per_class"]] == pytest.approx(dice.tolist())
    assert rep["metrics"]["pixel_accuracy"] == pytest.approx(acc)


def test_evaluation_cache_lines_and_torchmetrics_check(tmp_path):
    """The evaluator's part after inference: cache, aggregate and lines from per-image confusions,
    torchmetrics recomputed from the written masks and equal."""
    from PIL import Image

    from studio_desktop.ml.tasks.segmentation_eval import torchmetrics_subset

    root = tmp_path / "dataset"
    (root / "masks").mkdir(parents=True)
    (tmp_path / "evaluation" / "masks").mkdir(parents=True)
    pairs = []
    for name, truth, pred in (("a", TRUTH_1, PRED_1), ("b", TRUTH_2, PRED_2)):
        Image.fromarray(truth).save(root / "masks" / f"{name}.png")
        Image.fromarray(pred).save(tmp_path / "evaluation" / "masks" / f"{name}.png")
        pairs.append((root / "masks" / f"{name}.png", tmp_path / "evaluation" / "masks" / f"{name}.png"))
    tm = torchmetrics_subset(pairs, CLASS_IDS)
    rep = sm.subset_report(scores(), None, resamples=0)
    assert tm["miou"] == pytest.approx(rep["metrics"]["miou"])
    assert tm["pixel_accuracy"] == pytest.approx(rep["metrics"]["pixel_accuracy"])
    assert tm["dice"] == pytest.approx(rep["metrics"]["dice"])
    assert tm["per_class_iou"][:2] == pytest.approx([0.6, 6 / 9])


def test_evaluate_batch_through_the_predictor_on_the_sample(tmp_path, workspace):
    """The head's per-batch pass on real sample images (original sizes, not square) with networks whose
    answer is known: it says "background" everywhere (IoU of background = its share of the pixels, every
    other class present in the truth gets 0, the others are undefined). The masks written are the
    original size in class ids, the cache equals the written masks against the truth, the lines and the
    aggregate follow, and torchmetrics agrees (no warning)."""
    import torch
    from PIL import Image

    from studio_desktop.core.datasets import DatasetStore
    from studio_desktop.core.importing import import_dataset
    from studio_desktop.core.projects import ProjectService
    from studio_desktop.core.samples import write_sample
    from studio_desktop.core.train_config import defaults_for
    from studio_desktop.ml.tasks.base import EvalBatch
    from studio_desktop.ml.tasks.segmentation import SegmentationHead
    from studio_desktop.ml.tasks.segmentation_eval import SegmentationEvaluation, evaluate_batch

    project = ProjectService(workspace).create("shapes", "semantic_segmentation")
    import_dataset(workspace, project.id, write_sample("semantic_segmentation", tmp_path / "s", images=5))
    project = ProjectService(workspace).get(project.id)
    store = DatasetStore(workspace, project.id)
    records = store.load().images
    config = defaults_for("semantic_segmentation").model_copy(update={"input_size": 64})
    head = SegmentationHead(project, config)
    c = len(project.classes)
    bg = next(k for k, cl in enumerate(project.classes) if seg.is_background(cl.name))

    class Constant(torch.nn.Module):
        def forward(self, x):
            out = torch.zeros(x.shape[0], c, *x.shape[2:])
            out[:, bg] = 5.0
            return out

    folder = tmp_path / "evaluation"
    lut = seg.channel_lut([cl.id for cl in project.classes])
    arrays, targets = evaluate_batch(head, Constant(), None, None, EvalBatch(records, store.root, folder,
                                                                            torch.device("cpu")))
    assert arrays["confusion"].shape == (5, c, c) and targets == [None] * 5
    for i, rec in enumerate(records):
        written = np.asarray(Image.open(folder / "masks" / f"{rec.id}.png"))
        assert written.shape == (rec.height, rec.width) and set(np.unique(written)) == {project.classes[bg].id}
        truth = seg.to_channels(np.asarray(Image.open(store.path_of(rec.mask))), lut)
        assert np.array_equal(arrays["confusion"][i], sm.confusion_of(truth, seg.to_channels(written, lut), c))
        assert arrays["confusion"][i][:, [k for k in range(c) if k != bg]].sum() == 0  # all in the bg column
    subsets = np.array(["val", "val", "test", "test", "test"])
    logs = []
    result = SegmentationEvaluation(head).evaluate(records=records, subsets=subsets, targets=targets, arrays=arrays,
                                                   op=None, log=lambda m, lv="info": logs.append((lv, m)))
    assert not [m for lv, m in logs if lv == "warning"], logs
    body = result.aggregate["subsets"]["test"]
    cm = arrays["confusion"][2:].sum(axis=0)
    assert body["per_class"][bg]["iou"] == pytest.approx(cm[bg, bg] / cm.sum())
    assert all(r["iou"] in (0.0, None) for k, r in enumerate(body["per_class"]) if k != bg)
    assert result.headline["test"]["miou"] == body["metrics"]["miou"]
    line = result.lines[0]
    assert line["prediction"]["mask"] == f"masks/{records[0].id}.png" and line["truth"]["mask"] == records[0].mask
    assert (line["width"], line["height"]) == (records[0].width, records[0].height)
    assert any("mIoU" in s for s in sm.summary_lines(result.aggregate))
    # unknown mask values are counted and said once, never silently
    arrays["unknown"] = np.array([3, 0, 0, 0, 2])
    logs.clear()
    SegmentationEvaluation(head).evaluate(records=records, subsets=subsets, targets=targets, arrays=arrays, op=None,
                                          log=lambda m, lv="info": logs.append((lv, m)))
    assert [m for lv, m in logs if lv == "warning"] == [
        "5 ground-truth pixel(s) in 2 mask(s) have a value that is no class of this model: they were treated as "
        "ignore (like 255) and left out of the metrics"]
    # a mask whose size is not its image's: one clear line naming the mask
    from studio_desktop.core.errors import InvalidInput

    Image.fromarray(np.zeros((7, 9), np.uint8)).save(store.path_of(records[0].mask))
    with pytest.raises(InvalidInput, match=r"the mask .* is 9x7 pixels but its image .* is \d+x\d+"):
        evaluate_batch(head, Constant(), None, None, EvalBatch(records[:1], store.root, folder, torch.device("cpu")))
