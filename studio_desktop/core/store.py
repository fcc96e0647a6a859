"""Atomic JSON files with schema versions (DESIGN §2.5).

Every write goes to a temporary file in the same folder, is flushed and fsynced, then
moved over the target with ``os.replace`` (atomic on POSIX and Windows), and the folder
is fsynced. A crash at any point leaves either the old file or the new one, never a mix.

Reads go through pydantic models. Each stored kind has a current ``schema_version``;
older files are upgraded by the functions registered in :data:`MIGRATIONS` before
validation, so old workspaces keep opening after the schemas evolve.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from .errors import StoreError

M = TypeVar("M", bound=BaseModel)

#: kind -> {from_version: function(dict) -> dict at from_version + 1}
MIGRATIONS: dict[str, dict[int, Callable[[dict[str, Any]], dict[str, Any]]]] = {}


def register_migration(kind: str, from_version: int):
    """Decorator: register ``fn(data) -> data`` upgrading ``kind`` from ``from_version``."""

    def deco(fn: Callable[[dict[str, Any]], dict[str, Any]]):
        MIGRATIONS.setdefault(kind, {})[from_version] = fn
        return fn

    return deco


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return  # Windows cannot open a directory for fsync; os.replace is still atomic there.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


#: O_BINARY keeps Windows from turning "\n" into "\r\n" on a low-level file descriptor
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


def _create_temp(path: Path) -> tuple[int, Path]:
    """A new, empty temporary file beside ``path``, created with mode 0666 so that the umask
    applies as to any file the app makes (``tempfile.mkstemp`` forces 0600, which would make a
    workspace shared by a lab group unreadable to the others)."""
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(tmp, _CREATE_FLAGS, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new content, never a mix.

    The new file's mode follows the umask (like any other file the app writes), whatever the
    mode of the file it replaces."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, data: Any) -> None:
    """Write JSON (UTF-8, indented so a person can read and diff it) atomically."""
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def read_json(path: str | Path) -> Any:
    """Read a JSON file; a missing, unreadable or corrupt file raises :class:`StoreError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StoreError("file not found", path=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"cannot be read: {exc}", path=path) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise StoreError(f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
                         path=path) from None


def migrate(kind: str, data: dict[str, Any], current: int, path: Path | None = None) -> dict[str, Any]:
    """Upgrade ``data`` of ``kind`` step by step to version ``current``."""
    version = data.get("schema_version", 1)
    if not isinstance(version, int):
        raise StoreError(f"schema_version must be an integer, found {version!r}", path=path)
    if version > current:
        raise StoreError(
            f"was written by a newer AI Studio (schema {version}, this version reads up to {current})",
            path=path, hint="update AI Studio to open it")
    steps = MIGRATIONS.get(kind, {})
    while version < current:
        if version not in steps:
            raise StoreError(f"no migration for {kind} schema {version} -> {version + 1}", path=path)
        data = steps[version](dict(data))
        version += 1
        data["schema_version"] = version
    return data


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "(top level)"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"invalid field '{where}': {err.get('msg')}{more}"


def parse_model(model: type[M], data: Any, path: Path | None = None) -> M:
    """Validate ``data`` (already migrated) as ``model``; errors name the file and the field."""
    if not isinstance(data, dict):
        raise StoreError(f"expected a JSON object, found {type(data).__name__}", path=path)
    kind = getattr(model, "KIND", model.__name__)
    current = getattr(model, "SCHEMA_VERSION", 1)
    data = migrate(kind, data, current, path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise StoreError(_first_error(exc), path=path) from None


def read_model(path: str | Path, model: type[M]) -> M:
    """Read, migrate and validate a stored file as ``model``."""
    path = Path(path)
    return parse_model(model, read_json(path), path)


def write_model(path: str | Path, obj: BaseModel) -> None:
    """Write a model atomically, stamped with its current ``schema_version``."""
    data = obj.model_dump(mode="json")
    data["schema_version"] = getattr(type(obj), "SCHEMA_VERSION", 1)
    atomic_write_json(path, data)
