"""Garbled, truncated and oddly typed annotation files never crash a reader.

Every reader must answer with a ParsedDataset (problems as ImportIssues) or an InvalidInput naming
the file; any other exception would reach the user as a traceback. Hypothesis writes the files.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from studio_desktop.core.errors import InvalidInput
from studio_desktop.core.formats import ParsedDataset
from studio_desktop.core.formats.coco import READER as COCO
from studio_desktop.core.formats.dota import READER as DOTA
from studio_desktop.core.formats.labelme import READER as LABELME
from studio_desktop.core.formats.voc import READER as VOC
from studio_desktop.core.formats.yolo import READER as YOLO

FUZZ = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# odd JSON values: every type, huge and negative numbers, NaN-like strings, nesting
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=False),
                    st.text(max_size=12), st.sampled_from(["img.png", "0", "1e400", "nan", "", "\x00"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=6),
                                                       st.dictionaries(st.text(max_size=6), inner, max_size=4)),
                      max_leaves=12)
numbers = st.one_of(st.integers(-5, 500), st.floats(-10, 500, allow_nan=False), values)


@pytest.fixture(scope="module")
def image_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fuzz_img") / "img.png"
    Image.new("RGB", (16, 12), (1, 2, 3)).save(path)
    return path


def _run(reader, root: Path, task: str) -> None:
    try:
        parsed = reader.read(root, task)
    except InvalidInput as exc:
        assert str(exc).strip() and "\n" not in str(exc)
        return
    assert isinstance(parsed, ParsedDataset)
    n = len(parsed.class_names)
    for img in parsed.images:
        assert img.path.is_file()
        for ann in [*img.boxes, *img.instances, *img.rboxes]:
            assert 0 <= ann.cls < n
        assert img.label is None or 0 <= img.label < n
    for issue in parsed.issues:
        assert isinstance(issue.file, str) and issue.reason and issue.action


def _folder(image_file: Path, files: dict[str, str | bytes]) -> Path:
    root = Path(tempfile.mkdtemp(dir=image_file.parent))
    shutil.copy(image_file, root / "img.png")
    for name, content in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, encoding="utf-8", errors="surrogatepass")
    return root


def _garble(text: str, data) -> str:
    """Truncate the text somewhere, or splice random characters into it."""
    cut = data.draw(st.integers(0, len(text)))
    if data.draw(st.booleans()):
        return text[:cut]
    junk = data.draw(st.text(max_size=8))
    return text[:cut] + junk + text[cut + data.draw(st.integers(0, 5)):]


VALID_COCO = json.dumps({
    "images": [{"id": 1, "file_name": "img.png", "width": 16, "height": 12}],
    "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 4],
                     "segmentation": [[1, 1, 5, 1, 5, 5]], "iscrowd": 0}],
    "categories": [{"id": 1, "name": "thing"}]})


@FUZZ
@given(data=st.data())
def test_coco_garbled_text(image_file, data):
    root = _folder(image_file, {"ann.json": _garble(VALID_COCO, data)})
    _run(COCO, root / "ann.json", data.draw(st.sampled_from(["object_detection", "instance_segmentation"])))


coco_docs = st.fixed_dictionaries({
    "images": st.one_of(values, st.lists(st.fixed_dictionaries(
        {"id": st.one_of(st.integers(0, 3), values), "file_name": st.one_of(st.just("img.png"), values),
         "width": numbers, "height": numbers}), max_size=3)),
    "annotations": st.one_of(values, st.lists(st.fixed_dictionaries(
        {"image_id": st.one_of(st.integers(0, 3), values), "category_id": st.one_of(st.integers(0, 3), values),
         "bbox": st.one_of(st.lists(numbers, min_size=4, max_size=4), values),
         "segmentation": st.one_of(
             st.lists(st.lists(numbers, max_size=10), max_size=3),
             st.fixed_dictionaries({"size": st.one_of(st.just([12, 16]), values),
                                    "counts": st.one_of(st.text(max_size=20), st.lists(st.integers(-3, 200)),
                                                        values)}),
             values),
         "iscrowd": numbers}), max_size=4)),
    "categories": st.one_of(values, st.lists(st.fixed_dictionaries(
        {"id": st.one_of(st.integers(0, 3), values), "name": st.one_of(st.sampled_from(["a", "b"]), values)}),
        max_size=3)),
})


@FUZZ
@given(doc=coco_docs, task=st.sampled_from(["object_detection", "instance_segmentation"]))
def test_coco_odd_values(image_file, doc, task):
    root = _folder(image_file, {"ann.json": json.dumps(doc)})
    _run(COCO, root, task)


VALID_VOC = ("<annotation verified=\"yes\"><filename>img.png</filename><size><width>16</width>"
             "<height>12</height></size><object><name>cat</name><difficult>0</difficult><bndbox><xmin>1</xmin>"
             "<ymin>2</ymin><xmax>9</xmax><ymax>10</ymax></bndbox></object></annotation>")


@FUZZ
@given(data=st.data(), field=st.text(max_size=10))
def test_voc_garbled(image_file, data, field):
    text = _garble(VALID_VOC, data)
    if data.draw(st.booleans()):  # or a valid document with one odd value
        from xml.sax.saxutils import escape

        tag = data.draw(st.sampled_from(["filename", "width", "xmin", "ymax", "name", "difficult"]))
        text = VALID_VOC.replace(f"<{tag}>", f"<{tag}>{escape(field)}", 1)
    root = _folder(image_file, {"Annotations/a.xml": text, "Annotations/b.xml": VALID_VOC})
    _run(VOC, root, "object_detection")
    _run(VOC, root / "Annotations/a.xml", "object_detection")


label_lines = st.lists(st.one_of(
    st.lists(st.sampled_from(["0", "1", "7", "-1", "0.5", "0.25", "1.5", "x", "nan", "1e9", ""]),
             max_size=11).map(" ".join),
    st.text(max_size=20)), max_size=6).map("\n".join)


@FUZZ
@given(labels=label_lines, yaml_text=st.one_of(st.just("names: [a, b]\n"), st.text(max_size=40),
                                               st.just("names: {0: a, 3: b}\npath: ../x\ntrain: images\n")),
       task=st.sampled_from(["object_detection", "instance_segmentation", "oriented_object_detection"]))
def test_yolo_garbled(image_file, labels, yaml_text, task):
    root = _folder(image_file, {"data.yaml": yaml_text, "labels/img.txt": labels, "labels/orphan.txt": labels})
    (root / "images").mkdir()
    shutil.move(root / "img.png", root / "images/img.png")
    _run(YOLO, root, task)


dota_lines = st.lists(st.one_of(
    st.lists(st.sampled_from(["0", "10", "5.5", "-3", "plane", "ship", "1", "x", "1e400"]), max_size=11).map(" ".join),
    st.sampled_from(["imagesource:GoogleEarth", "gsd:0.1", "gsd:"]),
    st.text(max_size=20)), max_size=6).map("\n".join)


@FUZZ
@given(lines=dota_lines, task=st.sampled_from(["oriented_object_detection", "object_detection"]))
def test_dota_garbled(image_file, lines, task):
    root = _folder(image_file, {"labelTxt/img.txt": lines, "labelTxt/gone.txt": lines})
    (root / "images").mkdir()
    shutil.move(root / "img.png", root / "images/img.png")
    _run(DOTA, root, task)


labelme_docs = st.fixed_dictionaries({
    "shapes": st.one_of(values, st.lists(st.fixed_dictionaries({
        "label": st.one_of(st.sampled_from(["a", "b", "__ignore__"]), values),
        "points": st.one_of(st.lists(st.lists(numbers, min_size=2, max_size=3), max_size=5), values),
        "shape_type": st.one_of(st.sampled_from(["polygon", "rectangle", "circle", "point", "line", "mask"]),
                                values),
        "group_id": st.one_of(st.none(), st.integers(0, 2), values)}), max_size=5)),
    "imagePath": st.one_of(st.just("img.png"), values),
    "imageData": st.one_of(st.none(), values),
    "flags": st.one_of(st.dictionaries(st.sampled_from(["cat", "dog", "__ignore__"]), values, max_size=3), values),
    "imageWidth": numbers, "imageHeight": numbers,
})


@FUZZ
@given(doc=labelme_docs,
       task=st.sampled_from(["object_detection", "instance_segmentation", "semantic_segmentation",
                             "classification"]))
def test_labelme_odd_values(image_file, doc, task):
    root = _folder(image_file, {"img.json": json.dumps(doc)})
    _run(LABELME, root, task)
    _run(LABELME, root / "img.json", task)


@FUZZ
@given(data=st.data())
def test_labelme_garbled_text(image_file, data):
    valid = json.dumps({"shapes": [{"label": "a", "points": [[1, 1], [5, 1], [5, 5]], "shape_type": "polygon"}],
                        "imagePath": "img.png", "imageData": None, "flags": {}})
    root = _folder(image_file, {"img.json": _garble(valid, data)})
    _run(LABELME, root, "instance_segmentation")


@FUZZ
@given(blob=st.binary(max_size=200))
def test_binary_junk_everywhere(image_file, blob):
    """Files with the right names but binary contents (a wrong download, a zip renamed...)."""
    root = _folder(image_file, {"ann.json": blob, "a.xml": blob, "labels/img.txt": blob, "labelTxt/img.txt": blob,
                                "data.yaml": blob})
    for reader, task in ((COCO, "object_detection"), (VOC, "object_detection"), (YOLO, "object_detection"),
                         (DOTA, "oriented_object_detection"), (LABELME, "instance_segmentation")):
        _run(reader, root, task)
        assert reader.detect(root) is None or isinstance(reader.detect(root), str)
