"""The operating point: the decision rule turned on a model's raw scores, stored with the model.

A network outputs scores; a decision needs a rule. The default is plain argmax. A user can
instead state a goal ("recall of class X at least 0.99", "a missed defect costs 10 false
alarms") and the rule that meets it is chosen from the evaluation's cached scores
(``core/evaluation/classification.py``). The rule is saved in ``evaluation/operating_point.json``
and followed everywhere: the Evaluation page's counts, the images' colours, prediction, and
exports (embedded in their metadata), so the numbers never disagree.

Pure numpy: the GUI recomputes decisions instantly without torch; prediction and the exported
usage snippets apply the very same rule (:func:`decide`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..schemas import Stored, now
from ..store import read_model, write_model

FILE_NAME = "operating_point.json"
#: object detection: the score threshold when none was chosen
DEFAULT_SCORE_THRESHOLD = 0.5
#: object detection: the IoU a prediction needs with an object to count as found when none was
#: chosen (PASCAL VOC, mAP@0.5)
DEFAULT_MATCH_IOU = 0.5


class OperatingPoint(Stored):
    """How scores become decisions (classification; other tasks add their own fields)."""

    KIND: ClassVar[str] = "operating point"
    SCHEMA_VERSION: ClassVar[int] = 1
    model_config = ConfigDict(extra="ignore")

    task: str = "classification"
    #: argmax: the most probable class. threshold: the positive class when its probability
    #: reaches ``threshold``, else the most probable other class (with two classes: the other one)
    rule: Literal["argmax", "threshold"] = "argmax"
    #: class id (project.json) of the positive class, for the threshold rule
    positive_class: int | None = None
    #: (a probability, 0..1; anomaly detection: the RAW image score, any number — see ``_check_threshold``)
    threshold: float | None = None
    #: a prediction whose probability is below this is flagged "uncertain" for review instead of
    #: being counted right or wrong (None: never)
    uncertain_below: float | None = Field(None, ge=0.0, le=1.0)
    #: logits are divided by this before the softmax (temperature scaling, fitted on validation
    #: images; calibrates probabilities without changing the argmax). None or 1: off
    temperature: float | None = Field(None, gt=0.0)
    # -- object detection (``core/evaluation/detection.py``): which predictions are shown and counted
    #: a prediction is kept when its score reaches this (None: ``detection.DEFAULT_SCORE_THRESHOLD``)
    score_threshold: float | None = Field(None, ge=0.0, le=1.0)
    #: class id (project.json) -> its own score threshold, overriding ``score_threshold`` for that class
    class_thresholds: dict[int, float] = Field(default_factory=dict)
    #: class-wise NMS re-applied at this IoU to the model's predictions (None: the model's own NMS only)
    nms_iou: float | None = Field(None, gt=0.0, le=1.0)
    #: the IoU a prediction needs with a ground-truth box of its class to count as found
    #: (None: ``detection.DEFAULT_MATCH_IOU``, 0.5)
    match_iou: float | None = Field(None, gt=0.0, le=1.0)
    #: the last goal it was chosen from, in the user's words and numbers (None: set by hand / default)
    goal: dict[str, Any] | None = None
    #: every goal in force, by what it sets ("threshold": recall/precision/cost, "uncertain"), so
    #: that a change of temperature can choose them again (``classification.refit``)
    goals: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: what the goal gave on the images it was chosen on (e.g. {"recall": 0.991, "subset": "val"})
    achieved: dict[str, Any] = Field(default_factory=dict)
    chosen: str = Field(default_factory=lambda: now().isoformat())

    @model_validator(mode="after")
    def _check_threshold(self) -> OperatingPoint:
        # a probability threshold lies in 0..1; an anomaly threshold is on the model's raw score
        if self.threshold is not None and self.task not in RAW_SCORE_TASKS and not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be between 0 and 1, not {self.threshold}")
        return self

    @property
    def is_default(self) -> bool:
        return _rule_of(self.task)[0](self)

    def describe(self, class_names: dict[int, str] | None = None) -> str:
        """One line for tooltips and the report: "argmax", "class 'scratch' if p >= 0.31"..."""
        return _rule_of(self.task)[1](self, class_names or {})


def _classes_default(op: OperatingPoint) -> bool:
    return op.rule == "argmax" and op.uncertain_below is None and op.temperature in (None, 1.0)


def _describe_classes(op: OperatingPoint, names: dict[int, str]) -> str:
    if op.rule == "threshold" and op.positive_class is not None:
        name = names.get(op.positive_class, str(op.positive_class))
        text = (f"'{name}' when its probability is at least {op.threshold:.3g}, otherwise the most "
                "probable other class")
    else:
        text = "the most probable class (argmax)"
    if op.temperature not in (None, 1.0):
        text += f"; probabilities calibrated with temperature {op.temperature:.3g}"
    if op.uncertain_below is not None:
        text += f"; below {op.uncertain_below:.3g} a prediction is flagged uncertain"
    return text


def _boxes_default(op: OperatingPoint) -> bool:
    return op.score_threshold is None and not op.class_thresholds and op.nms_iou is None and op.match_iou is None


def _describe_boxes(op: OperatingPoint, names: dict[int, str]) -> str:
    base = op.score_threshold if op.score_threshold is not None else DEFAULT_SCORE_THRESHOLD
    text = f"boxes with a score of at least {base:.3g}"
    if op.class_thresholds:
        text += " (" + ", ".join(f"'{names.get(c, str(c))}' {t:.3g}"
                                 for c, t in sorted(op.class_thresholds.items())) + ")"
    if op.nms_iou is not None:
        text += f"; overlapping boxes of a class above IoU {op.nms_iou:.2g} merged (NMS)"
    iou = op.match_iou if op.match_iou is not None else DEFAULT_MATCH_IOU
    return text + f"; a box counts as found at IoU {iou:.2g} or more"


def _anomaly_default(op: OperatingPoint) -> bool:
    return op.threshold is None


def _describe_anomaly(op: OperatingPoint, names: dict[int, str]) -> str:
    if op.threshold is None:
        return "anomalous when the score reaches the default threshold (5 % of normal validation images flagged)"
    text = f"anomalous when the score is at least {op.threshold:.4g}"
    goal = op.goal or {}
    how = {"fpr": "at most {:.1%} of normal images flagged", "recall": "{:.1%} of defects found",
           "f1": "best F1"}.get(goal.get("kind", ""))
    if how:
        text += f" (chosen for {how.format(goal.get('value', 0.0))} on {goal.get('subset', 'val')})"
    return text


#: which of the operating point's fields decide for a task, and how they read: (is it the
#: default rule, one line describing it); a task not named here decides between classes
RULES: dict[str, tuple[Callable[[OperatingPoint], bool], Callable[[OperatingPoint, dict[int, str]], str]]] = {
    "object_detection": (_boxes_default, _describe_boxes),
    "anomaly_detection": (_anomaly_default, _describe_anomaly),
}
#: tasks whose ``threshold`` is on the model's raw score (unbounded), not a probability
RAW_SCORE_TASKS = frozenset({"anomaly_detection"})
CLASS_RULE = (_classes_default, _describe_classes)


def _rule_of(task: str):
    return RULES.get(task, CLASS_RULE)


def softmax(logits: np.ndarray, temperature: float | None = None) -> np.ndarray:
    """Row-wise softmax of ``logits`` (N, C), optionally divided by a temperature first."""
    z = np.asarray(logits, dtype=np.float64)
    if temperature not in (None, 1.0):
        z = z / float(temperature)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def decide(logits: np.ndarray, op: OperatingPoint | None, class_ids: list[int]) -> tuple[np.ndarray, np.ndarray,
                                                                                        np.ndarray]:
    """``(predicted output index, probabilities, uncertain flag)`` for each row of ``logits``.

    ``class_ids`` maps output index -> class id (the model's output order)."""
    op = op or OperatingPoint()
    probs = softmax(logits, op.temperature)
    pred = probs.argmax(axis=1)
    if op.rule == "threshold" and op.positive_class is not None and op.threshold is not None \
            and op.positive_class in class_ids and probs.shape[1] >= 2:
        pos = class_ids.index(op.positive_class)
        others = probs.copy()
        others[:, pos] = -1.0
        pred = np.where(probs[:, pos] >= op.threshold, pos, others.argmax(axis=1))
    conf = probs[np.arange(len(pred)), pred] if len(pred) else np.zeros(0)
    uncertain = conf < op.uncertain_below if op.uncertain_below is not None else np.zeros(len(pred), dtype=bool)
    return pred, probs, uncertain


def load_operating_point(folder: str | Path) -> OperatingPoint | None:
    """The operating point saved in an evaluation folder, or None (then argmax applies)."""
    path = Path(folder) / FILE_NAME
    if not path.is_file():
        return None
    return read_model(path, OperatingPoint)


def save_operating_point(folder: str | Path, op: OperatingPoint) -> Path:
    path = Path(folder) / FILE_NAME
    write_model(path, op)
    return path


class Goal(BaseModel):
    """What the user wants of the decision rule (see ``classification.choose_operating_point``)."""

    model_config = ConfigDict(extra="forbid")
    #: recall: class ``class_id`` must reach ``value`` recall; cost: minimise
    #: ``cost_fp * FP + cost_fn * FN`` for the positive class ``class_id``; uncertain: flag
    #: predictions below ``value`` probability; f1 (detection): the score threshold of the best F1
    #: fpr (anomaly detection): at most ``value`` of the NORMAL images flagged
    kind: Literal["recall", "precision", "cost", "uncertain", "f1", "fpr"]
    class_id: int | None = None
    #: detection: choose a threshold for every class separately (else one for all, or ``class_id``'s)
    per_class: bool = False
    value: float = 0.0
    cost_fp: float = 1.0
    cost_fn: float = 1.0
    #: which subset's cached scores to choose on (validation, so the test numbers stay honest)
    subset: str = "val"


__all__ = ["DEFAULT_MATCH_IOU", "DEFAULT_SCORE_THRESHOLD", "FILE_NAME", "Goal", "OperatingPoint", "decide", "load_operating_point", "save_operating_point",
           "softmax"]
