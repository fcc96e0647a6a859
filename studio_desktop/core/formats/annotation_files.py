"""Small helpers shared by the annotation-file readers (COCO, YOLO, VOC, DOTA, labelme).

Why: each of those readers has to find the image an annotation file names, read an image's
size from its header when the format does not declare it, load JSON/XML/text that may be
garbled, and name files in issues relative to what the user picked. Doing it once keeps the
messages and the search rules identical across formats.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import InvalidInput
from ..images import IMAGE_EXTENSIONS, is_image_file

#: image extensions the readers look for (lower case, with dot): the importer's own list
IMAGE_EXTS = IMAGE_EXTENSIONS

#: folder names that hold a subset of a dataset (kept as a tag on its images)
SUBSET_NAMES = {"train": "train", "training": "train", "val": "val", "valid": "val",
                "validation": "val", "test": "test", "testing": "test"}

#: folders never worth descending into while searching for annotation files
SKIP_DIRS = {".git", "__pycache__", "__MACOSX", ".ipynb_checkpoints", "node_modules"}


def display_name(path: Path, root: Path) -> str:
    """``path`` relative to the folder the user picked (or as is when outside it)."""
    base = root if root.is_dir() else root.parent
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return str(path)


is_image = is_image_file


def walk_files(root: Path, suffixes: Iterable[str], max_depth: int = 6) -> Iterator[Path]:
    """Files under ``root`` whose suffix (lower case) is one of ``suffixes``, in sorted order."""
    wanted = tuple(s.lower() for s in suffixes)
    root_depth = len(root.parts)
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        if len(here.parts) - root_depth >= max_depth:
            dirnames[:] = []
        for name in sorted(filenames):
            if not name.startswith(".") and name.lower().endswith(wanted):
                yield here / name


def image_size(path: Path, *, upright: bool = False) -> tuple[int, int]:
    """(width, height) from the image header (PIL opens lazily: no pixel decoding).

    With ``upright`` the size is the one after EXIF orientation (width and height swapped for
    orientations 5-8): formats that normalise coordinates by the displayed image (YOLO, as
    ultralytics writes it) need that one. Raises InvalidInput naming the file when it is not a
    readable image.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            w, h = int(im.size[0]), int(im.size[1])
            if upright:
                try:
                    orientation = im.getexif().get(0x0112, 1)
                except Exception:  # a broken EXIF block must not make the image unreadable
                    orientation = 1
                if orientation in (5, 6, 7, 8):
                    w, h = h, w
            return w, h
    except Image.DecompressionBombError as exc:
        raise InvalidInput("image too large to open safely", path=path) from exc
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        raise InvalidInput(f"not a readable image ({exc.__class__.__name__})", path=path) from exc


def find_image(stem: str, folders: Iterable[Path]) -> Path | None:
    """The image named ``stem`` + any image extension in the first folder that has one."""
    for folder in folders:
        if not folder.is_dir():
            continue
        for ext in IMAGE_EXTS:
            for cand in (folder / f"{stem}{ext}", folder / f"{stem}{ext.upper()}"):
                if cand.is_file():
                    return cand
    return None


def not_valid(kind: str, line: int | str, column: int | str, problem: str) -> str:
    """The one wording of a syntax error, whatever the language: where it breaks and why
    (line and column count from 1, as editors show them)."""
    return f"not valid {kind} (line {line}, column {column}: {problem})"


def json_error(exc: json.JSONDecodeError) -> str:
    return not_valid("JSON", exc.lineno, exc.colno, exc.msg)


def yaml_error(exc: Exception) -> str:
    """PyYAML's multi-line message folded to one line; its marks count from 0."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is None:
        return f"not valid YAML ({problem})"
    return not_valid("YAML", mark.line + 1, mark.column + 1, problem)


def xml_error(exc: Exception) -> str:
    """expat's message without its position (given apart); expat counts columns from 0."""
    line, column = getattr(exc, "position", None) or ("?", -1)
    problem = str(exc).split(": line ")[0]
    return not_valid("XML", line, column + 1 if isinstance(column, int) and column >= 0 else "?", problem)


