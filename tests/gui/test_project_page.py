"""The Project page, clicked like a user: create (dialog), rename in place, open, delete,
problem rows, search, empty state, read-only mode, sample projects in the background."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox

from studio_desktop.core.projects import ProjectService
from studio_desktop.core.workspace import Workspace
from studio_desktop.gui.context import AppContext
from studio_desktop.gui.pages.project import ProjectPage
from studio_desktop.gui.pages.project import page as page_module
from studio_desktop.gui.pages.project.controller import ProjectController
from studio_desktop.gui.pages.project.dialogs import CreateProjectDialog
from studio_desktop.gui.pages.project.model import NAME, TASK

pytestmark = pytest.mark.gui


@pytest.fixture
def messages(monkeypatch):
    """Records message boxes instead of showing them; ``answer`` is what question() returns."""
    seen: list[tuple[str, str]] = []

    class Box:
        answer = QMessageBox.StandardButton.Yes

    def record(kind):
        def show(_parent, title, text, *args, **kwargs):
            seen.append((kind, text))
            return Box.answer if kind == "question" else QMessageBox.StandardButton.Ok
        return staticmethod(show)

    for kind in ("warning", "information", "critical", "question"):
        monkeypatch.setattr(QMessageBox, kind, record(kind))
    Box.seen = seen
    return Box


@pytest.fixture
def page(workspace, qtbot):
    ctx = AppContext(workspace)
    page = ProjectPage(ctx)
    qtbot.addWidget(page)
    page.resize(900, 500)
    page.show()
    qtbot.waitExposed(page)
    return page


def rows(page) -> list[str]:
    proxy = page.proxy
    return [proxy.index(r, NAME).data() for r in range(proxy.rowCount())]


def row_of(page, name: str) -> int:
    return rows(page).index(name)


def cell_center(page, row: int, col: int):
    return page.table.visualRect(page.proxy.index(row, col)).center()


def double_click(qtbot, page, row: int, col: int) -> None:
    """A real double-click (QTest's mouseDClick alone lacks the press the view expects)."""
    pos = cell_center(page, row, col)
    qtbot.mouseClick(page.table.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.mouseDClick(page.table.viewport(), Qt.MouseButton.LeftButton, pos=pos)


def drive_modal(qtbot, action, kind=QDialog, deadline_ms: int = 15000) -> list:
    """Run ``action(dialog)`` on the next modal ``kind`` dialog once it is shown (exec() blocks).

    A dialog still open at the deadline (the action raised, clicked a disabled button, or a
    stray modal window answered first) is rejected, so the test fails on its assertions instead
    of blocking in exec() forever, where no Python timeout can reach it (CI once hung in one of
    these tests; a test that waits for a modal dialog must not be able to)."""
    done = []

    def attempt():
        dialog = QApplication.activeModalWidget()
        handle = dialog.windowHandle() if isinstance(dialog, kind) else None
        if handle is None or not handle.isExposed():  # clicks before that can be lost (a loaded CI)
            QTimer.singleShot(20, attempt)  # Python runs meanwhile: pytest-timeout can still fire
            return
        done.append(dialog)
        QTimer.singleShot(deadline_ms, dialog, dialog.reject)  # cancelled if the dialog is deleted
        action(dialog)

    QTimer.singleShot(0, attempt)
    return done


def test_empty_workspace_shows_welcome_with_both_actions(page):
    assert page.stack.currentWidget() is page.empty
    assert page.empty.button.text() == "Create project"
    assert page.empty_sample_button.text() == "Create sample project"
    assert page.empty.button.isVisible() and page.empty.button.isEnabled()
    text = page.empty.text  # the wrapped paragraph gets the height it needs (was clipped)
    assert text.height() >= text.heightForWidth(text.width())


def test_create_project_through_the_dialog(page, qtbot, workspace):
    def fill(dialog: CreateProjectDialog):
        assert not dialog.ok_button.isEnabled()  # empty name
        assert "name" in dialog.reason.text().lower()
        qtbot.keyClicks(dialog.name_edit, "Blood cells")
        dialog.chooser.list.select_task("object_detection")
        assert "box" in dialog.chooser.description.text()  # the task's description paragraph
        assert dialog.ok_button.isEnabled()
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)

    done = drive_modal(qtbot, fill, CreateProjectDialog)
    qtbot.mouseClick(page.empty.button, Qt.MouseButton.LeftButton)
    assert done
    projects = ProjectService(workspace).list()
    assert [(p.name, p.task) for p in projects] == [("Blood cells", "object_detection")]
    assert page.stack.currentIndex() == 1
    assert rows(page) == ["Blood cells"]
    assert page.ctx.project is not None and page.ctx.project.name == "Blood cells"
    assert page.proxy.index(0, TASK).data() == "Object detection"


def test_create_dialog_refuses_duplicates_with_the_reason(workspace, qtbot):
    ProjectService(workspace).create("Parts", "classification")
    dialog = CreateProjectDialog(ProjectController(ProjectService(workspace)))
    qtbot.addWidget(dialog)
    qtbot.keyClicks(dialog.name_edit, "parts")
    assert not dialog.ok_button.isEnabled()
    assert "already exists" in dialog.reason.text()
    assert "already exists" in dialog.ok_button.toolTip()
    qtbot.keyClicks(dialog.name_edit, " 2")
    assert dialog.ok_button.isEnabled() and dialog.reason.text() == ""


def test_rename_in_place_with_f2(page, qtbot, workspace, messages):
    service = ProjectService(workspace)
    service.create("Alpha", "classification")
    service.create("Beta", "regression")
    page.refresh()
    page.table.setFocus()
    page.select_project(service.get("Alpha").id)
    qtbot.keyClick(page.table, Qt.Key.Key_F2)
    editor = QApplication.focusWidget()
    assert editor is not page.table and hasattr(editor, "setText")
    editor.selectAll()
    qtbot.keyClicks(editor, "Gamma")
    with qtbot.waitSignal(page.ctx.projectsChanged):  # other pages hear about the rename
        qtbot.keyClick(editor, Qt.Key.Key_Return)
    assert rows(page) == ["Beta", "Gamma"]
    assert sorted(p.name for p in service.list()) == ["Beta", "Gamma"]
    assert messages.seen == []

    # a duplicate name is refused with a message, not a traceback
    page.select_project(service.get("Gamma").id)
    page.table.edit(page.table.currentIndex())
    editor = QApplication.focusWidget()
    editor.selectAll()
    qtbot.keyClicks(editor, "beta")
    qtbot.keyClick(editor, Qt.Key.Key_Return)  # the delegate commits on the next event loop turn
    qtbot.waitUntil(lambda: bool(messages.seen))
    assert len(messages.seen) == 1 and "already exists" in messages.seen[0][1]
    assert sorted(p.name for p in service.list()) == ["Beta", "Gamma"]


def test_open_by_double_click_switches_the_project(workspace, main_window_factory, qtbot):
    ProjectService(workspace).create("Ships", "oriented_object_detection")
    window = main_window_factory(workspace)
    window.show()
    qtbot.waitExposed(window)
    page = window.pages["project"]
    seen = []
    window.ctx.projectChanged.connect(seen.append)
    double_click(qtbot, page, row_of(page, "Ships"), TASK)
    assert [p.name for p in seen] == ["Ships"]
    assert window.ctx.project.name == "Ships"
    assert window.windowTitle() == "AI Studio — Ships (Oriented object detection)"


def test_open_with_enter_and_the_open_button(page, qtbot, workspace):
    service = ProjectService(workspace)
    a = service.create("A", "classification")
    b = service.create("B", "regression")
    page.refresh()
    assert not page.open_button.isEnabled()  # nothing selected yet
    page.table.setFocus()
    page.select_project(b.id)
    qtbot.keyClick(page.table, Qt.Key.Key_Return)
    assert page.ctx.project.id == b.id
    page.select_project(a.id)
    qtbot.mouseClick(page.open_button, Qt.MouseButton.LeftButton)
    assert page.ctx.project.id == a.id


def test_delete_key_asks_naming_the_project_then_deletes(page, qtbot, workspace, messages):
    service = ProjectService(workspace)
    keep = service.create("Keep", "classification")
    doomed = service.create("Doomed", "object_detection")
    page.refresh()
    page.ctx.open_project(doomed)
    page.table.setFocus()
    page.select_project(doomed.id)

    messages.answer = QMessageBox.StandardButton.Cancel
    qtbot.keyClick(page.table, Qt.Key.Key_Delete)
    assert [p.id for p in service.list()] == [doomed.id, keep.id]

    messages.answer = QMessageBox.StandardButton.Yes
    qtbot.keyClick(page.table, Qt.Key.Key_Delete)
    kinds = [k for k, _ in messages.seen]
    assert kinds == ["question", "question"]
    assert "'Doomed'" in messages.seen[-1][1] and "images" in messages.seen[-1][1]
    assert [p.id for p in service.list()] == [keep.id]
    assert not workspace.project_dir(doomed.id).exists()
    assert rows(page) == ["Keep"]
    assert page.ctx.project is None  # the open project was the deleted one


def test_corrupt_project_is_a_greyed_problem_row(page, workspace, messages):
    ProjectService(workspace).create("Fine", "classification")
    bad = workspace.projects_dir / "bad1"
    bad.mkdir()
    (bad / "project.json").write_text("{not json", encoding="utf-8")
    page.refresh()
    assert rows(page) == ["bad1 (cannot be read)", "Fine"]
    problem = page.proxy.index(0, TASK)
    assert "project.json" in problem.data()
    assert not (page.proxy.flags(page.proxy.index(0, NAME)) & Qt.ItemFlag.ItemIsEditable)
    assert "could not be read" in page.status.text()
    page.table.selectRow(0)
    page.open_selected()
    assert messages.seen and "bad1" in messages.seen[0][1]
    assert page.ctx.project is None


def test_search_filters_by_name(page, qtbot, workspace):
    service = ProjectService(workspace)
    for name in ("Cats and dogs", "Cells", "Ships"):
        service.create(name, "classification")
    page.refresh()
    qtbot.keyClicks(page.search, "ce")
    assert rows(page) == ["Cells"]
    page.search.clear()
    assert len(rows(page)) == 3


def test_read_only_workspace_disables_changes(workspace, qtbot):
    ProjectService(workspace).create("Shared", "classification")
    second = Workspace.open(workspace.root)
    try:
        page = ProjectPage(AppContext(second))
        qtbot.addWidget(page)
        for button in (page.new_button, page.sample_button, page.rename_button, page.delete_button):
            assert not button.isEnabled()
            assert "read-only" in button.toolTip()
        assert not (page.proxy.flags(page.proxy.index(0, NAME)) & Qt.ItemFlag.ItemIsEditable)
        page.create_project()  # e.g. Ctrl+N: does nothing rather than fail
        assert [p.name for p in ProjectService(second).list()] == ["Shared"]
        page.select_project(ProjectService(second).list()[0].id)
        assert page.open_button.isEnabled()  # reading is still allowed
    finally:
        second.close()


def test_sample_project_runs_in_the_background(page, qtbot, workspace, monkeypatch, messages):
    calls = []

    def fake_sample(ws, task_id):
        calls.append(task_id)
        return ProjectService(ws).create("Sample", task_id)

    monkeypatch.setattr(page_module, "create_sample", fake_sample)
    page.start_sample("anomaly_detection")
    assert page.progress is not None and page.progress.isVisible()
    qtbot.waitUntil(lambda: page.ctx.project is not None or bool(messages.seen), timeout=5000)
    assert messages.seen == []  # e.g. the worker thread must see the workspace as writable
    assert calls == ["anomaly_detection"]
    assert page.ctx.project.name == "Sample" and rows(page) == ["Sample"]
    assert page.progress is None


def test_real_sample_project_from_the_welcome_panel(page, qtbot, workspace, messages):
    if not page_module.samples_available():
        pytest.skip("core.samples is not in this build")
    from studio_desktop.gui.pages.project.dialogs import SampleProjectDialog

    def choose(dialog: SampleProjectDialog):
        dialog.chooser.list.select_task("object_detection")
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)

    done = drive_modal(qtbot, choose, SampleProjectDialog)
    qtbot.mouseClick(page.empty_sample_button, Qt.MouseButton.LeftButton)
    assert done
    qtbot.waitUntil(lambda: page.ctx.project is not None or bool(messages.seen), timeout=60000)
    assert messages.seen == []
    assert page.ctx.project.task == "object_detection"
    row = row_of(page, page.ctx.project.name)
    assert int(page.proxy.index(row, 2).data().replace(",", "")) > 0  # images were imported


