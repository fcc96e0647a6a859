"""Evaluation throughput: our evaluator's loop vs a bare ``torch.no_grad()`` loop, same everything.

One process, one model (the experiment's best.ckpt, loaded once), the same images, the same
DataLoader settings (decoding threads, batch size, the evaluation pipeline) and the same device.
The bare loop only runs the network; ours is the real ``ml/evaluate.py`` loop (outputs cached
as numpy, progress events, stop checks) whose own loop time is read from evaluation.json. The two
alternate round by round so that load from other processes hits both alike; medians are printed.
Metrics, cleanlab and file writing come after the loop and are reported apart.

    python benchmarks/evaluation_throughput.py [--images 600] [--model resnet18] [--size 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from studio_desktop.core.datasets import DatasetStore
from studio_desktop.core.evaluation.store import EvaluationStore
from studio_desktop.core.experiments import ExperimentService, resolve_split
from studio_desktop.core.protocol import Emitter
from studio_desktop.core.workspace import Workspace
from studio_desktop.ml.checkpoint import load_trained
from studio_desktop.ml.data import SampleSet, decode_threads
from studio_desktop.ml.evaluate import Evaluation


def studio(ws: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "studio_desktop", "--workspace", str(ws), *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def bare_loop(ws, trained, records, batch_size: int) -> float:
    pre = trained.preprocessing
    ds = SampleSet(records, DatasetStore(ws, trained.project.id).root, trained.head.target, pre.transform(),
                   pre.detail(), None, threads=decode_threads())
    t0 = time.perf_counter()
    with torch.no_grad():
        for x, _ in DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=0):
            trained.model(x)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=600)
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        wsdir = root / "ws"
        studio(wsdir, "project", "create", "bench", "--task", "classification")
        studio(wsdir, "sample", "--task", "classification", str(root / "s"), "--images", str(args.images))
        studio(wsdir, "dataset", "import", "bench", str(root / "s"))
        studio(wsdir, "split", "create", "bench", "--ratios", "0.2", "0.4", "0.4")
        studio(wsdir, "train", "bench", "--model", args.model, "--epochs", "1", "--set", f"input_size={args.size}",
               "--set", "pretrained=false", "--name", "bench")
        ws = Workspace.open(wsdir)
        from studio_desktop.core.projects import ProjectService

        project = ProjectService(ws).get("bench")
        svc = ExperimentService(ws, project.id)
        exp = svc.get("bench")
        trained = load_trained(ws, project.id, exp.id, "best")
        _, assignments = resolve_split(ws, project.id, trained.config.split_id)
        records = [r for r in DatasetStore(ws, project.id).load().images if assignments.get(r.id) in ("val", "test")]
        order = {"val": 0, "test": 1}
        records.sort(key=lambda r: order[assignments[r.id]])
        ours, bare, after = [], [], []
        bare_loop(ws, trained, records[:64], args.batch_size)  # warm-up
        for _ in range(args.rounds):
            bare.append(bare_loop(ws, trained, records, args.batch_size))
            run = Evaluation(ws, project.id, exp.id, Emitter(stdout=io.StringIO()), batch_size=args.batch_size,
                             device="cpu")
            outcome = run.run()
            assert outcome.status == "completed", outcome.error
            t = EvaluationStore(svc.folder(exp.id)).info().timings
            ours.append(t["loop_s"])
            after.append(t["metrics_s"])
        ws.close()
    b, o = statistics.median(bare), statistics.median(ours)
    n = len(records)
    print(f"evaluation throughput, {args.model} at {args.size} px, batch {args.batch_size}, {n} images, "
          f"{torch.get_num_threads()} threads, {args.rounds} rounds (medians)")
    print(f"  bare no_grad loop : {b:.3f} s  ({n / b:.1f} images/s)")
    print(f"  our evaluator loop: {o:.3f} s  ({n / o:.1f} images/s)")
    print(f"  throughput ratio ours/bare: {b / o:.3f}x  (goal >= 0.9x)")
    print(f"  after the loop (metrics, intervals, label errors, files): {statistics.median(after):.3f} s")


if __name__ == "__main__":
    main()
