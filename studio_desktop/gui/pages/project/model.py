"""The project table: one row per project, plus greyed rows for folders that cannot be read.

A thin :class:`QAbstractTableModel` over a :class:`ProjectListing`. The name column is
editable in place (rename); the edit goes through a callback that raises
:class:`StudioError`, and the model reports that as :attr:`ProjectTableModel.errorOccurred`
instead of letting it escape into Qt.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

from ....core.errors import StudioError
from ....core.projects import ProjectProblem, ProjectSummary
from ....core.schemas import Project
from ....tasks import TASKS
from ...theme import badge_pixmap

NAME, TASK, IMAGES, EXPERIMENTS, MODIFIED = range(5)
HEADERS = ["Name", "Task", "Images", "Experiments", "Last modified"]
HEADER_TIPS = [
    "The project's name; press F2 or double-click it to rename",
    "What the project's model learns to do",
    "How many images are in the project's dataset",
    "How many training runs the project has",
    "When the project or its dataset last changed",
]
#: a sortable value for each cell (numbers and timestamps sort as such)
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
#: the ProjectSummary or ProjectProblem of a row
ENTRY_ROLE = Qt.ItemDataRole.UserRole + 2

Entry = ProjectSummary | ProjectProblem


class ProjectTableModel(QAbstractTableModel):
    #: a rename or other edit failed; the one-line reason
    errorOccurred = Signal(str)
    #: a project was renamed in place (the saved Project)
    renamed = Signal(object)

    def __init__(self, rename: Callable[[str, str], Project] | None = None, parent=None):
        super().__init__(parent)
        self._rows: list[Entry] = []
        self._rename = rename
        self.editable = rename is not None
        #: the open project's id: its row is shown in bold
        self.current_id: str | None = None

    # ------------------------------------------------------------------ content
    def set_entries(self, projects: list[ProjectSummary], problems: list[ProjectProblem]) -> None:
        self.beginResetModel()
        self._rows = [*projects, *problems]
        self.endResetModel()

    def set_current(self, project_id: str | None) -> None:
        self.current_id = project_id
        if self._rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, len(HEADERS) - 1))

    def entry(self, row: int) -> Entry | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, project_id: str) -> int:
        for i, e in enumerate(self._rows):
            if isinstance(e, ProjectSummary) and e.project.id == project_id:
                return i
        return -1

    # ------------------------------------------------------------------ Qt model API
    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(HEADERS):
            if role == Qt.ItemDataRole.DisplayRole:
                return HEADERS[section]
            if role == Qt.ItemDataRole.ToolTipRole:
                return HEADER_TIPS[section]
        return None

    def flags(self, index):
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        entry = self._rows[index.row()]
        flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.column() == NAME and self.editable and isinstance(entry, ProjectSummary):
            flags |= Qt.ItemFlag.ItemIsEditable
        return flags

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        entry = self._rows[index.row()]
        if role == ENTRY_ROLE:
            return entry
        if isinstance(entry, ProjectProblem):
            return self._problem_data(entry, index.column(), role)
        return self._project_data(entry, index.column(), role)

    def _project_data(self, s: ProjectSummary, col: int, role):
        task = TASKS.get(s.project.task)
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            return {NAME: s.project.name,
                    TASK: task.display_name if task else f"unknown task '{s.project.task}'",
                    IMAGES: f"{s.images:,}",
                    EXPERIMENTS: f"{s.experiments:,}",
                    MODIFIED: s.modified.astimezone().strftime("%Y-%m-%d %H:%M")}[col]
        if role == SORT_ROLE:
            return {NAME: s.project.name.casefold(), TASK: task.display_name if task else "",
                    IMAGES: s.images, EXPERIMENTS: s.experiments,
                    MODIFIED: s.modified.timestamp()}[col]
        if role == Qt.ItemDataRole.FontRole and s.project.id == self.current_id:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.DecorationRole and col == TASK:
            return badge_pixmap(s.project.task)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == TASK and task is not None:
                return f"{task.display_name} ({task.badge}): {task.description}"
            return f"{s.project.name} — {s.folder}"
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (IMAGES, EXPERIMENTS):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _problem_data(self, p: ProjectProblem, col: int, role):
        if role == Qt.ItemDataRole.DisplayRole:
            reason = p.reason.replace(f"{p.folder}{os.sep}", "")  # the folder is in the name column
            return {NAME: f"{p.folder.name} (cannot be read)", TASK: reason}.get(col, "")
        if role == SORT_ROLE:
            return {NAME: p.folder.name.casefold(), IMAGES: -1, EXPERIMENTS: -1, MODIFIED: 0.0}.get(col, "")
        if role == Qt.ItemDataRole.ForegroundRole:
            app = QApplication.instance()
            color = (app.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
                     if app is not None else QColor("gray"))
            return QBrush(color)
        if role == Qt.ItemDataRole.ToolTipRole:
            return (f"This project folder cannot be opened: {p.reason}\n"
                    "Fix or remove its project.json; the other projects are not affected.")
        return None

    def setData(self, index, value, role=Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.EditRole or index.column() != NAME or self._rename is None:
            return False
        entry = self._rows[index.row()]
        if not isinstance(entry, ProjectSummary):
            return False
        new_name = str(value)
        if new_name.strip() == entry.project.name:
            return False
        try:
            project = self._rename(entry.project.id, new_name)
        except StudioError as exc:
            self.errorOccurred.emit(f"Cannot rename '{entry.project.name}': {exc}")
            return False
        self._rows[index.row()] = ProjectSummary(project, entry.folder, entry.images, entry.experiments,
                                                 entry.modified)
        self.dataChanged.emit(self.index(index.row(), 0), self.index(index.row(), len(HEADERS) - 1))
        self.renamed.emit(project)
        return True


class ProjectFilterModel(QSortFilterProxyModel):
    """Filters rows by name (case-insensitive substring) and sorts on :data:`SORT_ROLE`."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setFilterKeyColumn(NAME)
        self.setSortRole(SORT_ROLE)
