"""Import from anywhere in the window: a folder or ZIP dropped on it, or File › Import a dataset….

The data goes into the open project; with none open the user is asked which project (or to
create one, its name taken from the folder). The import itself is the Dataset page's import
dialog (format detection, progress, cancel, report), opened with the dropped path filled in,
so there is one import path in the app.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..core.errors import StudioError
from ..core.schemas import Project
from ..tasks import TASKS

#: what can be dropped: folders, ZIP archives and the annotation files the importer reads
DROPPABLE_SUFFIXES = (".zip", ".json", ".csv")
NEW_PROJECT = "new"


def droppable_paths(mime) -> list[Path]:
    """The local folders and importable files a drag carries (others are ignored)."""
    if mime is None or not mime.hasUrls():
        return []
    out = []
    for url in mime.urls():
        if not url.isLocalFile():
            continue
        path = Path(url.toLocalFile())
        if path.is_dir() or (path.is_file() and path.suffix.lower() in DROPPABLE_SUFFIXES):
            out.append(path)
    return out


class ChooseProjectDialog(QDialog):
    """Which project should the images go into? (or a new one)"""

    def __init__(self, projects: list[Project], source: Path | None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("choose_project_dialog")
        self.setWindowTitle("Import into which project?")
        self.choice: Project | str | None = None
        lay = QVBoxLayout(self)
        what = f"'{source.name}'" if source is not None else "the dataset"
        label = QLabel(f"No project is open. Choose the project to import {what} into, or create a new one.")
        label.setWordWrap(True)
        lay.addWidget(label)
        self.list = QListWidget(self)
        self.list.setObjectName("choose_project_list")
        for p in sorted(projects, key=lambda p: p.name.casefold()):
            task = TASKS.get(p.task)
            item = QListWidgetItem(f"{p.name}  —  {task.display_name if task else p.task}")
            item.setData(Qt.ItemDataRole.UserRole, p)
            self.list.addItem(item)
        self.list.setCurrentRow(0)
        self.list.itemDoubleClicked.connect(lambda _i: self.accept())
        lay.addWidget(self.list)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Import here")
        self.new_button = QPushButton("New project…")
        self.new_button.setToolTip("Create a project for these images first")
        buttons.addButton(self.new_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.new_button.clicked.connect(self._new)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

    def _new(self) -> None:
        self.choice = NEW_PROJECT
        super().accept()

    def accept(self) -> None:
        item = self.list.currentItem()
        if item is None:
            return
        self.choice = item.data(Qt.ItemDataRole.UserRole)
        super().accept()


def choose_project(parent: QWidget, projects: list[Project], source: Path | None) -> Project | str | None:
    """A project, :data:`NEW_PROJECT`, or None when the user cancelled (tests replace this)."""
    dialog = ChooseProjectDialog(projects, source, parent)
    return dialog.choice if dialog.exec() == QDialog.DialogCode.Accepted else None


def create_project(window, suggested_name: str) -> Project | None:
    """Ask for a new project's name and task (the Project page's dialog); None if cancelled."""
    from .pages.project.controller import ProjectController
    from .pages.project.dialogs import CreateProjectDialog

    controller = ProjectController(window.ctx.projects)
    dialog = CreateProjectDialog(controller, window)
    if suggested_name:
        dialog.name_edit.setText(suggested_name)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    try:
        project = controller.create(dialog.name(), dialog.task_id())
    except StudioError as exc:
        QMessageBox.warning(window, "AI Studio", f"Cannot create the project: {exc}")
        return None
    window.ctx.projectsChanged.emit()
    return project


class ImportFlow(QObject):
    """Drop target for the whole main window and the File › Import a dataset… action."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        window.setAcceptDrops(True)
        window.installEventFilter(self)

    @property
    def ctx(self):
        return self.window.ctx

    def eventFilter(self, obj, event) -> bool:
        kind = event.type()
        if obj is self.window and kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove):
            if not self.ctx.read_only and droppable_paths(event.mimeData()):
                event.acceptProposedAction()
                return True
        elif obj is self.window and kind == QEvent.Type.Drop:
            paths = droppable_paths(event.mimeData())
            if paths and not self.ctx.read_only:
                event.acceptProposedAction()
                if len(paths) > 1:
                    self.window.statusBar().showMessage(
                        f"Importing {paths[0].name}; drop the other {len(paths) - 1} one at a time", 8000)
                self.start(paths[0])
                return True
        return super().eventFilter(obj, event)

    def target_project(self, source: Path | None) -> Project | None:
        """The open project, or the one the user picks (or creates) now."""
        if self.ctx.project is not None:
            return self.ctx.project
        projects = self.ctx.projects.list()
        choice = choose_project(self.window, projects, source) if projects else NEW_PROJECT
        if choice == NEW_PROJECT:
            return create_project(self.window, source.stem if source is not None else "")
        return choice if isinstance(choice, Project) else None

    def start(self, source: Path | None = None):
        """Open the import dialog for ``source`` (None: the user picks in the dialog)."""
        if self.ctx.read_only:
            QMessageBox.information(self.window, "AI Studio", "This workspace is open read-only: "
                                    "nothing can be imported. Close the other AI Studio first.")
            return None
        project = self.target_project(source)
        if project is None:
            return None
        if self.ctx.project is None or self.ctx.project.id != project.id:
            self.ctx.open_project(project)
        self.window.show_page("dataset")
        page = self.window.page("dataset")
        open_import = getattr(page, "open_import", None)
        if open_import is None:
            QMessageBox.information(self.window, "AI Studio", "Importing is not available in this build.")
            return None
        return open_import(source)
