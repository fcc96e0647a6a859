"""YOLO (ultralytics / darknet) reader: detection boxes, segment polygons and oriented boxes.

Layout it understands, as ultralytics does:

* a ``data.yaml`` (any ``*.yaml`` with ``names``) whose ``train`` / ``val`` / ``test`` entries are
  folders, lists of folders or ``.txt`` lists of image paths, relative to ``path:``. ``path`` is
  often relative to some other folder than the yaml's (coco128.yaml says ``../datasets/coco128``
  meaning "beside the ultralytics checkout"), so it is tried against the yaml's folder and its
  parents, then with its leading ``../`` removed; if nothing matches, the ``images/`` folders
  under the yaml's folder are used;
* without a yaml: ``classes.txt`` (one name per line) and images with labels either in the
  matching ``labels/`` folder or beside them;
* label ``images/a/b.jpg`` -> ``labels/a/b.txt`` (the last ``images`` folder swapped for ``labels``).

Label lines: ``cls cx cy w h`` (box), ``cls x1 y1 x2 y2 ...`` (segment polygon), and for oriented
projects ``cls x1 y1 ... x4 y4`` (ultralytics OBB), all normalised to 0-1 by the image size after
EXIF orientation; the reader reads that size from the image header only when a label needs it.
Images without a label file are kept unannotated (reported), label files without an image are
reported; README or other text files outside ``labels/`` are never read as labels.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InvalidInput
from ..geometry import box_is_valid, clip_box, polygon_box, polygon_is_usable, rbox_from_corners
from ..schemas import Box, Instance, RotatedBox
from . import ImportIssue, ParsedDataset, ParsedImage
from .annotation_files import (
    IMAGE_EXTS,
    IssueLog,
    display_name,
    image_size,
    is_image,
    peek_text,
    read_text,
    subset_tag,
    to_float,
    walk_files,
    yaml_error,
)

SUBSET_KEYS = ("train", "val", "test")
#: normalised coordinates may overshoot 1 by rounding; beyond this they are not normalised at all
NORM_TOLERANCE = 0.01


class YoloReader:
    name = "yolo"
    tasks = ("object_detection", "instance_segmentation", "oriented_object_detection")

    def detect(self, root: Path) -> str | None:
        for y in _yaml_files(root):
            if _looks_like_data_yaml(y):
                return f"{display_name(y, root)} declares YOLO class names"
        if root.is_dir():
            for labels in _labels_dirs(root):
                for txt in walk_files(labels, (".txt",), max_depth=3):
                    if txt.name == "classes.txt":
                        continue
                    if _label_line_ok(peek_text(txt, 2048)):
                        return f"{display_name(labels, root)}/ holds YOLO label files"
                    break
        return None

    def read(self, root: Path, task: str) -> ParsedDataset:
        root = Path(root)
        if not root.exists():
            raise InvalidInput("does not exist", path=root)
        return _YoloRead(root, task).run()


READER = YoloReader()


# ----------------------------------------------------------------------------- discovery

def _yaml_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root] if root.suffix.lower() in (".yaml", ".yml") else []
    if not root.is_dir():
        return []
    found = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in (".yaml", ".yml"))
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        found += sorted(p for p in sub.iterdir() if p.is_file() and p.suffix.lower() in (".yaml", ".yml"))
    return found


def _looks_like_data_yaml(path: Path) -> bool:
    head = peek_text(path, 16 * 1024)
    return any(line.startswith("names:") for line in head.splitlines())


def _labels_dirs(root: Path) -> list[Path]:
    """``labels/`` folders at the top two levels of ``root`` (or ``root`` itself)."""
    out = [root] if root.name == "labels" else []
    for folder in [root, *sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))]:
        if (folder / "labels").is_dir():
            out.append(folder / "labels")
    return out[:4]


def _label_line_ok(text: str) -> bool:
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        return len(parts) >= 5 and parts[0].isdigit() and all(to_float(p) is not None for p in parts[1:])
    return False


def _is_within(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except (OSError, ValueError, RuntimeError):
        return False


def label_path_for(image: Path) -> Path:
    """Where ultralytics looks for an image's label: the last ``images`` folder -> ``labels``."""
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts).with_suffix(".txt")
    return image.with_suffix(".txt")


