"""How "Try it" shows a detector's predictions: boxes drawn on each image with class and score.

The panel asks its task's view (``try_it.TRY_VIEWS``) for the caption, tooltip and overlay of each
prediction and for extra settings; this one adds a score threshold (the operating point's by
default) that is passed to the prediction run and filters the boxes on screen at once when it is
raised (lowering it below the run's threshold needs a new run, which the status line says).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QDoubleSpinBox, QLabel

from ....core.errors import StoreError
from ....core.evaluation.detection import DEFAULT_SCORE_THRESHOLD
from ....core.evaluation.detection_predictions import COLOURS
from ....core.evaluation.operating_point import load_operating_point


class DetectionTryView:
    """Boxes on bigger thumbnails; a score threshold beside the buttons."""

    thumb = QSize(200, 200)

    def __init__(self, on_change=None):
        self.on_change = on_change
        self.classes: list[int] = []
        self.label = QLabel("Score ≥")
        self.spin = QDoubleSpinBox()
        self.spin.setRange(0.0, 1.0)
        self.spin.setSingleStep(0.05)
        self.spin.setDecimals(2)
        self.spin.setValue(DEFAULT_SCORE_THRESHOLD)
        tip = ("Show boxes whose score is at least this (0-1). Starts at the operating point chosen on the "
               "Evaluation page (0.5 when none was chosen); raising it hides boxes at once, lowering it below "
               "the last run's threshold needs a new prediction.")
        self.spin.setToolTip(tip)
        self.label.setToolTip(tip)
        self.spin.valueChanged.connect(lambda _v: self.on_change and self.on_change())

    @property
    def threshold(self) -> float:
        return float(self.spin.value())

    def controls(self) -> list:
        return [self.label, self.spin]

    def set_experiment(self, controller, experiment) -> None:
        """Start from the experiment's operating point (its score threshold) and its class order."""
        value = DEFAULT_SCORE_THRESHOLD
        if controller is not None and experiment is not None:
            self.classes = [c.id for c in controller.project.classes]
            try:
                op = load_operating_point(Path(controller.folder(experiment.id)) / "evaluation")
            except StoreError:
                op = None
            if op is not None and op.score_threshold is not None:
                value = float(op.score_threshold)
        self.spin.blockSignals(True)
        self.spin.setValue(value)
        self.spin.blockSignals(False)

    def worker_args(self) -> list[str]:
        return ["--score-threshold", f"{self.threshold:g}"]

    # ------------------------------------------------------------------ one prediction
    def boxes(self, p: dict) -> list[dict]:
        return [b for b in (p.get("prediction") or {}).get("boxes") or [] if float(b.get("score", 0)) >= self.threshold]

    def caption(self, p: dict, units=None) -> str:
        if not p.get("ok", True):
            return "cannot read"
        boxes = self.boxes(p)
        if not boxes:
            return "no objects"
        counts: dict[str, int] = {}
        for b in boxes:
            counts[str(b.get("name", b.get("cls")))] = counts.get(str(b.get("name", b.get("cls"))), 0) + 1
        return ", ".join(f"{n} {k}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))

    def tooltip(self, p: dict, units=None) -> str:
        name = Path(str(p.get("file", ""))).name
        if not p.get("ok", True):
            return f"{name}\n{p.get('error', 'could not be read')}"
        boxes = self.boxes(p)
        lines = [f"{name}: {len(boxes)} object(s) scoring at least {self.threshold:.2f}"]
        lines += [f"  {b.get('name', b.get('cls'))} {float(b['score']):.2f} at ({b['x1']:.0f}, {b['y1']:.0f})–"
                  f"({b['x2']:.0f}, {b['y2']:.0f})" for b in boxes[:15]]
        if len(boxes) > 15:
            lines.append(f"  … and {len(boxes) - 15} more")
        return "\n".join(lines)

    def paint(self, painter: QPainter, target, p: dict) -> None:
        """Draw the boxes over the thumbnail drawn in ``target`` (the image scaled to fit)."""
        width, height = float(p.get("width") or 0), float(p.get("height") or 0)
        if width <= 0 or height <= 0:
            return
        sx, sy = target.width() / width, target.height() / height
        font = QFont(painter.font())
        font.setPixelSize(9)
        painter.setFont(font)
        for b in self.boxes(p):
            cls = b.get("cls")
            index = self.classes.index(cls) if cls in self.classes else 0
            colour = QColor(COLOURS[index % len(COLOURS)])
            rect = QRectF(target.x() + b["x1"] * sx, target.y() + b["y1"] * sy, max(1.0, (b["x2"] - b["x1"]) * sx),
                          max(1.0, (b["y2"] - b["y1"]) * sy))
            painter.setPen(QPen(colour, 1.5))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(rect)
            if rect.width() >= 28 and rect.height() >= 12:
                text = f"{b.get('name', cls)} {float(b['score']):.2f}"
                painter.fillRect(QRectF(rect.x(), rect.y(), min(rect.width(), 6.0 * len(text)), 11), colour)
                painter.setPen(QColor("white"))
                painter.drawText(QRectF(rect.x() + 1, rect.y(), rect.width(), 11),
                                 Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)

    def status(self, items: list[dict], data: dict) -> str:
        """What the status line adds: boxes shown, and whether a lower threshold needs a new run."""
        shown = sum(len(self.boxes(p)) for p in items if p.get("ok", True))
        ran = (data.get("operating_point") or {}).get("score_threshold")
        text = f"{shown} box(es) scoring at least {self.threshold:.2f}"
        if isinstance(ran, (int, float)) and self.threshold < float(ran) - 1e-9:
            text += f" (this run kept boxes from {float(ran):.2f}: predict again to see lower scores)"
        return text


__all__ = ["DetectionTryView"]
