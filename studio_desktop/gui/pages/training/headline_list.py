"""The Training page's experiment table with one column more, for the pages that act on a trained
experiment (Evaluation: its evaluation's headline; Export: its exports), so the three pages list
experiments the same way and keep the selection the same way."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableView, QVBoxLayout, QWidget

from .experiment_list import COLUMNS, ExperimentListModel

#: the added column's index (after the Training page's columns)
HEADLINE_COLUMN = len(COLUMNS)


@dataclass(frozen=True)
class HeadlineColumn:
    """What the page's extra column says."""

    title: str
    tooltip: str
    #: the cell's tooltip when the experiment has no headline ("not evaluated yet")
    empty: str


class HeadlineListModel(ExperimentListModel):
    """The Training page's experiment table plus the page's column (text per experiment id)."""

    def __init__(self, column: HeadlineColumn, parent=None):
        super().__init__(parent)
        self.column = column
        self.headlines: dict[str, str] = {}

    def set_experiments(self, experiments: list, headlines: dict[str, str] | None = None) -> None:
        self.headlines = dict(headlines or {})
        super().set_experiments(experiments)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(COLUMNS) + 1

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802 - Qt API
        if section == HEADLINE_COLUMN and orientation == Qt.Orientation.Horizontal:
            if role == Qt.ItemDataRole.DisplayRole:
                return self.column.title
            if role == Qt.ItemDataRole.ToolTipRole:
                return self.column.tooltip
            return None
        return super().headerData(section, orientation, role)

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if index.isValid() and index.column() == HEADLINE_COLUMN:
            exp = self.experiments[index.row()]
            if role == Qt.ItemDataRole.DisplayRole:
                return self.headlines.get(exp.id, "") or "—"
            if role == Qt.ItemDataRole.ToolTipRole:
                return f"{exp.name}: {self.headlines.get(exp.id) or self.column.empty}"
            if role == Qt.ItemDataRole.UserRole:
                return exp.id
            return None
        return super().data(index, role)


class HeadlineExperimentList(QWidget):
    """The left column of a page: the experiments, one selectable at a time."""

    selectionChanged = Signal(str)  # experiment id, "" for none

    def __init__(self, column: HeadlineColumn, *, title_tip: str, table_tip: str, hidden: tuple[int, ...],
                 parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        title = QLabel("<b>Experiments</b>")
        title.setToolTip(title_tip)
        lay.addWidget(title)
        self.model = HeadlineListModel(column, self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in range(1, HEADLINE_COLUMN + 1):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        for c in hidden:  # what belongs to the Training page only
            self.table.setColumnHidden(c, True)
        self.table.setToolTip(table_tip)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self.selectionChanged.emit(self.selected_id()))
        lay.addWidget(self.table, 1)

    def set_experiments(self, experiments: list, headlines: dict[str, str]) -> None:
        keep = self.selected_id()
        sel = self.table.selectionModel()
        sel.blockSignals(True)
        self.model.set_experiments(experiments, headlines)
        row = self.model.row_of(keep) if keep else -1
        if row >= 0:
            self.table.selectRow(row)
        sel.blockSignals(False)
        if self.selected_id() != keep:
            self.selectionChanged.emit(self.selected_id())

    def selected_id(self) -> str:
        rows = self.table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self.model.experiments):
            return ""
        return self.model.experiments[rows[0].row()].id

    def select(self, exp_id: str) -> None:
        row = self.model.row_of(exp_id)
        if row >= 0:
            self.table.selectRow(row)
        else:
            self.table.clearSelection()
