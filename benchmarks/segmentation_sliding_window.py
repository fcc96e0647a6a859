"""Sliding-window prediction of a 4000 x 3000 photo against whole-image prediction of the same pixels.

The sliding window (``ml/segmentation_infer.py``, tiles mode) cuts the full-resolution image into
overlapping ``--tile`` px tiles and sends ``--tile-batch`` of them through the network at a time;
the baseline sends the whole image through the network at once, resized to the same number of
pixels (what "resize to the input size" would need to keep every pixel). Both use the Tiny U-Net
(untrained: weights do not change the cost). Printed: wall time and peak resident memory of each,
measured in separate child processes so that one's memory does not hide the other's.

    python benchmarks/segmentation_sliding_window.py [--width 4000 --height 3000 --tile 512 --overlap 0.25]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def child(mode: str, width: int, height: int, tile: int, overlap: float, tile_batch: int, classes: int) -> dict:
    import numpy as np
    import torch

    from studio_desktop.core.task_settings import SegmentationSettings
    from studio_desktop.ml.models.segmentation import build_segmenter
    from studio_desktop.ml.preprocess import Preprocessing
    from studio_desktop.ml.segmentation_infer import normalise, predict_probabilities, softmax, torch_runner

    torch.manual_seed(0)
    model = build_segmenter("tiny_unet", classes).eval()
    run = torch_runner(model)
    image = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    if mode == "tiles":
        settings = SegmentationSettings(mode="tiles", crop_size=tile, overlap=overlap, tile_batch=tile_batch)
        probs = predict_probabilities(run, image, Preprocessing(tile), settings)
    else:  # the whole image through the network at once (same pixels: no resize needed)
        x = normalise(image, Preprocessing(tile).mean, Preprocessing(tile).std)[None]
        probs = softmax(run(x))[0]
    elapsed = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"mode": mode, "seconds": elapsed, "peak_mib": peak / 1024, "extra_mib": (peak - base) / 1024,
            "shape": list(probs.shape)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=4000)
    ap.add_argument("--height", type=int, default=3000)
    ap.add_argument("--tile", type=int, default=512)
    ap.add_argument("--overlap", type=float, default=0.25)
    ap.add_argument("--tile-batch", type=int, default=4)
    ap.add_argument("--classes", type=int, default=4)
    ap.add_argument("--child", default="")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.width, args.height, args.tile, args.overlap, args.tile_batch,
                               args.classes)))
        return
    print(f"{args.width} x {args.height} image, Tiny U-Net, {args.classes} classes; tiles {args.tile} px, overlap "
          f"{args.overlap}, {args.tile_batch} tiles a batch")
    results = {}
    for mode in ("tiles", "whole"):
        out = subprocess.run([sys.executable, __file__, "--child", mode, *sys.argv[1:]], capture_output=True,
                             text=True)
        if out.returncode != 0:
            print(f"{mode}: failed ({out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode})")
            continue
        results[mode] = r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{mode:6s} {r['seconds']:8.1f} s   peak {r['peak_mib']:8.0f} MiB (+{r['extra_mib']:.0f} MiB for the "
              f"prediction)  output {r['shape']}", flush=True)
    if len(results) == 2:
        t, w = results["tiles"], results["whole"]
        print(f"sliding window / whole image: time {t['seconds'] / w['seconds']:.2f}x, extra memory "
              f"{t['extra_mib'] / max(1.0, w['extra_mib']):.2f}x")


if __name__ == "__main__":
    main()
