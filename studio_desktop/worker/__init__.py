"""`worker` entry: runs one job (train, evaluate, export...) and prints protocol events.

Started as ``python -m studio_desktop --workspace W worker <job> ...`` (in a bundle the app
executable itself), usually detached by the GUI. The job modules import torch, so only worker
processes and the foreground ML commands (``studio train``...) ever import them; this module
only knows their names and where their argument definitions live.

Adding a job: one module here with ``add_arguments(parser)`` (torch-free) and ``run_job(args)
-> int``, and one line in :data:`JOBS`.
"""

from __future__ import annotations

import argparse
import importlib

#: job name -> (module under studio_desktop.worker, one-line help)
JOBS: dict[str, tuple[str, str]] = {
    "train": ("train", "train (or resume) one experiment"),
    "augment-preview": ("augment_preview", "write augmented training images as PNG"),
    "evaluate": ("evaluate", "evaluate an experiment's checkpoint on some subsets"),
    "predict": ("predict", "predict new images with an experiment, a checkpoint or an exported model"),
    "export": ("export", "export a checkpoint (ONNX, TorchScript, OpenVINO), validate and time it"),
    "download-weights": ("download_weights", "download pretrained weights into the cache (progress, checksum)"),
    "import-weights": ("import_weights", "check a weights file for a model and copy it into the cache"),
}


def _module(job: str):
    return importlib.import_module(f"{__name__}.{JOBS[job][0]}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="studio worker", description="run one job and print protocol events")
    p.add_argument("--workspace", metavar="DIR")
    sub = p.add_subparsers(dest="job", metavar="JOB")
    sub.required = True
    add_jobs(sub)
    return p


def add_jobs(sub) -> None:
    """Register the jobs' arguments (shared by `studio worker` and this module's own parser).

    Each job module defines its arguments at module level without importing torch."""
    for name, (_, help_text) in JOBS.items():
        _module(name).add_arguments(sub.add_parser(name, help=help_text))


def dispatch(args) -> int:
    """Run the job named by parsed ``args`` (``args.workspace`` may be None)."""
    if args.job not in JOBS:
        raise SystemExit(f"unknown job {args.job}")  # argparse prevents this
    return int(_module(args.job).run_job(args) or 0)


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
