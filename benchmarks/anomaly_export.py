"""Exported anomaly models on real images: agreement with the checkpoint and latency, per format.

A normal-only model learns from ``mvtec_hazelnut``'s ``train/good`` (the real MVTec fixture, 512 px
hazelnuts); its test images (good and defective) are split half validation, half test, so the
Evaluation page's default threshold (5 % false positives on the normal validation images) exists.
Then every format is exported through the app's pipeline (``run_export``) and its validation and
latency are printed: the largest score and map differences against the checkpoint's own prediction
path, the verdicts agreeing (same input, and through the file's own metadata), the image AUROC under
both, and the batch-1 median latency with its ratio to PyTorch eager measured in the same export.
No pretrained weights (an untrained backbone) unless ``--pretrained``.

    python benchmarks/anomaly_export.py [--model patchcore_resnet18] [--size 256] [--formats onnx,openvino]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HAZELNUT = ROOT.parent / "shared" / "fixtures" / "real" / "mvtec_hazelnut"
FORMATS = "onnx,openvino,torchscript"


def _project(ws, source: Path):
    from studio_desktop.core.datasets import DatasetStore
    from studio_desktop.core.importing import import_dataset
    from studio_desktop.core.projects import ProjectService
    from studio_desktop.core.splits import Split, SplitService

    project = ProjectService(ws).create("hazelnut", "anomaly_detection")
    import_dataset(ws, project.id, source)
    records = sorted(DatasetStore(ws, project.id).load().images, key=lambda r: r.source)
    assignments, k = {}, 0
    for r in records:
        if "train/" in r.source.replace("\\", "/"):
            assignments[r.id] = "train"
        else:
            assignments[r.id] = ("val", "test")[k % 2]
            k += 1
    split = Split(id="bench", name="bench", task="anomaly_detection", ratios={"train": 0.5, "val": 0.25, "test": 0.25},
                  anomaly_mode="normal-only", assignments=assignments)
    SplitService(ws, project.id).save(split)
    return project, split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="patchcore_resnet18")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--formats", default=FORMATS, help=f"comma-separated format[:precision] (default {FORMATS})")
    parser.add_argument("--pretrained", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if not HAZELNUT.is_dir():
        sys.exit(f"fixture not found: {HAZELNUT}")
    from studio_desktop.core.experiments import ExperimentService, apply_settings, defaults_for
    from studio_desktop.core.protocol import Emitter
    from studio_desktop.core.workspace import Workspace
    from studio_desktop.ml.export.pipeline import ExportRequest, run_export
    from studio_desktop.worker.evaluate import evaluation_job
    from studio_desktop.worker.train import run_training

    def quiet(events, log):
        return Emitter(events, log, stdout=io.StringIO(), stderr=io.StringIO())

    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.open(Path(tmp) / "ws")
        project, split = _project(ws, HAZELNUT)
        cfg = apply_settings(defaults_for("anomaly_detection"),
                             [f"model={args.model}", f"input_size={args.size}", "batch_size=8",
                              f"pretrained={'true' if args.pretrained else 'false'}", f"split_id={split.id}"],
                             "anomaly_detection")
        svc = ExperimentService(ws, project.id)
        exp = svc.create(cfg, name=args.model)
        t0 = time.monotonic()
        trained = run_training(ws, project.id, exp.id)
        assert trained.status == "completed", trained.error
        fit_s = time.monotonic() - t0
        evaluated = evaluation_job(ws, project.id, exp.id, device="cpu", quiet=True)
        assert evaluated.status == "completed"
        print(f"\n{args.model} at {args.size} px on mvtec_hazelnut ({'pretrained' if args.pretrained else 'untrained'} "
              f"backbone), fitted in {fit_s:.1f} s; {args.threads} threads", file=sys.stderr)
        for spec in args.formats.split(","):
            fmt, _, precision = spec.partition(":")
            t = time.monotonic()
            out = run_export(ws, ExportRequest(project.id, exp.id, format=fmt, precision=precision or "fp32",
                                               threads=args.threads, latency_runs=20, latency_warmup=3),
                             quiet)
            rec = out.record
            if rec is None:
                print(f"{spec}: {out.status} {out.error}", file=sys.stderr)
                continue
            checks = {c.name: c for c in rec.validation.checks}
            v = rec.validation
            rows = ", ".join(f"{r.runtime} {r.precision} {r.median_ms:.1f} ms"
                             + (f" ({r.speedup:.2f}x PyTorch)" if r.speedup else "") for r in rec.latency.rows)
            print(f"{spec}: {out.status} in {time.monotonic() - t:.1f} s on {v.images} images {v.subsets}; "
                  f"max score diff {checks['max score difference'].value:.2e} (limit "
                  f"{checks['max score difference'].limit:.2e}), max map diff {checks['max map difference'].value:.2e}"
                  f", verdicts {checks['verdicts agreeing with PyTorch'].value:.1%} (same input), "
                  f"{checks['verdicts via metadata'].value:.1%} via metadata, score diff via metadata "
                  f"{checks['max score difference via metadata'].value:.2e}; image AUROC {v.metric_pytorch} -> "
                  f"{v.metric_exported}; size {rec.file_size / 1e6:.1f} MB; threshold {rec.metadata['threshold']:.4g} "
                  f"({rec.metadata['threshold_source']}); latency: {rows}", file=sys.stderr)
        ws.close()


if __name__ == "__main__":
    main()
