"""YOLO reader on ultralytics' coco128 and on small synthetic layouts (segments, OBB, classes.txt)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from studio_desktop.core.errors import InvalidInput
from studio_desktop.core.formats.registry import detect_format
from studio_desktop.core.formats.yolo import READER, label_path_for


def _img(path: Path, size=(64, 32), exif_orientation: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.new("RGB", size, (10, 20, 30))
    if exif_orientation:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        im.save(path, exif=exif)
    else:
        im.save(path)
    return path


def _txt(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _reasons(parsed) -> str:
    return "\n".join(f"{i.file}: {i.reason} [{i.action}]" for i in parsed.issues)


# ------------------------------------------------------------------------------- real data

@pytest.mark.parametrize("where", ["yolo_coco128", "yolo_coco128/coco128.yaml"])
def test_coco128(real_fixtures, where):
    root = real_fixtures / where
    assert "names" in READER.detect(root)
    assert detect_format(root, "object_detection")[0] == "yolo"
    parsed = READER.read(root, "object_detection")
    ds = real_fixtures / "yolo_coco128/datasets/coco128"
    images = sorted((ds / "images/train2017").glob("*.jpg"))
    assert len(parsed.images) == len(images) == 128
    assert len(parsed.class_names) == 80 and parsed.class_names[:2] == ["person", "bicycle"]
    expected = sum(len(label_path_for(p).read_text().split("\n")) - 1 for p in images
                   if label_path_for(p).is_file())
    assert sum(len(i.boxes) for i in parsed.images) == expected == 929
    text = _reasons(parsed)
    # two images without label files are kept; two label files without images are named
    kept = [i for i in parsed.issues if i.action == "kept" and "no label file" in i.reason]
    assert sorted(Path(i.file).stem for i in kept) == ["000000000250", "000000000508"]
    orphans = [i for i in parsed.issues if "without an image" in i.reason]
    assert sorted(Path(i.file).stem for i in orphans) == ["000000000656", "000000000659"]
    assert "README" not in text and "<<<<" not in text  # README with conflict markers is not a label
    # first line of 000000000009.txt, class 45 (bowl), on a 640x480 image
    line = (ds / "labels/train2017/000000000009.txt").read_text().splitlines()[0].split()
    cx, cy, w, h = (float(v) for v in line[1:])
    img = next(i for i in parsed.images if i.path.name == "000000000009.jpg")
    b = img.boxes[0]
    assert parsed.class_names[b.cls] == "bowl" and img.declared_size is None  # upright frame
    assert (b.x1, b.y1, b.x2, b.y2) == pytest.approx(
        ((cx - w / 2) * 640, (cy - h / 2) * 480, (cx + w / 2) * 640, (cy + h / 2) * 480))
    # train and val are the same folder: no misleading subset tags
    assert not any(i.tags for i in parsed.images)


def test_coco128_without_yaml_names_classes_by_number(real_fixtures):
    parsed = READER.read(real_fixtures / "yolo_coco128/datasets/coco128", "object_detection")
    assert len(parsed.images) == 128
    assert all(n.isdigit() for n in parsed.class_names)
    assert [int(n) for n in parsed.class_names] == sorted(int(n) for n in parsed.class_names)
    assert "classes are named by their number" in _reasons(parsed)


# ------------------------------------------------------------------------------- synthetic

def test_yaml_subsets_names_list_and_bad_lines(tmp_path):
    _txt(tmp_path / "data.yaml", "path: .\ntrain: images/train\nval: images/val\nnames: [cat, dog]\n")
    _img(tmp_path / "images/train/a.png")
    _img(tmp_path / "images/val/b.png")
    _txt(tmp_path / "labels/train/a.txt",
         "0 0.5 0.5 0.5 0.5\n1 0.25 0.25 0.5 0.5\n7 0.5 0.5 0.1 0.1\n0 x 0.5 0.1 0.1\n0 20 30 4 4\n0 0.5\n")
    _txt(tmp_path / "labels/val/b.txt", "")
    parsed = READER.read(tmp_path, "object_detection")
    assert parsed.class_names == ["cat", "dog"]
    a = next(i for i in parsed.images if i.path.name == "a.png")
    b = next(i for i in parsed.images if i.path.name == "b.png")
    assert (a.tags, b.tags) == (["train"], ["val"])
    assert [(x.cls, x.x1, x.y1, x.x2, x.y2) for x in a.boxes] == [(0, 16, 8, 48, 24), (1, 0, 0, 32, 16)]
    assert b.boxes == []
    text = _reasons(parsed)
    assert "line 3: class id 7" in text
    assert "line 4 is not numbers" in text
    assert "line 5 has coordinates outside 0-1" in text
    assert "line 6 has 1 coordinates" in text


def test_segments_and_obb(tmp_path):
    _txt(tmp_path / "data.yaml", "names:\n  0: part\n  2: hole\n")
    _img(tmp_path / "images/s.png", (100, 50))
    _txt(tmp_path / "labels/s.txt", "0 0.1 0.2 0.5 0.2 0.5 0.8 0.1 0.8\n2 0.2 0.2 0.6 0.2 0.4 0.6\n")
    seg = READER.read(tmp_path, "instance_segmentation")
    assert seg.class_names == ["part", "hole"]  # ids 0 and 2 -> dense indices 0 and 1
    inst = seg.images[0].instances
    assert [i.cls for i in inst] == [0, 1]
    assert inst[0].polygons == [pytest.approx([10, 10, 50, 10, 50, 40, 10, 40])]
    assert inst[0].box == pytest.approx([10, 10, 50, 40])
    obb = READER.read(tmp_path, "oriented_object_detection")
    (rb,) = obb.images[0].rboxes  # the triangle is not an oriented box
    assert (rb.cx, rb.cy, rb.w, rb.h, rb.angle % 180) == pytest.approx((30, 25, 40, 30, 0), abs=1e-6)
    assert rb.corners == pytest.approx([10, 10, 50, 10, 50, 40, 10, 40])
    assert "not an oriented box" in _reasons(obb)
    det = READER.read(tmp_path, "object_detection")
    assert [v for b in det.images[0].boxes for v in (b.x1, b.y1, b.x2, b.y2)] == pytest.approx(
        [10, 10, 50, 40, 20, 10, 60, 30])


def test_classes_txt_labels_beside_images_and_exif(tmp_path):
    _txt(tmp_path / "classes.txt", "alpha\nbeta\n")
    # stored 64x32, shown rotated (EXIF 6): YOLO normalises by the shown 32x64
    _img(tmp_path / "r.jpg", (64, 32), exif_orientation=6)
    _txt(tmp_path / "r.txt", "1 0.5 0.5 1 1\n")
    _img(tmp_path / "plain.png")
    parsed = READER.read(tmp_path, "object_detection")
    assert parsed.class_names == ["alpha", "beta"]
    r = next(i for i in parsed.images if i.path.name == "r.jpg")
    assert [(b.cls, b.x2, b.y2) for b in r.boxes] == [(1, 32, 64)]
    plain = next(i for i in parsed.images if i.path.name == "plain.png")
    assert plain.boxes == []
    assert any(i.file == "plain.png" and i.action == "kept" for i in parsed.issues)


def test_yaml_with_image_list_and_missing_folder(tmp_path):
    _img(tmp_path / "images/a.png")
    _txt(tmp_path / "labels/a.txt", "0 0.5 0.5 0.2 0.2\n")
    _txt(tmp_path / "train.txt", "./images/a.png\n./images/gone.png\n")
    _txt(tmp_path / "data.yaml", "train: train.txt\nval: images/nowhere\nnames: {0: thing}\n")
    parsed = READER.read(tmp_path / "data.yaml", "object_detection")
    assert [i.path.name for i in parsed.images] == ["a.png"] and parsed.images[0].tags == ["train"]
    text = _reasons(parsed)
    assert "gone.png" in text and "val: images/nowhere not found" in text


def test_roboflow_layout_and_rounding(tmp_path):
    """Roboflow: data.yaml in the root says ../train/images; labels overshoot by rounding."""
    _txt(tmp_path / "data.yaml", "train: ../train/images\nval: ../valid/images\nnc: 1\nnames: ['cell']\n")
    _img(tmp_path / "train/images/a.jpg", (100, 100))
    _txt(tmp_path / "train/labels/a.txt", "0 0.1 0.5 0.2000004 0.2\n0 0.95 0.5 0.2 0.2\n")
    _img(tmp_path / "valid/images/b.jpg", (100, 100))
    _txt(tmp_path / "valid/labels/b.txt", "0 0.5 0.5 0.2 0.2\n")
    parsed = READER.read(tmp_path, "object_detection")
    tags = {i.path.name: i.tags for i in parsed.images}
    assert tags == {"a.jpg": ["train"], "b.jpg": ["val"]}
    a = next(i for i in parsed.images if i.path.name == "a.jpg")
    assert a.boxes[0].x1 == 0  # -0.00002 px: clipped without a word
    assert (a.boxes[1].x1, a.boxes[1].x2) == pytest.approx((85, 100))  # 5 px beyond: clipped and said
    clipped = [i for i in parsed.issues if i.action == "clipped"]
    assert len(clipped) == 1 and "line 2" in clipped[0].reason


def test_subset_folders_without_yaml(tmp_path):
    _txt(tmp_path / "classes.txt", "a\n")
    for sub in ("train", "valid", "misc"):
        _img(tmp_path / sub / "images" / f"{sub}.png")
        _txt(tmp_path / sub / "labels" / f"{sub}.txt", "0 0.5 0.5 0.5 0.5\n")
    parsed = READER.read(tmp_path, "object_detection")
    assert {i.path.name: i.tags for i in parsed.images} == {"train.png": ["train"], "valid.png": ["val"],
                                                              "misc.png": []}
    assert all(len(i.boxes) == 1 for i in parsed.images)


def test_bad_yaml_and_no_images(tmp_path):
    _txt(tmp_path / "data.yaml", "names: [a, b\ntrain: [")
    with pytest.raises(InvalidInput, match=r"data.yaml: not valid YAML \(line 2, column 6: expected"):
        READER.read(tmp_path / "data.yaml", "object_detection")
    empty = tmp_path / "empty"
    _txt(empty / "data.yaml", "names: [a]\n")
    with pytest.raises(InvalidInput, match="no images found"):
        READER.read(empty, "object_detection")
    _txt(tmp_path / "weird.yaml", "names: 5\n")
    with pytest.raises(InvalidInput, match="'names' must be"):
        READER.read(tmp_path / "weird.yaml", "object_detection")


def test_detect_labels_folder_only(tmp_path):
    _img(tmp_path / "images/a.png")
    _txt(tmp_path / "labels/a.txt", "3 0.5 0.5 0.2 0.2\n")
    _txt(tmp_path / "README.txt", "# not labels\n<<<<<<< HEAD\n")
    assert "labels" in READER.detect(tmp_path)
    assert READER.detect(tmp_path / "images") is None
