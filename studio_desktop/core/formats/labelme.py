"""labelme JSON reader: one ``<image>.json`` per image with its shapes and flags.

* ``imagePath`` is resolved beside the JSON (labelme writes it relative to the JSON; Windows
  separators are accepted); when absent there, the image with the JSON's name is used. With
  ``imageData: null`` (the usual ``--nodata`` export) the image file is the only source; an
  embedded ``imageData`` without the file is reported, not decoded (readers never write files).
* Shapes: ``rectangle``, ``polygon``, ``circle`` (centre and a point on the rim) give areas;
  ``point``, ``line``, ``linestrip``, ``points`` mark no area and are reported as dropped.
  Shapes sharing a ``group_id`` *and* a label are one object with several parts (labelme's way of
  drawing an occluded object): one multi-polygon instance, or one box around all parts.
* The labels ``__ignore__`` and ``_background_`` are not classes: skipped (and said once per
  import), except for semantic segmentation, where they are painted in their place, as
  labelme2voc does (ignored pixels, background pixels).
* Image ``flags`` that are set become tags; for a classification project the one set flag is
  the image's class (labelme's ``--flags`` classification workflow).
* For object detection shapes become boxes; for instance segmentation, instances (polygons and
  box); for semantic segmentation, also instances, which the importer paints into an index mask
  in file order (``layered``: a later shape covers an earlier one, as in labelme).
"""

from __future__ import annotations

import math
from pathlib import Path

from ..errors import InvalidInput
from ..geometry import box_is_valid, polygon_box, polygon_is_usable
from ..schemas import Box, Instance
from . import BACKGROUND_REGION, IGNORE_REGION, ParsedDataset, ParsedImage
from .annotation_files import (
    IssueLog,
    display_name,
    find_image,
    load_json,
    peek_text,
    to_float,
    walk_files,
)

SKIPPED_LABELS = ("__ignore__", "_background_")
#: sides of the polygon standing for a circle in instance masks
CIRCLE_SIDES = 32
AREA_SHAPES = ("rectangle", "polygon", "circle")


class LabelmeReader:
    name = "labelme"
    tasks = ("object_detection", "instance_segmentation", "semantic_segmentation", "classification")

    def detect(self, root: Path) -> str | None:
        files = [root] if root.is_file() else []
        if root.is_dir():
            files = []
            for n, p in enumerate(walk_files(root, (".json",), max_depth=3)):
                files.append(p)
                if n >= 30:
                    break
        for p in files:
            head = peek_text(p, 8192)
            # imagePath follows the shapes, which may run past the peeked head
            if '"shapes"' in head and ('"imagePath"' in head or '"shape_type"' in head):
                return f"{display_name(p, root) if p != root else p.name} is a labelme annotation"
        return None

    def read(self, root: Path, task: str) -> ParsedDataset:
        root = Path(root)
        if not root.exists():
            raise InvalidInput("does not exist", path=root)
        return _LabelmeRead(root, task).run()


READER = LabelmeReader()


