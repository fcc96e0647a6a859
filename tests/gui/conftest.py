"""GUI test helpers. PySide6 is imported here, before the root conftest's autouse
``isolated_settings`` runs, so that every GUI test gets its own QSettings folder."""

from __future__ import annotations

import PySide6.QtCore  # noqa: F401  (see the module docstring)
import pytest


@pytest.fixture
def main_window_factory(qtbot):
    """Build main windows on a workspace; windows are closed (saving their layout) at the end."""
    from studio_desktop.gui.app import build_main_window

    windows = []

    def make(workspace):
        window = build_main_window(workspace)
        qtbot.addWidget(window)
        windows.append(window)
        return window

    yield make
    for w in windows:
        w.close()
