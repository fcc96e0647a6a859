"""Every import format, in one explicit dict, and auto-detection over them.

Auto-detection asks each reader that can feed the project's task whether the folder looks
like its format (each answers with a one-line reason). Specific formats (with their own
annotation files) are asked first; the generic ones (a CSV table, folders per class) only
when no specific one matched. Two specific matches are ambiguous: the user is told both
candidates and their reasons and asked to pick with ``--format``. A file named directly that
matches nothing and cannot even be parsed (truncated JSON, broken YAML or XML) is reported as
such, with the line and column where it breaks.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InvalidInput
from . import FormatReader, coco, csv_format, dota, folder, labelme, masks, mvtec, voc, yolo
from .annotation_files import syntax_problem

#: format id -> reader, in auto-detection order (specific formats first)
FORMATS: dict[str, FormatReader] = {
    "mvtec": mvtec.READER,
    "coco": coco.READER,
    "dota": dota.READER,
    "voc": voc.READER,
    "labelme": labelme.READER,
    "yolo": yolo.READER,
    "masks": masks.READER,
    "csv": csv_format.READER,
    "folder": folder.READER,
}
#: formats that only apply when nothing more specific matched
GENERIC = ("csv", "folder")
#: every format id the CLI accepts (including ones not importable in this build)
FORMAT_CHOICES = ("auto", "folder", "csv", "coco", "yolo", "voc", "dota", "labelme", "masks", "mvtec")


def get_reader(fmt: str, task: str) -> FormatReader:
    reader = FORMATS.get(fmt)
    if reader is None:
        raise InvalidInput(f"unknown or unavailable format '{fmt}'; available: {', '.join(FORMATS)}")
    if task not in reader.tasks:
        raise InvalidInput(f"the {fmt} format cannot feed a {task.replace('_', ' ')} project "
                           f"(it feeds: {', '.join(t.replace('_', ' ') for t in reader.tasks)})")
    return reader


def candidates(root: Path, task: str) -> list[tuple[str, str]]:
    """(format, reason) for every reader of ``task`` that recognises ``root``, in order."""
    found: list[tuple[str, str]] = []
    for name, reader in FORMATS.items():
        if task not in reader.tasks:
            continue
        try:
            reason = reader.detect(root)
        except (OSError, ValueError):
            reason = None
        if reason:
            found.append((name, reason))
    return found


def detect_format(root: Path, task: str) -> tuple[str, str]:
    """The format of ``root`` for a ``task`` project and why; InvalidInput when unclear."""
    found = candidates(root, task)
    specific = [c for c in found if c[0] not in GENERIC]
    generic = [c for c in found if c[0] in GENERIC]
    if len(specific) == 1:
        return specific[0]
    if len(specific) > 1:
        listing = "; ".join(f"{n}: {r}" for n, r in specific)
        raise InvalidInput(f"could be several formats ({listing}); choose one with --format",
                           path=root)
    if generic:
        return generic[0]
    problem = syntax_problem(root) if root.is_file() else None
    if problem:
        raise InvalidInput(problem, path=root)
    wanted = ", ".join(n for n, r in FORMATS.items() if task in r.tasks)
    raise InvalidInput(f"no known format recognised for a {task.replace('_', ' ')} project "
                       f"(looked for: {wanted})", path=root)
