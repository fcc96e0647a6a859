"""Background page building after start-up: a page's module is imported in a thread, so a
slow import (pyqtgraph, numpy) never freezes the window; only construction runs on the GUI thread."""

from __future__ import annotations

import textwrap
import threading
import time

import pytest

from studio_desktop.gui import main_window as main_window_module
from studio_desktop.gui.pages import PAGES, PageSpec

pytestmark = pytest.mark.gui


def test_slow_page_module_is_imported_off_the_gui_thread(monkeypatch, tmp_path, workspace,
                                                         main_window_factory, qtbot):
    (tmp_path / "slow_page_for_prebuild.py").write_text(textwrap.dedent("""
        import threading, time
        from PySide6.QtWidgets import QLabel
        IMPORTED_IN = threading.current_thread().name
        time.sleep(0.4)  # a heavy import

        class SlowPage(QLabel):
            def __init__(self, ctx):
                super().__init__("slow")
                self.built_in = threading.current_thread().name
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(main_window_module, "PAGES", [PAGES[0], PageSpec(
        "slow", "Slow", "slow_page_for_prebuild:SlowPage", "A page whose module imports slowly")])
    monkeypatch.setattr(main_window_module, "PREBUILD_DELAY_MS", 0)
    window = main_window_factory(workspace)
    window.show()
    qtbot.waitExposed(window)

    longest, last = 0.0, time.perf_counter()
    deadline = last + 10
    while "slow" not in window.pages and time.perf_counter() < deadline:
        qtbot.wait(5)  # the event loop keeps turning while the module imports
        now = time.perf_counter()
        longest, last = max(longest, now - last), now
    import slow_page_for_prebuild as module

    page = window.pages["slow"]
    assert module.IMPORTED_IN != threading.main_thread().name
    assert page.built_in == threading.main_thread().name
    assert window.docks["slow"].widget() is page
    assert longest < 0.3  # the 0.4 s import did not block the GUI thread
