"""The workflow bar: the six steps "1 Project" … "6 Export" as checkable buttons.

It shows where the user is in the workflow and raises a page with one click or Ctrl+1..6.
It knows nothing about docks: it emits :attr:`WorkflowBar.stepRequested` with the page key and
the main window raises the page; the window calls :meth:`WorkflowBar.set_current` back when
the user switches pages some other way (clicking a dock tab).
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QToolBar

from ..pages import PageSpec


class WorkflowBar(QToolBar):
    """A toolbar with one exclusive, checkable action per workflow page."""

    #: the user asked for a page (by key)
    stepRequested = Signal(str)

    def __init__(self, pages: list[PageSpec], parent=None):
        super().__init__("Workflow", parent)
        self.setObjectName("workflow_bar")
        self.setMovable(False)
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.setIconSize(QSize(16, 16))
        self.setToolTip("The steps of the workflow, in order. Click a step (or press Ctrl+number) "
                        "to show its page.")
        self._group = QActionGroup(self)
        self._group.setExclusive(True)
        self.actions_by_key: dict[str, QAction] = {}
        for number, page in enumerate(pages, start=1):
            action = QAction(f"{number} {page.title}", self)
            action.setCheckable(True)
            action.setObjectName(f"step_{page.key}")
            if number <= 9:
                action.setShortcut(QKeySequence(f"Ctrl+{number}"))
                action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
                shortcut = f" ({action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)})"
            else:
                shortcut = ""
            action.setToolTip(f"Step {number}: {page.title}{shortcut}\n{page.tooltip}")
            action.setStatusTip(page.tooltip)
            action.triggered.connect(lambda _checked=False, key=page.key: self.stepRequested.emit(key))
            self._group.addAction(action)
            self.addAction(action)
            self.actions_by_key[page.key] = action
            if number < len(pages):
                arrow = self.addAction("›")
                arrow.setEnabled(False)

    def set_current(self, key: str) -> None:
        """Check the step of page ``key`` without emitting :attr:`stepRequested`."""
        action = self.actions_by_key.get(key)
        if action is not None and not action.isChecked():
            action.setChecked(True)

    def current(self) -> str | None:
        checked = self._group.checkedAction()
        for key, action in self.actions_by_key.items():
            if action is checked:
                return key
        return None
