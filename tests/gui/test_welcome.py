"""First run: the welcome screen (shown on an empty workspace, creating a sample project from
it), recent workspaces, the tour over the real widgets, the shortcut list read from the
window's actions, and the About and self-test dialogs fed by child processes."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from studio_desktop.core.datasets import DatasetStore
from studio_desktop.core.projects import ProjectService
from studio_desktop.gui import welcome as welcome_module
from studio_desktop.gui.pages import PAGES
from studio_desktop.tasks import TASKS

pytestmark = pytest.mark.gui


@pytest.fixture(autouse=True)
def _no_page_prebuild(monkeypatch):
    """Pages are built when shown, not in idle time (these tests open the pages they look at;
    building the others while a test ends only costs time)."""
    monkeypatch.setattr("studio_desktop.gui.main_window.PREBUILD_DELAY_MS", 3_600_000)


def shown_window(main_window_factory, qtbot, workspace):
    window = main_window_factory(workspace, welcome=True)
    window.show()
    qtbot.waitExposed(window)
    return window


def test_welcome_on_an_empty_workspace_creates_a_sample_project(qtbot, workspace, main_window_factory):
    window = shown_window(main_window_factory, qtbot, workspace)
    qtbot.waitUntil(lambda: getattr(window, "welcome_dialog", None) is not None and window.welcome_dialog.isVisible())
    dialog = window.welcome_dialog
    # one button per task of the registry, with its one-line description
    assert set(dialog.sample_buttons) == set(TASKS)
    button = dialog.sample_buttons["classification"]
    assert button.text() == TASKS["classification"].display_name
    assert button.description() == welcome_module.one_line(TASKS["classification"].description)
    assert button.description().endswith(".") and len(button.description()) < 120
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    qtbot.waitUntil(lambda: window.ctx.project is not None, timeout=60000)
    project = window.ctx.project
    assert project.task == "classification"
    assert [p.id for p in ProjectService(workspace).list()] == [project.id]
    assert len(DatasetStore(workspace, project.id).load().images) > 0


def test_no_welcome_when_the_workspace_has_projects_or_the_user_said_no(qtbot, workspace, main_window_factory):
    ProjectService(workspace).create("Parts", "classification")
    window = shown_window(main_window_factory, qtbot, workspace)
    qtbot.wait(50)
    assert getattr(window, "welcome_dialog", None) is None
    # Help › Welcome shows it anyway; unticking "show" is remembered
    dialog = window.show_welcome()
    assert dialog.isVisible()
    dialog.show_at_start.setChecked(False)
    assert not welcome_module.show_when_empty()


def test_recent_workspaces_newest_first_and_one_click_to_switch(qtbot, tmp_path, workspace, main_window_factory):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    welcome_module.remember_workspace(a)
    welcome_module.remember_workspace(b)
    welcome_module.remember_workspace(a)
    assert welcome_module.recent_workspaces()[:2] == [str(a.resolve()), str(b.resolve())]
    b.rmdir()  # gone folders are not offered
    assert str(b.resolve()) not in welcome_module.recent_workspaces()
    window = shown_window(main_window_factory, qtbot, workspace)
    dialog = window.show_welcome()
    paths = [btn.text() for btn in dialog.recent_buttons]
    assert str(a.resolve()) in paths and str(workspace.root.resolve()) not in paths  # not the open one
    button = dialog.recent_buttons[paths.index(str(a.resolve()))]
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert window.requested_workspace == str(a.resolve())


def test_tour_points_at_each_workflow_step_and_raises_its_page(qtbot, workspace, main_window_factory):
    ProjectService(workspace).create("Parts", "classification")
    window = shown_window(main_window_factory, qtbot, workspace)
    tour = window.start_tour()
    assert len(tour.steps) == len(PAGES) + 3
    assert tour.isVisible() and tour.geometry() == window.rect()
    tour.next()  # step 2: the first page
    for spec in PAGES:
        button = window.workflow.widgetForAction(window.workflow.actions_by_key[spec.key])
        centre = button.mapTo(window, button.rect().center())
        assert tour.target_rect.contains(centre), spec.key  # the hole is on the real button
        assert window.workflow.current() == spec.key
        assert spec.title in tour.title.text()
        bubble = tour.bubble.geometry()
        assert window.rect().contains(bubble) and not bubble.intersects(tour.target_rect)
        tour.next()
    finished = []
    tour.finished.connect(finished.append)
    qtbot.keyClick(tour, Qt.Key.Key_Escape)
    assert finished == [False] and not tour.isVisible()


def test_tour_finish_on_the_last_step(qtbot, workspace, main_window_factory):
    ProjectService(workspace).create("Parts", "classification")
    window = shown_window(main_window_factory, qtbot, workspace)
    tour = window.start_tour()
    finished = []
    tour.finished.connect(finished.append)
    for _ in range(len(tour.steps) - 1):
        qtbot.keyClick(tour, Qt.Key.Key_Right)
    assert tour.next_button.text() == "Finish"
    qtbot.mouseClick(tour.next_button, Qt.MouseButton.LeftButton)
    assert finished == [True]


def test_shortcut_list_is_read_from_the_window(qtbot, workspace, main_window_factory):
    ProjectService(workspace).create("Parts", "classification")
    window = shown_window(main_window_factory, qtbot, workspace)
    dialog = window._show_shortcuts()
    rows = {(r.keys, r.where) for r in dialog.rows}
    for i, spec in enumerate(PAGES, 1):
        assert (f"Ctrl+{i}", "Workflow bar") in rows, spec.key
    actions = {r.keys: r.action for r in dialog.rows}
    assert actions["Ctrl+N"].startswith("New project") and actions["Ctrl+I"].startswith("Import a dataset")
    assert actions["F1"] == "Keyboard shortcuts" and actions["Ctrl+3"] == "Show the Split page"
    assert ("Del", "Project page") in rows or ("Delete", "Project page") in rows  # a page's own action
    dialog.search.setText("import")
    visible = [dialog.table.item(i, 1).text() for i in range(dialog.table.rowCount())
               if not dialog.table.isRowHidden(i)]
    assert any("Import" in t for t in visible) and not any(t.startswith("Quit") for t in visible)


def _fake_program(monkeypatch, tmp_path, module: str, body: str) -> None:
    script = tmp_path / "fake.py"
    script.write_text("import json, sys, time\n" + textwrap.dedent(body), encoding="utf-8")
    monkeypatch.setattr(f"studio_desktop.gui.{module}.app_command", lambda *args: [sys.executable, str(script)])


DIAGNOSTICS = {"versions": {"AI Studio": "0.1.0", "Python": "3.11.7", "PyTorch": "2.14.1", "ONNX Runtime": "1.31.1"},
               "cuda_build": "13.0", "platform": "Linux", "frozen": True,
               "devices": [{"kind": "cpu", "name": "AMD EPYC", "cores": 2},
                           {"kind": "cuda", "index": 0, "name": "NVIDIA H200", "memory_gib": 139.8}]}


def test_about_shows_versions_and_devices_from_a_child_process(qtbot, tmp_path, workspace, monkeypatch):
    from studio_desktop.gui.about import AboutDialog

    _fake_program(monkeypatch, tmp_path, "about", f"print(json.dumps({DIAGNOSTICS!r}))")
    dialog = AboutDialog(str(workspace.root))
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.info is not None, timeout=20000)
    assert "PyTorch 2.14.1" in dialog.ml_label.text() and "ONNX Runtime 1.31.1" in dialog.ml_label.text()
    assert dialog.device_label.text().splitlines() == ["CPU: AMD EPYC, 2 cores", "GPU 0: NVIDIA H200, 139.8 GiB"]
    qtbot.mouseClick(dialog.copy_button, Qt.MouseButton.LeftButton)
    text = QGuiApplication.clipboard().text()
    assert f"Workspace: {workspace.root}" in text and "GPU 0: NVIDIA H200, 139.8 GiB" in text
    assert "PyTorch: 2.14.1" in text and "Bundle: yes" in text


def test_about_says_when_the_ml_libraries_cannot_be_read(qtbot, tmp_path, workspace, monkeypatch):
    from studio_desktop.gui.about import AboutDialog

    _fake_program(monkeypatch, tmp_path, "about", "print('error: torch is broken', file=sys.stderr); sys.exit(1)")
    dialog = AboutDialog(str(workspace.root))
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: bool(dialog.error), timeout=20000)
    assert "torch is broken" in dialog.ml_label.text()
    assert "torch is broken" in dialog.diagnostics_text()


SELFTEST_EVENTS = [
    {"event": "begin", "version": "0.1.0", "folder": "/tmp/x", "tasks": ["classification"], "steps": 3,
     "device": "auto", "executable": "ai-studio", "frozen": True},
    {"event": "step", "task": "", "step": "processes", "title": "Start a background process (spawn)",
     "status": "running"},
    {"event": "step", "task": "", "step": "processes", "title": "Start a background process (spawn)",
     "status": "passed", "seconds": 0.4, "detail": "child pid 7"},
    {"event": "task", "task": "classification", "title": "Image classification"},
    {"event": "step", "task": "classification", "step": "train", "title": "Train one short run", "status": "running"},
    {"event": "step", "task": "classification", "step": "train", "title": "Train one short run",
     "status": "failed", "seconds": 3.2, "detail": "error: out of memory"},
    {"event": "step", "task": "classification", "step": "export", "title": "Export ONNX and validate it",
     "status": "running"},
    {"event": "step", "task": "classification", "step": "export", "title": "Export ONNX and validate it",
     "status": "not available", "seconds": 0.1, "detail": "exporting is not available in this version"},
    {"event": "end", "ok": False, "passed": 1, "failed": 1, "not_available": 1, "seconds": 3.7},
]


def test_selftest_dialog_shows_each_step_live(qtbot, tmp_path, monkeypatch):
    from studio_desktop.gui.selftest_dialog import SelfTestDialog

    lines = "\n".join(f"print({json.dumps(json.dumps(e))}, flush=True); time.sleep(0.02)" for e in SELFTEST_EVENTS)
    _fake_program(monkeypatch, tmp_path, "selftest_dialog", lines)
    dialog = SelfTestDialog()
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.done, timeout=20000) as done:
        pass
    assert done.args == [False]
    first = dialog.tree.topLevelItem(0)
    assert (first.text(0), first.text(1), first.text(2)) == ("Start a background process (spawn)", "passed", "0.4 s")
    task = dialog.tree.topLevelItem(1)
    assert task.text(0) == "Image classification" and task.childCount() == 2
    assert (task.child(0).text(1), task.child(0).text(3)) == ("failed", "error: out of memory")
    assert task.child(1).text(1) == "not available"
    assert dialog.summary.text().startswith("Self-test FAILED: 1 passed, 1 failed, 1 not available")
    assert "[FAIL]    3.2 s  Train one short run  error: out of memory" in dialog.results_text()
    qtbot.waitUntil(lambda: not dialog.running(), timeout=10000)
    assert not dialog.stop_button.isEnabled() and dialog.again_button.isEnabled()


def test_selftest_dialog_stop_ends_the_run(qtbot, tmp_path, monkeypatch):
    from studio_desktop.gui.selftest_dialog import SelfTestDialog

    _fake_program(monkeypatch, tmp_path, "selftest_dialog",
                  f"print({json.dumps(json.dumps(SELFTEST_EVENTS[0]))}, flush=True)\ntime.sleep(60)\n")
    dialog = SelfTestDialog()
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: len(dialog.events) == 1, timeout=20000)
    assert dialog.stop_button.isEnabled()
    with qtbot.waitSignal(dialog.done, timeout=20000):
        qtbot.mouseClick(dialog.stop_button, Qt.MouseButton.LeftButton)
    assert not dialog.running()
    assert "ended before it finished" in dialog.summary.text()


def test_help_menu_offers_welcome_tour_shortcuts_and_about(qtbot, workspace, main_window_factory):
    window = shown_window(main_window_factory, qtbot, workspace)
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    texts = [a.text().replace("&", "") for a in help_menu.actions() if not a.isSeparator()]
    assert texts == ["Welcome", "Take the tour", "Keyboard shortcuts", "About AI Studio"]
    assert QApplication.instance() is not None


def test_icons_are_drawn_sharp_at_high_dpi_scales(qtbot):
    from PySide6.QtCore import QSize

    from studio_desktop.gui import theme

    for icon in [theme.app_icon(), *(theme.task_icon(t) for t in TASKS)]:
        pix = icon.pixmap(QSize(32, 32), 3.0)  # a 3x screen: drawn from the SVG at 96 px, not scaled up
        assert (pix.width(), pix.height()) == (96, 96) and pix.devicePixelRatio() == 3.0
    assert theme.badge_pixmap("classification").devicePixelRatio() >= 2.0
