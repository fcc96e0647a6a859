"""The Dataset page: its states, the grid's filters and sorting, the detail view, delete,
the data-health panel and an end-to-end import through the dialog and the CLI subprocess."""

from __future__ import annotations

import pytest
from _dataset_factory import detection_project
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QGraphicsRectItem, QMessageBox

from studio_desktop.core.datasets import DatasetStore
from studio_desktop.core.projects import ProjectService
from studio_desktop.gui.context import AppContext
from studio_desktop.gui.models.images import ANNOTATED_NO, ANNOTATED_YES, ImageFilter, visible_order
from studio_desktop.gui.pages.dataset import DatasetPage
from studio_desktop.gui.pages.dataset.controller import ImportReport, counts_text, parse_event
from studio_desktop.gui.pages.dataset.health import health_charts
from studio_desktop.gui.pages.dataset.import_dialog import ImportReportDialog
from studio_desktop.gui.pages.dataset.page import BROWSE, EMPTY, NO_PROJECT

pytestmark = pytest.mark.gui


@pytest.fixture
def ctx(workspace):
    return AppContext(workspace)


def _page(qtbot, ctx) -> DatasetPage:
    page = DatasetPage(ctx)
    qtbot.addWidget(page)
    page.resize(1100, 700)
    page.show()
    return page


def _open(qtbot, page, ctx, project):
    with qtbot.waitSignal(page.loaded, timeout=5000):
        ctx.open_project(project)


def test_no_project_offers_the_project_page(qtbot, ctx):
    page = _page(qtbot, ctx)
    assert page.stack.currentIndex() == NO_PROJECT
    assert "project first" in page.no_project.text.text().lower()
    with qtbot.waitSignal(ctx.showPageRequested, timeout=1000) as sig:
        qtbot.mouseClick(page.no_project.button, Qt.MouseButton.LeftButton)
    assert sig.args == ["project"]


def test_empty_project_asks_for_an_import_naming_its_formats(qtbot, ctx, workspace):
    project = ProjectService(workspace).create("Empty", "object_detection", ["cat"])
    page = _page(qtbot, ctx)
    _open(qtbot, page, ctx, project)
    assert page.stack.currentIndex() == EMPTY
    text = page.empty.text.text()
    assert "COCO JSON" in text and "YOLO" in text and "drop" in text.lower()
    assert "CSV" not in text  # classification-only format is not offered for detection


def test_filters_and_search_change_the_visible_count(qtbot, ctx, workspace):
    project, _store = detection_project(workspace, n=6)
    page = _page(qtbot, ctx)
    _open(qtbot, page, ctx, project)
    assert page.stack.currentIndex() == BROWSE
    assert page.model.rowCount() == 6 and page.filters.count.text() == "6 images"
    page.filters.cls.setCurrentIndex(page.filters.cls.findData(1))  # "dog": images 0 and 3
    assert page.model.rowCount() == 2 and page.filters.count.text() == "2 of 6 images"
    page.filters.cls.setCurrentIndex(0)
    page.filters.annotated.setCurrentIndex(page.filters.annotated.findData(ANNOTATED_NO))
    assert page.model.rowCount() == 2  # image 1 (odd, not a multiple of 3) and the last one
    page.filters.annotated.setCurrentIndex(0)
    page.filters.tag.setCurrentIndex(page.filters.tag.findData("val"))
    assert page.model.rowCount() == 3
    page.filters.tag.setCurrentIndex(0)
    qtbot.keyClicks(page.filters.search, "img_002")
    qtbot.waitUntil(lambda: page.model.rowCount() == 1, timeout=2000)
    assert page.model.row(0).name == "img_002.png"


