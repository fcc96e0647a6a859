"""The "New export" form: checkpoint, format, precision and their options; Export / Cancel with
the progress of a running export.

Only what this installation can do is enabled: checkpoints on disk, formats whose package is
installed (the others say why in their tooltip), the precisions a format supports, options that
apply to the chosen format and precision. Every setting explains itself in a tooltip.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ....core.exports import (
    FORMATS,
    OPSETS,
    PRECISION_HELP,
    TASK_FIXED_BATCH,
    FormatInfo,
    precision_note,
    precisions_for,
)
from .controller import ExportSettings

CHECKPOINT_WORDS = {"best": "best (highest validation score)", "last": "last (end of training)"}
QUANTIZATION_HELP = {
    "static": "Static: activations' ranges calibrated on training images. The fast one on CPUs.",
    "dynamic": "Dynamic: weights only, activations quantized on the fly; no calibration, but on "
               "convolutional networks usually slower than FP32 on a CPU (the latency table shows it).",
}


class ExportForm(QWidget):
    exportRequested = Signal()
    cancelRequested = Signal()
    changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.checkpoint = QComboBox()
        self.checkpoint.setToolTip("Which weights to export: best = the epoch with the best validation score, "
                                   "last = the end of training. Only checkpoints on disk are offered")
        form.addRow("Checkpoint", self.checkpoint)
        self.format = QComboBox()
        self.format.setToolTip("The file format. ONNX runs almost everywhere; OpenVINO is converted from it; "
                               "TorchScript needs PyTorch (or LibTorch in C++)")
        form.addRow("Format", self.format)
        self.precision = QComboBox()
        form.addRow("Precision", self.precision)
        self.quantization = QComboBox()
        for key in ("static", "dynamic"):
            self.quantization.addItem(key, key)
        self.quantization.setToolTip("\n".join(QUANTIZATION_HELP.values()))
        form.addRow("INT8 method", self.quantization)
        self.calibration = QSpinBox()
        self.calibration.setRange(1, 5000)
        self.calibration.setToolTip("How many training images calibrate the INT8 ranges (static). More images: "
                                    "ranges closer to real data, a slower export. 64-256 is usual")
        form.addRow("Calibration images", self.calibration)
        self.opset = QComboBox()
        for v in OPSETS:
            self.opset.addItem(str(v), v)
        self.opset.setToolTip("The ONNX operator set version. 18 is read by current ONNX Runtime, OpenVINO and "
                              "TensorRT; choose an older one only for an older runtime (it uses the "
                              "TorchScript-based exporter)")
        form.addRow("ONNX opset", self.opset)
        self.dynamic = QCheckBox("any batch size")
        form.addRow("Dynamic batch", self.dynamic)
        self.validation = QSpinBox()
        self.validation.setRange(1, 10000)
        self.validation.setToolTip("How many validation/test images the exported file is checked on against "
                                   "PyTorch before it is offered (training images only when the split has none)")
        form.addRow("Check on images", self.validation)
        lay.addLayout(form)
        self.help = QLabel("")
        self.help.setWordWrap(True)
        self.help.setStyleSheet("color: #555;")
        lay.addWidget(self.help)

        row = QHBoxLayout()
        self.export_button = QPushButton("Export")
        self.export_button.setDefault(True)
        self.export_button.setToolTip("Export, check against PyTorch on real images and time it (Ctrl+Enter)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the export; nothing of it is kept (Esc)")
        row.addWidget(self.export_button)
        row.addWidget(self.cancel_button)
        row.addStretch(1)
        lay.addLayout(row)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(10)
        lay.addWidget(self.progress)
        self.progress_text = QLabel("")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(self.progress_text)
        lay.addWidget(self.status)

        self._running = False
        self._blocked: str | None = None
        #: what "best" means for the project's task ("lowest validation MAE")
        self.best_words = ""
        #: the project's task: which precisions and batch options its models export with
        self.task = "classification"
        self.export_button.clicked.connect(self.exportRequested)
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.format.currentIndexChanged.connect(self._format_changed)
        for w in (self.precision, self.quantization, self.checkpoint):
            w.currentIndexChanged.connect(self._update)
        self.dynamic.toggled.connect(self._update)
        self.set_settings(ExportSettings())
        self.set_running(False)

    # ---------------------------------------------------------------- filling
    def set_formats(self, formats: list[tuple[FormatInfo, str | None]]) -> None:
        current = self.format.currentData()
        self.format.blockSignals(True)
        self.format.clear()
        model = self.format.model()
        for info, why in formats:
            self.format.addItem(info.title, info.name)
            i = self.format.count() - 1
            self.format.setItemData(i, why or info.help, Qt.ItemDataRole.ToolTipRole)
            if why and isinstance(model, QStandardItemModel):
                model.item(i).setEnabled(False)
        index = self.format.findData(current)
        self.format.setCurrentIndex(index if index >= 0 else 0)
        self.format.blockSignals(False)
        self._format_changed()

    def set_task(self, task: str) -> None:
        """The project's task: a detector is offered FP32 only and a fixed batch (the reasons as help)."""
        self.task = task
        self._format_changed()

    def set_best_words(self, words: str) -> None:
        """What "best" means for this project's task ("lowest validation MAE"): the choice's text."""
        self.best_words = words

    def set_checkpoints(self, checkpoints: list[str]) -> None:
        current = self.checkpoint.currentData()
        self.checkpoint.blockSignals(True)
        self.checkpoint.clear()
        for c in checkpoints:
            words = f"best ({self.best_words})" if c == "best" and self.best_words else CHECKPOINT_WORDS.get(c, c)
            self.checkpoint.addItem(words, c)
        index = self.checkpoint.findData(current)
        self.checkpoint.setCurrentIndex(index if index >= 0 else 0)
        self.checkpoint.blockSignals(False)
        self._update()

    def set_settings(self, s: ExportSettings) -> None:
        for combo, value in ((self.format, s.format), (self.checkpoint, s.checkpoint), (self.opset, s.opset),
                             (self.quantization, s.quantization)):
            index = combo.findData(value)
            if index >= 0:
                combo.setCurrentIndex(index)
        self._format_changed()
        index = self.precision.findData(s.precision)
        if index >= 0:
            self.precision.setCurrentIndex(index)
        self.dynamic.setChecked(s.dynamic_batch)
        self.calibration.setValue(s.calibration_images)
        self.validation.setValue(s.validation_images)
        self._update()

    def settings(self) -> ExportSettings:
        return ExportSettings(checkpoint=self.checkpoint.currentData() or "best",
                              format=self.format.currentData() or "onnx",
                              precision=self.precision.currentData() or "fp32",
                              opset=int(self.opset.currentData() or 18), dynamic_batch=self.dynamic.isChecked(),
                              quantization=self.quantization.currentData() or "static",
                              calibration_images=self.calibration.value(), validation_images=self.validation.value())

    # ------------------------------------------------------------------ state
    def _format_changed(self) -> None:
        fmt = self.format.currentData()
        info = FORMATS.get(fmt)
        current = self.precision.currentData()
        self.precision.blockSignals(True)
        self.precision.clear()
        offered = precisions_for(self.task, fmt) if info else ("fp32",)
        for p in offered:
            self.precision.addItem(p.upper(), p)
            self.precision.setItemData(self.precision.count() - 1, PRECISION_HELP[p], Qt.ItemDataRole.ToolTipRole)
        index = self.precision.findData(current)
        self.precision.setCurrentIndex(index if index >= 0 else 0)
        self.precision.blockSignals(False)
        why = precision_note(self.task)
        missing = [p.upper() for p in (info.precisions if info else ()) if p not in offered]
        self.precision.setToolTip("\n".join(f"{p.upper()}: {PRECISION_HELP[p]}" for p in offered)
                                  + (f"\nNo {' or '.join(missing)} here: {why}." if why and missing else ""))
        self._update()

    def _update(self) -> None:
        s = self.settings()
        info = FORMATS.get(s.format)
        self.opset.setEnabled(bool(info and info.uses_opset) and not self._running)
        any_batch = bool(info and info.any_batch)
        fixed = TASK_FIXED_BATCH.get(self.task)
        self.dynamic.setEnabled(not any_batch and not fixed and not self._running)
        if fixed:
            self.dynamic.setChecked(False)
        self.dynamic.setToolTip(fixed or (f"{info.title if info else 'This'} file accepts any batch size anyway"
                                          if any_batch else "Let the file accept batches of any size (several images "
                                          "per call). Off: batch 1, what most deployments feed, and the usage snippet "
                                          "handles it"))
        int8 = s.precision == "int8"
        self.quantization.setEnabled(int8 and not self._running)
        self.calibration.setEnabled(int8 and s.quantization == "static" and not self._running)
        text = f"<b>{info.title}</b>: {info.help}" if info else ""
        text += f"<br><b>{s.precision.upper()}</b>: {PRECISION_HELP.get(s.precision, '')}"
        if int8:
            text += f"<br>{QUANTIZATION_HELP[s.quantization]}"
        self.help.setText(text)
        self._update_buttons()
        self.changed.emit()

    def block(self, reason: str | None) -> None:
        """Disable Export with the reason shown (None: allowed)."""
        self._blocked = reason
        self._update_buttons()

    def _update_buttons(self) -> None:
        self.export_button.setEnabled(not self._running and not self._blocked and self.checkpoint.count() > 0)
        self.export_button.setToolTip(self._blocked or "Export, check against PyTorch on real images and time it "
                                                       "(Ctrl+Enter)")
        self.cancel_button.setEnabled(self._running)

    def set_running(self, running: bool) -> None:
        self._running = running
        for w in (self.checkpoint, self.format, self.precision, self.validation):
            w.setEnabled(not running)
        self.progress.setVisible(running)
        self.progress_text.setVisible(running)
        if not running:
            self.progress.setValue(0)
            self.progress_text.setText("")
        self._update()

    def show_progress(self, step: int, total: int, message: str) -> None:
        self.progress.setValue(int(1000 * step / total) if total else 0)
        self.progress_text.setText(message)

    def show_status(self, html: str) -> None:
        self.status.setText(html)
