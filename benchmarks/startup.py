"""Cold start: time from a fresh interpreter to the main window shown (goal: ≤ 2 s).

Each run is a new ``python -c`` process (nothing cached in memory) that imports the app,
builds the main window offscreen on a temporary workspace with a few projects, shows it,
and prints the time since the interpreter started. It also asserts that no ML library
(torch ...) was imported: the GUI must never pay for that (DESIGN §2).

The baseline, measured in the same run the same way, is a bare ``QApplication`` +
``QMainWindow`` shown: the ratio tells how much AI Studio adds on top of Qt itself.

    python benchmarks/startup.py [--runs 5] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

HEAVY = ("torch", "torchvision", "pytorch_lightning", "lightning", "torchmetrics", "onnxruntime")

APP = textwrap.dedent("""
    import time; t0 = time.perf_counter()
    import sys
    from studio_desktop.gui.app import build_main_window, ensure_application
    from studio_desktop.gui import theme
    from studio_desktop.core.workspace import Workspace
    app = ensure_application([])
    theme.apply_theme(theme.saved_theme())
    ws = Workspace.open(sys.argv[1])
    window = build_main_window(ws)
    window.show()
    app.processEvents()
    elapsed = time.perf_counter() - t0
    heavy = [m for m in HEAVY if m in sys.modules]
    assert not heavy, f"the GUI imported {heavy}"
    print(f"SHOWN {elapsed:.4f}", flush=True)
    window.close()
    ws.close()
""")

BASELINE = textwrap.dedent("""
    import time; t0 = time.perf_counter()
    from PySide6.QtWidgets import QApplication, QMainWindow
    app = QApplication([])
    window = QMainWindow()
    window.resize(1200, 800)
    window.show()
    app.processEvents()
    print(f"SHOWN {time.perf_counter() - t0:.4f}", flush=True)
""")


def prepare_workspace(folder: str) -> None:
    """A workspace with one project per task, like a user's after a few sessions."""
    from studio_desktop.core.projects import ProjectService
    from studio_desktop.core.workspace import Workspace
    from studio_desktop.tasks import TASKS

    with Workspace.open(folder) as ws:
        service = ProjectService(ws)
        for i, task in enumerate(TASKS):
            service.create(f"Project {i + 1}", task)


def one_run(code: str, args: list[str], env: dict) -> tuple[float, float]:
    """(seconds printed by the child since its interpreter ran the code, wall seconds incl. start-up)."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                         timeout=120)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"start-up run failed:\n{out.stderr[-3000:]}")
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("SHOWN "))
    return float(line.split()[1]), wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each variant (default 5)")
    parser.add_argument("--quick", action="store_true", help="2 runs each (smoke test)")
    args = parser.parse_args()
    runs = 2 if args.quick else args.runs

    with tempfile.TemporaryDirectory() as tmp:
        ws = os.path.join(tmp, "ws")
        prepare_workspace(ws)
        env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"),
                   XDG_CONFIG_HOME=os.path.join(tmp, "config"))
        app_code = f"HEAVY = {HEAVY!r}\n" + APP
        results = {"baseline": [], "app": []}
        for _ in range(runs):  # interleaved so that machine load affects both alike
            results["baseline"].append(one_run(BASELINE, [], env))
            results["app"].append(one_run(app_code, [ws], env))

    print(f"cold start to shown window, {runs} runs each, median (offscreen, {sys.platform})")
    medians = {}
    for name, values in results.items():
        inner = statistics.median(v[0] for v in values)
        wall = statistics.median(v[1] for v in values)
        medians[name] = (inner, wall)
        label = "bare QApplication + QMainWindow" if name == "baseline" else "AI Studio main window"
        print(f"  {label:34s} in-process {inner:6.3f} s   wall (incl. interpreter) {wall:6.3f} s")
    ratio = medians["app"][1] / medians["baseline"][1]
    print(f"  ratio AI Studio / bare Qt (wall): {ratio:.2f}x; goal ≤ 2 s wall: "
          f"{'met' if medians['app'][1] <= 2.0 else 'NOT met'}")
    print(f"  no ML library imported by the GUI: checked ({', '.join(HEAVY)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
