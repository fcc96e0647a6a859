"""`studio operating-point PROJECT EXPERIMENT`: show or choose the decision rule stored with a model.

Chosen from the evaluation's cached scores (no re-run): a goal such as ``--goal recall:cat=0.99``
(class 'cat' must reach 99 % recall), ``--goal precision:cat=0.95``, ``--goal cost:defect=1:10``
(a missed 'defect' costs ten false alarms), ``--goal uncertain=0.98`` (flag predictions below the
probability that keeps 98 % accuracy among the rest), optionally ``--calibrate`` (temperature
scaling fitted on the validation images). Prediction, the Evaluation page and exports then follow
it. ``--reset`` goes back to plain argmax.
"""

from __future__ import annotations

import re

from ..core.errors import InvalidInput
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
                   help="recall:CLASS=0.99, precision:CLASS=0.95, cost:CLASS=FP:FN or uncertain=ACCURACY")
    p.add_argument("--on", default="val", choices=["val", "test", "train"],
                   help="the images to choose on (default: val, so the test numbers stay honest)")
    p.add_argument("--calibrate", action="store_true", help="fit temperature scaling on the --on images")
    p.add_argument("--reset", action="store_true", help="back to plain argmax")
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
        op = load_operating_point(store.folder) or OperatingPoint()
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
        names = {c["id"]: c["name"] for c in store.info().classes}
        if args.json:
            print_json(op.model_dump(mode="json"))
        else:
            print(f"{exp.name}: {op.describe(names)}")
            if op.achieved:
                print("  on the " + str(op.achieved.get("subset", args.on)) + " images: " + ", ".join(
                    f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in op.achieved.items()
                    if k != "subset"))
        return 0
