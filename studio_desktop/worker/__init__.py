"""`worker` entry: runs one job (train, augment-preview...) and prints protocol events.

Started as ``python -m studio_desktop --workspace W worker <job> ...`` (in a bundle the app
executable itself), usually detached by the GUI. Imports torch, so only worker processes and
``studio train`` ever import this package.
"""

from __future__ import annotations

import argparse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="studio worker", description="run one job and print protocol events")
    p.add_argument("--workspace", metavar="DIR")
    sub = p.add_subparsers(dest="job", metavar="JOB")
    sub.required = True
    add_jobs(sub)
    return p


def add_jobs(sub) -> None:
    """Register the jobs' arguments (shared by `studio worker` and this module's own parser)."""
    t = sub.add_parser("train", help="train (or resume) one experiment")
    t.add_argument("project", help="project name or id")
    t.add_argument("experiment", help="experiment name or id")
    t.add_argument("--resume", action="store_true", help="continue from the experiment's last.ckpt")
    t.add_argument("--epochs", type=int, help="total number of epochs (to extend a resumed run)")
    t.add_argument("--parent-pid", type=int, help="stop gracefully when this process dies (unless DETACHED)")
    a = sub.add_parser("augment-preview", help="write augmented training images as PNG")
    a.add_argument("project", help="project name or id")
    a.add_argument("--config-json", required=True, help="a TrainConfig as JSON, or @FILE")
    a.add_argument("--out", required=True, help="folder for the PNG files")
    a.add_argument("--n", type=int, default=8, help="number of images")
    a.add_argument("--seed", type=int, default=0, help="random seed")


def dispatch(args) -> int:
    """Run the job named by parsed ``args`` (``args.workspace`` may be None)."""
    if args.job == "train":
        from .train import run_train_job

        return run_train_job(args)
    if args.job == "augment-preview":
        from .augment_preview import run_augment_preview

        return run_augment_preview(args)
    raise SystemExit(f"unknown job {args.job}")  # argparse prevents this


def run(argv: list[str] | None = None) -> int:
    """Entry point used by tests and ``python -m studio_desktop.worker``-like launchers."""
    from ..core.errors import StudioError

    args = build_parser().parse_args(argv)
    try:
        return dispatch(args)
    except StudioError as exc:
        import sys

        print(f"error: {exc}", file=sys.stderr)
        return 1
