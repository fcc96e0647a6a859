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

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt, Signal

from ...core.errors import StoreError
from ...core.schemas import Dataset, ImageRecord
from ...core.store import migrate, read_json

#: roles the delegate and page read
IdRole = Qt.ItemDataRole.UserRole + 1
RowRole = Qt.ItemDataRole.UserRole + 2

SORT_KEYS = {
    "name": lambda r: r.name.lower(),
    "added": lambda r: r.added,
    "size": lambda r: r.pixels,
}
SORT_LABELS = {"name": "Name", "added": "Date added", "size": "Image size"}

ANNOTATED_ANY, ANNOTATED_YES, ANNOTATED_NO = "any", "annotated", "unannotated"


@dataclass(frozen=True, slots=True)
class ImageRow:
    """What the grid needs of one image: cheap to hold 100,000 of."""

    id: str
    name: str
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
    sort: str = "name"
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
        return not self.search or self.search.lower() in row.name.lower()


@dataclass
class LoadedImages:
    """The result of :func:`load_image_rows`: rows for the grid, raw dicts for the detail view."""

    rows: list[ImageRow] = field(default_factory=list)
    raw: list[dict[str, Any]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


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
    return ImageRow(id=str(rec.get("id", "")), name=name, added=str(rec.get("added", "")),
                    width=int(rec.get("width") or 0), height=int(rec.get("height") or 0),
                    classes=_class_ids(rec), tags=tuple(rec.get("tags") or ()), annotated=_annotated(rec))


def load_image_rows(json_path: Path) -> LoadedImages:
    """Read ``dataset.json`` (migrated, not fully validated) into grid rows.

    Runs in a worker thread. A missing file is an empty dataset; a corrupt one raises
    :class:`StoreError` naming the file and the reason.
    """
    if not json_path.exists():
        return LoadedImages()
    data = read_json(json_path)
    if not isinstance(data, dict):
        raise StoreError("expected a JSON object", path=json_path)
    data = migrate(Dataset.KIND, data, Dataset.SCHEMA_VERSION, json_path)
    raw = data.get("images") or []
    if not isinstance(raw, list):
        raise StoreError("'images' must be a list", path=json_path)
    try:
        rows = [row_of(r) for r in raw]
    except (AttributeError, TypeError, ValueError) as exc:
        raise StoreError(f"has a malformed image record ({exc})", path=json_path) from None
    tags = sorted({t for r in rows for t in r.tags})
    return LoadedImages(rows=rows, raw=raw, tags=tags)


def record_at(loaded: LoadedImages, source_row: int) -> ImageRecord:
    """Validate one record for the detail view; a bad record raises :class:`StoreError`."""
    try:
        return ImageRecord.model_validate(loaded.raw[source_row])
    except ValueError as exc:
        rid = loaded.rows[source_row].id if source_row < len(loaded.rows) else source_row
        raise StoreError(f"image record {rid} is invalid: {str(exc).splitlines()[0]}") from None


def visible_order(rows: list[ImageRow], flt: ImageFilter) -> list[int]:
    """Indices of the rows that pass ``flt``, in its sort order (pure: tested without Qt)."""
    key = SORT_KEYS.get(flt.sort, SORT_KEYS["name"])
    kept = [i for i, r in enumerate(rows) if flt.accepts(r)] if _is_filtering(flt) else list(range(len(rows)))
    kept.sort(key=lambda i: key(rows[i]), reverse=flt.descending)
    return kept


def _is_filtering(flt: ImageFilter) -> bool:
    return flt.cls is not None or flt.tag is not None or flt.annotated != ANNOTATED_ANY or bool(flt.search)


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
