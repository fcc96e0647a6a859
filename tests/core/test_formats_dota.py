"""DOTA labelTxt reader on DOTA_devkit's example, an mmrotate tile and edge cases."""

from __future__ import annotations

from pathlib import Path

import pytest
from format_helpers import image_maker, issue_lines
from PIL import Image

from studio_desktop.core.errors import InvalidInput
from studio_desktop.core.formats.dota import READER
from studio_desktop.core.formats.registry import detect_format
from studio_desktop.core.geometry import rbox_corners

_img = image_maker((64, 64))


_reasons = issue_lines


def test_devkit_example(real_fixtures):
    root = real_fixtures / "dota_devkit"
    assert "labelTxt" in READER.detect(root)
    assert detect_format(root, "oriented_object_detection")[0] == "dota"
    assert detect_format(real_fixtures / "dota_mmrotate_tile", "object_detection")[0] == "dota"
    parsed = READER.read(root, "oriented_object_detection")
    assert sorted(i.path.name for i in parsed.images) == ["P0706.png", "P1888.png"]
    # five label files name images that are not there: each one reported, none fatal
    orphans = sorted(Path(i.file).stem for i in parsed.issues if "without an image" in i.reason)
    assert orphans == ["P0770", "P1088", "P1234", "P2598", "P2709"]
    lines = (root / "example/labelTxt/P0706.txt").read_text().splitlines()
    assert lines[0].startswith("imagesource:") and lines[1].startswith("gsd:")
    img = next(i for i in parsed.images if i.path.name == "P0706.png")
    assert len(img.rboxes) == len(lines) - 2 == 536
    first = img.rboxes[0]  # "1054 1028 1063 1011 1111 1040 1112 1062 ship 1"
    assert parsed.class_names[first.cls] == "ship" and first.difficult
    assert first.corners == [1054, 1028, 1063, 1011, 1111, 1040, 1112, 1062]
    assert (first.cx, first.cy) == pytest.approx((1085, 1035.25), abs=3)
    assert first.w * first.h == pytest.approx(19.2 * 68.1, rel=0.05)
    assert parsed.class_names == sorted(parsed.class_names)
    det = READER.read(root, "object_detection")
    box = next(i for i in det.images if i.path.name == "P0706.png").boxes[0]
    assert (box.x1, box.y1, box.x2, box.y2) == (1054, 1011, 1112, 1062)


def test_mmrotate_tile(real_fixtures):
    root = real_fixtures / "dota_mmrotate_tile"
    parsed = READER.read(root, "oriented_object_detection")
    (img,) = parsed.images
    assert img.path.suffix == ".png"
    with Image.open(img.path) as im:
        assert im.mode == "RGBA"  # RGBA PNG: the reader only needs its path
    assert parsed.class_names == ["plane"]
    lines = (root / "tests/data/labelTxt/P0004__1__0___0.txt").read_text().split("\n")
    assert len(img.rboxes) == len([ln for ln in lines if ln.strip()])
    assert img.rboxes[0].corners == [398.0, 716.0, 398.0, 694.0, 464.0, 698.0, 465.0, 718.0]
    assert [r.difficult for r in img.rboxes[:3]] == [False, False, True]
    assert "empty label file without an image" in _reasons(parsed)


def test_synthetic_rotated_round_trip_and_bad_lines(tmp_path):
    corners = rbox_corners(30, 20, 16, 8, 30)
    text = "imagesource:x\ngsd:0.5\n" + " ".join(f"{v:.4f}" for v in corners) + " boat 0\n"
    text += "1 2 3 4 5 6 7 car 0\n"  # 7 numbers
    text += "0 0 1 1 2 2 3 3 line 0\n"  # no area
    text += "10 10 20 10 20 20 10 20 car\n"  # difficult missing: fine
    (tmp_path / "labelTxt").mkdir()
    (tmp_path / "labelTxt/s1.txt").write_text(text)
    _img(tmp_path / "images/s1.tif")
    _img(tmp_path / "images/unlabelled.jpg")
    parsed = READER.read(tmp_path, "oriented_object_detection")
    assert parsed.class_names == ["boat", "car"]
    s1 = next(i for i in parsed.images if i.path.name == "s1.tif")
    boat, car = s1.rboxes
    assert (boat.cx, boat.cy, boat.w, boat.h, boat.angle) == pytest.approx((30, 20, 16, 8, 30), abs=1e-3)
    assert (car.w, car.h, car.difficult) == pytest.approx((10, 10, False))
    text = _reasons(parsed)
    assert "line 4 is not 8 coordinates" in text and "line 5: the 4 corners enclose no area" in text
    assert any(i.file == "images/unlabelled.jpg" and i.action == "kept" for i in parsed.issues)
    assert next(i for i in parsed.images if i.path.name == "unlabelled.jpg").rboxes == []


def test_nothing_to_read(tmp_path):
    assert READER.detect(tmp_path) is None
    with pytest.raises(InvalidInput, match="no DOTA labelTxt"):
        READER.read(tmp_path, "oriented_object_detection")
    yolo_like = tmp_path / "a.txt"
    yolo_like.write_text("0 0.5 0.5 0.1 0.1\n")
    assert READER.detect(yolo_like) is None
    dota_like = tmp_path / "b.txt"
    dota_like.write_text("1 2 3 2 3 4 1 4 plane 0\n")
    assert READER.detect(dota_like)