def test_sorting_by_name_date_and_size(qtbot, ctx, workspace):
    project, _store = detection_project(workspace, n=5)
    page = _page(qtbot, ctx)
    _open(qtbot, page, ctx, project)
    names = lambda: [page.model.row(i).name for i in range(page.model.rowCount())]  # noqa: E731
    # default: date added (import order); the factory names them backwards
    assert names() == [f"img_{i:03d}.png" for i in range(5, 0, -1)]
    page.filters.sort.setCurrentIndex(page.filters.sort.findData("name"))
    assert names() == [f"img_{i:03d}.png" for i in range(1, 6)]
    page.filters.descending.setChecked(True)
    assert names()[0] == "img_005.png"
    page.filters.sort.setCurrentIndex(page.filters.sort.findData("added"))  # newest first
    assert names()[0] == "img_001.png"  # added last
    page.filters.descending.setChecked(False)
    page.filters.sort.setCurrentIndex(page.filters.sort.findData("size"))
    widths = [page.model.row(i).width for i in range(5)]
    assert widths == sorted(widths) and widths[0] < widths[-1]


def test_visible_order_is_pure_and_combines_filters(workspace):
    from studio_desktop.gui.models.images import load_image_rows

    _project, store = detection_project(workspace, n=6)
    loaded = load_image_rows(store.json_path)
    rows = loaded.rows
    assert loaded.tags == ["train", "val"]
    both = visible_order(rows, ImageFilter(cls=0, annotated=ANNOTATED_YES, tag="train"))
    assert [rows[i].id for i in both] == ["000000000000", "000000000002"]
    by_name = visible_order(rows, ImageFilter(cls=0, annotated=ANNOTATED_YES, tag="train", sort="name"))
    assert [rows[i].id for i in by_name] == ["000000000002", "000000000000"]  # img_004 < img_006


def test_selecting_an_image_shows_its_boxes_and_arrows_step(qtbot, ctx, workspace):
    project, _store = detection_project(workspace, n=6)
    page = _page(qtbot, ctx)
    _open(qtbot, page, ctx, project)
    # image id 0 (added first, the first row) has a cat and a dog box; id 1 has none
    rects = lambda: [i for i in page.detail.canvas.scene().items() if isinstance(i, QGraphicsRectItem)]  # noqa: E731
    shown = lambda rid: page.detail.record.id == rid and page.detail.canvas.image_item is not None  # noqa: E731
    page.grid.setCurrentIndex(page.model.index(0))
    qtbot.waitUntil(lambda: shown("000000000000") and len(rects()) == 2, timeout=5000)
    assert "img_006.png" in page.detail.title.text()
    with qtbot.waitSignal(page.detail.shown, timeout=5000):
        qtbot.mouseClick(page.detail.next_button, Qt.MouseButton.LeftButton)
    assert page.grid.currentIndex().row() == 1
    assert shown("000000000001") and rects() == []
    page.detail.canvas.setFocus()
    with qtbot.waitSignal(page.detail.shown, timeout=5000):
        qtbot.keyClick(page.detail.canvas, Qt.Key.Key_Left)
    assert page.grid.currentIndex().row() == 0 and len(rects()) == 2


def test_thumbnails_of_visible_cells_get_loaded(qtbot, ctx, workspace):
    project, _store = detection_project(workspace, n=4)
    page = _page(qtbot, ctx)
    _open(qtbot, page, ctx, project)
    qtbot.waitUntil(lambda: all(page.loader.is_cached(page.model.row(i).id) for i in range(4)), timeout=5000)


def test_delete_selected_asks_then_removes(qtbot, ctx, workspace, monkeypatch):
    project, store = detection_project(workspace, n=4)
    page = _page(qtbot, ctx)
    _open(qtbot, page, ctx, project)
    page.grid.selectionModel().clearSelection()
    page.grid.setCurrentIndex(page.model.index(0))
    gone = page.model.row(0).id
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.No)
    page.delete_selected()
    assert page.model.total == 4
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(page.loaded, timeout=5000):
        qtbot.keyClick(page.grid, Qt.Key.Key_Delete)
    assert page.model.total == 3
    assert gone not in {r.id for r in store.load().images}


