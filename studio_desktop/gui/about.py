"""Help › About AI Studio: versions, compute devices, workspace, self-test, diagnostics.

The versions of the ML stack and the devices come from ``<app> diagnostics --json`` run as a
child process (the window never imports torch, DESIGN §2); until it answers the dialog says
it is checking. "Copy diagnostics" copies everything as text for a bug report; "Run
self-test…" opens the live self-test (gui/selftest_dialog.py).
"""

from __future__ import annotations

import json
import platform
import sys

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QProcess, QSize, Qt, QTimer, QUrl, qVersion
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .. import __version__
from ..core.system import device_line
from ..selftest import app_command

#: the diagnostics child gets this long (importing torch on a cold disk can take a while)
DIAGNOSTICS_TIMEOUT_MS = 120_000


class AboutDialog(QDialog):
    def __init__(self, workspace: str, parent: QWidget | None = None, *, autostart: bool = True):
        super().__init__(parent)
        self.setObjectName("about_dialog")
        self.setWindowTitle("About AI Studio")
        self.workspace = str(workspace)
        self.info: dict | None = None
        self.error = ""
        self.process: QProcess | None = None
        self._selftest = None

        lay = QVBoxLayout(self)
        head = QHBoxLayout()
        from . import theme

        logo = QLabel(self)
        logo.setPixmap(theme.app_icon().pixmap(QSize(64, 64)))
        head.addWidget(logo, 0, Qt.AlignmentFlag.AlignTop)
        title = QLabel(f"<h2 style='margin:0'>AI Studio {__version__}</h2>"
                       "<p>Train, evaluate and export deep-learning models for images, offline, on your "
                       "own machine.</p>", self)
        title.setWordWrap(True)
        head.addWidget(title, 1)
        lay.addLayout(head)

        versions = QGroupBox("Versions", self)
        self.versions_form = QFormLayout(versions)
        self.versions_form.addRow("AI Studio:", QLabel(__version__))
        self.versions_form.addRow("Python:", QLabel(platform.python_version()))
        self.versions_form.addRow("Qt / PySide6:", QLabel(f"{qVersion()} / {pyside_version}"))
        self.ml_label = QLabel("checking the ML libraries…", self)
        self.ml_label.setObjectName("about_ml_versions")
        self.ml_label.setWordWrap(True)
        self.versions_form.addRow("ML libraries:", self.ml_label)
        lay.addWidget(versions)

        compute = QGroupBox("Compute", self)
        compute_lay = QVBoxLayout(compute)
        self.device_label = QLabel("looking for CPUs and GPUs…", self)
        self.device_label.setObjectName("about_devices")
        self.device_label.setWordWrap(True)
        self.device_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        compute_lay.addWidget(self.device_label)
        lay.addWidget(compute)

        where = QGroupBox("Workspace", self)
        where_lay = QHBoxLayout(where)
        path = QLabel(self.workspace, self)
        path.setObjectName("about_workspace")
        path.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        where_lay.addWidget(path, 1)
        open_folder = QPushButton("Open folder", self)
        open_folder.setToolTip("Show the workspace folder in the file manager")
        open_folder.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(self.workspace)))
        where_lay.addWidget(open_folder)
        lay.addWidget(where)

        buttons = QDialogButtonBox(self)
        self.selftest_button = QPushButton("Run self-test…", self)
        self.selftest_button.setToolTip("Check this installation end to end: sample project, import, split, "
                                        "training, evaluation, export and prediction (a minute or two)")
        self.selftest_button.clicked.connect(self.run_self_test)
        self.copy_button = QPushButton("Copy diagnostics", self)
        self.copy_button.setToolTip("Copy versions, devices and paths as text, for a bug report")
        self.copy_button.clicked.connect(self.copy_diagnostics)
        buttons.addButton(self.selftest_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.setMinimumWidth(560)
        if autostart:
            self.load_diagnostics()

    # ------------------------------------------------------------------ diagnostics child process
    def load_diagnostics(self) -> None:
        program, *args = app_command("diagnostics", "--json")
        self.process = QProcess(self)
        self.process.finished.connect(self._finished)
        self.process.errorOccurred.connect(self._failed_to_start)
        self.process.start(program, args)
        QTimer.singleShot(DIAGNOSTICS_TIMEOUT_MS, self, self._timeout)

    def _timeout(self) -> None:
        if self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning:
            self.process.kill()
            self.show_error(f"no answer within {DIAGNOSTICS_TIMEOUT_MS // 1000} s")

    def _failed_to_start(self, error) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.show_error(self.process.errorString())

    def _finished(self, code: int, _status) -> None:
        out = bytes(self.process.readAllStandardOutput()).decode("utf-8", "replace")
        err = bytes(self.process.readAllStandardError()).decode("utf-8", "replace").strip().splitlines()
        try:
            info = json.loads(out)
        except ValueError:
            self.show_error(err[-1] if err else f"exit status {code}")
            return
        self.show_info(info)

    def show_error(self, reason: str) -> None:
        self.error = reason
        text = f"<span style='color:#c62828'>could not be read: {reason}</span>"
        self.ml_label.setText(text)
        self.device_label.setText(text)

    def show_info(self, info: dict) -> None:
        self.info = info
        versions = {k: v for k, v in info.get("versions", {}).items()
                    if k not in ("AI Studio", "Python", "PySide6")}
        self.ml_label.setText(", ".join(f"{k} {v}" for k, v in versions.items()))
        # one row per library once known (the summary line stays for tests and screen readers)
        row = self.versions_form.getWidgetPosition(self.ml_label)[0]
        self.ml_label.hide()
        self.versions_form.labelForField(self.ml_label).hide()
        for i, (name, version) in enumerate(versions.items()):
            value = QLabel(str(version), self)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.versions_form.insertRow(row + 1 + i, f"{name}:", value)
        lines = [device_line(d) for d in info.get("devices", [])]
        gpus = [d for d in info.get("devices", []) if d.get("kind") != "cpu"]
        if not gpus:
            build = info.get("cuda_build")
            lines.append("No GPU found: training runs on the CPU." + (
                "" if build else " (This PyTorch is a CPU-only build.)"))
        self.device_label.setText("\n".join(lines))

    # ------------------------------------------------------------------ actions
    def diagnostics_text(self) -> str:
        lines = [f"AI Studio {__version__}", f"Python {platform.python_version()} ({sys.executable})",
                 f"Qt {qVersion()}, PySide6 {pyside_version}", f"Platform: {platform.platform()}"]
        if self.info is not None:
            lines += [f"{k}: {v}" for k, v in self.info.get("versions", {}).items()
                      if k not in ("AI Studio", "Python")]
            lines.append(f"CUDA build: {self.info.get('cuda_build') or 'none'}")
            lines += [device_line(d) for d in self.info.get("devices", [])]
            lines.append(f"Bundle: {'yes' if self.info.get('frozen') else 'no'}")
        else:
            lines.append(f"ML libraries and devices: {self.error or 'still being checked'}")
        lines.append(f"Workspace: {self.workspace}")
        screen = QGuiApplication.primaryScreen()
        if screen is not None:
            lines.append(f"Screen: {screen.size().width()}x{screen.size().height()} at scale "
                         f"{screen.devicePixelRatio():g}, platform {QGuiApplication.platformName()}")
        return "\n".join(lines)

    def copy_diagnostics(self) -> None:
        QGuiApplication.clipboard().setText(self.diagnostics_text())
        self.copy_button.setText("Copied")
        QTimer.singleShot(2000, self, lambda: self.copy_button.setText("Copy diagnostics"))

    def run_self_test(self):
        from .selftest_dialog import SelfTestDialog

        self._selftest = SelfTestDialog(self)
        self._selftest.open()
        return self._selftest

    def reject(self) -> None:
        if self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning:
            self.process.kill()
            self.process.waitForFinished(2000)
        super().reject()
