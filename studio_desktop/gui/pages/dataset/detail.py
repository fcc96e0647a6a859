"""The selected image on the canvas with all its annotations, a legend and layer toggles."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ...widgets.image_canvas import ImageCanvas, OverlayLegend, decode_image
from ...widgets.overlays import ClassStyle, read_index_png, shapes_of
from .background import BackgroundCall


def _mask_classes(path: str | None) -> set[int]:
    """Class ids present in a semantic mask (they live in its pixels, not in the record)."""
    if not path:
        return set()
    try:
        return {int(v) for v in np.unique(read_index_png(path))}
    except (OSError, ValueError):
        return set()  # the canvas reports the unreadable mask


class ImageDetail(QWidget):
    """Canvas + legend + previous/next; shows one ``ImageRecord``."""

    previousRequested = Signal()
    nextRequested = Signal()
    #: the current record is on the canvas
    shown = Signal()

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
        self._decode = BackgroundCall(self)
        self._decode.done.connect(self._on_decoded)
        self._decode.failed.connect(lambda msg: self.problems.setText(msg))

    def show_record(self, record, image_path: str, classes: dict[int, ClassStyle], path_of) -> None:
        """Show ``record``: the photo is decoded in a worker thread (a 12-megapixel JPEG takes
        longer than a frame), then drawn with its overlays; :attr:`shown` follows."""
        self.record = record
        name = (record.source or record.file).replace("\\", "/").rsplit("/", 1)[-1]
        tags = f" · tags: {', '.join(record.tags)}" if record.tags else ""
        self.title.setText(f"<b>{name}</b> · {record.width} × {record.height} px{tags}")
        self.title.setToolTip(record.source or record.file)
        shapes = shapes_of(record, classes, path_of)
        mask = str(path_of(record.mask)) if record.mask else None
        self._decode.start(lambda: (record, decode_image(image_path), _mask_classes(mask), shapes, classes))

    def _on_decoded(self, result) -> None:
        record, (image, problem), mask_classes, shapes, classes = result
        if record is not self.record:
            return
        self.canvas.show_decoded(image, problem, shapes, classes)
        present = sorted(set(record.class_ids()) | {c for c in mask_classes if c in classes})
        self.legend.set_classes([classes.get(c, ClassStyle(c, f"class {c}", "#ff00ff")) for c in present])
        self.problems.setText("\n".join(self.canvas.problems))
        self.shown.emit()

    def show_message(self, text: str) -> None:
        self.record = None
        self._decode.cancel()
        self.canvas.show_image(None, [], {})
        self.title.setText(text)
        self.problems.setText("")
