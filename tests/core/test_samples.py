"""Procedural samples: every task, deterministic, learnable structure, importable."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio_desktop.core.datasets import DatasetStore
from studio_desktop.core.errors import InvalidInput
from studio_desktop.core.formats.registry import FORMATS, detect_format
from studio_desktop.core.samples import DEFAULT_IMAGES, create_sample_project, write_sample
from studio_desktop.tasks import TASKS

NATIVE = {"classification": "folder", "object_detection": "coco", "semantic_segmentation": "masks",
          "instance_segmentation": "coco", "anomaly_detection": "mvtec", "regression": "csv",
          "oriented_object_detection": "dota"}


def digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(folder).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.mark.parametrize("task", list(TASKS))
def test_every_task_sample_is_deterministic_and_detected(task: str, tmp_path: Path):
    a = write_sample(task, tmp_path / "a", images=6, seed=3)
    b = write_sample(task, tmp_path / "b", images=6, seed=3)
    c = write_sample(task, tmp_path / "c", images=6, seed=4)
    assert digest(a) == digest(b) != digest(c)
    sizes = [Image.open(p).size for p in a.rglob("*.png") if "mask" not in p.parent.name
             and "ground_truth" not in p.parts]
    assert sizes and all(64 <= w <= 128 and 64 <= h <= 128 for w, h in sizes)
    if NATIVE[task] not in FORMATS:
        pytest.skip(f"the {NATIVE[task]} reader is not in this build")
    assert detect_format(a, task)[0] == NATIVE[task]


def test_classification_sample_is_balanced_by_shape(tmp_path: Path):
    root = write_sample("classification", tmp_path / "s", images=30)
    assert {p.name: len(list(p.iterdir())) for p in root.iterdir()} == {"circle": 10, "square": 10, "triangle": 10}


def test_coco_sample_boxes_match_drawn_shapes(tmp_path: Path):
    root = write_sample("instance_segmentation", tmp_path / "s", images=3)
    coco = json.loads((root / "annotations.json").read_text())
    assert {c["name"] for c in coco["categories"]} == {"circle", "square", "triangle"}
    for ann in coco["annotations"]:
        poly = ann["segmentation"][0]
        x, y, w, h = ann["bbox"]
        assert len(poly) >= 6 and min(poly[0::2]) == pytest.approx(x, abs=0.02)
        assert max(poly[1::2]) == pytest.approx(y + h, abs=0.03)


def test_semantic_sample_masks_hold_class_ids(tmp_path: Path):
    root = write_sample("semantic_segmentation", tmp_path / "s", images=4)
    values = set()
    for m in (root / "masks").iterdir():
        values |= set(np.unique(np.asarray(Image.open(m))).tolist())
    assert 0 in values and values <= {0, 1, 2, 3} and len(values) >= 2


def test_regression_sample_targets_follow_the_image(tmp_path: Path):
    root = write_sample("regression", tmp_path / "s", images=12)
    rows = [line.split(",") for line in (root / "labels.csv").read_text().splitlines()[1:]]
    # brightness is the grey level of the disc: the brightest image pixel tracks it
    corr = np.corrcoef([float(b) for _, _, b in rows],
                       [np.asarray(Image.open(root / f).convert("L")).astype(float).mean() for f, _, _ in rows])[0, 1]
    assert corr > 0.3


def test_bad_arguments(tmp_path: Path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(InvalidInput, match="not empty"):
        write_sample("classification", tmp_path / "full")
    with pytest.raises(InvalidInput, match="between 1 and"):
        write_sample("classification", tmp_path / "n", images=0)
    with pytest.raises(InvalidInput):
        write_sample("no_such_task", tmp_path / "t")


def test_create_sample_project_is_unique_and_imported(workspace):
    a = create_sample_project(workspace, "classification", images=6)
    b = create_sample_project(workspace, "classification", images=6)
    assert a.name == "Image classification sample" and b.name == "Image classification sample 2"
    assert [c.name for c in a.classes] == ["circle", "square", "triangle"]
    assert len(DatasetStore(workspace, b.id).load().images) == 6


@pytest.mark.parametrize("task", list(TASKS))
def test_every_sample_imports_fully_annotated(workspace, task: str):
    if NATIVE[task] not in FORMATS:
        pytest.skip(f"the {NATIVE[task]} reader is not in this build")
    project = create_sample_project(workspace, task, images=5)
    records = DatasetStore(workspace, project.id).load().images
    assert len(records) >= 5 and all(r.is_annotated() for r in records)
    field = TASKS[task].annotation
    assert all(getattr(r, field) not in (None, [], {}) for r in records)
    if task == "oriented_object_detection":
        r = records[0].rboxes[0]
        assert {c.name for c in project.classes} == {"bar", "block"} and r.w > 0 and r.h > 0


@pytest.mark.ml
def test_classification_sample_is_learnable_by_a_tiny_cnn(tmp_path: Path):
    """The promise made to newcomers: the default-size sample trains to >= 95% in seconds on CPU."""
    torch = pytest.importorskip("torch")
    nn = torch.nn

    def load(root: Path):
        xs, ys = [], []
        for k, shape in enumerate(("circle", "square", "triangle")):
            for p in sorted((root / shape).iterdir()):
                xs.append(np.asarray(Image.open(p).convert("RGB").resize((40, 40)), dtype=np.float32) / 255)
                ys.append(k)
        return torch.tensor(np.stack(xs)).permute(0, 3, 1, 2), torch.tensor(ys)

    x_train, y_train = load(write_sample("classification", tmp_path / "train", seed=0))
    x_test, y_test = load(write_sample("classification", tmp_path / "test", images=150, seed=1))
    assert len(x_train) == DEFAULT_IMAGES["classification"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        layers = []
        for cin, cout in ((3, 16), (16, 32), (32, 64), (64, 64)):
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]
        net = nn.Sequential(*layers[:-1], nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 3))
        opt = torch.optim.Adam(net.parameters(), 3e-3)
        for _ in range(40):
            net.train()
            perm = torch.randperm(len(x_train))
            for i in range(0, len(perm), 32):
                idx = perm[i:i + 32]
                x = x_train[idx].flip(3) if torch.rand(1) < 0.5 else x_train[idx]
                loss = nn.functional.cross_entropy(net(x), y_train[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        net.eval()
        with torch.no_grad():
            accuracy = (net(x_test).argmax(1) == y_test).float().mean().item()
    finally:
        torch.set_num_threads(threads)
    assert accuracy >= 0.95


def test_failed_sample_project_is_removed(workspace, monkeypatch):
    from studio_desktop.core import importing
    from studio_desktop.core.projects import ProjectService

    def broken(*args, **kwargs):
        raise importing.ImportCancelled("cancelled")

    monkeypatch.setattr(importing, "import_dataset", broken)
    with pytest.raises(importing.ImportCancelled):
        create_sample_project(workspace, "regression", images=3)
    assert ProjectService(workspace).list() == []


def test_regression_sample_images_share_one_size_so_the_radius_is_observable(tmp_path: Path):
    root = write_sample("regression", tmp_path / "s", images=6)
    sizes = {Image.open(p).size for p in (root / "images").iterdir()}
    assert len(sizes) == 1
    radii = [float(line.split(",")[1]) for line in (root / "labels.csv").read_text().splitlines()[1:]]
    assert max(radii) <= 0.45 * min(sizes.pop())
