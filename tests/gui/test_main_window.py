"""The main window: docks from PAGES, workflow bar and shortcuts, persisted layout, title,
read-only mode, closing with jobs, and the rule that the GUI never imports torch."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QDockWidget

from studio_desktop.core.workspace import Workspace
from studio_desktop.gui import main_window as main_window_module
from studio_desktop.gui.pages import PAGES, PageSpec
from studio_desktop.gui.pages.placeholder import MessagePanel

pytestmark = pytest.mark.gui


def on_top(window, key: str) -> bool:
    """Whether a page is the one shown (tabified docks behind others have no visible region)."""
    dock = window.docks[key]
    return dock.isVisible() and not dock.visibleRegion().isEmpty()


def test_six_docks_with_titles_and_object_names(workspace, main_window_factory):
    window = main_window_factory(workspace)
    docks = window.findChildren(QDockWidget)
    assert sorted(d.objectName() for d in docks) == sorted(f"dock_{p.key}" for p in PAGES)
    for spec in PAGES:
        assert window.docks[spec.key].windowTitle() == spec.title
    assert "project" not in window.page_errors
    assert type(window.pages["project"]).__name__ == "ProjectPage"
    # tabified by default: every other dock shares the tab group of the first one
    assert len(window.tabifiedDockWidgets(window.docks["project"])) == len(PAGES) - 1
    labels = [a.text() for a in window.workflow.actions_by_key.values()]
    assert labels == [f"{i} {p.title}" for i, p in enumerate(PAGES, 1)]


def test_ctrl_3_raises_the_split_page(workspace, main_window_factory, qtbot):
    window = main_window_factory(workspace)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)  # shortcuts need an active window
    assert window.workflow.current() == "project"
    qtbot.keyClick(window, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.workflow.current() == "split")
    qtbot.waitUntil(lambda: on_top(window, "split"))
    assert not on_top(window, "project")  # behind the Split tab
    qtbot.keyClick(window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: on_top(window, "project"))
    assert window.workflow.current() == "project"


def test_pages_are_built_when_first_shown_or_soon_after_start(monkeypatch, workspace,
                                                              main_window_factory, qtbot):
    monkeypatch.setattr(main_window_module, "PREBUILD_DELAY_MS", 400)
    window = main_window_factory(workspace)
    assert list(window.pages) == ["project"]  # only the first page is built before showing
    window.show()
    qtbot.waitExposed(window)
    window.show_page("split")
    assert "split" in window.pages and window.docks["split"].widget() is window.pages["split"]
    qtbot.waitUntil(lambda: len(window.pages) == len(PAGES), timeout=10000)
    for key, dock in window.docks.items():
        assert dock.widget() is window.pages[key]


def test_workflow_button_raises_page(workspace, main_window_factory, qtbot):
    window = main_window_factory(workspace)
    window.show()
    qtbot.waitExposed(window)
    button = window.workflow.widgetForAction(window.workflow.actions_by_key["export"])
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: on_top(window, "export"))
    assert not on_top(window, "project")
    assert window.workflow.current() == "export"
    assert "Ctrl+6" in window.workflow.actions_by_key["export"].toolTip()


def test_layout_is_restored_after_restart_and_can_be_reset(workspace, main_window_factory, qtbot):
    window = main_window_factory(workspace)
    window.show()
    qtbot.waitExposed(window)
    window.docks["export"].setFloating(True)
    window.removeDockWidget(window.docks["training"])
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, window.docks["training"])
    window.docks["training"].show()
    assert window.dockWidgetArea(window.docks["training"]) == Qt.DockWidgetArea.RightDockWidgetArea
    window.close()

    again = main_window_factory(workspace)
    assert again.docks["export"].isFloating()
    assert again.dockWidgetArea(again.docks["training"]) == Qt.DockWidgetArea.RightDockWidgetArea
    assert not again.docks["project"].isFloating()

    again.reset_layout_action.trigger()
    assert not again.docks["export"].isFloating()
    assert again.dockWidgetArea(again.docks["training"]) == Qt.DockWidgetArea.LeftDockWidgetArea


def test_title_follows_the_open_project_and_is_reopened(workspace, main_window_factory):
    from studio_desktop.core.projects import ProjectService

    p = ProjectService(workspace).create("Cells", "object_detection")
    window = main_window_factory(workspace)
    assert window.windowTitle() == "AI Studio"
    window.ctx.open_project(p)
    assert window.windowTitle() == "AI Studio — Cells (Object detection)"
    window.close()
    again = main_window_factory(workspace)
    assert again.ctx.project is not None and again.ctx.project.id == p.id
    assert "Cells" in again.windowTitle()


def test_read_only_window_says_so(workspace, main_window_factory):
    second = Workspace.open(workspace.root)  # the fixture's instance holds the lock
    try:
        assert not second.writable
        window = main_window_factory(second)
        assert window.ctx.read_only
        assert window.windowTitle().endswith("[read-only]")
        assert not window.new_project_action.isEnabled()
    finally:
        second.close()


def test_missing_page_package_shows_a_panel_but_a_broken_page_is_reported(monkeypatch, workspace,
                                                                          main_window_factory):
    pages = [PAGES[0],
             PageSpec("later", "Later", "studio_desktop.gui.pages.not_written_yet:LaterPage", "comes later"),
             PageSpec("broken", "Broken", "studio_desktop.gui.pages.placeholder:NoSuchClass", "bug")]
    monkeypatch.setattr(main_window_module, "PAGES", pages)
    window = main_window_factory(workspace)
    window.build_all_pages()
    assert isinstance(window.pages["later"], MessagePanel)
    assert "not available yet" in window.pages["later"].text.text()
    assert "later" not in window.page_errors
    assert "NoSuchClass" in window.page_errors["broken"]


def test_close_is_cancelled_when_jobs_say_so(workspace, main_window_factory, qtbot):
    window = main_window_factory(workspace)
    window.show()
    qtbot.waitExposed(window)

    class Jobs:
        answer = False
        asked = 0

        def confirm_close(self, parent):
            Jobs.asked += 1
            return Jobs.answer

    window.ctx.jobs = Jobs()
    window.close()
    assert Jobs.asked == 1 and window.isVisible()
    Jobs.answer = True
    window.close()
    assert not window.isVisible()


def test_theme_choice_is_applied_and_persisted(workspace, main_window_factory, qapp):
    from studio_desktop.gui import theme

    window = main_window_factory(workspace)
    window.theme_actions["dark"].trigger()
    assert qapp.palette().window().color().lightness() < 100
    assert theme.saved_theme() == "dark"
    window.theme_actions["light"].trigger()
    assert qapp.palette().window().color().lightness() > 150
    assert theme.saved_theme() == "light"


def test_screenshot_is_not_blank(workspace, main_window_factory, qtbot, tmp_path):
    from studio_desktop.core.projects import ProjectService

    ProjectService(workspace).create("Parts", "classification")
    window = main_window_factory(workspace)
    window.resize(900, 600)
    window.show()
    qtbot.waitExposed(window)
    path = tmp_path / "shot.png"
    assert window.grab().save(str(path))
    image = QImage(str(path))
    assert image.width() >= 900
    colors = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
    assert len(colors) > 10


def test_opening_the_main_window_never_imports_torch(tmp_path):
    code = textwrap.dedent(f"""
        import os, sys
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        os.environ["XDG_CONFIG_HOME"] = {str(tmp_path / "cfg")!r}
        from studio_desktop.gui.app import ensure_application, build_main_window
        from studio_desktop.core.workspace import Workspace
        app = ensure_application([])
        ws = Workspace.open({str(tmp_path / "ws")!r})
        window = build_main_window(ws)
        window.show()
        app.processEvents()
        heavy = [m for m in ("torch", "torchvision", "pytorch_lightning", "torchmetrics", "onnxruntime")
                 if m in sys.modules]
        print("HEAVY", heavy)
        window.close()
        ws.close()
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "HEAVY []" in out.stdout, out.stdout


def test_clicking_a_dock_tab_moves_the_workflow_bar(workspace, main_window_factory, qtbot):
    from PySide6.QtWidgets import QTabBar

    window = main_window_factory(workspace)
    window.show()
    qtbot.waitExposed(window)
    tabs = next(t for t in window.findChildren(QTabBar) if t.count() == len(PAGES))
    index = next(i for i in range(tabs.count()) if tabs.tabText(i) == "Training")
    qtbot.mouseClick(tabs, Qt.MouseButton.LeftButton, pos=tabs.tabRect(index).center())
    qtbot.waitUntil(lambda: on_top(window, "training"))
    qtbot.waitUntil(lambda: window.workflow.current() == "training")
    assert window.docks["training"].widget() is window.pages["training"]  # built on first show


def test_job_area_is_in_the_status_bar(workspace, main_window_factory):
    window = main_window_factory(workspace)
    if window.ctx.jobs is None:  # gui.jobs not in this build: a plain label stands in
        assert window._job_widget.text() == "No jobs running"
    else:
        assert window._job_widget.parent() is not None
        assert hasattr(window.ctx.jobs, "confirm_close")


def test_workspace_argument_forms():
    from studio_desktop.gui.app import parse_workspace_arg

    assert parse_workspace_arg(["--workspace", "/a b"]) == "/a b"
    assert parse_workspace_arg(["--workspace=/c"]) == "/c"
    assert parse_workspace_arg([]) is None


