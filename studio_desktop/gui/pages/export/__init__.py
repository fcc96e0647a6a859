"""Export page (not built yet: it explains what it will do)."""

from __future__ import annotations

from PySide6.QtWidgets import QVBoxLayout, QWidget

from ..placeholder import MessagePanel


class ExportPage(QWidget):
    def __init__(self, ctx, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        lay = QVBoxLayout(self)
        self.panel = MessagePanel(
            "Export",
            "This page exports a trained model to ONNX (and other formats), checks that it agrees with PyTorch on real images, and optionally quantizes it. It arrives in a coming version; train a model on the Training page first.")
        lay.addWidget(self.panel)
