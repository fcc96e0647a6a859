"""Browse a 10,000-image evaluation on the Evaluation page: time to first screen, GUI stalls.

    python benchmarks/evaluation_page.py [--quick] [--images N] [--classes C] [--profile]

Writes a synthetic classification evaluation (scores.npz, results.jsonl, aggregate.json... with
the same writer the GUI tests use, from random logits; every thumbnail is a copy of one small
JPEG), opens it on a real ``EvaluationPage`` (offscreen) and measures, with a 5 ms ``QTimer``
heartbeat on the GUI thread (the approach of ``dataset_browse.py``):

* time from selecting the experiment to the first screen of thumbnails painted, and to the
  curves and bootstrap intervals shown (computed in a background thread),
* the longest heartbeat gap while it opens, while scrolling the grid to the end (every page,
  page by page), and while dragging the decision threshold over 20 positions (goal <= 50 ms),
* GUI-thread time of one operating-point change (decisions, counts, table, confusion matrix,
  grid) and of one confusion-matrix drill-down.

Same-run baselines: parsing results.jsonl with ``json.loads`` (what any viewer must at least do),
and the heartbeat's longest gap while the event loop idles (the machine's noise floor).
Prints figures; not a pass/fail test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "gui"))  # the evaluation writer shared with the GUI tests

from dataset_browse import StallSampler, pct  # noqa: E402  (same folder)


def build(root: Path, n: int, classes: int) -> None:
    import numpy as np
    from _evaluation_factory import make_experiment, make_images, write_evaluation

    from studio_desktop.core.experiments import ExperimentService
    from studio_desktop.core.projects import ProjectService
    from studio_desktop.core.workspace import Workspace

    ws = Workspace.open(root)
    names = [f"class {i:02d}" for i in range(classes)]
    project = ProjectService(ws).create("Evaluation benchmark", "classification", names)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, classes, n).tolist()
    subsets = ["val" if i % 2 else "test" for i in range(n)]
    ids = make_images(ws, project, labels, subsets, png=False)
    exp = make_experiment(ws, project, "bench")
    logits = rng.normal(size=(n, classes)).astype(np.float32)
    logits[np.arange(n), labels] += 2.0  # mostly right, some confidently wrong
    issues = rng.choice(n, size=min(n // 50, 500), replace=False).tolist()
    write_evaluation(ExperimentService(ws, project.id).folder(exp.id), project, ids, subsets, labels, logits,
                     issues=issues)
    ws.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2,000 images instead of 10,000")
    ap.add_argument("--images", type=int, default=None)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--profile", action="store_true", help="sample the GUI thread's stack during stalls")
    ap.add_argument("--build-into", help=argparse.SUPPRESS)
    args = ap.parse_args()
    n = args.images or (2_000 if args.quick else 10_000)
    if args.build_into:
        build(Path(args.build_into), n, args.classes)
        return 0
    tmp = tempfile.TemporaryDirectory(prefix="studio-evalpage-")
    root = Path(tmp.name) / "ws"
    t = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--build-into", str(root), "--images", str(n),
                    "--classes", str(args.classes)], check=True)
    print(f"built an evaluation of {n:,} images, {args.classes} classes, in {time.perf_counter() - t:.1f} s")

    from PySide6.QtCore import QElapsedTimer, QPoint, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from studio_desktop.core.experiments import ExperimentService
    from studio_desktop.core.projects import ProjectService
    from studio_desktop.core.workspace import Workspace
    from studio_desktop.gui.context import AppContext
    from studio_desktop.gui.pages.evaluation import EvaluationPage

    ws = Workspace.open(root)
    project = ProjectService(ws).list()[0]
    exp = ExperimentService(ws, project.id).list()[0]
    results_file = ExperimentService(ws, project.id).folder(exp.id) / "evaluation" / "results.jsonl"
    t = time.perf_counter()
    [json.loads(line) for line in results_file.read_text(encoding="utf-8").splitlines()]
    baseline_parse = time.perf_counter() - t

    app = QApplication.instance() or QApplication([])
    ctx = AppContext(ws)
    page = EvaluationPage(ctx)
    page.open_reports = False
    page.resize(1500, 1000)
    page.show()
    for _ in range(20):
        app.processEvents()
        time.sleep(0.005)

    clock = QElapsedTimer()
    clock.start()
    state = {"phase": "idle"}
    gaps: dict[str, list[int]] = {"idle": [], "open": [], "scroll": [], "drag": []}
    #: GUI-thread CPU time within each gap (ms): a long gap with little CPU is waiting (other
    #: processes on a shared machine, the GIL), not work of this page
    cpu: dict[str, list[float]] = {k: [] for k in gaps}
    last = [clock.elapsed()]
    last_cpu = [time.thread_time()]
    sampler = StallSampler()
    if args.profile:
        sampler.start()

    def beat():
        now, now_cpu = clock.elapsed(), time.thread_time()
        if state["phase"] in gaps:
            gaps[state["phase"]].append(now - last[0])
            cpu[state["phase"]].append((now_cpu - last_cpu[0]) * 1000)
        last[0], last_cpu[0] = now, now_cpu
        sampler.last_beat = time.perf_counter()
        sampler.phase = {"open": "load", "scroll": "scroll", "drag": "scroll"}.get(state["phase"], "")

    import gc

    gc_ms: list[float] = []
    gc_start = [0.0]

    def on_gc(phase, info):  # how long the cyclic garbage collector holds the GUI thread
        if phase == "start":
            gc_start[0] = time.perf_counter()
        elif threading.current_thread() is threading.main_thread():
            gc_ms.append((time.perf_counter() - gc_start[0]) * 1000)

    gc.callbacks.append(on_gc)
    heart = QTimer()
    heart.setInterval(5)
    heart.timeout.connect(beat)
    heart.start()

    def spin(seconds: float) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.001)

    def wait(cond, timeout_s: float = 120.0) -> None:
        end = time.perf_counter() + timeout_s
        while not cond():
            app.processEvents()
            time.sleep(0.001)
            if time.perf_counter() > end:
                raise SystemExit("timed out")

    grid, images = page.images.grid, page.images

    def visible_ids() -> list[str]:
        vp = grid.viewport().rect()
        cell = images.delegate.cell
        out = []
        for y in range(5, vp.height(), cell.height()):
            for x in range(5, vp.width(), cell.width()):
                idx = grid.indexAt(QPoint(x, y))
                if idx.isValid():
                    out.append(images.model.data(idx, Qt.ItemDataRole.UserRole + 1))
        return out

    def screen_painted() -> bool:
        ids = visible_ids()
        return bool(ids) and all(images.loader.is_cached(i) for i in ids)

    state["phase"] = "idle"
    last[0] = clock.elapsed()
    spin(1.0)

    state["phase"] = "open"
    last[0] = clock.elapsed()
    t0 = time.perf_counter()
    ctx.open_project(project)  # selects the newest experiment: ours
    wait(lambda: page.results is not None)
    t_results = time.perf_counter() - t0
    wait(screen_painted)
    spin(0.05)
    first_screen = time.perf_counter() - t0
    wait(lambda: page.view.full is not None)
    t_full = time.perf_counter() - t0
    spin(0.3)
    state["phase"] = "idle"

    # scroll every page of the grid to its end, one screen per frame
    bar = grid.verticalScrollBar()
    state["phase"] = "scroll"
    last[0] = clock.elapsed()
    t, t_cpu = time.perf_counter(), time.thread_time()
    steps = 0
    while True:
        while bar.value() < bar.maximum():
            bar.setValue(bar.value() + bar.pageStep())
            steps += 1
            spin(0.016)
        if images.page >= images.page_count() - 1:
            break
        images.go_page(images.page + 1)
        steps += 1
        spin(0.016)
    scroll_s, scroll_cpu = time.perf_counter() - t, time.thread_time() - t_cpu
    pages = images.page_count()
    state["phase"] = "idle"

    # the curves are drawn when their tab is first shown (hidden tabs wait)
    tabs = page.view.tabs
    tab_ms = []
    for k in range(1, 4):
        t = time.perf_counter()
        tabs.setCurrentIndex(k)
        app.processEvents()
        tab_ms.append((time.perf_counter() - t) * 1000)
    tabs.setCurrentIndex(1)  # the precision-recall curves stay on screen while dragging
    spin(0.2)

    # drag the decision threshold: 20 positions, one per frame
    editor = page.view.editor
    t = time.perf_counter()
    editor.rule.setCurrentIndex(editor.rule.findData("threshold"))
    one_change = time.perf_counter() - t
    spin(0.3)
    state["phase"] = "drag"
    last[0] = clock.elapsed()
    for k in range(20):
        editor.slider.setValue(300 + 20 * k)
        spin(0.033)
    wait(lambda: page.view.full is not None)
    spin(0.2)
    state["phase"] = "idle"

    cm = page.view.confusion
    t = time.perf_counter()
    page.view._cell_clicked(1, 2)
    drill_ms = (time.perf_counter() - t) * 1000
    shown = images.model.rowCount()
    expected = int(cm.counts[1][2])
    heart.stop()

    def line(name: str, values: list[int]) -> str:
        return (f"{max(values, default=0)} ms, 99th percentile {pct(values, 0.99)} ms, "
                f"gaps > 50 ms: {sum(v > 50 for v in values)} of {len(values)}; most GUI-thread CPU in one gap "
                f"{max(cpu[name], default=0):.0f} ms")

    print(f"images: {n:,} ({args.classes} classes, {int((page.results.meta.issue_rank > 0).sum())} likely label errors)")
    print(f"evaluation read (off the GUI thread): {t_results:.2f} s   (baseline json.loads of results.jsonl: "
          f"{baseline_parse:.2f} s, ratio {t_results / max(baseline_parse, 1e-9):.1f}x)")
    print(f"first screen of thumbnails painted: {first_screen:.2f} s; curves and 95 % intervals shown: "
          f"{t_full:.2f} s")
    print(f"longest GUI stall while opening: {line('open', gaps['open'])}   (goal <= 50 ms)")
    print(f"longest GUI stall while scrolling every page to the end ({steps} steps in {scroll_s:.1f} s, "
          f"{pages} pages): {line('scroll', gaps['scroll'])}   (goal <= 50 ms)")
    print(f"GUI-thread CPU while scrolling: {scroll_cpu * 1000 / max(steps, 1):.1f} ms per step")
    print("first showing of the precision-recall / ROC / reliability tabs: "
          + " / ".join(f"{v:.0f}" for v in tab_ms) + " ms")
    print(f"longest GUI stall while dragging the threshold: {line('drag', gaps['drag'])}   (goal <= 50 ms)")
    print(f"one operating-point change on the GUI thread (decisions, counts, table, matrix, grid): "
          f"{one_change * 1000:.0f} ms")
    print(f"confusion-matrix drill-down: {drill_ms:.1f} ms, {shown} images shown = cell count {expected}")
    print(f"idle baseline (heartbeat noise on this machine): {line('idle', gaps['idle'])}")
    print(f"garbage collections on the GUI thread: {len(gc_ms)}, longest {max(gc_ms, default=0):.0f} ms")
    if args.profile:
        sampler.stop.set()
        sampler.report()
    page.shutdown()
    page.close()
    ws.close()
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
