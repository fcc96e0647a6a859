"""Training throughput of every catalog detector at 320 px on this CPU, against the teaching one.

Each model (``ml/models/detection.py``, from scratch: weights do not change the speed) trains a
few steps on a batch of synthetic 320 x 320 images with three boxes each; the images per second
of the timed steps are printed with their ratio to the teaching detector (``tiny_fcos``) measured
in the same run, so that a busy machine moves every figure alike.

    python benchmarks/detection_throughput.py [--quick] [--batch 2] [--steps 4] [--threads N]
"""

from __future__ import annotations

import argparse
import time

import torch


def batch(n: int, size: int, classes: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((n, 3, size, size), generator=g)
    targets = []
    for _ in range(n):
        xy = torch.rand((3, 2), generator=g) * (size * 0.7)
        wh = 16 + torch.rand((3, 2), generator=g) * (size * 0.25)
        targets.append({"boxes": torch.cat([xy, xy + wh], 1),
                        "labels": torch.randint(1, classes + 1, (3,), generator=g)})
    return x, targets


def images_per_second(name: str, size: int, n: int, steps: int, warmup: int) -> float:
    from studio_desktop.ml.models.detection import build_detector

    model = build_detector(name, 3, size).train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    x, targets = batch(n, size, 3)
    elapsed = 0.0
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        loss = sum(model(x, targets).values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= warmup:
            elapsed += time.perf_counter() - t0
    return steps * n / elapsed


def main() -> None:
    from studio_desktop.core.train_config import MODEL_CATALOG

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 timed steps after 1 warm-up step (a few minutes)")
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    steps, warmup = (2, 1) if args.quick else (args.steps, 2)
    models = MODEL_CATALOG["object_detection"]
    print(f"training at {args.size} px, batch {args.batch}, {steps} timed steps, {torch.get_num_threads()} threads")
    base = None
    print(f"{'model':40s} {'params M':>8s} {'images/s':>9s} {'vs teaching':>12s}")
    for info in models:
        ips = images_per_second(info.name, args.size, args.batch, steps, warmup)
        base = base or ips  # the teaching detector comes first in the catalog
        print(f"{info.name:40s} {info.params_millions:8.1f} {ips:9.2f} {ips / base:11.3f}x", flush=True)


if __name__ == "__main__":
    main()
