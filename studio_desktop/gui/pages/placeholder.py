"""A page that explains itself: what it will do and what to do first (never a blank panel)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget


class MessagePanel(QWidget):
    """A centred title, explanation and optional action button."""

    def __init__(self, title: str, text: str, action: str | None = None, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.addStretch(1)
        self.title = QLabel(f"<h2>{title}</h2>")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text = QLabel(text)
        self.text.setWordWrap(True)
        self.text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text.setMaximumWidth(560)
        lay.addWidget(self.title)
        # centred by stretches, not by an alignment flag: a layout item with an alignment gets its
        # sizeHint height, which clips a word-wrapped paragraph (heightForWidth is ignored)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.text, 100)
        row.addStretch(1)
        lay.addLayout(row)
        self.button = QPushButton(action or "")
        self.button.setVisible(bool(action))
        lay.addWidget(self.button, 0, Qt.AlignmentFlag.AlignHCenter)
        lay.addStretch(2)

    def set_message(self, title: str, text: str, action: str | None = None) -> None:
        self.title.setText(f"<h2>{title}</h2>")
        self.text.setText(text)
        self.button.setText(action or "")
        self.button.setVisible(bool(action))
