"""The import dialog: choose a folder/ZIP/file and a format, run the import, show its report.

The import itself runs as the CLI in a subprocess (``studio dataset import ... --events``): it
may take minutes and must never freeze the window. Cancel terminates the process; the import is
a transaction, so a stopped import leaves the dataset as it was. An import that skipped every
image (the CLI exits non-zero after its report) opens the report as a warning.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QProcess, QProcessEnvironment, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QStyle,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ....core.workspace import LOCK_HOLDER_ENV
from .background import BackgroundCall
from .controller import (
    AUTO,
    FORMAT_TITLES,
    ImportReport,
    failure_text,
    import_command,
    import_formats,
    parse_event,
    progress_text,
)


def detect(source: Path, task: str) -> str:
    """Which format auto-detection picks for ``source`` and why (runs in a worker thread)."""
    if not source.exists():
        return f"'{source}' does not exist"
    if source.is_file() and source.suffix.lower() == ".zip":
        return "a ZIP file: its format is detected when it is unpacked during the import"
    try:
        from ....core.formats.registry import detect_format
    except ImportError:
        return "the format is detected when the import starts"
    fmt, why = detect_format(source, task)  # a file named is detected as the import will: by itself
    return f"detected: {FORMAT_TITLES.get(fmt, fmt)} — {why}"


class ImportReportDialog(QDialog):
    """What the import did: counts, then one row per issue (file, reason, action)."""

    def __init__(self, report: ImportReport, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Import report: nothing imported" if report.nothing_imported else "Import report")
        self.resize(720, 420)
        lay = QVBoxLayout(self)
        self.warning = QLabel()
        self.warning.setObjectName("import_warning")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #b35900;")
        row = QHBoxLayout()
        if report.nothing_imported:
            icon = QLabel()
            icon.setPixmap(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning).pixmap(32, 32))
            row.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
            self.warning.setText(f"<b>Nothing was imported:</b> all {report.skipped:,} images were skipped. "
                                 "The reasons are listed below; fix them, or choose the format yourself, "
                                 "and import again.")
        row.addWidget(self.warning, 1)
        self.warning.setVisible(report.nothing_imported)
        lay.addLayout(row)
        self.summary = QLabel(f"<b>{report.summary()}</b>")
        lay.addWidget(self.summary)
        self.table = QTableWidget(len(report.issues), 3)
        self.table.setHorizontalHeaderLabels(["File", "Reason", "Action"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for r, issue in enumerate(report.issues):
            for c, text in enumerate((issue.file, issue.reason, issue.action)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(r, c, item)
        self.table.setVisible(bool(report.issues))
        lay.addWidget(QLabel("No problems found." if not report.issues else
                             f"{len(report.issues):,} files need attention:"))
        lay.addWidget(self.table, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        lay.addWidget(buttons)


class ImportDialog(QDialog):
    """Choose what to import, watch it run, cancel it if needed."""

    #: the import completed (ImportReport)
    imported = Signal(object)

    def __init__(self, workspace_root: Path, project, source: Path | None = None, parent=None,
                 show_report: bool = True):
        super().__init__(parent)
        self.setWindowTitle(f"Import images into {project.name}")
        self.resize(640, 320)
        self.workspace_root = Path(workspace_root)
        self.project = project
        self.show_report = show_report
        self.report: ImportReport | None = None
        self.error = ""
        self.process: QProcess | None = None
        self._buffer = b""
        self._stderr_tail = ""
        self._detect = BackgroundCall(self)
        self._detect.done.connect(lambda text: self.detected.setText(text))
        self._detect.failed.connect(lambda msg: self.detected.setText(f"<span style='color:#c0392b'>{msg}</span>"))

        lay = QVBoxLayout(self)
        form = QFormLayout()
        src_row = QWidget()
        h = QHBoxLayout(src_row)
        h.setContentsMargins(0, 0, 0, 0)
        self.source = QLineEdit()
        self.source.setPlaceholderText("a folder, a ZIP file, or an annotation file")
        self.source.setToolTip("What to import: a folder of images (with its annotation files), "
                               "a ZIP of such a folder, or an annotation file (COCO JSON, CSV...)")
        self.source.textChanged.connect(self._update_detection)
        h.addWidget(self.source, 1)
        self.folder_button = QPushButton("Folder…")
        self.folder_button.setToolTip("Choose a folder to import")
        self.folder_button.clicked.connect(self._choose_folder)
        self.file_button = QPushButton("ZIP or file…")
        self.file_button.setToolTip("Choose a ZIP archive or an annotation file")
        self.file_button.clicked.connect(self._choose_file)
        h.addWidget(self.folder_button)
        h.addWidget(self.file_button)
        form.addRow("Source", src_row)
        self.format = QComboBox()
        self.format.addItem("Auto-detect", AUTO)
        for fmt in import_formats(project.task):
            self.format.addItem(FORMAT_TITLES.get(fmt, fmt), fmt)
        self.format.setToolTip("The annotation format. Auto-detect looks at the files and says what it "
                               "found and why; pick one yourself when it guesses wrong.")
        self.format.currentIndexChanged.connect(self._update_detection)
        form.addRow("Format", self.format)
        self.detected = QLabel("")
        self.detected.setWordWrap(True)
        form.addRow("", self.detected)
        lay.addLayout(form)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        lay.addWidget(self.progress)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.status)
        lay.addStretch(1)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.import_button = QPushButton("Import")
        self.import_button.setDefault(True)
        self.import_button.setToolTip("Copy the images and annotations into the project")
        self.import_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Close, or stop a running import (the dataset stays as it was)")
        self.cancel_button.clicked.connect(self.cancel)
        buttons.addWidget(self.import_button)
        buttons.addWidget(self.cancel_button)
        lay.addLayout(buttons)
        if source is not None:
            self.source.setText(str(source))
        self._update_buttons()

    # ------------------------------------------------------------------ choosing
    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder to import")
        if path:
            self.source.setText(path)

    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "ZIP or annotation file to import", "",
                                              "ZIP or annotations (*.zip *.json *.csv *.txt *.xml);;All files (*)")
        if path:
            self.source.setText(path)

    def _update_detection(self) -> None:
        text = self.source.text().strip()
        self._update_buttons()
        if not text:
            self.detected.setText("")
            self._detect.cancel()
            return
        if self.format.currentData() != AUTO:
            self.detected.setText("")
            self._detect.cancel()
            return
        self.detected.setText("detecting the format…")
        path, task = Path(text), self.project.task
        self._detect.start(lambda: detect(path, task))

    def _update_buttons(self) -> None:
        running = self.running
        self.import_button.setEnabled(not running and bool(self.source.text().strip()))
        for w in (self.source, self.format, self.folder_button, self.file_button):
            w.setEnabled(not running)

    # ------------------------------------------------------------------ running
    @property
    def running(self) -> bool:
        return self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning

    def start(self) -> None:
        source = Path(self.source.text().strip())
        if not source.exists():
            self.status.setText(f"<span style='color:#c0392b'>{source}: does not exist</span>")
            return
        program, args = import_command(self.workspace_root, self.project.id, source,
                                       self.format.currentData())
        self.error, self.report, self._buffer, self._stderr_tail = "", None, b"", ""
        self.process = QProcess(self)
        self.process.setProgram(program)
        self.process.setArguments(args)
        env = QProcessEnvironment.systemEnvironment()
        # the GUI holds the workspace lock; the import writes on its behalf
        env.insert(LOCK_HOLDER_ENV, str(os.getpid()))
        self.process.setProcessEnvironment(env)
        self.process.readyReadStandardOutput.connect(self._read_stdout)
        self.process.readyReadStandardError.connect(self._read_stderr)
        self.process.finished.connect(self._finished)
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.status.setText("starting the import…")
        self.process.start()
        self._update_buttons()

    def cancel(self) -> None:
        if self.running:
            self.status.setText("stopping the import… (the dataset stays as it was)")
            self.process.terminate()
            if not self.process.waitForFinished(3000):
                self.process.kill()
                self.process.waitForFinished(2000)
            return
        self.reject()

    def _read_stdout(self) -> None:
        self._buffer += bytes(self.process.readAllStandardOutput())
        *lines, self._buffer = self._buffer.split(b"\n")
        for raw in lines:
            ev = parse_event(raw.decode("utf-8", "replace"))
            if ev is not None:
                self._handle(ev.kind, ev.data)

    def _read_stderr(self) -> None:
        text = bytes(self.process.readAllStandardError()).decode("utf-8", "replace").strip()
        if text:
            self._stderr_tail = text.splitlines()[-1]

    def _handle(self, kind: str, data: dict) -> None:
        if kind == "progress":
            step, total = int(data.get("step", 0)), int(data.get("total", 0))
            if total > 0:
                self.progress.setRange(0, total)
                self.progress.setValue(min(step, total))
            self.status.setText(progress_text(step, total, data.get("eta_s")))
        elif kind == "log":
            self.status.setText(str(data.get("message", "")))
        elif kind == "completed":
            self.report = ImportReport.from_json(data.get("report") or data.get("summary") or {})
        elif kind == "failed":
            self.error = failure_text(data)
        elif kind == "stopped":
            self.error = str(data.get("message") or "the import was stopped; the dataset is unchanged")

    def _finished(self, code: int, status) -> None:
        self._read_stdout()
        self.progress.setVisible(False)
        self._update_buttons()
        if self.report is not None:
            self.imported.emit(self.report)
            if self.show_report:
                ImportReportDialog(self.report, self.parentWidget()).open()
            self.accept()
            return
        if not self.error:
            if status == QProcess.ExitStatus.CrashExit or code != 0 and not self._stderr_tail:
                self.error = "the import was stopped; the dataset is unchanged"
            else:
                self.error = self._stderr_tail or f"the import ended without a result (exit code {code})"
        self.status.setText(f"<span style='color:#c0392b'>{self.error}</span>")

    def reject(self) -> None:
        if self.running:
            self.cancel()
            return
        super().reject()
