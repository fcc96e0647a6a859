"""`studio evaluate PROJECT EXPERIMENT`: measure a trained model, in the foreground.

Writes the experiment's ``evaluation/`` (see core/evaluation/store.py) and prints a summary:
each subset's headline metrics with their 95 % intervals, and how many likely label errors were
found. ``--json`` prints aggregate.json instead; ``--reset`` deletes the evaluation. Ctrl+C stops
between two batches and leaves the previous evaluation as it was.
"""

from __future__ import annotations

import sys

from ..core.errors import InvalidInput
from ..core.evaluation.store import EvaluationStore
from ..core.experiments import ExperimentService
from ..core.projects import ProjectService
from .common import open_workspace, print_json


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="evaluate a trained experiment on its val/test images",
                       description="Evaluate an experiment's checkpoint on subsets of its split: metrics with 95 %% "
                                   "confidence intervals, per-image results and likely label errors, written to "
                                   "the experiment's evaluation/ folder.")
    p.add_argument("project", help="project name or id")
    p.add_argument("experiment", help="experiment name or id")
    p.add_argument("--checkpoint", default="best", metavar="best|last|FILE",
                   help="which weights to evaluate (default: best)")
    p.add_argument("--subsets", nargs="+", metavar="SUBSET", help="val, test and/or train (default: val test)")
    p.add_argument("--batch-size", type=int, metavar="N", help="images per batch (default: the training batch size)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where to run (default: auto)")
    p.add_argument("--json", action="store_true", help="print aggregate.json (machine-readable) when done")
    p.add_argument("--reset", action="store_true", help="delete the experiment's evaluation and exit")
    p.set_defaults(func=run)


def summary_lines(store: EvaluationStore) -> list[str]:
    """The human summary of an evaluation (also used by ``studio report``'s console output)."""
    from ..core.evaluation.tasks import analysis

    info, agg = store.info(), store.aggregate()
    ck = info.checkpoint
    epoch = f", epoch {ck.get('epoch')}" if ck.get("epoch") else ""
    lines = [f"{ck.get('which', '?')} checkpoint{epoch}; {info.timings.get('images_per_s', 0):g} images/s on "
             f"{info.device}"]
    lines += analysis(info.task).summary_lines(agg)
    issues = store.label_issues()
    if issues:
        lines.append(f"likely label errors: {len(issues)}, most likely first in {store.folder / 'label_issues.json'}")
    return lines


def run(args) -> int:
    with open_workspace(args, write=True) as ws:
        project = ProjectService(ws).get(args.project)
        svc = ExperimentService(ws, project.id)
        exp = svc.get(args.experiment)
        store = EvaluationStore(svc.folder(exp.id))
        if args.reset:
            store.reset()
            print(f"deleted the evaluation of {exp.name}", file=sys.stderr)
            return 0
        if args.checkpoint in ("best", "last") and args.checkpoint not in svc.checkpoints(exp.id):
            have = ", ".join(svc.checkpoints(exp.id)) or "none yet"
            raise InvalidInput(f"experiment '{exp.name}' has no {args.checkpoint}.ckpt (checkpoints: {have})")
        from ..worker.evaluate import evaluation_job  # torch loads only now

        if not args.json:
            print(f"evaluating {exp.name} ({exp.id})", file=sys.stderr)
        outcome = evaluation_job(ws, project.id, exp.id, human=not args.json, quiet=args.json,
                                 checkpoint=args.checkpoint,
                                 subsets=args.subsets, batch_size=args.batch_size, device=args.device)
        if outcome.exit_code != 0:
            hint = f" ({outcome.hint})" if outcome.hint else ""
            print(f"error: {outcome.error}{hint}", file=sys.stderr)
            return outcome.exit_code
        if outcome.status != "completed":
            return 130
        if args.json:
            print_json(store.aggregate())
        else:
            print("\n".join(summary_lines(store)))
            print(f"wrote {store.folder}")
        return 0
