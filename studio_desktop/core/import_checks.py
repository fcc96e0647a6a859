"""Checks an import applies to annotations before they enter a project.

Kept apart from :mod:`.importing` (the transaction) because these are the rules a user
reads about in the import report: which annotations a task uses, what happens to a box
outside its image (clipped, or dropped when nothing is left), to an unknown class id, to a
polygon with no area, and how classes found in the source are merged onto the project's.
"""

from __future__ import annotations

from collections import Counter

from shapely.geometry import Polygon

from ..tasks import TaskInfo
from .formats import BACKGROUND_REGION, IGNORE_REGION, ImportIssue, ParsedDataset, ParsedImage
from .geometry import rbox_corners, rbox_from_corners
from .images import ImageInfo, orient_box, orient_flat
from .projects import new_class
from .schemas import Box, ImageRecord, Instance, Project, RotatedBox
from .semantic_from_shapes import IGNORE, paint

#: ParsedImage attribute -> the ImageRecord field (= TaskInfo.annotation) it feeds
FIELDS = {"label": "label", "boxes": "boxes", "instances": "instances", "rboxes": "rboxes",
          "mask_path": "mask", "anomaly": "anomaly", "targets": "targets"}
#: overshoots up to this many pixels are rounding noise: clipped without a report line
CLIP_TOLERANCE = 0.5
#: below this width/height (pixels) a clipped box is degenerate
MIN_SIDE = 1e-3


def merge_classes(project: Project, parsed: ParsedDataset, has_classes: bool
                  ) -> tuple[Project, list[int], list[str], list[str]]:
    """Project with the source's classes and target names added; parsed index -> class id."""
    classes = list(project.classes)
    by_name = {c.name.casefold(): c.id for c in classes}
    mapping: list[int] = []
    added: list[str] = []
    if has_classes:
        for name in parsed.class_names:
            key = name.strip().casefold()
            if key not in by_name:
                classes.append(new_class(classes, name.strip()))
                by_name[key] = classes[-1].id
                added.append(name.strip())
            mapping.append(by_name[key])
    targets = list(project.target_names)
    new_targets = [t for t in parsed.target_names if t not in targets]
    targets += new_targets
    units = {**project.target_units, **{k: v for k, v in parsed.target_units.items() if k not in project.target_units}}
    if added or new_targets or units != project.target_units:
        project = project.model_copy(update={"classes": classes, "target_names": targets, "target_units": units})
    return project, mapping, added, new_targets


