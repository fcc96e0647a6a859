"""labelme reader on labelme's own examples (boxes, polygons with groups, flags) and edge cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from format_helpers import image_maker, issue_lines

from studio_desktop.core.errors import InvalidInput
from studio_desktop.core.formats import IGNORE_REGION
from studio_desktop.core.formats.labelme import READER
from studio_desktop.core.formats.registry import detect_format

_img = image_maker((40, 30))


def _shape(label, points, kind="polygon", group=None):
    return {"label": label, "points": points, "shape_type": kind, "group_id": group, "flags": {}}


def _labelme(path: Path, image_path: str, shapes, flags=None, image_data=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": "5.0.1", "flags": flags or {}, "shapes": shapes,
                                "imagePath": image_path, "imageData": image_data,
                                "imageHeight": 30, "imageWidth": 40}))
    return path


_reasons = issue_lines


def test_bbox_example(real_fixtures):
    root = real_fixtures / "labelme/bbox_detection/data_annotated"
    assert "labelme" in READER.detect(root)
    assert detect_format(root, "object_detection")[0] == "labelme"
    # the folder above also holds labelme's VOC conversion: the user is asked to choose
    with pytest.raises(InvalidInput, match="several formats.*voc.*labelme"):
        detect_format(root.parent, "object_detection")
    parsed = READER.read(root, "object_detection")
    files = sorted(root.glob("*.json"))
    data = {f.stem: json.loads(f.read_text()) for f in files}
    assert all(d["imageData"] is None for d in data.values())  # image comes from imagePath
    assert len(parsed.images) == 3
    assert sum(len(i.boxes) for i in parsed.images) == sum(len(d["shapes"]) for d in data.values()) == 9
    assert sorted(parsed.class_names) == ["bus", "car", "person"]
    img = next(i for i in parsed.images if i.path.name == "2011_000003.jpg")
    (x1, y1), (x2, y2) = data["2011_000003"]["shapes"][0]["points"]
    b = img.boxes[0]
    assert (b.x1, b.y1, b.x2, b.y2) == (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
    assert img.declared_size == (500, 338)


def test_instance_example_groups_and_ignore(real_fixtures):
    root = real_fixtures / "labelme/instance_segmentation/data_annotated"
    parsed = READER.read(root, "instance_segmentation")
    counts = {i.path.name: len(i.instances) for i in parsed.images}
    # 2011_000003: person, person in 2 parts (group 0), bottle, __ignore__ -> 3 objects
    # 2011_000006: 4 persons, chair, sofa in 4 parts (group 0), __ignore__ -> 6 objects
    assert counts == {"2011_000003.jpg": 3, "2011_000006.jpg": 6, "2011_000025.jpg": 3}
    assert "__ignore__" not in parsed.class_names
    img6 = next(i for i in parsed.images if i.path.name == "2011_000006.jpg")
    sofa = next(x for x in img6.instances if parsed.class_names[x.cls] == "sofa")
    assert len(sofa.polygons) == 4
    xs = [v for p in sofa.polygons for v in p[0::2]]
    assert sofa.box[0] == min(xs) and sofa.box[2] == max(xs)
    ignore = [i for i in parsed.issues if "__ignore__" in i.reason]
    assert len(ignore) == 1 and ignore[0].reason.startswith("2 shapes")  # said once, counted
    # the same shapes, ungrouped, in the semantic-segmentation example: one instance per shape, and
    # the two __ignore__ shapes are kept there as regions to paint 255 (as labelme2voc does)
    sem = READER.read(real_fixtures / "labelme/semantic_segmentation/data_annotated", "semantic_segmentation")
    assert sum(len(i.instances) for i in sem.images) == 4 + 9 + 3 + 2
    assert sum(x.cls == IGNORE_REGION for i in sem.images for x in i.instances) == 2 and sem.layered


def test_classification_flags(real_fixtures):
    root = real_fixtures / "labelme/classification/data_annotated"
    parsed = READER.read(root, "classification")
    assert parsed.class_names == ["cat", "dog"]  # __ignore__ flag is not a class
    labels = {i.path.name: parsed.class_names[i.label] for i in parsed.images}
    assert labels == {"0001.jpg": "cat", "0002.jpg": "dog"}
    det = READER.read(root, "object_detection")  # elsewhere, set flags become tags
    assert {i.path.name: i.tags for i in det.images} == {"0001.jpg": ["cat"], "0002.jpg": ["dog"]}


def test_shape_kinds(tmp_path):
    _img(tmp_path / "a.png")
    shapes = [
        _shape("r", [[30, 20], [10, 5]], "rectangle"),
        _shape("c", [[20, 15], [20, 10]], "circle"),
        _shape("p", [[5, 5]], "point"),
        _shape("l", [[1, 1], [9, 9]], "line"),
        _shape("bad", [[1, 1], [2, 2], [3, 3]]),
        _shape("g", [[0, 0], [4, 0], [4, 4]], group=1),
        _shape("g", [[10, 10], [14, 10], [14, 14]], group=1),
        _shape("h", [[0, 0], [4, 0], [4, 4]], group=1),  # same group, other label: its own object
        _shape("n", [[0, 0], ["x", 0], [4, 4]]),
        _shape("", [[0, 0], [4, 0], [4, 4]]),
    ]
    _labelme(tmp_path / "a.json", "a.png", shapes)
    det = READER.read(tmp_path, "object_detection")
    boxes = {det.class_names[b.cls]: (b.x1, b.y1, b.x2, b.y2) for b in det.images[0].boxes}
    assert boxes["r"] == (10, 5, 30, 20)
    assert boxes["c"] == pytest.approx((15, 10, 25, 20))
    assert boxes["g"] == (0, 0, 14, 14) and boxes["h"] == (0, 0, 4, 4)
    assert set(boxes) == {"r", "c", "g", "h"}
    text = _reasons(det)
    assert "point shapes mark no area" in text and "line shapes mark no area" in text
    assert "bad polygon with fewer than 3 points or no area" in text
    assert "non-numeric points" in text and "shape without a label" in text
    seg = READER.read(tmp_path / "a.json", "instance_segmentation")
    g = next(x for x in seg.images[0].instances if seg.class_names[x.cls] == "g")
    assert len(g.polygons) == 2
    circle = next(x for x in seg.images[0].instances if seg.class_names[x.cls] == "c")
    assert len(circle.polygons[0]) == 64


def test_image_lookup_and_broken_files(tmp_path):
    _img(tmp_path / "imgs/pic.jpg")
    _labelme(tmp_path / "ann/pic.json", "..\\imgs\\pic.jpg", [_shape("x", [[1, 1], [5, 1], [5, 5]])])
    _img(tmp_path / "ann/same_name.png")
    _labelme(tmp_path / "ann/same_name.json", "C:\\elsewhere\\other.png", [_shape("x", [[1, 1], [5, 1], [5, 5]])])
    _labelme(tmp_path / "ann/embedded.json", "gone.png", [], image_data="iVBORw0KGgo=")
    (tmp_path / "ann/broken.json").write_text('{"shapes": [ {"label": "x", ')
    parsed = READER.read(tmp_path, "instance_segmentation")
    assert sorted(i.path.name for i in parsed.images) == ["pic.jpg", "same_name.png"]
    text = _reasons(parsed)
    assert "ann/embedded.json: image gone.png not found" in text and "imageData" in text
    assert "ann/broken.json: not valid JSON (line 1, column 29: " in text
    with pytest.raises(InvalidInput, match="broken.json"):
        READER.read(tmp_path / "ann/broken.json", "instance_segmentation")
    with pytest.raises(InvalidInput, match="no labelme"):
        READER.read(tmp_path / "imgs", "instance_segmentation")
