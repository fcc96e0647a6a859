"""Classification accuracy with default settings on the procedural sample, CPU, time-boxed.

Runs what a user would: ``studio sample --task classification``, import, split, then
``studio train`` with the task's default settings on the CPU, and reports the test accuracy of
best.ckpt (from the ``completed`` event) and the wall time. Goals: ≥ 95 % in ≤ 3 minutes.

The test subset is the split's held-out 10 % (15 images of the 150-image default sample: one
mistake is 93.3 %), so run it with several ``--seed`` values (sample, split and training seed).

    python benchmarks/classification_accuracy.py [--seed N] [--images N] [--threads N] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def studio(ws: Path, *args: str, env=None, timeout: int = 900) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, "-m", "studio_desktop", "--workspace", str(ws), *args],
                         capture_output=True, text=True, env=env, timeout=timeout)
    if res.returncode != 0:
        raise SystemExit(f"studio {' '.join(args)} failed: {res.stderr.strip().splitlines()[-1:]}")
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=None, help="sample size (default: the sample's default)")
    ap.add_argument("--threads", type=int, default=0, help="OMP/torch threads for training (0: default)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the sample, the split and the training")
    ap.add_argument("--set", action="append", default=[], help="override a training setting")
    args = ap.parse_args()
    env = dict(os.environ)
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        ws, src = Path(tmp) / "ws", Path(tmp) / "sample"
        extra = (["--images", str(args.images)] if args.images else []) + ["--seed", str(args.seed)]
        studio(ws, "sample", "--task", "classification", str(src), *extra)
        studio(ws, "project", "create", "shapes", "--task", "classification")
        studio(ws, "dataset", "import", "shapes", str(src))
        studio(ws, "split", "create", "shapes", "--seed", str(args.seed))
        sets = [a for pair in [f"seed={args.seed}", *args.set] for a in ("--set", pair)]
        t0 = time.perf_counter()
        res = studio(ws, "train", "shapes", "--device", "cpu", "--json", *sets, env=env)
        wall = time.perf_counter() - t0
    events = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    started = next(e for e in events if e["event"] == "started")
    summary = events[-1]["summary"]
    test = summary.get("test") or {}
    print(f"seed (sample, split, training): {args.seed}")
    print(f"images train/val/test: {started['images']}, epochs: {summary['epochs']}")
    print(f"best epoch: {summary['best']}")
    print(f"test accuracy: {100 * test.get('accuracy', float('nan')):.1f} %  (goal >= 95 %)")
    print(f"val accuracy:  {100 * summary['val']['accuracy']:.1f} %")
    print(f"wall time of studio train: {wall:.0f} s  (goal <= 180 s)")


if __name__ == "__main__":
    main()
