"""Importing a dataset into a project: one transaction (DESIGN §2.7 "nothing is lost").

1. A ZIP is extracted safely into a staging folder; the format is auto-detected (and the
   user told why) unless given.
2. The format's reader parses the folder into :class:`ParsedDataset` (no files copied).
3. Every image is read once, hashed (content id = sha256 prefix), fully decoded (corrupt,
   truncated, bomb -> reported), re-oriented when its EXIF says so, copied into
   ``dataset/.staging-<random>/`` with its thumbnail and mask, in a thread pool (Pillow and
   hashlib release the GIL, so threads scale without pickling images between processes).
4. Annotations are checked against the project's task and image bounds (see
   :mod:`.import_checks`), classes are merged onto the project's classes.
5. Commit: staged files move into ``images/ masks/ thumbnails/`` by ``os.replace`` and
   ``dataset.json`` is written atomically last. A cancel or an error before that leaves the
   dataset exactly as it was (moved files are moved back); a crash leaves only a staging
   folder, removed by the next import.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..tasks import get_task
from .datasets import DatasetStore
from .errors import InvalidInput, StudioError
from .formats import ImportIssue, ParsedDataset, ParsedImage
from .formats.archive import is_zip, safe_extract
from .formats.registry import detect_format, get_reader
from .images import BadImage, ImageInfo, reoriented_bytes, thumbnail_from, transpose_for
from .import_checks import AnnotationChecker, merge_classes
from .projects import ProjectService
from .schemas import Anomaly, Dataset, ImageRecord, ImportEntry, Project
from .semantic_from_shapes import BACKGROUND, needs_masks_from_shapes, with_background
from .store import write_model
from .workspace import Workspace

Progress = Callable[[int, int, str], None]
Cancel = Callable[[], bool]

STAGING_PREFIX = ".staging-"
EXTENSIONS = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "BMP": ".bmp", "TIFF": ".tif", "WEBP": ".webp"}


class ImportCancelled(StudioError):
    """The user cancelled; nothing was changed."""


@dataclass
class ImportReport:
    """What an import did, shown to the user and printed by ``studio dataset import --json``."""

    imported: int = 0
    duplicates: int = 0
    skipped: int = 0
    issues: list[ImportIssue] = field(default_factory=list)
    format: str = ""
    detected_because: str = ""
    classes_added: list[str] = field(default_factory=list)
    targets_added: list[str] = field(default_factory=list)

    @property
    def nothing_imported(self) -> bool:
        """The source offered images and every one was skipped: a failed import, although the
        transaction completed (images already in the dataset, duplicates, are not a failure)."""
        return self.imported == 0 and self.skipped > 0

    def as_json(self) -> dict:
        return {"imported": self.imported, "duplicates": self.duplicates, "skipped": self.skipped,
                "nothing_imported": self.nothing_imported,
                "format": self.format, "detected_because": self.detected_because,
                "classes_added": self.classes_added, "targets_added": self.targets_added,
                "issues": [i.as_json() for i in self.issues]}

    def summary(self) -> str:
        text = f"imported {self.imported} images ({self.format})"
        if self.duplicates:
            text += f", {self.duplicates} duplicates ignored"
        if self.skipped:
            text += f", {self.skipped} skipped"
        if self.classes_added:
            text += f", new classes: {', '.join(self.classes_added)}"
        return text


@dataclass
class StagedImage:
    """The result of staging one image (or why it was not staged)."""

    item: ParsedImage
    id: str = ""
    sha256: str = ""
    file: str = ""
    info: ImageInfo | None = None
    mask: str | None = None
    error: str | None = None
    duplicate: bool = False


# ------------------------------------------------------------------ staging one image

class _Stager:
    """Stages images into one staging folder; safe to call from several threads."""

    def __init__(self, staging: Path, existing_ids: set[str], mask_lut: np.ndarray | None = None):
        self.staging = staging
        self.mask_lut = mask_lut
        self.existing = existing_ids
        self.claimed: set[str] = set()
        self.lock = threading.Lock()
        for sub in ("images", "masks", "thumbnails"):
            (staging / sub).mkdir(parents=True, exist_ok=True)

    def __call__(self, item: ParsedImage) -> StagedImage:
        out = StagedImage(item)
        try:
            data = item.path.read_bytes()
        except OSError as exc:
            out.error = f"cannot be read ({exc.strerror or exc})"
            return out
        out.sha256 = hashlib.sha256(data).hexdigest()
        out.id = out.sha256[:16]
        with self.lock:
            if out.id in self.existing or out.id in self.claimed:
                out.duplicate = True
                return out
            self.claimed.add(out.id)
        try:
            out.info = thumbnail_from(data, self.staging / "thumbnails" / f"{out.id}.jpg")
            if out.info.orientation != 1:
                data = reoriented_bytes(data, out.info)
            out.file = f"images/{out.id}{EXTENSIONS.get(out.info.format, item.path.suffix.lower())}"
            _write(self.staging / out.file, data)
            if item.mask_path is not None:
                out.mask = self._stage_mask(item.mask_path, out, binary=False)
            elif item.anomaly_mask_path is not None:
                out.mask = self._stage_mask(item.anomaly_mask_path, out, binary=True)
        except BadImage as exc:
            out.error = str(exc)
        except OSError as exc:
            out.error = f"cannot be staged ({exc})"
        except Exception as exc:  # noqa: BLE001 - Pillow raises many types on hostile files;
            # one bad file must become a line in the report, never abort the import
            out.error = f"cannot be read as an image ({type(exc).__name__}: {exc})"
        if out.error:
            with self.lock:
                self.claimed.discard(out.id)
        return out

    def _stage_mask(self, path: Path, out: StagedImage, *, binary: bool) -> str:
        """Copy a mask as an index PNG in the image's (oriented) frame."""
        assert out.info is not None
        try:
            with Image.open(path) as m:
                m.load()
                mask = m
        except (OSError, ValueError) as exc:
            raise BadImage(f"its mask {path} cannot be read ({exc})") from None
        if mask.size == out.info.raw_size:
            mask = transpose_for(mask, out.info.orientation)
        elif mask.size != out.info.size:
            raise BadImage(f"its mask {path.name} is {mask.size[0]}x{mask.size[1]} but the image is "
                           f"{out.info.size[0]}x{out.info.size[1]}")
        arr = np.asarray(mask.convert("L") if mask.mode not in ("L", "P", "I", "I;16") else mask)
        if binary:
            arr = np.where(arr > 0, 255, 0)
        elif arr.max(initial=0) > 255:
            raise BadImage(f"its mask {path.name} has values above 255 (class ids must be 0..254)")
        elif self.mask_lut is not None:
            arr = self.mask_lut[arr.astype(np.uint8)]
        rel = f"masks/{out.id}.png"
        tmp = self.staging / f"{rel}.{threading.get_ident()}.tmp"
        Image.fromarray(arr.astype(np.uint8), "L").save(tmp, "PNG")
        os.replace(tmp, self.staging / rel)
        return rel


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# ------------------------------------------------------------------ the transaction

