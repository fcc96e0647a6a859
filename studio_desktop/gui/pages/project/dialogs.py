"""Dialogs of the Project page: a new project (name + task) and a sample project (task).

The task chooser shows every task of the registry with its icon and, below the list, the
selected task's description paragraph, so a newcomer can pick without knowing the jargon.
OK stays disabled while the input cannot be used, and the dialog says why next to it.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ....tasks import TASKS, TaskInfo
from ...theme import task_icon
from .controller import ProjectController

__all__ = ["CreateProjectDialog", "SampleProjectDialog", "TaskList", "TaskChooser"]

TASK_ROLE = Qt.ItemDataRole.UserRole + 1


class TaskList(QListWidget):
    """Every task of the registry, with its icon and display name."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("task_list")
        self.setIconSize(QSize(24, 24))
        for task in TASKS.values():
            item = QListWidgetItem(task_icon(task.id), task.display_name, self)
            item.setData(TASK_ROLE, task.id)
            item.setToolTip(task.description)

    def task_id(self) -> str | None:
        item = self.currentItem()
        return item.data(TASK_ROLE) if item is not None else None

    def task(self) -> TaskInfo | None:
        tid = self.task_id()
        return TASKS.get(tid) if tid else None

    def select_task(self, task_id: str) -> None:
        for row in range(self.count()):
            if self.item(row).data(TASK_ROLE) == task_id:
                self.setCurrentRow(row)
                return


class TaskChooser(QWidget):
    """A list of the tasks plus the description of the selected one."""

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.list = TaskList(self)
        self.description = QLabel(self)
        self.description.setObjectName("task_description")
        self.description.setWordWrap(True)
        self.description.setTextFormat(Qt.TextFormat.RichText)
        self.description.setMinimumHeight(80)
        self.description.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        lay.addWidget(self.list, 1)
        lay.addWidget(self.description)
        self.list.currentItemChanged.connect(self._show_description)
        self.list.setCurrentRow(0)

    def task_id(self) -> str | None:
        return self.list.task_id()

    def _show_description(self, *_args) -> None:
        task = self.list.task()
        if task is None:
            self.description.setText("")
            return
        example = f"<br><i>Example: {task.example}.</i>" if task.example else ""
        self.description.setText(f"<b>{task.display_name}</b><br>{task.description}{example}")


class _TaskDialog(QDialog):
    def __init__(self, title: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.resize(560, 520)
        self.layout_ = QVBoxLayout(self)
        self.chooser = TaskChooser(self)
        self.reason = QLabel(self)
        self.reason.setObjectName("reason")
        self.reason.setStyleSheet("color: #d62728;")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

    @property
    def ok_button(self):
        return self.buttons.button(QDialogButtonBox.StandardButton.Ok)

    def task_id(self) -> str | None:
        return self.chooser.task_id()


class CreateProjectDialog(_TaskDialog):
    """Name and task of a new project; OK is disabled (with the reason) until both are valid."""

    def __init__(self, controller: ProjectController, parent=None):
        super().__init__("New project", parent)
        self.controller = controller
        self.name_edit = QLineEdit(self)
        self.name_edit.setObjectName("project_name")
        self.name_edit.setPlaceholderText("e.g. Scratch inspection")
        self.name_edit.setToolTip("A name for the project, unique in this workspace. You can rename it later.")
        self.name_edit.setClearButtonEnabled(True)
        task_label = QLabel("What should the model learn to do?", self)
        self.layout_.addWidget(QLabel("Project name:", self))
        self.layout_.addWidget(self.name_edit)
        self.layout_.addSpacing(8)
        self.layout_.addWidget(task_label)
        self.layout_.addWidget(self.chooser, 1)
        self.layout_.addWidget(self.reason)
        self.layout_.addWidget(self.buttons)
        self.ok_button.setText("Create")
        self.name_edit.textChanged.connect(self._validate)
        self.chooser.list.currentItemChanged.connect(self._validate)
        self._validate()
        self.name_edit.setFocus()

    def name(self) -> str:
        return self.name_edit.text().strip()

    def problem(self) -> str | None:
        if not self.name():
            return "Type a name for the project."
        reason = self.controller.name_problem(self.name())
        if reason:
            return reason[0].upper() + reason[1:] + "."
        if self.task_id() is None:
            return "Choose a task."
        return None

    def _validate(self, *_args) -> None:
        reason = self.problem()
        self.ok_button.setEnabled(reason is None)
        self.ok_button.setToolTip(reason or "Create the project and open it")
        self.reason.setText(reason or "")


class SampleProjectDialog(_TaskDialog):
    """Pick the task of a ready-made sample project (small generated images with annotations)."""

    def __init__(self, parent=None):
        super().__init__("Create sample project", parent)
        intro = QLabel("A sample project comes with a small generated dataset, so you can try the "
                       "whole workflow right away. Which task should it demonstrate?", self)
        intro.setWordWrap(True)
        self.layout_.addWidget(intro)
        self.layout_.addWidget(self.chooser, 1)
        self.layout_.addWidget(self.buttons)
        self.ok_button.setText("Create sample")
        self.ok_button.setToolTip("Generate the sample project and open it")
