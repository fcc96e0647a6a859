"""Every way to ask a run to stop sets the same flag: STOP file, stdin `stop`, Ctrl+C/SIGTERM."""

from __future__ import annotations

import io
import os
import signal
import time

import pytest

from studio_desktop.core.procs import request_stop
from studio_desktop.ml.callbacks import StopFlag
from studio_desktop.worker import stops as worker_stops

pytestmark = pytest.mark.ml


def _wait(flag, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end and not flag.requested():
        time.sleep(0.01)
    return flag.requested()


def test_stop_file(tmp_path):
    flag = StopFlag(tmp_path)
    assert not flag.requested()
    request_stop(tmp_path)
    assert flag.requested() and "STOP file" in flag.reason


def test_stdin_stop_line(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("status\nstop\n"))
    flag = StopFlag()
    worker_stops.watch_stdin(flag)
    assert _wait(flag) and flag.reason == "stop requested on stdin"
    eof = StopFlag()
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # EOF (parent closed the pipe) is not a stop
    worker_stops.watch_stdin(eof)
    time.sleep(0.2)
    assert not eof.requested()


def test_ctrl_c_is_a_graceful_stop_then_an_abort():
    old_int, old_term = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        flag = StopFlag()
        worker_stops.install_signal_handlers(flag)
        os.kill(os.getpid(), signal.SIGINT)  # first Ctrl+C: no exception, just the request
        assert _wait(flag) and "Ctrl+C" in flag.reason
        with pytest.raises(KeyboardInterrupt):  # second Ctrl+C: abort
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
        term = StopFlag()
        worker_stops.install_signal_handlers(term)
        os.kill(os.getpid(), signal.SIGTERM)
        assert _wait(term) and term.reason == "terminated"
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
