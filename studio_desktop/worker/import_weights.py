"""``worker import-weights MODEL FILE``: check a weights file and copy it into the cache.

The GUI cannot import torch, and checking a file means loading it (safely: ``weights_only``)
and comparing its tensors with the architecture, so the Weights dialog runs this as a short
job. ``completed`` carries where the file went; ``failed`` says why it does not fit (and
which model it seems to be for).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..core.errors import StudioError
from ..core.procs import StopFlag, clear_control_files
from ..core.protocol import Emitter
from ..core.weights import weights_jobs_folder
from ..core.workspace import resolve_workspace_dir
from .stops import wire_stop_sources


def add_arguments(p) -> None:
    p.add_argument("model", help="catalog model name, e.g. resnet18")
    p.add_argument("file", help="a .pth / .pt / .safetensors file")
    p.add_argument("--folder", help="job folder for events.jsonl (default: <workspace>/jobs/weights-<model>-import)")
    p.add_argument("--parent-pid", type=int, help="stop when this process dies")


def run_job(args) -> int:
    root = resolve_workspace_dir(getattr(args, "workspace", None))
    folder = Path(args.folder) if args.folder else weights_jobs_folder(root, args.model, "import")
    folder.mkdir(parents=True, exist_ok=True)
    clear_control_files(folder)
    wire_stop_sources(StopFlag(), folder, args.parent_pid)
    with Emitter(folder / "events.jsonl", folder / "download.log") as emitter:
        emitter.emit("started", model=args.model, file=args.file, pid=os.getpid())
        emitter.emit("progress", step=0, total=0, message=f"checking {Path(args.file).name}")
        try:
            from ..ml.models.weights import import_weights

            result = import_weights(args.model, args.file)
        except StudioError as exc:
            emitter.emit("failed", error=exc.reason, hint=exc.hint)
            return 1
        emitter.emit("artifact", kind="weights", model=args.model, path=result["path"], sha256=result["sha256"])
        emitter.emit("completed", summary=result)
        return 0
