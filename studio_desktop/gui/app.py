"""Start the desktop application: QApplication, workspace, theme, main window.

``run_gui(argv)`` is what ``python -m studio_desktop`` (and the double-clicked bundle) calls.
It opens the workspace given by ``--workspace DIR`` (else $STUDIO_WORKSPACE, else the last one
chosen with File > Open workspace, else the platform's app-data folder). When another AI Studio
holds the workspace lock, the user is told who and the window opens read-only.
"""

from __future__ import annotations

import os
import sys
import time

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from ..core.errors import StudioError
from ..core.workspace import ENV_VAR, Workspace
from . import theme
from .context import AppContext
from .gc_policy import GuiThreadCollector
from .main_window import MainWindow

#: remembers the folder picked with File > Open workspace
WORKSPACE_DIR_KEY = "session/workspace_dir"
#: set (to anything) by the self-test and the bundle start-up benchmark: once the window is on
#: screen the app prints "SHOWN <epoch seconds>" and quits, saving nothing
STARTUP_PROBE_ENV = "STUDIO_STARTUP_PROBE"


def parse_workspace_arg(argv: list[str]) -> str | None:
    """The value of ``--workspace DIR`` or ``--workspace=DIR`` (None when absent)."""
    for i, arg in enumerate(argv):
        if arg == "--workspace" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--workspace="):
            return arg.split("=", 1)[1]
    return None


def ensure_application(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0] if sys.argv else "ai-studio", *(argv or [])])
    app.setOrganizationName(theme.ORGANIZATION)
    app.setApplicationName(theme.APPLICATION)
    app.setApplicationDisplayName("AI Studio")
    app.setDesktopFileName("ai-studio")  # Wayland docks match the window to ai-studio.desktop (its icon)
    app.setWindowIcon(theme.app_icon())
    if not any(c.timer.isActive() for c in app.findChildren(GuiThreadCollector)):  # gc_policy.py
        GuiThreadCollector(parent=app).start()
    return app


def open_workspace(path: str | None, parent: QWidget | None = None) -> Workspace | None:
    """Open the workspace, telling the user when it is read-only; None (after a message) on error."""
    try:
        ws = Workspace.open(path)
    except StudioError as exc:
        QMessageBox.critical(parent, "AI Studio", f"Cannot open the workspace: {exc}")
        return None
    if not ws.writable:
        QMessageBox.warning(
            parent, "AI Studio — workspace in use",
            f"{ws.read_only_reason or 'Another AI Studio is using this workspace.'}\n\n"
            "This window is read-only: you can look at projects and results, but not change them. "
            "Close the other AI Studio and restart this one to make changes.")
    return ws


def build_main_window(ws: Workspace) -> MainWindow:
    """Context + main window for an open workspace (also used by tests and the start-up benchmark)."""
    ctx = AppContext(ws)
    ctx.projects.purge_leftovers()
    window = MainWindow(ctx)
    ctx.setParent(window)
    window.reopen_last_project()
    return window


def _report_shown(app: QApplication) -> None:
    print(f"SHOWN {time.time():.3f}", flush=True)
    app.quit()


def run_gui(argv: list[str]) -> int:
    app = ensure_application(argv)
    theme.apply_theme(theme.saved_theme())
    theme.follow_system_changes()
    path = parse_workspace_arg(argv)
    if path is None and not os.environ.get(ENV_VAR):
        path = str(theme.settings().value(WORKSPACE_DIR_KEY, "") or "") or None
    while True:
        ws = open_workspace(path)
        if ws is None:
            return 1
        try:
            window = build_main_window(ws)
            window.show()
            if os.environ.get(STARTUP_PROBE_ENV):
                QTimer.singleShot(0, app, lambda: _report_shown(app))
            code = app.exec()
            next_path = window.requested_workspace
            window.deleteLater()
        finally:
            ws.close()
        if not next_path:
            return code
        theme.settings().setValue(WORKSPACE_DIR_KEY, next_path)
        path = next_path
