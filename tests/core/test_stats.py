"""Data-health statistics (core/stats.py) on hand-made datasets with known answers."""

from __future__ import annotations

import json

from studio_desktop.core.projects import make_classes
from studio_desktop.core.schemas import Anomaly, Box, Dataset, ImageRecord, Project
from studio_desktop.core.stats import dataset_stats, format_stats


def rec(i: int, sha: str | None = None, w: int = 100, h: int = 50, **kw) -> ImageRecord:
    s = sha or f"{i:064x}"
    return ImageRecord(id=s[:16] if sha is None else f"{i:016x}", file=f"images/{i}.png", width=w, height=h,
                       sha256=s, **kw)


def test_classification_counts_imbalance_duplicates_unannotated():
    project = Project(id="p", name="P", task="classification", classes=make_classes(["cat", "dog", "owl"]))
    images = [rec(i, label=0) for i in range(20)] + [rec(100, label=1), rec(101, label=1)]
    images += [rec(200, sha="f" * 64), rec(201, sha="f" * 64, label=1)]  # same content twice
    stats = dataset_stats(Dataset(images=images), project)
    json.dumps(stats)
    assert stats["images"] == 24 and stats["annotated"] == 23
    assert stats["images_per_class"] == {"cat": 20, "dog": 3, "owl": 0}
    assert stats["images_without_annotations"]["count"] == 1
    assert stats["duplicates"]["count"] == 1 and len(stats["duplicates"]["groups"][0]) == 2
    assert "owl" in stats["class_imbalance"]["warning"]
    assert stats["image_width"]["min"] == 100 == stats["image_width"]["max"]
    text = format_stats(stats)
    assert "cat" in text and "warning:" in text


def test_imbalance_ratio_threshold():
    project = Project(id="p", name="P", task="classification", classes=make_classes(["a", "b"]))
    nine = dataset_stats(Dataset(images=[rec(i, label=0) for i in range(9)] + [rec(50, label=1)]), project)
    assert nine["class_imbalance"]["ratio"] == 9 and nine["class_imbalance"]["warning"] is None
    ten = dataset_stats(Dataset(images=[rec(i, label=0) for i in range(10)] + [rec(50, label=1)]), project)
    assert ten["class_imbalance"]["ratio"] == 10 and "10x" in ten["class_imbalance"]["warning"]
    assert ten["warnings"]


def test_detection_objects_and_box_sizes():
    project = Project(id="p", name="P", task="object_detection", classes=make_classes(["car", "bike"]))
    images = [rec(1, boxes=[Box(cls=0, x1=0, y1=0, x2=10, y2=20), Box(cls=1, x1=0, y1=0, x2=30, y2=10)]),
              rec(2, boxes=[Box(cls=0, x1=5, y1=5, x2=25, y2=25)]), rec(3)]
    stats = dataset_stats(Dataset(images=images), project)
    assert stats["objects_per_class"] == {"car": 2, "bike": 1}
    assert stats["images_per_class"] == {"car": 2, "bike": 1}
    assert stats["objects_per_image"]["counts"] and stats["objects_per_image"]["max"] == 2
    assert stats["objects_per_image"]["min"] == 0
    assert stats["box_width"]["min"] == 10 and stats["box_width"]["max"] == 30
    assert stats["box_height"]["median"] == 20
    assert sum(stats["box_width"]["counts"]) == 3


def test_regression_histograms_and_anomaly_counts():
    project = Project(id="p", name="P", task="regression", target_names=["price"])
    images = [rec(i, targets={"price": float(i)}) for i in range(1, 11)]
    stats = dataset_stats(Dataset(images=images), project)
    hist = stats["targets"]["price"]
    assert hist["min"] == 1 and hist["max"] == 10 and hist["mean"] == 5.5 and sum(hist["counts"]) == 10
    assert "images_per_class" not in stats
    anomaly = Project(id="a", name="A", task="anomaly_detection")
    imgs = [rec(1, anomaly=Anomaly(status="normal")), rec(2, anomaly=Anomaly(status="anomalous", defect="crack")),
            rec(3, anomaly=Anomaly(status="anomalous", defect="crack"))]
    a = dataset_stats(Dataset(images=imgs), anomaly)["anomaly"]
    assert a == {"normal": 1, "anomalous": 2, "defects": {"crack": 2}}


def test_empty_dataset():
    project = Project(id="p", name="P", task="object_detection", classes=make_classes(["a"]))
    stats = dataset_stats(Dataset(), project)
    assert stats["images"] == 0 and stats["image_width"]["count"] == 0
    assert format_stats(stats).startswith("P (object_detection): 0 images")


def test_semantic_masks_counted_only_when_read(tmp_path):
    import numpy as np
    from PIL import Image

    project = Project(id="p", name="P", task="semantic_segmentation",
                      classes=make_classes(["background", "road", "sky"]))
    (tmp_path / "masks").mkdir()
    a = np.zeros((4, 5), np.uint8)
    a[0] = 1
    a[1, :2] = 255
    Image.fromarray(a).save(tmp_path / "masks" / "a.png")
    Image.fromarray(np.zeros((4, 5), np.uint8)).save(tmp_path / "masks" / "b.png")
    ds = Dataset(images=[rec(1, mask="masks/a.png"), rec(2, mask="masks/b.png")])
    quick = dataset_stats(ds, project)
    assert "images_per_class" not in quick and "class_imbalance" not in quick  # no misleading zeros
    full = dataset_stats(ds, project, dataset_root=tmp_path)
    assert full["images_per_class"] == {"background": 2, "road": 1, "sky": 0}
    assert full["pixels_per_class"] == {"background": 33, "road": 5, "sky": 0}
    assert full["ignored_pixels"] == 2
    assert "sky" in full["class_imbalance"]["warning"]
