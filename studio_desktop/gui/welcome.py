"""The welcome screen: what a newcomer sees when the workspace has no projects (and Help › Welcome).

One button per task creates its sample project (the task's one-line description under its
name, from the task registry, so a new task appears here without edits); "Import a dataset…"
and "Open workspace…" start from the user's own data; recent workspaces reopen with one
click; "Take the tour" points at the real widgets of the window (gui/tour.py).

The dialog only *asks*: it emits what the user chose and the main window does it (the same
actions as its menus), so nothing here duplicates the Project or Dataset pages.
"""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QCommandLinkButton,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..tasks import TASKS
from . import theme

RECENT_KEY = "session/recent_workspaces"
SHOW_AT_START_KEY = "welcome/show_when_empty"
RECENT_MAX = 6


def one_line(description: str) -> str:
    """The first sentence of a task description (what the task does)."""
    match = re.match(r"(.+?[.!?])(\s|$)", description.strip())
    return match.group(1) if match else description.strip()


def recent_workspaces() -> list[str]:
    """Workspaces opened before, newest first (only those that still exist)."""
    value = theme.settings().value(RECENT_KEY, [])
    items = [value] if isinstance(value, str) else list(value or [])
    return [p for p in items if p and Path(p).is_dir()]


def remember_workspace(path: str | Path) -> None:
    """Put ``path`` first in the recent workspaces."""
    path = str(Path(path).resolve())
    items = [p for p in recent_workspaces() if p != path]
    theme.settings().setValue(RECENT_KEY, [path, *items][:RECENT_MAX])


def show_when_empty() -> bool:
    value = theme.settings().value(SHOW_AT_START_KEY, True)
    return value not in (False, "false", "0", 0)


class WelcomeDialog(QDialog):
    """Choices for a first start; each signal is handled by the main window."""

    sampleRequested = Signal(str)
    importRequested = Signal()
    openWorkspaceRequested = Signal()
    workspaceRequested = Signal(str)
    tourRequested = Signal()

    def __init__(self, current_workspace: str, *, read_only: bool = False, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("welcome_dialog")
        self.setWindowTitle("Welcome to AI Studio")
        lay = QVBoxLayout(self)
        lay.setSpacing(12)

        head = QHBoxLayout()
        logo = QLabel(self)
        logo.setPixmap(theme.app_icon().pixmap(QSize(56, 56)))
        head.addWidget(logo, 0, Qt.AlignmentFlag.AlignTop)
        intro = QLabel(
            "<h2 style='margin:0'>Welcome to AI Studio</h2>"
            "<p>Train, evaluate and export deep-learning models for images on this computer, offline. "
            "A project holds the images and models of one task. Start with a sample project to try the "
            "whole workflow in a few minutes, or bring your own images.</p>", self)
        intro.setWordWrap(True)
        head.addWidget(intro, 1)
        lay.addLayout(head)

        samples = QGroupBox("Try it with a sample project", self)
        grid = QGridLayout(samples)
        self.sample_buttons: dict[str, QCommandLinkButton] = {}
        for i, task in enumerate(TASKS.values()):
            line = one_line(task.description)
            button = QCommandLinkButton(task.display_name, line, samples)
            button.setObjectName(f"welcome_sample_{task.id}")
            button.setIcon(theme.task_icon(task.id))
            button.setIconSize(QSize(28, 28))
            button.setMinimumWidth(390)
            # room for a two-line description (the button sizes itself for one)
            button.setMinimumHeight(button.fontMetrics().lineSpacing() * 3 + 20)
            tip = f"Create '{task.display_name} sample': a small generated dataset, imported and ready."
            if not task.trainable:
                tip += " This version can import, check and split it; training comes in a later version."
            button.setToolTip(tip)
            button.setEnabled(not read_only)
            button.clicked.connect(lambda _c=False, t=task.id: self._choose(self.sampleRequested, t))
            grid.addWidget(button, i // 2, i % 2)
            self.sample_buttons[task.id] = button
        lay.addWidget(samples)

        own = QGroupBox("Start from your own data", self)
        row = QHBoxLayout(own)
        self.import_button = self._button("Import a dataset…", "Import a folder or ZIP of images (with their "
                                          "annotations) into a project (Ctrl+I)", self.importRequested, row)
        self.import_button.setEnabled(not read_only)
        self.open_button = self._button("Open workspace…", "Work in another workspace folder (Ctrl+Shift+O)",
                                        self.openWorkspaceRequested, row)
        self.tour_button = self._button("Take the tour", "A short walk through the six pages of the window",
                                        self.tourRequested, row)
        row.addStretch(1)
        lay.addWidget(own)

        recent = [p for p in recent_workspaces() if Path(p) != Path(current_workspace)]
        self.recent_buttons: list[QPushButton] = []
        if recent:
            box = QGroupBox("Recent workspaces", self)
            col = QVBoxLayout(box)
            for path in recent:
                b = QPushButton(path, box)
                b.setFlat(True)
                b.setStyleSheet("text-align: left; padding: 2px 6px;")
                b.setToolTip(f"Open the workspace {path}")
                b.clicked.connect(lambda _c=False, p=path: self._choose(self.workspaceRequested, p))
                col.addWidget(b)
                self.recent_buttons.append(b)
            lay.addWidget(box)

        bottom = QHBoxLayout()
        self.show_at_start = QCheckBox("Show this when the workspace has no projects", self)
        self.show_at_start.setToolTip("Help › Welcome shows it at any time")
        self.show_at_start.setChecked(show_when_empty())
        self.show_at_start.toggled.connect(lambda on: theme.settings().setValue(SHOW_AT_START_KEY, on))
        bottom.addWidget(self.show_at_start, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        bottom.addWidget(buttons)
        lay.addLayout(bottom)
        self.setMinimumWidth(840)

    def _button(self, text: str, tip: str, signal, row) -> QPushButton:
        b = QPushButton(text, self)
        b.setToolTip(tip)
        b.clicked.connect(lambda: self._choose(signal))
        row.addWidget(b)
        return b

    def _choose(self, signal, *args) -> None:
        self.accept()
        signal.emit(*args)


def open_welcome(window) -> WelcomeDialog:
    """Show the welcome screen over the main window, each choice wired to the window's action."""
    dialog = WelcomeDialog(str(window.ctx.workspace.root), read_only=window.ctx.read_only, parent=window)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.sampleRequested.connect(lambda task_id: create_sample(window, task_id))
    dialog.importRequested.connect(lambda: window.import_flow.start())
    dialog.openWorkspaceRequested.connect(window._open_workspace)
    dialog.workspaceRequested.connect(window.switch_workspace)
    dialog.tourRequested.connect(window.start_tour)
    dialog.open()
    window.welcome_dialog = dialog
    return dialog


def create_sample(window, task_id: str) -> None:
    """The Project page makes the sample off the GUI thread, with progress, and opens it."""
    window.show_page("project")
    start = getattr(window.page("project"), "start_sample", None)
    if start is not None:
        start(task_id)
