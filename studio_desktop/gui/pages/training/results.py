"""The right column: how the selected experiment is doing, or a comparison of several.

Live runs feed the curves through the job's ``epoch`` signal (buffered; the curves redraw on
their own timer) and the progress bar through ``progress``; the log tail is re-read from
``train.log`` once a second (bounded read of the file's end). Finished runs are drawn from
``metrics.jsonl``.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ...widgets.curves import CurvesPanel, label_of, lower_is_better
from ...widgets.job_status import format_eta
from .controller import STATUS_STYLE

LOG_LINES = 200


def metrics_text(metrics: dict) -> str:
    parts = []
    for key, value in metrics.items():
        if key.startswith("best_") or key in ("epoch", "step", "time"):
            continue  # the best value is shown once, with its epoch
        if isinstance(value, float):
            parts.append(f"{label_of(key)}: <b>{value:.4g}</b>")
        elif isinstance(value, int) and not isinstance(value, bool):
            parts.append(f"{label_of(key)}: <b>{value}</b>")
    return " · ".join(parts)


class ResultsPanel(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        self.title = QLabel("<b>Results</b>")
        self.badge = QLabel()
        self.badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.badge.hide()
        head.addWidget(self.title, 1)
        head.addWidget(self.badge)
        lay.addLayout(head)
        self.message = QLabel("Select an experiment to see its curves, or start one.")
        self.message.setWordWrap(True)
        lay.addWidget(self.message)

        prog = QHBoxLayout()
        self.epoch_label = QLabel()
        self.epoch_label.setToolTip("Epochs done out of the total: one epoch = every training image seen once")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(14)
        self.progress.setToolTip("Progress of the whole training")
        self.eta_label = QLabel()
        self.eta_label.setToolTip("Estimated time left, from the speed so far")
        prog.addWidget(self.epoch_label)
        prog.addWidget(self.progress, 1)
        prog.addWidget(self.eta_label)
        lay.addLayout(prog)

        self.final = QLabel()
        self.final.setWordWrap(True)
        self.final.setTextFormat(Qt.TextFormat.RichText)
        self.final.setToolTip("The latest (or final) metrics and the best value of the main metric")
        lay.addWidget(self.final)

        split = QSplitter(Qt.Orientation.Vertical)
        self.curves = CurvesPanel()
        split.addWidget(self.curves)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(LOG_LINES)
        self.log.setFont(QFont("monospace", 8))
        self.log.setPlaceholderText("The training log appears here")
        self.log.setToolTip("The last lines of the training log (train.log)")
        split.addWidget(self.log)
        split.setStretchFactor(0, 4)
        split.setStretchFactor(1, 1)
        # initial 4:1 share: the plots are built after the page appears, so their size hint
        # does not count when the splitter first divides the space
        split.setSizes([800, 200])
        self.split = split
        lay.addWidget(split, 1)

        self.job = None
        self._log_source = None  # callable returning the last lines
        self._log_timer = QTimer(self)
        self._log_timer.setInterval(1000)
        self._log_timer.timeout.connect(self.refresh_log)
        self._set_progress_visible(False)

    # --------------------------------------------------------------- display
    def _set_progress_visible(self, on: bool) -> None:
        for w in (self.epoch_label, self.progress, self.eta_label):
            w.setVisible(on)

    def _set_badge(self, status: str | None) -> None:
        if not status:
            self.badge.hide()
            return
        color, meaning = STATUS_STYLE.get(status, ("#7f7f7f", status))
        self.badge.setText(f" {status} ")
        self.badge.setStyleSheet(f"background: {color}; color: white; border-radius: 3px; "
                                 f"padding: 1px 6px; font-weight: bold;")
        self.badge.setToolTip(meaning)
        self.badge.show()

    def show_nothing(self, text: str = "Select an experiment to see its curves, or start one.") -> None:
        self.detach_job()
        self.title.setText("<b>Results</b>")
        self._set_badge(None)
        self.message.setText(text)
        self.message.show()
        self.final.clear()
        self.curves.set_rows([])
        self.log.clear()
        self._log_source = None
        self._set_progress_visible(False)

    def show_experiment(self, exp, rows: list[dict], log_source) -> None:
        """Show one experiment: stored curves, status, final metrics and log."""
        self.detach_job()
        self.title.setText(f"<b>{exp.name}</b> · {exp.config.model}")
        self._set_badge(exp.status)
        text = ""
        if exp.status == "created":
            text = "Not started yet."
        elif exp.error:
            text = f"<span style='color:#c0392b'>{exp.error}</span>" + (f"<br>{exp.hint}" if exp.hint else "")
        self.message.setText(text)
        self.message.setVisible(bool(text))
        self.curves.set_rows(rows)
        self._show_final(exp.last_metrics, exp.best)
        total = exp.config.epochs
        self._set_progress_visible(exp.status in ("running", "stopped", "interrupted") and total > 0)
        self.epoch_label.setText(f"epoch {exp.epochs_done}/{total}")
        self.progress.setValue(int(1000 * min(1.0, exp.epochs_done / total)) if total else 0)
        self.eta_label.clear()
        self._log_source = log_source
        self.refresh_log()

    def _show_final(self, metrics: dict, best) -> None:
        text = metrics_text(metrics or {})
        if best is not None:  # "best checkpoint: epoch 15, lowest validation MAE 1.065"
            key = best.metric if best.metric.startswith(("val_", "train_")) else f"val_{best.metric}"
            way = "lowest" if lower_is_better(key) else "highest"
            text += (" · " if text else "") + (f"best checkpoint: epoch {best.epoch}, {way} {label_of(key)} "
                                               f"<b>{best.value:.4g}</b>")
        self.final.setText(text)

    def show_comparison(self, runs: dict[str, list[dict]], metric: str) -> None:
        self.detach_job()
        self.title.setText(f"<b>Comparing {len(runs)} experiments</b>")
        self._set_badge(None)
        self.message.setText(f"Solid lines: validation; dashed: training. Middle plot: {metric.replace('_', ' ')}.")
        self.message.show()
        self.final.clear()
        self._set_progress_visible(False)
        self.curves.set_comparison(runs, metric)
        self.log.clear()
        self._log_source = None

    # ------------------------------------------------------------------ live
    def attach_job(self, job) -> None:
        """Follow a running job: curves, progress and ETA update live."""
        self.detach_job()
        self.job = job
        job.epoch.connect(self._on_epoch)
        job.progress.connect(self._on_progress)
        job.changed.connect(self._on_changed)
        self.message.hide()  # "not started yet" no longer applies
        self._set_progress_visible(True)
        self._log_timer.start()
        self._on_changed()

    def detach_job(self) -> None:
        job, self.job = self.job, None
        self._log_timer.stop()
        if job is not None:
            for sig, slot in ((job.epoch, self._on_epoch), (job.progress, self._on_progress),
                              (job.changed, self._on_changed)):
                try:
                    sig.disconnect(slot)
                except (RuntimeError, TypeError):
                    pass

    def _on_epoch(self, data: dict) -> None:
        metrics = data.get("metrics") or {}
        self.curves.add_point(data.get("epoch", 0), metrics)
        self.final.setText(metrics_text(metrics))

    def _on_progress(self, data: dict) -> None:
        job = self.job
        if job is None:
            return
        self.progress.setValue(int(job.fraction * 1000))
        eta = format_eta(job.eta_s)
        self.eta_label.setText(f"{eta} left" if eta else "")

    def _on_changed(self) -> None:
        job = self.job
        if job is None:
            return
        self._set_badge({"starting": "running", "stopping": "running"}.get(job.state, job.state))
        total = job.total_epochs or 0
        label = f"epoch {job.epoch_no}/{total}" if total else "starting…"
        if job.state == "stopping":
            label += " · stopping…"
        self.epoch_label.setText(label)
        self.progress.setValue(int(job.fraction * 1000))

    def refresh_log(self) -> None:
        if self._log_source is None:
            return
        lines = self._log_source()
        text = "\n".join(lines[-LOG_LINES:])
        if text != self.log.toPlainText():
            self.log.setPlainText(text)
            bar = self.log.verticalScrollBar()
            bar.setValue(bar.maximum())
