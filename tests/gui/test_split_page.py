"""The Split page: messages when something is missing, ratios summing to 100 %, preview then save,
the chart's bars, the list with its lock and usage, deletion refused while used."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from studio_desktop.core.datasets import DatasetStore
from studio_desktop.core.projects import ProjectService
from studio_desktop.core.schemas import Box, Dataset, ImageRecord
from studio_desktop.core.splits import SplitService
from studio_desktop.core.store import atomic_write_json
from studio_desktop.gui.context import AppContext
from studio_desktop.gui.pages.split import SplitPage

pytestmark = pytest.mark.gui

SHOTS = Path("/tmp/shots")


def detection_records(n: int = 60) -> list[ImageRecord]:
    rnd = random.Random(0)
    out = []
    for i in range(n):
        sha = hashlib.sha256(str(i).encode()).hexdigest()
        classes = sorted({c for c in range(4) if rnd.random() < 1 / (c + 1.3)} | {i % 4} if i < 8 else
                         {c for c in range(4) if rnd.random() < 1 / (c + 1.3)})
        out.append(ImageRecord(id=sha[:12], file=f"images/{i}.png", width=32, height=32, sha256=sha,
                               boxes=[Box(cls=c, x1=1, y1=1, x2=9, y2=9) for c in classes]))
    return out


@pytest.fixture
def ctx(workspace):
    return AppContext(workspace)


@pytest.fixture
def project(workspace):
    p = ProjectService(workspace).create("cells", "object_detection", classes=["rbc", "wbc", "platelet", "other"])
    DatasetStore(workspace, p.id).save(Dataset(images=detection_records()))
    return p


def test_messages_and_their_buttons(qtbot, ctx, workspace):
    page = SplitPage(ctx)
    qtbot.addWidget(page)
    assert page.stack.currentWidget() is page.message
    with qtbot.waitSignal(ctx.showPageRequested) as sig:
        qtbot.mouseClick(page.message.button, Qt.MouseButton.LeftButton)
    assert sig.args == ["project"]
    empty = ProjectService(workspace).create("empty", "classification")
    ctx.open_project(empty)
    assert "no images" in page.message.text.text()
    with qtbot.waitSignal(ctx.showPageRequested) as sig:
        qtbot.mouseClick(page.message.button, Qt.MouseButton.LeftButton)
    assert sig.args == ["dataset"]


def test_ratios_always_sum_to_100(qtbot, ctx, project):
    page = SplitPage(ctx)
    qtbot.addWidget(page)
    ctx.open_project(project)
    ratios = page.options.ratios
    ratios.spins["train"].setValue(60)
    assert sum(ratios.values[s] for s in ratios.subsets()) == 100
    assert ratios.values["val"] == ratios.values["test"] == 20
    ratios.sliders["val"].setValue(30)
    assert [ratios.values[s] for s in ("train", "val", "test")] == [50, 30, 20]
    ratios.use_test.setChecked(False)
    assert ratios.subsets() == ["train", "val"] and sum(ratios.ratios()) == pytest.approx(1.0)
    assert not ratios.spins["test"].isVisibleTo(page)
    ratios.spins["val"].setValue(25)
    assert ratios.ratios() == [0.75, 0.25]


def test_preview_then_save_lists_the_split(qtbot, ctx, project, workspace):
    page = SplitPage(ctx)
    qtbot.addWidget(page)
    page.resize(1100, 760)
    page.show()
    ctx.open_project(project)
    assert page.stack.currentWidget() is page.body
    assert not page.save_button.isEnabled()  # nothing previewed yet
    assert page.table.rowCount() == 0
    qtbot.mouseClick(page.preview_button, Qt.MouseButton.LeftButton)
    assert page.plan is not None and page.save_button.isEnabled()
    # one bar item per subset, one bar per class in each
    assert set(page.preview.chart.bars) == {"train", "val", "test"}
    heights = page.preview.chart.bars["test"].opts["height"]
    assert len(heights) == 4 and all(h > 0 for h in heights)
    assert page.preview.table.rowCount() == 1 + 4
    assert page.preview.table.item(1, 0).text() == "rbc"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.grab().save(str(SHOTS / "split_page.png"))

    page.options.seed.setValue(5)  # a change invalidates the preview
    assert not page.save_button.isEnabled()
    qtbot.mouseClick(page.preview_button, Qt.MouseButton.LeftButton)
    page.options.name.setText("five")
    with qtbot.waitSignal(ctx.splitsChanged):
        qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    assert page.table.rowCount() == 1
    assert page.table.item(0, 0).text() == "five" and not page.table.item(0, 0).icon().isNull()
    assert "Locked" in page.table.item(0, 0).toolTip()
    saved = SplitService(workspace, project.id).get("five")
    assert saved.seed == 5 and len(saved.assignments) == 60
    assert page.table.item(0, 2).text() == saved_counts(saved)
    assert not page.save_button.isEnabled()  # saved: preview again for another
    assert page.options.name.text() == "split 1"  # the next free name


def saved_counts(split) -> str:
    return " · ".join(f"{s} {v.images}" for s, v in split.stats.items())


def test_delete_refused_while_used_then_allowed(qtbot, ctx, project, workspace, monkeypatch):
    svc = SplitService(workspace, project.id)
    split = svc.create("used", svc.plan(project, DatasetStore(workspace, project.id).load()))
    exp = workspace.project_dir(project.id) / "experiments" / "e1" / "experiment.json"
    atomic_write_json(exp, {"name": "run A", "config": {"split_id": split.id}})
    page = SplitPage(ctx)
    qtbot.addWidget(page)
    ctx.open_project(project)
    assert page.table.item(0, 5).text() == "run A"
    told = []
    monkeypatch.setattr(page, "inform", lambda title, text: told.append(text))
    monkeypatch.setattr(page, "confirm", lambda title, text: True)
    page.table.selectRow(0)
    qtbot.mouseClick(page.delete_button, Qt.MouseButton.LeftButton)
    assert told and "run A" in told[0] and svc.path_of(split.id).exists()
    atomic_write_json(exp, {"name": "run A", "config": {"split_id": "other"}})
    ctx.experimentsChanged.emit()
    assert page.table.item(0, 5).text() == "—"
    page.table.selectRow(0)
    page.table.setFocus()
    with qtbot.waitSignal(ctx.splitsChanged):
        page.delete_action.trigger()
    assert not svc.path_of(split.id).exists() and page.table.rowCount() == 0


def test_not_in_split_counts_new_images(qtbot, ctx, project, workspace):
    svc = SplitService(workspace, project.id)
    store = DatasetStore(workspace, project.id)
    svc.create("old", svc.plan(project, store.load()))
    page = SplitPage(ctx)
    qtbot.addWidget(page)
    ctx.open_project(project)
    assert page.table.item(0, 6).text() == "—"
    dataset = store.load()
    dataset.images.append(ImageRecord(id="new000000001", file="images/n.png", width=32, height=32,
                                      sha256="f" * 64))
    store.save(dataset)
    ctx.datasetChanged.emit()
    assert page.table.item(0, 6).text() == "1"


def test_anomaly_mode_only_for_anomaly_projects(qtbot, ctx, project, workspace):
    from studio_desktop.core.schemas import Anomaly

    page = SplitPage(ctx)
    qtbot.addWidget(page)
    page.show()
    ctx.open_project(project)
    assert not page.options.anomaly_mode.isVisible()
    ano = ProjectService(workspace).create("nuts", "anomaly_detection")
    images = [ImageRecord(id=f"{i:012d}", file=f"images/{i}.png", width=32, height=32, sha256=f"{i:064d}",
                          anomaly=Anomaly(status="anomalous" if i % 4 == 0 else "normal")) for i in range(40)]
    DatasetStore(workspace, ano.id).save(Dataset(images=images))
    ctx.open_project(ano)
    assert page.options.anomaly_mode.isVisible()
    page.options.anomaly_mode.setCurrentIndex(page.options.anomaly_mode.findData("normal-only"))
    page.options.group_by.setCurrentIndex(page.options.group_by.findData("none"))
    with qtbot.waitActive(page):
        page.activateWindow()
    page.options.seed.setFocus()
    qtbot.keyClick(page.options.seed, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)  # Preview
    assert page.plan is not None and page.plan.anomaly_mode == "normal-only"
    assert page.plan.group_by == "none"
    assert "anomalous" not in page.plan.stats["train"].classes
    assert page.plan.stats["val"].classes["anomalous"] + page.plan.stats["test"].classes["anomalous"] == 10
    assert set(page.preview.chart.bars) == {"train", "val", "test"}


def test_large_dataset_previews_off_the_gui_thread(qtbot, ctx, project, monkeypatch):
    from PySide6.QtCore import QThread

    from studio_desktop.gui.pages.split import controller as controller_module

    monkeypatch.setattr(controller_module, "LARGE_DATASET", 10)
    page = SplitPage(ctx)
    qtbot.addWidget(page)
    ctx.open_project(project)
    qtbot.waitUntil(lambda: page.table.rowCount() == 0 and page.listing.image_count == 60, timeout=5000)
    threads = []
    real = page.controller.preview
    monkeypatch.setattr(page.controller, "preview",
                        lambda **kw: (threads.append(QThread.currentThread()), real(**kw))[1])
    qtbot.mouseClick(page.preview_button, Qt.MouseButton.LeftButton)
    assert page.plan is None and not page.preview_button.isEnabled()  # still computing
    qtbot.waitUntil(lambda: page.plan is not None, timeout=10000)
    assert threads and threads[0] is not page.thread()
    assert page.save_button.isEnabled() and set(page.preview.chart.bars) == {"train", "val", "test"}


def test_a_late_preview_is_dropped_when_settings_changed(qtbot, ctx, project, monkeypatch):
    from studio_desktop.gui.pages.split import controller as controller_module

    monkeypatch.setattr(controller_module, "LARGE_DATASET", 10)
    page = SplitPage(ctx)
    qtbot.addWidget(page)
    ctx.open_project(project)
    qtbot.mouseClick(page.preview_button, Qt.MouseButton.LeftButton)
    page.options.seed.setValue(9)  # before the worker's result is delivered
    qtbot.waitUntil(lambda: page.preview_button.isEnabled(), timeout=10000)
    assert page.plan is None and not page.save_button.isEnabled()
    assert "preview again" in page.status.text()


def test_read_only_window_cannot_save_or_delete(qtbot, project, workspace):
    from studio_desktop.core.workspace import Workspace

    svc = SplitService(workspace, project.id)
    svc.create("kept", svc.plan(project, DatasetStore(workspace, project.id).load()))
    other = Workspace.open(workspace.root)  # the lock is held by `workspace`: this one is read-only
    try:
        assert not other.writable
        ctx = AppContext(other)
        page = SplitPage(ctx)
        qtbot.addWidget(page)
        ctx.open_project(project)
        qtbot.mouseClick(page.preview_button, Qt.MouseButton.LeftButton)
        assert page.plan is not None  # previewing only reads
        assert not page.save_button.isEnabled() and "read-only" in page.save_button.toolTip()
        page.table.selectRow(0)
        assert not page.delete_button.isEnabled()
        page.save_split()
        assert [s.name for s in svc.list()] == ["kept"]
    finally:
        other.close()


def _tiny_project(workspace):
    """3 images: an 80/10/10 split leaves the test subset empty (a warning saved with the split)."""
    p = ProjectService(workspace).create("tiny", "object_detection", classes=["rbc", "wbc"])
    DatasetStore(workspace, p.id).save(Dataset(images=[
        ImageRecord(id=f"{i:012d}", file=f"images/{i}.png", width=32, height=32,
                    sha256=hashlib.sha256(str(i).encode()).hexdigest(),
                    boxes=[Box(cls=i % 2, x1=1, y1=1, x2=9, y2=9)]) for i in range(3)]))
    return p


def _selected_name(page) -> str | None:
    rows = page.table.selectionModel().selectedRows()
    return page.table.item(rows[0].row(), 0).text() if rows else None


def test_a_saved_split_shows_its_distribution_without_preview(qtbot, ctx, workspace):
    project = _tiny_project(workspace)
    svc = SplitService(workspace, project.id)
    dataset = DatasetStore(workspace, project.id).load()
    svc.create("three", svc.plan(project, dataset, ratios=[0.8, 0.1, 0.1]))
    page = SplitPage(ctx)
    qtbot.addWidget(page)
    page.resize(1100, 760)
    page.show()
    ctx.open_project(project)  # the page opens on a project with a split: it shows it at once
    chart, panel = page.preview.chart, page.preview
    assert _selected_name(page) == "three"
    assert set(chart.bars) == {"train", "val", "test"}
    assert list(chart.bars["train"].opts["height"]) == [50, 50]  # rbc, wbc: 1 of 2 images each
    assert list(chart.bars["val"].opts["height"]) == [100, 0]
    assert [panel.table.item(0, c).text().split()[0] for c in (1, 2, 3)] == ["2", "1", "0"]
    assert "three" in panel.summary.text() and "Preview" not in panel.summary.text()
    assert panel.warnings.isVisibleTo(page) and "the test subset is empty" in panel.warnings.toPlainText()
    assert not page.save_button.isEnabled()  # nothing to save: this split is saved already
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.grab().save(str(SHOTS / "split_page_saved.png"))

    svc.create("two", svc.plan(project, dataset, ratios=[0.67, 0.33]))
    page.refresh_list()
    assert _selected_name(page) == "three"  # a refresh keeps what the user looks at
    row = next(r for r in range(page.table.rowCount()) if page.table.item(r, 0).text() == "two")
    page.table.selectRow(row)  # selecting another split shows that one
    assert set(chart.bars) == {"train", "val"} and "two" in panel.summary.text()
    assert "the test subset is empty" not in panel.warnings.toPlainText()

    qtbot.mouseClick(page.preview_button, Qt.MouseButton.LeftButton)  # a preview replaces it
    assert page.plan is not None and "Preview" in panel.summary.text() and _selected_name(page) is None
    page.options.name.setText("four")
    with qtbot.waitSignal(ctx.splitsChanged):
        qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    assert _selected_name(page) == "four" and "four" in panel.summary.text()  # saved: shown as saved


def _left_axis_labels(chart) -> list[str]:
    """The tick labels the chart's left axis draws, computed the way pyqtgraph's AxisItem does."""
    axis = chart.getAxis("left")
    lo, hi = axis.range
    return [text for spacing, values in axis.tickValues(lo, hi, max(axis.height(), 200))
            for text in axis.tickStrings(values, axis.autoSIPrefixScale * axis.scale, spacing) if text]


def test_the_chart_axis_shows_percentages(qtbot, ctx, workspace):
    """It said "% of the subset's images" but counted 0.1 … 0.9 (the empty chart's range)."""
    project = _tiny_project(workspace)
    page = SplitPage(ctx)
    qtbot.addWidget(page)
    page.resize(1100, 760)
    page.show()
    ctx.open_project(project)  # no saved split: the chart is empty until Preview
    chart = page.preview.chart

    def values() -> list[float]:
        labels = _left_axis_labels(chart)
        assert labels and all(t.endswith("%") for t in labels), labels
        return [float(t.rstrip(" %")) for t in labels]

    empty = values()
    assert max(empty) >= 50 and min(empty) >= 0 and max(empty) <= 100
    qtbot.mouseClick(page.preview_button, Qt.MouseButton.LeftButton)
    shown = values()  # bars of 100 %: the headroom above them (for the legend) has no "120 %"
    assert max(shown) == 100 and min(shown) >= 0