def test_data_health_charts_come_from_core_stats(qtbot, ctx, workspace):
    project, _store = detection_project(workspace, n=6)
    page = _page(qtbot, ctx)
    _open(qtbot, page, ctx, project)
    page.tabs.setCurrentWidget(page.health)
    qtbot.waitUntil(lambda: page.health.stats is not None, timeout=5000)
    assert {"images_per_class", "objects_per_class", "objects_per_image", "image_size", "box_size"} <= set(
        page.health.charts)
    assert "2</b> without annotations" in page.health.summary.text()
    assert "2 images have no annotations" in page.health.warnings.text()
    keys = [k for k, _ in health_charts({"images": 2, "anomaly": {"normal": 1, "anomalous": 1}}, {})]
    assert keys == ["anomaly"]


def test_data_health_of_semantic_masks_counts_classes_from_the_mask_pixels(qtbot, ctx, workspace):
    """The panel passes the dataset folder to core.stats, so mask PNGs are read (per-class figures)."""
    import numpy as np
    from _dataset_factory import write_image, write_mask

    from studio_desktop.core.schemas import Dataset, ImageRecord

    project = ProjectService(workspace).create("Roads", "semantic_segmentation", ["background", "road", "car"])
    store = DatasetStore(workspace, project.id)
    records = []
    for i, value in enumerate((1, 2, 1)):
        rid = f"{i:012x}"
        mask = np.zeros((32, 48), np.uint8)
        mask[4:12, 4:20] = value  # 128 pixels of 'road' or 'car'
        records.append(ImageRecord(id=rid, file=write_image(store, rid, (90, 90, 90)), width=48, height=32,
                                   sha256=rid * 5, source=f"/data/{rid}.png", mask=write_mask(store, rid, mask)))
    store.save(Dataset(images=records))
    page = _page(qtbot, ctx)
    _open(qtbot, page, ctx, project)
    page.tabs.setCurrentWidget(page.health)
    qtbot.waitUntil(lambda: page.health.stats is not None, timeout=5000)
    assert page.health.stats["images_per_class"] == {"background": 3, "road": 2, "car": 1}
    assert page.health.stats["pixels_per_class"]["road"] == 2 * 128
    assert "images_per_class" in page.health.charts


def test_drop_of_a_folder_opens_the_import_dialog_prefilled(qtbot, ctx, workspace, tmp_path):
    project, _store = detection_project(workspace, n=2)
    page = _page(qtbot, ctx)
    _open(qtbot, page, ctx, project)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path))])
    event = QDropEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    page.dropEvent(event)
    assert page.dialog is not None and page.dialog.source.text() == str(tmp_path)
    page.dialog.reject()


def test_event_parsing_and_report():
    assert parse_event("") is None
    assert parse_event("garbage").kind == "text"
    ev = parse_event('{"event": "progress", "step": 2, "total": 5}')
    assert ev.kind == "progress" and ev.data["total"] == 5
    rep = ImportReport.from_json({"imported": 3, "duplicates": 1, "skipped": 2, "format": "folder",
                                  "issues": [{"file": "a.png", "reason": "not an image", "action": "skipped"}]})
    assert rep.issues[0].file == "a.png" and "3 imported" in rep.summary()
    assert counts_text(1234, 100000) == "1,234 of 100,000 images"


@pytest.mark.slow
def test_import_through_the_dialog_runs_the_cli_and_refreshes(qtbot, ctx, workspace, tmp_path, monkeypatch):
    src = tmp_path / "pets"
    for cls, color in (("cat", (200, 30, 30)), ("dog", (30, 30, 200))):
        (src / cls).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (32, 32), (color[0], color[1] + 40 * i, color[2])).save(src / cls / f"{cls}{i}.png")
    (src / "cat" / "broken.png").write_bytes(b"not an image")
    project = ProjectService(workspace).create("Pets", "classification")
    page = _page(qtbot, ctx)
    _open(qtbot, page, ctx, project)
    changed = []
    ctx.projectsChanged.connect(lambda: changed.append(True))
    shown = []
    monkeypatch.setattr("studio_desktop.gui.pages.dataset.import_dialog.ImportReportDialog.open",
                        lambda self: shown.append(self))
    dialog = page.open_import(src)
    qtbot.waitUntil(lambda: "folder" in dialog.detected.text().lower(), timeout=10000)
    with qtbot.waitSignal(page.loaded, timeout=60000):
        qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    assert dialog.report is not None, dialog.error
    assert dialog.report.imported == 4 and dialog.report.skipped == 1
    assert any("broken.png" in i.file for i in dialog.report.issues)
    assert shown and shown[0].table.rowCount() == len(dialog.report.issues)
    assert page.model.total == 4 and changed
    assert len(DatasetStore(workspace, project.id).load().images) == 4


