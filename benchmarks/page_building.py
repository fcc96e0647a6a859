"""How long the main window's background page building blocks the GUI thread, page by page.

    python benchmarks/page_building.py

Opens a ``MainWindow`` (offscreen) on an empty workspace and lets it build the pages that are
not shown in idle time after start-up (``MainWindow._prebuild_next``), while a 5 ms ``QTimer``
heartbeat measures the longest gap of the GUI thread's event loop. Each gap is charged to the
page being prepared at that moment (module import in a thread, then widget construction).
Goal: every gap <= ~50 ms, so the window never visibly freezes after start. Prints figures.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from studio_desktop.core.workspace import Workspace
    from studio_desktop.gui import main_window
    from studio_desktop.gui.context import AppContext
    from studio_desktop.gui.pages import PAGES

    tmp = tempfile.TemporaryDirectory(prefix="studio-pages-")
    ws = Workspace.open(Path(tmp.name) / "ws")
    t = time.perf_counter()
    window = main_window.MainWindow(AppContext(ws))
    window.show()
    app.processEvents()
    print(f"window shown in {1000 * (time.perf_counter() - t):.0f} ms (first page: {PAGES[0].title})")

    clock = QElapsedTimer()
    clock.start()
    last = [clock.elapsed()]
    worst: dict[str, int] = {}

    def current() -> str:
        missing = [p.key for p in PAGES if p.key not in window.pages]
        return missing[0] if missing else "done"

    def beat() -> None:
        now = clock.elapsed()
        key = beat.key
        worst[key] = max(worst.get(key, 0), now - last[0])
        last[0] = now
        beat.key = current()

    beat.key = current()
    heart = QTimer()
    heart.setInterval(5)
    heart.timeout.connect(beat)
    heart.start()
    window._prebuild_next()
    end = time.perf_counter() + 60
    while current() != "done" and time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.002)
    for _ in range(20):
        app.processEvents()
        time.sleep(0.005)
    heart.stop()
    for spec in PAGES[1:]:
        error = window.page_errors.get(spec.key, "")
        print(f"{spec.title:12s} longest GUI stall while built: {worst.get(spec.key, 0):4d} ms"
              + (f"   (failed: {error})" if error else ""))
    window.close()
    ws.close()
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
