"""The thumbnail grid and its filter bar.

The grid is a ``QListView`` over :class:`ImageListModel` with uniform item sizes and batched
layout, so 100,000 images scroll smoothly; the delegate asks the thumbnail loader only for the
cells it paints.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QWidget,
)

from ...models.images import (
    ANNOTATED_ANY,
    ANNOTATED_NO,
    ANNOTATED_YES,
    SORT_LABELS,
    ImageFilter,
)
from .controller import counts_text

SEARCH_DELAY_MS = 150


class FilterBar(QWidget):
    """Search box, class / tag / annotated filters, sort order and the image count."""

    filterChanged = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search file names…")
        self.search.setClearButtonEnabled(True)
        self.search.setToolTip("Show only images whose file name contains this text (Ctrl+F)")
        self._debounce = QTimer(self, singleShot=True, interval=SEARCH_DELAY_MS)
        self._debounce.timeout.connect(self._emit)
        self.search.textChanged.connect(lambda _t: self._debounce.start())
        lay.addWidget(self.search, 2)
        self.cls = QComboBox()
        self.cls.setToolTip("Show only images that contain this class")
        self.tag = QComboBox()
        self.tag.setToolTip("Show only images with this tag (tags come from the import, e.g. train/val folders)")
        self.annotated = QComboBox()
        self.annotated.setToolTip("Show all images, only annotated ones, or only those still without annotations")
        for text, key in (("All images", ANNOTATED_ANY), ("Annotated", ANNOTATED_YES),
                          ("Not annotated", ANNOTATED_NO)):
            self.annotated.addItem(text, key)
        self.sort = QComboBox()
        self.sort.setToolTip("Order of the thumbnails")
        for key, text in SORT_LABELS.items():
            self.sort.addItem(f"Sort by {text.lower()}", key)
        self.descending = QCheckBox("Descending")
        self.descending.setToolTip("Reverse the order (Z to A, newest first, largest first)")
        for w in (self.cls, self.tag, self.annotated, self.sort):
            w.currentIndexChanged.connect(self._emit)
            lay.addWidget(w)
        self.descending.toggled.connect(self._emit)
        lay.addWidget(self.descending)
        self.count = QLabel("")
        self.count.setToolTip("Images shown / images in the dataset")
        lay.addWidget(self.count)
        self.set_choices([], [])

    def set_choices(self, classes: list[tuple[int, str]], tags: list[str]) -> None:
        """Fill the class and tag combos, keeping the current choice when it still exists."""
        for combo, items, every in ((self.cls, classes, "All classes"),
                                    (self.tag, [(t, t) for t in tags], "All tags")):
            current = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            combo.addItem(every, None)
            for key, text in items:
                combo.addItem(text, key)
            idx = combo.findData(current) if current is not None else 0
            combo.setCurrentIndex(max(idx, 0))
            combo.blockSignals(False)
        self.tag.setVisible(bool(tags))
        self.cls.setVisible(bool(classes))

    def current(self) -> ImageFilter:
        return ImageFilter(cls=self.cls.currentData(), tag=self.tag.currentData(),
                           annotated=self.annotated.currentData(), search=self.search.text().strip(),
                           sort=self.sort.currentData(), descending=self.descending.isChecked())

    def set_counts(self, visible: int, total: int) -> None:
        self.count.setText(counts_text(visible, total))

    def _emit(self) -> None:
        self.filterChanged.emit(self.current())


class ThumbnailGrid(QListView):
    """Virtualized grid of thumbnails (only visible cells are laid out, painted and decoded)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(2000)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setSpacing(2)
        self.setWordWrap(False)
        self.setIconSize(QSize(128, 128))
        self.setToolTip("Click an image to see it with its annotations; Delete removes the selected images")
        self._repaint = QTimer(self, singleShot=True, interval=30)
        self._repaint.timeout.connect(self.viewport().update)

    def thumbnail_ready(self, _image_id: str) -> None:
        """Coalesce repaints: many thumbnails arrive per frame while scrolling."""
        if not self._repaint.isActive():
            self._repaint.start()

    def selected_rows(self) -> list[int]:
        return sorted(i.row() for i in self.selectionModel().selectedIndexes())


def focus_shortcut(widget: QWidget, target: QWidget, keys: str) -> QShortcut:
    sc = QShortcut(QKeySequence(keys), widget, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
    sc.activated.connect(lambda: (target.setFocus(), target.selectAll() if hasattr(target, "selectAll") else None))
    return sc