def test_dataset_json_is_read_in_steps_with_an_early_first_screen(tmp_path, monkeypatch):
    import json

    from studio_desktop.core.errors import StoreError
    from studio_desktop.gui.models import images

    monkeypatch.setattr(images, "FIRST_SCREEN", 3)
    recs = [{"id": f"{i:012x}", "file": f"images/{i}.png", "width": 8, "height": 8, "sha256": "x",
             "tags": ["é"], "label": i % 2} for i in range(10)]
    path = tmp_path / "dataset.json"
    path.write_text(json.dumps({"schema_version": 1, "images": recs, "imports": []}, indent=2), encoding="utf-8")
    early = []
    loaded = images.load_image_rows(path, early.append)
    assert [r.id for r in loaded.rows] == [r["id"] for r in recs] and loaded.tags == ["é"]
    assert len(early) == 1 and early[0].partial and len(early[0].rows) == 3
    assert images.read_json_yielding(path) == json.loads(path.read_text(encoding="utf-8"))
    path.write_text('{"schema_version": 1, "images": [{"id": 1},]}', encoding="utf-8")
    with pytest.raises(StoreError, match="dataset.json.*not valid JSON"):
        images.load_image_rows(path)


def _fake_import(monkeypatch, tmp_path, body: str) -> None:
    """Replace the import subprocess by a script printing protocol lines (GUI side only)."""
    import sys

    script = tmp_path / "fake_import.py"
    script.write_text("import json, sys, time\n" + body, encoding="utf-8")
    monkeypatch.setattr("studio_desktop.gui.pages.dataset.import_dialog.import_command",
                        lambda *a: (sys.executable, [str(script)]))


def _start_import(qtbot, ctx, workspace, tmp_path):
    """A 2-image detection project on the Dataset page, its import dialog started on ``tmp_path``."""
    project, _store = detection_project(workspace, n=2)
    page = _page(qtbot, ctx)
    _open(qtbot, page, ctx, project)
    dialog = page.open_import(tmp_path)
    qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    return page, dialog


def test_cancel_terminates_a_running_import(qtbot, ctx, workspace, tmp_path, monkeypatch):
    _fake_import(monkeypatch, tmp_path,
                 "print(json.dumps({'event': 'started'}), flush=True)\n"
                 "print(json.dumps({'event': 'progress', 'step': 3, 'total': 10, 'eta_s': 65}), flush=True)\n"
                 "time.sleep(60)\n")
    page, dialog = _start_import(qtbot, ctx, workspace, tmp_path)
    qtbot.waitUntil(lambda: dialog.progress.maximum() == 10 and dialog.progress.value() == 3, timeout=10000)
    assert "3 of 10 files" in dialog.status.text() and "1:05" in dialog.status.text()
    assert not dialog.import_button.isEnabled() and not dialog.source.isEnabled()
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.running, timeout=10000)
    assert dialog.report is None and "unchanged" in dialog.status.text()
    assert page.model.total == 2


def test_a_failed_import_shows_its_reason_and_stays_open(qtbot, ctx, workspace, tmp_path, monkeypatch):
    _fake_import(monkeypatch, tmp_path,
                 "print(json.dumps({'event': 'failed', 'error': 'x.json: not a COCO file', "
                 "'hint': 'choose the format'}), flush=True)\nsys.exit(2)\n")
    page, dialog = _start_import(qtbot, ctx, workspace, tmp_path)
    qtbot.waitUntil(lambda: "not a COCO file" in dialog.status.text(), timeout=10000)
    assert "choose the format" in dialog.status.text() and dialog.isVisible() and dialog.import_button.isEnabled()
    dialog.reject()


