"""MVTec AD layout: ``train/good``, ``test/good``, ``test/<defect>``, ``ground_truth/<defect>``.

Defect masks are 0/255 PNGs named ``NNN_mask.png`` (MVTec) or ``NNN.png`` (some forks, e.g.
the OTX hazelnut sample); both are found. A defect image without a mask is imported without
one and reported. The defect folder name becomes ``Anomaly.defect`` and a tag; ``train``/
``test`` become tags so a split can honour the original protocol.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InvalidInput
from ..images import IMAGE_EXTENSIONS, is_image_file
from ..schemas import Anomaly
from . import ImportIssue, ParsedDataset, ParsedImage


def _category_root(root: Path) -> Path | None:
    """``root`` itself, or its single sub-folder, when it has the MVTec layout."""
    candidates = [root]
    if root.is_dir():
        subs = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
        if len(subs) == 1:
            candidates.append(subs[0])
    for c in candidates:
        if (c / "train" / "good").is_dir() and (c / "test").is_dir():
            return c
    return None


def _find_mask(gt_dir: Path, stem: str) -> Path | None:
    for name in (f"{stem}_mask", stem):
        for ext in IMAGE_EXTENSIONS:
            p = gt_dir / f"{name}{ext}"
            if p.is_file():
                return p
    return None


class MVTecReader:
    name = "mvtec"
    tasks = ("anomaly_detection",)

    def detect(self, root: Path) -> str | None:
        cat = _category_root(root)
        if cat is None:
            return None
        gt = " and ground_truth/" if (cat / "ground_truth").is_dir() else ""
        return f"MVTec AD layout: train/good, test/{gt}"

    def read(self, root: Path, task: str) -> ParsedDataset:
        cat = _category_root(root)
        if cat is None:
            raise InvalidInput("is not an MVTec AD folder (needs train/good and test/)", path=root)
        parsed = ParsedDataset(format=self.name)
        for subset in ("train", "test"):
            sub = cat / subset
            if not sub.is_dir():
                continue
            for defect_dir in sorted(p for p in sub.iterdir() if p.is_dir()):
                defect = defect_dir.name
                normal = defect.lower() == "good"
                for p in sorted(defect_dir.iterdir()):
                    if not p.is_file() or p.name.startswith("."):
                        continue
                    if not is_image_file(p):
                        parsed.issues.append(ImportIssue(str(p), "not an image file"))
                        continue
                    item = ParsedImage(path=p, tags=[subset] if normal else [subset, defect])
                    if normal:
                        item.anomaly = Anomaly(status="normal")
                    else:
                        item.anomaly = Anomaly(status="anomalous", defect=defect)
                        mask = _find_mask(cat / "ground_truth" / defect, p.stem)
                        if mask is None:
                            parsed.issues.append(ImportIssue(str(p), "no defect mask in ground_truth/"
                                                             f"{defect}/ (imported without one)", "kept"))
                        item.anomaly_mask_path = mask
                    parsed.images.append(item)
        if not parsed.images:
            raise InvalidInput("has the MVTec layout but no images", path=cat)
        return parsed


READER = MVTecReader()
