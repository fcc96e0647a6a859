"""Cyclic garbage is collected on the GUI thread, never in a worker thread (gui/gc_policy.py):
a worker collecting Qt objects destroys them off the GUI thread, which deadlocked CI."""

from __future__ import annotations

import gc
import threading

import pytest

from studio_desktop.gui.gc_policy import GuiThreadCollector, collect_due

pytestmark = pytest.mark.gui


class _Cycle:
    def __init__(self, seen: list[str]):
        self.seen, self.me = seen, self

    def __del__(self):
        self.seen.append(threading.current_thread().name)


def _churn() -> None:
    junk = [[] for _ in range(200_000)]  # crosses every collection threshold many times
    del junk


def test_a_worker_thread_never_collects_and_the_gui_timer_does(qtbot):
    gc.enable()  # as a plain interpreter starts (the test session itself runs with it off)
    collector = GuiThreadCollector(interval_ms=20)
    try:
        collector.start()
        assert not gc.isenabled()
        seen: list[str] = []
        _Cycle(seen)
        worker = threading.Thread(target=_churn, name="worker")
        worker.start()
        worker.join()
        assert seen == []  # the worker's allocations collected nothing
        qtbot.waitUntil(lambda: seen == [threading.main_thread().name], timeout=5000)
    finally:
        collector.stop()
    assert gc.isenabled()  # stop() gives back what start() found
    gc.disable()


def test_without_the_policy_the_worker_would_collect():
    """What the policy prevents (so that the test above can fail): with automatic collection
    on, the worker thread's allocations collect the cycle there."""
    seen: list[str] = []
    gc.enable()
    try:
        _Cycle(seen)
        worker = threading.Thread(target=_churn, name="worker")
        worker.start()
        worker.join()
    finally:
        gc.disable()
    collect_due()
    assert seen == ["worker"]


def test_the_app_installs_the_policy(qapp):
    """The app's QApplication (ensure_application, which run_gui starts with) owns one collector."""
    from studio_desktop.gui.app import ensure_application

    for old in qapp.findChildren(GuiThreadCollector):
        old.stop()
        old.deleteLater()
    gc.enable()
    try:
        assert ensure_application([]) is qapp
        ensure_application([])  # idempotent
        collectors = [c for c in qapp.findChildren(GuiThreadCollector) if c.timer.isActive()]
        assert len(collectors) == 1 and not gc.isenabled()
    finally:
        for collector in qapp.findChildren(GuiThreadCollector):
            collector.stop()
            collector.deleteLater()
        gc.disable()
