"""Training-loop overhead: our Lightning pipeline vs a bare PyTorch loop, same model/data/batches.

Both loops get the same pre-decoded tensors from memory (so decoding and augmentation are out
of the picture), the same batch size, optimizer and seeded shuffling. The optimizer is the one
the app builds (AdamW, constant lr, torch's fused kernel), so the figure is the cost of the
loop around it; the fused kernel itself makes both ~15 % faster than a default
``torch.optim.AdamW`` at 64 px on a CPU. Ours
runs the real StudioModule + ProtocolCallback (progress events, metrics lines, stop checks);
validation and checkpoint writing are off in both, since the bare loop has none. Per-epoch
times are medians over the measured epochs after one warm-up epoch; the two loops alternate
epoch by epoch so that load from other processes hits both alike.

The process first tunes glibc's malloc as every training worker does (``ml/allocator.py``: no
page faults on each step's buffers); ``--malloc default`` measures without it. It applies to
both loops alike; without it the Lightning loop suffered ~100,000 more page faults per epoch
than the bare one at 64 px (an allocation pattern, not computation).

    python benchmarks/training_overhead.py [--quick] [--threads N] [--malloc tuned|default]
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from studio_desktop.core.projects import make_classes
from studio_desktop.core.protocol import Emitter
from studio_desktop.core.schemas import Project
from studio_desktop.core.train_config import defaults_for
from studio_desktop.ml.allocator import keep_freed_memory
from studio_desktop.ml.callbacks import ProtocolCallback, StopFlag
from studio_desktop.ml.module import StudioModule
from studio_desktop.ml.optim import build_optimizer
from studio_desktop.ml.tasks import make_head


class EpochTimer(pl.Callback):
    def __init__(self):
        self.times: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module):
        self._t = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module):
        self.times.append(time.perf_counter() - self._t)


def loader(x, y, batch, seed):
    return DataLoader(TensorDataset(x, y), batch_size=batch, shuffle=True,
                      generator=torch.Generator().manual_seed(seed))


def bare_epoch(model, opt, dl) -> float:
    model.train()
    t = time.perf_counter()
    for xb, yb in dl:
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
    return time.perf_counter() - t


def measure(arch: str, size: int, batches: int, batch: int, epochs: int, tmp: Path) -> tuple[float, float]:
    torch.manual_seed(0)
    n = batches * batch
    x = torch.randn(n, 3, size, size)
    y = torch.randint(0, 3, (n,))
    project = Project(id="bench", name="bench", task="classification", classes=make_classes(["a", "b", "c"]))
    cfg = defaults_for("classification").model_copy(update={
        "model": arch, "pretrained": False, "scheduler": "none", "batch_size": batch, "input_size": size,
        "weight_decay": 0.0, "epochs": epochs + 1, "label_smoothing": 0.0})
    head = make_head(project, cfg)

    # ours: the real module + protocol callback, trained one epoch at a time (alternating with bare)
    ours_model = head.build_model(lambda m, lvl: None)
    bare_model = head.build_model(lambda m, lvl: None)
    bare_model.load_state_dict(ours_model.state_dict())
    module = StudioModule(head, cfg, ours_model, steps_per_epoch=batches)
    emitter = Emitter(tmp / f"{arch}{size}.jsonl", None, stdout=io.StringIO(), stderr=io.StringIO())
    timer = EpochTimer()
    proto = ProtocolCallback(emitter, StopFlag(tmp), metrics_path=tmp / f"{arch}{size}-metrics.jsonl",
                             monitor="val_accuracy", mode="max")
    bare_opt = build_optimizer(bare_model, cfg)
    bare_times: list[float] = []
    for epoch in range(epochs + 1):
        bare_times.append(bare_epoch(bare_model, bare_opt, loader(x, y, batch, epoch)))
        # one epoch per fit, same module (weights carry on): alternating epochs share the machine's load
        trainer = pl.Trainer(max_epochs=1, logger=False, enable_progress_bar=False,
                             enable_model_summary=False, enable_checkpointing=False, num_sanity_val_steps=0,
                             limit_val_batches=0, callbacks=[proto, timer], accelerator="cpu", devices=1)
        trainer.fit(module, train_dataloaders=loader(x, y, batch, epoch))
    emitter.close()
    return statistics.median(bare_times[1:]), statistics.median(timer.times[1:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer batches and epochs")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--malloc", choices=("tuned", "default"), default="tuned",
                    help="tuned: glibc malloc keeps freed memory, as training workers do (ml/allocator.py)")
    ap.add_argument("--only", default="", help="comma-separated cases to run, e.g. resnet18:64")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    # what every training worker does at start (both loops share this process, so both gain)
    tuned = args.malloc == "tuned" and keep_freed_memory()
    import logging
    import warnings

    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    cases = [("resnet18", 64), ("mobilenet_v3_small", 64), ("resnet18", 224), ("mobilenet_v3_small", 224)]
    if args.only:
        cases = [c for c in cases if f"{c[0]}:{c[1]}" in args.only.split(",")]
    print(f"device: cpu, torch threads: {torch.get_num_threads()}, torch {torch.__version__}, "
          f"lightning {pl.__version__}, malloc {'tuned' if tuned else 'default'}")
    print(f"{'model':20s} {'size':>5s} {'batches':>7s} {'bare s/epoch':>13s} {'ours s/epoch':>13s} {'overhead':>9s}")
    with tempfile.TemporaryDirectory() as tmp:
        for arch, size in cases:
            batch = 16
            batches = (6 if size <= 64 else 3) if args.quick else (20 if size <= 64 else 8)
            epochs = 2 if args.quick else (8 if size <= 64 else 4)
            bare, ours = measure(arch, size, batches, batch, epochs, Path(tmp))
            print(f"{arch:20s} {size:5d} {batches:7d} {bare:13.3f} {ours:13.3f} {100 * (ours / bare - 1):8.1f}%",
                  flush=True)
    print("goal: overhead <= 5 %")


if __name__ == "__main__":
    main()
