"""`studio operating-point PROJECT EXPERIMENT`: show or choose the decision rule stored with a model.

Chosen from the evaluation's cached scores (no re-run): a goal such as ``--goal recall:cat=0.99``
(class 'cat' must reach 99 % recall), ``--goal precision:cat=0.95``, ``--goal cost:defect=1:10``
(a missed 'defect' costs ten false alarms), ``--goal uncertain=0.98`` (flag predictions below the
probability that keeps 98 % accuracy among the rest), optionally ``--calibrate`` (temperature
scaling fitted on the validation images). Prediction, the Evaluation page and exports then follow
it. ``--reset`` goes back to plain argmax.

Object detection: ``--goal f1`` (the score threshold of the best F1), ``--goal precision=0.9`` /
``--goal recall=0.8`` (all classes together), ``--goal precision:CLASS=0.9`` (that class's own
threshold), ``--per-class`` (every class its own threshold for the goal); or by hand:
``--threshold 0.4``, ``--class-threshold CLASS=0.6``, ``--nms-iou 0.6``, ``--match-iou 0.5``.

Anomaly detection (the threshold is on the model's raw score): ``--goal fpr=0.05`` (at most 5 % of
the normal images flagged: works when the validation images have no defects), ``--goal recall=0.95``
(95 % of the defective images flagged), ``--goal f1`` (the best F1; needs both kinds), or by hand
``--threshold 3.2``. ``--reset`` goes back to the default (FPR 5 % on the normal validation images).
"""

from __future__ import annotations

import re

from ..core.errors import InvalidInput
from ..core.evaluation import anomaly, detection
from ..core.evaluation.classification import (
    GoalNotReachable,
    Scores,
    choose_operating_point,
    fit_temperature,
    refit,
)
from ..core.evaluation.operating_point import Goal, OperatingPoint, load_operating_point, save_operating_point
from ..core.evaluation.store import EvaluationStore
from ..core.experiments import ExperimentService
from ..core.projects import ProjectService
from .common import open_workspace, print_json

_GOAL = re.compile(r"^(recall|precision|cost):(.+?)=(.+)$|^uncertain=(.+)$")


def register(sub) -> None:
    p = sub.add_parser("operating-point", help="show or choose the decision rule of an evaluated model",
                       description=__doc__.split("\n\n", 1)[1].strip())
    p.add_argument("project", help="project name or id")
    p.add_argument("experiment", help="experiment name or id (evaluated first with `studio evaluate`)")
    p.add_argument("--goal", metavar="GOAL",
                   help="recall:CLASS=0.99, precision:CLASS=0.95, cost:CLASS=FP:FN or uncertain=ACCURACY; "
                        "anomaly detection: fpr=0.05, recall=0.95 or f1")
    p.add_argument("--on", default="val", choices=["val", "test", "train"],
                   help="the images to choose on (default: val, so the test numbers stay honest)")
    p.add_argument("--calibrate", action="store_true", help="fit temperature scaling on the --on images")
    p.add_argument("--reset", action="store_true", help="back to plain argmax (detection: the default threshold)")
    det = p.add_argument_group("object detection")
    det.add_argument("--per-class", action="store_true", help="choose each class's own threshold for the goal")
    det.add_argument("--threshold", type=float, metavar="SCORE",
                     help="keep boxes scoring at least this (0..1); anomaly detection: flag images whose raw "
                          "score reaches this")
    det.add_argument("--class-threshold", action="append", default=[], metavar="CLASS=SCORE",
                     help="a class's own score threshold (repeatable)")
    det.add_argument("--nms-iou", type=float, metavar="IOU",
                     help="merge a class's boxes overlapping more than this IoU (0..1; the model's NMS stays)")
    det.add_argument("--match-iou", type=float, metavar="IOU",
                     help="the overlap a box needs with an object to count as found (default 0.5)")
    p.add_argument("--json", action="store_true", help="print the operating point as JSON")
    p.set_defaults(func=run)