class _YoloRead:
    def __init__(self, root: Path, task: str):
        self.root = root
        self.base_dir = root if root.is_dir() else root.parent
        self.task = task
        self.log = IssueLog()
        self.extra: list[ImportIssue] = []
        self.id_to_index: dict[int, int] = {}
        self.class_names: list[str] = []
        self.named = True

    def name(self, path: Path) -> str:
        return display_name(path, self.root)

    # ------------------------------------------------------------------- top level

    def run(self) -> ParsedDataset:
        yaml_path, data = self._data_yaml()
        subsets: list[tuple[str | None, list[Path]]] = []
        if data is not None:
            self._names_from(data.get("names"), yaml_path)
            subsets = self._subsets(data, yaml_path)
        else:
            self._names_from_classes_txt()
        if not subsets:
            subsets = self._by_folder(self._images_under(self.base_dir))
        images = self._assign(subsets)
        if not images:
            raise InvalidInput("no images found for the YOLO labels (looked in images/ folders and beside "
                               "the labels)", path=self.root)
        parsed = [self._image(path, tag) for path, tag in images.items()]
        self._orphans(images)
        if not self.named:
            self._number_order(parsed)
        return ParsedDataset(format="yolo", images=[p for p in parsed if p is not None],
                             class_names=self.class_names, issues=self.extra + self.log.issues(),
                             detected_because="YOLO labels")

    def _data_yaml(self) -> tuple[Path | None, dict | None]:
        import yaml

        candidates = _yaml_files(self.root)
        for path in candidates:
            if self.root.is_dir() and not _looks_like_data_yaml(path):
                continue
            try:
                data = yaml.safe_load(read_text(path))
            except yaml.YAMLError as exc:
                raise InvalidInput(yaml_error(exc), path=path) from exc
            if isinstance(data, dict) and "names" in data:
                return path, data
            if self.root.is_file():
                raise InvalidInput("not a YOLO data yaml (no 'names')", path=path)
        return None, None

    def _names_from(self, names: object, yaml_path: Path | None) -> None:
        pairs: list[tuple[int, str]] = []
        if isinstance(names, list):
            pairs = [(i, str(n)) for i, n in enumerate(names)]
        elif isinstance(names, dict):
            for k, v in names.items():
                num = to_float(k)
                if num is None or num != int(num) or num < 0:
                    raise InvalidInput(f"class id {k!r} in 'names' is not a whole number", path=yaml_path)
                pairs.append((int(num), str(v)))
        else:
            raise InvalidInput("'names' must be a list or a mapping id: name", path=yaml_path)
        for class_id, class_name in sorted(pairs):
            self.id_to_index[class_id] = len(self.class_names)
            self.class_names.append(class_name)

    def _names_from_classes_txt(self) -> None:
        for cand in (self.base_dir / "classes.txt", self.base_dir / "labels" / "classes.txt",
                     self.base_dir / "obj.names", self.base_dir / "classes.names"):
            if cand.is_file():
                names = [line.strip() for line in read_text(cand).splitlines() if line.strip()]
                self._names_from(names, cand)
                return
        self.named = False

    def _dataset_dir(self, data: dict, yaml_path: Path) -> Path:
        raw = data.get("path")
        here = yaml_path.parent
        if not raw:
            return here
        rel = Path(str(raw))
        if rel.is_absolute():
            if rel.is_dir():
                return rel
            rel = Path(*rel.parts[1:])
        stripped = Path(*[p for p in rel.parts if p not in ("..", ".")]) if rel.parts else rel
        tries = [here / rel, here / stripped, here / stripped.name, *[p / rel for p in here.parents]]
        # a folder inside what the user picked wins over one elsewhere (which the importer
        # would refuse anyway: it never reads outside the imported folder)
        inside = [t for t in tries if _is_within(t, self.base_dir)]
        for t in [*inside, *[t for t in tries if t not in inside]]:
            if t.is_dir():
                return t
        self.extra.append(ImportIssue(self.name(yaml_path), f"dataset folder path: {raw} not found; "
                                      "searched for images/ under the yaml's folder instead", "kept"))
        return here

    def _subsets(self, data: dict, yaml_path: Path) -> list[tuple[str | None, list[Path]]]:
        base = self._dataset_dir(data, yaml_path)
        out: list[tuple[str | None, list[Path]]] = []
        for key in SUBSET_KEYS:
            entry = data.get(key)
            if not entry:
                continue
            entries = entry if isinstance(entry, list) else [entry]
            found: list[Path] = []
            for e in entries:
                found += self._images_of_entry(str(e), base, yaml_path, key)
            out.append((key, found))
        if not any(found for _, found in out):
            images = self._images_under(base if base.is_dir() else yaml_path.parent)
            return self._by_folder(images) if images else []
        return out

    def _images_of_entry(self, entry: str, base: Path, yaml_path: Path, key: str) -> list[Path]:
        p = Path(entry)
        p = p if p.is_absolute() else base / p
        if not p.exists() and entry.startswith("../"):
            # Roboflow writes "../train/images" beside a data.yaml that sits in the dataset root;
            # ultralytics falls back to dropping the "../", and so do we
            p = base / entry[3:]
        if p.is_dir():
            return self._images_under(p)
        if p.is_file() and p.suffix.lower() == ".txt":
            out = []
            for line in read_text(p).splitlines():
                line = line.strip()
                if not line:
                    continue
                img = Path(line) if Path(line).is_absolute() else (p.parent / line)
                if not img.is_file():
                    img = base / line
                if img.is_file():
                    out.append(img)
                else:
                    self.log.add(self.name(p), f"lists {line}, which does not exist")
            return out
        self.extra.append(ImportIssue(self.name(yaml_path), f"{key}: {entry} not found", "skipped"))
        return []

    def _by_folder(self, images: list[Path]) -> list[tuple[str | None, list[Path]]]:
        """Without a yaml naming subsets, folders called train/val/test do (Roboflow's layout)."""
        groups: dict[str | None, list[Path]] = {}
        for p in images:
            groups.setdefault(subset_tag(p, self.root), []).append(p)
        return list(groups.items())

    def _images_under(self, folder: Path) -> list[Path]:
        return [p for p in walk_files(folder, IMAGE_EXTS)
                if is_image(p) and "labels" not in p.relative_to(folder).parts[:-1]]

    def _assign(self, subsets: list[tuple[str | None, list[Path]]]) -> dict[Path, str | None]:
        """Image -> subset tag; an image listed by several subsets gets none (said once)."""
        images: dict[Path, str | None] = {}
        shared: set[tuple[str, str]] = set()
        for tag, paths in subsets:
            for p in paths:
                if p in images:
                    if images[p] is not None and images[p] != tag:
                        shared.add((images[p], tag))  # type: ignore[arg-type]
                        images[p] = None
                    continue
                images[p] = tag
        for a, b in sorted(shared):
            self.extra.append(ImportIssue(self.root.name, f"{a} and {b} list the same images: "
                                          "those images get no subset tag", "kept"))
        return images

    # ------------------------------------------------------------------- one image

    def _label_file(self, image: Path) -> Path | None:
        for cand in (label_path_for(image), image.with_suffix(".txt")):
            if cand.is_file():
                return cand
        return None

    def _image(self, path: Path, tag: str | None) -> ParsedImage | None:
        img = ParsedImage(path=path, tags=[tag] if tag else [])
        label = self._label_file(path)
        if label is None:
            self.log.add(self.name(path), "no label file: imported without annotations", "kept")
            return img
        lines = [(i, ln.split()) for i, ln in enumerate(read_text(label).splitlines(), 1) if ln.strip()]
        if not lines:
            return img  # an empty label file means "nothing in this image"
        try:
            size = image_size(path, upright=True)
        except InvalidInput as exc:
            self.log.add(self.name(path), f"{exc.message}: skipped")
            return None
        # declared_size stays None: YOLO coordinates are in the upright (EXIF-applied) frame, and
        # a declared size equal to the raw one would make the importer re-orient them
        name = self.name(label)
        for lineno, parts in lines:
            self._line(parts, lineno, name, img, size)
        return img

    def _line(self, parts: list[str], lineno: int, name: str, img: ParsedImage, size: tuple[int, int]) -> None:
        cls_raw = to_float(parts[0])
        nums = [to_float(p) for p in parts[1:]]
        if cls_raw is None or cls_raw != int(cls_raw) or any(v is None for v in nums):
            self.log.add(name, f"line {lineno} is not numbers: dropped", "dropped")
            return
        if len(nums) < 4 or (len(nums) > 4 and len(nums) % 2):
            self.log.add(name, f"line {lineno} has {len(nums)} coordinates (expected 4, or x y pairs): dropped",
                         "dropped")
            return
        cls = self._class(int(cls_raw), name, lineno)
        if cls is None:
            return
        if any(v < -NORM_TOLERANCE or v > 1 + NORM_TOLERANCE for v in nums):  # type: ignore[operator]
            self.log.add(name, f"line {lineno} has coordinates outside 0-1 (not normalised): dropped", "dropped")
            return
        w, h = size
        vals = [min(max(float(v), 0.0), 1.0) for v in nums]  # type: ignore[arg-type]
        if len(vals) == 4:
            cx, cy, bw, bh = vals[0] * w, vals[1] * h, vals[2] * w, vals[3] * h
            raw = (cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2)
            clipped, changed = clip_box(*raw, w, h)
            # labels hold 6 decimals: overshooting the border by a pixel is rounding, not an error
            if changed and max(abs(a - b) for a, b in zip(raw, clipped, strict=True)) > 1.0:
                self.log.add(name, f"line {lineno}: box extends beyond the image: clipped", "clipped")
            box = list(clipped)
            if not box_is_valid(*box):
                self.log.add(name, f"line {lineno}: box with zero width or height: dropped", "dropped")
                return
            self._emit_box(img, cls, box, name, lineno)
            return
        pts = [v * (w if i % 2 == 0 else h) for i, v in enumerate(vals)]
        if self.task == "oriented_object_detection" and len(pts) == 8:
            rb = rbox_from_corners(pts)
            if rb is None:
                self.log.add(name, f"line {lineno}: oriented box with no area: dropped", "dropped")
                return
            img.rboxes.append(RotatedBox(cls=cls, cx=rb[0], cy=rb[1], w=rb[2], h=rb[3], angle=rb[4], corners=pts))
            return
        if not polygon_is_usable(pts):
            self.log.add(name, f"line {lineno}: polygon with no area: dropped", "dropped")
            return
        box = polygon_box([pts])
        if self.task == "instance_segmentation":
            img.instances.append(Instance(cls=cls, polygons=[pts], box=box))
        elif self.task == "oriented_object_detection":
            self.log.add(name, f"line {lineno}: a polygon of {len(pts) // 2} points is not an oriented box: dropped",
                         "dropped")
        else:
            img.boxes.append(Box(cls=cls, x1=box[0], y1=box[1], x2=box[2], y2=box[3]))

    def _emit_box(self, img: ParsedImage, cls: int, box: list[float], name: str, lineno: int) -> None:
        x1, y1, x2, y2 = box
        if self.task == "instance_segmentation":
            self.log.add(name, "box-only lines (no polygon) cannot be instance masks: dropped", "dropped")
        elif self.task == "oriented_object_detection":
            img.rboxes.append(RotatedBox(cls=cls, cx=(x1 + x2) / 2, cy=(y1 + y2) / 2, w=x2 - x1, h=y2 - y1,
                                         angle=0.0, corners=[x1, y1, x2, y1, x2, y2, x1, y2]))
        else:
            img.boxes.append(Box(cls=cls, x1=x1, y1=y1, x2=x2, y2=y2))

    def _class(self, class_id: int, name: str, lineno: int) -> int | None:
        if class_id in self.id_to_index:
            return self.id_to_index[class_id]
        if self.named:
            self.log.add(name, f"line {lineno}: class id {class_id} is not in the class names: dropped", "dropped")
            return None
        # no names anywhere: classes are called by their number
        self.id_to_index[class_id] = len(self.class_names)
        self.class_names.append(str(class_id))
        if len(self.class_names) == 1:
            self.extra.append(ImportIssue(self.root.name, "no data.yaml or classes.txt: classes are named "
                                          "by their number", "kept"))
        return self.id_to_index[class_id]

    def _number_order(self, parsed: list[ParsedImage | None]) -> None:
        """Classes named by their number: index them in number order, not order of first use."""
        ordered = sorted(self.id_to_index, key=int)
        remap = {self.id_to_index[cid]: i for i, cid in enumerate(ordered)}
        for img in parsed:
            for ann in [*(img.boxes if img else []), *(img.instances if img else []), *(img.rboxes if img else [])]:
                ann.cls = remap[ann.cls]
        self.class_names = [str(cid) for cid in ordered]
        self.id_to_index = {cid: i for i, cid in enumerate(ordered)}

    # ------------------------------------------------------------------- orphans

    def _orphans(self, images: dict[Path, str | None]) -> None:
        """Label files in the labels folders of the images read, matching no image."""
        used = {label_path_for(p) for p in images} | {p.with_suffix(".txt") for p in images}
        label_dirs = {label_path_for(p).parent for p in images}
        for d in sorted(label_dirs):
            if not d.is_dir() or d.name != "labels" and "labels" not in d.parts:
                continue
            for txt in sorted(d.glob("*.txt")):
                if txt not in used and txt.name != "classes.txt":
                    self.log.add(self.name(txt), "label file without an image: skipped")
