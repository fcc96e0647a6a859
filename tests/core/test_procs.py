"""Process liveness and control files shared by the GUI and the worker."""

from __future__ import annotations

import os
import subprocess
import sys

from studio_desktop.core import procs


def test_pid_alive_for_self_dead_and_zombie():
    assert procs.pid_alive(os.getpid())
    assert not procs.pid_alive(None) and not procs.pid_alive(0)
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    assert not procs.pid_alive(p.pid)
    z = subprocess.Popen([sys.executable, "-c", "pass"])
    import time

    time.sleep(1.0)  # finished but not reaped: a zombie must count as dead
    assert not procs.pid_alive(z.pid)
    z.wait()


def test_kill_stops_a_process():
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert procs.pid_alive(p.pid)
        assert procs.kill(p.pid)
        p.wait(timeout=10)
        assert not procs.pid_alive(p.pid)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_control_files(tmp_path):
    assert not procs.stop_requested(tmp_path) and not procs.is_detached(tmp_path)
    assert procs.request_stop(tmp_path).read_text() == "stop\n"
    procs.mark_detached(tmp_path)
    assert procs.stop_requested(tmp_path) and procs.is_detached(tmp_path)
    procs.clear_control_files(tmp_path)
    assert not procs.stop_requested(tmp_path) and not procs.is_detached(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == []
