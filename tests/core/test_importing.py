"""The import transaction: staging, dedupe, classes, annotation checks, cancel/crash safety."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio_desktop.core import importing
from studio_desktop.core.datasets import DatasetStore
from studio_desktop.core.errors import InvalidInput
from studio_desktop.core.formats import ParsedDataset, ParsedImage
from studio_desktop.core.formats.registry import FORMATS
from studio_desktop.core.images import ORIENTATION_TAG, orient_box
from studio_desktop.core.importing import ImportCancelled, delete_images, import_dataset
from studio_desktop.core.projects import ProjectService
from studio_desktop.core.samples import write_sample
from studio_desktop.core.schemas import Box, Instance, RotatedBox


def noise_png(path: Path, seed: int, size=(40, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(arr).save(path)
    return path


def snapshot(store: DatasetStore) -> dict[str, bytes | None]:
    """Every file under dataset/ with its content (None for folders)."""
    out: dict[str, bytes | None] = {}
    for p in sorted(store.root.rglob("*")):
        out[str(p.relative_to(store.root))] = p.read_bytes() if p.is_file() else None
    return out


class FakeReader:
    """A reader returning whatever the test prepared (to exercise the importer's checks)."""

    name = "fake"
    tasks = ("classification", "object_detection", "instance_segmentation", "oriented_object_detection",
             "semantic_segmentation")

    def __init__(self, parsed: ParsedDataset):
        self.parsed = parsed

    def detect(self, root: Path) -> str | None:
        return None

    def read(self, root: Path, task: str) -> ParsedDataset:
        return self.parsed


def _import_exif_photo_with_a_box(workspace, projects, tmp_path, monkeypatch, orientation: int,
                                  red_object: bool = False) -> DatasetStore:
    """A 60x40 JPEG stored with EXIF ``orientation``, declaring its raw size, with one box at
    (10, 5)-(20, 15) (red there when ``red_object``), imported into a detection project."""
    raw = Image.new("RGB", (60, 40), (0, 0, 0))
    if red_object:
        raw.paste((255, 0, 0), (10, 5, 20, 15))  # the object, in the raw (stored) frame
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    path = tmp_path / "src" / "photo.jpg"
    path.parent.mkdir()
    raw.save(path, "JPEG", exif=exif.tobytes(), quality=95)
    parsed = ParsedDataset("fake", class_names=["thing"], images=[
        ParsedImage(path=path, boxes=[Box(cls=0, x1=10, y1=5, x2=20, y2=15)], declared_size=(60, 40))])
    monkeypatch.setitem(FORMATS, "fake", FakeReader(parsed))
    p = projects.create("P", "object_detection")
    import_dataset(workspace, p.id, tmp_path / "src", fmt="fake")
    return DatasetStore(workspace, p.id)


@pytest.fixture
def projects(workspace):
    return ProjectService(workspace)


def test_import_classification_sample(workspace, projects, tmp_path):
    src = write_sample("classification", tmp_path / "s", images=6)
    p = projects.create("P", "classification")
    report = import_dataset(workspace, p.id, src)
    assert (report.imported, report.duplicates, report.format) == (6, 0, "folder")
    assert report.classes_added == ["circle", "square", "triangle"]
    project = projects.get(p.id)
    assert [c.name for c in project.classes] == ["circle", "square", "triangle"]
    store = DatasetStore(workspace, p.id)
    ds = store.load()
    assert len(ds.images) == 6 and len(ds.imports) == 1 and ds.imports[0].imported == 6
    for r in ds.images:
        assert store.path_of(r.file).is_file() and store.thumbnail_path(r.id).is_file()
        assert r.id == r.sha256[:16] and len(r.id) == 16
        assert project.class_by_id(r.label).name == Path(r.source).parent.name
        with Image.open(store.path_of(r.file)) as im:
            assert (im.width, im.height) == (r.width, r.height)
    assert not list(store.root.glob(".staging-*"))


def test_reimport_and_duplicates_within_import(workspace, projects, tmp_path):
    src = write_sample("classification", tmp_path / "s", images=3)
    shutil.copy(next((src / "circle").iterdir()), src / "square" / "copy.png")
    p = projects.create("P", "classification")
    first = import_dataset(workspace, p.id, src)
    assert (first.imported, first.duplicates) == (3, 1)
    again = import_dataset(workspace, p.id, src)
    assert (again.imported, again.duplicates, again.classes_added) == (0, 4, [])
    assert len(DatasetStore(workspace, p.id).load().images) == 3


def test_bad_images_are_reported_and_others_imported(workspace, projects, tmp_path):
    src = tmp_path / "src"
    noise_png(src / "a" / "ok.png", 1)
    noise_png(src / "b" / "ok2.png", 2)
    (src / "a" / "corrupt.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    buf = io.BytesIO()
    Image.effect_noise((64, 64), 40).convert("RGB").save(buf, "JPEG")
    (src / "b" / "truncated.jpg").write_bytes(buf.getvalue()[:600])
    gif = io.BytesIO()
    Image.new("P", (8, 8)).save(gif, "GIF")
    (src / "b" / "really_gif.png").write_bytes(gif.getvalue())
    p = projects.create("P", "classification")
    report = import_dataset(workspace, p.id, src)
    assert report.imported == 2 and report.skipped == 3
    reasons = {Path(i.file).name: i.reason for i in report.issues}
    assert "corrupt" in reasons["corrupt.jpg"] or "not an image" in reasons["corrupt.jpg"]
    assert "truncated" in reasons["truncated.jpg"]
    assert "GIF" in reasons["really_gif.png"]


def test_colour_modes_import_and_thumbnail_as_rgb(workspace, projects, tmp_path):
    src = tmp_path / "src"
    (src / "x").mkdir(parents=True)
    (src / "y").mkdir(parents=True)
    Image.new("CMYK", (20, 10), (0, 255, 255, 0)).save(src / "x" / "cmyk.jpg")
    Image.fromarray(np.arange(200, dtype=np.uint16).reshape(10, 20) * 300).save(src / "x" / "deep.tif")
    Image.new("RGBA", (20, 10), (0, 0, 255, 128)).save(src / "y" / "rgba.png")
    Image.new("L", (20, 10), 7).save(src / "y" / "grey.bmp")
    p = projects.create("P", "classification")
    report = import_dataset(workspace, p.id, src)
    assert report.imported == 4, report.issues
    store = DatasetStore(workspace, p.id)
    for r in store.load().images:
        with Image.open(store.thumbnail_path(r.id)) as t:
            assert t.mode == "RGB" and t.size == (20, 10)
    suffixes = sorted(Path(r.file).suffix for r in store.load().images)
    assert suffixes == [".bmp", ".jpg", ".png", ".tif"]  # originals kept as imported


def test_exif_rotated_jpeg_moves_its_box(workspace, projects, tmp_path, monkeypatch):
    store = _import_exif_photo_with_a_box(workspace, projects, tmp_path, monkeypatch, 6, red_object=True)
    rec = store.load().images[0]
    assert (rec.width, rec.height) == (40, 60)
    b = rec.boxes[0]
    assert (b.x1, b.y1, b.x2, b.y2) == orient_box(10, 5, 20, 15, (60, 40), 6) == (25, 10, 35, 20)
    with Image.open(store.path_of(rec.file)) as im:
        assert im.size == (40, 60)
        r, g, _ = im.getpixel((30, 15))  # centre of the moved box is the red object
        assert r > 200 and g < 60
        assert im.getpixel((5, 50))[0] < 60


@pytest.mark.parametrize("orientation", [2, 3, 4])
def test_flipped_exif_keeps_boxes_drawn_on_the_upright_image(workspace, projects, tmp_path, monkeypatch,
                                                            orientation):
    """Flips and 180° keep the size, so a declared size cannot tell the raw frame from the upright
    one; annotation tools (labelme, CVAT) show the upright image, so boxes are taken as drawn."""
    store = _import_exif_photo_with_a_box(workspace, projects, tmp_path, monkeypatch, orientation)
    b = store.load().images[0].boxes[0]
    assert (b.x1, b.y1, b.x2, b.y2) == (10, 5, 20, 15)


def test_annotation_checks(workspace, projects, tmp_path, monkeypatch):
    a = noise_png(tmp_path / "src" / "a.png", 1, size=(40, 30))
    parsed = ParsedDataset("fake", class_names=["x"], images=[ParsedImage(path=a, boxes=[
        Box(cls=0, x1=-5, y1=-5, x2=10, y2=10),     # clipped
        Box(cls=0, x1=50, y1=5, x2=60, y2=10),      # outside: dropped
        Box(cls=3, x1=1, y1=1, x2=5, y2=5),         # unknown class: dropped
        Box(cls=0, x1=2, y1=2, x2=8, y2=8)])])      # fine
    monkeypatch.setitem(FORMATS, "fake", FakeReader(parsed))
    p = projects.create("P", "object_detection")
    report = import_dataset(workspace, p.id, tmp_path / "src", fmt="fake")
    rec = DatasetStore(workspace, p.id).load().images[0]
    assert [(b.x1, b.y1, b.x2, b.y2) for b in rec.boxes] == [(0, 0, 10, 10), (2, 2, 8, 8)]
    actions = sorted(i.action for i in report.issues)
    assert actions == ["clipped", "dropped", "dropped"]
    assert any("unknown class id 3" in i.reason for i in report.issues)
    assert report.imported == 1 and report.skipped == 0


def test_boxes_into_classification_and_bad_polygons(workspace, projects, tmp_path, monkeypatch):
    a = noise_png(tmp_path / "src" / "a.png", 1)
    parsed = ParsedDataset("fake", class_names=["x"], images=[ParsedImage(
        path=a, label=0, boxes=[Box(cls=0, x1=1, y1=1, x2=5, y2=5)])])
    monkeypatch.setitem(FORMATS, "fake", FakeReader(parsed))
    p = projects.create("C", "classification")
    report = import_dataset(workspace, p.id, tmp_path / "src", fmt="fake")
    assert any("boxes" in i.reason and "classification" in i.reason and i.action == "dropped"
               for i in report.issues)
    assert DatasetStore(workspace, p.id).load().images[0].boxes == []

    inst = [Instance(cls=0, polygons=[[1, 1, 5, 1, 9, 1]]),                    # no area
            Instance(cls=0, polygons=[[1, 1, 10, 1, 10, 10, 1, 10]])]
    parsed2 = ParsedDataset("fake", class_names=["x"], images=[ParsedImage(path=a, instances=inst)])
    monkeypatch.setitem(FORMATS, "fake", FakeReader(parsed2))
    p2 = projects.create("I", "instance_segmentation")
    report2 = import_dataset(workspace, p2.id, tmp_path / "src", fmt="fake")
    rec = DatasetStore(workspace, p2.id).load().images[0]
    assert len(rec.instances) == 1 and rec.instances[0].box == [1, 1, 10, 10]
    assert any("no area" in i.reason and i.action == "dropped" for i in report2.issues)


def test_degenerate_rotated_box_dropped(workspace, projects, tmp_path, monkeypatch):
    a = noise_png(tmp_path / "src" / "a.png", 1)
    parsed = ParsedDataset("fake", class_names=["s"], images=[ParsedImage(path=a, rboxes=[
        RotatedBox(cls=0, cx=10, cy=10, w=0, h=5, angle=0),
        RotatedBox(cls=0, cx=10, cy=10, w=6, h=5, angle=30)])])
    monkeypatch.setitem(FORMATS, "fake", FakeReader(parsed))
    p = projects.create("O", "oriented_object_detection")
    report = import_dataset(workspace, p.id, tmp_path / "src", fmt="fake")
    assert len(DatasetStore(workspace, p.id).load().images[0].rboxes) == 1
    assert [i.action for i in report.issues] == ["dropped"]


def test_paths_outside_the_source_are_refused(workspace, projects, tmp_path, monkeypatch):
    outside = noise_png(tmp_path / "elsewhere" / "secret.png", 3)
    inside = noise_png(tmp_path / "src" / "a.png", 4)
    parsed = ParsedDataset("fake", class_names=["x"], images=[
        ParsedImage(path=tmp_path / "src" / ".." / "elsewhere" / "secret.png", label=0),
        ParsedImage(path=inside, label=0)])
    monkeypatch.setitem(FORMATS, "fake", FakeReader(parsed))
    p = projects.create("P", "classification")
    report = import_dataset(workspace, p.id, tmp_path / "src", fmt="fake")
    assert report.imported == 1
    assert any("outside the imported folder" in i.reason for i in report.issues)
    assert outside.exists()


def test_cancel_midway_leaves_dataset_unchanged(workspace, projects, tmp_path):
    p = projects.create("P", "classification")
    import_dataset(workspace, p.id, write_sample("classification", tmp_path / "a", images=3, seed=1))
    store = DatasetStore(workspace, p.id)
    before = snapshot(store)
    project_before = projects.project_file(p.id).read_bytes()
    seen: list[int] = []

    def progress(done, total, message):
        seen.append(done)

    with pytest.raises(ImportCancelled):
        import_dataset(workspace, p.id, write_sample("classification", tmp_path / "b", images=30, seed=2),
                       progress=progress, cancel=lambda: len(seen) >= 3, workers=2)
    assert snapshot(store) == before
    assert projects.project_file(p.id).read_bytes() == project_before


def test_crash_while_staging_or_committing_leaves_dataset_unchanged(workspace, projects, tmp_path, monkeypatch):
    p = projects.create("P", "semantic_segmentation")
    import_dataset(workspace, p.id, write_sample("semantic_segmentation", tmp_path / "a", images=2, seed=1))
    store = DatasetStore(workspace, p.id)
    before = snapshot(store)
    project_before = projects.project_file(p.id).read_bytes()
    src_b = write_sample("semantic_segmentation", tmp_path / "b", images=4, seed=2)
    (src_b / "classes.txt").write_text("background\ncircle\nsquare\ntriangle\nextra\n")  # adds a class

    calls = {"n": 0}
    real_call = importing._Stager.__call__

    def crashing(self, item):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("simulated crash while staging")
        return real_call(self, item)

    monkeypatch.setattr(importing._Stager, "__call__", crashing)
    with pytest.raises(RuntimeError, match="simulated"):
        import_dataset(workspace, p.id, src_b, workers=1)
    assert snapshot(store) == before
    monkeypatch.setattr(importing._Stager, "__call__", real_call)

    def failing_save(self, dataset):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(DatasetStore, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        import_dataset(workspace, p.id, src_b)
    assert snapshot(store) == before  # moved files were moved back
    assert projects.project_file(p.id).read_bytes() == project_before


def test_leftover_staging_is_removed_by_next_import(workspace, projects, tmp_path):
    p = projects.create("P", "classification")
    store = DatasetStore(workspace, p.id)
    (store.root / ".staging-dead" / "images").mkdir(parents=True)
    import_dataset(workspace, p.id, write_sample("classification", tmp_path / "s", images=3))
    assert not (store.root / ".staging-dead").exists()


def test_zip_import_and_delete(workspace, projects, tmp_path):
    src = write_sample("classification", tmp_path / "s", images=4)
    z = tmp_path / "data.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in src.rglob("*.png"):
            zf.write(f, "data/" + f.relative_to(src).as_posix())
    p = projects.create("P", "classification")
    report = import_dataset(workspace, p.id, z)
    assert report.imported == 4
    store = DatasetStore(workspace, p.id)
    ds = store.load()
    assert all(r.source.startswith(f"{z}!") for r in ds.images)
    victim = ds.images[0]
    assert delete_images(workspace, p.id, [victim.id]) == 1
    assert len(store.load().images) == 3
    assert not store.path_of(victim.file).exists() and not store.thumbnail_path(victim.id).exists()
    with pytest.raises(InvalidInput, match="no image with id"):
        delete_images(workspace, p.id, ["nope"])


def test_masks_and_anomaly_masks_are_staged(workspace, projects, tmp_path, real_fixtures):
    p = projects.create("A", "anomaly_detection")
    report = import_dataset(workspace, p.id, real_fixtures / "mvtec_hazelnut")
    assert report.imported == 51 and report.format == "mvtec"
    store = DatasetStore(workspace, p.id)
    bad = [r for r in store.load().images if r.anomaly.status == "anomalous"]
    assert len(bad) == 17
    for r in bad:
        mask = np.asarray(Image.open(store.path_of(r.anomaly.mask)))
        assert mask.shape == (r.height, r.width) and set(np.unique(mask)) <= {0, 255} and mask.max() == 255
    s = projects.create("S", "semantic_segmentation")
    report = import_dataset(workspace, s.id, real_fixtures / "masks_camvid")
    assert report.imported == 36 and len(projects.get(s.id).classes) == 12
    recs = DatasetStore(workspace, s.id).load().images
    assert all(r.mask and (DatasetStore(workspace, s.id).path_of(r.mask)).is_file() for r in recs)


def test_format_that_cannot_feed_the_task(workspace, projects, tmp_path):
    p = projects.create("P", "regression")
    with pytest.raises(InvalidInput, match="cannot feed a regression project"):
        import_dataset(workspace, p.id, tmp_path, fmt="folder")
    with pytest.raises(InvalidInput, match="does not exist"):
        import_dataset(workspace, p.id, tmp_path / "missing")
    assert not list(DatasetStore(workspace, p.id).root.glob(".staging-*"))


def test_regression_targets_merge_onto_project(workspace, projects, tmp_path, real_fixtures):
    p = projects.create("H", "regression")
    report = import_dataset(workspace, p.id, real_fixtures / "regression_houses")
    assert report.imported == 60 and report.targets_added == [f"column{i}" for i in range(1, 6)]
    assert projects.get(p.id).target_names == report.targets_added


def test_exif_rotated_image_moves_rotated_boxes_and_masks(workspace, projects, tmp_path, monkeypatch):
    from studio_desktop.core.geometry import rbox_corners
    from studio_desktop.core.images import orient_point

    raw = Image.new("RGB", (60, 40), (0, 0, 0))
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = 8
    path = tmp_path / "src" / "rot.jpg"
    path.parent.mkdir()
    raw.save(path, "JPEG", exif=exif.tobytes())
    mask = np.zeros((40, 60), np.uint8)
    mask[5:10, 40:50] = 2  # class 2 in the raw frame
    Image.fromarray(mask).save(tmp_path / "src" / "mask.png")
    corners = rbox_corners(30, 12, 16, 6, 20)
    parsed = ParsedDataset("fake", class_names=["a", "b", "c"], images=[ParsedImage(
        path=path, declared_size=(60, 40), mask_path=tmp_path / "src" / "mask.png",
        rboxes=[RotatedBox(cls=1, cx=30, cy=12, w=16, h=6, angle=20, corners=corners)])])
    monkeypatch.setitem(FORMATS, "fake", FakeReader(parsed))
    o = projects.create("O", "oriented_object_detection")
    import_dataset(workspace, o.id, tmp_path / "src", fmt="fake")
    r = DatasetStore(workspace, o.id).load().images[0].rboxes[0]
    cx, cy = orient_point(30, 12, (60, 40), 8)
    assert (r.cx, r.cy) == pytest.approx((cx, cy), abs=1e-6)
    assert sorted([r.w, r.h]) == pytest.approx([6, 16], abs=1e-6)

    s = projects.create("S", "semantic_segmentation")
    import_dataset(workspace, s.id, tmp_path / "src", fmt="fake")
    store = DatasetStore(workspace, s.id)
    rec = store.load().images[0]
    stored = np.asarray(Image.open(store.path_of(rec.mask)))
    assert stored.shape == (60, 40) == (rec.height, rec.width)
    ys, xs = np.nonzero(stored == 2)
    x1, y1 = orient_point(40, 5, (60, 40), 8)
    x2, y2 = orient_point(50, 10, (60, 40), 8)
    assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))


def test_mask_values_are_remapped_onto_the_project_classes(workspace, projects, tmp_path):
    p = projects.create("S", "semantic_segmentation", classes=["background", "circle", "square"])
    src = tmp_path / "src"
    noise_png(src / "images" / "a.png", 1, size=(8, 8))
    (src / "masks").mkdir()
    mask = np.zeros((8, 8), np.uint8)
    mask[:2] = 1  # "square" in this source
    mask[2:4] = 2  # "hole": new to the project
    mask[4:6] = 255  # ignore
    Image.fromarray(mask).save(src / "masks" / "a.png")
    (src / "classes.txt").write_text("background\nsquare\nhole\n")
    report = import_dataset(workspace, p.id, src)
    assert report.classes_added == ["hole"]
    ids = {c.name: c.id for c in projects.get(p.id).classes}
    store = DatasetStore(workspace, p.id)
    stored = np.asarray(Image.open(store.path_of(store.load().images[0].mask)))
    assert (stored[:2] == ids["square"]).all() and (stored[2:4] == ids["hole"]).all()
    assert (stored[4:6] == 255).all() and (stored[6:] == ids["background"]).all()


def test_csv_rows_pointing_outside_are_refused(workspace, projects, tmp_path):
    noise_png(tmp_path / "outside.png", 7)
    noise_png(tmp_path / "src" / "in.png", 8)
    (tmp_path / "src" / "labels.csv").write_text(f"image,label\nin.png,a\n../outside.png,b\n{tmp_path / 'outside.png'},b\n")
    p = projects.create("P", "classification")
    report = import_dataset(workspace, p.id, tmp_path / "src")
    assert report.imported == 1 and report.skipped == 2
    assert all("outside the imported folder" in i.reason for i in report.issues)


def test_unexpected_decoder_error_is_one_issue(workspace, projects, tmp_path, monkeypatch):
    noise_png(tmp_path / "src" / "a" / "x.png", 1)
    noise_png(tmp_path / "src" / "b" / "y.png", 2)

    real = importing.thumbnail_from

    def flaky(data, out, *args, **kwargs):
        if not flaky.hit:
            flaky.hit = True
            raise IndexError("decoder table out of range")
        return real(data, out, *args, **kwargs)

    flaky.hit = False
    monkeypatch.setattr(importing, "thumbnail_from", flaky)
    p = projects.create("P", "classification")
    report = import_dataset(workspace, p.id, tmp_path / "src")
    assert flaky.hit and report.imported == 1 and report.skipped == 1
    assert "IndexError" in report.issues[0].reason


def test_reader_bug_reaches_the_user_as_one_line(workspace, projects, tmp_path, monkeypatch):
    class Broken(FakeReader):
        def read(self, root, task):
            raise KeyError("images")

    monkeypatch.setitem(FORMATS, "fake", Broken(ParsedDataset("fake")))
    p = projects.create("P", "classification")
    (tmp_path / "src").mkdir()
    with pytest.raises(InvalidInput, match=r"could not be read as fake \(KeyError"):
        import_dataset(workspace, p.id, tmp_path / "src", fmt="fake")


def test_symlinked_image_pointing_outside_is_refused(workspace, projects, tmp_path):
    secret = noise_png(tmp_path / "private" / "secret.png", 5)
    noise_png(tmp_path / "src" / "a" / "ok.png", 6)
    noise_png(tmp_path / "src" / "b" / "ok2.png", 9)
    try:
        (tmp_path / "src" / "b" / "link.png").symlink_to(secret)
    except OSError:
        pytest.skip("this system cannot create symbolic links")
    p = projects.create("P", "classification")
    report = import_dataset(workspace, p.id, tmp_path / "src")
    assert report.imported == 2
    assert len(report.issues) == 1 and report.issues[0].file.endswith("link.png")
    assert "outside the imported folder" in report.issues[0].reason


def test_rounding_overshoot_is_clipped_quietly_real_overshoot_reported(workspace, projects, tmp_path,
                                                                      monkeypatch):
    path = tmp_path / "src" / "a.png"
    path.parent.mkdir()
    Image.new("RGB", (60, 40)).save(path)
    parsed = ParsedDataset("fake", class_names=["thing"], images=[ParsedImage(path=path, boxes=[
        Box(cls=0, x1=-0.0001, y1=5, x2=60.0004, y2=15),  # float noise from a converter
        Box(cls=0, x1=50, y1=30, x2=70, y2=45)])])  # really extends outside
    monkeypatch.setitem(FORMATS, "fake", FakeReader(parsed))
    p = projects.create("P", "object_detection")
    report = import_dataset(workspace, p.id, tmp_path / "src", fmt="fake")
    boxes = DatasetStore(workspace, p.id).load().images[0].boxes
    assert [(b.x1, b.x2) for b in boxes] == [(0, 60), (50, 60)]
    clipped = [i for i in report.issues if i.action == "clipped"]
    assert len(clipped) == 1 and "70" in clipped[0].reason
