"""The dataset's images as a list model for the thumbnail grid, with filtering and sorting.

A dataset can hold 100,000 records. Validating all of them as pydantic ``ImageRecord``s takes
about 4 s and ~280 MB (measured), so :func:`load_image_rows` keeps the migrated JSON dicts and
derives one light :class:`ImageRow` per image (what the grid filters and sorts on); the detail
view validates the one record it shows with :func:`record_at`.

Filtering and sorting run as plain Python list operations over the rows (≈20–60 ms for 100k)
instead of a ``QSortFilterProxyModel``, whose per-row Python ``lessThan``/``filterAcceptsRow``
callbacks take seconds at that size. The model keeps an index array of the visible rows.
"""

from __future__ import annotations

import codecs
import gc
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt, Signal

from ...core.errors import StoreError
from ...core.schemas import Dataset, ImageRecord
from ...core.store import migrate

#: roles the delegate and page read
IdRole = Qt.ItemDataRole.UserRole + 1
RowRole = Qt.ItemDataRole.UserRole + 2

SORT_KEYS = {
    "name": lambda r: r.folded,
    "added": lambda r: r.added,
    "size": lambda r: r.pixels,
}
SORT_LABELS = {"added": "Date added", "name": "Name", "size": "Image size"}

#: GIL switch interval while a dataset is parsed in a worker thread (see load_image_rows)
SWITCH_INTERVAL_S = 0.0002
#: records handed to the grid before the rest of a large file is read
FIRST_SCREEN = 500

ANNOTATED_ANY, ANNOTATED_YES, ANNOTATED_NO = "any", "annotated", "unannotated"


@dataclass(frozen=True, slots=True)
class ImageRow:
    """What the grid needs of one image: cheap to hold 100,000 of."""

    id: str
    name: str
    #: the name lower-cased once, for search and sorting
    folded: str
    added: str
    width: int
    height: int
    classes: frozenset[int]
    tags: tuple[str, ...]
    annotated: bool

    @property
    def pixels(self) -> int:
        return self.width * self.height


@dataclass(frozen=True)
class ImageFilter:
    """The grid's filter bar state. ``cls``/``tag`` None mean "any"."""

    cls: int | None = None
    tag: str | None = None
    annotated: str = ANNOTATED_ANY
    search: str = ""
    #: "added" (import order) by default: the first records read are the first screen
    sort: str = "added"
    descending: bool = False

    def accepts(self, row: ImageRow) -> bool:
        if self.cls is not None and self.cls not in row.classes:
            return False
        if self.tag is not None and self.tag not in row.tags:
            return False
        if self.annotated == ANNOTATED_YES and not row.annotated:
            return False
        if self.annotated == ANNOTATED_NO and row.annotated:
            return False
        return not self.search or self.search.lower() in row.folded


