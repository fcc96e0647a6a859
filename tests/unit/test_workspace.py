"""Workspace location and the single-writer lock (second instance, stale lock)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from studio_desktop.core.errors import WorkspaceLocked
from studio_desktop.core.projects import ProjectService
from studio_desktop.core.workspace import Workspace, default_workspace_dir, resolve_workspace_dir


def test_created_on_first_open(tmp_path):
    root = tmp_path / "new" / "ws"
    with Workspace.open(root) as ws:
        assert ws.writable
        assert (root / "workspace.json").exists()
        assert (root / "projects").is_dir()
        assert ws.info().schema_version == 1


def test_resolution_order(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_WORKSPACE", str(tmp_path / "env"))
    assert resolve_workspace_dir(tmp_path / "arg") == (tmp_path / "arg").resolve()
    assert resolve_workspace_dir(None) == (tmp_path / "env").resolve()
    monkeypatch.delenv("STUDIO_WORKSPACE")
    assert resolve_workspace_dir(None) == default_workspace_dir()


def test_default_is_platform_app_data(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    if sys.platform.startswith("linux"):
        assert default_workspace_dir() == tmp_path / "data" / "ai-studio"


def test_second_instance_is_read_only(tmp_path):
    root = tmp_path / "ws"
    first = Workspace.open(root)
    try:
        second = Workspace.open(root)
        assert first.writable and not second.writable
        assert "in use by another AI Studio" in second.read_only_reason
        assert str(os.getpid()) in second.read_only_reason
        with pytest.raises(WorkspaceLocked):
            ProjectService(second).create("x", "classification")
        second.close()
    finally:
        first.close()
    # after the first closes, a new instance can write
    with Workspace.open(root) as third:
        assert third.writable


def test_lock_held_by_another_process(tmp_path):
    root = tmp_path / "ws"
    code = textwrap.dedent(f"""
        import sys, time
        from studio_desktop.core.workspace import Workspace
        ws = Workspace.open({str(root)!r})
        print("locked" if ws.writable else "not", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        ws = Workspace.open(root)
        assert not ws.writable
        assert f"process {proc.pid}" in ws.read_only_reason
        ws.close()
    finally:
        proc.kill()
        proc.wait()


def test_stale_lock_of_crashed_process_is_recovered(tmp_path):
    """A process that dies holding the lock (kill -9: no cleanup) must not block the next one."""
    root = tmp_path / "ws"
    code = textwrap.dedent(f"""
        import os
        from studio_desktop.core.workspace import Workspace
        ws = Workspace.open({str(root)!r})
        assert ws.writable
        os._exit(0)  # crash: no close(), lock file and owner file left behind
    """)
    subprocess.run([sys.executable, "-c", code], check=True)
    assert (root / ".lock.owner").exists()
    t0 = time.monotonic()
    with Workspace.open(root) as ws:
        assert ws.writable
        ProjectService(ws).create("after crash", "regression")
    assert time.monotonic() - t0 < 5
