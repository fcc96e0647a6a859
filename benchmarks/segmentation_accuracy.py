"""Semantic segmentation accuracy with default settings on the procedural sample, CPU, time-boxed.

What a user would do: ``studio sample --task semantic_segmentation``, import, split, ``studio
train`` with the task's defaults on the CPU (no pretrained weights here: the Tiny U-Net from
scratch), then ``studio evaluate`` on the test images. Reports per seed the test mIoU of the
training summary (best checkpoint, letterboxed input pixels) and, when the segmentation evaluator
answers, of ``studio evaluate`` (every image at its original resolution), and the wall time of
training. Goal: test mIoU >= 0.8 within 10 minutes.

    python benchmarks/segmentation_accuracy.py [--seeds 0] [--images N] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TASK = "semantic_segmentation"


def studio(ws: Path, *args: str, timeout: int = 3600, check: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, "-m", "studio_desktop", "--workspace", str(ws), *args],
                         capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise SystemExit(f"studio {' '.join(args)} failed: {res.stderr.strip().splitlines()[-1:]}")
    return res


def _completed(stdout: str) -> dict:
    for line in reversed(stdout.splitlines()):
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "completed":
            return event["summary"]
    raise SystemExit("training printed no completed event")


def _evaluated(ws: Path) -> dict:
    """mIoU of ``studio evaluate`` on the test subset (original resolution)."""
    res = studio(ws, "evaluate", "shapes", "run", "--subsets", "test", "--json", check=False)
    if res.returncode != 0:
        return {"error": (res.stderr.strip().splitlines() or ["?"])[-1]}
    try:
        agg = json.loads(res.stdout)
        test = agg["subsets"]["test"]
        m = test.get("metrics", test)
        return {"miou": float(m["miou"]), "pixel_accuracy": float(m.get("pixel_accuracy", float("nan")))}
    except (ValueError, KeyError, TypeError) as exc:
        return {"error": f"unexpected evaluate output ({exc})"}


def run_once(seed: int, args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        ws, src = Path(tmp) / "ws", Path(tmp) / "sample"
        extra = (["--images", str(args.images)] if args.images else []) + ["--seed", str(seed)]
        studio(ws, "sample", "--task", TASK, str(src), *extra)
        studio(ws, "project", "create", "shapes", "--task", TASK)
        studio(ws, "dataset", "import", "shapes", str(src))
        studio(ws, "split", "create", "shapes", "--seed", str(seed))
        sets = [a for pair in [f"seed={seed}", *args.set] for a in ("--set", pair)]
        t0 = time.perf_counter()
        res = studio(ws, "train", "shapes", "--device", "cpu", "--json", "--name", "run", *sets)
        wall = time.perf_counter() - t0
        summary = _completed(res.stdout)
        evaluated = None if args.no_evaluate else _evaluated(ws)
    test = summary.get("test") or {}
    return {"seed": seed, "wall": wall, "miou": test.get("miou", float("nan")),
            "best_epoch": (summary.get("best") or {}).get("epoch"), "evaluated": evaluated}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=None)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--no-evaluate", action="store_true", help="skip `studio evaluate` (training summary only)")
    args = ap.parse_args()
    print(f"{'seed':>4s} {'mIoU':>6s} {'best ep':>7s} {'wall s':>7s}  evaluate (test, original pixels)")
    worst, walls = 1.0, []
    for seed in (int(v) for v in args.seeds.split(",")):
        r = run_once(seed, args)
        walls.append(r["wall"])
        worst = min(worst, r["miou"])
        ev = r["evaluated"]
        ev_text = "" if ev is None else (ev.get("error") or f"mIoU {ev['miou']:.3f}, pixel accuracy "
                                                           f"{ev['pixel_accuracy']:.3f}")
        print(f"{seed:4d} {r['miou']:6.3f} {r['best_epoch']!s:>7s} {r['wall']:7.0f}  {ev_text}", flush=True)
    print(f"worst test mIoU: {worst:.3f} (goal >= 0.8); training wall time: max {max(walls):.0f} s (goal <= 600 s)")


if __name__ == "__main__":
    main()