def test_sample_failure_is_a_message(page, qtbot, monkeypatch, messages):
    def broken(ws, task_id):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(page_module, "create_sample", broken)
    page.start_sample("classification")
    qtbot.waitUntil(lambda: page.progress is None, timeout=5000)
    assert len(messages.seen) == 1 and "disk on fire" in messages.seen[0][1]


def test_sample_button_without_samples_says_so(page, qtbot, monkeypatch, messages):
    monkeypatch.setattr(page_module, "samples_available", lambda: False)
    qtbot.mouseClick(page.empty_sample_button, Qt.MouseButton.LeftButton)
    assert messages.seen == [("information", page_module.NO_SAMPLES)]


def test_controller_without_widgets(workspace):
    service = ProjectService(workspace)
    controller = ProjectController(service)
    p = controller.create("Seeds", "instance_segmentation")
    assert controller.name_problem("") == "a project name must not be empty"
    assert "already exists" in controller.name_problem(" SEEDS ")
    assert controller.name_problem("Seeds", except_id=p.id) is None  # its own name is fine
    assert controller.name_problem("Other") is None
    summary = service.summary(p.id)
    text = controller.loss_description(summary)
    assert "'Seeds'" in text and "0 imported images" in text and str(summary.folder) in text
    assert not controller.read_only