def remove_leftover_staging(store: DatasetStore) -> int:
    """Remove staging folders left by a crashed or killed import; returns how many."""
    if not store.root.is_dir():
        return 0
    leftovers = [p for p in store.root.glob(f"{STAGING_PREFIX}*") if p.is_dir()]
    for p in leftovers:
        shutil.rmtree(p, ignore_errors=True)
    return len(leftovers)


def _inside(path: Path, root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root)
    except (OSError, RuntimeError):
        return False


def _read_source(source: Path, fmt: str, task: str, staging: Path) -> tuple[ParsedDataset, Path, str]:
    """Parse ``source`` (folder, table file or ZIP); returns (parsed, root, detected_because)."""
    if not source.exists():
        raise InvalidInput("does not exist", path=source)
    root = source
    if is_zip(source):
        root = safe_extract(source, staging / "source")
    if fmt == "auto":
        fmt, because = detect_format(root, task)
    else:
        because = f"chosen with --format {fmt}"
    reader = get_reader(fmt, task)
    try:
        parsed = reader.read(root, task)
    except (StudioError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - a reader bug must still reach the user as one line
        raise InvalidInput(f"could not be read as {fmt} ({type(exc).__name__}: {exc})", path=source,
                           hint="please report this file to the AI Studio developers") from exc
    parsed.format = parsed.format or fmt
    if parsed.detected_because:
        because = f"{because}; {parsed.detected_because}"
    return parsed, root, because


def import_dataset(ws: Workspace, project_id: str, source: Path, fmt: str = "auto",
                   progress: Progress | None = None, cancel: Cancel | None = None,
                   workers: int | None = None) -> ImportReport:
    """Import ``source`` into the project as one transaction; see the module docstring."""
    ws.ensure_writable()
    projects = ProjectService(ws)
    project = projects.get(project_id)
    task = get_task(project.task)
    store = DatasetStore(ws, project.id)
    store.root.mkdir(parents=True, exist_ok=True)
    remove_leftover_staging(store)
    staging = store.root / f"{STAGING_PREFIX}{secrets.token_hex(4)}"
    staging.mkdir()
    source = Path(source).expanduser()
    try:
        parsed, root, because = _read_source(source, fmt, project.task, staging)
        report = ImportReport(format=parsed.format, detected_because=because, issues=list(parsed.issues))
        dataset = store.load()
        base = (root if root.is_dir() else root.parent).resolve()
        todo: list[ParsedImage] = []
        for item in parsed.images:
            bad = next((p for p in (item.path, item.mask_path, item.anomaly_mask_path)
                        if p is not None and not _inside(p, base)), None)
            if bad is not None:
                report.issues.append(ImportIssue(str(bad), "refused: points outside the imported folder"))
            else:
                todo.append(item)
        new_project, mapping, report.classes_added, report.targets_added = merge_classes(
            project, parsed, task.has_classes)
        background = None
        if needs_masks_from_shapes(task.annotation, todo):
            new_project, background, added = with_background(new_project)
            if added:
                report.classes_added.append(BACKGROUND)
        staged = _stage_all(todo, staging, {r.id for r in dataset.images}, progress, cancel, workers,
                            _mask_lut(mapping))
        if cancel is not None and cancel():
            raise ImportCancelled("import cancelled; the dataset was not changed")
        checker = AnnotationChecker(task, mapping, parsed.class_names, background, parsed.layered)
        records: list[ImageRecord] = []
        for s in staged:
            if s.duplicate:
                report.duplicates += 1
                continue
            if s.error or s.info is None:
                report.issues.append(ImportIssue(str(s.item.path), s.error or "could not be staged"))
                continue
            records.append(_record(s, checker, source, root, staging))
        report.issues.extend(checker.issues())
        report.imported = len(records)
        report.skipped = sum(1 for i in report.issues if i.action == "skipped")
        dataset.images.extend(records)
        dataset.imports.append(ImportEntry(source=str(source), format=report.format,
                                           imported=report.imported, duplicates=report.duplicates,
                                           skipped=report.skipped))
        if report.nothing_imported:  # a failed import changes nothing, not even the classes
            report.classes_added, report.targets_added = [], []
        elif records or new_project != project:
            _commit(store, projects, staging, records, dataset,
                    (project, new_project) if new_project != project else None)
        return report
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _mask_lut(mapping: list[int]) -> np.ndarray | None:
    """Lookup table turning a source's mask values (class indices) into the project's class ids;
    None when they already agree. Values the source did not name become 255 (ignore)."""
    if mapping == list(range(len(mapping))):
        return None
    lut = np.full(256, 255, dtype=np.uint8)
    for index, class_id in enumerate(mapping[:255]):
        lut[index] = min(class_id, 255)
    return lut


def _stage_all(items: list[ParsedImage], staging: Path, existing: set[str], progress: Progress | None,
               cancel: Cancel | None, workers: int | None, mask_lut: np.ndarray | None = None
               ) -> list[StagedImage]:
    stager = _Stager(staging, existing, mask_lut)
    total = len(items)
    if progress:
        progress(0, total, "staging images")
    results: list[StagedImage | None] = [None] * total
    workers = workers or min(8, max(2, 2 * (os.cpu_count() or 1)))  # threads also overlap file I/O
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="import")
    try:
        pending = {}
        it = iter(enumerate(items))
        done = 0

        def feed(n: int) -> None:
            for _ in range(n):
                nxt = next(it, None)
                if nxt is None:
                    return
                pending[pool.submit(stager, nxt[1])] = nxt[0]

        feed(workers * 4)  # bounded queue: a cancel stops within a few images
        while pending:
            finished, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            if cancel is not None and cancel():
                raise ImportCancelled("import cancelled; the dataset was not changed")
            for fut in finished:
                results[pending.pop(fut)] = fut.result()
                done += 1
            feed(len(finished))
            if progress and finished:
                progress(done, total, f"{done}/{total} images")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return [r for r in results if r is not None]


