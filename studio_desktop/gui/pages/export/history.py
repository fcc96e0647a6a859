"""The experiment's earlier exports: a table over their ``export.json`` records (newest first)."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableView, QVBoxLayout, QWidget

from ....core.export_report import number, share, size_text
from .controller import STATUS_STYLE

COLUMNS = ("Created", "Export", "Status", "Size", "Max diff", "Agree")
TIPS = ("When it was exported", "Format and precision", "ready: passed its validation; failed: did not",
        "Size of the model file(s)", "Largest difference against PyTorch on the same inputs: of a logit "
        "(classification), of a value in its target's units (regression)",
        "Share of images decided as PyTorch decides, the file fed by its own metadata (classification; a "
        "regression decides nothing: its validation panel lists each target's difference and the MAE)")


class ExportListModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.records: list = []

    def set_records(self, records: list) -> None:
        self.beginResetModel()
        self.records = list(records)
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(self.records)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802 - Qt API
        if orientation == Qt.Orientation.Horizontal:
            if role == Qt.ItemDataRole.DisplayRole:
                return COLUMNS[section]
            if role == Qt.ItemDataRole.ToolTipRole:
                return TIPS[section]
        return None

    def row_of(self, export_id: str) -> int:
        return next((i for i, r in enumerate(self.records) if r.id == export_id), -1)

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        rec = self.records[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            v = rec.validation
            return (rec.created.strftime("%m-%d %H:%M"), rec.title, rec.status, size_text(rec.file_size),
                    number(v.max_abs_diff) if v else "", share(v.agreement) if v and v.agreement is not None
                    else "")[col]
        if col == 2 and role == Qt.ItemDataRole.BackgroundRole:
            return QBrush(QColor(STATUS_STYLE.get(rec.status, ("#7f7f7f", ""))[0]))
        if col == 2 and role == Qt.ItemDataRole.ForegroundRole:
            return QBrush(QColor("white"))
        if col == 2 and role == Qt.ItemDataRole.FontRole:
            font = QFont()
            font.setBold(True)
            return font
        if col == 2 and role == Qt.ItemDataRole.TextAlignmentRole:
            return Qt.AlignmentFlag.AlignCenter
        if role == Qt.ItemDataRole.ToolTipRole:
            meaning = STATUS_STYLE.get(rec.status, ("", rec.status))[1]
            return f"{rec.id}: {meaning}" + (f"\n{rec.error}" if rec.error else "")
        return None


class ExportList(QWidget):
    selectionChanged = Signal(str)  # export id, "" for none

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.title = QLabel("<b>Exports</b>")
        self.title.setToolTip("Every export of the selected experiment; failed ones keep their numbers and files "
                              "for inspection but are never offered for use")
        lay.addWidget(self.title)
        self.model = ExportListModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for c in (0, 2, 3, 4, 5):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self.selectionChanged.emit(self.selected_id()))
        lay.addWidget(self.table, 1)
        self.empty = QLabel("No exports yet: choose a format and press Export.")
        self.empty.setStyleSheet("color: #555;")
        lay.addWidget(self.empty)

    def set_records(self, records: list, select: str | None = None) -> None:
        keep = select or self.selected_id()
        sel = self.table.selectionModel()
        sel.blockSignals(True)
        self.model.set_records(records)
        row = self.model.row_of(keep) if keep else -1
        if row < 0 and records:
            row = 0
        if row >= 0:
            self.table.selectRow(row)
        sel.blockSignals(False)
        self.empty.setVisible(not records)
        self.title.setText(f"<b>Exports</b> ({len(records)})" if records else "<b>Exports</b>")
        self.selectionChanged.emit(self.selected_id())

    def selected_id(self) -> str:
        rows = self.table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self.model.records):
            return ""
        return self.model.records[rows[0].row()].id

    def selected(self):
        i = self.model.row_of(self.selected_id())
        return self.model.records[i] if i >= 0 else None