def parse_goal(text: str, scores: Scores, subset: str) -> Goal:
    m = _GOAL.match(text.strip())
    if not m:
        raise InvalidInput(f"cannot read the goal '{text}': write recall:CLASS=0.99, precision:CLASS=0.95, "
                           "cost:CLASS=1:10 or uncertain=0.98")
    if m.group(4) is not None:
        return Goal(kind="uncertain", value=_number(m.group(4), text), subset=subset)
    kind, name, value = m.group(1), m.group(2).strip(), m.group(3)
    by_name = {n.casefold(): cid for cid, n in zip(scores.class_ids, scores.class_names, strict=True)}
    if name.casefold() not in by_name:
        raise InvalidInput(f"the goal names class '{name}', which this model does not predict; its classes: "
                           f"{', '.join(scores.class_names)}")
    cid = by_name[name.casefold()]
    if kind == "cost":
        fp, sep, fn = value.partition(":")
        if not sep:
            raise InvalidInput(f"a cost goal is cost:CLASS=FP:FN (e.g. cost:{name}=1:10), not '{text}'")
        return Goal(kind="cost", class_id=cid, cost_fp=_number(fp, text), cost_fn=_number(fn, text), subset=subset)
    return Goal(kind=kind, class_id=cid, value=_number(value, text), subset=subset)


_DET_GOAL = re.compile(r"^f1$|^(precision|recall)(?::(.+?))?=(.+)$")


def parse_detection_goal(text: str, scores: detection.DetectionScores, subset: str, per_class: bool) -> Goal:
    """``f1``, ``precision=0.9``, ``recall:CLASS=0.8`` -> a Goal on the score threshold(s)."""
    m = _DET_GOAL.match(text.strip())
    if not m:
        raise InvalidInput(f"cannot read the goal '{text}': for detection write f1, precision=0.9, recall=0.8 or "
                           "precision:CLASS=0.9")
    if m.group(1) is None:
        return Goal(kind="f1", subset=subset, per_class=per_class)
    cid = _class_id(m.group(2), scores) if m.group(2) else None
    return Goal(kind=m.group(1), class_id=cid, value=_number(m.group(3), text), subset=subset, per_class=per_class)


def _class_id(name: str, scores) -> int:
    by_name = {n.casefold(): cid for cid, n in zip(scores.class_ids, scores.class_names, strict=True)}
    if name.strip().casefold() not in by_name:
        raise InvalidInput(f"'{name.strip()}' is not a class of this model; its classes: {', '.join(scores.class_names)}")
    return by_name[name.strip().casefold()]


def _unit(value: float | None, what: str) -> float | None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise InvalidInput(f"{what} must be between 0 and 1, not {value:g}")
    return value


def detection_point(args, op: OperatingPoint, arrays, task: str) -> OperatingPoint:
    """The detection operating point after ``--reset``, the hand settings and ``--goal`` (in that order)."""
    scores = detection.DetectionScores.from_npz(arrays)
    if args.reset or op.task != task:  # a reset, or a rule saved for another task
        op = OperatingPoint(task=task)
    update: dict = {}
    if args.threshold is not None:
        update["score_threshold"] = _unit(args.threshold, "--threshold")
    if args.class_threshold:
        per = dict(op.class_thresholds)
        for item in args.class_threshold:
            name, sep, value = item.rpartition("=")
            if not sep:
                raise InvalidInput(f"--class-threshold is CLASS=SCORE (e.g. {scores.class_names[0]}=0.6), not '{item}'")
            per[_class_id(name, scores)] = _unit(_number(value, item), f"the threshold of '{name}'")
        update["class_thresholds"] = per
    if args.nms_iou is not None:
        update["nms_iou"] = _unit(args.nms_iou, "--nms-iou") or None
    if args.match_iou is not None:
        if not 0.0 < args.match_iou <= 1.0:
            raise InvalidInput(f"--match-iou must be above 0 and at most 1, not {args.match_iou:g}")
        update["match_iou"] = args.match_iou
    if update:
        op = op.model_copy(update={**update, "goal": None, "achieved": {}})
    if args.goal:
        try:
            op = detection.choose_operating_point(
                scores, parse_detection_goal(args.goal, scores, args.on, args.per_class), op)
        except GoalNotReachable as exc:
            raise InvalidInput(str(exc)) from None
    return op


_ANOMALY_GOAL = re.compile(r"^f1$|^(fpr|recall)=(.+)$")


