"""Shared fixtures. Qt runs offscreen; QSettings are isolated per test; every test that
starts worker processes must leave none alive (checked by ``no_stray_workers``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parent.parent
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures" / "real"


@pytest.fixture
def workspace_dir(tmp_path: Path) -> Path:
    return tmp_path / "ws"


@pytest.fixture
def workspace(workspace_dir: Path):
    from studio_desktop.core.workspace import Workspace

    ws = Workspace.open(workspace_dir)
    yield ws
    ws.close()


@pytest.fixture
def real_fixtures() -> Path:
    """The shared real-data fixtures; tests using them skip (with the reason) where absent."""
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"real fixtures not found at {SHARED_FIXTURES} (a user's clone has no ../shared)")
    return SHARED_FIXTURES


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path_factory, monkeypatch):
    """Each test gets its own QSettings folder and its own default workspace location."""
    cfg = tmp_path_factory.mktemp("xdg")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(cfg / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(cfg / "data"))
    monkeypatch.delenv("STUDIO_WORKSPACE", raising=False)
    if "PySide6" in sys.modules:
        from PySide6.QtCore import QSettings

        QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(cfg / "config"))
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(cfg / "config"))
    yield


@pytest.fixture(autouse=True)
def _qt_garbage_on_the_main_thread(request):
    """As in the app (gui/gc_policy.py): during a GUI test there is no automatic cyclic collection,
    which could run in one of its worker threads and destroy widgets there (CI once deadlocked
    so); what it left is collected on the main thread after it, and a full collection on the
    main thread precedes the first non-GUI test after GUI tests, so that no Qt garbage is left
    when automatic collection comes back. Other tests keep it on, as the ML worker processes do
    (off for them measured 13 % slower)."""
    import gc

    gui = request.node.get_closest_marker("gui") is not None or bool({"qtbot", "qapp"} & set(request.fixturenames))
    if gui:
        gc.disable()
    elif not gc.isenabled():  # the first test after GUI tests
        gc.collect()
        gc.enable()
    yield
    if gui:
        gc.collect(0)  # everything the test made is still in the youngest generation
