"""Evaluation page (not built yet: it explains what it will do)."""

from __future__ import annotations

from PySide6.QtWidgets import QVBoxLayout, QWidget

from ..placeholder import MessagePanel


class EvaluationPage(QWidget):
    def __init__(self, ctx, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        lay = QVBoxLayout(self)
        self.panel = MessagePanel(
            "Evaluation",
            "This page measures a trained model on the test subset: metrics equal to the reference implementations, per-class results, confusion matrix and the worst images. It arrives in a coming version; train a model on the Training page first.")
        lay.addWidget(self.panel)