def test_ctrl_n_creates_and_renaming_the_open_project_updates_the_title(workspace, main_window_factory, qtbot):
    window = main_window_factory(workspace)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)

    def fill(dialog):
        qtbot.keyClicks(dialog.name_edit, "Tray")
        dialog.chooser.list.select_task("semantic_segmentation")
        qtbot.keyClick(dialog.name_edit, Qt.Key.Key_Return)  # Enter accepts the dialog

    done = drive_modal(qtbot, fill, CreateProjectDialog)
    qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: bool(done))
    assert window.windowTitle() == "AI Studio — Tray (Semantic segmentation)"
    page = window.page("project")
    page.select_project(window.ctx.project.id)
    page.model.setData(page.model.index(page.model.row_of(window.ctx.project.id), NAME), "Seed tray")
    qtbot.waitUntil(lambda: "Seed tray" in window.windowTitle())
    assert window.ctx.project.name == "Seed tray"


def test_a_dialog_the_test_leaves_open_is_rejected_at_the_deadline(page, qtbot, messages):
    """The guard above: an action that never closes the dialog ends in a rejected dialog (the
    page then does nothing), not in an exec() that blocks the whole run."""
    from studio_desktop.gui.pages.project.dialogs import SampleProjectDialog

    done = drive_modal(qtbot, lambda dialog: None, SampleProjectDialog, deadline_ms=300)
    qtbot.mouseClick(page.empty_sample_button, Qt.MouseButton.LeftButton)  # returns only once rejected
    assert len(done) == 1 and done[0].result() == QDialog.DialogCode.Rejected
    assert page.progress is None and page.ctx.project is None
