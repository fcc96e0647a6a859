"""``studio export PROJECT EXPERIMENT ...``: export a trained model in the foreground, check it, time it.

Progress goes to stderr as text; the result (what was written, the validation, the latency
table) to stdout, or as JSON (``export.json``'s content) with ``--json``. Exit status: 0 for
a ready export, 1 when the export failed (its validation included: the file is then kept as
a failed export with its numbers, never as ready), 130 when stopped with Ctrl+C.
``--list`` and ``--delete ID`` manage earlier exports (as the Export page does).
"""

from __future__ import annotations

import sys

from ..core.errors import InvalidInput
from ..core.experiments import ExperimentService
from ..core.export_report import report, size_text, verdict
from ..core.exports import ExportService, check_options, missing_package
from ..core.projects import ProjectService
from .common import open_workspace, print_json

EXIT_STOPPED = 130


def register(sub) -> None:
    from ..worker.export import add_options  # torch-free: argument definitions only

    p = sub.add_parser("export", help="export a trained model (ONNX, TorchScript, OpenVINO), checked and timed",
                       description="Export an experiment's checkpoint, run it back on validation images against "
                                   "PyTorch (the export is offered only if it agrees), and time it.")
    add_options(p)
    p.add_argument("--json", action="store_true", help="print the export record (export.json) as JSON")
    p.add_argument("--list", action="store_true", help="list the experiment's exports instead of exporting")
    p.add_argument("--delete", metavar="EXPORT_ID", help="delete one export of the experiment")
    p.set_defaults(func=run)


def _service(ws, args) -> ExportService:
    project = ProjectService(ws).get(args.project)
    exp = ExperimentService(ws, project.id).get(args.experiment)
    return ExportService(ws, project.id, exp.id)


def _list(args) -> int:
    with open_workspace(args, write=False) as ws:
        svc = _service(ws, args)
        records = svc.list()
        if args.json:
            print_json([r.model_dump(mode="json") for r in records])
            return 0
        if not records:
            print("no exports yet")
        for r in records:
            print(f"{r.id}  {r.title:<24} {size_text(r.file_size):>9}  {verdict(r)}")
        for folder, reason in svc.problems:
            print(f"unreadable: {folder}: {reason}", file=sys.stderr)
    return 0


def _delete(args) -> int:
    with open_workspace(args, write=True) as ws:
        svc = _service(ws, args)
        svc.delete(args.delete)
        print(f"deleted export {args.delete}", file=sys.stderr)
    return 0


class _Progress:
    """Protocol events -> one line per step on stderr (the worker's JSON stays in events.jsonl)."""

    def write(self, text: str) -> None:
        import json

        for line in text.splitlines():
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            name = ev.get("event")
            if name == "progress" and ev.get("message"):
                print(f"[{ev.get('step')}/{ev.get('total')}] {ev['message']}", file=sys.stderr)
            elif name == "log" and ev.get("level") in ("warning", "error"):
                print(f"{ev['level']}: {ev.get('message')}", file=sys.stderr)

    def flush(self) -> None:
        sys.stderr.flush()


def run(args) -> int:
    if args.list:
        return _list(args)
    if args.delete:
        return _delete(args)
    with open_workspace(args, write=False) as ws:
        project = ProjectService(ws).get(args.project)
        check_options(project.task, args.format, args.precision)  # before torch loads: fast, clear
        if (why := missing_package(args.format)) is not None:
            raise InvalidInput(why)
        from ..core.protocol import Emitter
        from ..worker.export import request_of, run_export_job  # torch loads only now

        progress = _Progress()
        outcome = run_export_job(ws, request_of(args), emitter_factory=lambda events, log: Emitter(
            events, log, stdout=progress, stderr=open_devnull()))
        if outcome.record is not None:
            if args.json:
                print_json(outcome.record.model_dump(mode="json"))
            else:
                print(report(outcome.record, outcome.folder))
        if outcome.status == "stopped":
            print("stopped: nothing was kept", file=sys.stderr)
            return EXIT_STOPPED
        if outcome.exit_code != 0:
            print(f"error: {outcome.error}" + (f" ({outcome.hint})" if outcome.hint else ""), file=sys.stderr)
        return outcome.exit_code


def open_devnull():
    import os

    return open(os.devnull, "w")  # noqa: SIM115 - lives as long as the command
