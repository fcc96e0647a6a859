"""The left column: the project's experiments, their actions, and the notes of the selected one.

The table is a model over ``ExperimentService.list()`` (name, coloured status, model, best
metric, duration). Selecting several rows asks the page to overlay their curves.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from .controller import STATUS_STYLE, best_text, duration_of, format_duration

COLUMNS = ("Name", "Status", "Model", "Best", "Duration")
NOTES_SAVE_MS = 800


class ExperimentListModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.experiments: list = []

    def set_experiments(self, experiments: list) -> None:
        self.beginResetModel()
        self.experiments = list(experiments)
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(self.experiments)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def row_of(self, exp_id: str) -> int:
        for i, e in enumerate(self.experiments):
            if e.id == exp_id:
                return i
        return -1

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        exp = self.experiments[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return exp.name
            if col == 1:
                return exp.status
            if col == 2:
                return exp.config.model
            if col == 3:
                return best_text(exp)
            if col == 4:
                return format_duration(duration_of(exp))
        if role == Qt.ItemDataRole.ForegroundRole and col == 1:
            return QBrush(QColor("white"))
        if role == Qt.ItemDataRole.BackgroundRole and col == 1:
            return QBrush(QColor(STATUS_STYLE.get(exp.status, ("#7f7f7f", ""))[0]))
        if role == Qt.ItemDataRole.FontRole and col == 1:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole and col == 1:
            return Qt.AlignmentFlag.AlignCenter
        if role == Qt.ItemDataRole.ToolTipRole:
            tip = f"{exp.name}: {STATUS_STYLE.get(exp.status, ('', exp.status))[1]}"
            if exp.error:
                tip += f"\n{exp.error}" + (f" ({exp.hint})" if exp.hint else "")
            return tip
        if role == Qt.ItemDataRole.UserRole:
            return exp.id
        return None


class ExperimentPanel(QWidget):
    """Experiment table + New / Duplicate / Delete / Resume / Stop + notes."""

    selectionChanged = Signal(list)  # experiment ids, in table order
    newRequested = Signal()
    duplicateRequested = Signal()
    deleteRequested = Signal()
    resumeRequested = Signal()
    stopRequested = Signal()
    notesEdited = Signal(str, str)  # experiment id, text

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        title = QLabel("<b>Experiments</b>")
        title.setToolTip("Every training run is an experiment: its settings, curves, checkpoints "
                         "and notes are kept so you can compare runs. Select two or more to overlay "
                         "their curves.")
        lay.addWidget(title)
        self.model = ExperimentListModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in range(1, len(COLUMNS)):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setToolTip("Click to see an experiment's settings and curves; Ctrl+click or "
                              "Shift+click several to compare them")
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._emit_selection())
        lay.addWidget(self.table, 1)

        grid = QGridLayout()
        self.new_button = QPushButton("New")
        self.new_button.setToolTip("Start from the default settings for a new experiment (Ctrl+N)")
        self.duplicate_button = QPushButton("Duplicate")
        self.duplicate_button.setToolTip("Copy the selected experiment's settings into a new experiment, "
                                         "to change one thing and compare")
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Delete the selected experiment and its checkpoints (asks first; "
                                      "not possible while it trains)")
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue a stopped, interrupted or finished run from its last "
                                      "checkpoint; you may add epochs")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the selected training after its current step; it saves a "
                                    "checkpoint you can resume from")
        buttons = (self.new_button, self.duplicate_button, self.delete_button, self.resume_button,
                   self.stop_button)
        for i, b in enumerate(buttons):
            grid.addWidget(b, i // 3, i % 3)
        lay.addLayout(grid)
        self.new_button.clicked.connect(self.newRequested)
        self.duplicate_button.clicked.connect(self.duplicateRequested)
        self.delete_button.clicked.connect(self.deleteRequested)
        self.resume_button.clicked.connect(self.resumeRequested)
        self.stop_button.clicked.connect(self.stopRequested)

        self.notes_label = QLabel("Notes")
        lay.addWidget(self.notes_label)
        self.notes = QPlainTextEdit()
        self.notes.setPlaceholderText("What did you try in this experiment, and what did you learn? "
                                      "(saved automatically)")
        self.notes.setToolTip("Free notes kept with the selected experiment; saved as you type")
        self.notes.setMaximumHeight(110)
        self.notes.textChanged.connect(self._notes_typed)
        lay.addWidget(self.notes)
        self._notes_for: str | None = None
        self._notes_timer = QTimer(self)
        self._notes_timer.setSingleShot(True)
        self._notes_timer.setInterval(NOTES_SAVE_MS)
        self._notes_timer.timeout.connect(self._save_notes)
        self._loading_notes = False
        self.set_actions(selected=[], running=False, resumable=False)

    # ---------------------------------------------------------------- model
    def set_experiments(self, experiments: list) -> None:
        """Replace the rows, keeping the selection (by id) and not re-emitting it needlessly."""
        keep = self.selected_ids()
        self.table.selectionModel().blockSignals(True)
        self.model.set_experiments(experiments)
        sel = self.table.selectionModel()
        for exp_id in keep:
            row = self.model.row_of(exp_id)
            if row >= 0:
                sel.select(self.model.index(row, 0), sel.SelectionFlag.Select | sel.SelectionFlag.Rows)
        self.table.selectionModel().blockSignals(False)
        if keep != self.selected_ids():
            self._emit_selection()

    def selected_ids(self) -> list[str]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [self.model.experiments[r].id for r in rows if r < len(self.model.experiments)]

    def select(self, exp_ids: list[str]) -> None:
        sel = self.table.selectionModel()
        sel.clearSelection()
        for exp_id in exp_ids:
            row = self.model.row_of(exp_id)
            if row >= 0:
                sel.select(self.model.index(row, 0), sel.SelectionFlag.Select | sel.SelectionFlag.Rows)

    def _emit_selection(self) -> None:
        self.flush_notes()
        ids = self.selected_ids()
        self._loading_notes = True
        if len(ids) == 1:
            exp = self.model.experiments[self.model.row_of(ids[0])]
            self._notes_for = exp.id
            self.notes.setPlainText(exp.notes)
            self.notes.setEnabled(True)
            self.notes_label.setText(f"Notes on <b>{exp.name}</b>")
        else:
            self._notes_for = None
            self.notes.setPlainText("")
            self.notes.setEnabled(False)
            self.notes_label.setText("Notes (select one experiment)")
        self._loading_notes = False
        self.selectionChanged.emit(ids)

    def set_actions(self, *, selected: list[str], running: bool, resumable: bool) -> None:
        one = len(selected) == 1
        self.duplicate_button.setEnabled(one)
        self.delete_button.setEnabled(one and not running)
        self.resume_button.setEnabled(one and resumable and not running)
        self.stop_button.setEnabled(one and running)

    # ---------------------------------------------------------------- notes
    def _notes_typed(self) -> None:
        if not self._loading_notes and self._notes_for is not None:
            self._notes_timer.start()

    def flush_notes(self) -> None:
        """Save pending notes now (selection change, page closing)."""
        if self._notes_timer.isActive():
            self._notes_timer.stop()
            self._save_notes()

    def _save_notes(self) -> None:
        if self._notes_for is not None:
            self.notesEdited.emit(self._notes_for, self.notes.toPlainText())
