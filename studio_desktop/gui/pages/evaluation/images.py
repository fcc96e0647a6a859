"""The Images section: filters, the result grid with paging, and the selected image's detail.

Every result view asks for images through :meth:`ImagesSection.apply` ("show the images of this
confusion-matrix cell"); the section turns the request into its one :class:`ResultFilter`, shows
it in the filter bar (so the user sees why the grid shows what it shows, and can widen it), and
asks the results object for the rows. Views never keep a list of images of their own.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ...widgets.thumbnails import ThumbnailLoader
from .detail import ResultDetail
from .grid import ResultDelegate, ResultGrid, ResultListModel
from .results import OUTCOMES, SORTS, ResultFilter

PAGE_SIZES = (100, 500, 1000, 5000)
DEFAULT_PAGE_SIZE = 1000
THUMB = QSize(96, 96)


def _fill(combo: QComboBox, items: list[tuple[object, str]], keep=None) -> None:
    combo.blockSignals(True)
    combo.clear()
    for key, text in items:
        combo.addItem(text, key)
    idx = combo.findData(keep)
    combo.setCurrentIndex(max(0, idx))
    combo.blockSignals(False)


class ImagesSection(QWidget):
    #: visible images, all images of the evaluation
    countsChanged = Signal(int, int)
    #: an image was selected (its results row), for tests and the detail view
    imageSelected = Signal(int)
    #: the filter changed (a ResultFilter)
    filterChanged = Signal(object)

    def __init__(self, path_of, parent=None):
        super().__init__(parent)
        self.results = None
        self.filter = ResultFilter()
        self.all_rows = np.zeros(0, dtype=np.int64)
        self.page = 0
        self.page_size = DEFAULT_PAGE_SIZE
        self._image_path = path_of  # (results, row) -> full image path

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(self._build_filters())

        split = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        self.loader = ThumbnailLoader(THUMB, capacity=1500, parent=self)
        self.model = ResultListModel(self)
        self.grid = ResultGrid()
        self.grid.setModel(self.model)
        self.delegate = ResultDelegate(self.loader, self._thumbnail_path, self.grid)
        self.grid.setItemDelegate(self.delegate)
        self.loader.loaded.connect(self.grid.thumbnail_ready)
        self.grid.selectionModel().currentChanged.connect(lambda cur, _prev: self._show_current(cur.row()))
        ll.addWidget(self.grid, 1)
        ll.addLayout(self._build_paging())
        split.addWidget(left)
        self.detail = ResultDetail()
        self.detail.previousRequested.connect(lambda: self._step(-1))
        self.detail.nextRequested.connect(lambda: self._step(1))
        self.detail.layers.install_shortcuts(self)  # P / T / E / B work wherever the focus is in the section
        split.addWidget(self.detail)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setSizes([700, 300])
        lay.addWidget(split, 1)
        for keys, step in (("Ctrl+PgDown", 1), ("Ctrl+PgUp", -1)):
            sc = QShortcut(QKeySequence(keys), self, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(lambda s=step: self.go_page(self.page + s))

    # ------------------------------------------------------------------ build
    def _build_filters(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.subset = QComboBox()
        self.subset.setToolTip("Show the images of one evaluated subset, or of all")
        self.outcome = QComboBox()
        self.outcome.setToolTip("Right, wrong, or flagged uncertain (below the operating point's cut-off: "
                                "not counted in the metrics) under the current operating point")
        _fill(self.outcome, list(OUTCOMES.items()))
        self.truth = QComboBox()
        self.truth.setToolTip("Show only images whose true (labelled) class is this one")
        self.predicted = QComboBox()
        self.predicted.setToolTip("Show only images the model predicted as this class")
        self.issues = QCheckBox("Likely label errors")
        self.issues.setToolTip("Images whose given label is probably wrong (found by cleanlab on the evaluated "
                               "images), most likely first: check them and fix the label on the Dataset page")
        self.sort = QComboBox()
        self.sort.setToolTip("Order of the images: confidence shows the most (or least) sure predictions first")
        _fill(self.sort, list(SORTS.items()))
        self.descending = QCheckBox("Descending")
        self.descending.setToolTip("Reverse the order (most confident first, last file name first…)")
        self._default_help = {"outcome": self.outcome.toolTip(), "sort": self.sort.toolTip(),
                              "descending": self.descending.toolTip(), "truth": self.truth.toolTip(),
                              "predicted": self.predicted.toolTip()}
        for w in (self.subset, self.outcome, self.truth, self.predicted, self.sort):
            w.currentIndexChanged.connect(self._from_bar)
            w.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        for w in (self.subset, self.outcome, self.truth, self.predicted, self.issues):
            row.addWidget(w)
        for w in (self.issues, self.descending):
            w.toggled.connect(self._from_bar)
        self.chip = QLabel("")
        self.chip.setStyleSheet("background:#dbe9f6; color:#123; border-radius:3px; padding:1px 4px;")
        self.chip_clear = QToolButton()
        self.chip_clear.setText("✕")
        self.chip_clear.setToolTip("Remove this selection (keep the other filters)")
        self.chip_clear.clicked.connect(lambda: self.apply(confidence=None, ids=None, why=""))
        row.addWidget(self.chip)
        row.addWidget(self.chip_clear)
        row.addStretch(1)
        self.clear_button = QPushButton("Show all")
        self.clear_button.setToolTip("Clear every filter (Esc in the grid)")
        self.clear_button.clicked.connect(self.clear_filters)
        row.addWidget(self.clear_button)
        self.count = QLabel("")
        self.count.setToolTip("Images shown / images evaluated")
        self._show_chip()
        return row

    def _build_paging(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.prev_page = QToolButton()
        self.prev_page.setText("◀")
        self.prev_page.setToolTip("Previous page (Ctrl+Page Up)")
        self.next_page = QToolButton()
        self.next_page.setText("▶")
        self.next_page.setToolTip("Next page (Ctrl+Page Down)")
        self.page_label = QLabel("")
        self.page_size_box = QComboBox()
        for n in PAGE_SIZES:
            self.page_size_box.addItem(f"{n:,} per page", n)
        self.page_size_box.setCurrentIndex(PAGE_SIZES.index(DEFAULT_PAGE_SIZE))
        self.page_size_box.setToolTip("How many images one page of the grid holds (the grid scrolls within a page)")
        self.prev_page.clicked.connect(lambda: self.go_page(self.page - 1))
        self.next_page.clicked.connect(lambda: self.go_page(self.page + 1))
        self.page_size_box.currentIndexChanged.connect(self._page_size_changed)
        row.addWidget(self.sort)
        row.addWidget(self.descending)
        row.addStretch(1)
        row.addWidget(self.prev_page)
        row.addWidget(self.page_label)
        row.addWidget(self.next_page)
        row.addStretch(1)
        row.addWidget(self.count)
        row.addWidget(self.page_size_box)
        return row

    # ------------------------------------------------------------------ data
    def _thumbnail_path(self, image_id: str) -> str:
        r = self.results
        if r is None:
            return ""
        return self._image_path(r, image_id, thumbnail=True)

    def set_results(self, results) -> None:
        """A newly loaded evaluation (or None): filters reset, first page shown."""
        self.results = results
        self.loader.clear()
        self.detail.clear()
        if results is None:
            self.filter = ResultFilter()
            self.all_rows = np.zeros(0, dtype=np.int64)
            self.model.set_rows(None, self.all_rows)
            self._update_counts()
            return
        # what the bar offers is the task's (its results class): class filters, outcomes, sorts
        _fill(self.subset, [(None, "All subsets")] + [(s, s) for s in results.subsets])
        _fill(self.outcome, results.outcomes())
        _fill(self.sort, results.sorts())
        choice_help = getattr(results, "choice_help", {})
        for combo, kind in ((self.truth, "truth"), (self.predicted, "predicted")):
            items = results.choices(kind)
            _fill(combo, items)
            combo.setVisible(bool(items))
            combo.setToolTip(choice_help.get(kind, self._default_help[kind]))
        help_ = getattr(results, "filter_help", {})
        for widget, kind in ((self.outcome, "outcome"), (self.sort, "sort"), (self.descending, "descending")):
            widget.setToolTip(help_.get(kind, self._default_help[kind]))
        n_issues = int((results.meta.issue_rank > 0).sum())
        self.issues.setText(f"Likely label errors ({n_issues})")
        self.issues.setEnabled(n_issues > 0)
        self.issues.setVisible(results.has_label_issues)
        self.grid.setToolTip(results.grid_help)
        if self.delegate.lines != results.caption_lines:
            self.delegate.set_caption_lines(results.caption_lines)
        self.set_filter(results.default_filter())

    def decisions_changed(self) -> None:
        """The operating point changed: outcomes and predictions may differ, filter again."""
        if self.results is not None:
            self._refilter(keep_page=True)

    # ---------------------------------------------------------------- filter
    def apply(self, **changes) -> None:
        """Narrow or change the filter (what result views call: "show these images")."""
        self.set_filter(self.filter.but(**changes))

    def set_filter(self, flt: ResultFilter) -> None:
        self.filter = flt
        self._to_bar(flt)
        self._refilter()

    def clear_filters(self) -> None:
        self.set_filter(ResultFilter(sort=self.filter.sort, descending=self.filter.descending))

    def select_image(self, image_id: str, subset: str) -> bool:
        """Show one evaluated image in the detail and select it in the grid (a plot's point was
        clicked): the filters stay when they show it, else they are cleared (the order stays);
        the grid turns to its page. False when the evaluation has no such image."""
        if self.results is None:
            return False
        row = self._row_of(image_id, subset)
        if row < 0:
            return False
        if not np.any(self.all_rows == row):
            self.clear_filters()
        where = int(np.nonzero(self.all_rows == row)[0][0])
        self.go_page(where // self.page_size)
        visible = self.model.visible_row_of(row)
        self.grid.setCurrentIndex(self.model.index(visible))
        self.grid.scrollTo(self.model.index(visible))
        return True

    def _to_bar(self, flt: ResultFilter) -> None:
        for combo, value in ((self.subset, flt.subset), (self.outcome, flt.outcome), (self.truth, flt.truth),
                             (self.predicted, flt.predicted), (self.sort, flt.sort)):
            combo.blockSignals(True)
            combo.setCurrentIndex(max(0, combo.findData(value)))
            combo.blockSignals(False)
        for box, on in ((self.issues, flt.label_issues), (self.descending, flt.descending)):
            box.blockSignals(True)
            box.setChecked(on)
            box.blockSignals(False)
        self._show_chip()

    def _from_bar(self, *_args) -> None:
        self.filter = self.filter.but(subset=self.subset.currentData(), outcome=self.outcome.currentData() or "any",
                                      truth=self.truth.currentData(), predicted=self.predicted.currentData(),
                                      label_issues=self.issues.isChecked(), sort=self.sort.currentData() or "order",
                                      descending=self.descending.isChecked())
        self._refilter()

    def _show_chip(self) -> None:
        flt = self.filter
        text = ""
        if flt.ids is not None:
            text = flt.why or f"{len(flt.ids)} chosen images"
        elif flt.confidence is not None:
            lo, hi = flt.confidence
            text = flt.why or f"top probability {lo:.0%}–{hi:.0%}"
        self.chip.setText(text)
        self.chip.setVisible(bool(text))
        self.chip_clear.setVisible(bool(text))

    def _refilter(self, keep_page: bool = False) -> None:
        if self.results is None:
            return
        self.all_rows = self.results.visible(self.filter)
        self.filterChanged.emit(self.filter)
        pages = self.page_count()
        self.page = min(self.page, pages - 1) if keep_page else 0
        self._show_page()

    # ---------------------------------------------------------------- paging
    def page_count(self) -> int:
        return max(1, -(-len(self.all_rows) // self.page_size))

    def go_page(self, page: int) -> None:
        page = max(0, min(page, self.page_count() - 1))
        if page != self.page:
            self.page = page
            self._show_page()

    def _page_size_changed(self) -> None:
        first = self.page * self.page_size
        self.page_size = int(self.page_size_box.currentData())
        self.page = first // self.page_size
        self._show_page()

    def _show_page(self) -> None:
        start = self.page * self.page_size
        current = self.detail.current
        self.model.set_rows(self.results, self.all_rows[start:start + self.page_size])
        end = start + len(self.model.rows)
        self.page_label.setText(f"{start + 1:,}–{end:,} of {len(self.all_rows):,}" if len(self.all_rows)
                                else "no images match these filters")
        self.prev_page.setEnabled(self.page > 0)
        self.next_page.setEnabled(self.page < self.page_count() - 1)
        for w in (self.prev_page, self.next_page):
            w.setVisible(self.page_count() > 1)
        if current is not None:  # keep the detail on the same image when it is still shown
            row = self.model.visible_row_of(self._row_of(current["image"], current["subset"]))
            if row >= 0:
                index = self.model.index(row)
                if self.grid.currentIndex() == index:
                    self._show_current(row)  # the same cell stays current: describe it again
                else:
                    self.grid.setCurrentIndex(index)  # currentChanged describes it (once, not twice)
            else:
                self.detail.clear()
        self._update_counts()

    def _row_of(self, image_id: str, subset: str) -> int:
        s = self.results.scores
        hits = np.nonzero((s.image_ids == image_id) & (s.subsets == subset))[0]
        return int(hits[0]) if len(hits) else -1

    def _update_counts(self) -> None:
        total = len(self.results) if self.results is not None else 0
        self.count.setText(f"{len(self.all_rows):,} of {total:,} images")
        self.countsChanged.emit(len(self.all_rows), total)

    # ---------------------------------------------------------------- detail
    def _show_current(self, visible_row: int) -> None:
        if self.results is None or not 0 <= visible_row < len(self.model.rows):
            return
        row = self.model.result_row(visible_row)
        d = self.results.describe_image(row)
        self.detail.show_image(d, self._image_path(self.results, d["image"], thumbnail=False))
        self.imageSelected.emit(row)

    def _step(self, step: int) -> None:
        idx = self.grid.currentIndex()
        row = (idx.row() if idx.isValid() else -1) + step
        if 0 <= row < self.model.rowCount():
            self.grid.setCurrentIndex(self.model.index(row))
        elif row >= self.model.rowCount() and self.page < self.page_count() - 1:
            self.go_page(self.page + 1)
            self.grid.setCurrentIndex(self.model.index(0))
        elif row < 0 and self.page > 0:
            self.go_page(self.page - 1)
            self.grid.setCurrentIndex(self.model.index(self.model.rowCount() - 1))

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.key() == Qt.Key.Key_Escape:
            self.clear_filters()
            event.accept()
            return
        super().keyPressEvent(event)

    def shutdown(self) -> None:
        self.loader.shutdown()
