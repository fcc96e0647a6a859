"""The selected image on the canvas with all its annotations, a legend and layer toggles."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ...widgets.image_canvas import ImageCanvas, OverlayLegend
from ...widgets.overlays import ClassStyle, read_index_png, shapes_of


class ImageDetail(QWidget):
    """Canvas + legend + previous/next; shows one ``ImageRecord``."""

    previousRequested = Signal()
    nextRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        nav = QHBoxLayout()
        self.prev_button = QPushButton("◀ Previous")
        self.prev_button.setToolTip("Previous image (Left or Page Up)")
        self.next_button = QPushButton("Next ▶")
        self.next_button.setToolTip("Next image (Right or Page Down)")
        self.title = QLabel("Select an image in the grid")
        self.title.setWordWrap(True)
        nav.addWidget(self.prev_button)
        nav.addWidget(self.title, 1)
        nav.addWidget(self.next_button)
        outer.addLayout(nav)
        body = QHBoxLayout()
        self.canvas = ImageCanvas()
        self.legend = OverlayLegend(self.canvas)
        self.legend.setMaximumWidth(180)
        body.addWidget(self.canvas, 1)
        body.addWidget(self.legend)
        outer.addLayout(body, 1)
        self.problems = QLabel("")
        self.problems.setStyleSheet("color:#c0392b")
        self.problems.setWordWrap(True)
        outer.addWidget(self.problems)
        self.prev_button.clicked.connect(self.previousRequested)
        self.next_button.clicked.connect(self.nextRequested)
        self.canvas.previousRequested.connect(self.previousRequested)
        self.canvas.nextRequested.connect(self.nextRequested)
        self.record = None

    def show_record(self, record, image_path: str, classes: dict[int, ClassStyle], path_of) -> None:
        self.record = record
        shapes = shapes_of(record, classes, path_of)
        self.canvas.show_image(image_path, shapes, classes)
        present = set(record.class_ids())
        if record.mask:  # semantic masks carry their classes in the pixels
            try:
                present |= {int(v) for v in np.unique(read_index_png(str(path_of(record.mask)))) if int(v) in classes}
            except (OSError, ValueError):
                pass  # the canvas already reports the unreadable mask
        present = sorted(present)
        self.legend.set_classes([classes.get(c, ClassStyle(c, f"class {c}", "#ff00ff")) for c in present])
        name = (record.source or record.file).replace("\\", "/").rsplit("/", 1)[-1]
        tags = f" · tags: {', '.join(record.tags)}" if record.tags else ""
        self.title.setText(f"<b>{name}</b> · {record.width} × {record.height} px{tags}")
        self.title.setToolTip(record.source or record.file)
        self.problems.setText("\n".join(self.canvas.problems))

    def show_message(self, text: str) -> None:
        self.record = None
        self.canvas.show_image(None, [], {})
        self.title.setText(text)
        self.problems.setText("")
