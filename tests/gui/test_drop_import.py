"""Folders and ZIP files dropped anywhere on the main window import into the open project;
with none open the user picks a project (or creates one); File › Import a dataset… takes the
same path. The import is the Dataset page's dialog running the real import."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from studio_desktop.core.datasets import DatasetStore
from studio_desktop.core.projects import ProjectService
from studio_desktop.gui import drop_import

pytestmark = pytest.mark.gui


@pytest.fixture(autouse=True)
def _no_page_prebuild(monkeypatch):
    """Pages are built when shown, not in idle time (these tests open the pages they look at;
    building the others while a test ends only costs time)."""
    monkeypatch.setattr("studio_desktop.gui.main_window.PREBUILD_DELAY_MS", 3_600_000)


def image_folder(root: Path) -> Path:
    for cls, color in (("cat", (200, 30, 30)), ("dog", (30, 30, 200))):
        (root / cls).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (32, 32), (color[0], color[1] + 40 * i, color[2])).save(root / cls / f"{cls}{i}.png")
    return root


def mime(*paths: Path) -> QMimeData:
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    return data


def drag_enter(widget, data: QMimeData) -> bool:
    event = QDragEnterEvent(QPoint(20, 20), Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)
    return event.isAccepted()


def drop(widget, data: QMimeData) -> None:
    """Enter then drop, as a real drag does."""
    drag_enter(widget, data)
    event = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


@pytest.fixture
def window(qtbot, workspace, main_window_factory):
    ProjectService(workspace).create("Existing", "object_detection")  # no welcome screen in the way
    w = main_window_factory(workspace)
    w.show()
    qtbot.waitExposed(w)
    return w


def test_a_folder_dropped_on_the_window_imports_into_the_open_project(qtbot, tmp_path, workspace, window,
                                                                     monkeypatch):
    monkeypatch.setattr("studio_desktop.gui.pages.dataset.import_dialog.ImportReportDialog.open", lambda self: None)
    project = ProjectService(workspace).create("Pets", "classification")
    window.ctx.open_project(project)
    src = image_folder(tmp_path / "pets")
    assert drag_enter(window, mime(src))
    drop(window, mime(src))
    page = window.page("dataset")
    dialog = page.dialog
    assert dialog.isVisible() and Path(dialog.source.text()) == src
    assert window.workflow.current() == "dataset"
    with qtbot.waitSignal(dialog.imported, timeout=60000):
        qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    assert dialog.report is not None and dialog.report.imported == 4, dialog.error
    assert len(DatasetStore(workspace, project.id).load().images) == 4


def test_with_no_project_open_the_user_picks_one(qtbot, tmp_path, workspace, window, monkeypatch):
    pets = ProjectService(workspace).create("Pets", "classification")
    asked = []

    def choose(parent, projects, source):
        asked.append(({p.name for p in projects}, source))
        return next(p for p in projects if p.id == pets.id)

    monkeypatch.setattr(drop_import, "choose_project", choose)
    src = image_folder(tmp_path / "more")
    assert window.ctx.project is None
    drop(window, mime(src))
    assert asked == [({"Existing", "Pets"}, src)]
    assert window.ctx.project.id == pets.id
    assert Path(window.page("dataset").dialog.source.text()) == src


def test_cancelling_the_choice_imports_nothing(qtbot, tmp_path, window, monkeypatch):
    monkeypatch.setattr(drop_import, "choose_project", lambda *a: None)
    drop(window, mime(image_folder(tmp_path / "x")))
    assert window.ctx.project is None
    assert getattr(window.page("dataset"), "dialog", None) is None


def test_new_project_is_named_after_the_folder(qtbot, tmp_path, workspace, window, monkeypatch):
    made = []

    def create(win, suggested):
        made.append(suggested)
        project = ProjectService(workspace).create(suggested, "classification")
        win.ctx.projectsChanged.emit()
        return project

    monkeypatch.setattr(drop_import, "choose_project", lambda *a: drop_import.NEW_PROJECT)
    monkeypatch.setattr(drop_import, "create_project", create)
    src = image_folder(tmp_path / "flowers")
    drop(window, mime(src))
    assert made == ["flowers"] and window.ctx.project.name == "flowers"


def test_only_folders_zips_and_annotation_files_are_accepted(tmp_path, window):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    archive = tmp_path / "data.zip"
    archive.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    assert not drag_enter(window, mime(text))
    assert drag_enter(window, mime(archive))
    assert drop_import.droppable_paths(mime(text, archive, tmp_path)) == [archive, tmp_path]
    web = QMimeData()
    web.setUrls([QUrl("https://example.com/data.zip")])
    assert not drag_enter(window, web)


def test_file_menu_import_uses_the_same_path(qtbot, workspace, window, monkeypatch):
    project = ProjectService(workspace).create("Pets", "classification")
    window.ctx.open_project(project)
    assert window.import_action.shortcut().toString() == "Ctrl+I"
    window.import_action.trigger()
    dialog = window.page("dataset").dialog
    assert dialog.isVisible() and dialog.source.text() == ""
    dialog.reject()


def test_import_subprocess_in_the_bundle_is_the_app_itself(monkeypatch, tmp_path):
    """In the bundle sys.executable is the app: `-m studio_desktop` would be an unknown argument."""
    from studio_desktop.gui.pages.dataset.controller import import_command

    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", "/opt/AI Studio/ai-studio")
    program, args = import_command(tmp_path, "p1", tmp_path / "src", "auto")
    assert program == "/opt/AI Studio/ai-studio"
    assert args[:2] == ["--workspace", str(tmp_path)] and "-m" not in args
    assert args[2:5] == ["dataset", "import", "p1"]
