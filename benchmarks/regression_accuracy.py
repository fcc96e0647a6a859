"""Regression accuracy with default settings on the procedural sample, CPU, time-boxed.

What a user would do: ``studio sample --task regression``, import, split, ``studio train`` with
the task's defaults on the CPU, then ``studio evaluate`` on the test images. Reports, per seed and
per target, the test MAE as a fraction of the baseline's (a model predicting the training mean;
goal ≤ 0.25) and R² (goal ≥ 0.9), and the wall time of training (goal ≤ 5 minutes).

    python benchmarks/regression_accuracy.py [--seeds 0,1,2] [--images N] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def studio(ws: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, "-m", "studio_desktop", "--workspace", str(ws), *args],
                         capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise SystemExit(f"studio {' '.join(args)} failed: {res.stderr.strip().splitlines()[-1:]}")
    return res


def run_once(seed: int, args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        ws, src = Path(tmp) / "ws", Path(tmp) / "sample"
        extra = (["--images", str(args.images)] if args.images else []) + ["--seed", str(seed)]
        studio(ws, "sample", "--task", "regression", str(src), *extra)
        studio(ws, "project", "create", "discs", "--task", "regression")
        studio(ws, "dataset", "import", "discs", str(src))
        studio(ws, "split", "create", "discs", "--seed", str(seed))
        sets = [a for pair in [f"seed={seed}", *args.set] for a in ("--set", pair)]
        t0 = time.perf_counter()
        studio(ws, "train", "discs", "--device", "cpu", "--json", "--name", "run", *sets)
        wall = time.perf_counter() - t0
        agg = json.loads(studio(ws, "evaluate", "discs", "run", "--subsets", "test", "--json").stdout)
    test = agg["subsets"]["test"]
    return {"seed": seed, "wall": wall, "images": test["images"],
            "targets": [{"name": t["name"], "mae": t["metrics"]["mae"], "baseline": t["baseline"]["mae"],
                         "r2": t["metrics"]["r2"]} for t in test["per_target"]]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=None)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--set", action="append", default=[])
    args = ap.parse_args()
    print(f"{'seed':>4s} {'target':>11s} {'test MAE':>9s} {'baseline':>9s} {'ratio':>6s} {'R2':>6s} {'wall s':>7s}")
    worst_ratio, worst_r2, walls = 0.0, 1.0, []
    for seed in (int(v) for v in args.seeds.split(",")):
        r = run_once(seed, args)
        walls.append(r["wall"])
        for t in r["targets"]:
            ratio = t["mae"] / t["baseline"]
            worst_ratio, worst_r2 = max(worst_ratio, ratio), min(worst_r2, t["r2"])
            print(f"{seed:4d} {t['name']:>11s} {t['mae']:9.4g} {t['baseline']:9.4g} {ratio:6.3f} {t['r2']:6.3f} "
                  f"{r['wall']:7.0f}", flush=True)
    print(f"worst test MAE / baseline MAE: {worst_ratio:.3f} (goal <= 0.25); worst R2: {worst_r2:.3f} (goal >= 0.9)")
    print(f"training wall time: max {max(walls):.0f} s (goal <= 300 s)")


if __name__ == "__main__":
    main()