def _record(s: StagedImage, checker: AnnotationChecker, source: Path, root: Path, staging: Path) -> ImageRecord:
    assert s.info is not None
    item = s.item
    where = str(item.path)
    if is_zip(source):
        where = f"{source}!{item.path.relative_to(root).as_posix()}" if item.path.is_relative_to(root) else where
    width, height = s.info.size
    rec = ImageRecord(id=s.id, file=s.file, width=width, height=height, sha256=s.sha256, source=where,
                      tags=list(dict.fromkeys(item.tags)), group=item.group)
    # Annotations are re-oriented only when they provably refer to the raw (stored) frame: the
    # orientation swaps the axes (EXIF 5-8) and the file declares the raw, non-square size. Flips
    # and 180° (2-4) keep the size, so nothing tells the frames apart; annotation tools show the
    # upright image, so those annotations are taken as drawn.
    raw_w, raw_h = s.info.raw_size
    oriented = (s.info.orientation in (5, 6, 7, 8) and raw_w != raw_h
                and item.declared_size == s.info.raw_size)
    checker.apply(rec, item, s.info if oriented else None)
    if item.mask_path is not None and s.mask and checker.uses("mask"):
        rec.mask = s.mask
    painted = checker.semantic_mask(rec, item, s.info if oriented else None)
    if painted is not None:
        rec.mask = f"masks/{s.id}.png"
        Image.fromarray(painted, "L").save(staging / rec.mask, "PNG")
    if item.anomaly is not None and checker.uses("anomaly"):
        rec.anomaly = Anomaly(status=item.anomaly.status, defect=item.anomaly.defect,
                              mask=s.mask if item.anomaly_mask_path is not None else None)
    if s.mask and rec.mask is None and (rec.anomaly is None or rec.anomaly.mask is None):
        (staging / s.mask).unlink(missing_ok=True)  # not used by this task: not committed
    return rec


