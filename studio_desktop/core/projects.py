"""Projects: create, list, rename, delete (DESIGN §4).

A project is a folder ``projects/<id>/`` holding ``project.json``. Ids are short random
hex strings, fixed at creation, so renaming never moves files. Names are unique in a
workspace (case-insensitive). A corrupt ``project.json`` is reported as a
:class:`ProjectProblem` naming the file and the reason while the other projects keep working.
"""

from __future__ import annotations

import secrets
import shutil
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..tasks import TASKS, get_task
from .errors import InvalidInput, StoreError
from .refs import find_by_ref
from .schemas import ClassInfo, Project, now
from .store import read_json, read_model, write_model
from .workspace import Workspace

MAX_NAME = 100

#: distinct, readable class colours (Tableau 10 then a second tier)
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94"]


def class_color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def make_classes(names: list[str]) -> list[ClassInfo]:
    return [ClassInfo(id=i, name=n, color=class_color(i)) for i, n in enumerate(names)]


def new_class(classes: list[ClassInfo], name: str) -> ClassInfo:
    """A class to append to ``classes``: the next free id and its palette colour."""
    new_id = max((c.id for c in classes), default=-1) + 1
    return ClassInfo(id=new_id, name=name, color=class_color(new_id))


@dataclass(frozen=True)
class ProjectSummary:
    """What the Project page and ``project list`` show for one project."""

    project: Project
    folder: Path
    images: int
    experiments: int
    modified: datetime

    def as_json(self) -> dict:
        p = self.project
        return {"id": p.id, "name": p.name, "task": p.task, "classes": len(p.classes),
                "images": self.images, "experiments": self.experiments,
                "created": p.created.isoformat(), "modified": self.modified.isoformat(),
                "folder": str(self.folder)}


@dataclass(frozen=True)
class ProjectProblem:
    """A project folder whose ``project.json`` cannot be read; shown, never fatal."""

    folder: Path
    reason: str

    def as_json(self) -> dict:
        return {"folder": str(self.folder), "error": self.reason}


def validate_name(name: str) -> str:
    """Normalise and check a project name; raise :class:`InvalidInput` with the reason."""
    name = unicodedata.normalize("NFC", name or "").strip()
    if not name:
        raise InvalidInput("a project name must not be empty")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"a project name must be at most {MAX_NAME} characters (this one has {len(name)})")
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise InvalidInput("a project name must not contain control characters")
    return name


class ProjectService:
    """Project operations on one open workspace. Writes need the workspace lock."""

    def __init__(self, workspace: Workspace):
        self.ws = workspace

    # ------------------------------------------------------------------ reading
    def project_file(self, project_id: str) -> Path:
        return self.ws.project_dir(project_id) / "project.json"

    def scan(self) -> tuple[list[ProjectSummary], list[ProjectProblem]]:
        """All projects (sorted by name) and the folders that could not be read."""
        good: list[ProjectSummary] = []
        bad: list[ProjectProblem] = []
        if not self.ws.projects_dir.is_dir():
            return good, bad
        for folder in sorted(self.ws.projects_dir.iterdir()):
            if not folder.is_dir() or folder.name.startswith("."):
                continue
            try:
                project = read_model(folder / "project.json", Project)
            except StoreError as exc:
                bad.append(ProjectProblem(folder, str(exc)))
                continue
            good.append(self._summary(project, folder))
        good.sort(key=lambda s: s.project.name.casefold())
        return good, bad

    def list(self) -> list[Project]:
        return [s.project for s in self.scan()[0]]

    def _summary(self, project: Project, folder: Path) -> ProjectSummary:
        images = 0
        summary = folder / "dataset" / "summary.json"
        modified = project.updated
        if summary.exists():
            try:
                data = read_json(summary)
                images = int(data.get("images", 0))
            except (StoreError, ValueError, TypeError, AttributeError):
                images = 0
        exp_dir = folder / "experiments"
        experiments = sum(1 for p in exp_dir.iterdir() if p.is_dir()) if exp_dir.is_dir() else 0
        try:
            mtime = max(p.stat().st_mtime for p in [folder / "project.json", summary] if p.exists())
            modified = max(modified, datetime.fromtimestamp(mtime, tz=modified.tzinfo))
        except ValueError:
            pass
        return ProjectSummary(project, folder, images, experiments, modified.replace(microsecond=0))

    def summary(self, ref: str) -> ProjectSummary:
        p = self.get(ref)
        return self._summary(p, self.ws.project_dir(p.id))

    def get(self, ref: str) -> Project:
        """A project by id or by name (case-insensitive)."""
        return find_by_ref(self.list(), ref, "project", listed=1000)

    # ------------------------------------------------------------------ writing
    def _check_unique(self, name: str, except_id: str | None = None) -> None:
        for p in self.list():
            if p.id != except_id and p.name.casefold() == name.casefold():
                raise InvalidInput(f"a project named '{p.name}' already exists")

    def create(self, name: str, task: str, classes: list[str] | None = None,
               description: str = "") -> Project:
        self.ws.ensure_writable()
        name = validate_name(name)
        get_task(task)
        self._check_unique(name)
        while True:
            pid = secrets.token_hex(4)
            if not self.ws.project_dir(pid).exists():
                break
        project = Project(id=pid, name=name, task=task, classes=make_classes(classes or []),
                          description=description)
        folder = self.ws.project_dir(pid)
        folder.mkdir(parents=True)
        write_model(folder / "project.json", project)
        return project

    def save(self, project: Project) -> Project:
        """Write ``project`` back (stamping ``updated``)."""
        self.ws.ensure_writable()
        project = project.model_copy(update={"updated": now()})
        write_model(self.project_file(project.id), project)
        return project

    def rename(self, ref: str, new_name: str) -> Project:
        self.ws.ensure_writable()
        project = self.get(ref)
        new_name = validate_name(new_name)
        self._check_unique(new_name, except_id=project.id)
        return self.save(project.model_copy(update={"name": new_name}))

    def delete(self, ref: str) -> Project:
        """Delete a project and all its files. The folder is first renamed aside, so a crash
        mid-way never leaves a half-deleted project that still lists."""
        self.ws.ensure_writable()
        project = self.get(ref)
        folder = self.ws.project_dir(project.id)
        trash = self.ws.projects_dir / f".deleting-{project.id}-{secrets.token_hex(2)}"
        folder.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)
        return project

    def purge_leftovers(self) -> None:
        """Finish deletions interrupted by a crash (folders renamed aside)."""
        if not self.ws.writable:
            return
        for p in self.ws.projects_dir.glob(".deleting-*"):
            shutil.rmtree(p, ignore_errors=True)


__all__ = ["ProjectService", "ProjectSummary", "ProjectProblem", "validate_name", "make_classes",
           "class_color", "TASKS"]
