"""Bundle cold start: time from launching the app to its main window shown, the PyInstaller
bundle (``dist/AI Studio/ai-studio``) against ``python -m studio_desktop`` in the same run.

Each run is a new process started on a workspace with one project per task (no welcome
screen); the app prints ``SHOWN <epoch>`` once the window is on screen and quits
(``STUDIO_STARTUP_PROBE``). The time is from just before the launch to that moment, so it
includes the bundle's bootloader unpacking nothing (one-folder) and Python's start-up. Runs of
the two are interleaved so that machine load affects both alike. Offscreen by default.

    python benchmarks/bundle_startup.py [--bundle "dist/AI Studio/ai-studio"] [--runs 5] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def prepare_workspace(folder: str) -> None:
    from studio_desktop.core.projects import ProjectService
    from studio_desktop.core.workspace import Workspace
    from studio_desktop.tasks import TASKS

    with Workspace.open(folder) as ws:
        service = ProjectService(ws)
        for i, task in enumerate(TASKS):
            service.create(f"Project {i + 1}", task)


def one_run(cmd: list[str], env: dict) -> tuple[float, float]:
    """(seconds from launch to window shown, seconds until the process ended)."""
    launched = time.time()
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    total = time.perf_counter() - start
    shown = [ln for ln in out.stdout.splitlines() if ln.startswith("SHOWN ")]
    if out.returncode != 0 or not shown:
        raise SystemExit(f"{cmd[0]} did not show its window (exit {out.returncode}):\n{out.stderr[-3000:]}")
    return float(shown[-1].split()[1]) - launched, total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=str(ROOT / "dist" / "AI Studio" / "ai-studio"),
                        help="the bundle's executable (default: dist/AI Studio/ai-studio)")
    parser.add_argument("--runs", type=int, default=5, help="runs of each (default 5)")
    parser.add_argument("--quick", action="store_true", help="2 runs each (smoke test)")
    args = parser.parse_args()
    if not Path(args.bundle).is_file():
        raise SystemExit(f"no bundle at {args.bundle}: build it with bash packaging/build.sh")
    runs = 2 if args.quick else args.runs
    results: dict[str, list[tuple[float, float]]] = {"python": [], "bundle": []}
    with tempfile.TemporaryDirectory() as tmp:
        ws = os.path.join(tmp, "ws")
        prepare_workspace(ws)
        env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"),
                   XDG_CONFIG_HOME=os.path.join(tmp, "config"), STUDIO_STARTUP_PROBE="1")
        env.pop("STUDIO_WORKSPACE", None)
        commands = {"python": [sys.executable, "-m", "studio_desktop", "--workspace", ws],
                    "bundle": [args.bundle, "--workspace", ws]}
        first = {name: one_run(cmd, env) for name, cmd in commands.items()}  # first start after a build
        for _ in range(runs):
            for name, cmd in commands.items():
                results[name].append(one_run(cmd, env))

    print(f"launch to main window shown, {runs} runs each after one first start (offscreen, {sys.platform})")
    med = {}
    for name, values in results.items():
        shown = statistics.median(v[0] for v in values)
        total = statistics.median(v[1] for v in values)
        med[name] = shown
        label = "python -m studio_desktop" if name == "python" else f"bundle {Path(args.bundle).name}"
        print(f"  {label:28s} first {first[name][0]:6.2f} s   median {shown:6.2f} s   "
              f"(process until exit {total:6.2f} s)")
    print(f"  ratio bundle / python: {med['bundle'] / med['python']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
