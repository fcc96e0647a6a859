"""Batch-1 CPU latency: PyTorch eager vs ONNX Runtime vs OpenVINO vs INT8, and what INT8 costs in accuracy.

Part 1, speed (resnet18 and mobilenet_v3_small at 224 px, one run): each network is exported
by the app's own code (dynamo ONNX, OpenVINO IR converted from it, INT8 static QDQ calibrated
on sample images, the OpenVINO IR of that INT8 graph) and loaded by the app's own loaders
(fixed thread count; OpenVINO asked for f32). All runtimes get the same images, warm-up runs
first, then the timed single-image calls runtime after runtime in rotating blocks (the app's own
``latency.measure_all``), so load from other processes hits them alike; medians, and ratios
against PyTorch eager measured in the same loop.
Speed does not depend on the weights, so the networks are freshly initialised (no pretrained
weights can be downloaded here).

Part 2, accuracy (unless --no-accuracy): the same two architectures trained from scratch on the
procedural classification sample (no pretrained weights here; at ``--accuracy-size`` px, 64 by
default, because 224 px from scratch does not learn the sample in a CPU-sized budget: 4 epochs
left resnet18 at 47 % and mobilenet_v3_small at chance), then exported by the app's full
pipeline (``run_export``) in INT8 (ONNX Runtime and OpenVINO): accuracy on the validation + test
images under FP32 and INT8 and the share of decisions that stay the same.

    python benchmarks/export_latency.py [--quick] [--threads N] [--runs N] [--models resnet18,...]
                                        [--epochs N] [--no-accuracy]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from studio_desktop.ml.export import onnx_format, openvino_format
from studio_desktop.ml.export.base import ExportOptions
from studio_desktop.ml.export.latency import BLOCK, Contender, measure_all
from studio_desktop.ml.export.precision import to_int8
from studio_desktop.ml.export.tasks import ClassifierOutputs
from studio_desktop.ml.models.classification import build_classifier

SIZE = 224


def sample_images(n: int, size: int = SIZE) -> np.ndarray:
    """Normalised images of the procedural sample (real pictures, not noise: calibration sees
    realistic activations)."""
    from studio_desktop.core.samples import write_sample
    from studio_desktop.ml.preprocess import Preprocessing

    with tempfile.TemporaryDirectory() as tmp:
        folder = write_sample("classification", Path(tmp) / "s", images=max(n, 6), seed=1)
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))[:n]
        pre = Preprocessing(size)
        return np.stack([pre.tensor(f).numpy() for f in files]).astype(np.float32)


def build_runtimes(name: str, images: np.ndarray, folder: Path, threads: int) -> dict:
    """{label: callable(batch)} for PyTorch eager and each exported form of ``name``."""
    net = ClassifierOutputs(build_classifier(name, 3, pretrained=False)).eval()
    options = ExportOptions(metadata={"producer": "benchmark"}, scratch=folder)
    t0 = time.perf_counter()
    onnx32 = folder / f"{name}.onnx"
    exporter, _ = onnx_format.export_fp32(net, torch.from_numpy(images[:2]), options, onnx32, lambda *a, **k: None)
    export_s = time.perf_counter() - t0
    int8 = to_int8(onnx32, folder / f"{name}.int8.onnx", {"producer": "benchmark"}, mode="static",
                   calibration=lambda: (x[None] for x in images))
    ov32 = folder / f"{name}.xml"
    ov8 = folder / f"{name}.int8.xml"
    openvino_format._convert(onnx32, ov32, {}, fp16_weights=False, log=lambda *a, **k: None)
    openvino_format._convert(int8, ov8, {}, fp16_weights=False, log=lambda *a, **k: None)
    torch.set_num_threads(threads)

    def eager(x):
        with torch.inference_mode():
            return net(torch.from_numpy(x))

    print(f"  {name}: exported in {export_s:.1f} s ({exporter})", file=sys.stderr)
    return {"PyTorch eager": eager,
            "ONNX Runtime FP32": onnx_format.load(onnx32, threads),
            "OpenVINO FP32": openvino_format.load(ov32, threads),
            "ONNX Runtime INT8": onnx_format.load(int8, threads),
            "OpenVINO INT8": openvino_format.load(ov8, threads)}


def speed(args) -> None:
    images = sample_images(args.calibration)
    print(f"\nbatch-1 CPU latency at {SIZE} px, {args.threads} thread(s), median of {args.runs} calls each, runtimes "
          f"taking turns in blocks of {BLOCK} ({args.warmup} warm-up calls before each); torch {torch.__version__}, "
          f"CPU: {cpu_name()}")
    print(f"{'model':<20} {'runtime':<20} {'median ms':>10} {'p90 ms':>9} {'vs eager':>9}")
    for name in args.models:
        with tempfile.TemporaryDirectory() as tmp:
            runtimes = build_runtimes(name, images, Path(tmp), args.threads)
            # the app's own measurement (ml/export/latency.py): runtimes take turns in blocks
            timings = dict(zip(runtimes, measure_all([Contender(k, "", fn, getattr(fn, "batch", None))
                                                      for k, fn in runtimes.items()], images,
                                                     warmup=args.warmup, runs=args.runs), strict=True))
        eager = timings["PyTorch eager"].median_ms
        for label, t in timings.items():
            print(f"{name:<20} {label:<20} {t.median_ms:>10.2f} {t.p90_ms:>9.2f} {eager / t.median_ms:>8.2f}x")
        onnx = timings["ONNX Runtime FP32"].median_ms
        print(f"{name:<20} goal ONNX >= 1.3x eager: {'met' if eager / onnx >= 1.3 else 'NOT met'} "
              f"({eager / onnx:.2f}x); INT8 vs FP32: ONNX Runtime "
              f"{onnx / timings['ONNX Runtime INT8'].median_ms:.2f}x, OpenVINO "
              f"{timings['OpenVINO FP32'].median_ms / timings['OpenVINO INT8'].median_ms:.2f}x")


def accuracy(args) -> None:
    """Train from scratch at 224 px on the sample, export FP32 and INT8 with the app's pipeline."""
    import contextlib
    import io

    from studio_desktop.core.experiments import ExperimentService, defaults_for
    from studio_desktop.core.protocol import Emitter
    from studio_desktop.core.samples import create_sample_project
    from studio_desktop.core.splits import SplitService
    from studio_desktop.core.workspace import Workspace
    from studio_desktop.ml.export.pipeline import ExportRequest, run_export
    from studio_desktop.worker.train import run_training

    def quiet(events, log):
        return Emitter(events, log, stdout=io.StringIO(), stderr=io.StringIO())

    size = args.accuracy_size
    print(f"\nINT8 accuracy change (trained from scratch, up to {args.epochs} epochs at {size} px on the "
          f"{args.images}-image sample; checked on its validation + test images)")
    for name in args.models:
        with tempfile.TemporaryDirectory() as tmp:
            ws = Workspace.open(Path(tmp) / "ws")
            project = create_sample_project(ws, "classification", images=args.images)
            splits = SplitService(ws, project.id)
            from studio_desktop.core.datasets import DatasetStore

            plan = splits.plan(project, DatasetStore(ws, project.id).load(), ratios=(0.7, 0.15, 0.15), seed=0)
            split = splits.create(None, plan)
            cfg = defaults_for("classification").model_copy(update={
                "model": name, "input_size": size, "epochs": args.epochs, "pretrained": False, "split_id": split.id,
                "device": "cpu", "batch_size": 16, "lr": 3e-3})
            exp = ExperimentService(ws, project.id).create(cfg, name=name)
            t0 = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                out = run_training(ws, project.id, exp.id, human=False)
            best = out.summary.get("best") or {}
            print(f"  {name}: trained in {time.perf_counter() - t0:.0f} s ({out.status}, best val accuracy "
                  f"{best.get('value', float('nan')):.3f} at epoch {best.get('epoch')})", file=sys.stderr)
            for fmt in ("onnx", "openvino"):
                r = run_export(ws, ExportRequest(project.id, exp.id, format=fmt, precision="int8",
                                                 validation_images=1000, calibration_images=args.calibration,
                                                 threads=args.threads, latency_runs=args.runs), quiet)
                if r.record is None:
                    print(f"{name:<20} {fmt} int8: {r.error}")
                    continue
                c = r.record.precision_change
                v = r.record.validation
                print(f"{name:<20} {fmt:<9} INT8 on {v.images} images: accuracy {c.metric_fp32:.3f} (FP32) -> "
                      f"{c.metric_exported:.3f} ({c.change:+.3f}), {c.agreement_with_fp32:.1%} decisions unchanged, "
                      f"{c.speedup:.2f}x the FP32 speed, {c.size / c.size_fp32:.0%} of the size; "
                      f"status {r.record.status}" + (f" ({'; '.join(v.failures)})" if v.failures else ""))
            ws.close()


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer runs, mobilenet_v3_small only, no accuracy part")
    p.add_argument("--threads", type=int, default=1, help="threads of every runtime (1: least disturbed by other processes)")
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--models", default="resnet18,mobilenet_v3_small")
    p.add_argument("--calibration", type=int, default=64, help="calibration images for INT8")
    p.add_argument("--epochs", type=int, default=40, help="training epochs of the accuracy part (early stopping on)")
    p.add_argument("--accuracy-size", type=int, default=64, help="input size of the accuracy part")
    p.add_argument("--images", type=int, default=300, help="sample images of the accuracy part")
    p.add_argument("--no-accuracy", action="store_true")
    p.add_argument("--no-speed", action="store_true")
    args = p.parse_args()
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    if args.quick:
        args.runs, args.models, args.no_accuracy, args.calibration = 10, ["mobilenet_v3_small"], True, 16
    if not args.no_speed:
        speed(args)
    if not args.no_accuracy:
        accuracy(args)


if __name__ == "__main__":
    main()
