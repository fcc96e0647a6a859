"""`studio train PROJECT ...`: create an experiment and train it in the foreground.

Events print as readable lines (or JSON lines with ``--json``); Ctrl+C stops gracefully after
the current step, saving ``last.ckpt`` (resume with ``--resume EXPERIMENT``). The exit status
is non-zero with a one-line reason when training cannot start or fails.
"""

from __future__ import annotations

import os
import sys

from ..core.errors import InvalidInput
from ..core.experiments import ExperimentService, apply_settings, defaults_for, resolve_split
from ..core.procs import EXPERIMENT_ENV, is_secondary_rank
from ..core.projects import ProjectService
from ..tasks import training_unavailable
from .common import open_workspace


def register(sub) -> None:
    p = sub.add_parser("train", help="train a model on a project's split",
                       description="Train a model. Settings start from the task's defaults; change them with "
                                   "--model/--epochs/--set key=value (see `studio train --list-settings`).")
    p.add_argument("project", nargs="?", help="project name or id")
    p.add_argument("--name", help="experiment name (default: the model name, made unique)")
    p.add_argument("--model", help="model from the task's catalog, e.g. resnet18, tiny_cnn")
    p.add_argument("--epochs", type=int, help="number of epochs (with --resume: the new total)")
    p.add_argument("--split", help="split name or id (default: the newest split)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any training setting, e.g. --set lr=0.01 --set batch_size=16 (repeatable)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where to train (default: auto)")
    p.add_argument("--resume", metavar="EXPERIMENT", help="continue a stopped/interrupted experiment")
    p.add_argument("--json", action="store_true", help="print protocol events as JSON lines")
    p.add_argument("--list-settings", action="store_true", help="list every setting with its help and exit")
    p.set_defaults(func=run)


def _list_settings() -> int:
    from ..core.train_config import TrainConfig

    for name, text in TrainConfig.field_help().items():
        only = TrainConfig.setting_tasks(name)
        print(f"{name}: {text}" + (f" (only for {', '.join(t.replace('_', ' ') for t in only)})" if only else ""))
    from ..core.task_settings import TASK_SETTINGS

    for task, model in TASK_SETTINGS.items():
        print(f"\n{task} only (--set NAME=VALUE):")
        for name, field in model.model_fields.items():
            print(f"{name}: {field.description}")
    return 0


def run(args) -> int:
    if args.list_settings:
        return _list_settings()
    if not args.project:
        raise InvalidInput("name the project to train: studio train PROJECT")
    if is_secondary_rank():
        return _run_secondary_rank(args)
    with open_workspace(args, write=True) as ws:
        project = ProjectService(ws).get(args.project)
        if (why := training_unavailable(project.task)) is not None:
            raise InvalidInput(why)  # before an experiment is created for nothing
        svc = ExperimentService(ws, project.id)
        svc.reconcile()
        if args.resume:
            exp = svc.get(args.resume)
            resume = True
        else:
            cfg = defaults_for(project.task)
            pairs = list(args.set)
            if args.model:
                pairs.append(f"model={args.model}")
            if args.epochs:
                pairs.append(f"epochs={args.epochs}")
            if args.split:
                pairs.append(f"split_id={args.split}")
            if args.device:
                pairs.append(f"device={args.device}")
            cfg = apply_settings(cfg, pairs, project.task)
            split_id, _ = resolve_split(ws, project.id, cfg.split_id)  # fails early: "create a split first"
            cfg = cfg.model_copy(update={"split_id": split_id})
            exp = svc.create(cfg, name=args.name)
            resume = False
        os.environ[EXPERIMENT_ENV] = exp.id  # a multi-GPU run's other processes train this one
        from ..worker.train import run_training  # torch loads only now

        if not args.json:
            print(f"experiment {exp.name} ({exp.id}) in {svc.folder(exp.id)}", file=sys.stderr)
        outcome = run_training(ws, project.id, exp.id, resume=resume,
                               epochs=args.epochs if resume else None, human=not args.json)
        if outcome.exit_code != 0:
            hint = f" ({outcome.hint})" if outcome.hint else ""
            print(f"error: {outcome.error}{hint}", file=sys.stderr)
        return outcome.exit_code


def _run_secondary_rank(args) -> int:
    """This command again, started by Lightning as an extra process of a multi-GPU (DDP) run: it
    trains the experiment the first process created (named in the environment), without the
    workspace lock, which the first process holds, and without writing anything shared."""
    from ..core.workspace import Workspace
    from ..worker.train import run_training

    exp_id = os.environ.get(EXPERIMENT_ENV)
    if not exp_id:
        raise InvalidInput(f"a multi-GPU training process was started without {EXPERIMENT_ENV}")
    ws = Workspace.open(getattr(args, "workspace", None), lock=False)
    try:
        return run_training(ws, args.project, exp_id, resume=bool(args.resume),
                            epochs=args.epochs if args.resume else None, human=False).exit_code
    finally:
        ws.close()
