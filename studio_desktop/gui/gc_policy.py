"""Python's cyclic garbage collector runs on the GUI thread only.

Why: the collector runs in whichever thread happens to allocate when a threshold is crossed. When
that is a worker thread (the sample-project generator, thumbnail decoding, a split preview) and
the garbage holds Qt objects (a closed dialog kept in a reference cycle by a lambda), they are
destroyed off the GUI thread: Qt forbids it for widgets, and PySide deadlocks there on the GIL.
Seen: CI hung for its whole 90 minutes in a test whose sample-project thread, parsing JSON,
collected widgets left by earlier tests (py-spy: ``gc_collect_main`` -> ``QObject::~QObject`` ->
``Shiboken::GilState::acquire``, waiting forever, while the GUI thread waited for the job).

So automatic collection is switched off and a GUI-thread timer collects instead, generation by
generation (the young one every second, the older ones on the interpreter's thresholds): the recipe of
pyqtgraph's ``GarbageCollector``, written here so that start-up does not import pyqtgraph on the
GUI thread (its pages import it in the background). Reference counting, which frees almost
everything, is untouched; only cycles wait for the timer.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer


def collect_due() -> int:
    """Collect the young generation, and the older ones whose thresholds were crossed; returns how
    many unreachable objects were found. The young generation is collected at every call, not only
    past its threshold: a worker's burst of allocations may be freed again before the next tick,
    which lowers the count the threshold is compared with although garbage was left behind."""
    _t0, t1, t2 = gc.get_threshold()
    c0, c1, c2 = gc.get_count()
    found = 0
    if c0 > 0:
        found += gc.collect(0)
        if c1 > t1:
            found += gc.collect(1)
            if c2 > t2:
                found += gc.collect(2)
    return found


class GuiThreadCollector(QObject):
    """Owns the timer; :meth:`start` on the GUI thread, :meth:`stop` restores the old state."""

    def __init__(self, interval_ms: int = 1000, parent: QObject | None = None):
        super().__init__(parent)
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(collect_due)
        self._was_enabled = gc.isenabled()

    def start(self) -> GuiThreadCollector:
        self._was_enabled = gc.isenabled()
        gc.disable()
        self.timer.start()
        return self

    def stop(self) -> None:
        self.timer.stop()
        if self._was_enabled:
            gc.enable()


__all__ = ["GuiThreadCollector", "collect_due"]
