"""Pascal VOC XML reader (object detection): one ``<annotation>`` file per image.

Coordinates: VOC's own tools write ``bndbox`` as 1-based, inclusive pixel indices (a box covering
a whole W-pixel-wide image is ``xmin=1, xmax=W``). In the studio's continuous frame
(``[0, W]``, see ``core.geometry``) that box is ``x1 = xmin - 1, x2 = xmax``, which is what this
reader stores (detectron2 converts the same way). Tools that write fractional coordinates
(labelme's ``labelme2voc``, CVAT) already use the continuous 0-based frame, so a file whose
coordinates are not all whole numbers is taken as is. Boxes are clipped to the declared size.

Images: ``<filename>`` is looked up beside the XML, in ``JPEGImages/`` or ``images/`` next to the
annotations folder, then by the XML's own name; ``<path>`` (often an absolute path on the
annotator's Mac) is only a last resort. ``difficult`` is kept, ``truncated`` and ``pose`` are
not used, a root ``verified="yes"`` (labelImg) becomes the tag ``verified``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from ..errors import InvalidInput
from ..geometry import box_is_valid, clip_box
from ..schemas import Box
from . import ParsedDataset, ParsedImage
from .annotation_files import IssueLog, display_name, find_image, peek_text, to_float, walk_files, xml_error

#: a box may overshoot the declared size by this much (rounding) before it is reported
CLIP_TOLERANCE = 1.0


class VocReader:
    name = "voc"
    tasks = ("object_detection",)

    def detect(self, root: Path) -> str | None:
        if root.is_file():
            if root.suffix.lower() == ".xml" and "<annotation" in peek_text(root):
                return f"{root.name} is a Pascal VOC annotation"
            return None
        if not root.is_dir():
            return None
        for n, xml in enumerate(walk_files(root, (".xml",), max_depth=3)):
            if "<annotation" in peek_text(xml, 2048):
                return f"{display_name(xml, root)} is a Pascal VOC annotation"
            if n > 20:
                break
        return None

    def read(self, root: Path, task: str) -> ParsedDataset:
        root = Path(root)
        if not root.exists():
            raise InvalidInput("does not exist", path=root)
        files = [root] if root.is_file() else list(walk_files(root, (".xml",)))
        log = IssueLog()
        parsed: list[tuple[ParsedImage, list[tuple[str, Box]]]] = []
        seen: dict[Path, str] = {}
        for xml in files:
            name = display_name(xml, root)
            try:
                result = _read_one(xml, name, log)
            except InvalidInput as exc:
                if root.is_file():
                    raise
                log.add(name, f"{exc.message}: skipped")
                continue
            if result is None:
                continue
            img, objects = result
            if img.path in seen:
                log.add(name, f"{img.path.name} is also annotated by {seen[img.path]}; that file was kept")
                continue
            seen[img.path] = name
            parsed.append((img, objects))
        if not parsed and not log.issues():
            raise InvalidInput("no Pascal VOC annotation (.xml with <annotation>) here", path=root)
        class_names = sorted({cls for _, objs in parsed for cls, _ in objs})
        index = {n: i for i, n in enumerate(class_names)}
        images = []
        for img, objs in parsed:
            for cls, box in objs:
                box.cls = index[cls]
                img.boxes.append(box)
            images.append(img)
        return ParsedDataset(format="voc", images=images, class_names=class_names, issues=log.issues(),
                             detected_because="Pascal VOC XML")


READER = VocReader()


def _parse(xml: Path) -> ET.Element:
    """Parse one XML file; bytes first, so that the declared encoding is honoured."""
    try:
        data = xml.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot be read ({exc.strerror or exc})", path=xml) from exc
    try:
        try:
            return ET.fromstring(data)
        except ValueError:
            # expat lacks multi-byte encodings such as GBK (Chinese builds of labelImg write it)
            m = re.match(rb"\s*<\?xml[^>]*encoding=[\"']([\w.:-]+)", data)
            try:
                text = data.decode(m.group(1).decode("ascii") if m else "utf-8", errors="replace")
            except LookupError:
                text = data.decode("utf-8", errors="replace")
            return ET.fromstring(re.sub(r"^\s*<\?xml[^>]*\?>", "", text))
    except ET.ParseError as exc:
        raise InvalidInput(xml_error(exc), path=xml) from exc
    except (ValueError, RecursionError) as exc:
        raise InvalidInput("unreadable XML", path=xml) from exc


def _text(el: ET.Element | None, tag: str) -> str:
    child = el.find(tag) if el is not None else None
    return (child.text or "").strip() if child is not None else ""


def _find_image(xml: Path, root_el: ET.Element) -> Path | None:
    filename = _text(root_el, "filename").replace("\\", "/")
    here, above = xml.parent, xml.parent.parent
    folders = [here, above / "JPEGImages", above / "images", above, here / "JPEGImages", here / "images"]
    if filename:
        rel = Path(filename)
        for folder in folders:
            for cand in (folder / rel, folder / rel.name):
                if cand.is_file():
                    return cand
        # a filename without extension, or with the wrong one
        found = find_image(Path(rel.name).stem, folders)
        if found:
            return found
    found = find_image(xml.stem, folders)
    if found:
        return found
    path = _text(root_el, "path")
    if path and Path(path).is_file():
        return Path(path)
    return None


def _read_one(xml: Path, name: str, log: IssueLog) -> tuple[ParsedImage, list[tuple[str, Box]]] | None:
    root_el = _parse(xml)
    if root_el.tag != "annotation":
        return None  # some other XML file (a project file, metadata...): not ours
    image = _find_image(xml, root_el)
    if image is None:
        wanted = _text(root_el, "filename") or xml.stem
        log.add(name, f"image {wanted} not found (looked beside the XML, in JPEGImages/ and images/): skipped")
        return None
    size_el = root_el.find("size")
    w, h = to_float(_text(size_el, "width")), to_float(_text(size_el, "height"))
    declared = (int(w), int(h)) if w and h and w > 0 and h > 0 else None
    img = ParsedImage(path=image, declared_size=declared)
    if root_el.get("verified", "").lower() in ("yes", "true", "1"):
        img.tags.append("verified")

    raw: list[tuple[str, list[float | None], bool]] = []
    all_whole = True
    for obj in root_el.iter("object"):
        cls = _text(obj, "name")
        if not cls:
            log.add(name, "object without a <name>: dropped", "dropped")
            continue
        bnd = obj.find("bndbox")
        if bnd is None:
            log.add(name, f"object {cls} without a <bndbox>: dropped", "dropped")
            continue
        texts = [_text(bnd, t) for t in ("xmin", "ymin", "xmax", "ymax")]
        vals = [to_float(t) for t in texts]
        if any(v is None for v in vals):
            log.add(name, f"object {cls} has a non-numeric <bndbox>: dropped", "dropped")
            continue
        all_whole &= all(v == int(v) for v in vals)  # type: ignore[arg-type]
        raw.append((cls, vals, _text(obj, "difficult") in ("1", "true", "True")))

    objects: list[tuple[str, Box]] = []
    for cls, vals, difficult in raw:
        x1, y1, x2, y2 = (float(v) for v in vals)  # type: ignore[arg-type]
        if all_whole:  # VOC's 1-based inclusive pixel indices -> continuous frame
            x1, y1 = x1 - 1, y1 - 1
        if not box_is_valid(x1, y1, x2, y2):
            log.add(name, f"object {cls} has a box with zero or negative size: dropped", "dropped")
            continue
        if declared:
            (cx1, cy1, cx2, cy2), changed = clip_box(x1, y1, x2, y2, *declared)
            if not box_is_valid(cx1, cy1, cx2, cy2):
                log.add(name, f"object {cls} lies outside the image: dropped", "dropped")
                continue
            if changed and max(abs(cx1 - x1), abs(cy1 - y1), abs(cx2 - x2), abs(cy2 - y2)) > CLIP_TOLERANCE:
                log.add(name, f"object {cls} extends beyond the image: clipped", "clipped")
            x1, y1, x2, y2 = cx1, cy1, cx2, cy2
        objects.append((cls, Box(cls=0, x1=x1, y1=y1, x2=x2, y2=y2, difficult=difficult)))
    return img, objects
