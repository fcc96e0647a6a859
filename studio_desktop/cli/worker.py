"""`studio worker JOB ...`: run one worker job (what the GUI starts, detached, for training).

The job modules import torch, so they are imported inside the handler: ``studio --help`` and
the GUI stay fast and torch-free.
"""

from __future__ import annotations


def register(sub) -> None:
    from ..worker import add_jobs  # torch-free: only argument definitions

    p = sub.add_parser("worker", help="run one background job (used by the app; prints JSON events)",
                       description="Run one job and print protocol events, one JSON object per line.")
    jobs = p.add_subparsers(dest="job", metavar="JOB")
    jobs.required = True
    add_jobs(jobs)
    p.set_defaults(func=_run)


def _run(args) -> int:
    from ..worker import dispatch

    return dispatch(args)
