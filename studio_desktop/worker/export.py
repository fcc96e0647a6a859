"""The export job: ``studio worker export PROJECT EXPERIMENT ...`` (started by the Export page).

Writes its protocol events to ``exports/.jobs/<export-id>/events.jsonl`` (the GUI follows that
file and writes ``STOP`` there to cancel) and the export itself into ``exports/<export-id>/``
at the end. Stop sources as for training: the STOP file, stdin ``stop``, the parent GUI dying
(unless DETACHED), SIGINT/SIGTERM.
"""

from __future__ import annotations

from ..core.exports import (
    DEFAULT_CALIBRATION_IMAGES,
    DEFAULT_OPSET,
    DEFAULT_VALIDATION_IMAGES,
    FORMATS,
    PRECISIONS,
)
from ..core.procs import StopFlag
from ..core.protocol import Emitter
from ..core.workspace import Workspace
from .stops import wire_stop_sources


def add_options(p) -> None:
    """The export options, shared by ``studio worker export`` and ``studio export``."""
    p.add_argument("project", help="project name or id")
    p.add_argument("experiment", help="experiment name or id")
    p.add_argument("--checkpoint", default="best", metavar="best|last|FILE",
                   help="which checkpoint: best (default), last, or a checkpoint file of this experiment")
    p.add_argument("--format", default="onnx", choices=list(FORMATS), help="file format (default: onnx)")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                   help=f"ONNX opset (onnx and openvino; default {DEFAULT_OPSET})")
    p.add_argument("--dynamic-batch", action="store_true",
                   help="accept any batch size (default: batch 1, what most deployments feed)")
    p.add_argument("--precision", default="fp32", choices=list(PRECISIONS),
                   help="fp32 (default), fp16, or int8 (quantized with ONNX Runtime)")
    p.add_argument("--quantization", default="static", choices=["static", "dynamic"],
                   help="int8 only: static (calibrated on training images, fastest) or dynamic (weights only)")
    p.add_argument("--calibration-images", type=int, default=DEFAULT_CALIBRATION_IMAGES, metavar="N",
                   help=f"int8 static: training images to calibrate on (default {DEFAULT_CALIBRATION_IMAGES})")
    p.add_argument("--validation-images", type=int, default=DEFAULT_VALIDATION_IMAGES, metavar="N",
                   help=f"validation/test images to check the export on (default {DEFAULT_VALIDATION_IMAGES})")
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads for the speed measurement (default: up to 4)")
    p.add_argument("--latency-runs", type=int, default=30, metavar="N", help="timed runs per runtime (default 30)")


def add_arguments(p) -> None:
    add_options(p)
    p.add_argument("--export-id", help="id of the export to create (the GUI chooses it to follow the job)")
    p.add_argument("--parent-pid", type=int, help="stop when this process dies (unless DETACHED)")


def request_of(args):
    from ..ml.export.pipeline import ExportRequest

    if args.validation_images < 1:
        from ..core.errors import InvalidInput

        raise InvalidInput("--validation-images must be at least 1")
    return ExportRequest(project=args.project, experiment=args.experiment, checkpoint=args.checkpoint,
                         format=args.format, precision=args.precision, opset=args.opset,
                         dynamic_batch=args.dynamic_batch, quantization=args.quantization,
                         calibration_images=max(1, args.calibration_images),
                         validation_images=args.validation_images, threads=args.threads,
                         latency_runs=max(1, args.latency_runs), export_id=getattr(args, "export_id", None))


def run_export_job(ws, request, *, parent_pid: int | None = None, emitter_factory=None, stop: StopFlag | None = None):
    """Run one export in this process with every stop source wired; returns the pipeline's Outcome."""
    from ..ml.export.pipeline import ExportJob

    stop = stop or StopFlag()
    job = ExportJob(ws, request, emitter_factory or (lambda events, log: Emitter(events, log)), stop=stop)
    wire_stop_sources(stop, job.job_folder, parent_pid)
    return job.run()


def run_job(args) -> int:
    # an export writes only its own folders: the workspace lock stays with the GUI
    ws = Workspace.open(getattr(args, "workspace", None), lock=False)
    try:
        return run_export_job(ws, request_of(args), parent_pid=getattr(args, "parent_pid", None)).exit_code
    finally:
        ws.close()