def test_an_import_that_imports_nothing_shows_its_report_as_a_warning(qtbot, ctx, workspace, tmp_path,
                                                                     monkeypatch):
    report = {"imported": 0, "duplicates": 0, "skipped": 2, "format": "folder", "nothing_imported": True,
              "issues": [{"file": f"{c}/{c}.jpg", "reason": "not an image", "action": "skipped"}
                         for c in ("cat", "dog")]}
    _fake_import(monkeypatch, tmp_path,  # the CLI's protocol for it: the report, then exit code 1
                 f"print(json.dumps({{'event': 'completed', 'report': {report!r}}}), flush=True)\nsys.exit(1)\n")
    shown = []
    monkeypatch.setattr("studio_desktop.gui.pages.dataset.import_dialog.ImportReportDialog.open",
                        lambda self: (shown.append(self), self.show()))
    page, dialog = _start_import(qtbot, ctx, workspace, tmp_path)
    qtbot.waitUntil(lambda: bool(shown), timeout=10000)
    assert dialog.report is not None and dialog.report.nothing_imported
    warned = shown[0]
    qtbot.addWidget(warned)
    assert warned.warning.isVisible() and "Nothing was imported" in warned.warning.text()
    assert "2" in warned.warning.text() and "nothing imported" in warned.windowTitle().lower()
    assert warned.table.rowCount() == 2
    ok = ImportReportDialog(ImportReport.from_json({**report, "imported": 3, "nothing_imported": False}))
    qtbot.addWidget(ok)
    ok.show()
    assert not ok.warning.isVisible() and "nothing" not in ok.windowTitle().lower()


def test_the_dialog_detects_a_named_file_as_the_import_will(tmp_path):
    """The detection line looks at the file the user named (as the import does), not its folder:
    a broken annotation file is reported with where it breaks."""
    from studio_desktop.core.errors import InvalidInput
    from studio_desktop.gui.pages.dataset.import_dialog import detect

    broken = tmp_path / "annotations.json"
    broken.write_text('{"images": [', encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"annotations.json: not valid JSON \(line 1, column 13"):
        detect(broken, "object_detection")


def test_class_filter_is_offered_only_where_records_name_classes(qtbot, ctx, workspace):
    seg = ProjectService(workspace).create("Streets", "semantic_segmentation", ["road", "sky"])
    det = ProjectService(workspace).create("Cells", "object_detection", ["rbc", "wbc"])
    page = _page(qtbot, ctx)
    _open(qtbot, page, ctx, seg)
    assert page.filters.cls.count() == 1  # classes live in mask pixels: nothing to filter on
    _open(qtbot, page, ctx, det)
    assert [page.filters.cls.itemText(i) for i in range(page.filters.cls.count())] == ["All classes", "rbc", "wbc"]


def test_visible_order_keeps_exactly_the_rows_the_filter_accepts():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from studio_desktop.gui.models.images import ImageRow

    row = st.builds(lambda n, c, t, a, w: ImageRow(id=n, name=n, folded=n.lower(), added=n, width=w, height=1,
                                                   classes=frozenset(c), tags=tuple(t), annotated=a),
                    st.text("abAB_", min_size=1, max_size=4), st.sets(st.integers(0, 2)),
                    st.lists(st.sampled_from(["x", "y"]), max_size=2), st.booleans(), st.integers(1, 9))
    flt = st.builds(ImageFilter, cls=st.none() | st.integers(0, 2), tag=st.none() | st.sampled_from(["x", "y"]),
                    annotated=st.sampled_from([ANNOTATED_YES, ANNOTATED_NO, "any"]),
                    search=st.sampled_from(["", "a", "B", "ab"]), sort=st.sampled_from(["name", "added", "size"]),
                    descending=st.booleans())

    @settings(max_examples=150, deadline=None)
    @given(st.lists(row, max_size=12), flt)
    def check(rows, f):
        order = visible_order(rows, f)
        assert sorted(order) == [i for i, r in enumerate(rows) if f.accepts(r)]
        keys = [{"name": rows[i].folded, "added": rows[i].added, "size": rows[i].pixels}[f.sort] for i in order]
        assert keys == sorted(keys, reverse=f.descending)

    check()
