"""How "Try it" shows an anomaly model's predictions: the heat map over each image, score and verdict.

The prediction run (``worker predict``) writes each image's heat map picture beside the predictions
(``heatmaps/<name>.png``: the map over the image in ``core/anomaly.py``'s colours, the region above
the threshold outlined), so this view only draws that picture over the thumbnail, frames the images
called anomalous in red and writes the verdict and the raw score under each. A check box (H) shows
the plain images instead, to look at what the heat map covers.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QImage, QKeySequence, QPainter, QPen
from PySide6.QtWidgets import QCheckBox

#: images framed as anomalous, and the threshold's words
ANOMALOUS = QColor("#d62728")
#: heat map pictures kept scaled to the thumbnail size
CACHE = 400


class AnomalyTryView:
    """Heat maps on bigger thumbnails; the verdict and score under each; a check box to hide the heat maps."""

    thumb = QSize(160, 160)

    def __init__(self, on_change=None):
        self.on_change = on_change
        self.heat = QCheckBox("Heat map")
        self.heat.setChecked(True)
        self.heat.setShortcut(QKeySequence("H"))
        self.heat.setToolTip("Show each image's anomaly heat map (H): hotter colours are more anomalous, the "
                             "colour at the middle of the scale is the threshold, and the region above it is "
                             "outlined in cyan. Untick to see the plain images.")
        self.heat.toggled.connect(lambda _on: self.on_change and self.on_change())
        self._images: OrderedDict[tuple[str, int, int], QImage] = OrderedDict()

    def controls(self) -> list:
        return [self.heat]

    def set_experiment(self, controller, experiment) -> None:
        self._images.clear()

    def worker_args(self) -> list[str]:
        return []

    # ------------------------------------------------------------------ one prediction
    @staticmethod
    def _pred(p: dict) -> dict:
        return p.get("prediction") or {}

    def caption(self, p: dict, units=None) -> str:
        if not p.get("ok", True):
            return "cannot read"
        pred = self._pred(p)
        score = float(pred.get("score", float("nan")))
        verdict = pred.get("anomalous")
        if verdict is None:
            return f"score {score:.3g}"
        return f"{'ANOMALOUS' if verdict else 'normal'} {score:.3g}"

    def tooltip(self, p: dict, units=None) -> str:
        from ....core.evaluation.anomaly_predictions import anomaly_text

        name = Path(str(p.get("file", ""))).name
        if not p.get("ok", True):
            return f"{name}\n{p.get('error', 'could not be read')}"
        lines = [f"{name}: {anomaly_text(self._pred(p))}"]
        if self._pred(p).get("heat_map"):
            lines.append("Heat map: hotter = more anomalous; the outlined region is above the threshold")
        return "\n".join(lines)

    def _heat_image(self, path: str, size: QSize) -> QImage | None:
        key = (path, size.width(), size.height())
        image = self._images.get(key)
        if image is None:
            loaded = QImage(path)
            if loaded.isNull():
                return None
            image = loaded.scaled(size, Qt.AspectRatioMode.IgnoreAspectRatio,
                                  Qt.TransformationMode.SmoothTransformation)
            self._images[key] = image
            while len(self._images) > CACHE:
                self._images.popitem(last=False)
        else:
            self._images.move_to_end(key)
        return image

    def paint(self, painter: QPainter, target: QRect, p: dict) -> None:
        """The heat map picture over the thumbnail (same image, same aspect), a red frame when anomalous."""
        pred = self._pred(p)
        heat = pred.get("heat_map")
        if self.heat.isChecked() and heat:
            image = self._heat_image(str(heat), target.size())
            if image is not None:
                painter.drawImage(target.topLeft(), image)
        if pred.get("anomalous"):
            painter.setPen(QPen(ANOMALOUS, 3))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(target.adjusted(1, 1, -2, -2))

    def status(self, items: list[dict], data: dict) -> str:
        """How many were called anomalous, at which threshold and from where."""
        ok = [p for p in items if p.get("ok", True)]
        if not ok:
            return ""
        threshold = next((self._pred(p).get("threshold") for p in ok if self._pred(p).get("threshold") is not None),
                         None)
        if threshold is None:
            return "no threshold yet: evaluate the model to choose one (scores and heat maps are shown)"
        flagged = sum(1 for p in ok if self._pred(p).get("anomalous"))
        where = "the saved operating point" if data.get("operating_point") else \
            "the default: 5 % false positives on normal validation images"
        return f"{flagged} of {len(ok)} anomalous at threshold {float(threshold):.4g} ({where})"


__all__ = ["AnomalyTryView"]
