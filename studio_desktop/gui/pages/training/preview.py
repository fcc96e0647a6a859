"""Live preview of the augmentation list on real training images.

The GUI cannot apply torchvision transforms itself (it never imports torch), so it runs
``worker augment-preview`` as a short-lived QProcess that writes a few augmented PNGs into a
temporary folder, then shows them as thumbnails. Requests are debounced (~500 ms after the last
edit) and a new request kills the previous run, so typing in a parameter box never queues up
work. The process belongs to this widget (not detached): it dies with the GUI.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from PySide6.QtCore import QProcess, Qt, QTimer, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from ...jobs import worker_command

DEBOUNCE_MS = 500
COLUMNS = 4
THUMB = 84


class AugmentPreview(QWidget):
    #: the grid shows a new set of images (their paths)
    updated = Signal(list)

    def __init__(self, parent=None, n: int = 8):
        super().__init__(parent)
        self.n = n
        self.setToolTip("What the model sees: training images after your augmentation list, with "
                        "random choices. It refreshes when you change the list.")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.status = QLabel("Augmentation preview")
        self.status.setStyleSheet("color: #666; font-size: 8pt;")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        grid_host = QWidget()
        self.grid = QGridLayout(grid_host)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(3)
        self.cells: list[QLabel] = []
        for i in range(n):
            cell = QLabel()
            cell.setFixedSize(THUMB, THUMB)
            cell.setAlignment(Qt.AlignmentFlag.AlignCenter)
            cell.setStyleSheet("background: #eee; border: 1px solid #ccc;")
            self.grid.addWidget(cell, i // COLUMNS, i % COLUMNS)
            self.cells.append(cell)
        lay.addWidget(grid_host)
        self._tmp = tempfile.TemporaryDirectory(prefix="studio-augment-preview-")
        self._run = 0
        self._proc: QProcess | None = None
        self._pending: tuple | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self._start)
        self.images: list[str] = []

    # ---------------------------------------------------------------- public
    def request(self, workspace_root: str | Path, project_id: str, config: dict, seed: int = 0) -> None:
        """Ask for a preview of ``config`` (debounced; cancels a run in progress)."""
        self._pending = (str(workspace_root), project_id, json.dumps(config), seed)
        self._timer.start()

    def cancel(self) -> None:
        self._timer.stop()
        self._pending = None
        self._kill()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.state() != QProcess.ProcessState.NotRunning

    # --------------------------------------------------------------- running
    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.finished.disconnect()
            if proc.state() != QProcess.ProcessState.NotRunning:
                # never wait here (GUI thread): Qt reaps it and the object goes when it has ended
                proc.finished.connect(proc.deleteLater)
                proc.kill()
            else:
                proc.deleteLater()

    def _start(self) -> None:
        if self._pending is None:
            return
        ws_root, project_id, config_json, seed = self._pending
        self._pending = None
        self._kill()
        self._run += 1
        out = Path(self._tmp.name) / f"run{self._run}"
        out.mkdir(parents=True, exist_ok=True)
        cfg_file = out / "config.json"
        cfg_file.write_text(config_json, encoding="utf-8")
        program, args = worker_command("--workspace", ws_root, "worker", "augment-preview", project_id,
                                       "--config-json", f"@{cfg_file}", "--out", str(out),
                                       "--n", str(self.n), "--seed", str(seed))
        proc = QProcess(self)
        proc.setProgram(program)
        proc.setArguments(args)
        proc.setProcessChannelMode(QProcess.ProcessChannelMode.SeparateChannels)
        proc.finished.connect(lambda code, _status, p=proc, o=out: self._done(p, o, code))
        self._proc = proc
        self.status.setText("Preparing the preview…")
        proc.start()

    def _done(self, proc: QProcess, out: Path, code: int) -> None:
        if proc is not self._proc:
            return
        self._proc = None
        stdout = bytes(proc.readAllStandardOutput()).decode("utf-8", "replace")
        stderr = bytes(proc.readAllStandardError()).decode("utf-8", "replace")
        proc.deleteLater()
        paths, error = [], ""
        for line in stdout.splitlines():
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if not isinstance(ev, dict):
                continue
            if ev.get("event") == "artifact" and ev.get("path"):
                paths.append(ev["path"])
            elif ev.get("event") == "failed":
                error = str(ev.get("error") or "") + (f" ({ev['hint']})" if ev.get("hint") else "")
        if not paths:  # the worker may only write files
            paths = sorted(str(p) for p in out.glob("*.png"))
        if code != 0 and not paths:
            last = (stderr.strip().splitlines() or ["the preview process failed"])[-1]
            self.status.setText(f"No preview: {error or last}")
            self._show([])
            return
        self.status.setText("Training images after augmentation (random examples):")
        self._show(paths)

    def _show(self, paths: list[str]) -> None:
        self.images = list(paths[: len(self.cells)])
        for i, cell in enumerate(self.cells):
            if i < len(self.images):
                pix = QPixmap(self.images[i])
                cell.setPixmap(pix.scaled(THUMB - 2, THUMB - 2, Qt.AspectRatioMode.KeepAspectRatio,
                                          Qt.TransformationMode.SmoothTransformation))
                cell.setToolTip(Path(self.images[i]).name)
            else:
                cell.clear()
        self.updated.emit(self.images)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.cancel()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Kill a running preview, wait for it (app closing) and remove the temporary images."""
        proc = self._proc
        self.cancel()
        if proc is not None:
            proc.waitForFinished(2000)
        self._tmp.cleanup()
