"""``studio dataset import|stats|list|delete``: the dataset side of the CLI (DESIGN §7).

``import --events`` prints the worker protocol (DESIGN §6) on stdout, one JSON object per
line: ``started``, ``progress`` {step, total, eta_s}, ``log``, ``completed`` {report} or
``failed`` {error, hint}. The Dataset page runs the import this way in a subprocess and
cancels it by terminating the process: the import is a transaction, so a killed import
leaves the dataset as it was. Without ``--events`` a text progress bar goes to stderr.

An import whose every image was skipped prints its report (issues included) like any other,
then exits non-zero with one line on stderr, so that a script can tell; with ``--events`` the
``completed`` report carries ``nothing_imported: true`` for the desktop app to warn.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

from ..core.datasets import DatasetStore
from ..core.errors import StudioError
from ..core.formats.registry import FORMAT_CHOICES
from ..core.importing import delete_images, import_dataset
from ..core.projects import ProjectService
from ..core.protocol import Emitter
from ..core.stats import dataset_stats, format_stats
from .common import open_workspace, print_json


def register(sub) -> None:
    p = sub.add_parser("dataset", help="import images and annotations, show statistics, list images")
    dsub = p.add_subparsers(dest="action", metavar="ACTION")
    dsub.required = True

    i = dsub.add_parser("import", help="import a folder or ZIP of images and annotations into a project")
    i.add_argument("project", help="project name or id")
    i.add_argument("path", type=Path, help="folder, ZIP archive or CSV file to import")
    i.add_argument("--format", default="auto", choices=FORMAT_CHOICES,
                   help="annotation format (default: detect it and say why)")
    i.add_argument("--json", action="store_true", help="print the import report as JSON")
    i.add_argument("--events", action="store_true",
                   help="print progress as protocol JSON lines on stdout (used by the desktop app)")
    i.set_defaults(func=_import)

    s = dsub.add_parser("stats", help="data-health statistics: classes, sizes, duplicates, imbalance")
    s.add_argument("project", help="project name or id")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=_stats)

    ls = dsub.add_parser("list", help="list the images of a project")
    ls.add_argument("project", help="project name or id")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(func=_list)

    d = dsub.add_parser("delete", help="remove images from a project (by image id)")
    d.add_argument("project", help="project name or id")
    d.add_argument("ids", nargs="+", help="image ids (see 'dataset list')")
    d.add_argument("--yes", action="store_true", help="confirm the deletion (required)")
    d.set_defaults(func=_delete)


def _event(event: str, **fields) -> None:
    Emitter(stdout=sys.stdout).emit(event, **fields)


class _Reporter:
    """Progress as protocol events or as a text bar on stderr, throttled to ~10 per second."""

    def __init__(self, events: bool):
        self.events = events
        self.start = time.monotonic()
        self.last = 0.0

    def __call__(self, done: int, total: int, message: str) -> None:
        now = time.monotonic()
        if done not in (0, total) and now - self.last < 0.1:
            return
        self.last = now
        elapsed = now - self.start
        eta = round(elapsed / done * (total - done), 1) if done else None
        if self.events:
            _event("progress", step=done, total=total, eta_s=eta, message=message)
        elif sys.stderr.isatty() or done == total:
            width = 30
            filled = round(width * done / total) if total else width
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} images"
                             + (f", {eta:.0f}s left" if eta else "") + ("\n" if done == total else ""))
            sys.stderr.flush()


def _terminate(signum, frame):  # noqa: ARG001
    raise KeyboardInterrupt


def _import(args) -> int:
    if args.events:
        _event("started", job="import", project=args.project, source=str(args.path), format=args.format)
        if hasattr(signal, "SIGTERM"):
            signal.signal(signal.SIGTERM, _terminate)  # QProcess.terminate(): clean up staging
    try:
        with open_workspace(args, write=True) as ws:
            report = import_dataset(ws, args.project, args.path, fmt=args.format,
                                    progress=_Reporter(args.events))
    except StudioError as exc:
        if args.events:
            _event("failed", error=str(exc), hint=exc.hint)
        raise
    except KeyboardInterrupt:
        if args.events:
            _event("stopped", message="import cancelled; the dataset was not changed")
        raise
    if args.events:
        for issue in report.issues[:200]:
            _event("log", level="warning", message=f"{issue.file}: {issue.reason} ({issue.action})")
        _event("completed", report=report.as_json(), summary={"imported": report.imported})
    elif args.json:
        print_json(report.as_json())
    else:
        print(f"detected {report.format}: {report.detected_because}" if report.detected_because else "")
        for issue in report.issues[:50]:
            print(f"  {issue.action}: {issue.file}: {issue.reason}")
        if len(report.issues) > 50:
            print(f"  ... and {len(report.issues) - 50} more issues (use --json for all)")
        print(report.summary())
    if report.nothing_imported:
        print(f"error: nothing was imported from {args.path}: all {report.skipped} images were skipped "
              "(the reasons are listed above; fix them or choose the format with --format)", file=sys.stderr)
        return 1
    return 0


def _stats(args) -> int:
    with open_workspace(args, write=False) as ws:
        project = ProjectService(ws).get(args.project)
        store = DatasetStore(ws, project.id)
        stats = dataset_stats(store.load(), project, dataset_root=store.root)
    if args.json:
        print_json(stats)
    else:
        print(format_stats(stats))
    return 0


def _list(args) -> int:
    with open_workspace(args, write=False) as ws:
        project = ProjectService(ws).get(args.project)
        dataset = DatasetStore(ws, project.id).load()
    names = {c.id: c.name for c in project.classes}
    if args.json:
        print_json({"project": project.id, "images": [r.model_dump(mode="json") for r in dataset.images]})
        return 0
    if not dataset.images:
        print(f"no images yet: import some with 'studio dataset import \"{project.name}\" FOLDER'")
        return 0
    for r in dataset.images:
        what = sorted(names.get(c, str(c)) for c in r.class_ids())
        extra = ", ".join(what) or (r.anomaly.status if r.anomaly else "") or \
            ", ".join(f"{k}={v:g}" for k, v in r.targets.items())
        print(f"{r.id}  {r.width}x{r.height}  {Path(r.source).name or r.file}  {extra}")
    return 0


def _delete(args) -> int:
    if not args.yes:
        raise StudioError(f"removing {len(args.ids)} images cannot be undone; add --yes to confirm")
    with open_workspace(args, write=True) as ws:
        n = delete_images(ws, args.project, args.ids)
    print(f"removed {n} images")
    return 0