def load_json(path: Path) -> object:
    """Parse a JSON file; InvalidInput naming the file and the position of the error otherwise."""
    try:
        with open(path, "rb") as fh:
            return json.loads(fh.read().decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise InvalidInput("not UTF-8 text, so not a JSON annotation file", path=path) from exc
    except json.JSONDecodeError as exc:
        raise InvalidInput(json_error(exc), path=path) from exc
    except RecursionError as exc:
        raise InvalidInput("JSON nested too deeply", path=path) from exc
    except OSError as exc:
        raise InvalidInput(f"cannot be read ({exc.strerror or exc})", path=path) from exc


def syntax_problem(path: Path) -> str | None:
    """Why a .json, .yaml or .xml file cannot even be parsed, or None (also for other files).

    Auto-detection recognises formats by a peek at their content, so a truncated or garbled
    annotation file matches no format; when the user named that file, this says what is
    wrong with it instead of "no known format recognised".
    """
    suffix = path.suffix.lower()
    if suffix not in (".json", ".yaml", ".yml", ".xml") or not path.is_file():
        return None
    try:
        if suffix == ".json":
            load_json(path)
        elif suffix == ".xml":
            import xml.etree.ElementTree as ET

            try:
                ET.parse(path)
            except ET.ParseError as exc:
                return xml_error(exc)
        else:
            import yaml

            try:
                yaml.safe_load(read_text(path))
            except yaml.YAMLError as exc:
                return yaml_error(exc)
    except InvalidInput as exc:
        return exc.message
    except (OSError, ValueError, RecursionError):
        return None  # unreadable in some other way: the readers say so when asked
    return None


def read_text(path: Path) -> str:
    """A text annotation file as str (UTF-8, tolerating a BOM and stray bytes)."""
    try:
        return path.read_bytes().decode("utf-8-sig", errors="replace")
    except OSError as exc:
        raise InvalidInput(f"cannot be read ({exc.strerror or exc})", path=path) from exc


def peek_text(path: Path, size: int = 4096) -> str:
    """The first ``size`` bytes of a file as text: enough for detect() to recognise a format."""
    try:
        with open(path, "rb") as fh:
            return fh.read(size).decode("utf-8", errors="replace")
    except OSError:
        return ""


def to_float(value: object) -> float | None:
    """A finite float from a number or numeric string, else None."""
    kind = type(value)
    if kind is float:  # the common case, a million times per big COCO file: keep it short
        return value if value - value == 0 else None  # type: ignore[operator]  # inf - inf, nan: nan
    if kind is int and -(2**53) <= value <= 2**53:  # type: ignore[operator]
        return float(value)  # type: ignore[arg-type]
    if isinstance(value, bool):
        return None
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    return out if out == out and out not in (float("inf"), float("-inf")) else None


def subset_tag(path: Path, root: Path) -> str | None:
    """The subset ("train", "val", "test") a file's folders name, relative to ``root``."""
    base = root if root.is_dir() else root.parent
    try:
        parts = path.relative_to(base).parts[:-1]
    except ValueError:
        parts = path.parts[:-1]
    for part in reversed(parts):
        tag = SUBSET_NAMES.get(part.lower())
        if tag:
            return tag
    return None


class IssueLog:
    """Collects import issues, folding repeats of one reason in one file into a single line.

    A COCO file with 5,000 annotations lacking a mask should give the user one line saying so
    ("... (5000 times)"), not 5,000 lines.
    """

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, str], int] = {}

    def add(self, file: str, reason: str, action: str = "skipped") -> None:
        key = (file, reason, action)
        self._counts[key] = self._counts.get(key, 0) + 1

    def issues(self) -> list:
        from . import ImportIssue

        out = []
        for (file, reason, action), n in self._counts.items():
            out.append(ImportIssue(file=file, reason=reason if n == 1 else f"{reason} ({n} times)", action=action))
        return out
