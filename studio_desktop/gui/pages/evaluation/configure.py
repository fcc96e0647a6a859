"""The Configuration section: which checkpoint on which images, Evaluate / Stop / Reset / Report,
and the progress of a running evaluation.

The page starts the job; this section only holds the settings and shows the state. Only the
checkpoints that exist are offered, and only subsets that have images in the experiment's split.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ...widgets.job_status import format_eta
from .controller import DEVICES, SUBSET_WORDS, SUBSETS

CHECKPOINT_WORDS = {"best": "best (highest validation score)", "last": "last (end of training)"}


class ConfigurationSection(QWidget):
    evaluateRequested = Signal()
    stopRequested = Signal()
    resetRequested = Signal()
    reportRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        grid = QGridLayout()
        self.checkpoint = QComboBox()
        self.checkpoint.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.checkpoint.setToolTip("Which weights to evaluate: best = the epoch with the best validation score, "
                                   "last = the end of training. Only checkpoints on disk are offered")
        grid.addWidget(QLabel("Checkpoint"), 0, 0)
        grid.addWidget(self.checkpoint, 0, 1, Qt.AlignmentFlag.AlignLeft)
        subsets = QHBoxLayout()
        self.subsets: dict[str, QCheckBox] = {}
        for s in SUBSETS:
            box = QCheckBox(SUBSET_WORDS[s])
            box.setToolTip({"val": "Validation images: chose the best checkpoint, so slightly optimistic",
                            "test": "Test images: never seen while training; the honest estimate",
                            "train": "Training images: the model learnt them; a large gap to test means "
                                     "over-fitting"}[s])
            self.subsets[s] = box
            subsets.addWidget(box)
            box.toggled.connect(self._update_buttons)
        subsets.addStretch(1)
        grid.addWidget(QLabel("Images"), 0, 2)
        grid.addLayout(subsets, 0, 3)
        self.batch = QSpinBox()
        self.batch.setRange(1, 4096)
        self.batch.setToolTip("Images per batch: larger is faster until memory runs out; the results do not "
                              "depend on it (default: the training batch size)")
        grid.addWidget(QLabel("Batch size"), 1, 0)
        grid.addWidget(self.batch, 1, 1, Qt.AlignmentFlag.AlignLeft)
        self.device = QComboBox()
        for d in DEVICES:
            self.device.addItem({"auto": "auto (GPU if available)", "cpu": "CPU", "cuda": "GPU (CUDA)"}[d], d)
        self.device.setToolTip("Where the model runs: auto uses a CUDA GPU when there is one, else the CPU")
        grid.addWidget(QLabel("Device"), 1, 2)
        grid.addWidget(self.device, 1, 3, Qt.AlignmentFlag.AlignLeft)
        grid.setColumnStretch(4, 1)
        lay.addLayout(grid)

        row = QHBoxLayout()
        self.evaluate_button = QPushButton("Evaluate")
        self.evaluate_button.setToolTip("Run the checkpoint on the chosen images and compute every metric "
                                        "(Ctrl+Enter). Re-running replaces the previous evaluation")
        self.evaluate_button.setDefault(True)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the evaluation after its current batch; the previous evaluation stays")
        self.reset_button = QPushButton("Reset")
        self.reset_button.setToolTip("Delete this evaluation and its saved operating point (asks first; "
                                     "Ctrl+Shift+Delete)")
        self.report_button = QPushButton("Report")
        self.report_button.setToolTip("Write the experiment's report (HTML and PDF: configuration, data, curves, "
                                      "metrics, worst errors, environment) and open it (Ctrl+R)")
        for b in (self.evaluate_button, self.stop_button, self.reset_button, self.report_button):
            row.addWidget(b)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(14)
        self.progress.setToolTip("Images evaluated so far")
        row.addWidget(self.progress, 1)
        self.progress_text = QLabel("")
        row.addWidget(self.progress_text)
        lay.addLayout(row)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.RichText)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.status)
        self.evaluate_button.clicked.connect(self.evaluateRequested)
        self.stop_button.clicked.connect(self.stopRequested)
        self.reset_button.clicked.connect(self.resetRequested)
        self.report_button.clicked.connect(self.reportRequested)
        self.best_words = ""
        self.running = False
        self.evaluated = False
        self.writable = True
        self.set_running(False)

    # ---------------------------------------------------------------- settings
    def set_best_words(self, words: str) -> None:
        """What "best" means for this project's task ("lowest validation MAE"): the choice's text."""
        self.best_words = words

    def set_experiment(self, checkpoints: list[str], subset_sizes: dict[str, int], batch_size: int,
                       previous: dict | None = None) -> None:
        """Offer what this experiment has; pre-select what the previous evaluation used."""
        prev = previous or {}
        keep = prev.get("checkpoint") or self.checkpoint.currentData()
        self.checkpoint.clear()
        for c in checkpoints:
            words = f"best ({self.best_words})" if c == "best" and self.best_words else CHECKPOINT_WORDS.get(c, c)
            self.checkpoint.addItem(words, c)
        self.checkpoint.setCurrentIndex(max(0, self.checkpoint.findData(keep)))
        wanted = prev.get("subsets") or ["val", "test"]
        for s, box in self.subsets.items():
            n = subset_sizes.get(s, 0)
            box.setText(f"{SUBSET_WORDS[s]} ({n})")
            box.setEnabled(n > 0)
            box.setChecked(n > 0 and s in wanted)
        self.batch.setValue(int(prev.get("batch_size") or batch_size or 32))
        self.device.setCurrentIndex(max(0, self.device.findData(prev.get("device_setting", "auto"))))
        self._update_buttons()

    def settings(self) -> dict:
        return {"checkpoint": self.checkpoint.currentData(), "subsets": self.chosen_subsets(),
                "batch_size": self.batch.value(), "device": self.device.currentData()}

    def chosen_subsets(self) -> list[str]:
        return [s for s, box in self.subsets.items() if box.isChecked() and box.isEnabled()]

    # ------------------------------------------------------------------- state
    def set_state(self, *, evaluated: bool, writable: bool) -> None:
        self.evaluated, self.writable = evaluated, writable
        self._update_buttons()

    def set_running(self, running: bool) -> None:
        self.running = running
        self.progress.setVisible(running)
        self.progress_text.setVisible(running)
        if running:
            self.progress.setValue(0)
            self.progress_text.setText("starting…")
        self._update_buttons()

    def _update_buttons(self, *_args) -> None:
        can = self.writable and not self.running
        self.evaluate_button.setEnabled(can and bool(self.chosen_subsets()) and self.checkpoint.count() > 0)
        self.stop_button.setVisible(self.running)
        self.reset_button.setEnabled(can and self.evaluated)
        self.report_button.setEnabled(not self.running)
        for w in (self.checkpoint, self.batch, self.device, *self.subsets.values()):
            w.setEnabled(not self.running and (w not in self.subsets.values() or "(0)" not in w.text()))

    def show_progress(self, step: int, total: int, message: str, eta_s) -> None:
        self.progress.setValue(int(1000 * step / total) if total else 0)
        eta = format_eta(eta_s)
        self.progress_text.setText(message + (f" · {eta} left" if eta else ""))

    def show_status(self, html: str) -> None:
        self.status.setText(html)