@dataclass
class LoadedImages:
    """The result of :func:`load_image_rows`: rows for the grid, raw dicts for the detail view."""

    rows: list[ImageRow] = field(default_factory=list)
    raw: list[dict[str, Any]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    #: only the first records (more are being read)
    partial: bool = False
    #: visible_order(rows, ImageFilter()), computed in the loading thread
    default_order: list[int] | None = None


def _class_ids(rec: dict[str, Any]) -> frozenset[int]:
    ids: set[int] = set()
    if rec.get("label") is not None:
        ids.add(rec["label"])
    for key in ("boxes", "instances", "rboxes"):
        ids.update(a.get("cls") for a in rec.get(key) or () if isinstance(a, dict))
    ids.discard(None)
    return frozenset(ids)


def _annotated(rec: dict[str, Any]) -> bool:
    """Same rule as ``ImageRecord.is_annotated`` on the raw dict."""
    return bool(rec.get("label") is not None or rec.get("boxes") or rec.get("instances") or rec.get("mask")
                or rec.get("rboxes") or rec.get("anomaly") is not None or rec.get("targets"))


def row_of(rec: dict[str, Any]) -> ImageRow:
    """The grid row of one raw record; the displayed name is the original file name."""
    source = rec.get("source") or rec.get("file") or rec.get("id", "")
    name = source.replace("\\", "/").rsplit("/", 1)[-1]
    return ImageRow(id=str(rec.get("id", "")), name=name, folded=name.lower(), added=str(rec.get("added", "")),
                    width=int(rec.get("width") or 0), height=int(rec.get("height") or 0),
                    classes=_class_ids(rec), tags=tuple(rec.get("tags") or ()), annotated=_annotated(rec))


_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


def read_json_yielding(path: Path, on_first_images: Callable[[list], None] | None = None) -> dict[str, Any]:
    """Parse a top-level JSON object, its arrays one element per decoder call.

    ``json.loads`` of a 30 MB ``dataset.json`` is one C call that holds the GIL for ~0.8 s,
    freezing the GUI thread even though it runs in a worker thread. Decoding each array
    element separately gives the interpreter a chance to switch threads between elements.
    ``on_first_images`` receives the first :data:`FIRST_SCREEN` records of ``images`` as soon
    as they are parsed (when the file is at the current schema version), so the grid can show
    its first screen long before a 100,000-record file is fully read.
    """
    try:
        text = _decode_in_steps(path.read_bytes())
    except FileNotFoundError:
        raise StoreError("file not found", path=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"cannot be read: {exc}", path=path) from None
    try:
        return _parse_object(text, on_first_images)
    except json.JSONDecodeError as exc:
        raise StoreError(f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
                         path=path) from None


def _decode_in_steps(data: bytes, step: int = 4 << 20) -> str:
    """UTF-8 decode in 4 MB steps (decoding 70 MB at once holds the GIL for ~50 ms)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)  # slices without copying
    parts = [decoder.decode(view[i:i + step]) for i in range(0, len(data), step)]
    parts.append(decoder.decode(b"", final=True))
    text = "".join(parts)
    return text[1:] if text.startswith("\ufeff") else text


def _expect(text: str, pos: int, char: str) -> int:
    pos = _WS.match(text, pos).end()
    if text[pos:pos + 1] != char:
        raise json.JSONDecodeError(f"expected '{char}'", text, pos)
    return pos + 1


def _parse_object(text: str, on_first_images=None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    pos = _expect(text, 0, "{")
    pos = _WS.match(text, pos).end()
    if text[pos:pos + 1] == "}":
        return out
    while True:
        key, pos = _DECODER.raw_decode(text, _WS.match(text, pos).end())
        pos = _expect(text, pos, ":")
        pos = _WS.match(text, pos).end()
        if text[pos:pos + 1] == "[":
            current = out.get("schema_version", 1) == Dataset.SCHEMA_VERSION
            early = on_first_images if key == "images" and current else None
            value, pos = _parse_array(text, pos + 1, early)
        else:
            value, pos = _DECODER.raw_decode(text, pos)
        out[key] = value
        pos = _WS.match(text, pos).end()
        if text[pos:pos + 1] == "}":
            if text[pos + 1:].strip():
                raise json.JSONDecodeError("extra data", text, pos + 1)
            return out
        pos = _expect(text, pos, ",")


def _parse_array(text: str, pos: int, on_first=None) -> tuple[list[Any], int]:
    items: list[Any] = []
    pos = _WS.match(text, pos).end()
    if text[pos:pos + 1] == "]":
        return items, pos + 1
    while True:
        item, pos = _DECODER.raw_decode(text, _WS.match(text, pos).end())
        items.append(item)
        if on_first is not None and len(items) == FIRST_SCREEN:
            on_first(list(items))
        pos = _WS.match(text, pos).end()
        if text[pos:pos + 1] == "]":
            return items, pos + 1
        pos = _expect(text, pos, ",")


def _loaded(raw: list, json_path: Path, partial: bool = False) -> LoadedImages:
    try:
        rows = [row_of(r) for r in raw]
    except (AttributeError, TypeError, ValueError) as exc:
        raise StoreError(f"has a malformed image record ({exc})", path=json_path) from None
    tags = sorted({t for r in rows for t in r.tags})
    # sorted here, off the GUI thread (~30 ms for 100k rows), for the grid's default filter
    order = visible_order(rows, ImageFilter())
    return LoadedImages(rows=rows, raw=raw, tags=tags, partial=partial, default_order=order)


def load_image_rows(json_path: Path, on_partial: Callable[[LoadedImages], None] | None = None) -> LoadedImages:
    """Read ``dataset.json`` (migrated, not fully validated) into grid rows.

    Runs in a worker thread. ``on_partial`` gets the first records early (see
    :func:`read_json_yielding`). A missing file is an empty dataset; a corrupt one raises
    :class:`StoreError` naming the file and the reason.

    The cyclic garbage collector is paused while the ~1M containers of a large file are
    created (each full collection would traverse them all, holding the GIL for hundreds of
    milliseconds and stalling the GUI thread), and the result is frozen out of later
    collections: the records are plain dicts and lists, freed by reference counting.
    """
    if not json_path.exists():
        return LoadedImages()
    early = (lambda raw: on_partial(_loaded(raw, json_path, partial=True))) if on_partial else None
    was_enabled = gc.isenabled()
    gc.disable()
    # The GUI thread makes many short Qt calls that each release and re-take the GIL; with the
    # default 5 ms switch interval every re-take can wait 5 ms behind this CPU-bound parse
    # (a convoy: 100 ms frames measured). A short interval while parsing keeps frames short.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(min(interval, SWITCH_INTERVAL_S))
    try:
        data = read_json_yielding(json_path, early)
        data = migrate(Dataset.KIND, data, Dataset.SCHEMA_VERSION, json_path)
        raw = data.get("images") or []
        if not isinstance(raw, list):
            raise StoreError("'images' must be a list", path=json_path)
        loaded = _loaded(raw, json_path)
    finally:
        sys.setswitchinterval(interval)
        gc.freeze()  # before re-enabling: the first collection must not traverse the new records
        if was_enabled:
            gc.enable()
    return loaded


def record_at(loaded: LoadedImages, source_row: int) -> ImageRecord:
    """Validate one record for the detail view; a bad record raises :class:`StoreError`."""
    try:
        return ImageRecord.model_validate(loaded.raw[source_row])
    except ValueError as exc:
        rid = loaded.rows[source_row].id if source_row < len(loaded.rows) else source_row
        raise StoreError(f"image record {rid} is invalid: {str(exc).splitlines()[0]}") from None


def visible_order(rows: list[ImageRow], flt: ImageFilter) -> list[int]:
    """Indices of the rows that pass ``flt``, in its sort order (pure: tested without Qt).

    Narrowed one condition at a time with plain comprehensions (the cheapest first): a
    file-name search over 100,000 rows takes a few ms instead of ~50 ms through ``accepts``.
    """
    key = SORT_KEYS.get(flt.sort, SORT_KEYS["name"])
    kept: list[int] = list(range(len(rows)))
    if flt.search:
        needle = flt.search.lower()
        kept = [i for i in kept if needle in rows[i].folded]
    if flt.cls is not None:
        kept = [i for i in kept if flt.cls in rows[i].classes]
    if flt.tag is not None:
        kept = [i for i in kept if flt.tag in rows[i].tags]
    if flt.annotated != ANNOTATED_ANY:
        want = flt.annotated == ANNOTATED_YES
        kept = [i for i in kept if rows[i].annotated == want]
    kept.sort(key=lambda i: key(rows[i]), reverse=flt.descending)
    return kept


class ImageListModel(QAbstractListModel):
    """List model over the visible (filtered, sorted) images; one row per thumbnail."""

    #: visible count, total count — for "1,234 of 100,000 images"
    countsChanged = Signal(int, int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.loaded = LoadedImages()
        self.filter = ImageFilter()
        self._order: list[int] = []

    # -------------------------------------------------------------- Qt model API
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._order)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.row() >= len(self._order):
            return None
        row = self.loaded.rows[self._order[index.row()]]
        if role == Qt.ItemDataRole.DisplayRole:
            return row.name
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{row.name}\n{row.width} × {row.height} px\nadded {row.added[:10]}"
        if role == IdRole:
            return row.id
        if role == RowRole:
            return row
        return None

    # -------------------------------------------------------------- page API
    def set_images(self, loaded: LoadedImages) -> None:
        self.beginResetModel()
        self.loaded = loaded
        if self.filter == ImageFilter() and loaded.default_order is not None:
            self._order = loaded.default_order
        else:
            self._order = visible_order(loaded.rows, self.filter)
        self.endResetModel()
        self.countsChanged.emit(len(self._order), len(loaded.rows))

    def set_filter(self, flt: ImageFilter) -> None:
        if flt == self.filter:
            return
        self.beginResetModel()
        self.filter = flt
        self._order = visible_order(self.loaded.rows, flt)
        self.endResetModel()
        self.countsChanged.emit(len(self._order), len(self.loaded.rows))

    def source_row(self, visible_row: int) -> int:
        return self._order[visible_row]

    def row(self, visible_row: int) -> ImageRow:
        return self.loaded.rows[self._order[visible_row]]

    def record(self, visible_row: int) -> ImageRecord:
        return record_at(self.loaded, self._order[visible_row])

    def visible_row_of(self, image_id: str) -> int:
        """Visible row of an image id, or -1 (linear scan: used on selection restore only)."""
        for vis, src in enumerate(self._order):
            if self.loaded.rows[src].id == image_id:
                return vis
        return -1

    @property
    def total(self) -> int:
        return len(self.loaded.rows)
