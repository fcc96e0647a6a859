"""The left column: the experiments that can be evaluated, as on the Training page, with their
evaluation's headline (test accuracy) in a column of its own."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableView, QVBoxLayout, QWidget

from ..training.experiment_list import COLUMNS, ExperimentListModel

EVALUATION_COLUMN = len(COLUMNS)


class EvaluatedListModel(ExperimentListModel):
    """The Training page's experiment table plus an "Evaluation" column."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.headlines: dict[str, str] = {}

    def set_experiments(self, experiments: list, headlines: dict[str, str] | None = None) -> None:
        self.headlines = dict(headlines or {})
        super().set_experiments(experiments)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(COLUMNS) + 1

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802 - Qt API
        if section == EVALUATION_COLUMN and orientation == Qt.Orientation.Horizontal:
            if role == Qt.ItemDataRole.DisplayRole:
                return "Evaluation"
            if role == Qt.ItemDataRole.ToolTipRole:
                return "Accuracy of the saved evaluation (test subset when evaluated), blank: not evaluated yet"
            return None
        return super().headerData(section, orientation, role)

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if index.isValid() and index.column() == EVALUATION_COLUMN:
            exp = self.experiments[index.row()]
            if role == Qt.ItemDataRole.DisplayRole:
                return self.headlines.get(exp.id, "") or "—"
            if role == Qt.ItemDataRole.ToolTipRole:
                text = self.headlines.get(exp.id, "")
                return f"{exp.name}: {text}" if text else f"{exp.name}: not evaluated yet"
            if role == Qt.ItemDataRole.UserRole:
                return exp.id
            return None
        return super().data(index, role)


class EvaluationExperimentList(QWidget):
    selectionChanged = Signal(str)  # experiment id, "" for none

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        title = QLabel("<b>Experiments</b>")
        title.setToolTip("Trained experiments with a checkpoint on disk; select one to evaluate it or to see "
                         "its evaluation")
        lay.addWidget(title)
        self.model = EvaluatedListModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in range(1, EVALUATION_COLUMN + 1):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        for hidden in (2, 3, 4):  # model, best metric and duration belong to the Training page
            self.table.setColumnHidden(hidden, True)
        self.table.setToolTip("Click an experiment to see its evaluation or to evaluate it")
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
