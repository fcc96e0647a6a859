"""A project's dataset on disk: ``dataset/dataset.json`` plus images, masks, thumbnails.

``dataset.json`` holds every :class:`ImageRecord`; ``summary.json`` beside it holds the
counts the Project page lists, so listing projects never parses a 100k-image dataset.
Both are written atomically; importers stage their files and commit through :meth:`save`.
"""

from __future__ import annotations

from pathlib import Path

from .schemas import Dataset, now
from .store import atomic_write_json, read_model, write_model
from .workspace import Workspace


class DatasetStore:
    """Paths and load/save of one project's dataset."""

    def __init__(self, workspace: Workspace, project_id: str):
        self.ws = workspace
        self.project_id = project_id
        self.root = workspace.project_dir(project_id) / "dataset"

    @property
    def json_path(self) -> Path:
        return self.root / "dataset.json"

    @property
    def summary_path(self) -> Path:
        return self.root / "summary.json"

    @property
    def images_dir(self) -> Path:
        return self.root / "images"

    @property
    def masks_dir(self) -> Path:
        return self.root / "masks"

    @property
    def thumbnails_dir(self) -> Path:
        return self.root / "thumbnails"

    def thumbnail_path(self, image_id: str) -> Path:
        return self.thumbnails_dir / f"{image_id}.jpg"

    def path_of(self, relative: str) -> Path:
        """Absolute path of a dataset-relative file (``ImageRecord.file``, ``.mask``...)."""
        return self.root / relative

    def load(self) -> Dataset:
        """The dataset; an empty one when nothing was imported yet."""
        if not self.json_path.exists():
            return Dataset()
        return read_model(self.json_path, Dataset)

    def save(self, dataset: Dataset) -> None:
        self.ws.ensure_writable()
        write_model(self.json_path, dataset)
        annotated = sum(1 for r in dataset.images if r.is_annotated())
        atomic_write_json(self.summary_path, {"schema_version": 1, "images": len(dataset.images),
                                              "annotated": annotated, "updated": now().isoformat()})
