"""``worker download-weights MODEL...``: fetch pretrained weights into the cache, as a job.

Pure Python (no torch: it starts in a fraction of a second). Same protocol as training:
``progress`` events carry bytes done / total and the ETA (the status bar shows them), Stop
(the STOP file, stdin ``stop``, the parent GUI closing, Ctrl+C) cancels and keeps nothing,
failures are one ``failed`` event with the reason and what to do. The job folder is
``<workspace>/jobs/weights-<model>/`` unless ``--folder`` says otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..core.download import DownloadStopped, Progress, mb
from ..core.errors import StudioError
from ..core.procs import StopFlag, clear_control_files
from ..core.protocol import Emitter
from ..core.weights import (
    default_weights,
    download_weights,
    effective_mirror,
    file_state,
    weights_jobs_folder,
)
from ..core.workspace import resolve_workspace_dir
from .stops import wire_stop_sources


def add_arguments(p) -> None:
    p.add_argument("models", nargs="+", metavar="MODEL", help="catalog model names, e.g. resnet18")
    p.add_argument("--mirror", help="base URL (or folder) serving the same file names; default: "
                                    "$STUDIO_WEIGHTS_MIRROR, else the workspace setting, else the official source")
    p.add_argument("--folder", help="job folder for events.jsonl (default: <workspace>/jobs/weights-<model>)")
    p.add_argument("--parent-pid", type=int, help="stop when this process dies (unless DETACHED)")


def progress_message(p: Progress) -> str:
    """``12.3 of 46.8 MB · 5.1 MB/s`` (the status bar shows it after the job's name)."""
    done = f"{p.done / 1e6:.1f} of {mb(p.total)}" if p.total else mb(p.done)
    speed = f" · {p.rate / 1e6:.1f} MB/s" if p.rate > 0 else ""
    return done + speed


def run_downloads(models: list[str], emitter: Emitter, stop: StopFlag, mirror: str) -> int:
    """Download each model's weights (skipping ready ones); protocol events; the exit status."""
    emitter.emit("started", models=models, pid=os.getpid(), mirror=mirror or None)
    files = []
    try:
        for model in models:
            w = default_weights(model)
            if w is not None and file_state(w, verify=True) == "ready":
                emitter.log(f"{model}: already downloaded ({w.file_name})")
                files.append({"model": model, "path": None, "skipped": True})
                continue

            def report(p: Progress, model=model) -> None:
                emitter.emit("progress", step=p.done, total=p.total or 0, eta_s=p.eta_s,
                             message=progress_message(p), model=model, bytes_per_s=round(p.rate))

            result = download_weights(model, mirror=mirror, progress=report, stop=stop.requested)
            emitter.emit("artifact", kind="weights", model=model, path=str(result.path), sha256=result.sha256,
                         url=result.url)
            emitter.log(f"{model}: {mb(result.size)} in {result.seconds:.1f} s from {result.url}, checksum verified")
            files.append({"model": model, "path": str(result.path), "sha256": result.sha256, "url": result.url,
                          "bytes": result.size})
    except DownloadStopped:
        emitter.emit("stopped", reason=stop.reason or "cancelled")
        return 0
    except StudioError as exc:
        emitter.emit("failed", error=exc.reason, hint=exc.hint)
        return 1
    emitter.emit("completed", summary={"files": files})
    return 0


def run_job(args) -> int:
    root = resolve_workspace_dir(getattr(args, "workspace", None))
    folder = Path(args.folder) if args.folder else weights_jobs_folder(root, args.models[0])
    folder.mkdir(parents=True, exist_ok=True)
    clear_control_files(folder)
    stop = wire_stop_sources(StopFlag(), folder, args.parent_pid)
    with Emitter(folder / "events.jsonl", folder / "download.log") as emitter:
        try:
            mirror, _ = effective_mirror(root, args.mirror)
        except StudioError as exc:
            emitter.emit("failed", error=exc.reason, hint=exc.hint)
            return 1
        return run_downloads(list(args.models), emitter, stop, mirror)
