"""Splits: stratification per task, groups, determinism, immutability, deletion, edge cases."""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter

import pytest

from studio_desktop.core.datasets import DatasetStore
from studio_desktop.core.errors import InvalidInput
from studio_desktop.core.projects import ProjectService
from studio_desktop.core.schemas import Anomaly, Box, Dataset, ImageRecord
from studio_desktop.core.splits import IMMUTABLE, SplitService, plan_split
from studio_desktop.core.store import atomic_write_json


def rec(i: int, **fields) -> ImageRecord:
    sha = fields.pop("sha256", hashlib.sha256(str(i).encode()).hexdigest())
    return ImageRecord(id=sha[:12] if "id" not in fields else fields.pop("id"), file=f"images/{i}.png",
                       width=32, height=32, sha256=sha, **fields)


def classification(counts: dict[int, int]) -> list[ImageRecord]:
    labels = [c for c, n in counts.items() for _ in range(n)]
    return [rec(i, label=c) for i, c in enumerate(labels)]


def detection(n: int, n_classes: int, seed: int = 0) -> list[ImageRecord]:
    """Skewed multi-object dataset: class c appears in roughly n / (c + 1) images, at least 3."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        classes = {c for c in range(n_classes) if rnd.random() < 1 / (c + 1.5)}
        out.append(rec(i, boxes=[Box(cls=c, x1=1, y1=1, x2=9, y2=9) for c in sorted(classes)]))
    for c in range(n_classes):  # guarantee >= 3 images per class
        have = sum(any(b.cls == c for b in r.boxes) for r in out)
        for r in out[:max(0, 3 - have)]:
            r.boxes.append(Box(cls=c, x1=2, y1=2, x2=8, y2=8))
    return out


def classes_per_subset(plan, records, field="boxes"):
    per = {s: Counter() for s in plan.subsets}
    for r in records:
        for c in {o.cls for o in getattr(r, field)}:
            per[plan.assignments[r.id]][c] += 1
    return per


def test_single_label_counts_within_one_of_ideal():
    records = classification({0: 61, 1: 29, 2: 17, 3: 10})
    plan = plan_split(records, "classification", (0.7, 0.2, 0.1), seed=4)
    assert plan.method == "per-class"
    for c, n in Counter(r.label for r in records).items():
        for s, ratio in plan.ratios.items():
            got = plan.stats[s].classes.get(str(c), 0)
            assert abs(got - ratio * n) < 1 + 1e-9, (c, s, got, ratio * n)
    assert sum(st.images for st in plan.stats.values()) == len(records)
    assert plan.warnings == []


def test_iterative_stratification_every_class_in_every_subset():
    records = detection(120, 12)
    totals = Counter(c for r in records for c in {b.cls for b in r.boxes})
    assert min(totals.values()) >= 3
    plan = plan_split(records, "object_detection", (0.8, 0.1, 0.1), seed=0)
    per = classes_per_subset(plan, records)
    for c in totals:
        assert all(per[s][c] >= 1 for s in plan.subsets), (c, {s: per[s][c] for s in plan.subsets})
    assert plan.method.startswith("iterative")
    # subset sizes stay near the ratios
    assert abs(plan.stats["train"].images - 96) <= 6


def test_random_strategy_only_balances_sizes():
    records = detection(120, 12)
    plan = plan_split(records, "object_detection", (0.8, 0.1, 0.1), seed=0, strategy="random")
    assert plan.method == "random" and plan.stats["train"].images == 96


def test_groups_and_duplicates_never_straddle():
    records = classification({0: 40, 1: 40})
    for i, r in enumerate(records):
        r.group = f"patient{i // 5}"
    dup = records[3].model_copy(update={"id": "dupdupdup001", "group": None})
    records.append(dup)  # same sha256 as records[3], another id, no group
    plan = plan_split(records, "classification", (0.6, 0.2, 0.2), seed=1)
    by_group: dict[str, set] = {}
    for r in records:
        by_group.setdefault(r.group or "dup", set()).add(plan.assignments[r.id])
    assert all(len(v) == 1 for k, v in by_group.items() if k != "dup")
    assert plan.assignments[dup.id] == plan.assignments[records[3].id]
    assert sum(st.groups for st in plan.stats.values()) == 16


def test_group_by_source_keeps_tiles_together():
    records = [rec(i, label=i % 2, source=f"scene{i // 4}.tif") for i in range(40)]
    plan = plan_split(records, "classification", (0.5, 0.5), seed=0, group_by="source")
    for scene in range(10):
        assert len({plan.assignments[r.id] for r in records if r.source == f"scene{scene}.tif"}) == 1


def test_same_seed_same_split_other_seed_differs():
    records = detection(80, 6)
    a = plan_split(records, "object_detection", seed=7)
    b = plan_split(records, "object_detection", seed=7)
    c = plan_split(records, "object_detection", seed=8)
    assert a.assignments == b.assignments
    assert a.assignments != c.assignments


def test_regression_bins_balance_the_target():
    records = [rec(i, targets={"price": float(i * i)}) for i in range(100)]
    plan = plan_split(records, "regression", (0.8, 0.2), seed=0)
    assert plan.method.startswith("quantile")
    assert len(plan.strata_names) == 10
    for key in plan.strata_names:
        assert plan.stats["val"].classes[key] == 2


def anomaly_records():
    recs = [rec(i, anomaly=Anomaly(status="normal")) for i in range(30)]
    recs += [rec(100 + i, anomaly=Anomaly(status="anomalous", defect="crack")) for i in range(10)]
    return recs


def test_anomaly_supervised_puts_anomalies_everywhere():
    plan = plan_split(anomaly_records(), "anomaly_detection", (0.6, 0.2, 0.2), seed=0)
    assert plan.anomaly_mode == "supervised"
    assert [plan.stats[s].classes["anomalous:crack"] for s in plan.subsets] == [6, 2, 2]


def test_anomaly_normal_only_keeps_training_normal():
    recs = anomaly_records()
    plan = plan_split(recs, "anomaly_detection", (0.6, 0.2, 0.2), seed=0, anomaly_mode="normal-only")
    assert "anomalous:crack" not in plan.stats["train"].classes
    assert plan.stats["val"].classes["anomalous:crack"] == 5 == plan.stats["test"].classes["anomalous:crack"]
    assert plan.stats["train"].classes["normal"] == 18
    assert plan.warnings == []


def test_anomaly_normal_only_holds_with_random_strategy_too():
    plan = plan_split(anomaly_records(), "anomaly_detection", (0.6, 0.2, 0.2), seed=3,
                      anomaly_mode="normal-only", strategy="random")
    assert plan.method == "random"
    assert "anomalous:crack" not in plan.stats["train"].classes
    two = plan_split(anomaly_records(), "anomaly_detection", (0.7, 0.3), anomaly_mode="normal-only")
    assert two.stats["val"].classes["anomalous:crack"] == 10


def test_semantic_masks_read_classes_from_png(tmp_path):
    import numpy as np
    from PIL import Image

    from studio_desktop.core.stratify import MaskClassReader

    (tmp_path / "masks").mkdir()
    records = []
    for i in range(12):
        arr = np.zeros((8, 8), np.uint8)
        arr[0, 0] = 255  # ignore value, not a class
        if i < 3:
            arr[1:4, 1:4] = 2  # a rare class in 3 images
        Image.fromarray(arr).save(tmp_path / "masks" / f"{i}.png")
        records.append(rec(i, mask=f"masks/{i}.png"))
    reader = MaskClassReader(tmp_path)
    plan = plan_split(records, "semantic_segmentation", (0.6, 0.2, 0.2), seed=0, mask_classes=reader)
    assert sorted(plan.strata_names) == ["0", "2"]
    assert all(plan.stats[s].classes.get("2") == 1 for s in plan.subsets)
    reader.save()
    cached = json.loads((tmp_path / "mask_classes.json").read_text())["masks"]
    assert cached["masks/0.png"][1] == [0, 2]


@pytest.mark.parametrize("kwargs,needle", [
    (dict(records=[]), "no images"),
    (dict(ratios=(0.5, 0.3)), "sum to 1"),
    (dict(ratios=(1.2, -0.1, -0.1)), "negative"),
    (dict(ratios=(0.9, 0.1, 0.0)), "for no test subset give two ratios"),
    (dict(ratios=(1.0,)), "give 2 ratios"),
    (dict(records=[rec(0, label=0), rec(1, label=1)]), "fewer than the 3 subsets"),
    (dict(strategy="clever"), "unknown strategy"),
])
def test_edge_cases_have_clear_messages(kwargs, needle):
    args = dict(records=classification({0: 10}), ratios=(0.8, 0.1, 0.1))
    args.update(kwargs)
    with pytest.raises(InvalidInput) as exc:
        plan_split(args["records"], "classification", args["ratios"], strategy=args.get("strategy", "auto"))
    assert needle in str(exc.value) and "\n" not in str(exc.value)


def test_too_few_groups_refused():
    records = [rec(i, label=0, group=f"g{i % 2}") for i in range(10)]
    with pytest.raises(InvalidInput, match="only 2 group"):
        plan_split(records, "classification", (0.8, 0.1, 0.1))


def test_rare_class_warning_names_class_and_placement():
    records = classification({0: 30, 1: 2})
    plan = plan_split(records, "classification", (0.8, 0.1, 0.1), class_names={0: "good", 1: "scratch"})
    assert plan.stats["train"].classes["1"] == 1 and plan.stats["val"].classes["1"] == 1
    assert any("'scratch' has only 2 image(s)" in w and "train 1, val 1" in w and "none in test" in w
               for w in plan.warnings), plan.warnings


# ------------------------------------------------------------------ storage
@pytest.fixture
def project(workspace):
    p = ProjectService(workspace).create("cells", "classification", classes=["a", "b"])
    DatasetStore(workspace, p.id).save(Dataset(images=classification({0: 20, 1: 20})))
    return p


def test_create_list_get_and_immutability(workspace, project):
    svc = SplitService(workspace, project.id)
    dataset = DatasetStore(workspace, project.id).load()
    plan = svc.plan(project, dataset, ratios=(0.8, 0.2), seed=3)
    split = svc.create("first", plan)
    path = svc.path_of(split.id)
    before = path.read_bytes()
    assert json.loads(before)["schema_version"] == 1
    assert svc.get("FIRST").assignments == plan.assignments
    assert svc.get(split.id).dataset_fingerprint == plan.fingerprint
    assert split.stats["train"].classes == {"0": 16, "1": 16}
    assert split.strata_names == {"0": "a", "1": "b"}
    with pytest.raises(InvalidInput, match=IMMUTABLE):
        svc.save(split)
    with pytest.raises(InvalidInput, match=IMMUTABLE):
        svc.update(split.id, name="other")
    with pytest.raises(InvalidInput, match="already exists"):
        svc.create("First", plan)
    assert path.read_bytes() == before
    second = svc.create(None, svc.plan(project, dataset, seed=1))
    assert second.name == "split 1"
    assert [s.name for s in svc.list()] == ["first", "split 1"]


def test_delete_refused_while_an_experiment_uses_it(workspace, project):
    svc = SplitService(workspace, project.id)
    split = svc.create("s", svc.plan(project, DatasetStore(workspace, project.id).load()))
    exp = workspace.project_dir(project.id) / "experiments" / "e1"
    atomic_write_json(exp / "experiment.json", {"name": "resnet run", "config": {"split_id": split.id}})
    assert [e.id for e in svc.experiments_using(split.id)] == ["e1"]
    with pytest.raises(InvalidInput, match="used by experiment.*resnet run"):
        svc.delete(split.id)
    assert svc.path_of(split.id).exists()
    (exp / "experiment.json").write_text("{broken " + split.id)  # unreadable but mentions it
    with pytest.raises(InvalidInput):
        svc.delete("s")
    (exp / "experiment.json").write_text(json.dumps({"config": {"split_id": None}}))
    with pytest.raises(InvalidInput):  # no split named: it trains on the newest, this one
        svc.delete("s")
    (exp / "experiment.json").write_text(json.dumps({"config": {"split_id": "other"}}))
    assert svc.delete("s").id == split.id
    assert not svc.path_of(split.id).exists() and svc.list() == []


def test_not_in_split_after_adding_images(workspace, project):
    store = DatasetStore(workspace, project.id)
    svc = SplitService(workspace, project.id)
    split = svc.create("s", svc.plan(project, store.load()))
    dataset = store.load()
    new = [rec(1000 + i, label=0) for i in range(3)]
    dataset.images.extend(new)
    removed = dataset.images.pop(0)
    store.save(dataset)
    assert SplitService.not_in_split(split, store.load()) == [r.id for r in new]
    assert SplitService.missing_from_dataset(split, store.load()) == [removed.id]


def test_corrupt_split_file_is_reported_not_fatal(workspace, project):
    svc = SplitService(workspace, project.id)
    svc.create("ok", svc.plan(project, DatasetStore(workspace, project.id).load()))
    (svc.folder / "bad.json").write_text("{nope")
    good, bad = svc.scan()
    assert [s.name for s in good] == ["ok"] and "bad.json" in bad[0] and "not valid JSON" in bad[0]


# ------------------------------------------------------------------ real and sample data
def coco_records(path) -> list[ImageRecord]:
    """ImageRecords straight from a COCO JSON (no image decoding: splits need annotations only)."""
    data = json.loads(path.read_text())
    boxes: dict[int, list[Box]] = {}
    for a in data["annotations"]:
        x, y, w, h = a["bbox"]
        boxes.setdefault(a["image_id"], []).append(Box(cls=a["category_id"], x1=x, y1=y, x2=x + w, y2=y + h))
    out = []
    for im in data["images"]:
        sha = hashlib.sha256(im["file_name"].encode()).hexdigest()
        out.append(ImageRecord(id=sha[:12], file=f"images/{sha[:12]}.jpg", width=im["width"],
                               height=im["height"], sha256=sha, source=im["file_name"],
                               boxes=boxes.get(im["id"], [])))
    return out


def test_real_coco_rbc_every_class_in_every_subset_and_no_augmentation_leak(real_fixtures):
    records = coco_records(real_fixtures / "coco_bbox_rbc" / "train" / "_annotations.coco.json")
    totals = Counter(c for r in records for c in {b.cls for b in r.boxes})
    assert totals[2] >= 3  # wbc: the rarer class
    for group_by in ("group", "origin"):
        plan = plan_split(records, "object_detection", (0.8, 0.1, 0.1), seed=0, group_by=group_by)
        per = classes_per_subset(plan, records)
        for c, n in totals.items():
            if n >= 3:
                assert all(per[s][c] >= 1 for s in plan.subsets), (group_by, c, per)
    # Roboflow's augmented copies of one original (image-7_png.rf.<hash>) stay in one subset
    origins: dict[str, set] = {}
    for r in records:
        origins.setdefault(r.source.split("_png")[0], set()).add(plan.assignments[r.id])
    assert len(origins) < len(records) and all(len(v) == 1 for v in origins.values())
    assert sum(st.groups for st in plan.stats.values()) == len(origins)


def test_detection_sample_project(workspace):
    pytest.importorskip("studio_desktop.core.samples")
    from studio_desktop.core.samples import create_sample_project

    project = create_sample_project(workspace, "object_detection", images=30)
    dataset = DatasetStore(workspace, project.id).load()
    svc = SplitService(workspace, project.id)
    plan = svc.plan(project, dataset, ratios=(0.6, 0.2, 0.2), seed=0)
    totals = Counter(c for r in dataset.images for c in {b.cls for b in r.boxes})
    assert totals and plan.method.startswith("iterative")
    for c, n in totals.items():
        if n >= 3:
            assert all(plan.stats[s].classes.get(str(c), 0) >= 1 for s in plan.subsets), (c, plan.stats)
    assert set(plan.strata_names.values()) == {c.name for c in project.classes if c.id in totals}
    split = svc.create(None, plan)
    assert svc.not_in_split(split, dataset) == []
