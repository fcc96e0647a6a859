"""Tiny datasets written straight into a workspace (images, thumbnails, masks, dataset.json)
for the Dataset page, canvas and thumbnail tests: no importer needed, a few 48×32 images."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from PIL import Image

from studio_desktop.core.datasets import DatasetStore
from studio_desktop.core.projects import ProjectService
from studio_desktop.core.schemas import Anomaly, Box, Dataset, ImageRecord, Instance, RotatedBox

W, H = 48, 32


def write_image(store: DatasetStore, image_id: str, color: tuple[int, int, int]) -> str:
    store.images_dir.mkdir(parents=True, exist_ok=True)
    store.thumbnails_dir.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", (W, H), color)
    img.save(store.images_dir / f"{image_id}.png")
    img.save(store.thumbnail_path(image_id), "JPEG")
    return f"images/{image_id}.png"


def write_mask(store: DatasetStore, image_id: str, values: np.ndarray, folder: str = "masks") -> str:
    (store.root / folder).mkdir(parents=True, exist_ok=True)
    Image.fromarray(values.astype(np.uint8), "L").save(store.root / folder / f"{image_id}.png")
    return f"{folder}/{image_id}.png"


def detection_project(ws, n: int = 6, name: str = "Cells"):
    """n images; even ones have a 'cat' box (class 0), every third a 'dog' box, the last none."""
    project = ProjectService(ws).create(name, "object_detection", ["cat", "dog"])
    store = DatasetStore(ws, project.id)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    records = []
    for i in range(n):
        rid = f"{i:012x}"
        boxes = []
        if i % 2 == 0:
            boxes.append(Box(cls=0, x1=4, y1=4, x2=20, y2=20))
        if i % 3 == 0:
            boxes.append(Box(cls=1, x1=24, y1=8, x2=44, y2=28))
        if i == n - 1:
            boxes = []
        records.append(ImageRecord(
            id=rid, file=write_image(store, rid, (20 * i, 100, 200 - 20 * i)),
            width=W + i, height=H, sha256=rid * 5, source=f"/data/img_{n - i:03d}.png",
            tags=["train" if i < n // 2 else "val"], added=t0 + timedelta(days=i), boxes=boxes))
    store.save(Dataset(images=records))
    return project, store


def every_kind_record(ws):
    """One project whose single record carries every annotation kind (canvas tests)."""
    project = ProjectService(ws).create("All kinds", "instance_segmentation", ["background", "cat", "dog"])
    store = DatasetStore(ws, project.id)
    rid = "abcdef012345"
    mask = np.zeros((H, W), np.uint8)
    mask[20:30, 30:46] = 2
    anomaly = np.zeros((H, W), np.uint8)
    anomaly[2:6, 2:6] = 255
    record = ImageRecord(
        id=rid, file=write_image(store, rid, (128, 128, 128)), width=W, height=H, sha256=rid,
        source="/data/everything.png", label=1,
        boxes=[Box(cls=1, x1=4, y1=4, x2=20, y2=20), Box(cls=2, x1=24, y1=4, x2=40, y2=14)],
        instances=[Instance(cls=2, polygons=[[2, 20, 12, 20, 12, 30, 2, 30]], box=[2, 20, 12, 30])],
        mask=write_mask(store, rid, mask),
        rboxes=[RotatedBox(cls=1, cx=30, cy=16, w=10, h=6, angle=30)],
        anomaly=Anomaly(status="anomalous", mask=write_mask(store, rid, anomaly, "anomaly_masks"), defect="crack"),
        targets={"weight": 3.5})
    store.save(Dataset(images=[record]))
    return project, store, record