class AnnotationChecker:
    """Moves annotations onto an :class:`ImageRecord`, checking them for the project's task."""

    def __init__(self, task: TaskInfo, mapping: list[int], class_names: list[str],
                 background: int | None = None, layered: bool = False):
        self.task = task
        self.mapping = mapping
        self.class_names = class_names
        #: semantic projects: outlines are painted into masks on this background class
        self.background = background
        self.layered = layered
        self._issues: list[ImportIssue] = []
        self.unused: Counter[str] = Counter()

    def uses(self, field: str) -> bool:
        return self.task.annotation == field

    def issues(self) -> list[ImportIssue]:
        out = list(self._issues)
        for field, n in sorted(self.unused.items()):
            out.append(ImportIssue("(this import)", f"{n} images carry {field} annotations, which a "
                                   f"{self.task.display_name.lower()} project does not use", "dropped"))
        return out

    def _issue(self, rec_source: str, reason: str, action: str) -> None:
        self._issues.append(ImportIssue(rec_source, reason, action))

    def _cls(self, cls: int, where: str) -> int | None:
        if 0 <= cls < len(self.mapping):
            return self.mapping[cls]
        if self.background is not None and cls in (IGNORE_REGION, BACKGROUND_REGION):
            return IGNORE if cls == IGNORE_REGION else self.background  # pixel values of a mask
        self._issue(where, f"unknown class id {cls} (the source lists {len(self.class_names)} classes)",
                    "dropped")
        return None

    def apply(self, rec: ImageRecord, item: ParsedImage, orient: ImageInfo | None) -> None:
        """Fill ``rec`` from ``item``; ``orient`` set = annotations are in the raw EXIF frame."""
        where = str(item.path)
        for attr, field in FIELDS.items():
            value = getattr(item, attr)
            if value is None or value == [] or value == {}:
                continue
            if field == "instances" and self.background is not None and item.mask_path is None:
                continue  # outlines for a semantic project: see semantic_mask()
            if field != self.task.annotation:
                self.unused[field] += 1
                continue
            if attr == "label":
                rec.label = self._cls(value, where)
            elif attr == "boxes":
                rec.boxes = [b for b in (self._box(b, rec, where, orient) for b in value) if b]
            elif attr == "instances":
                rec.instances = [i for i in (self._instance(i, rec, where, orient) for i in value) if i]
            elif attr == "rboxes":
                rec.rboxes = [r for r in (self._rbox(r, rec, where, orient) for r in value) if r]
            elif attr == "targets":
                rec.targets = {k: float(v) for k, v in value.items()}
            # mask and anomaly are filled by the importer (they need the staged mask path)

    def semantic_mask(self, rec: ImageRecord, item: ParsedImage, orient: ImageInfo | None):
        """Index mask painted from the item's outlines (checked, clipped and re-oriented like
        instance annotations), or None when the item has none or no background is set."""
        if self.background is None or item.mask_path is not None or not item.instances:
            return None
        where = str(item.path)
        checked = [i for i in (self._instance(i, rec, where, orient) for i in item.instances) if i]
        mask, problems = paint(checked, rec.width, rec.height, self.background, layered=self.layered)
        for reason in problems:
            self._issue(where, reason, "dropped")
        return mask

    def _box(self, b: Box, rec: ImageRecord, where: str, orient: ImageInfo | None) -> Box | None:
        cls = self._cls(b.cls, where)
        if cls is None:
            return None
        x1, y1, x2, y2 = min(b.x1, b.x2), min(b.y1, b.y2), max(b.x1, b.x2), max(b.y1, b.y2)
        if orient is not None:
            x1, y1, x2, y2 = orient_box(x1, y1, x2, y2, orient.raw_size, orient.orientation)
        cx1, cy1 = min(max(x1, 0.0), rec.width), min(max(y1, 0.0), rec.height)
        cx2, cy2 = min(max(x2, 0.0), rec.width), min(max(y2, 0.0), rec.height)
        name = self._name(b.cls)
        if cx2 - cx1 < MIN_SIDE or cy2 - cy1 < MIN_SIDE:
            self._issue(where, f"box of '{name}' ({x1:g},{y1:g},{x2:g},{y2:g}) has no area inside the "
                        f"{rec.width}x{rec.height} image", "dropped")
            return None
        overshoot = max(abs(cx1 - x1), abs(cy1 - y1), abs(cx2 - x2), abs(cy2 - y2))
        if overshoot > CLIP_TOLERANCE:  # below it: float noise of a converter, clipped quietly
            self._issue(where, f"box of '{name}' ({x1:g},{y1:g},{x2:g},{y2:g}) extends outside the "
                        f"{rec.width}x{rec.height} image", "clipped")
        return b.model_copy(update={"cls": cls, "x1": cx1, "y1": cy1, "x2": cx2, "y2": cy2})

    def _name(self, cls: int) -> str:
        return self.class_names[cls] if 0 <= cls < len(self.class_names) else str(cls)

    def _instance(self, inst: Instance, rec: ImageRecord, where: str, orient: ImageInfo | None
                  ) -> Instance | None:
        cls = self._cls(inst.cls, where)
        if cls is None:
            return None
        polygons: list[list[float]] = []
        clipped = False
        for poly in inst.polygons:
            if orient is not None:
                poly = orient_flat(poly, orient.raw_size, orient.orientation)
            pts = [(poly[i], poly[i + 1]) for i in range(0, len(poly) - 1, 2)]
            if len(pts) < 3 or Polygon(pts).area <= 0:
                self._issue(where, f"polygon of '{self._name(inst.cls)}' has fewer than 3 points or no "
                            "area", "dropped")
                continue
            inside = [(min(max(x, 0.0), rec.width), min(max(y, 0.0), rec.height)) for x, y in pts]
            if inside != pts:
                clipped = clipped or max(abs(a - b) for p, q in zip(pts, inside, strict=True)
                                         for a, b in zip(p, q, strict=True)) > CLIP_TOLERANCE
                if Polygon(inside).area <= 0:
                    self._issue(where, f"polygon of '{self._name(inst.cls)}' lies outside the image",
                                "dropped")
                    continue
            polygons.append([v for p in inside for v in p])
        if clipped:
            self._issue(where, f"polygon of '{self._name(inst.cls)}' extends outside the image", "clipped")
        if not polygons and not inst.rle:
            return None
        box = list(inst.box)
        if polygons:
            xs = [v for p in polygons for v in p[0::2]]
            ys = [v for p in polygons for v in p[1::2]]
            box = [min(xs), min(ys), max(xs), max(ys)]
        elif orient is not None and len(box) == 4:
            box = list(orient_box(*box, orient.raw_size, orient.orientation))
        return inst.model_copy(update={"cls": cls, "polygons": polygons, "box": box})

    def _rbox(self, r: RotatedBox, rec: ImageRecord, where: str, orient: ImageInfo | None
              ) -> RotatedBox | None:
        cls = self._cls(r.cls, where)
        if cls is None:
            return None
        if r.w <= MIN_SIDE or r.h <= MIN_SIDE:
            self._issue(where, f"rotated box of '{self._name(r.cls)}' has no area", "dropped")
            return None
        update: dict = {"cls": cls}
        if orient is not None and len(r.corners) == 8:
            fitted = rbox_from_corners(orient_flat(r.corners, orient.raw_size, orient.orientation))
            if fitted is None:
                self._issue(where, f"rotated box of '{self._name(r.cls)}' has no area", "dropped")
                return None
            cx, cy, w, h, angle = fitted
            update.update(cx=cx, cy=cy, w=w, h=h, angle=angle, corners=list(rbox_corners(cx, cy, w, h, angle)))
        cx, cy = update.get("cx", r.cx), update.get("cy", r.cy)
        if not (0 <= cx <= rec.width and 0 <= cy <= rec.height):
            self._issue(where, f"rotated box of '{self._name(r.cls)}' is centred outside the image",
                        "dropped")
            return None
        return r.model_copy(update=update)
