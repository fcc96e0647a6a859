"""``worker evaluate``: evaluate one experiment's checkpoint on some subsets (ml/evaluate.py).

Its events go to ``experiments/<id>/jobs/evaluate/events.jsonl`` (followed by the GUI) and its
human log to ``evaluate.log`` beside them; the same stop sources as training (STOP file there,
stdin, parent death, Ctrl+C) stop it between two batches, leaving the previous evaluation as it
was.
"""

from __future__ import annotations

import os

from ..core.evaluation.store import job_folder
from ..core.experiments import ExperimentService
from ..core.procs import StopFlag, clear_control_files
from ..core.projects import ProjectService
from ..core.protocol import Emitter
from ..core.workspace import Workspace
from .stops import wire_stop_sources


def add_arguments(p) -> None:
    p.add_argument("project", help="project name or id")
    p.add_argument("experiment", help="experiment name or id")
    p.add_argument("--checkpoint", default="best", help="best, last, or a checkpoint file (default: best)")
    p.add_argument("--subsets", nargs="+", default=None, metavar="SUBSET",
                   help="subsets to evaluate: val, test, train (default: val and test)")
    p.add_argument("--batch-size", type=int, help="images per batch (default: the training batch size)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--parent-pid", type=int, help="stop when this process dies (unless DETACHED)")


def evaluation_job(ws, project: str, experiment: str, *, human: bool = False, parent_pid: int | None = None,
                   stop: StopFlag | None = None, quiet: bool = False, **options):
    """Evaluate in this process with every stop source wired; returns the EvaluationOutcome."""
    from ..ml.evaluate import evaluate_experiment

    p = ProjectService(ws).get(project)
    svc = ExperimentService(ws, p.id)
    exp = svc.get(experiment)
    folder = job_folder(svc.folder(exp.id))
    folder.mkdir(parents=True, exist_ok=True)
    clear_control_files(folder)
    stop = wire_stop_sources(stop or StopFlag(), folder, parent_pid)
    out = open(os.devnull, "w", encoding="utf-8") if quiet else None  # noqa: SIM115 - closed below
    try:
        with Emitter(folder / "events.jsonl", folder / "evaluate.log", human=human, job="evaluate",
                     stdout=out) as emitter:
            return evaluate_experiment(ws, p.id, exp.id, emitter, stop=stop, **options)
    finally:
        if out is not None:
            out.close()


def run_job(args) -> int:
    ws = Workspace.open(getattr(args, "workspace", None), lock=False)
    try:
        return evaluation_job(ws, args.project, args.experiment, parent_pid=args.parent_pid,
                              checkpoint=args.checkpoint, subsets=args.subsets, batch_size=args.batch_size,
                              device=args.device).exit_code
    finally:
        ws.close()