class _LabelmeRead:
    def __init__(self, root: Path, task: str):
        self.root = root
        self.task = task
        self.log = IssueLog()
        self.class_names: list[str] = []
        self.ignored = 0

    def run(self) -> ParsedDataset:
        files = [self.root] if self.root.is_file() else list(walk_files(self.root, (".json",)))
        images: list[ParsedImage] = []
        seen: dict[Path, str] = {}
        for path in files:
            name = display_name(path, self.root)
            if self.root.is_dir() and '"shapes"' not in peek_text(path, 1 << 20):
                continue  # some other JSON (a COCO file, settings...)
            try:
                data = load_json(path)
            except InvalidInput as exc:
                if self.root.is_file():
                    raise
                self.log.add(name, f"{exc.message}: skipped")
                continue
            if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
                if self.root.is_file():
                    raise InvalidInput("not a labelme annotation (no 'shapes' list)", path=path)
                continue
            img = self._image(path, data, name)
            if img is None:
                continue
            if img.path in seen:
                self.log.add(name, f"{img.path.name} is also annotated by {seen[img.path]}; that file was kept")
                continue
            seen[img.path] = name
            self._shapes(data["shapes"], img, name)
            self._flags(data.get("flags"), img, name)
            images.append(img)
        if not images and not self.log.issues():
            raise InvalidInput("no labelme annotation (.json with 'shapes' and 'imagePath') here", path=self.root)
        issues = self.log.issues()
        if self.ignored:
            from . import ImportIssue

            issues.append(ImportIssue(self.root.name, f"{self.ignored} shapes labelled __ignore__ or "
                                      "_background_ were not imported", "dropped"))
        return ParsedDataset(format="labelme", images=images, class_names=self.class_names, issues=issues,
                             detected_because="labelme JSON", layered=True)

    # ------------------------------------------------------------------- image

    def _image(self, path: Path, data: dict, name: str) -> ParsedImage | None:
        raw = data.get("imagePath")
        image = None
        if isinstance(raw, str) and raw.strip():
            rel = Path(raw.replace("\\", "/"))
            for cand in (path.parent / rel, path.parent / rel.name):
                if cand.is_file():
                    image = cand
                    break
        if image is None:
            image = find_image(path.stem, [path.parent])
        if image is None:
            embedded = " (the embedded imageData is not imported: save the image beside the JSON)" \
                if data.get("imageData") else ""
            self.log.add(name, f"image {raw or path.stem} not found beside the JSON{embedded}: skipped")
            return None
        w, h = to_float(data.get("imageWidth")), to_float(data.get("imageHeight"))
        declared = (int(w), int(h)) if w and h and w > 0 and h > 0 else None
        return ParsedImage(path=image, declared_size=declared)

    def _flags(self, flags: object, img: ParsedImage, name: str) -> None:
        if not isinstance(flags, dict):
            return
        keys = [str(k) for k in flags if str(k) not in SKIPPED_LABELS]
        on = [str(k) for k, v in flags.items() if v is True and str(k) not in SKIPPED_LABELS]
        if self.task != "classification":
            img.tags.extend(on)
            return
        for k in keys:  # every flag is a class, used or not: flags.txt is the class list
            self._class(k)
        if len(on) == 1:
            img.label = self._class(on[0])
        elif len(on) > 1:
            self.log.add(name, f"several class flags set ({', '.join(on)}): imported without a class", "kept")
        elif keys:
            self.log.add(name, "no class flag set: imported without a class", "kept")

    # ------------------------------------------------------------------- shapes

    def _class(self, label: str) -> int:
        if label not in self.class_names:
            self.class_names.append(label)
        return self.class_names.index(label)

    def _shapes(self, shapes: list, img: ParsedImage, name: str) -> None:
        if self.task == "classification":
            return
        # (group, label) -> polygons of one object; ungrouped shapes are objects of their own
        objects: dict[tuple, list[list[float]]] = {}
        for i, shape in enumerate(shapes):
            if not isinstance(shape, dict):
                self.log.add(name, "a shape that is not an object: dropped", "dropped")
                continue
            label = shape.get("label")
            if not isinstance(label, str) or not label.strip():
                self.log.add(name, "shape without a label: dropped", "dropped")
                continue
            label = label.strip()
            if label in SKIPPED_LABELS and self.task != "semantic_segmentation":
                self.ignored += 1
                continue
            kind = shape.get("shape_type") or "polygon"
            poly = self._polygon(kind, shape.get("points"), name, label)
            if poly is None:
                continue
            group = shape.get("group_id")
            # group ids are numbers in labelme; anything else is compared by its text
            key = (label, "group", repr(group)) if group is not None else (label, "shape", i)
            objects.setdefault(key, []).append(poly)
        for (label, _, _), polys in objects.items():
            if label in SKIPPED_LABELS:  # semantic: regions painted in their place, like labelme2voc
                region = IGNORE_REGION if label == "__ignore__" else BACKGROUND_REGION
                img.instances.append(Instance(cls=region, polygons=polys, box=polygon_box(polys)))
                continue
            cls = self._class(label)
            box = polygon_box(polys)
            if self.task == "object_detection":
                img.boxes.append(Box(cls=cls, x1=box[0], y1=box[1], x2=box[2], y2=box[3]))
            else:
                img.instances.append(Instance(cls=cls, polygons=polys, box=box))

    def _polygon(self, kind: str, points: object, name: str, label: str) -> list[float] | None:
        """The shape as a flat polygon, or None (reported) when it has no area."""
        pts = []
        if isinstance(points, list):
            for p in points:
                if isinstance(p, list | tuple) and len(p) >= 2:
                    x, y = to_float(p[0]), to_float(p[1])
                    if x is not None and y is not None:
                        pts.append((x, y))
                        continue
                pts = []
                break
        if not pts:
            self.log.add(name, f"{label} shape with missing or non-numeric points: dropped", "dropped")
            return None
        if kind == "mask":
            self.log.add(name, "mask shapes (embedded bitmaps) are not supported yet: dropped", "dropped")
            return None
        if kind not in AREA_SHAPES:
            self.log.add(name, f"{kind} shapes mark no area (not a box or mask): dropped", "dropped")
            return None
        if kind == "rectangle":
            if len(pts) < 2:
                self.log.add(name, f"{label} rectangle needs 2 points: dropped", "dropped")
                return None
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            x1, y1, x2, y2 = min(xs), min(ys), max(xs), max(ys)
            if not box_is_valid(x1, y1, x2, y2):
                self.log.add(name, f"{label} rectangle with zero width or height: dropped", "dropped")
                return None
            return [x1, y1, x2, y1, x2, y2, x1, y2]
        if kind == "circle":
            if len(pts) < 2:
                self.log.add(name, f"{label} circle needs a centre and a rim point: dropped", "dropped")
                return None
            (cx, cy), (rx, ry) = pts[0], pts[1]
            r = math.hypot(rx - cx, ry - cy)
            if r <= 0:
                self.log.add(name, f"{label} circle with zero radius: dropped", "dropped")
                return None
            return [v for k in range(CIRCLE_SIDES)
                    for v in (cx + r * math.cos(2 * math.pi * k / CIRCLE_SIDES),
                              cy + r * math.sin(2 * math.pi * k / CIRCLE_SIDES))]
        flat = [c for p in pts for c in p]
        if not polygon_is_usable(flat):
            self.log.add(name, f"{label} polygon with fewer than 3 points or no area: dropped", "dropped")
            return None
        return flat
