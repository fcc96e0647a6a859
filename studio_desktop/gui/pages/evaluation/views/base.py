"""What every task's result view shares: the signals the page listens to, the tabs a page-level
panel joins, the subset selector's value, and the operating point's Save / Revert / read-only
handling for views that have an editor (``self.editor``). See the package docstring for the
contract; a task's view subclasses :class:`ResultView` and builds its own panels."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget


class ResultView(QWidget):
    #: ResultFilter fields to set on the image grid
    filterRequested = Signal(dict)
    #: one image to show in the grid and the detail (image id, subset)
    imageRequested = Signal(str, str)
    #: what decides the grid's colours and order changed (a decision rule, a regression's target)
    operatingPointChanged = Signal()
    #: the subset whose metrics are shown changed
    subsetChanged = Signal(str)
    #: the full report (curves, intervals) of the shown subset arrived
    reportReady = Signal(object)
    #: the quick numbers on screen are those of the current operating point and subset
    refreshed = Signal()

    #: whether the page adds its Compare panel among this view's tabs
    compares = False
    #: the Metrics section's help (tooltip)
    section_help = ""

    # set by the subclass: self.results, self.subset (a QComboBox of subsets), self.tabs (QTabWidget),
    # and self.editor when the task has an operating point to edit
    results = None

    def add_tab(self, widget: QWidget, title: str, tooltip: str = "") -> None:
        """A page-level panel (compare) among this view's tabs."""
        self.tabs.addTab(widget, title)
        self.tabs.setTabToolTip(self.tabs.count() - 1, tooltip)

    def fill_subsets(self, results) -> None:
        """The subset selector lists the results' subsets with their image counts (no change signal)
        and shows the default one."""
        from ..controller import SUBSET_WORDS

        self.subset.blockSignals(True)
        self.subset.clear()
        for s in results.subsets:
            self.subset.addItem(f"{SUBSET_WORDS.get(s, s)} ({int(results.scores.subset(s).sum())} images)", s)
        self.subset.setCurrentIndex(max(0, self.subset.findData(results.default_subset())))
        self.subset.blockSignals(False)

    def current_subset(self) -> str:
        return self.subset.currentData() or (self.results.default_subset() if self.results else "")

    # ------------------------------------------------------------ operating point
    def set_writable(self, on: bool) -> None:
        """False: the workspace is open read-only; the rule can be tried but not saved."""
        self.editor.writable = on
        if self.results is not None:
            self.editor.show_operating_point(self.results.op, self.results.dirty)

    def save_operating_point(self) -> None:
        """Ctrl+S: store the rule on screen with the model."""
        if self.results is None or not self.results.dirty or not self.editor.writable:
            return
        self.results.save_operating_point()
        self.editor.show_operating_point(self.results.op, False)
        self._saved()
        self.operatingPointChanged.emit()

    def revert_operating_point(self) -> None:
        if self.results is not None:
            self.set_operating_point(self.results.saved)

    def _saved(self) -> None:
        """After a save: the summary line says "saved"."""
        self._show_summary()


__all__ = ["ResultView"]
