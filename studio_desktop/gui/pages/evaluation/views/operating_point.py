"""The decision rule editor: how scores become decisions, set by hand or chosen from a goal.

Every change is applied at once to the results (recomputed from the cached scores) and so to
every number and colour on the page; Save writes ``evaluation/operating_point.json``, which
prediction and export then follow. Nothing here computes metrics: it builds an
:class:`OperatingPoint` and hands it over.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from .....core.evaluation.classification import GoalNotReachable, choose_operating_point
from .....core.evaluation.operating_point import Goal, OperatingPoint

GOALS = {
    "recall": "Recall of a class at least",
    "precision": "Precision of a class at least",
    "cost": "Missing a class costs N false alarms",
    "uncertain": "Accuracy at least, flagging the least sure",
}
SLIDER_STEPS = 1000


def _spin(lo: float, hi: float, value: float, step: float = 0.01, decimals: int = 3) -> QDoubleSpinBox:
    s = QDoubleSpinBox()
    s.setRange(lo, hi)
    s.setDecimals(decimals)
    s.setSingleStep(step)
    s.setValue(value)
    s.setKeyboardTracking(False)
    return s


class RuleEditor(QWidget):
    """What every task's operating-point editor shares: the description line, Save / Revert /
    a default button, the signals, the threshold slider paired with its number box (the slider's
    moves debounced so a drag does not queue work) and the saved / not saved state. A task's
    editor adds its controls to :attr:`body` and implements ``current()`` and ``_enable()``."""

    changed = Signal(object)
    saveRequested = Signal()
    revertRequested = Signal()
    #: "Decision rule" / "Operating point": how the description line names what is edited
    TITLE = "Decision rule"
    #: what cannot be saved in a read-only workspace, in words ("the rule", "the thresholds")
    WHAT = "the rule"

    def __init__(self, *, save_tip: str, revert_tip: str, default_text: str, default_tip: str, parent=None):
        super().__init__(parent)
        self.results = None
        #: False when the workspace is open read-only (another window holds it): nothing is saved
        self.writable = True
        self._loading = False
        self.body = QVBoxLayout(self)
        self.body.setContentsMargins(4, 4, 4, 4)
        self.description = QLabel("")
        self.description.setWordWrap(True)
        self.description.setTextFormat(Qt.TextFormat.RichText)
        self.body.addWidget(self.description)
        buttons = QHBoxLayout()
        self.save_button = QPushButton("Save operating point")
        self.save_button.setToolTip(save_tip)
        self.revert_button = QPushButton("Revert")
        self.revert_button.setToolTip(revert_tip)
        self.default_button = QPushButton(default_text)
        self.default_button.setToolTip(default_tip)
        for b in (self.save_button, self.revert_button, self.default_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        self.body.addLayout(buttons)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, SLIDER_STEPS)
        self._slider_timer = QTimer(self, singleShot=True, interval=30)
        self.save_button.clicked.connect(self.saveRequested)
        self.revert_button.clicked.connect(self.revertRequested)

    def _connect_threshold(self) -> None:
        """Once the subclass made ``self.threshold``: slider and number box follow each other."""
        self._slider_timer.timeout.connect(self._emit)
        self.slider.valueChanged.connect(self._slider_moved)
        self.threshold.valueChanged.connect(self._spin_changed)

    def _show_state(self, op: OperatingPoint, dirty: bool) -> None:
        """The description line and the buttons for ``op`` (after the controls show it)."""
        self._enable()
        names = self.results.names_by_id() if self.results else {}
        state = ("<span style='color:#b35900'><b>not saved</b></span>" if dirty
                 else "saved" if self.results is not None and self.results.saved is not None else "default")
        self.description.setText(f"<b>{self.TITLE}</b> ({state}): {op.describe(names)}")
        self.save_button.setEnabled(dirty and self.writable)
        if not self.writable:
            self.save_button.setToolTip("This workspace is open read-only (another AI Studio window holds it): "
                                        f"{self.WHAT} can be tried here but not saved")
        self.revert_button.setEnabled(dirty)

    def _slider_moved(self, value: int) -> None:
        if self._loading:
            return
        self._loading = True
        self.threshold.setValue(value / SLIDER_STEPS)
        self._loading = False
        self._slider_timer.start()

    def _spin_changed(self, value: float) -> None:
        if self._loading:
            return
        self._loading = True
        self.slider.setValue(round(value * SLIDER_STEPS))
        self._loading = False
        self._emit()

    def _enable(self) -> None:
        raise NotImplementedError

    def _emit(self, *_args) -> None:
        raise NotImplementedError


class OperatingPointEditor(RuleEditor):
    """Edits one :class:`OperatingPoint`; ``changed`` carries every new one (debounced slider)."""

    def __init__(self, parent=None):
        super().__init__(save_tip="Store this rule with the model (evaluation/operating_point.json): prediction "
                                  "and export use it (Ctrl+S)",
                         revert_tip="Back to the saved rule", default_text="Plain argmax",
                         default_tip="Back to the default: the most probable class, no flagging, no calibration",
                         parent=parent)
        lay = self.body

        grid = QGridLayout()
        grid.setVerticalSpacing(4)
        self.rule = QComboBox()
        self.rule.addItem("Most probable class (argmax)", "argmax")
        self.rule.addItem("Threshold on one class", "threshold")
        self.rule.setToolTip("Argmax: the class with the highest probability. Threshold: predict the chosen "
                             "class whenever its probability reaches the threshold (lower it to miss fewer of "
                             "that class, raise it for fewer false alarms)")
        self.positive = QComboBox()
        self.positive.setToolTip("The class the threshold applies to (for two classes: the 'positive' one)")
        grid.addWidget(QLabel("Rule"), 0, 0)
        grid.addWidget(self.rule, 0, 1)
        grid.addWidget(QLabel("class"), 0, 2)
        grid.addWidget(self.positive, 0, 3)
        self.slider.setToolTip("Drag to move the threshold; every number and colour on the page follows")
        self.threshold = _spin(0.0, 1.0, 0.5)
        self.threshold.setToolTip("Probability the chosen class needs to be predicted (0 to 1)")
        grid.addWidget(QLabel("Threshold"), 1, 0)
        grid.addWidget(self.slider, 1, 1, 1, 2)
        grid.addWidget(self.threshold, 1, 3)
        self.uncertain_on = QCheckBox("Flag as uncertain below")
        self.uncertain_on.setToolTip("A prediction less probable than this is flagged for review instead of "
                                     "being counted right or wrong (amber in the grid); coverage drops")
        self.uncertain = _spin(0.0, 1.0, 0.5)
        self.uncertain.setToolTip("The probability under which a prediction is flagged uncertain")
        grid.addWidget(self.uncertain_on, 2, 0, 1, 2)
        grid.addWidget(self.uncertain, 2, 3)
        self.calibrate = QCheckBox("Calibrate probabilities (temperature fitted on the validation images)")
        self.calibrate.setToolTip("Temperature scaling: divides the scores by one number so that '80 %' means "
                                  "right 8 times in 10. Does not change which class is most probable; "
                                  "needs validation images in the evaluation")
        grid.addWidget(self.calibrate, 3, 0, 1, 4)
        grid.setColumnStretch(1, 1)
        lay.addLayout(grid)

        goal_box = QGroupBox("Choose from a goal")
        goal_box.setToolTip("State what you need; the rule that meets it is chosen on the cached scores of the "
                            "subset below (validation by default, so that the test numbers stay honest)")
        g = QVBoxLayout(goal_box)
        g1, g2 = QHBoxLayout(), QHBoxLayout()
        g.addLayout(g1)
        g.addLayout(g2)
        self.goal_kind = QComboBox()
        for key, text in GOALS.items():
            self.goal_kind.addItem(text, key)
        self.goal_kind.setToolTip("Recall: miss at most (1 - value) of the class. Precision: at most (1 - value) "
                                  "false alarms among its predictions. Cost: a missed image of the class costs N "
                                  "false alarms; the cheapest threshold is chosen. Accuracy: flag the least sure "
                                  "predictions until the rest reach the value")
        self.goal_class = QComboBox()
        self.goal_class.setToolTip("The class the goal is about")
        self.goal_value = _spin(0.0, 1000.0, 0.95, 0.01, 3)
        self.goal_value.setToolTip("The value to reach: a share between 0 and 1, or N for the cost goal")
        self.goal_subset = QComboBox()
        self.goal_subset.setToolTip("Which evaluated images to choose on")
        self.goal_button = QPushButton("Choose")
        self.goal_button.setToolTip("Find the rule that meets the goal and apply it (not saved until you Save)")
        g1.addWidget(self.goal_kind, 1)
        g1.addWidget(self.goal_class)
        for w in (QLabel("value"), self.goal_value, QLabel("on"), self.goal_subset):
            g2.addWidget(w)
        g2.addStretch(1)
        g2.addWidget(self.goal_button)
        lay.addWidget(goal_box)
        self.goal_result = QLabel("")
        self.goal_result.setWordWrap(True)
        lay.addWidget(self.goal_result)

        lay.addStretch(1)

        self._connect_threshold()
        self.rule.currentIndexChanged.connect(self._emit)
        self.positive.currentIndexChanged.connect(self._emit)
        self.uncertain_on.toggled.connect(self._emit)
        self.uncertain.valueChanged.connect(self._emit)
        self.calibrate.toggled.connect(self._emit)
        self.goal_kind.currentIndexChanged.connect(self._goal_kind_changed)
        self.goal_button.clicked.connect(self.choose_goal)
        self.default_button.clicked.connect(lambda: self.changed.emit(OperatingPoint()))

    # --------------------------------------------------------------- loading
    def set_results(self, results) -> None:
        self.results = results
        self._loading = True
        for combo in (self.positive, self.goal_class):
            combo.clear()
            for cid, name in zip(results.class_ids, results.class_names, strict=True):
                combo.addItem(name, cid)
        if len(results.class_ids) == 2:
            self.positive.setCurrentIndex(1)
            self.goal_class.setCurrentIndex(1)
        self.goal_subset.clear()
        for s in results.subsets:
            self.goal_subset.addItem(s, s)
        self.goal_subset.setCurrentIndex(max(0, self.goal_subset.findData("val")))
        has_val = "val" in results.subsets
        self.calibrate.setEnabled(has_val)
        self._loading = False
        self.show_operating_point(results.op, results.dirty)
        self._goal_kind_changed()

    def show_operating_point(self, op: OperatingPoint, dirty: bool) -> None:
        """Show ``op`` in the controls (no ``changed`` is emitted)."""
        self._loading = True
        self.rule.setCurrentIndex(max(0, self.rule.findData(op.rule)))
        if op.positive_class is not None:
            self.positive.setCurrentIndex(max(0, self.positive.findData(op.positive_class)))
        t = op.threshold if op.threshold is not None else 0.5
        self.threshold.setValue(t)
        self.slider.setValue(round(t * SLIDER_STEPS))
        self.uncertain_on.setChecked(op.uncertain_below is not None)
        if op.uncertain_below is not None:
            self.uncertain.setValue(op.uncertain_below)
        self.calibrate.setChecked(op.temperature not in (None, 1.0))
        self._loading = False
        self._show_state(op, dirty)

    def _enable(self) -> None:
        threshold = self.rule.currentData() == "threshold"
        for w in (self.positive, self.slider, self.threshold):
            w.setEnabled(threshold)
        self.uncertain.setEnabled(self.uncertain_on.isChecked())

    # --------------------------------------------------------------- editing
    def current(self) -> OperatingPoint:
        """The rule the controls describe (the temperature is refitted only when switched on)."""
        base = self.results.op if self.results is not None else OperatingPoint()
        threshold = self.rule.currentData() == "threshold"
        temperature = None
        if self.calibrate.isChecked():
            temperature = base.temperature if base.temperature not in (None, 1.0) else (
                self.results.temperature_from_validation() if self.results is not None else None)
        return OperatingPoint(rule="threshold" if threshold else "argmax",
                              positive_class=self.positive.currentData() if threshold else None,
                              threshold=float(self.threshold.value()) if threshold else None,
                              uncertain_below=float(self.uncertain.value()) if self.uncertain_on.isChecked() else None,
                              temperature=temperature)

    def _emit(self, *_args) -> None:
        if self._loading:
            return
        self._enable()
        self.goal_result.setText("")
        self.changed.emit(self.current())

    # ------------------------------------------------------------------ goal
    def _goal_kind_changed(self) -> None:
        kind = self.goal_kind.currentData()
        self.goal_class.setEnabled(kind != "uncertain")
        self.goal_value.setValue(10.0 if kind == "cost" else 0.95)
        self.goal_value.setDecimals(1 if kind == "cost" else 3)

    def choose_goal(self) -> OperatingPoint | None:
        if self.results is None:
            return None
        kind = self.goal_kind.currentData()
        value = float(self.goal_value.value())
        goal = Goal(kind=kind, class_id=self.goal_class.currentData() if kind != "uncertain" else None,
                    value=0.0 if kind == "cost" else value, cost_fp=1.0, cost_fn=value if kind == "cost" else 1.0,
                    subset=self.goal_subset.currentData() or "val")
        try:
            op = choose_operating_point(self.results.scores, goal, self.results.op)
        except GoalNotReachable as exc:
            self.goal_result.setText(f"<span style='color:#c0392b'>Not reachable: {exc}</span>")
            self.goal_result.setTextFormat(Qt.TextFormat.RichText)
            return None
        achieved = ", ".join(f"{k.replace('_', ' ')} {v:.3g}" if isinstance(v, float) else f"{k.replace('_', ' ')} {v}"
                             for k, v in op.achieved.items() if k != "subset")
        self.goal_result.setText(f"Chosen on the {goal.subset} images: {achieved}. Not saved yet.")
        self.changed.emit(op)
        return op
