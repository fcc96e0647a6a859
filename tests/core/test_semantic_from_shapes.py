"""Outlines (COCO, labelme) imported into a semantic project become index masks: the same
pixels as the source's own tools draw, a background class, small objects over large ones."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from studio_desktop.core.datasets import DatasetStore
from studio_desktop.core.formats import ParsedDataset, ParsedImage
from studio_desktop.core.formats.registry import FORMATS
from studio_desktop.core.geometry import rle_encode
from studio_desktop.core.importing import import_dataset
from studio_desktop.core.projects import ProjectService
from studio_desktop.core.samples import write_sample
from studio_desktop.core.schemas import Instance


def _masks(workspace, project_id):
    store = DatasetStore(workspace, project_id)
    return {Path(r.source).name: np.asarray(Image.open(store.path_of(r.mask))) for r in store.load().images}


def test_labelme_outlines_give_the_masks_labelme2voc_gives(workspace, real_fixtures):
    root = real_fixtures / "labelme/semantic_segmentation"
    projects = ProjectService(workspace)
    p = projects.create("voc", "semantic_segmentation")
    report = import_dataset(workspace, p.id, root / "data_annotated")
    assert report.format == "labelme" and report.imported == 3 and "background" in report.classes_added
    assert not any("does not use" in i.reason or "not imported" in i.reason for i in report.issues)
    # labelme's own export of the same files (class_names.txt order, 255 = __ignore__) is the reference
    names = (root / "data_dataset_voc/class_names.txt").read_text().splitlines()
    to_labelme = np.zeros(256, np.uint8)
    to_labelme[255] = 255
    for c in projects.get(p.id).classes:
        to_labelme[c.id] = names.index("_background_" if c.name == "background" else c.name)
    masks = _masks(workspace, p.id)
    assert len(masks) == 3
    for name, ours in masks.items():
        ref = np.asarray(Image.open(root / "data_dataset_voc/SegmentationClass" / f"{Path(name).stem}.png"))
        mapped = to_labelme[ours]
        assert mapped.shape == ref.shape
        assert (mapped != ref).sum() <= 2, name  # a polygon poking out of the image is clipped here
        assert set(np.unique(mapped)) == set(np.unique(ref)), name  # __ignore__ regions are 255


def test_coco_polygons_paint_as_pycocotools_rasterises_them(workspace, tmp_path):
    from pycocotools import mask as mask_utils

    src = write_sample("instance_segmentation", tmp_path / "coco", images=5, seed=3)
    projects = ProjectService(workspace)
    p = projects.create("shapes", "semantic_segmentation")
    report = import_dataset(workspace, p.id, src)
    assert report.format == "coco" and report.imported == 5
    classes = {c.name: c.id for c in projects.get(p.id).classes}
    assert set(classes) == {"circle", "square", "triangle", "background"}
    coco = json.loads((src / "annotations.json").read_text())
    cat = {c["id"]: c["name"] for c in coco["categories"]}
    masks = _masks(workspace, p.id)
    for im in coco["images"]:
        expected = np.full((im["height"], im["width"]), classes["background"], np.uint8)
        for a in coco["annotations"]:
            if a["image_id"] == im["id"]:
                rle = mask_utils.merge(mask_utils.frPyObjects(a["segmentation"], im["height"], im["width"]))
                expected[mask_utils.decode(rle).astype(bool)] = classes[cat[a["category_id"]]]
        assert np.array_equal(masks[im["file_name"]], expected), im["file_name"]


def test_small_objects_stay_on_top_rle_is_painted_and_background_is_reused(workspace, tmp_path, monkeypatch):
    Image.new("RGB", (40, 30), (9, 9, 9)).save(tmp_path / "a.png")
    small = np.zeros((30, 40), np.uint8)
    small[2:6, 30:36] = 1
    item = ParsedImage(path=tmp_path / "a.png", instances=[
        Instance(cls=1, polygons=[[10, 10, 20, 10, 20, 20, 10, 20]]),  # small square, listed first
        Instance(cls=0, polygons=[[0, 0, 40, 0, 40, 30, 0, 30]]),  # the whole image, listed last
        Instance(cls=1, rle=rle_encode(small)),  # an RLE region
    ])
    monkeypatch.setitem(FORMATS, "fake", type("Fake", (), {
        "name": "fake", "tasks": ("semantic_segmentation",), "detect": lambda self, root: None,
        "read": lambda self, root, task: ParsedDataset(format="fake", images=[item], class_names=["road", "car"])})())
    projects = ProjectService(workspace)
    p = projects.create("S", "semantic_segmentation", classes=["Background", "road", "car"])
    report = import_dataset(workspace, p.id, tmp_path, fmt="fake")
    assert report.classes_added == []  # "Background" already there (any case): reused
    mask = _masks(workspace, p.id)["a.png"]
    road, car = 1, 2
    assert (mask[10:20, 10:20] == car).all()  # not covered by the larger road drawn after it
    assert (mask[2:6, 30:36] == car).all()
    assert (mask == road).sum() == 40 * 30 - (mask == car).sum() and not (mask == 0).any()


def test_other_tasks_still_skip_labelme_ignore_regions(workspace, real_fixtures):
    root = real_fixtures / "labelme/semantic_segmentation/data_annotated"
    p = ProjectService(workspace).create("inst", "instance_segmentation")
    report = import_dataset(workspace, p.id, root)
    assert any("__ignore__" in i.reason and i.action == "dropped" for i in report.issues)
    recs = DatasetStore(workspace, p.id).load().images
    assert all(inst.cls >= 0 for r in recs for inst in r.instances)
