"""One export in detail, all from its ``export.json``: the verdict, the validation panel with
every number against its limit, what FP16/INT8 changed against FP32, the latency table, and
the usage snippet with Copy, Save as… and Open folder.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ....core.export_report import (
    latency_note,
    latency_rows,
    precision_text,
    size_text,
    subsets_text,
    validation_rows,
)
from ....core.exports import ExportRecord
from .controller import STATUS_STYLE

PASS, FAIL = "#2ca02c", "#d62728"


def _table(headers: list[str]) -> QTableWidget:
    t = QTableWidget(0, len(headers))
    t.setHorizontalHeaderLabels(headers)
    t.verticalHeader().setVisible(False)
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    t.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    h = t.horizontalHeader()
    h.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    for c in range(1, len(headers)):
        h.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
    return t


def _fit_height(t: QTableWidget) -> None:
    """No inner scroll bar for a table of a handful of rows."""
    t.resizeRowsToContents()
    height = t.horizontalHeader().height() + sum(t.rowHeight(r) for r in range(t.rowCount())) + 2 * t.frameWidth()
    t.setFixedHeight(height + 2)


class ExportDetails(QWidget):
    copyRequested = Signal()
    saveRequested = Signal()
    openRequested = Signal()
    deleteRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.title = QLabel("")
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setWordWrap(True)
        lay.addWidget(self.title)
        self.facts = QLabel("")
        self.facts.setWordWrap(True)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.facts)

        self.validation_title = QLabel("<b>Validation</b>")
        self.validation_title.setToolTip("The exported file run back on real images before it is offered: the "
                                         "same input tensors as PyTorch (network check), then fed by its own "
                                         "metadata as a stranger would (metadata round trip)")
        lay.addWidget(self.validation_title)
        self.validation = _table(["Check", "Measured", "Limit", ""])
        lay.addWidget(self.validation)
        self.change = QLabel("")
        self.change.setWordWrap(True)
        lay.addWidget(self.change)

        self.latency_title = QLabel("<b>Speed on this computer</b>")
        lay.addWidget(self.latency_title)
        self.latency = _table(["Runtime", "Precision", "Median ms", "Images/s", "vs PyTorch"])
        self.latency.setToolTip("Batch-1 median latency (and throughput) of PyTorch eager and of the exported "
                                "file, same images, fixed threads, after warm-up runs")
        lay.addWidget(self.latency)
        self.latency_note = QLabel("")
        self.latency_note.setWordWrap(True)
        self.latency_note.setStyleSheet("color: #555;")
        lay.addWidget(self.latency_note)

        head = QHBoxLayout()
        self.snippet_title = QLabel("<b>Use it</b> — predict.py, saved beside the model")
        self.snippet_title.setToolTip("A complete Python script that needs only the runtime, Pillow and numpy: it "
                                      "reads the preprocessing and the outputs' names (classes, or targets with "
                                      "their units) from the model file itself")
        head.addWidget(self.snippet_title, 1)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy the script to the clipboard (Ctrl+Shift+C)")
        self.save_button = QPushButton("Save as…")
        self.save_button.setToolTip("Save the model file (and the script beside it) somewhere else")
        self.open_button = QPushButton("Open folder")
        self.open_button.setToolTip("Show the export's folder in the file manager")
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Delete this export and its files (asks first)")
        for b in (self.copy_button, self.save_button, self.open_button, self.delete_button):
            head.addWidget(b)
        lay.addLayout(head)
        self.snippet = QPlainTextEdit()
        self.snippet.setReadOnly(True)
        self.snippet.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.snippet.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        lay.addWidget(self.snippet, 1)
        self.copy_button.clicked.connect(self.copyRequested)
        self.save_button.clicked.connect(self.saveRequested)
        self.open_button.clicked.connect(self.openRequested)
        self.delete_button.clicked.connect(self.deleteRequested)
        self.record: ExportRecord | None = None
        self.show_record(None)

    # ----------------------------------------------------------------- show
    def show_record(self, record: ExportRecord | None, snippet: str = "", folder=None) -> None:
        self.record = record
        widgets = (self.validation_title, self.validation, self.latency_title, self.latency, self.latency_note,
                   self.snippet_title, self.snippet, self.copy_button, self.save_button, self.open_button,
                   self.delete_button, self.facts)
        for w in widgets:
            w.setVisible(record is not None)
        self.change.setVisible(record is not None and record.precision_change is not None)
        if record is None:
            self.title.setText("<span style='color: #555'>Export the selected experiment, or select one of "
                               "its exports to see how it was checked and how fast it runs.</span>")
            return
        colour, meaning = STATUS_STYLE.get(record.status, ("#7f7f7f", record.status))
        badge = (f"<span style='background:{colour}; color:white; font-weight:bold'>&nbsp;{record.status.upper()}"
                 "&nbsp;</span>")
        self.title.setText(f"<h3 style='margin:0'>{record.title} {badge}</h3>")
        self.title.setToolTip(meaning)
        when = record.created.strftime("%Y-%m-%d %H:%M")
        facts = [f"{record.experiment_name} ({record.model}), {record.checkpoint.get('which', '?')} checkpoint",
                 f"{record.file} · {size_text(record.file_size)} · input {record.input_shape}"
                 + (f" · opset {record.opset}" if record.opset else ""),
                 f"{record.exporter} · {when}"]
        threshold = (record.metadata or {}).get("threshold")
        if isinstance(threshold, (int, float)) and (record.metadata or {}).get("threshold_source"):
            # a model that decides on its raw score (anomaly detection): the threshold inside the file and its origin
            facts.append(f"threshold {threshold:.4g} on the raw score ({record.metadata['threshold_source']})")
        if not record.ready and record.error:
            facts.insert(0, f"<span style='color:{FAIL}'>{record.error}</span>")
        self.facts.setText("<br>".join(facts))
        self.facts.setTextFormat(Qt.TextFormat.RichText)
        self._fill_validation(record)
        text = precision_text(record)
        self.change.setText(f"<b>Against FP32:</b> {text}" if text else "")
        self._fill_latency(record)
        self.snippet.setPlainText(snippet)
        self.save_button.setEnabled(record.ready)
        self.copy_button.setEnabled(bool(snippet))
        self.save_button.setToolTip("Save the model file (and the script beside it) somewhere else" if record.ready
                                    else "A failed export cannot be saved for use; its files stay in its folder")

    def _fill_validation(self, record: ExportRecord) -> None:
        rows = validation_rows(record)
        self.validation.setRowCount(len(rows))
        for r, (name, value, limit, passed, help_text) in enumerate(rows):
            items = [QTableWidgetItem(name), QTableWidgetItem(value), QTableWidgetItem(limit),
                     QTableWidgetItem("" if not limit else ("✓ pass" if passed else "✗ FAIL"))]
            for c, item in enumerate(items):
                item.setToolTip(help_text)
                if c in (1, 2):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.validation.setItem(r, c, item)
            if limit:
                items[3].setForeground(QBrush(QColor(PASS if passed else FAIL)))
                font = items[3].font()
                font.setBold(True)
                items[3].setFont(font)
        v = record.validation
        where = f" on {v.images} images ({subsets_text(record)})" if v is not None else ""
        self.validation_title.setText(f"<b>Validation</b>{where}")
        _fit_height(self.validation)

    def _fill_latency(self, record: ExportRecord) -> None:
        rows = latency_rows(record)
        self.latency.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                item = QTableWidgetItem(text)
                if c >= 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.latency.setItem(r, c, item)
        self.latency_note.setText(latency_note(record))
        _fit_height(self.latency)

    def copy_snippet(self) -> str:
        text = self.snippet.toPlainText()
        if text:
            QGuiApplication.clipboard().setText(text)
        return text
