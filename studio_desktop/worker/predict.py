"""``worker predict``: the "Try it" panel's job — predict some images, write predictions.json/.csv.

Events and the human log go to the ``--out`` folder (``events.jsonl``, ``predict.log``), which is
also where the predictions are written, so the GUI follows one folder per try.
"""

from __future__ import annotations

from pathlib import Path

from ..core.errors import StudioError
from ..core.procs import StopFlag, clear_control_files
from ..core.protocol import Emitter
from ..core.workspace import Workspace
from .stops import wire_stop_sources


def add_arguments(p) -> None:
    p.add_argument("model", help="experiment name or id, a checkpoint file, or an exported model file/folder")
    p.add_argument("images", nargs="+", help="image files and/or folders (searched recursively)")
    p.add_argument("--out", required=True, help="folder for predictions.json, predictions.csv and the job's events")
    p.add_argument("--project", help="project of the experiment (when several have one of that name)")
    p.add_argument("--checkpoint", default="best", choices=["best", "last"], help="which checkpoint of the experiment")
    p.add_argument("--batch-size", type=int, default=16, help="images per batch")
    p.add_argument("--draw", action="store_true", help="also save each image's prediction drawn (a mask's overlay "
                                                        "and colours, boxes...) into OUT/drawn")
    p.add_argument("--score-threshold", type=float, help="object detection: report boxes scoring at least this "
                                                          "(default: the operating point)")
    p.add_argument("--parent-pid", type=int, help="stop when this process dies (unless DETACHED)")


def prediction_job(ws, args, emitter: Emitter, stop: StopFlag) -> int:
    """Predict with progress events; 0 when every image was predicted, 1 when any failed."""
    from ..ml.predict import predict

    out = Path(args.out)
    emitter.emit("started", job="predict", model=args.model, inputs=[str(i) for i in args.images])

    def progress(done: int, total: int) -> None:
        emitter.emit("progress", step=done, total=total, message=f"predicting: {done}/{total} images")

    try:
        rows, predictor, seconds = predict(ws, args.model, args.images, out, project=args.project,
                                           checkpoint=args.checkpoint, batch_size=args.batch_size,
                                           progress=progress, stop=stop,
                                           score_threshold=getattr(args, "score_threshold", None),
                                           draw=out / "drawn" if getattr(args, "draw", False) else None)
    except StudioError as exc:
        emitter.emit("failed", error=exc.reason, hint=exc.hint)
        return 1
    failed = [r for r in rows if not r.get("ok")]
    for r in failed:
        emitter.log(f"{r['file']}: {r['error']}", "warning")
    if stop.requested():
        emitter.emit("stopped", reason=stop.reason)
        return 0
    emitter.emit("artifact", kind="predictions", path=str(out / "predictions.json"))
    emitter.emit("completed", summary={"images": len(rows), "failed": len(failed), "seconds": round(seconds, 3),
                                       "out": str(out)})
    return 1 if failed else 0


def run_job(args) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    clear_control_files(out)
    stop = wire_stop_sources(StopFlag(), out, args.parent_pid)
    ws = Workspace.open(getattr(args, "workspace", None), lock=False)
    try:
        with Emitter(out / "events.jsonl", out / "predict.log", job="predict") as emitter:
            return prediction_job(ws, args, emitter, stop)
    finally:
        ws.close()
