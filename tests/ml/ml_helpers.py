"""Tiny training helpers: a 3-class project of 32 px images (colour = class) with a split."""

from __future__ import annotations

import hashlib
import io

import numpy as np
from PIL import Image

from studio_desktop.core.datasets import DatasetStore
from studio_desktop.core.projects import ProjectService
from studio_desktop.core.schemas import Dataset, ImageRecord
from studio_desktop.core.splits import Split, SplitService

COLOURS = [(200, 40, 40), (40, 180, 60), (50, 70, 210)]


def make_tiny_project(ws, name: str = "tiny", per_class: int = 10, size: int = 32, seed: int = 0,
                      val_every: int = 3):
    """Project + dataset + split; the class of an image is its dominant colour (easy to learn)."""
    rng = np.random.default_rng(seed)
    project = ProjectService(ws).create(name, "classification", classes=["red", "green", "blue"])
    store = DatasetStore(ws, project.id)
    store.images_dir.mkdir(parents=True, exist_ok=True)
    records, assignments = [], {}
    for cls, colour in enumerate(COLOURS):
        for k in range(per_class):
            arr = np.clip(np.array(colour)[None, None, :] + rng.normal(0, 40, (size, size, 3)), 0, 255)
            buf = io.BytesIO()
            Image.fromarray(arr.astype(np.uint8)).save(buf, format="PNG")
            data = buf.getvalue()
            sha = hashlib.sha256(data).hexdigest()
            rid = sha[:12]
            (store.images_dir / f"{rid}.png").write_bytes(data)
            records.append(ImageRecord(id=rid, file=f"images/{rid}.png", width=size, height=size, sha256=sha,
                                       label=cls, source=f"/photos/{COLOURS.index(colour)}/{k:03d}.png"))
            assignments[rid] = "val" if val_every and k % val_every == 0 else "train"
    store.save(Dataset(images=records))
    split = Split(id="s1", name="split 1", task="classification", ratios={"train": 0.67, "val": 0.33},
                  assignments=assignments)
    SplitService(ws, project.id).save(split)
    return project, split


def worker_env() -> dict:
    import os

    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"
    return env


def tiny_config(**changes):
    from studio_desktop.core.experiments import defaults_for

    base = dict(model="tiny_cnn", epochs=3, batch_size=8, input_size=32, split_id="s1", lr=5e-3,
                pretrained=False)
    base.update(changes)
    return defaults_for("classification").model_copy(update=base)
