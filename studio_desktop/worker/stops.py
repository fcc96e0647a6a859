"""Where a graceful stop request can come from, for every job (train, evaluate, export, download).

A job checks one :class:`~studio_desktop.core.procs.StopFlag` between steps; these functions
set it from the other sources: the parent GUI dying (unless the user chose to keep the job
running: a ``DETACHED`` file), a ``stop`` line on stdin, and SIGINT/SIGTERM. The STOP control
file in the job folder is read by the flag itself.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path

from ..core.procs import StopFlag, is_detached, pid_alive


def watch_parent(parent_pid: int, stop, folder_of, interval: float = 1.0) -> None:
    def loop():
        while not stop.requested():
            if not pid_alive(parent_pid):
                folder = folder_of()
                if folder is None or not is_detached(folder):
                    stop.set(f"the app that started this run (pid {parent_pid}) closed")
                return
            time.sleep(interval)

    threading.Thread(target=loop, name="parent-watchdog", daemon=True).start()


def watch_stdin(stop) -> None:
    """Accept ``stop`` lines on stdin when it is a pipe (DESIGN §6); EOF is not a stop request."""
    try:
        if sys.stdin is None or sys.stdin.isatty():
            return
    except (ValueError, OSError):
        return

    def loop():
        try:
            for line in sys.stdin:
                if line.strip().lower() == "stop":
                    stop.set("stop requested on stdin")
                    return
        except (OSError, ValueError):
            return

    threading.Thread(target=loop, name="stdin-stop", daemon=True).start()


TRAINING_STOP_MESSAGE = "stopping after this step and saving last.ckpt (Ctrl+C again to abort)..."


def install_signal_handlers(stop, message: str = TRAINING_STOP_MESSAGE) -> None:
    """First Ctrl+C / SIGTERM: graceful stop after the current step. Second Ctrl+C: abort."""
    if threading.current_thread() is not threading.main_thread():
        return

    def on_signal(signum, frame):
        if stop.requested() and signum == signal.SIGINT:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        stop.set("interrupted (Ctrl+C)" if signum == signal.SIGINT else "terminated")
        print(message, file=sys.stderr)

    signal.signal(signal.SIGINT, on_signal)
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, on_signal)


def wire_stop_sources(stop: StopFlag, folder: Path, parent_pid: int | None = None, *, stdin: bool = True,
                      message: str = "stopping after this batch (Ctrl+C again to abort)...") -> StopFlag:
    """Connect every stop source to ``stop`` for a job writing into ``folder``."""
    stop.folder = folder
    if parent_pid:
        watch_parent(parent_pid, stop, lambda: folder)
    if stdin:
        watch_stdin(stop)
    install_signal_handlers(stop, message)
    return stop
