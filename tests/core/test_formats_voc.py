"""Pascal VOC reader on the raccoon dataset, labelme's VOC conversion and edge cases."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from format_helpers import image_maker, issue_lines

from studio_desktop.core.errors import InvalidInput
from studio_desktop.core.formats.registry import detect_format
from studio_desktop.core.formats.voc import READER

_img = image_maker((40, 30))


def _xml(path: Path, filename: str, objects: list[tuple], size=(40, 30), extra: str = "") -> Path:
    objs = "".join(
        f"<object><name>{n}</name><difficult>{d}</difficult><bndbox><xmin>{a}</xmin><ymin>{b}</ymin>"
        f"<xmax>{c}</xmax><ymax>{e}</ymax></bndbox></object>" for n, a, b, c, e, d in objects)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<annotation{extra}><filename>{filename}</filename>"
                    f"<path>/Users/someone/Desktop/{filename}</path>"
                    f"<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>"
                    f"{objs}</annotation>")
    return path


_reasons = issue_lines


def test_raccoon(real_fixtures):
    root = real_fixtures / "voc_raccoon"
    assert "Pascal VOC" in READER.detect(root)
    assert detect_format(root, "object_detection")[0] == "voc"
    parsed = READER.read(root, "object_detection")
    xmls = sorted((root / "annotations").glob("*.xml"))
    assert len(parsed.images) == len(xmls) == 80
    assert parsed.class_names == ["raccoon"]
    n_objects = sum(len(ET.parse(x).getroot().findall("object")) for x in xmls)
    assert sum(len(i.boxes) for i in parsed.images) == n_objects == 87
    assert parsed.issues == []
    # the absolute Mac <path> is ignored: images are found in images/ beside annotations/
    assert all(i.path.parent == root / "images" for i in parsed.images)
    verified = [x for x in xmls if ET.parse(x).getroot().get("verified") == "yes"]
    assert sum("verified" in i.tags for i in parsed.images) == len(verified) == 79
    img = next(i for i in parsed.images if i.path.name == "raccoon-54.jpg")
    assert img.declared_size == (602, 339)
    (b,) = img.boxes  # xmin 78 ymin 5 xmax 517 ymax 333, 1-based -> continuous frame
    assert (b.x1, b.y1, b.x2, b.y2, b.difficult) == (77, 4, 517, 333, False)


def test_labelme_voc_conversion_keeps_fractional_coordinates(real_fixtures):
    root = real_fixtures / "labelme/bbox_detection/data_dataset_voc"
    parsed = READER.read(root, "object_detection")
    assert parsed.class_names == ["bus", "car", "person"]
    assert len(parsed.images) == 3 and all(i.path.parent.name == "JPEGImages" for i in parsed.images)
    assert sum(len(i.boxes) for i in parsed.images) == 9
    img = next(i for i in parsed.images if i.path.name == "2011_000003.jpg")
    b = img.boxes[0]  # written by labelme as 191.0 107.369 313.0 329.369: already 0-based
    assert (b.x1, b.y1, b.x2, b.y2) == pytest.approx((191.0, 107.369, 313.0, 329.369), abs=1e-3)


def test_missing_image_broken_xml_and_clipping(tmp_path):
    _img(tmp_path / "JPEGImages/a.jpg", mode="L")  # greyscale is fine
    _xml(tmp_path / "Annotations/a.xml", "a.jpg",
         [("cat", 1, 1, 40, 30, 0), ("dog", 5, 5, 60, 20, 1), ("cat", 50, 5, 60, 10, 0), ("cat", 9, 9, 3, 20, 0)])
    _xml(tmp_path / "Annotations/b.xml", "b.jpg", [("cat", 1, 1, 4, 4, 0)])
    (tmp_path / "Annotations/c.xml").write_text("<annotation><filename>c.jpg</filename><object>")
    (tmp_path / "Annotations/unrelated.xml").write_text("<project><name>x</name></project>")
    parsed = READER.read(tmp_path, "object_detection")
    assert parsed.class_names == ["cat", "dog"]
    (img,) = parsed.images
    assert [(b.cls, b.x1, b.y1, b.x2, b.y2, b.difficult) for b in img.boxes] == [
        (0, 0, 0, 40, 30, False), (1, 4, 4, 40, 20, True)]
    text = _reasons(parsed)
    assert "Annotations/b.xml: image b.jpg not found" in text
    assert "Annotations/c.xml: not valid XML (line 1, column 47: no element found)" in text
    assert "extends beyond the image: clipped" in text
    assert "lies outside the image: dropped" in text
    assert "zero or negative size" in text
    assert "unrelated" not in text


def test_filename_without_extension_and_single_file(tmp_path):
    _img(tmp_path / "pic.png")
    _xml(tmp_path / "pic.xml", "pic", [("x", 2, 2, 10, 10, 0)])
    parsed = READER.read(tmp_path / "pic.xml", "object_detection")
    assert parsed.images[0].path.name == "pic.png"
    assert READER.detect(tmp_path / "pic.xml")
    bad = tmp_path / "bad.xml"
    bad.write_text("<annotation><object></annotation>")
    with pytest.raises(InvalidInput, match=r"bad.xml: not valid XML \(line 1, column 23: mismatched tag\)"):
        READER.read(bad, "object_detection")
    (tmp_path / "only").mkdir()
    with pytest.raises(InvalidInput, match="no Pascal VOC"):
        READER.read(tmp_path / "only", "object_detection")


def test_declared_encodings(tmp_path):
    """labelImg's Chinese builds write GBK, which expat cannot read by itself."""
    _img(tmp_path / "a.jpg")
    body = ('<annotation><filename>a.jpg</filename><object><name>猫</name><bndbox><xmin>1</xmin><ymin>1</ymin>'
            '<xmax>9</xmax><ymax>9</ymax></bndbox></object></annotation>')
    (tmp_path / "a.xml").write_bytes(('<?xml version="1.0" encoding="gbk"?>' + body).encode("gbk"))
    parsed = READER.read(tmp_path, "object_detection")
    assert parsed.class_names == ["猫"] and len(parsed.images[0].boxes) == 1
    (tmp_path / "a.xml").write_bytes(('<?xml version="1.0" encoding="utf-8"?>' + body).encode("utf-8"))
    assert READER.read(tmp_path, "object_detection").class_names == ["猫"]
