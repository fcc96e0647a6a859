"""The detection operating point editor: which predictions count, set by hand or from a goal.

A detector keeps every box down to a low score; the operating point decides which are shown and
counted: a score threshold (one for all classes, or one per class), the IoU above which NMS merges
overlapping boxes of a class, and the IoU a box needs with the truth to count as found. Every
change is applied at once to the results (recomputed from the cache, no re-inference) and so to
every number, colour and box on the page; Save writes ``evaluation/operating_point.json``, which
prediction and export follow. Nothing here computes metrics: it builds an ``OperatingPoint``.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from .....core.evaluation.detection import (
    DEFAULT_MATCH_IOU,
    DEFAULT_SCORE_THRESHOLD,
    GoalNotReachable,
    choose_operating_point,
)
from .....core.evaluation.operating_point import Goal, OperatingPoint
from .operating_point import SLIDER_STEPS, RuleEditor, _spin

TASK = "object_detection"
GOALS = {"f1": "Best F1 (balance false alarms and misses)", "precision": "Precision at least",
         "recall": "Recall at least"}
DEFAULT_NMS = 0.5


class DetectionOperatingPointEditor(RuleEditor):
    """Edits one detection :class:`OperatingPoint`; ``changed`` carries every new one (the slider
    is debounced by a few ms so a drag does not queue work)."""

    TITLE = "Operating point"
    WHAT = "the thresholds"

    def __init__(self, parent=None):
        super().__init__(save_tip="Store these thresholds with the model (evaluation/operating_point.json): "
                                  "prediction and export use them (Ctrl+S)",
                         revert_tip="Back to the saved operating point", default_text="Defaults",
                         default_tip=f"Score threshold {DEFAULT_SCORE_THRESHOLD}, the model's own NMS, "
                                     f"match IoU {DEFAULT_MATCH_IOU}", parent=parent)
        lay = self.body

        grid = QGridLayout()
        grid.setVerticalSpacing(4)
        self.slider.setToolTip("Drag to move the score threshold: the counts, the confusion matrix, the PR dots "
                               "and the boxes on every image follow (Alt+Left / Alt+Right: 0.05 down / up; Ctrl+S "
                               "saves)")
        self.threshold = _spin(0.0, 1.0, DEFAULT_SCORE_THRESHOLD)
        self.threshold.setToolTip("A box is shown and counted when its score reaches this (0 to 1). Lower: fewer "
                                  "missed objects, more false alarms")
        grid.addWidget(QLabel("Score threshold"), 0, 0)
        grid.addWidget(self.slider, 0, 1)
        grid.addWidget(self.threshold, 0, 2)
        self.per_class = QCheckBox("A threshold per class")
        self.per_class.setToolTip("Give some classes their own threshold (a rare or costly class may need a lower "
                                  "one); the others keep the threshold above")
        grid.addWidget(self.per_class, 1, 0, 1, 3)
        self.classes = QTableWidget(0, 2)
        self.classes.setHorizontalHeaderLabels(["Class", "Threshold"])
        self.classes.verticalHeader().setVisible(False)
        self.classes.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.classes.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.classes.setToolTip("Each class's own score threshold")
        grid.addWidget(self.classes, 2, 0, 1, 3)
        self.nms_on = QCheckBox("Merge overlapping boxes (NMS) above IoU")
        self.nms_on.setToolTip("Re-apply class-wise non-maximum suppression to the cached boxes: of two boxes of a "
                               "class overlapping more than this IoU, only the higher-scoring one stays. Off: the "
                               "model's own NMS only. Lower merges more (fewer duplicates, but touching objects "
                               "may merge)")
        self.nms = _spin(0.05, 0.95, DEFAULT_NMS, 0.05, 2)
        self.nms.setToolTip("The IoU above which NMS merges two boxes of the same class")
        grid.addWidget(self.nms_on, 3, 0, 1, 2)
        grid.addWidget(self.nms, 3, 2)
        match_label = QLabel("Match IoU")
        self.match = _spin(0.05, 0.95, DEFAULT_MATCH_IOU, 0.05, 2)
        self.match.setToolTip("How well a box must overlap an object of its class to count as found (intersection "
                              "over union). 0.5 is PASCAL VOC's and mAP@0.5's; 0.75 demands tight boxes")
        match_label.setToolTip(self.match.toolTip())
        grid.addWidget(match_label, 4, 0)
        grid.addWidget(self.match, 4, 2)
        grid.setColumnStretch(1, 1)
        lay.addLayout(grid)

        goal_box = QGroupBox("Choose from a goal")
        goal_box.setToolTip("State what you need; the threshold that meets it is chosen on the cached predictions "
                            "of the subset below (validation by default, so the test numbers stay honest)")
        g = QVBoxLayout(goal_box)
        g1, g2 = QHBoxLayout(), QHBoxLayout()
        g.addLayout(g1)
        g.addLayout(g2)
        self.goal_kind = QComboBox()
        for key, text in GOALS.items():
            self.goal_kind.addItem(text, key)
        self.goal_kind.setToolTip("Best F1: the threshold with the best balance. Precision: the most objects found "
                                  "while at most (1 - value) of the boxes are false alarms. Recall: the highest "
                                  "threshold that still finds the share 'value' of the objects")
        self.goal_value = _spin(0.0, 1.0, 0.9, 0.01, 3)
        self.goal_value.setToolTip("The precision or recall to reach (0 to 1)")
        self.goal_class = QComboBox()
        self.goal_class.setToolTip("One threshold for all classes, one per class, or only one class's")
        self.goal_subset = QComboBox()
        self.goal_subset.setToolTip("Which evaluated images to choose on")
        self.goal_button = QPushButton("Choose")
        self.goal_button.setToolTip("Find the threshold that meets the goal and apply it (not saved until you Save)")
        g1.addWidget(self.goal_kind, 1)
        g1.addWidget(self.goal_value)
        for w in (self.goal_class, QLabel("on"), self.goal_subset):
            g2.addWidget(w)
        g2.addStretch(1)
        g2.addWidget(self.goal_button)
        lay.addWidget(goal_box)
        self.goal_result = QLabel("")
        self.goal_result.setWordWrap(True)
        self.goal_result.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(self.goal_result)
        lay.addStretch(1)

        self._connect_threshold()
        self.per_class.toggled.connect(self._per_class_toggled)
        self.nms_on.toggled.connect(self._emit)
        self.nms.valueChanged.connect(self._emit)
        self.match.valueChanged.connect(self._emit)
        self.goal_kind.currentIndexChanged.connect(self._goal_kind_changed)
        self.goal_button.clicked.connect(self.choose_goal)
        self.default_button.clicked.connect(lambda: self.changed.emit(OperatingPoint(task=TASK)))
        self._spins: dict[int, object] = {}
        self._emitted: OperatingPoint | None = None

    # --------------------------------------------------------------- loading
    def set_results(self, results) -> None:
        self.results = results
        self._loading = True
        self.classes.setRowCount(len(results.class_ids))
        self._spins = {}
        for i, (cid, name) in enumerate(zip(results.class_ids, results.class_names, strict=True)):
            self.classes.setItem(i, 0, QTableWidgetItem(name))
            spin = _spin(0.0, 1.0, DEFAULT_SCORE_THRESHOLD)
            spin.setToolTip(f"Score threshold of '{name}'")
            spin.valueChanged.connect(self._emit)
            self.classes.setCellWidget(i, 1, spin)
            self._spins[cid] = spin
        rows = min(len(results.class_ids), 8)  # as tall as its rows (up to 8, then it scrolls)
        self.classes.resizeRowsToContents()
        row_h = self.classes.rowHeight(0) if results.class_ids else 24
        self.classes.setFixedHeight(self.classes.horizontalHeader().sizeHint().height() + rows * row_h
                                    + 2 * self.classes.frameWidth() + 2)
        self.goal_class.clear()
        self.goal_class.addItem("one threshold for all classes", "all")
        self.goal_class.addItem("a threshold per class", "per_class")
        for cid, name in zip(results.class_ids, results.class_names, strict=True):
            self.goal_class.addItem(f"only '{name}'", cid)
        self.goal_subset.clear()
        for s in results.subsets:
            self.goal_subset.addItem(s, s)
        self.goal_subset.setCurrentIndex(max(0, self.goal_subset.findData("val")))
        self._loading = False
        self.show_operating_point(results.op, results.dirty)
        self._goal_kind_changed()

    def show_operating_point(self, op: OperatingPoint, dirty: bool) -> None:
        """Show ``op`` in the controls (no ``changed`` is emitted)."""
        self._loading = True
        t = op.score_threshold if op.score_threshold is not None else DEFAULT_SCORE_THRESHOLD
        self.threshold.setValue(t)
        self.slider.setValue(round(t * SLIDER_STEPS))
        per = dict(op.class_thresholds or {})
        # a rule this editor made keeps the per-class table open even while no class differs
        self.per_class.setChecked(bool(per) or (op is self._emitted and self.per_class.isChecked()))
        for cid, spin in self._spins.items():
            spin.setValue(per.get(cid, t))
        self.nms_on.setChecked(op.nms_iou is not None)
        self.nms.setValue(op.nms_iou if op.nms_iou is not None else DEFAULT_NMS)
        self.match.setValue(op.match_iou if op.match_iou is not None else DEFAULT_MATCH_IOU)
        self._loading = False
        self._show_state(op, dirty)

    def _enable(self) -> None:
        self.classes.setVisible(self.per_class.isChecked())
        self.nms.setEnabled(self.nms_on.isChecked())

    # --------------------------------------------------------------- editing
    def _per_class_toggled(self, on: bool) -> None:
        if self._loading:
            return
        if on:  # start every class at the common threshold
            self._loading = True
            for spin in self._spins.values():
                spin.setValue(self.threshold.value())
            self._loading = False
        self._emit()

    def current(self) -> OperatingPoint:
        """The operating point the controls describe."""
        base = self.results.op if self.results is not None else OperatingPoint(task=TASK)
        t = float(self.threshold.value())
        per = ({cid: float(s.value()) for cid, s in self._spins.items() if abs(s.value() - t) > 1e-9}
               if self.per_class.isChecked() else {})
        match = float(self.match.value())
        return base.model_copy(update={
            "task": TASK, "score_threshold": t, "class_thresholds": per,
            "nms_iou": float(self.nms.value()) if self.nms_on.isChecked() else None,
            "match_iou": None if abs(match - DEFAULT_MATCH_IOU) < 1e-9 else match, "goal": None, "achieved": {}})

    def _emit(self, *_args) -> None:
        if self._loading:
            return
        self._enable()
        self.goal_result.setText("")
        self._emitted = self.current()
        self.changed.emit(self._emitted)

    # ------------------------------------------------------------------ goal
    def _goal_kind_changed(self) -> None:
        self.goal_value.setEnabled(self.goal_kind.currentData() != "f1")

    def choose_goal(self) -> OperatingPoint | None:
        if self.results is None:
            return None
        kind = self.goal_kind.currentData()
        which = self.goal_class.currentData()
        goal = Goal(kind=kind, value=float(self.goal_value.value()), per_class=which == "per_class",
                    class_id=which if isinstance(which, int) else None, subset=self.goal_subset.currentData() or "val")
        base = self.current()
        if which == "all":
            base = base.model_copy(update={"class_thresholds": {}})
        try:
            op = choose_operating_point(self.results.scores, goal, base)
        except GoalNotReachable as exc:
            self.goal_result.setText(f"<span style='color:#c0392b'>Not reachable: {exc}</span>")
            return None
        got = op.achieved or {}
        names = self.results.names_by_id()

        def words(d: dict) -> str:
            return ", ".join(f"{k} {v:.3f}" for k, v in d.items() if isinstance(v, float))

        parts = [words(got)] if any(isinstance(v, float) for v in got.values()) else []
        parts += [f"{names.get(int(k), k)}: {words(v)}" for k, v in got.items() if isinstance(v, dict)]
        self.goal_result.setText(f"Chosen on the {goal.subset} images: {'; '.join(p for p in parts if p)}. "
                                 "Not saved yet.")
        self.changed.emit(op)
        return op


__all__ = ["DetectionOperatingPointEditor", "GOALS", "SLIDER_STEPS"]
