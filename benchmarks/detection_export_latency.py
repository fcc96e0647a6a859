"""Batch-1 CPU latency of exported detectors: PyTorch eager vs ONNX Runtime vs OpenVINO, at 320 px.

The teaching detector (tiny_fcos) and a catalog model (Faster R-CNN MobileNetV3-Large 320 FPN by
default) are exported by the app's own code (ml/export: the TorchScript-based ONNX exporter, batch
1, OpenVINO IR converted from that ONNX) and loaded by the app's own loaders (fixed thread count,
OpenVINO asked for f32). All runtimes get the same images: real blood smears of the fixture
``coco_bbox_rbc`` letterboxed to 320 px when present, else the procedural detection sample. The
timed single-image calls go runtime after runtime in rotating blocks (``latency.measure_all``),
so load from other programs hits them alike; medians, and ratios against PyTorch eager measured
in the same loop. Before timing, each file's detections are paired with PyTorch's on the same
images (the export's own check), so a fast but wrong file is reported as such.

Speed depends little on the weights, so the networks are freshly initialised (seed 0); note that
a detector's NMS time grows with the number of candidates, which an untrained network has many of.
An untrained network also gives many candidates the very same score (flat smear background): the
runtimes then break those ties differently and keep other boxes of equal score, so the pairing can
be low while the sorted scores agree to 1e-7 (trained networks pair fully: tests/ml/test_export_detection.py).

    python benchmarks/detection_export_latency.py [--threads N] [--runs N] [--models tiny_fcos,...]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from studio_desktop.ml.export import onnx_format, openvino_format
from studio_desktop.ml.export.base import ExportOptions
from studio_desktop.ml.export.detection import DetectionOutputs
from studio_desktop.ml.export.detection_checks import agreement, split_rows
from studio_desktop.ml.export.latency import Contender, measure_all
from studio_desktop.ml.models.detection import build_detector
from studio_desktop.ml.preprocess import Preprocessing

SIZE = 320
FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real" / "coco_bbox_rbc" / "valid"


def images(n: int, size: int) -> tuple[np.ndarray, str]:
    pre = Preprocessing(input_size=size)
    files = sorted(FIXTURE.glob("*.jpg"))[:n]
    what = f"{len(files)} blood smears of coco_bbox_rbc"
    if not files:
        from studio_desktop.core.samples import write_sample

        folder = write_sample("object_detection", Path(tempfile.mkdtemp()) / "s", images=n, seed=0)
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".png", ".jpg"))[:n]
        what = f"{len(files)} images of the procedural detection sample"
    return np.stack([pre.tensor(f).numpy() for f in files]).astype(np.float32), what


def measure(name: str, x: np.ndarray, threads: int, runs: int, folder: Path) -> list[tuple[str, float, str]]:
    torch.manual_seed(0)
    net = DetectionOutputs(build_detector(name, 2, SIZE)).eval()
    options = ExportOptions(metadata={"producer": "benchmark"}, output_names=("detections",), exporter="torchscript")
    log = lambda *a, **k: None  # noqa: E731
    t0 = time.perf_counter()
    onnx = onnx_format.export(net, torch.from_numpy(x[:1]), options, folder / name, log) \
        if (folder / name).mkdir(parents=True) is None else None
    export_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ov = openvino_format.export(net, torch.from_numpy(x[:1]), options, folder / f"{name}-ov", log) \
        if (folder / f"{name}-ov").mkdir(parents=True) is None else None
    convert_s = time.perf_counter() - t0
    ort_runner = onnx_format.load(onnx.path, threads)
    ov_runner = openvino_format.load(ov.path, threads)

    @torch.no_grad()
    def eager(b):
        return net(torch.from_numpy(b))

    ref = np.concatenate([eager(x[i:i + 1])[0].numpy() for i in range(len(x))])
    checks = []
    for label, runner in (("ONNX Runtime", ort_runner), ("OpenVINO", ov_runner)):
        out = runner.run_all(x)["detections"]
        ag = agreement(split_rows(ref), split_rows(out), np.full(2, 0.05))
        scores = float(np.abs(np.sort(ref[..., 4], axis=1) - np.sort(out[..., 4], axis=1)).max())
        checks.append(f"{label}: {ag.paired}/{ag.kept_a + ag.kept_b} paired, max box diff "
                      f"{ag.max_box if ag.max_box is not None else float('nan'):.2g} px, sorted scores max diff "
                      f"{scores:.2g}")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        timings = measure_all([Contender("PyTorch eager", "fp32", eager), Contender("ONNX Runtime", "fp32", ort_runner, 1),
                               Contender("OpenVINO", "fp32", ov_runner, 1)], x, warmup=3, runs=runs,
                              throughput_batch=1, min_seconds=0.0)
    finally:
        torch.set_num_threads(previous)
    print(f"\n{name} at {SIZE} px, batch 1, {threads} thread(s), {runs} runs each: ONNX export {export_s:.1f} s, "
          f"OpenVINO export+convert {convert_s:.1f} s; {'; '.join(checks)}")
    base = timings[0].median_ms
    rows = []
    for runtime, t in zip(("PyTorch eager", "ONNX Runtime", "OpenVINO"), timings, strict=True):
        ratio = base / t.median_ms
        print(f"  {runtime:14s} median {t.median_ms:8.1f} ms  p90 {t.p90_ms:8.1f} ms  x{ratio:.2f} vs eager")
        rows.append((runtime, t.median_ms, f"x{ratio:.2f}"))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--models", default="tiny_fcos,fasterrcnn_mobilenet_v3_large_320_fpn")
    args = parser.parse_args(argv)
    x, what = images(args.images, SIZE)
    print(f"images: {what}, letterboxed to {SIZE} px")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            measure(name.strip(), x, args.threads, args.runs, Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
