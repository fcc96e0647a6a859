"""The status-bar job area: what is running, how far it is, how long is left, and Stop.

One compact row per running job (name, epoch, progress bar, ETA, stop button), or
"No jobs running". It only reads :class:`~studio_desktop.gui.jobs.Job` attributes on the
manager's ``jobsChanged`` signal, refreshed at most 4 times a second.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QToolButton, QWidget


def format_eta(seconds) -> str:
    """``3725`` -> ``1 h 02 min``; ``None`` -> empty (unknown yet)."""
    if seconds is None:
        return ""
    try:
        s = max(0, int(float(seconds)))
    except (TypeError, ValueError):
        return ""
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"


class JobRow(QWidget):
    def __init__(self, job, parent=None):
        super().__init__(parent)
        self.job = job
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 0, 4, 0)
        self.label = QLabel()
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setMaximumWidth(140)
        self.bar.setMaximumHeight(14)
        self.bar.setTextVisible(False)
        self.eta = QLabel()
        self.stop_button = QToolButton()
        self.stop_button.setText("Stop")
        self.stop_button.setToolTip("Stop this training after its current step; it saves its last "
                                    "checkpoint so you can resume it later")
        self.stop_button.clicked.connect(self._stop)
        for w in (self.label, self.bar, self.eta, self.stop_button):
            lay.addWidget(w)
        self.refresh()

    def _stop(self) -> None:
        self.job.stop()
        self.refresh()

    def refresh(self) -> None:
        job = self.job
        self.label.setText(job.describe())
        self.bar.setValue(int(job.fraction * 1000))
        eta = format_eta(job.eta_s)
        self.eta.setText(f"{eta} left" if eta and job.state == "running" else "")
        self.stop_button.setEnabled(job.state in ("starting", "running"))
        if job.kind != "train":
            self.stop_button.setToolTip(f"Cancel this {job.kind} job; nothing half-finished is kept")
        self.setToolTip(f"{job.name}: {job.state}; folder {job.folder}")


class JobStatusArea(QWidget):
    """Lives in the main window's status bar."""

    def __init__(self, manager, parent=None):
        super().__init__(parent)
        self.manager = manager
        self._lay = QHBoxLayout(self)
        self._lay.setContentsMargins(0, 0, 0, 0)
        self.idle_label = QLabel("No jobs running")
        self.idle_label.setToolTip("Training, evaluation and export jobs appear here while they run, with their progress "
                                   "and a Stop button")
        self._lay.addWidget(self.idle_label)
        self.rows: dict[str, JobRow] = {}
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(250)
        self._timer.timeout.connect(self.refresh)
        manager.jobsChanged.connect(self._timer.start)
        self.refresh()

    def refresh(self) -> None:
        running = {j.key: j for j in self.manager.running()}
        for exp_id in list(self.rows):
            if exp_id not in running or self.rows[exp_id].job is not running[exp_id]:
                row = self.rows.pop(exp_id)
                self._lay.removeWidget(row)
                row.deleteLater()
        for exp_id, job in running.items():
            row = self.rows.get(exp_id)
            if row is None:
                row = self.rows[exp_id] = JobRow(job, self)
                self._lay.addWidget(row)
            row.refresh()
        self.idle_label.setVisible(not running)
