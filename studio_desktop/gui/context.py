"""What every page shares: the open workspace, the current project, and change signals.

Pages receive one :class:`AppContext`; they read and write through ``core`` services and
announce changes through its signals so that other pages refresh (no page pokes another).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from ..core.projects import ProjectService
from ..core.schemas import Project
from ..core.workspace import Workspace


class AppContext(QObject):
    #: the open project changed (a Project, or None when no project is open)
    projectChanged = Signal(object)
    #: the open project's metadata changed (renamed, classes edited)
    projectUpdated = Signal(object)
    #: the project list changed (created, renamed, deleted)
    projectsChanged = Signal()
    #: images were imported or deleted in the open project
    datasetChanged = Signal()
    #: a split was saved or deleted in the open project
    splitsChanged = Signal()
    #: an experiment was created, changed status or was deleted
    experimentsChanged = Signal()
    #: ask the main window to raise a page by its key ("project", "dataset", ...)
    showPageRequested = Signal(str)

    def __init__(self, workspace: Workspace, parent: QObject | None = None):
        super().__init__(parent)
        self.workspace = workspace
        self.projects = ProjectService(workspace)
        self.project: Project | None = None
        #: gui.jobs.JobManager once the main window has built it (None in page-only tests)
        self.jobs = None

    @property
    def read_only(self) -> bool:
        return not self.workspace.writable

    def open_project(self, project: Project | None) -> None:
        self.project = project
        if project is not None and self.jobs is not None:
            # before the pages hear of the project: they show the jobs they find running
            self.jobs.reattach_workers(self.workspace, project.id)
        self.projectChanged.emit(project)

    def update_project(self, project: Project) -> None:
        """Announce that the open project's metadata changed (after it was saved)."""
        if self.project is not None and self.project.id == project.id:
            self.project = project
        self.projectUpdated.emit(project)
        self.projectsChanged.emit()