def _commit(store: DatasetStore, projects: ProjectService, staging: Path, records: list[ImageRecord],
            dataset: Dataset, projects_change: tuple[Project, Project] | None = None) -> None:
    """Move staged files in, save the project's classes, write dataset.json last.
    Any failure before dataset.json is written moves the files back and restores project.json."""
    moved: list[tuple[Path, Path]] = []
    project_saved = False
    try:
        for sub in ("images", "masks", "thumbnails"):
            (store.root / sub).mkdir(parents=True, exist_ok=True)
        for rec in records:
            rels = [rec.file, f"thumbnails/{rec.id}.jpg"]
            rels += [m for m in (rec.mask, rec.anomaly.mask if rec.anomaly else None) if m]
            for rel in dict.fromkeys(rels):
                src, dst = staging / rel, store.root / rel
                if src.exists():
                    os.replace(src, dst)
                    moved.append((dst, src))
        if projects_change is not None:
            projects.save(projects_change[1])
            project_saved = True
        store.save(dataset)
    except BaseException:
        if project_saved and projects_change is not None:
            write_model(projects.project_file(projects_change[0].id), projects_change[0])
        for dst, src in reversed(moved):
            try:
                os.replace(dst, src)
            except OSError:
                pass
        raise


def delete_images(ws: Workspace, project_id: str, ids: list[str] | set[str]) -> int:
    """Remove images (records first, atomically; then their files). Returns how many."""
    ws.ensure_writable()
    project = ProjectService(ws).get(project_id)
    store = DatasetStore(ws, project.id)
    dataset = store.load()
    wanted = set(ids)
    gone = [r for r in dataset.images if r.id in wanted]
    unknown = wanted - {r.id for r in gone}
    if unknown:
        raise InvalidInput(f"no image with id {', '.join(sorted(unknown)[:5])} in project '{project.name}'")
    dataset.images = [r for r in dataset.images if r.id not in wanted]
    store.save(dataset)
    for r in gone:
        for rel in (r.file, r.mask, r.anomaly.mask if r.anomaly else None):
            if rel:
                store.path_of(rel).unlink(missing_ok=True)
        store.thumbnail_path(r.id).unlink(missing_ok=True)
    return len(gone)