def test_locked_workspace_is_announced_and_opened_read_only(workspace, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from studio_desktop.gui import app as app_module

    shown = []
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(lambda *a, **k: shown.append(a[2])))
    ws = app_module.open_workspace(str(workspace.root))
    try:
        assert ws is not None and not ws.writable
        assert len(shown) == 1 and f"process {os.getpid()}" in shown[0]
        assert "read-only" in shown[0]
    finally:
        ws.close()


def test_unreadable_workspace_exits_with_1(monkeypatch, tmp_path, qapp):
    from PySide6.QtWidgets import QMessageBox

    from studio_desktop.core.errors import StoreError
    from studio_desktop.gui import app as app_module

    def refuse(path=None, **_kw):
        raise StoreError("cannot create the workspace folder: Permission denied", path=path)

    shown = []
    monkeypatch.setattr(app_module.Workspace, "open", staticmethod(refuse))
    monkeypatch.setattr(QMessageBox, "critical", staticmethod(lambda *a, **k: shown.append(a[2])))
    assert app_module.run_gui(["--workspace", str(tmp_path / "nope")]) == 1
    assert len(shown) == 1 and "Permission denied" in shown[0] and "nope" in shown[0]


def test_open_workspace_closes_the_window_and_asks_for_the_new_folder(workspace, main_window_factory,
                                                                      qtbot, monkeypatch, tmp_path):
    from PySide6.QtWidgets import QFileDialog

    window = main_window_factory(workspace)
    window.show()
    qtbot.waitExposed(window)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(tmp_path / "other")))
    menu_action = next(a for a in window.menuBar().actions()[0].menu().actions() if "workspace" in a.text())
    menu_action.trigger()
    assert window.requested_workspace == str(tmp_path / "other")
    assert not window.isVisible()


def test_every_task_has_an_icon_and_a_badge(qapp):
    from studio_desktop.gui import theme
    from studio_desktop.tasks import TASKS

    assert not theme.app_icon().pixmap(32, 32).isNull()
    colors = set()
    for task_id, task in TASKS.items():
        assert theme.resource("icons", "tasks", task.icon).is_file(), task.icon
        assert not theme.task_icon(task_id).pixmap(24, 24).isNull(), task_id
        badge = theme.badge_pixmap(task_id).toImage()
        center = badge.pixelColor(3, badge.height() // 2)
        assert center.alpha() > 0  # a filled badge, not an empty pixmap
        colors.add(theme.task_color(task_id).name())
    assert len(colors) == len(TASKS)  # each task has its own colour
