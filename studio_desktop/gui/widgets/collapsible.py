"""A titled section that folds away: a header button with an arrow, a summary, and its content.

The Evaluation page stacks its sections (configuration, metrics, images, try it); folding one
gives its room to the others, and the header keeps a one-line summary visible while folded.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QToolButton, QVBoxLayout, QWidget


class CollapsibleSection(QFrame):
    toggled = Signal(bool)  # expanded

    def __init__(self, title: str, content: QWidget, *, expanded: bool = True, tooltip: str = "",
                 parent=None):
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 4)
        lay.setSpacing(2)
        head = QHBoxLayout()
        head.setContentsMargins(0, 0, 0, 0)
        self.button = QToolButton()
        self.button.setText(title)
        self.button.setCheckable(True)
        self.button.setChecked(expanded)
        self.button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.button.setAutoRaise(True)
        font = self.button.font()
        font.setBold(True)
        self.button.setFont(font)
        self.button.setToolTip(tooltip or f"Show or hide the {title.lower()} section")
        self.button.toggled.connect(self.set_expanded)
        head.addWidget(self.button)
        self.summary = QLabel("")
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        head.addWidget(self.summary, 1)
        self.tools = QHBoxLayout()  # header widgets a section adds on the right
        head.addLayout(self.tools)
        lay.addLayout(head)
        self.content = content
        lay.addWidget(content, 1)
        self.set_expanded(expanded)

    @property
    def expanded(self) -> bool:
        return self.button.isChecked()

    def set_expanded(self, on: bool) -> None:
        if self.button.isChecked() != on:
            self.button.setChecked(on)  # re-enters through toggled
            return
        self.button.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self.content.setVisible(on)
        policy = QSizePolicy.Policy.Preferred if on else QSizePolicy.Policy.Maximum
        self.setSizePolicy(QSizePolicy.Policy.Preferred, policy)
        self.toggled.emit(on)

    def set_summary(self, text: str) -> None:
        self.summary.setText(text)
