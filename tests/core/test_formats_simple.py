"""The simple readers (folder, CSV, masks, MVTec), safe ZIP extraction and auto-detection."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from studio_desktop.core.errors import InvalidInput
from studio_desktop.core.formats import ParsedDataset
from studio_desktop.core.formats.archive import safe_extract
from studio_desktop.core.formats.csv_format import READER as CSV
from studio_desktop.core.formats.folder import READER as FOLDER
from studio_desktop.core.formats.masks import READER as MASKS
from studio_desktop.core.formats.mvtec import READER as MVTEC
from studio_desktop.core.formats.registry import FORMATS, detect_format
from studio_desktop.core.samples import write_sample


def img(path: Path, size=(32, 24), colour=(90, 120, 200)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


# ----------------------------------------------------------------------------- folder

def test_folder_reader_on_classification_sample(tmp_path: Path):
    root = write_sample("classification", tmp_path / "s", images=9)
    assert "3 sub-folders" in FOLDER.detect(root)
    parsed = FOLDER.read(root, "classification")
    assert parsed.class_names == ["circle", "square", "triangle"]
    assert len(parsed.images) == 9
    assert all(parsed.class_names[p.label] == p.path.parent.name for p in parsed.images)


def test_folder_reader_split_folders_and_stray_files(tmp_path: Path):
    img(tmp_path / "train" / "cat" / "a.png")
    img(tmp_path / "val" / "dog" / "b.png")
    (tmp_path / "train" / "cat" / "notes.txt").write_text("x")
    img(tmp_path / "loose.png")
    parsed = FOLDER.read(tmp_path, "classification")
    assert parsed.class_names == ["cat", "dog"]
    assert sorted(p.tags[0] for p in parsed.images) == ["train", "val"]
    reasons = {Path(i.file).name: i.reason for i in parsed.issues}
    assert "not an image" in reasons["notes.txt"] and "not inside a class folder" in reasons["loose.png"]


def test_folder_reader_anomaly_good_vs_defects(tmp_path: Path):
    img(tmp_path / "good" / "1.png")
    img(tmp_path / "crack" / "2.png")
    parsed = FOLDER.read(tmp_path, "anomaly_detection")
    by_name = {p.path.name: p for p in parsed.images}
    assert by_name["1.png"].anomaly.status == "normal"
    assert by_name["2.png"].anomaly.status == "anomalous" and by_name["2.png"].anomaly.defect == "crack"
    assert "crack" in by_name["2.png"].tags and parsed.class_names == []


# ----------------------------------------------------------------------------- CSV

def test_csv_classification_with_header(tmp_path: Path):
    img(tmp_path / "im" / "a.png")
    img(tmp_path / "im" / "b.png")
    (tmp_path / "labels.csv").write_text("file,label\nim/a.png,cat\nim/b.png,dog\nim/zz.png,dog\n")
    parsed = CSV.read(tmp_path, "classification")
    assert parsed.class_names == ["cat", "dog"]
    assert [(p.path.name, parsed.class_names[p.label]) for p in parsed.images] == [("a.png", "cat"), ("b.png", "dog")]
    assert len(parsed.issues) == 1 and "zz.png" in parsed.issues[0].reason and ":4" in parsed.issues[0].file


def test_csv_class_named_only_in_refused_rows_is_not_a_class(tmp_path: Path):
    img(tmp_path / "a.png")
    (tmp_path / "labels.csv").write_text("file,label\na.png,cat\nmissing.png,ghost\n,owl\n")
    parsed = CSV.read(tmp_path, "classification")
    assert parsed.class_names == ["cat"]  # 'ghost' and 'owl' label rows that were refused
    assert [parsed.class_names[p.label] for p in parsed.images] == ["cat"]
    assert sorted(i.reason for i in parsed.issues) == ["image 'missing.png' not found", "no image file name in this row"]


def test_csv_regression_semicolon_no_header_and_bad_number(tmp_path: Path):
    for n in "abc":
        img(tmp_path / f"{n}.jpg")
    (tmp_path / "t.csv").write_text("a.jpg;1.5;10\nb.jpg;2,5;20\nc.jpg;3;30\n")
    parsed = CSV.read(tmp_path, "regression")
    assert parsed.target_names == ["column2", "column3"]
    assert [p.targets for p in parsed.images] == [{"column2": 1.5, "column3": 10.0},
                                                   {"column2": 3.0, "column3": 30.0}]
    assert "'2,5' in column 'column2' is not a number" in parsed.issues[0].reason


def test_csv_regression_named_targets(tmp_path: Path):
    root = write_sample("regression", tmp_path / "s", images=5)
    parsed = CSV.read(root, "regression")
    assert parsed.target_names == ["radius", "brightness"] and len(parsed.images) == 5
    assert all(p.targets["radius"] > 0 and 0 < p.targets["brightness"] <= 1 for p in parsed.images)


def test_csv_houses_fixture_images_named_by_row(real_fixtures: Path):
    root = real_fixtures / "regression_houses"
    assert detect_format(root, "regression")[0] == "csv"
    parsed = CSV.read(root, "regression")
    assert len(parsed.images) == 60 and len(parsed.target_names) == 5
    first = next(p for p in parsed.images if p.path.name == "1_frontal.jpg")
    assert list(first.targets.values()) == [4.0, 4.0, 4053.0, 85255.0, 869500.0]
    assert "row number" in parsed.detected_because
    assert any("have no image" in i.reason for i in parsed.issues)  # the sample holds 60 of 535 houses


def test_csv_without_image_column_is_invalid(tmp_path: Path):
    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InvalidInput, match="no column of image file names"):
        CSV.read(tmp_path, "regression")


CSV_ALPHABET = st.sampled_from(list("ab.,;\t|\n\r\"' 0123456789-eE") + ["a.png", "nan", "inf", "\x00", "é"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.lists(CSV_ALPHABET, max_size=60).map("".join), task=st.sampled_from(["classification", "regression"]))
def test_garbled_csv_gives_issues_or_invalid_input(tmp_path: Path, text: str, task: str):
    if not (tmp_path / "a.png").exists():
        img(tmp_path / "a.png")
    (tmp_path / "t.csv").write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        parsed = CSV.read(tmp_path, task)
    except InvalidInput as exc:
        assert str(exc)
        return
    assert isinstance(parsed, ParsedDataset)
    for p in parsed.images:
        assert p.path.is_file()
        if task == "regression":
            assert p.targets and all(np.isfinite(v) for v in p.targets.values())
        else:
            assert 0 <= p.label < len(parsed.class_names)


# ----------------------------------------------------------------------------- masks

def test_masks_reader_on_sample_with_classes_txt(tmp_path: Path):
    root = write_sample("semantic_segmentation", tmp_path / "s", images=4)
    assert "images <-> masks" in MASKS.detect(root)
    parsed = MASKS.read(root, "semantic_segmentation")
    assert parsed.class_names == ["background", "circle", "square", "triangle"]
    assert len(parsed.images) == 4 and all(p.mask_path.stem == p.path.stem for p in parsed.images)


def test_masks_camvid_fixture(real_fixtures: Path):
    root = real_fixtures / "masks_camvid"
    parsed = MASKS.read(root, "semantic_segmentation")
    assert len(parsed.images) == 36 and not parsed.issues
    assert len(parsed.class_names) == 12  # values 0..11 (11 = void in CamVid)
    assert sum("train" in p.tags for p in parsed.images) == 24
    assert sum("val" in p.tags for p in parsed.images) == 12
    assert all(p.mask_path.parent.name.endswith("annot") for p in parsed.images)


def test_masks_rgb_with_labelmap(tmp_path: Path):
    img(tmp_path / "images" / "x.png", size=(8, 8))
    m = np.zeros((8, 8, 3), np.uint8)
    m[:4] = (128, 0, 0)
    (tmp_path / "masks").mkdir()
    Image.fromarray(m).save(tmp_path / "masks" / "x.png")
    (tmp_path / "labelmap.txt").write_text("# label:color_rgb:parts:actions\nbackground:0,0,0::\nroof:128,0,0::\n")
    parsed = MASKS.read(tmp_path, "semantic_segmentation")
    assert parsed.class_names == ["background", "roof"]
    index = np.asarray(Image.open(parsed.images[0].mask_path))
    assert (index[:4] == 1).all() and (index[4:] == 0).all()


def test_masks_missing_mask_is_reported(tmp_path: Path):
    img(tmp_path / "images" / "x.png")
    img(tmp_path / "images" / "y.png")
    (tmp_path / "masks").mkdir()
    Image.new("L", (32, 24), 1).save(tmp_path / "masks" / "x.png")
    parsed = MASKS.read(tmp_path, "semantic_segmentation")
    assert len(parsed.images) == 1 and "no mask" in parsed.issues[0].reason and "y.png" in parsed.issues[0].file


# ----------------------------------------------------------------------------- MVTec

def test_mvtec_sample(tmp_path: Path):
    root = write_sample("anomaly_detection", tmp_path / "s", images=12)
    parsed = MVTEC.read(root, "anomaly_detection")
    bad = [p for p in parsed.images if p.anomaly.status == "anomalous"]
    assert bad and all(p.anomaly_mask_path is not None and p.anomaly_mask_path.name.endswith("_mask.png")
                       for p in bad)
    assert all("train" in p.tags for p in parsed.images if p.path.parent.parent.name == "train")


def test_mvtec_hazelnut_fixture_nn_png_masks(real_fixtures: Path):
    root = real_fixtures / "mvtec_hazelnut"
    assert detect_format(root, "anomaly_detection")[0] == "mvtec"
    parsed = MVTEC.read(root, "anomaly_detection")
    assert len(parsed.images) == 51 and not parsed.issues
    bad = [p for p in parsed.images if p.anomaly.status == "anomalous"]
    assert len(bad) == 17 and all(p.anomaly.defect == "colour" for p in bad)
    assert all(p.anomaly_mask_path.name == f"{p.path.stem}.png" for p in bad)


# ----------------------------------------------------------------------------- ZIP

def _zip(path: Path, members: dict[str, bytes], symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return path


def test_zip_extracts_single_top_folder(tmp_path: Path):
    z = _zip(tmp_path / "d.zip", {"data/cat/a.png": b"x", "__MACOSX/data/._a.png": b"junk"})
    root = safe_extract(z, tmp_path / "out")
    assert root.name == "data" and (root / "cat" / "a.png").read_bytes() == b"x"
    assert not (tmp_path / "out" / "__MACOSX").exists()


@pytest.mark.parametrize("name,why", [("../evil.png", r"outside the archive"), ("/abs/evil.png", "absolute"),
                                      ("C:/evil.png", "absolute")])
def test_zip_slip_refused(tmp_path: Path, name: str, why: str):
    z = _zip(tmp_path / "d.zip", {"ok.png": b"x", name: b"evil"})
    with pytest.raises(InvalidInput, match=why):
        safe_extract(z, tmp_path / "out" / "inner")
    assert not (tmp_path / "out" / "evil.png").exists() and not (tmp_path / "evil.png").exists()


def test_zip_symlink_refused(tmp_path: Path):
    z = _zip(tmp_path / "d.zip", {"ok.png": b"x"}, symlink="link.png")
    with pytest.raises(InvalidInput, match="symbolic link"):
        safe_extract(z, tmp_path / "out")


def test_zip_bomb_refused(tmp_path: Path):
    z = _zip(tmp_path / "d.zip", {"big.bin": b"\0" * (8 * 1024 * 1024)})
    with pytest.raises(InvalidInput, match="zip bomb"):
        safe_extract(z, tmp_path / "out")
    z2 = _zip(tmp_path / "e.zip", {"a.bin": b"abc" * 1000})
    with pytest.raises(InvalidInput, match="more than 100 bytes"):
        safe_extract(z2, tmp_path / "out2", max_total=100)


def test_not_a_zip(tmp_path: Path):
    (tmp_path / "x.zip").write_bytes(b"nope")
    with pytest.raises(InvalidInput, match="not a readable ZIP"):
        safe_extract(tmp_path / "x.zip", tmp_path / "out")


# ----------------------------------------------------------------------------- detection

def test_detection_explains_and_rejects_unknown(tmp_path: Path):
    root = write_sample("classification", tmp_path / "s", images=3)
    fmt, why = detect_format(root, "classification")
    assert fmt == "folder" and "class" in why
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInput, match="no known format"):
        detect_format(tmp_path / "empty", "classification")


def test_detection_ambiguous_lists_candidates(real_fixtures: Path):
    if not {"voc", "labelme"} <= set(FORMATS):
        pytest.skip("the VOC and labelme readers are not in this build")
    root = real_fixtures / "labelme" / "bbox_detection"  # holds labelme JSONs and their VOC conversion
    with pytest.raises(InvalidInput, match="choose one with --format") as exc:
        detect_format(root, "object_detection")
    assert "voc:" in str(exc.value) and "labelme:" in str(exc.value)


def test_csv_regression_units_in_headers_are_kept_apart(tmp_path: Path):
    from PIL import Image

    from studio_desktop.core.formats.csv_format import CSVReader, split_unit

    assert split_unit("price (USD)") == ("price", "USD") and split_unit("radius [px]") == ("radius", "px")
    assert split_unit("rooms") == ("rooms", "") and split_unit("f(x)") == ("f", "x")
    for name in ("a.png", "b.png"):
        Image.new("RGB", (8, 8)).save(tmp_path / name)
    (tmp_path / "t.csv").write_text("image,price (USD),rooms\na.png,100,3\nb.png,x,2\n", encoding="utf-8")
    parsed = CSVReader().read(tmp_path, "regression")
    assert parsed.target_names == ["price", "rooms"] and parsed.target_units == {"price": "USD"}
    assert [i.targets for i in parsed.images] == [{"price": 100.0, "rooms": 3.0}]
    assert "'x' in column 'price' is not a number" in parsed.issues[0].reason
