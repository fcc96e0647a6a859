"""Pydantic models of everything stored in the workspace (DESIGN §4, §5).

One annotation model serves all seven tasks: an :class:`ImageRecord` carries the fields
its project's task uses. Coordinates are original-image pixels (after EXIF orientation);
classes live once in ``project.json`` and records refer to them by id.

Each stored top-level model declares ``KIND`` and ``SCHEMA_VERSION``; :mod:`.store` reads
older versions through registered migrations. Stored models ignore unknown fields so that
a file written by a slightly newer build still opens.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class Stored(BaseModel):
    """Base of every top-level stored file: carries ``schema_version``."""

    model_config = ConfigDict(extra="ignore")
    KIND: ClassVar[str] = "stored"
    SCHEMA_VERSION: ClassVar[int] = 1
    schema_version: int = 1

    def model_post_init(self, _context) -> None:
        # In memory a model is always at its class's current version: files are migrated
        # before validation (store.parse_model), so nothing older ever reaches here.
        self.schema_version = type(self).SCHEMA_VERSION


class WorkspaceInfo(Stored):
    KIND: ClassVar[str] = "workspace"
    created: datetime = Field(default_factory=now)
    app_version: str = ""


class ClassInfo(BaseModel):
    """A class of a project: stable integer id, display name, colour (#rrggbb)."""

    model_config = ConfigDict(extra="ignore")
    id: int
    name: str
    color: str = "#1f77b4"


class Project(Stored):
    KIND: ClassVar[str] = "project"
    id: str
    name: str
    task: str
    classes: list[ClassInfo] = Field(default_factory=list)
    #: regression only: the names of the numeric targets, in order
    target_names: list[str] = Field(default_factory=list)
    #: regression only: a target's unit when the CSV header gave one ("price (USD)", "radius [px]")
    target_units: dict[str, str] = Field(default_factory=dict)
    description: str = ""
    created: datetime = Field(default_factory=now)
    updated: datetime = Field(default_factory=now)

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v

    def class_by_id(self, class_id: int) -> ClassInfo | None:
        return next((c for c in self.classes if c.id == class_id), None)


# ---------------------------------------------------------------- annotations (DESIGN §5)

class Box(BaseModel):
    """Axis-aligned box in pixels: x1 y1 (top-left) x2 y2 (bottom-right)."""

    model_config = ConfigDict(extra="ignore")
    cls: int
    x1: float
    y1: float
    x2: float
    y2: float
    difficult: bool = False
    iscrowd: bool = False


class Instance(BaseModel):
    """One object of instance segmentation: polygons (flat x,y lists) or a COCO RLE, plus its box."""

    model_config = ConfigDict(extra="ignore")
    cls: int
    polygons: list[list[float]] = Field(default_factory=list)
    #: COCO RLE {"size": [h, w], "counts": str} (compressed) when the source gave one
    rle: dict | None = None
    box: list[float] = Field(default_factory=list)  # x1 y1 x2 y2
    iscrowd: bool = False


class RotatedBox(BaseModel):
    """Oriented box: centre, size, angle in degrees (counter-clockwise), and its 4 corners."""

    model_config = ConfigDict(extra="ignore")
    cls: int
    cx: float
    cy: float
    w: float
    h: float
    angle: float
    corners: list[float] = Field(default_factory=list)  # x1 y1 ... x4 y4
    difficult: bool = False


class Anomaly(BaseModel):
    model_config = ConfigDict(extra="ignore")
    status: Literal["normal", "anomalous"]
    #: dataset-relative path of a 0/255 PNG marking defective pixels
    mask: str | None = None
    #: defect category as named by the source (MVTec test folder name)
    defect: str | None = None


class ImageRecord(BaseModel):
    """One image of a dataset with whatever annotations its task uses."""

    model_config = ConfigDict(extra="ignore")
    id: str  # content-addressed: sha256 prefix
    file: str  # dataset-relative, e.g. "images/ab12cd34ef56.jpg"
    width: int
    height: int
    sha256: str
    source: str = ""  # original path as imported
    tags: list[str] = Field(default_factory=list)
    #: images sharing a group never straddle split subsets (tiles of one scene, same patient...)
    group: str | None = None
    added: datetime = Field(default_factory=now)
    label: int | None = None
    boxes: list[Box] = Field(default_factory=list)
    instances: list[Instance] = Field(default_factory=list)
    mask: str | None = None  # dataset-relative index PNG (semantic segmentation)
    rboxes: list[RotatedBox] = Field(default_factory=list)
    anomaly: Anomaly | None = None
    targets: dict[str, float] = Field(default_factory=dict)

    def class_ids(self) -> set[int]:
        """Classes present in this image (for stratification and statistics)."""
        ids: set[int] = set()
        if self.label is not None:
            ids.add(self.label)
        ids.update(b.cls for b in self.boxes)
        ids.update(i.cls for i in self.instances)
        ids.update(r.cls for r in self.rboxes)
        return ids

    def is_annotated(self) -> bool:
        return bool(self.label is not None or self.boxes or self.instances or self.mask or self.rboxes
                    or self.anomaly is not None or self.targets)


class ImportEntry(BaseModel):
    """One past import, kept in the dataset's history."""

    model_config = ConfigDict(extra="ignore")
    time: datetime = Field(default_factory=now)
    source: str
    format: str
    imported: int = 0
    duplicates: int = 0
    skipped: int = 0


class Dataset(Stored):
    KIND: ClassVar[str] = "dataset"
    images: list[ImageRecord] = Field(default_factory=list)
    imports: list[ImportEntry] = Field(default_factory=list)
