"""Semantic masks: an image folder and a mask folder, paired by file stem.

Folder pairs are found by convention: ``train`` <-> ``trainannot`` (CamVid/SegNet),
``images`` <-> ``masks``/``labels``/``annotations``, ``X`` <-> ``X_masks``/``X_labels``.
Masks are index PNGs (pixel value = class id, 255 = ignore) or palette PNGs (the palette
index is the class id, as in Pascal VOC). RGB masks are mapped to class ids through the
colours of a ``labelmap.txt`` (``name:r,g,b::``, as CVAT and VOC tools write it) or, without
one, through their distinct colours in order of appearance; they are converted to index
PNGs in a temporary folder, since readers never write into the workspace.
Class names come from ``classes.txt``/``labelmap.txt`` when present, else ``class 0..N``.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import InvalidInput
from ..images import is_image_file
from . import ImportIssue, ParsedDataset, ParsedImage

IMAGE_DIRS = ("images", "image", "imgs", "img", "jpegimages")
MASK_DIRS = ("masks", "mask", "labels", "label", "annotations", "segmentationclass", "gt", "annot")
MASK_SUFFIXES = ("annot", "_annot", "_masks", "_mask", "_labels", "_label", "_gt")
IGNORE = 255


def _dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def folder_pairs(root: Path) -> list[tuple[Path, Path]]:
    """(image folder, mask folder) pairs under ``root`` (itself and one level down)."""
    pairs: list[tuple[Path, Path]] = []
    for base in [root] + _dirs(root):
        subs = {p.name.lower(): p for p in _dirs(base)}
        for name, folder in subs.items():
            if name in IMAGE_DIRS:
                partner = next((subs[m] for m in MASK_DIRS if m in subs), None)
                if partner is not None:
                    pairs.append((folder, partner))
            for suffix in MASK_SUFFIXES:
                if name + suffix in subs:
                    pairs.append((folder, subs[name + suffix]))
                    break
    return pairs


def _read_labelmap(root: Path) -> tuple[list[str], list[tuple[int, int, int]] | None]:
    for name in ("labelmap.txt", "classes.txt"):
        p = root / name
        if not p.is_file():
            continue
        names: list[str] = []
        colours: list[tuple[int, int, int]] = []
        for line in p.read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            head, _, rest = line.partition(":")
            names.append(head.strip())
            rgb = rest.split(":")[0].split(",") if rest else []
            if len(rgb) == 3 and all(v.strip().isdigit() for v in rgb):
                colours.append(tuple(int(v) for v in rgb))  # type: ignore[arg-type]
        return names, (colours if len(colours) == len(names) and colours else None)
    return [], None


class MasksReader:
    name = "masks"
    tasks = ("semantic_segmentation",)

    def detect(self, root: Path) -> str | None:
        if not root.is_dir():
            return None
        pairs = folder_pairs(root)
        if not pairs:
            return None
        return "image and mask folders: " + ", ".join(f"{a.name} <-> {b.name}" for a, b in pairs[:3])

    def read(self, root: Path, task: str) -> ParsedDataset:
        pairs = folder_pairs(root) if root.is_dir() else []
        if not pairs:
            raise InvalidInput("has no image folder with a matching mask folder (e.g. images/ and "
                               "masks/, or train/ and trainannot/)", path=root)
        parsed = ParsedDataset(format=self.name)
        names, colours = _read_labelmap(root)
        colour_ids: dict[tuple[int, int, int], int] = {c: i for i, c in enumerate(colours or [])}
        converted_dir: Path | None = None
        max_id = -1
        for img_dir, mask_dir in pairs:
            masks = {p.stem: p for p in mask_dir.iterdir() if p.is_file() and is_image_file(p)}
            split = img_dir.name if img_dir.name.lower() not in IMAGE_DIRS else img_dir.parent.name
            used: set[str] = set()
            for p in sorted(img_dir.iterdir()):
                if not p.is_file() or not is_image_file(p):
                    continue
                mask = masks.get(p.stem)
                if mask is None:
                    parsed.issues.append(ImportIssue(str(p), f"no mask with the same name in {mask_dir.name}/"))
                    continue
                used.add(p.stem)
                try:
                    with Image.open(mask) as m:
                        mode = m.mode
                        if mode in ("RGB", "RGBA"):
                            arr = np.asarray(m.convert("RGB"))
                            index = np.full(arr.shape[:2], IGNORE, np.uint8)
                            for colour in map(tuple, np.unique(arr.reshape(-1, 3), axis=0)):
                                if colour not in colour_ids:
                                    if colours is not None:
                                        raise ValueError(f"colour {colour} is not in labelmap.txt")
                                    colour_ids[colour] = len(colour_ids)
                                index[(arr == colour).all(axis=2)] = colour_ids[colour]
                            if converted_dir is None:
                                converted_dir = Path(tempfile.mkdtemp(prefix="studio-masks-"))
                                atexit.register(shutil.rmtree, converted_dir, True)
                            out = converted_dir / f"{len(parsed.images)}.png"
                            Image.fromarray(index, "L").save(out)
                            values = np.unique(index)
                            mask = out
                        elif mode in ("L", "P", "I", "I;16"):
                            values = np.unique(np.asarray(m))
                        else:
                            raise ValueError(f"unsupported mask mode {mode}")
                except (OSError, ValueError) as exc:
                    parsed.issues.append(ImportIssue(str(mask), f"mask cannot be used: {exc}"))
                    continue
                valid = values[values != IGNORE]
                if valid.size:
                    max_id = max(max_id, int(valid.max()))
                parsed.images.append(ParsedImage(path=p, mask_path=mask,
                                                 tags=[split] if split and split != root.name else []))
            for stem, m in sorted(masks.items()):
                if stem not in used:
                    parsed.issues.append(ImportIssue(str(m), "mask without an image of the same name"))
        if colour_ids and not names:
            names = ["background" if c == (0, 0, 0) else f"colour {c[0]},{c[1]},{c[2]}" for c in colour_ids]
        if not names:
            names = [f"class {i}" for i in range(max_id + 1)]
        elif max_id >= len(names):
            parsed.issues.append(ImportIssue(str(root), f"masks use class ids up to {max_id} but only "
                                             f"{len(names)} class names are listed", "kept"))
            names = names + [f"class {i}" for i in range(len(names), max_id + 1)]
        parsed.class_names = names
        return parsed


READER = MasksReader()
