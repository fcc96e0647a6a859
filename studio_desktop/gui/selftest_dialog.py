"""The self-test, live: About › Run self-test.

Runs ``<app> --self-test --json`` (studio_desktop/selftest.py: the same steps as on the command
line, in a temporary workspace) as a child process and shows each step as it starts and
ends, with its time and, for a failure, the program's one-line reason. Stop ends the test
and the step it is running; Copy results puts the text report on the clipboard.
"""

from __future__ import annotations

import io
import json

from PySide6.QtCore import QProcess, Signal
from PySide6.QtGui import QColor, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QStyle,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..selftest import FAILED, PASSED, UNAVAILABLE, app_command, print_event

STATUS_TEXT = {"running": "running…", PASSED: "passed", FAILED: "failed", UNAVAILABLE: "not available"}
STATUS_COLOR = {PASSED: "#2e7d32", FAILED: "#c62828", UNAVAILABLE: "#8a6d00"}


class SelfTestDialog(QDialog):
    #: the self-test ended (True when it passed)
    done = Signal(bool)

    def __init__(self, parent: QWidget | None = None, args: list[str] | None = None, autostart: bool = True):
        super().__init__(parent)
        self.setObjectName("selftest_dialog")
        self.setWindowTitle("AI Studio self-test")
        self.args = args or []
        self.process: QProcess | None = None
        self.events: list[dict] = []
        self.result: dict | None = None
        self._buffer = b""
        self._task_items: dict[str, QTreeWidgetItem] = {}
        self._running: QTreeWidgetItem | None = None

        lay = QVBoxLayout(self)
        intro = QLabel("Checks this installation end to end in a temporary workspace: for every task this "
                       "version can train it creates a sample project, imports it, splits it, trains a "
                       "short run, evaluates, exports to ONNX and OpenVINO and predicts an image, each step as a "
                       "separate process of this program. Your projects are not touched.", self)
        intro.setWordWrap(True)
        lay.addWidget(intro)
        self.tree = QTreeWidget(self)
        self.tree.setObjectName("selftest_steps")
        self.tree.setHeaderLabels(["Step", "Result", "Time", "Details"])
        self.tree.setRootIsDecorated(True)
        self.tree.setAlternatingRowColors(True)
        header = self.tree.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        lay.addWidget(self.tree, 1)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 0)
        lay.addWidget(self.progress)
        self.summary = QLabel("Starting…", self)
        self.summary.setObjectName("selftest_summary")
        self.summary.setWordWrap(True)
        lay.addWidget(self.summary)

        buttons = QDialogButtonBox(self)
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setToolTip("End the self-test now (the step running is stopped too)")
        self.stop_button.clicked.connect(self.stop)
        self.again_button = QPushButton("Run again", self)
        self.again_button.setToolTip("Run every step again")
        self.again_button.clicked.connect(self.start)
        self.copy_button = QPushButton("Copy results", self)
        self.copy_button.setToolTip("Copy the steps and their results as text (for a bug report)")
        self.copy_button.clicked.connect(self.copy_results)
        for b in (self.stop_button, self.again_button, self.copy_button):
            buttons.addButton(b, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.resize(860, 560)
        if autostart:
            self.start()

    # ------------------------------------------------------------------ process
    def start(self) -> None:
        if self.running():
            return
        self.tree.clear()
        self._task_items.clear()
        self._running = None
        self.events.clear()
        self.result = None
        self._buffer = b""
        program, *args = app_command("--self-test", "--json", *self.args)
        self.process = QProcess(self)
        self.process.readyReadStandardOutput.connect(self._read)
        self.process.finished.connect(self._finished)
        self.process.errorOccurred.connect(self._error)
        self.process.start(program, args)
        self.progress.setRange(0, 0)
        self.summary.setText("Running…")
        self.summary.setStyleSheet("")
        self._update_buttons()

    def running(self) -> bool:
        return self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning

    def stop(self) -> None:
        if self.running():
            self.summary.setText("Stopping…")
            self.process.terminate()
            if not self.process.waitForFinished(5000):
                self.process.kill()

    def _read(self) -> None:
        self._buffer += bytes(self.process.readAllStandardOutput())
        *lines, self._buffer = self._buffer.split(b"\n")
        for raw in lines:
            try:
                event = json.loads(raw.decode("utf-8", "replace"))
            except ValueError:
                continue  # not a protocol line
            if isinstance(event, dict) and "event" in event:
                self.handle(event)

    def _finished(self, code: int, _status) -> None:
        self._read()
        if self.result is None:
            err = bytes(self.process.readAllStandardError()).decode("utf-8", "replace").strip().splitlines()
            reason = err[-1] if err else f"exit status {code}"
            self._show_summary(False, f"The self-test ended before it finished: {reason}")
        self._update_buttons()

    def _error(self, error) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._show_summary(False, f"Could not start the self-test: {self.process.errorString()}")
            self._update_buttons()

    def _update_buttons(self) -> None:
        running = self.running()
        self.stop_button.setEnabled(running)
        self.again_button.setEnabled(not running)

    def reject(self) -> None:
        self.stop()
        super().reject()

    # ------------------------------------------------------------------ events -> rows
    def handle(self, event: dict) -> None:
        self.events.append(event)
        kind = event.get("event")
        if kind == "begin":
            self.progress.setRange(0, int(event.get("steps") or 0))
            self.progress.setValue(0)
            where = "the bundle" if event.get("frozen") else "Python"
            self.summary.setText(f"AI Studio {event.get('version')} ({where}), device {event.get('device')}")
        elif kind == "task":
            item = QTreeWidgetItem([event.get("title", event.get("task", ""))])
            font = item.font(0)
            font.setBold(True)
            item.setFont(0, font)
            self.tree.addTopLevelItem(item)
            item.setExpanded(True)
            self._task_items[event.get("task", "")] = item
        elif kind == "step":
            self._step(event)
        elif kind == "end":
            self.result = event
            ok = bool(event.get("ok"))
            text = (f"Self-test {'passed' if ok else 'FAILED'}: {event.get('passed', 0)} passed, "
                    f"{event.get('failed', 0)} failed, {event.get('not_available', 0)} not available in this "
                    f"version, {float(event.get('seconds', 0)):.1f} s")
            self._show_summary(ok, text)
            self.stop_button.setEnabled(False)  # nothing left to stop (the process is exiting)

    def _step(self, event: dict) -> None:
        status = event.get("status", "")
        if status == "running":
            parent = self._task_items.get(event.get("task", ""))
            item = QTreeWidgetItem([event.get("title", ""), STATUS_TEXT["running"], "", ""])
            item.setIcon(1, self.style().standardIcon(QStyle.StandardPixmap.SP_BrowserReload))
            if parent is not None:
                parent.addChild(item)
            else:
                self.tree.addTopLevelItem(item)
            self._running = item
            self.tree.scrollToItem(item)
            return
        item = self._running or QTreeWidgetItem([event.get("title", "")])
        self._running = None
        item.setText(1, STATUS_TEXT.get(status, status))
        item.setText(2, f"{float(event.get('seconds', 0)):.1f} s")
        item.setText(3, event.get("detail", ""))
        item.setToolTip(3, event.get("detail", ""))
        icon = {PASSED: QStyle.StandardPixmap.SP_DialogApplyButton,
                FAILED: QStyle.StandardPixmap.SP_MessageBoxCritical,
                UNAVAILABLE: QStyle.StandardPixmap.SP_MessageBoxInformation}.get(status)
        item.setIcon(1, self.style().standardIcon(icon) if icon is not None else self.style().standardIcon(
            QStyle.StandardPixmap.SP_MessageBoxQuestion))
        if status in STATUS_COLOR:
            item.setForeground(1, QColor(STATUS_COLOR[status]))
        self.progress.setValue(min(self.progress.maximum(), self.progress.value() + 1))

    def _show_summary(self, ok: bool, text: str) -> None:
        self.progress.setRange(0, max(1, self.progress.maximum()))
        self.progress.setValue(self.progress.maximum())
        self.summary.setText(text)
        self.summary.setStyleSheet(f"font-weight: bold; color: {STATUS_COLOR[PASSED if ok else FAILED]};")
        self.done.emit(ok)

    # ------------------------------------------------------------------ text
    def results_text(self) -> str:
        out = io.StringIO()
        for event in self.events:
            print_event(event, out)
        return out.getvalue()

    def copy_results(self) -> None:
        QGuiApplication.clipboard().setText(self.results_text() or self.summary.text())