def anomaly_point(args, op: OperatingPoint, arrays, task: str) -> OperatingPoint:
    """The anomaly threshold after ``--reset``, ``--threshold`` and ``--goal`` (in that order)."""
    if args.class_threshold or args.nms_iou is not None or args.match_iou is not None or args.per_class:
        raise InvalidInput("--class-threshold, --nms-iou, --match-iou and --per-class are for object detection; "
                           "an anomaly model has one threshold: --goal fpr=0.05 or --threshold SCORE")
    scores = anomaly.AnomalyScores.from_npz(arrays)
    if args.reset or op.task != task:
        op = OperatingPoint(task=task)
    try:
        if args.threshold is not None:
            op = anomaly.manual_operating_point(args.threshold, op)
        if args.goal:
            m = _ANOMALY_GOAL.match(args.goal.strip().casefold())
            if not m:
                raise InvalidInput(f"cannot read the goal '{args.goal}': for anomaly detection write fpr=0.05 (at most "
                                   "5 % of normal images flagged), recall=0.95 or f1")
            goal = Goal(kind="f1", subset=args.on) if m.group(1) is None else \
                Goal(kind=m.group(1), value=_number(m.group(2), args.goal), subset=args.on)
            op = anomaly.choose_operating_point(scores, goal, op)
    except GoalNotReachable as exc:
        raise InvalidInput(str(exc)) from None
    return op


#: tasks whose operating point is not classification's decision rule: (args, op, scores.npz, task) -> op
CHOOSERS = {"object_detection": detection_point, "anomaly_detection": anomaly_point}


def _number(text: str, goal: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InvalidInput(f"'{text}' in the goal '{goal}' is not a number") from None


def run(args) -> int:
    with open_workspace(args, write=True) as ws:
        project = ProjectService(ws).get(args.project)
        svc = ExperimentService(ws, project.id)
        exp = svc.get(args.experiment)
        store = EvaluationStore(svc.folder(exp.id))
        if not store.exists():
            raise InvalidInput(f"experiment '{exp.name}' has no evaluation; run `studio evaluate "
                               f"{project.name} {exp.name}` first")
        task = store.info().task
        changing = bool(args.reset or args.calibrate or args.goal or args.threshold is not None
                        or args.class_threshold or args.nms_iou is not None or args.match_iou is not None)
        op = load_operating_point(store.folder) or OperatingPoint(task=task)
        chooser = CHOOSERS.get(task)
        if chooser is not None:  # a task whose operating point is set its own way
            if args.calibrate:
                raise InvalidInput("--calibrate is for classification; this model's threshold is chosen with "
                                   "--goal or --threshold")
            if changing:
                op = chooser(args, op, store.scores_arrays(), task)
                save_operating_point(store.folder, op)
            return _show(args, exp, store, op)
        if args.threshold is not None or args.class_threshold or args.nms_iou is not None \
                or args.match_iou is not None or args.per_class:
            raise InvalidInput("--threshold, --class-threshold, --nms-iou, --match-iou and --per-class are for "
                               "object detection; choose a classifier's rule with --goal")
        if args.reset:
            op = OperatingPoint()
        if args.calibrate or args.goal:
            scores = Scores.from_npz(store.scores_arrays())
            if args.calibrate:
                rows = scores.subset(args.on)
                if not rows.any():
                    raise InvalidInput(f"the evaluation has no {args.on} images to calibrate on")
                op = op.model_copy(update={"temperature": fit_temperature(scores.logits[rows], scores.truth[rows])})
                try:  # the goals already in force are chosen again on the calibrated probabilities
                    op = refit(scores, op)
                except GoalNotReachable as exc:
                    raise InvalidInput(f"after calibration: {exc}") from None
            if args.goal:
                try:
                    op = choose_operating_point(scores, parse_goal(args.goal, scores, args.on), op)
                except GoalNotReachable as exc:
                    raise InvalidInput(str(exc)) from None
        if args.reset or args.calibrate or args.goal:
            save_operating_point(store.folder, op)
        return _show(args, exp, store, op)


def _show(args, exp, store, op: OperatingPoint) -> int:
    names = {c["id"]: c["name"] for c in store.info().classes}
    if args.json:
        print_json(op.model_dump(mode="json"))
    else:
        print(f"{exp.name}: {op.describe(names)}")
        if op.achieved:
            print("  on the " + str(op.achieved.get("subset", args.on)) + " images: " + ", ".join(
                f"{names.get(_int(k), k)}: " + ", ".join(f"{a} {b:.3f}" for a, b in v.items() if isinstance(b, float))
                if isinstance(v, dict) else f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                for k, v in op.achieved.items() if k != "subset"))
    return 0


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None
