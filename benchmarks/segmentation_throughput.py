"""Training throughput of every catalog segmentation network at 256 px on this CPU, against the
Tiny U-Net.

Each model (``ml/models/segmentation.py``, from scratch: weights do not change the speed) trains a
few steps of the segmentation head's own loss (cross-entropy + Dice) on a batch of synthetic
256 x 256 images and masks; the images per second of the timed steps are printed with their ratio
to the teaching network (``tiny_unet``, first in the catalog) measured in the same run, so that a
busy machine moves every figure alike.

    python benchmarks/segmentation_throughput.py [--quick] [--size 256] [--batch 4] [--steps 4] [--threads N]
"""

from __future__ import annotations

import argparse
import time

import torch


def head(classes: int):
    from studio_desktop.core.schemas import ClassInfo, Project
    from studio_desktop.core.train_config import defaults_for
    from studio_desktop.ml.tasks.segmentation import SegmentationHead

    project = Project(id="b", name="bench", task="semantic_segmentation",
                      classes=[ClassInfo(id=i, name=f"c{i}") for i in range(classes)])
    return SegmentationHead(project, defaults_for("semantic_segmentation"))


def images_per_second(name: str, size: int, n: int, steps: int, warmup: int, classes: int = 4) -> float:
    from studio_desktop.ml.models.segmentation import build_segmenter

    h = head(classes)
    model = build_segmenter(name, classes).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(0)
    x = torch.randn((n, 3, size, size), generator=g)
    y = torch.randint(0, classes, (n, size, size), generator=g)
    elapsed = 0.0
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        loss = h.training_loss(model, x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= warmup:
            elapsed += time.perf_counter() - t0
    return steps * n / elapsed


def main() -> None:
    from studio_desktop.core.train_config import MODEL_CATALOG

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 timed steps after 1 warm-up step")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--models", default="", help="comma-separated subset (default: the whole catalog)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    steps, warmup = (2, 1) if args.quick else (args.steps, 1)
    wanted = [m for m in args.models.split(",") if m]
    models = [m for m in MODEL_CATALOG["semantic_segmentation"] if not wanted or m.name in wanted or m.name == "tiny_unet"]
    print(f"training at {args.size} px, batch {args.batch}, {steps} timed steps, {torch.get_num_threads()} threads")
    print(f"{'model':32s} {'params M':>8s} {'images/s':>9s} {'vs Tiny U-Net':>14s}")
    base = None
    for info in models:
        ips = images_per_second(info.name, args.size, args.batch, steps, warmup)
        base = base or ips  # the teaching network comes first in the catalog
        print(f"{info.name:32s} {info.params_millions:8.1f} {ips:9.2f} {ips / base:13.3f}x", flush=True)


if __name__ == "__main__":
    main()
