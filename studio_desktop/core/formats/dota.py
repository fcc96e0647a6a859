"""DOTA ``labelTxt`` reader (oriented object detection; axis-aligned boxes for detection projects).

A DOTA dataset is ``images/`` beside ``labelTxt/``, one ``<image stem>.txt`` per image, each
line ``x1 y1 x2 y2 x3 y3 x4 y4 class difficult`` (integer or float pixel coordinates; the
difficult flag may be missing), optionally after ``imagesource:`` and ``gsd:`` header lines.

The four corners are kept exactly as given (``RotatedBox.corners``); the centre, size and angle
are those of the minimum-area rectangle around them (``core.geometry.rbox_from_corners``), since
annotated quadrilaterals are rarely exact rectangles. Images may be PNG, JPEG or TIFF. A label
file whose image is absent is reported (even an empty one: it still names an image that is not
there); images without a label file are kept unannotated and reported.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InvalidInput
from ..geometry import polygon_box, rbox_from_corners
from ..schemas import Box, RotatedBox
from . import ParsedDataset, ParsedImage
from .annotation_files import (
    IMAGE_EXTS,
    IssueLog,
    display_name,
    find_image,
    is_image,
    peek_text,
    read_text,
    to_float,
    walk_files,
)

HEADER_KEYS = ("imagesource:", "gsd:")


class DotaReader:
    name = "dota"
    tasks = ("oriented_object_detection", "object_detection")

    def detect(self, root: Path) -> str | None:
        for d in _label_dirs(root):
            return f"{display_name(d, root) if d != root else d.name}/ is a DOTA labelTxt folder"
        if root.is_file() and root.suffix.lower() == ".txt" and _dota_lines(peek_text(root)):
            return f"{root.name} holds DOTA lines (8 corner coordinates and a class)"
        return None

    def read(self, root: Path, task: str) -> ParsedDataset:
        root = Path(root)
        if not root.exists():
            raise InvalidInput("does not exist", path=root)
        if root.is_file():
            label_files = [root]
        else:
            label_files = [p for d in _label_dirs(root) for p in walk_files(d, (".txt",), max_depth=2)]
        if not label_files:
            raise InvalidInput("no DOTA labelTxt/ folder here", path=root)
        log = IssueLog()
        class_names: list[str] = []
        images: list[ParsedImage] = []
        labelled: set[Path] = set()
        for txt in label_files:
            name = display_name(txt, root)
            image = find_image(txt.stem, _image_folders(txt))
            if image is None:
                empty = not read_text(txt).strip()
                log.add(name, ("empty label file" if empty else "label file") +
                        f" without an image ({txt.stem}.png/.jpg/.tif not in images/): skipped")
                continue
            if image in labelled:
                log.add(name, f"{image.name} already has a label file: skipped")
                continue
            labelled.add(image)
            img = ParsedImage(path=image)
            _parse_lines(read_text(txt), name, img, task, class_names, log)
            images.append(img)
        # images nobody labelled: kept, but said
        for folder in sorted({d for txt in label_files for d in _image_folders(txt)[:1] if d.is_dir()}):
            for p in walk_files(folder, IMAGE_EXTS, max_depth=1):
                if is_image(p) and p not in labelled:
                    labelled.add(p)
                    images.append(ParsedImage(path=p))
                    log.add(display_name(p, root), "no label file in labelTxt/: imported without annotations",
                            "kept")
        # class indices in name order, so two imports of DOTA number classes alike
        order = sorted(class_names)
        remap = {class_names.index(n): i for i, n in enumerate(order)}
        for img in images:
            for ann in [*img.rboxes, *img.boxes]:
                ann.cls = remap[ann.cls]
        return ParsedDataset(format="dota", images=images, class_names=order, issues=log.issues(),
                             detected_because="DOTA labelTxt")


READER = DotaReader()


def _label_dirs(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    if root.name.lower() == "labeltxt":
        return [root]
    out = []
    for folder in [root, *sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))]:
        for sub in ("labelTxt", "labeltxt"):
            if (folder / sub).is_dir():
                out.append(folder / sub)
                break
        if len(out) >= 8:
            break
    if not out:  # DOTA-style layouts nest one level deeper (tests/data/labelTxt)
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
                if (sub / "labelTxt").is_dir():
                    out.append(sub / "labelTxt")
    return out


def _image_folders(txt: Path) -> list[Path]:
    base = txt.parent.parent
    return [base / "images", base / "Images", base / "imgs", txt.parent]


def _dota_lines(text: str) -> bool:
    for line in text.splitlines():
        parts = line.split()
        if not parts or line.startswith(HEADER_KEYS):
            continue
        return len(parts) >= 9 and all(to_float(p) is not None for p in parts[:8]) and to_float(parts[8]) is None
    return False


def _parse_lines(text: str, name: str, img: ParsedImage, task: str, class_names: list[str], log: IssueLog) -> None:
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.lower().startswith(HEADER_KEYS):
            continue
        parts = stripped.split()
        coords = [to_float(p) for p in parts[:8]]
        if len(parts) < 9 or any(c is None for c in coords):
            log.add(name, f"line {lineno} is not 8 coordinates followed by a class: dropped", "dropped")
            continue
        cls_name = parts[8]
        difficult = len(parts) > 9 and parts[9] not in ("0", "0.0")
        corners = [float(c) for c in coords]  # type: ignore[arg-type]
        rb = rbox_from_corners(corners)
        if rb is None:
            log.add(name, f"line {lineno}: the 4 corners enclose no area: dropped", "dropped")
            continue
        if cls_name not in class_names:
            class_names.append(cls_name)
        cls = class_names.index(cls_name)
        if task == "object_detection":
            x1, y1, x2, y2 = polygon_box([corners])
            img.boxes.append(Box(cls=cls, x1=x1, y1=y1, x2=x2, y2=y2, difficult=difficult))
        else:
            cx, cy, w, h, angle = rb
            img.rboxes.append(RotatedBox(cls=cls, cx=cx, cy=cy, w=w, h=h, angle=angle, corners=corners,
                                         difficult=difficult))
