"""What the Project page does, without any widget: list, validate, create, rename, delete.

The page's buttons call these methods; tests call them directly. Errors are
:class:`~studio_desktop.core.errors.StudioError` with one-line messages the page shows as is.
"""

from __future__ import annotations

from dataclasses import dataclass

from ....core.errors import InvalidInput, StudioError
from ....core.projects import ProjectProblem, ProjectService, ProjectSummary, validate_name
from ....core.schemas import Project
from ....core.workspace import Workspace

#: shown on every write action when this window does not hold the workspace lock
READ_ONLY_TIP = ("This workspace is open read-only because another AI Studio window is using it. "
                 "Close the other window and restart to make changes.")


@dataclass(frozen=True)
class ProjectListing:
    projects: list[ProjectSummary]
    problems: list[ProjectProblem]


class ProjectController:
    """Project operations for the page, over one :class:`ProjectService`."""

    def __init__(self, service: ProjectService):
        self.service = service

    @property
    def workspace(self) -> Workspace:
        return self.service.ws

    @property
    def read_only(self) -> bool:
        return not self.workspace.writable

    def read_only_reason(self) -> str:
        reason = self.workspace.read_only_reason
        return f"{READ_ONLY_TIP}\n({reason})" if reason else READ_ONLY_TIP

    def listing(self) -> ProjectListing:
        projects, problems = self.service.scan()
        return ProjectListing(projects, problems)

    def name_problem(self, name: str, *, except_id: str | None = None) -> str | None:
        """Why ``name`` cannot be used for a project (None when it can)."""
        try:
            name = validate_name(name)
        except InvalidInput as exc:
            return str(exc)
        for p in self.service.list():
            if p.id != except_id and p.name.casefold() == name.casefold():
                return f"a project named '{p.name}' already exists"
        return None

    def create(self, name: str, task_id: str) -> Project:
        return self.service.create(name, task_id)

    def rename(self, project_id: str, new_name: str) -> Project:
        return self.service.rename(project_id, new_name)

    def delete(self, project_id: str) -> Project:
        return self.service.delete(project_id)

    @staticmethod
    def loss_description(summary: ProjectSummary) -> str:
        """What deleting this project destroys, in the user's words (for the confirmation)."""
        images = f"{summary.images} imported image{'s' if summary.images != 1 else ''}"
        exps = f"{summary.experiments} training experiment{'s' if summary.experiments != 1 else ''}"
        return (f"Delete the project '{summary.project.name}'?\n\n"
                f"This permanently deletes its {images} with their annotations, its splits, "
                f"its {exps} with their trained models, evaluations and exports.\n"
                f"Your original files outside the workspace are not touched.\n\n"
                f"Folder: {summary.folder}")


def create_sample(workspace: Workspace, task_id: str) -> Project:
    """Build a sample project (runs in a worker thread). Raises :class:`StudioError` when
    this build has no sample generator."""
    try:
        from ....core.samples import create_sample_project
    except ImportError as exc:
        raise StudioError("sample projects are not available in this build") from exc
    return create_sample_project(workspace, task_id)


def samples_available() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("studio_desktop.core.samples") is not None
    except (ImportError, ValueError):
        return False
