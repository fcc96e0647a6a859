"""COCO JSON reader: object detection, instance segmentation, and semantic segmentation (the
importer paints its masks from the outlines, see ``core/semantic_from_shapes.py``).

What it accepts, because real exports differ:

* one JSON file, or a folder holding one or several (Roboflow's ``train/ valid/ test/`` each with
  ``_annotations.coco.json``): their images are read together, tagged with the subset
  ("train", "val", "test") their folder names;
* ``file_name`` with or without folders, resolved beside the JSON, in ``images/`` beside it, and
  otherwise by file name anywhere under the folder the user picked (panopticapi keeps its images
  in ``input_images/``; labelme's conversion writes ``JPEGImages/x.jpg``);
* category ids in any order and with gaps: they become dense class indices in id order; categories
  no annotation uses (Roboflow's supercategory 0, labelme's ``_background_``) are not classes;
* ``bbox`` as ``[x, y, w, h]`` (converted to ``x1 y1 x2 y2``), polygons, RLE with compressed or
  uncompressed counts (kept compressed, counts as text), ``iscrowd``; ``area`` is ignored because
  exporters often write the image area there.

Boxes become :class:`Box` for detection projects; for instance segmentation each annotation becomes
an :class:`Instance` with its polygons or RLE and its box. Panoptic JSONs (``segments_info``) and
image-only lists are reported and skipped.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InvalidInput
from ..geometry import (
    box_is_valid,
    clip_box,
    polygon_box,
    polygon_is_usable,
    rle_box,
    rle_normalize,
    xywh_to_xyxy,
)
from ..schemas import Box, Instance
from . import ParsedDataset, ParsedImage
from .annotation_files import (
    IMAGE_EXTS,
    IssueLog,
    display_name,
    is_image,
    load_json,
    peek_text,
    subset_tag,
    to_float,
    walk_files,
)

#: category names that mean "no object" in converters' output
BACKGROUND_NAMES = {"_background_", "__background__", "background", "__ignore__"}
#: boxes may overshoot the image by this much (rounding) before it is worth a report
CLIP_TOLERANCE = 1.0


class CocoReader:
    name = "coco"
    tasks = ("object_detection", "instance_segmentation", "semantic_segmentation")

    def detect(self, root: Path) -> str | None:
        listing_only = None  # an image list whose "annotations" may lie beyond the peeked head
        for path in _candidate_files(root, limit=40):
            head = peek_text(path, 256 * 1024)
            if '"images"' not in head or '"file_name"' not in head or '"segments_info"' in head:
                continue
            if '"annotations"' in head:
                return f"{display_name(path, root)} is a COCO JSON (images with file_name, annotations)"
            listing_only = listing_only or path
        if listing_only is not None:
            return f"{display_name(listing_only, root)} is a COCO JSON (it lists images with file_name)"
        return None

    def read(self, root: Path, task: str, image_root: Path | None = None) -> ParsedDataset:
        """Parse ``root``; ``image_root`` is an extra folder where ``file_name`` is looked up first
        (for layouts that keep images far from the JSON)."""
        root = Path(root)
        if not root.exists():
            raise InvalidInput("does not exist", path=root)
        files = list(_candidate_files(root))
        if not files:
            raise InvalidInput("no COCO JSON here (a .json file with 'images' and 'annotations')", path=root)
        reader = _CocoRead(root, task, Path(image_root) if image_root is not None else None)
        used_any = False
        for path in files:
            used_any |= reader.read_file(path)
        if not used_any:
            if root.is_file():
                raise InvalidInput("not a COCO annotation file (needs 'images', 'annotations' and 'categories')",
                                   path=root)
            raise InvalidInput("no COCO JSON here (a .json file with 'images' and 'annotations')", path=root)
        return reader.result()


READER = CocoReader()


def _candidate_files(root: Path, limit: int | None = None):
    """JSON files worth opening: the file itself, or *.json under the folder (sorted)."""
    if root.is_file():
        yield root
        return
    if not root.is_dir():
        return
    n = 0
    for path in walk_files(root, (".json",)):
        yield path
        n += 1
        if limit is not None and n >= limit:
            return


class _CocoRead:
    """One read: state shared by the JSON files of one import."""

    def __init__(self, root: Path, task: str, image_root: Path | None = None):
        self.root = root
        self.image_root = image_root
        self.task = task
        self.log = IssueLog()
        self.class_names: list[str] = []
        self.images: dict[Path, ParsedImage] = {}
        self.origin: dict[Path, str] = {}  # image -> the JSON that listed it first
        self._index: dict[str, list[Path]] | None = None
        #: category names in category-id order, over all files read (first file first)
        self._category_order: list[str] = []

    # ----------------------------------------------------------------- one JSON file

    def read_file(self, path: Path) -> bool:
        """Read one JSON; False when it is not a COCO annotation file (reported if it looked like one)."""
        name = display_name(path, self.root)
        if self.root.is_dir():
            # cheap filter: don't parse every JSON of a big folder
            head = peek_text(path, 256 * 1024)
            if '"images"' not in head:
                return False
        data = load_json(path)  # InvalidInput naming the file when broken
        if not isinstance(data, dict) or not isinstance(data.get("images"), list):
            if self.root.is_file():
                raise InvalidInput("not a COCO annotation file (no 'images' list)", path=path)
            return False
        anns = data.get("annotations")
        if not isinstance(anns, list):
            self.log.add(name, "lists images but no 'annotations': not a COCO annotation file, ignored")
            return False
        if any(isinstance(a, dict) and "segments_info" in a for a in anns[:5]):
            self.log.add(name, "panoptic annotations (segments_info) are not supported; "
                               "import the detection-format JSON instead")
            return False
        cats = data.get("categories")
        if not isinstance(cats, list):
            self.log.add(name, "no 'categories' list: cannot name the classes")
            return False

        cat_names = self._categories(cats, name)
        tag = subset_tag(path, self.root)
        by_id = self._images(data["images"], path, name, tag)
        self._annotations(anns, by_id, cat_names, name)
        return True

    def _categories(self, cats: list, name: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for c in cats:
            if not isinstance(c, dict) or "id" not in c or not isinstance(c.get("name"), str):
                self.log.add(name, "category without an id or a name: ignored", "dropped")
                continue
            out[str(c["id"])] = c["name"]
        for _, cat_name in sorted(out.items(), key=lambda kv: _id_key(kv[0])):
            if cat_name not in self._category_order:
                self._category_order.append(cat_name)
        return out

    def _images(self, entries: list, json_path: Path, name: str, tag: str | None) -> dict[str, ParsedImage | None]:
        """Image id -> ParsedImage (None for images that could not be used)."""
        by_id: dict[str, ParsedImage | None] = {}
        for entry in entries:
            if not isinstance(entry, dict) or "id" not in entry or not isinstance(entry.get("file_name"), str) \
                    or not entry["file_name"].strip():
                self.log.add(name, "image entry without an id or a file_name: skipped")
                continue
            key = str(entry["id"])
            if key in by_id:
                self.log.add(name, f"image id {key} listed twice: the second entry is ignored")
                continue
            file_name = entry["file_name"]
            path = self._resolve(file_name, json_path)
            if path is None:
                self.log.add(name, f"image {file_name} not found (looked beside the JSON, in images/ "
                                   f"and under {self._base().name or self._base()})")
                by_id[key] = None
                continue
            if path in self.images:
                self.log.add(name, f"image {file_name} is also listed in {self.origin[path]}; "
                                   "the annotations from there were kept")
                by_id[key] = None
                continue
            w, h = to_float(entry.get("width")), to_float(entry.get("height"))
            declared = (int(w), int(h)) if w and h and w > 0 and h > 0 else None
            img = ParsedImage(path=path, declared_size=declared, tags=[tag] if tag else [])
            self.images[path] = img
            self.origin[path] = name
            by_id[key] = img
        return by_id

    def _resolve(self, file_name: str, json_path: Path) -> Path | None:
        rel = Path(file_name.replace("\\", "/"))
        base = json_path.parent
        cands = [base / rel, base / "images" / rel, base / rel.name, base / "images" / rel.name]
        if self.image_root is not None:
            cands[:0] = [self.image_root / rel, self.image_root / rel.name]
        for cand in cands:
            if cand.is_file():
                return cand
        if rel.is_absolute() and rel.is_file():
            return rel
        matches = self._image_index().get(rel.name.lower(), [])
        if not matches:
            return None
        # prefer the copy whose path ends with the folders file_name gives
        tail = tuple(p.lower() for p in rel.parts)
        for m in matches:
            if tuple(p.lower() for p in m.parts[-len(tail):]) == tail:
                return m
        return matches[0]

    def _image_index(self) -> dict[str, list[Path]]:
        if self._index is None:
            self._index = {}
            for p in walk_files(self._base(), IMAGE_EXTS):
                if is_image(p):
                    self._index.setdefault(p.name.lower(), []).append(p)
        return self._index

    def _base(self) -> Path:
        return self.root if self.root.is_dir() else self.root.parent

    def _annotations(self, anns: list, by_id: dict[str, ParsedImage | None], cat_names: dict[str, str],
                     name: str) -> None:
        for ann in anns:
            if not isinstance(ann, dict):
                self.log.add(name, "annotation that is not an object: dropped", "dropped")
                continue
            img_key = str(ann.get("image_id"))
            if img_key not in by_id:
                self.log.add(name, f"annotation refers to image id {img_key}, which is not listed: dropped",
                             "dropped")
                continue
            img = by_id[img_key]
            if img is None:
                continue  # the image itself was reported
            cat = cat_names.get(str(ann.get("category_id")))
            if cat is None:
                self.log.add(name, f"annotation with unknown category id {ann.get('category_id')}: dropped",
                             "dropped")
                continue
            if cat in BACKGROUND_NAMES:
                continue
            self._one(ann, img, cat, name)

    def _one(self, ann: dict, img: ParsedImage, cat: str, name: str) -> None:
        iscrowd = bool(to_float(ann.get("iscrowd")) or 0)
        box, problem = self._box(ann.get("bbox"), img)
        polygons, rle = self._segmentation(ann.get("segmentation"), img, name)
        if box is None:
            # no usable bbox: the mask's extent is the box, as COCO defines it
            extent = polygon_box(polygons) if polygons else (rle_box(rle) if rle is not None else [])
            if extent and box_is_valid(*extent):
                box = extent
                if problem:
                    self.log.add(name, f"{problem}: the mask's extent is used instead", "kept")
            else:
                self.log.add(name, f"{problem or f'annotation of {img.path.name} without a bbox or a mask'}: "
                                   "dropped", "dropped")
                return
        cls = self._class(cat)
        if self.task in ("instance_segmentation", "semantic_segmentation"):  # semantic: painted into masks
            if not polygons and rle is None:
                self.log.add(name, "annotation without a segmentation mask (box only): dropped "
                                   f"for {self.task.replace('_', ' ')}", "dropped")
                return
            img.instances.append(Instance(cls=cls, polygons=polygons, rle=rle, box=list(box), iscrowd=iscrowd))
        else:
            img.boxes.append(Box(cls=cls, x1=box[0], y1=box[1], x2=box[2], y2=box[3], iscrowd=iscrowd))

    def _box(self, raw: object, img: ParsedImage) -> tuple[tuple[float, float, float, float] | None, str | None]:
        """The bbox as x1 y1 x2 y2 (clipped to the declared size), or None and why not."""
        if raw is None or (isinstance(raw, list) and not raw):
            return None, None
        vals = [to_float(v) for v in raw] if isinstance(raw, list) else []
        if len(vals) != 4 or any(v is None for v in vals):
            return None, f"bbox of {img.path.name} is not 4 numbers"
        x1, y1, x2, y2 = xywh_to_xyxy(*vals)  # type: ignore[arg-type]
        if not box_is_valid(x1, y1, x2, y2):
            return None, f"degenerate bbox (width or height <= 0) in {img.path.name}"
        if img.declared_size:
            (cx1, cy1, cx2, cy2), changed = clip_box(x1, y1, x2, y2, *img.declared_size)
            if not box_is_valid(cx1, cy1, cx2, cy2):
                return None, f"bbox outside {img.path.name}"
            if changed and max(abs(cx1 - x1), abs(cy1 - y1), abs(cx2 - x2), abs(cy2 - y2)) > CLIP_TOLERANCE:
                self.log.add(self.origin.get(img.path, ""), f"bbox beyond the border of {img.path.name}: clipped",
                             "clipped")
            x1, y1, x2, y2 = cx1, cy1, cx2, cy2
        return (x1, y1, x2, y2), None

    def _segmentation(self, seg: object, img: ParsedImage, name: str) -> tuple[list[list[float]], dict | None]:
        if seg is None or seg == [] or seg == {}:
            return [], None
        if isinstance(seg, dict):
            size = img.declared_size
            try:
                rle = rle_normalize(seg, size[1] if size else None, size[0] if size else None)
            except (ValueError, TypeError, OverflowError) as exc:
                self.log.add(name, f"unreadable RLE mask in {img.path.name} ({exc}): mask dropped", "dropped")
                return [], None
            return [], rle
        if isinstance(seg, list):
            if seg and all(not isinstance(v, list) for v in seg):
                seg = [seg]  # a single flat polygon, as some tools write it
            polygons: list[list[float]] = []
            for poly in seg:
                vals = [to_float(v) for v in poly] if isinstance(poly, list) else [None]
                if any(v is None for v in vals) or not polygon_is_usable(vals):  # type: ignore[arg-type]
                    self.log.add(name, f"polygon with fewer than 3 points or no area in {img.path.name}: dropped",
                                 "dropped")
                    continue
                polygons.append([float(v) for v in vals])  # type: ignore[arg-type]
            return polygons, None
        self.log.add(name, f"segmentation of {img.path.name} is neither polygons nor RLE: dropped", "dropped")
        return [], None

    def _class(self, cat: str) -> int:
        if cat not in self.class_names:
            self.class_names.append(cat)
        return self.class_names.index(cat)

    # ----------------------------------------------------------------- result

    def result(self) -> ParsedDataset:
        self._order_classes()
        return ParsedDataset(format="coco", images=list(self.images.values()), class_names=self.class_names,
                             issues=self.log.issues(), detected_because="COCO JSON")

    def _order_classes(self) -> None:
        """Classes were numbered in order of first use; renumber them in category-id order."""
        order = {n: i for i, n in enumerate(self._category_order)}
        new = sorted(self.class_names, key=lambda n: (order.get(n, len(order)), n))
        remap = {self.class_names.index(n): i for i, n in enumerate(new)}
        if remap == {i: i for i in range(len(new))}:
            return
        for img in self.images.values():
            for b in img.boxes:
                b.cls = remap[b.cls]
            for inst in img.instances:
                inst.cls = remap[inst.cls]
        self.class_names = new


def _id_key(raw: str) -> tuple[int, float, str]:
    """Sort key for category ids that may be numbers or strings."""
    num = to_float(raw)
    return (0, num, "") if num is not None else (1, 0.0, raw)
