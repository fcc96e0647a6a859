"""The left column: the experiments that can be exported (the Training page's table model) with
their exports counted in a column of their own."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableView, QVBoxLayout, QWidget

from ..training.experiment_list import COLUMNS, ExperimentListModel

EXPORTS_COLUMN = len(COLUMNS)


class ExportableListModel(ExperimentListModel):
    """The Training page's experiment table plus an "Exports" column."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.headlines: dict[str, str] = {}

    def set_experiments(self, experiments: list, headlines: dict[str, str] | None = None) -> None:
        self.headlines = dict(headlines or {})
        super().set_experiments(experiments)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(COLUMNS) + 1

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802 - Qt API
        if section == EXPORTS_COLUMN and orientation == Qt.Orientation.Horizontal:
            if role == Qt.ItemDataRole.DisplayRole:
                return "Exports"
            if role == Qt.ItemDataRole.ToolTipRole:
                return "Exports of the experiment that passed their validation (ready) or did not (failed)"
            return None
        return super().headerData(section, orientation, role)

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if index.isValid() and index.column() == EXPORTS_COLUMN:
            exp = self.experiments[index.row()]
            if role == Qt.ItemDataRole.DisplayRole:
                return self.headlines.get(exp.id, "") or "—"
            if role == Qt.ItemDataRole.ToolTipRole:
                return f"{exp.name}: {self.headlines.get(exp.id) or 'not exported yet'}"
            return None
        return super().data(index, role)


class ExportExperimentList(QWidget):
    selectionChanged = Signal(str)  # experiment id, "" for none

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        title = QLabel("<b>Experiments</b>")
        title.setToolTip("Trained experiments with a checkpoint on disk; select one to export it or to see its "
                         "exports")
        lay.addWidget(title)
        self.model = ExportableListModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in range(1, EXPORTS_COLUMN + 1):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        for hidden in (1, 3, 4):  # status, best metric and duration belong to the Training page
            self.table.setColumnHidden(hidden, True)
        self.table.setToolTip("Click an experiment to export it or to see its exports")
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
