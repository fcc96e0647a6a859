"""The anomaly operating point editor: one threshold on the raw score, by hand or from a goal.

The threshold is in the model's own units (a PatchCore distance, a logit…), so the slider spans
the evaluated scores rather than 0..1. Goals: at most a share of the NORMAL images flagged (the one
that works when the validation images hold no defects), at least a share of the defects found, or
the best F1 (needs both kinds). Every change is applied at once to the results and so to every
number, colour and heat map on the page; Save writes ``evaluation/operating_point.json``, which
prediction and export follow. Nothing here computes metrics: it builds an ``OperatingPoint``.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from .....core.evaluation import anomaly as an
from .....core.evaluation.classification import GoalNotReachable
from .....core.evaluation.operating_point import Goal, OperatingPoint
from .operating_point import SLIDER_STEPS, RuleEditor, _spin

GOALS = {"fpr": ("False alarms on normal images at most", 0.05,
                 "At most this share of the normal images flagged (0.05 = 5 %). Works when the images chosen on "
                 "have no defects at all"),
         "recall": ("Defects found at least", 0.95, "At least this share of the defective images flagged "
                                                    "(0.95 = 95 %); needs defective images"),
         "f1": ("Best F1 (balance misses and false alarms)", 0.0, "The threshold with the best F1 of the "
                                                                   "'anomalous' verdict; needs both kinds")}


class AnomalyOperatingPointEditor(RuleEditor):
    """Edits the anomaly threshold; ``changed`` carries every new :class:`OperatingPoint`."""

    TITLE = "Operating point"
    WHAT = "the threshold"

    def __init__(self, parent=None):
        super().__init__(save_tip="Store this threshold with the model (evaluation/operating_point.json): prediction "
                                  "and export use it (Ctrl+S)",
                         revert_tip="Back to the saved threshold", default_text="Default",
                         default_tip="Back to the default: the threshold that flags at most 5 % of the normal "
                                     "validation images", parent=parent)
        self.lo, self.hi = 0.0, 1.0
        grid = QGridLayout()
        self.slider.setToolTip("Drag to move the threshold across the evaluated scores; every number, colour and "
                               "heat map follows (Alt+Left / Alt+Right: a step down / up; Ctrl+S saves)")
        self.threshold = _spin(-1e12, 1e12, 0.0, 0.01, 4)
        self.threshold.setToolTip("An image is anomalous when its score reaches this; a pixel when its map value "
                                  "does (the model's raw score units)")
        grid.addWidget(QLabel("Threshold"), 0, 0)
        grid.addWidget(self.slider, 0, 1)
        grid.addWidget(self.threshold, 0, 2)
        grid.setColumnStretch(1, 1)
        self.body.addLayout(grid)

        box = QGroupBox("Choose from a goal")
        box.setToolTip("State what you need; the threshold that meets it is chosen on the cached scores of the subset "
                       "below (validation by default, so that the test numbers stay honest)")
        g = QVBoxLayout(box)
        g1, g2 = QHBoxLayout(), QHBoxLayout()
        g.addLayout(g1)
        g.addLayout(g2)
        self.goal_kind = QComboBox()
        for key, (text, _v, tip) in GOALS.items():
            self.goal_kind.addItem(text, key)
            self.goal_kind.setItemData(self.goal_kind.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.goal_kind.setToolTip("What the threshold must achieve")
        self.goal_value = _spin(0.0, 1.0, 0.05, 0.01, 3)
        self.goal_value.setToolTip("The share to reach, between 0 and 1")
        self.goal_subset = QComboBox()
        self.goal_subset.setToolTip("Which evaluated images to choose on")
        self.goal_button = QPushButton("Choose")
        self.goal_button.setToolTip("Find the threshold that meets the goal and apply it (not saved until you Save)")
        g1.addWidget(self.goal_kind, 1)
        for w in (QLabel("value"), self.goal_value, QLabel("on"), self.goal_subset):
            g2.addWidget(w)
        g2.addStretch(1)
        g2.addWidget(self.goal_button)
        self.body.addWidget(box)
        self.goal_result = QLabel("")
        self.goal_result.setWordWrap(True)
        self.goal_result.setTextFormat(Qt.TextFormat.RichText)
        self.body.addWidget(self.goal_result)
        self.body.addStretch(1)

        self._connect_threshold()
        self.goal_kind.currentIndexChanged.connect(self._goal_kind_changed)
        self.goal_button.clicked.connect(self.choose_goal)
        self.default_button.clicked.connect(lambda: self.changed.emit(OperatingPoint(task=an.TASK)))

    # --------------------------------------------------------------- loading
    def set_results(self, results) -> None:
        self.results = results
        self._loading = True
        s = results.scores.score
        values = np.r_[s, results.threshold] if len(s) else np.array([results.threshold])
        lo, hi = float(values.min()), float(values.max())
        pad = 0.02 * (hi - lo) if hi > lo else 1.0
        self.lo, self.hi = lo - pad, hi + pad
        self.threshold.setSingleStep(max((self.hi - self.lo) / 100.0, 1e-6))
        self.goal_subset.clear()
        for sub in results.subsets:
            self.goal_subset.addItem(sub, sub)
        self.goal_subset.setCurrentIndex(max(0, self.goal_subset.findData("val")))
        self._loading = False
        self.show_operating_point(results.op, results.dirty)
        self._goal_kind_changed()

    def step(self) -> float:
        """One keyboard step of the threshold (a hundredth of the evaluated scores' span)."""
        return (self.hi - self.lo) / 100.0

    def _to_slider(self, value: float) -> int:
        return round((value - self.lo) / max(self.hi - self.lo, 1e-12) * SLIDER_STEPS)

    def show_operating_point(self, op: OperatingPoint, dirty: bool) -> None:
        """Show the results' threshold in the controls (no ``changed`` is emitted)."""
        self._loading = True
        t = self.results.threshold if self.results is not None else (op.threshold or 0.0)
        self.threshold.setValue(t)
        self.slider.setValue(self._to_slider(t))
        self._loading = False
        self._show_state(op, dirty)
        if self.results is not None:
            state = self.description.text().split(":", 1)[0]
            self.description.setText(f"{state}: {self.results.describe_rule()}")

    def _enable(self) -> None:
        kind = self.goal_kind.currentData()
        self.goal_value.setEnabled(kind != "f1")

    # --------------------------------------------------------------- editing
    def _slider_moved(self, value: int) -> None:
        if self._loading:
            return
        self._loading = True
        self.threshold.setValue(self.lo + value / SLIDER_STEPS * (self.hi - self.lo))
        self._loading = False
        self._slider_timer.start()

    def _spin_changed(self, value: float) -> None:
        if self._loading:
            return
        self._loading = True
        self.slider.setValue(self._to_slider(value))
        self._loading = False
        self._emit()

    def current(self) -> OperatingPoint:
        base = self.results.op if self.results is not None else None
        return an.manual_operating_point(float(self.threshold.value()), base)

    def _emit(self, *_args) -> None:
        if self._loading:
            return
        self.goal_result.setText("")
        self.changed.emit(self.current())

    # ------------------------------------------------------------------ goal
    def _goal_kind_changed(self) -> None:
        kind = self.goal_kind.currentData()
        self.goal_value.setValue(GOALS[kind][1])
        self.goal_value.setToolTip(GOALS[kind][2])
        self._enable()

    def choose_goal(self) -> OperatingPoint | None:
        if self.results is None:
            return None
        goal = Goal(kind=self.goal_kind.currentData(), value=float(self.goal_value.value()),
                    subset=self.goal_subset.currentData() or "val")
        try:
            op = an.choose_operating_point(self.results.scores, goal, self.results.op)
        except GoalNotReachable as exc:
            self.goal_result.setText(f"<span style='color:#c0392b'>Not reachable: {exc}</span>")
            return None
        achieved = ", ".join(f"{k.replace('_', ' ')} {v:.3g}" for k, v in op.achieved.items()
                             if isinstance(v, float))
        self.changed.emit(op)
        self.goal_result.setText(f"Threshold {op.threshold:.4g} chosen on the {goal.subset} images: {achieved}. "
                                 "Not saved yet.")
        return op


__all__ = ["GOALS", "AnomalyOperatingPointEditor"]
