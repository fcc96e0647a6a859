"""GUI test helpers. PySide6 is imported here, before the root conftest's autouse
``isolated_settings`` runs, so that every GUI test gets its own QSettings folder."""

from __future__ import annotations

import PySide6.QtCore  # noqa: F401  (see the module docstring)
import pytest


@pytest.fixture
def main_window_factory(qtbot):
    """Build main windows on a workspace (``welcome=True``: with the welcome screen of an empty
    workspace); windows are closed (saving their layout) at the end."""
    from studio_desktop.gui.app import build_main_window

    windows = []

    def make(workspace, welcome: bool = False):
        # the welcome screen (an empty workspace's first start) would take the focus from the window
        from studio_desktop.gui import theme
        from studio_desktop.gui.welcome import SHOW_AT_START_KEY

        theme.settings().setValue(SHOW_AT_START_KEY, welcome)
        window = build_main_window(workspace)
        qtbot.addWidget(window)
        windows.append(window)
        return window

    yield make
    for w in windows:
        w.close()


@pytest.fixture
def ctx(qtbot, workspace):
    """The application context of a page under test; no worker it started outlives the test."""
    import os
    import signal

    from studio_desktop.gui.context import AppContext

    c = AppContext(workspace)
    yield c
    if c.jobs is not None:
        for job in c.jobs.jobs():
            job._timer.stop()
            if job.pid and job.pid != os.getpid():
                try:
                    os.kill(job.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass


@pytest.fixture
def evaluation_page_factory(qtbot, ctx):
    """Evaluation pages on ``ctx`` (reports are written, not opened), shut down at the end."""
    from studio_desktop.gui.pages.evaluation import EvaluationPage

    pages = []

    def make():
        page = EvaluationPage(ctx)
        page.open_reports = False
        qtbot.addWidget(page)
        page.resize(1500, 1000)
        page.show()
        pages.append(page)
        return page

    yield make
    for p in pages:
        p.shutdown()
