"""Annotation-format readers: one module per format, all producing a :class:`ParsedDataset`.

A reader never copies files and never touches the workspace: it parses a folder (or file)
into plain records whose annotations already use the one annotation model
(``core.schemas.Box``, ``Instance``, ``RotatedBox``, ``Anomaly``; ``cls`` indexes into
``ParsedDataset.class_names``). ``core.importing`` then hashes, deduplicates, applies EXIF
orientation, copies, makes thumbnails, remaps class ids onto the project's classes and
commits the whole import as one transaction.

Readers report every problem as an :class:`ImportIssue` naming the file and the reason;
one bad file never aborts a read. A file that cannot be parsed at all raises
:class:`~studio_desktop.core.errors.InvalidInput` naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..schemas import Anomaly, Box, Instance, RotatedBox


@dataclass
class ImportIssue:
    """One skipped or altered item: shown in the import report."""

    file: str
    reason: str
    #: what was done: "skipped" (nothing imported from it), "clipped", "dropped" (an annotation
    #: removed, the image kept), "kept" (imported anyway, e.g. an image without labels)
    action: str = "skipped"

    def as_json(self) -> dict:
        return {"file": self.file, "reason": self.reason, "action": self.action}


@dataclass
class ParsedImage:
    """One image found by a reader, with its annotations in that image's pixel frame."""

    path: Path
    label: int | None = None
    boxes: list[Box] = field(default_factory=list)
    instances: list[Instance] = field(default_factory=list)
    rboxes: list[RotatedBox] = field(default_factory=list)
    #: semantic segmentation: path of an index PNG (values are class indices into class_names,
    #: 255 = ignore); palette PNGs are converted by the masks reader before this point
    mask_path: Path | None = None
    anomaly: Anomaly | None = None
    #: anomaly detection: source path of the defect mask (0 = good, >0 = defect)
    anomaly_mask_path: Path | None = None
    targets: dict[str, float] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    group: str | None = None
    #: image size the annotation file declares (width, height), when it declares one; used to
    #: tell whether annotations refer to the raw or the EXIF-rotated frame
    declared_size: tuple[int, int] | None = None


#: ``Instance.cls`` of outlines that are not objects, read for semantic segmentation only:
#: a region to leave out of training (pixel value 255) or to mark as background
IGNORE_REGION = -1
BACKGROUND_REGION = -2


@dataclass
class ParsedDataset:
    format: str
    images: list[ParsedImage] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)
    target_names: list[str] = field(default_factory=list)
    #: target name -> unit, from headers such as "price (USD)" or "radius [px]"
    target_units: dict[str, str] = field(default_factory=dict)
    issues: list[ImportIssue] = field(default_factory=list)
    #: why auto-detection chose this format (shown to the user)
    detected_because: str = ""
    #: outlines are layers in file order (labelme: a later shape is drawn over an earlier one);
    #: otherwise a semantic mask paints larger objects first (see core/semantic_from_shapes.py)
    layered: bool = False


class FormatReader(Protocol):
    #: format id used by ``--format`` ("coco", "yolo", ...)
    name: str
    #: which tasks this format can feed
    tasks: tuple[str, ...]

    def detect(self, root: Path) -> str | None:
        """A one-line reason if ``root`` looks like this format, else None. Must be fast."""

    def read(self, root: Path, task: str) -> ParsedDataset:
        """Parse ``root`` for a project of ``task``."""
