"""Folder per class: ``root/<class>/*.jpg`` (classification) or good/defect folders (anomaly).

The most common way people sort images by hand. One level of split folders is understood
too (``root/train/<class>/``, ``root/val/<class>/``): the split name becomes a tag. For
anomaly detection, folders named good/normal/ok hold normal images and every other folder
name is a defect category (kept as ``Anomaly.defect`` and as a tag).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InvalidInput
from ..images import is_image_file
from ..schemas import Anomaly
from . import ImportIssue, ParsedDataset, ParsedImage

SPLIT_NAMES = frozenset({"train", "training", "val", "valid", "validation", "test", "testing"})
NORMAL_NAMES = frozenset({"good", "normal", "ok", "pass", "nominal"})


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "__")))


def _has_images(folder: Path) -> bool:
    return any(is_image_file(p) for p in folder.iterdir() if p.is_file())


def class_folders(root: Path) -> list[tuple[Path, str, str | None]]:
    """(folder, class name, split tag) for every class folder under ``root``."""
    out: list[tuple[Path, str, str | None]] = []
    for sub in _subdirs(root):
        if sub.name.lower() in SPLIT_NAMES and not _has_images(sub):
            out.extend((c, c.name, sub.name) for c in _subdirs(sub) if _has_images(c))
        elif _has_images(sub):
            out.append((sub, sub.name, None))
    return out


class FolderReader:
    name = "folder"
    tasks = ("classification", "anomaly_detection")

    def detect(self, root: Path) -> str | None:
        if not root.is_dir():
            return None
        folders = class_folders(root)
        names = sorted({n for _, n, _ in folders})
        if len(names) >= 2 or (len(names) == 1 and names[0].lower() in NORMAL_NAMES):
            return f"{len(names)} sub-folders of images, one per class ({', '.join(names[:5])})"
        return None

    def read(self, root: Path, task: str) -> ParsedDataset:
        if not root.is_dir():
            raise InvalidInput("is not a folder (folder-per-class import needs a folder)", path=root)
        folders = class_folders(root)
        if not folders:
            raise InvalidInput("has no sub-folders of images (expected one folder per class)", path=root)
        parsed = ParsedDataset(format=self.name)
        anomaly = task == "anomaly_detection"
        if not anomaly:
            parsed.class_names = sorted({n for _, n, _ in folders})
        for p in sorted(root.iterdir()):
            if p.is_file() and is_image_file(p):
                parsed.issues.append(ImportIssue(str(p), "image is not inside a class folder"))
        for folder, cls_name, split in folders:
            for p in sorted(folder.iterdir()):
                if not p.is_file() or p.name.startswith("."):
                    continue
                if not is_image_file(p):
                    parsed.issues.append(ImportIssue(str(p), f"not an image file ({p.suffix or 'no extension'})"))
                    continue
                tags = [split] if split else []
                item = ParsedImage(path=p, tags=tags)
                if anomaly:
                    normal = cls_name.lower() in NORMAL_NAMES
                    item.anomaly = Anomaly(status="normal" if normal else "anomalous",
                                           defect=None if normal else cls_name)
                    if not normal:
                        item.tags.append(cls_name)
                else:
                    item.label = parsed.class_names.index(cls_name)
                parsed.images.append(item)
        return parsed


READER = FolderReader()
