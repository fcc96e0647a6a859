"""The Project page: the list of projects and what can be done with them.

Step 1 of the workflow. Opening a project (double-click, Enter, or Open) makes every other
page switch to it through ``ctx.open_project``. With no projects yet the page shows a
welcome panel with "Create project" and "Create sample project" instead of an empty table.
In a read-only window every write action is disabled and its tooltip says why.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ....core.errors import StudioError
from ....core.projects import ProjectProblem, ProjectSummary
from ...context import AppContext
from ..placeholder import MessagePanel
from .controller import ProjectController, create_sample, samples_available
from .dialogs import CreateProjectDialog, SampleProjectDialog
from .model import ENTRY_ROLE, NAME, ProjectFilterModel, ProjectTableModel

NO_SAMPLES = "Sample projects are not available in this build."


class _SampleSignals(QObject):
    done = Signal(object)
    failed = Signal(str)


class _SampleJob(QRunnable):
    """Generates a sample project off the GUI thread (it writes a few dozen images)."""

    def __init__(self, workspace, task_id: str):
        super().__init__()
        self.workspace, self.task_id = workspace, task_id
        self.signals = _SampleSignals()

    def run(self) -> None:
        try:
            project = create_sample(self.workspace, self.task_id)
        except StudioError as exc:
            self.signals.failed.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - a bug must reach the user as a message, not kill the thread
            self.signals.failed.emit(f"could not create the sample project: {type(exc).__name__}: {exc}")
        else:
            self.signals.done.emit(project)


class ProjectPage(QWidget):
    def __init__(self, ctx: AppContext, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        self.controller = ProjectController(ctx.projects)
        self._sample_job: _SampleJob | None = None
        self.progress: QProgressDialog | None = None

        self.model = ProjectTableModel(None if ctx.read_only else self.controller.rename, self)
        self.proxy = ProjectFilterModel(self)
        self.proxy.setSourceModel(self.model)

        # ---- top row: search and actions
        self.search = QLineEdit(self)
        self.search.setObjectName("project_search")
        self.search.setPlaceholderText("Search projects by name…")
        self.search.setClearButtonEnabled(True)
        self.search.setToolTip("Show only the projects whose name contains this text")
        self.new_button = self._button("New project…", "Create an empty project (Ctrl+N)", self.create_project)
        self.sample_button = self._button("Sample project…",
                                          "Create a ready-to-train project with a small generated dataset",
                                          self.create_sample_project)
        self.open_button = self._button("Open", "Open the selected project (Enter or double-click)",
                                        self.open_selected)
        self.rename_button = self._button("Rename", "Rename the selected project (F2)", self.rename_selected)
        self.delete_button = self._button("Delete…", "Delete the selected project and all its files (Delete)",
                                          self.delete_selected)
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        for b in (self.open_button, self.rename_button, self.delete_button, self.new_button, self.sample_button):
            top.addWidget(b)

        # ---- the table
        self.table = QTableView(self)
        self.table.setObjectName("project_table")
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                   | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(NAME, Qt.SortOrder.AscendingOrder)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(NAME, QHeaderView.ResizeMode.Stretch)
        header.resizeSection(1, 230)
        for col in range(2, self.model.columnCount()):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setToolTip("Double-click a project (or press Enter) to open it; double-click its name "
                              "or press F2 to rename it; Delete removes it.")
        self.table.activated.connect(self._activated)
        self.table.selectionModel().selectionChanged.connect(self._update_actions)
        self.delete_action = QAction("Delete project", self.table)
        self.delete_action.setShortcut(QKeySequence.StandardKey.Delete)
        self.delete_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.delete_action.triggered.connect(self.delete_selected)
        self.table.addAction(self.delete_action)

        self.status = QLabel(self)
        self.status.setObjectName("project_status")
        self.status.setWordWrap(True)

        # ---- empty state
        self.empty = MessagePanel(
            "Welcome to AI Studio",
            "A project holds the images, annotations and trained models for one task, such as "
            "classifying parts or detecting cells. Create an empty project and import your own "
            "images, or start with a sample project to try the whole workflow in a few minutes.",
            "Create project")
        self.empty.button.clicked.connect(self.create_project)
        self.empty_sample_button = QPushButton("Create sample project", self.empty)
        self.empty_sample_button.setToolTip("Create a ready-to-train project with a small generated dataset")
        self.empty_sample_button.clicked.connect(self.create_sample_project)
        self.empty.layout().insertWidget(self.empty.layout().indexOf(self.empty.button) + 1,
                                         self.empty_sample_button, 0, Qt.AlignmentFlag.AlignHCenter)

        list_panel = QWidget(self)
        lay = QVBoxLayout(list_panel)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.status)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.empty)
        self.stack.addWidget(list_panel)
        outer = QVBoxLayout(self)
        outer.addWidget(self.stack)

        self.search.textChanged.connect(self.proxy.setFilterFixedString)
        self.model.errorOccurred.connect(self._error)
        self.model.renamed.connect(self._renamed)
        ctx.projectsChanged.connect(self.refresh)
        ctx.projectChanged.connect(lambda _p: self._select_current())
        self._apply_read_only()
        self.refresh()

    def _button(self, text: str, tip: str, slot) -> QPushButton:
        b = QPushButton(text, self)
        b.setToolTip(tip)
        b.clicked.connect(slot)
        return b

    # ------------------------------------------------------------------ state
    def refresh(self) -> None:
        listing = self.controller.listing()
        keep = self.selected_project_id() or (self.ctx.project.id if self.ctx.project else None)
        self.model.set_entries(listing.projects, listing.problems)
        self.stack.setCurrentIndex(0 if not listing.projects and not listing.problems else 1)
        n = len(listing.projects)
        text = f"{n} project{'s' if n != 1 else ''} in {self.ctx.workspace.root}"
        if listing.problems:
            text += (f" — {len(listing.problems)} folder(s) could not be read (greyed; hover for the reason)")
        self.status.setText(text)
        if keep:
            self.select_project(keep)
        self._update_actions()

    def _apply_read_only(self) -> None:
        if not self.ctx.read_only:
            return
        tip = self.controller.read_only_reason()
        for b in (self.new_button, self.sample_button, self.rename_button, self.delete_button,
                  self.empty.button, self.empty_sample_button):
            b.setEnabled(False)
            b.setToolTip(tip)
        self.delete_action.setEnabled(False)

    def _update_actions(self, *_args) -> None:
        entry = self.selected_entry()
        is_project = isinstance(entry, ProjectSummary)
        self.open_button.setEnabled(is_project)
        if not self.ctx.read_only:
            self.rename_button.setEnabled(is_project)
            self.delete_button.setEnabled(is_project)

    def selected_entry(self) -> ProjectSummary | ProjectProblem | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].data(ENTRY_ROLE) if rows else None

    def selected_project_id(self) -> str | None:
        entry = self.selected_entry()
        return entry.project.id if isinstance(entry, ProjectSummary) else None

    def select_project(self, project_id: str) -> bool:
        row = self.model.row_of(project_id)
        if row < 0:
            return False
        index = self.proxy.mapFromSource(self.model.index(row, NAME))
        if not index.isValid():
            return False
        self.table.selectRow(index.row())
        self.table.setCurrentIndex(index)
        return True

    def _select_current(self) -> None:
        self.model.set_current(self.ctx.project.id if self.ctx.project else None)
        if self.ctx.project is not None:
            self.select_project(self.ctx.project.id)

    def _error(self, message: str) -> None:
        QMessageBox.warning(self, "AI Studio", message)

    # ------------------------------------------------------------------ actions
    def create_project(self) -> None:
        if self.ctx.read_only:
            return
        dialog = CreateProjectDialog(self.controller, self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        try:
            project = self.controller.create(dialog.name(), dialog.task_id())
        except StudioError as exc:
            self._error(f"Cannot create the project: {exc}")
            return
        self.ctx.projectsChanged.emit()
        self.select_project(project.id)
        self.ctx.open_project(project)

    def create_sample_project(self) -> None:
        if self.ctx.read_only or self._sample_job is not None:
            return
        if not samples_available():
            QMessageBox.information(self, "Sample projects", NO_SAMPLES)
            return
        dialog = SampleProjectDialog(self)
        if dialog.exec() != QDialog.DialogCode.Accepted or dialog.task_id() is None:
            return
        self.start_sample(dialog.task_id())

    def start_sample(self, task_id: str) -> None:
        """Generate a sample project in the thread pool with a busy dialog (no GUI freeze)."""
        self.progress = QProgressDialog("Creating the sample project…", None, 0, 0, self)
        self.progress.setWindowTitle("Sample project")
        self.progress.setCancelButton(None)
        self.progress.setMinimumDuration(0)
        self.progress.setWindowModality(Qt.WindowModality.WindowModal)
        self.progress.show()
        job = _SampleJob(self.ctx.workspace, task_id)
        job.signals.done.connect(self._sample_done)
        job.signals.failed.connect(self._sample_failed)
        self._sample_job = job
        QThreadPool.globalInstance().start(job)

    def _sample_finished(self) -> None:
        self._sample_job = None
        if self.progress is not None:
            self.progress.close()
            self.progress.deleteLater()
            self.progress = None

    def _sample_done(self, project) -> None:
        self._sample_finished()
        self.ctx.projectsChanged.emit()
        self.select_project(project.id)
        self.ctx.open_project(project)

    def _sample_failed(self, message: str) -> None:
        self._sample_finished()
        self._error(f"Cannot create the sample project: {message}")

    def _activated(self, index) -> None:
        self.open_selected()

    def open_selected(self) -> None:
        entry = self.selected_entry()
        if isinstance(entry, ProjectProblem):
            self._error(f"Cannot open {entry.folder}: {entry.reason}")
            return
        if entry is None:
            return
        try:
            project = self.controller.service.get(entry.project.id)
        except StudioError as exc:
            self._error(f"Cannot open '{entry.project.name}': {exc}")
            self.refresh()
            return
        self.ctx.open_project(project)
        self.ctx.showPageRequested.emit("dataset")

    def rename_selected(self) -> None:
        rows = self.table.selectionModel().selectedRows(NAME)
        if rows and not self.ctx.read_only:
            self.table.setCurrentIndex(rows[0])
            self.table.edit(rows[0])

    def _renamed(self, project) -> None:
        # after the editor has closed: refreshing inside setData would pull the row from under it
        QTimer.singleShot(0, lambda: self.ctx.update_project(project))

    def delete_selected(self) -> None:
        entry = self.selected_entry()
        if self.ctx.read_only or not isinstance(entry, ProjectSummary):
            return
        answer = QMessageBox.question(
            self, "Delete project", self.controller.loss_description(entry),
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel)
        if answer != QMessageBox.StandardButton.Yes:
            return
        try:
            self.controller.delete(entry.project.id)
        except StudioError as exc:
            self._error(f"Cannot delete '{entry.project.name}': {exc}")
            return
        if self.ctx.project is not None and self.ctx.project.id == entry.project.id:
            self.ctx.open_project(None)
        self.ctx.projectsChanged.emit()
