"""COCO reader on real exports (Roboflow, panopticapi, sahi, labelme's conversion) and edge cases."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from format_helpers import image_maker, issue_lines

from studio_desktop.core.errors import InvalidInput
from studio_desktop.core.formats.coco import READER
from studio_desktop.core.formats.registry import detect_format
from studio_desktop.core.geometry import rle_decode, rle_encode

_img = image_maker((32, 24), colour=(90, 120, 30))


def _coco(path: Path, images, annotations, categories) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return path


_reasons = issue_lines


# ------------------------------------------------------------------------------- real data

def test_roboflow_subsets(real_fixtures):
    root = real_fixtures / "coco_bbox_rbc"
    assert "COCO" in READER.detect(root)
    assert detect_format(root, "object_detection")[0] == "coco"
    files = {s: json.loads((root / s / "_annotations.coco.json").read_text()) for s in ("train", "valid", "test")}
    parsed = READER.read(root, "object_detection")
    # category 0 "RBC-WBC" is the supercategory no annotation uses: not a class
    assert parsed.class_names == ["rbc", "wbc"]
    assert len(parsed.images) == sum(len(f["images"]) for f in files.values()) == 240
    assert sum(len(i.boxes) for i in parsed.images) == sum(len(f["annotations"]) for f in files.values()) == 5638
    tags = [t for i in parsed.images for t in i.tags]
    assert (tags.count("train"), tags.count("val"), tags.count("test")) == (210, 20, 10)
    assert parsed.issues == []
    # the first train annotation: wbc, bbox [130, 142, 159.5, 169.75] (xywh)
    first = files["train"]["images"][0]["file_name"]
    img = next(i for i in parsed.images if i.path.name == first)
    assert img.declared_size == (416, 416)
    box = img.boxes[0]
    assert parsed.class_names[box.cls] == "wbc"
    assert (box.x1, box.y1, box.x2, box.y2) == (130, 142, 289.5, 311.75)


def test_panopticapi_rle_with_image_root_elsewhere(real_fixtures):
    root = real_fixtures / "coco_rle_panopticapi"
    # of its three JSONs, the one with annotations is named as the reason
    assert "panoptic_coco_detection_format.json" in detect_format(root, "instance_segmentation")[1]
    parsed = READER.read(root, "instance_segmentation")
    # file_name has no folder: the images are found in sample_data/input_images/
    assert sorted(i.path.name for i in parsed.images) == ["000000142238.jpg", "000000439180.jpg"]
    assert all(i.path.parent.name == "input_images" for i in parsed.images)
    data = json.loads((root / "sample_data/panoptic_coco_detection_format.json").read_text())
    instances = [inst for i in parsed.images for inst in i.instances]
    assert len(instances) == len(data["annotations"]) == 50
    assert sum(inst.iscrowd for inst in instances) == 3
    assert all(isinstance(inst.rle["counts"], str) and not inst.polygons for inst in instances)
    # 133 categories declared, only those annotations use become classes
    used = {c["name"] for c in data["categories"] if c["id"] in {a["category_id"] for a in data["annotations"]}}
    assert set(parsed.class_names) == used and len(parsed.class_names) < 133
    img = next(i for i in parsed.images if i.path.name == "000000142238.jpg")
    for inst in img.instances:
        assert inst.rle["size"] == [427, 640]
        mask = rle_decode(inst.rle)
        ys, xs = np.nonzero(mask)
        # the box is the mask's extent, give or take the pixel COCO rounds
        assert abs(xs.min() - inst.box[0]) <= 1 and abs(ys.max() + 1 - inst.box[3]) <= 1
    # the other JSONs are a panoptic file and an image list: said, not read as detections
    text = _reasons(parsed)
    assert "panoptic_examples.json" in text and "images_info_examples.json" in text


def test_panopticapi_single_file_detection(real_fixtures):
    path = real_fixtures / "coco_rle_panopticapi/sample_data/panoptic_coco_detection_format.json"
    parsed = READER.read(path, "object_detection")
    assert len(parsed.images) == 2
    assert sum(len(i.boxes) for i in parsed.images) == 50
    person = next(b for i in parsed.images if i.path.name == "000000142238.jpg" for b in i.boxes)
    assert (person.x1, person.y1, person.x2, person.y2) == (282, 207, 330, 356)  # bbox [282, 207, 48, 149]


def test_sahi_missing_images_are_issues(real_fixtures):
    root = real_fixtures / "coco_edgecases_sahi/tests/data/coco_utils"
    parsed = READER.read(root / "terrain_all_coco.json", "object_detection")
    assert sorted(i.path.name for i in parsed.images) == ["terrain1.jpg", "terrain2.png"]
    assert any("terrain3.png" in i.reason and i.action == "skipped" for i in parsed.issues)
    data = json.loads((root / "terrain_all_coco.json").read_text())
    present = {im["id"] for im in data["images"] if im["file_name"] != "terrain3.png"}
    assert sum(len(i.boxes) for i in parsed.images) == sum(a["image_id"] in present for a in data["annotations"])
    # coco_evaluate/dataset.json points only at absent images: nothing imported, each named
    ev = READER.read(real_fixtures / "coco_edgecases_sahi/tests/data/coco_evaluate/dataset.json",
                     "object_detection")
    assert ev.images == []
    assert len([i for i in ev.issues if "not found" in i.reason]) == 2


def test_sahi_folder_with_overlapping_jsons(real_fixtures):
    parsed = READER.read(real_fixtures / "coco_edgecases_sahi", "object_detection")
    paths = [i.path for i in parsed.images]
    assert len(paths) == len(set(paths))  # an image listed by several JSONs is read once
    assert any("also listed in" in i.reason for i in parsed.issues)
    assert any("terrain3.png" in i.reason for i in parsed.issues)


def test_labelme_coco_conversion(real_fixtures):
    root = real_fixtures / "labelme/instance_segmentation/data_dataset_coco"
    parsed = READER.read(root, "instance_segmentation")
    assert "_background_" not in parsed.class_names
    assert len(parsed.images) == 3 and all(i.path.parent.name == "JPEGImages" for i in parsed.images)
    assert sum(len(i.instances) for i in parsed.images) == 12
    # labelme's multi-part objects arrive as several polygons of one instance
    assert any(len(inst.polygons) > 1 for i in parsed.images for inst in i.instances)


# ------------------------------------------------------------------------------- edge cases

def test_ids_with_gaps_unused_and_degenerate(tmp_path):
    _img(tmp_path / "images/a.png")
    cats = [{"id": 7, "name": "zebra"}, {"id": 3, "name": "ant"}, {"id": 5, "name": "unused"}]
    anns = [
        {"id": 1, "image_id": 1, "category_id": 7, "bbox": [1, 2, 3, 4]},
        {"id": 2, "image_id": 1, "category_id": 3, "bbox": [5, 5, 0, 4]},  # zero width
        {"id": 3, "image_id": 1, "category_id": 3, "bbox": [2, 2, 5, 5], "area": 99999},
        {"id": 4, "image_id": 1, "category_id": 42, "bbox": [2, 2, 5, 5]},
        {"id": 5, "image_id": 9, "category_id": 3, "bbox": [2, 2, 5, 5]},
    ]
    _coco(tmp_path / "ann.json", [{"id": 1, "file_name": "a.png", "width": 32, "height": 24}], anns, cats)
    parsed = READER.read(tmp_path, "object_detection")
    assert parsed.class_names == ["ant", "zebra"]  # id order, unused left out
    (img,) = parsed.images
    assert [(parsed.class_names[b.cls], b.x1, b.y1, b.x2, b.y2) for b in img.boxes] == [
        ("zebra", 1, 2, 4, 6), ("ant", 2, 2, 7, 7)]
    text = _reasons(parsed)
    assert "degenerate bbox" in text and "[dropped]" in text
    assert "unknown category id 42" in text
    assert "image id 9" in text


def test_uncompressed_rle_polygons_and_clipping(tmp_path):
    _img(tmp_path / "x.jpg", (6, 5))
    mask = np.zeros((5, 6), np.uint8)
    mask[1:3, 2:5] = 1
    anns = [
        {"id": 1, "image_id": 0, "category_id": 1, "iscrowd": 1, "bbox": [2, 1, 3, 2],
         "segmentation": {"size": [5, 6], "counts": [11, 2, 3, 2, 3, 2, 7]}},
        {"id": 2, "image_id": 0, "category_id": 1, "bbox": [],
         "segmentation": [[0, 0, 4, 0, 4, 3], [1, 1, 2]]},  # second polygon too short
        {"id": 3, "image_id": 0, "category_id": 1, "bbox": [3, 3, 10, 10], "segmentation": []},
    ]
    _coco(tmp_path / "c.json", [{"id": 0, "file_name": "x.jpg", "width": 6, "height": 5}], anns,
          [{"id": 1, "name": "blob"}])
    parsed = READER.read(tmp_path / "c.json", "instance_segmentation")
    (img,) = parsed.images
    assert len(img.instances) == 2
    crowd, poly = img.instances
    assert crowd.iscrowd and crowd.rle == rle_encode(mask)
    assert poly.polygons == [[0, 0, 4, 0, 4, 3]] and poly.box == [0, 0, 4, 3]
    text = _reasons(parsed)
    assert "fewer than 3 points" in text
    assert "box only" in text  # annotation 3 has no mask: no instance
    det = READER.read(tmp_path / "c.json", "object_detection")
    boxes = det.images[0].boxes
    assert [(b.x1, b.y1, b.x2, b.y2) for b in boxes][-1] == (3, 3, 6, 5)  # clipped to 6x5
    assert any(i.action == "clipped" for i in det.issues)


def test_file_name_variants(tmp_path):
    _img(tmp_path / "data/images/sub/one.png")
    _img(tmp_path / "data/two.png")
    _img(tmp_path / "elsewhere/three.png")
    images = [{"id": 1, "file_name": "sub\\one.png"}, {"id": 2, "file_name": "/abs/path/two.png"},
              {"id": 3, "file_name": "three.png"}, {"id": 4, "file_name": "four.png"}]
    anns = [{"id": i, "image_id": i, "category_id": 1, "bbox": [0, 0, 2, 2]} for i in range(1, 5)]
    _coco(tmp_path / "data/instances.json", images, anns, [{"id": 1, "name": "x"}])
    parsed = READER.read(tmp_path, "object_detection")
    assert sorted(i.path.name for i in parsed.images) == ["one.png", "three.png", "two.png"]
    assert any("four.png" in i.reason and i.action == "skipped" for i in parsed.issues)
    # an image root given by the user is searched first, even outside the JSON's folder
    _img(tmp_path / "pictures/four.png")
    given = READER.read(tmp_path / "data/instances.json", "object_detection", image_root=tmp_path / "pictures")
    assert "four.png" in [i.path.name for i in given.images]


def test_background_category_skipped(tmp_path):
    _img(tmp_path / "a.png")
    cats = [{"id": 0, "name": "_background_"}, {"id": 1, "name": "cat"}]
    anns = [{"id": 1, "image_id": 0, "category_id": 0, "bbox": [0, 0, 5, 5]},
            {"id": 2, "image_id": 0, "category_id": 1, "bbox": [0, 0, 5, 5]}]
    _coco(tmp_path / "a.json", [{"id": 0, "file_name": "a.png"}], anns, cats)
    parsed = READER.read(tmp_path, "object_detection")
    assert parsed.class_names == ["cat"] and len(parsed.images[0].boxes) == 1


def test_broken_and_foreign_json(tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text('{"images": [{"id": 1, "file_name": "a.png"}], "annotations": [')
    with pytest.raises(InvalidInput, match=r"broken.json: not valid JSON \(line 1, column 63: Expecting value\)"):
        READER.read(bad, "object_detection")
    other = tmp_path / "other" / "settings.json"
    other.parent.mkdir()
    other.write_text('{"theme": "dark"}')
    assert READER.detect(other.parent) is None
    with pytest.raises(InvalidInput, match="no COCO JSON"):
        READER.read(other.parent, "object_detection")
    with pytest.raises(InvalidInput, match="not a COCO"):
        READER.read(other, "object_detection")


def test_degenerate_bbox_with_a_mask_uses_the_mask_extent(tmp_path):
    _img(tmp_path / "a.png")
    anns = [{"id": 1, "image_id": 0, "category_id": 1, "bbox": [5, 5, 0, 0],
             "segmentation": [[2, 3, 10, 3, 10, 9]]}]
    _coco(tmp_path / "a.json", [{"id": 0, "file_name": "a.png", "width": 32, "height": 24}], anns,
          [{"id": 1, "name": "x"}])
    parsed = READER.read(tmp_path, "object_detection")
    (b,) = parsed.images[0].boxes
    assert (b.x1, b.y1, b.x2, b.y2) == (2, 3, 10, 9)
    (issue,) = parsed.issues
    assert issue.action == "kept" and "degenerate bbox" in issue.reason and "extent" in issue.reason
