"""Processes and control files of running jobs (no Qt, no torch).

The GUI starts training workers detached, so they survive the GUI; it talks to them through
small control files in the experiment folder rather than through a pipe:
``STOP`` asks the worker to stop gracefully, ``DETACHED`` tells it that its parent quitting
on purpose is not a reason to stop. :func:`pid_alive` lets a restarted GUI tell live jobs
from dead ones (``ExperimentService.reconcile``).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

from .store import atomic_write_text

STOP_FILE = "STOP"
DETACHED_FILE = "DETACHED"


def pid_alive(pid: int | None) -> bool:
    """Whether a process with this id is running (a zombie counts as dead)."""
    if not pid or pid <= 0:
        return False
    if sys.platform == "win32":
        return _pid_alive_windows(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return False
    return not _is_zombie(pid)


def process_identity(pid: int | None) -> str | None:
    """Something that tells this process apart from a later one given the same id (Linux: the
    boot and the process's start time; None where the platform does not say), so that a record
    of a job never mistakes a stranger for its worker after the id was reused."""
    if not pid or sys.platform != "linux":
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return f"{boot}:{stat.rsplit(')', 1)[1].split()[19]}"
    except (OSError, IndexError):
        return None


def _is_zombie(pid: int) -> bool:
    """A finished child not yet reaped still answers kill(0); /proc tells the truth on Linux."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    try:
        return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except IndexError:
        return False


def _pid_alive_windows(pid: int) -> bool:  # pragma: no cover - exercised on Windows only
    import ctypes
    from ctypes import wintypes

    PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
    STILL_ACTIVE = 259
    kernel32 = ctypes.windll.kernel32
    handle = kernel32.OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, False, pid)
    if not handle:
        return False
    try:
        code = wintypes.DWORD()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return False
        return code.value == STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def kill(pid: int) -> bool:
    """Terminate ``pid`` at once (after a graceful stop timed out). True when a signal was sent."""
    if not pid_alive(pid):
        return False
    try:
        if sys.platform == "win32":  # pragma: no cover
            import ctypes

            handle = ctypes.windll.kernel32.OpenProcess(1, False, pid)  # PROCESS_TERMINATE
            if not handle:
                return False
            ok = ctypes.windll.kernel32.TerminateProcess(handle, 1)
            ctypes.windll.kernel32.CloseHandle(handle)
            return bool(ok)
        os.kill(pid, signal.SIGKILL)
        return True
    except OSError:
        return False


def request_stop(exp_folder: str | Path) -> Path:
    """Ask the worker of this experiment to stop after its current step (writes ``STOP``)."""
    path = Path(exp_folder) / STOP_FILE
    atomic_write_text(path, "stop\n")
    return path


def stop_requested(exp_folder: str | Path) -> bool:
    return (Path(exp_folder) / STOP_FILE).exists()


def mark_detached(exp_folder: str | Path) -> Path:
    """Tell the worker that its parent (the GUI) may quit without stopping it (writes ``DETACHED``)."""
    path = Path(exp_folder) / DETACHED_FILE
    atomic_write_text(path, "detached\n")
    return path


def is_detached(exp_folder: str | Path) -> bool:
    return (Path(exp_folder) / DETACHED_FILE).exists()


def clear_control_files(exp_folder: str | Path) -> None:
    """Remove ``STOP`` and ``DETACHED`` (done by a worker when it starts or resumes)."""
    for name in (STOP_FILE, DETACHED_FILE):
        try:
            (Path(exp_folder) / name).unlink()
        except FileNotFoundError:
            pass


class StopFlag:
    """A graceful stop request from any source (thread-safe)."""

    def __init__(self, folder: Path | None = None):
        self.folder = folder
        self._event = threading.Event()
        self.reason = ""

    def set(self, reason: str) -> None:
        if not self._event.is_set():
            self.reason = reason
        self._event.set()

    def requested(self) -> bool:
        if self._event.is_set():
            return True
        if self.folder is not None and stop_requested(self.folder):
            self.set("stop requested (STOP file)")
            return True
        return False


__all__ = ["StopFlag", "pid_alive", "process_identity", "kill", "request_stop", "stop_requested", "mark_detached",
           "is_detached", "clear_control_files", "STOP_FILE", "DETACHED_FILE"]


#: set by the first process of a multi-GPU (DDP) run; Lightning starts the other processes with
#: the same command line and environment, so they train this experiment instead of creating one
EXPERIMENT_ENV = "STUDIO_EXPERIMENT_ID"


def is_secondary_rank() -> bool:
    """Whether this process is one of the extra copies Lightning starts for a multi-GPU (DDP) run.

    Those copies train alongside the first but neither write shared files nor speak the protocol."""
    return any(os.environ.get(v, "0") not in ("", "0") for v in ("LOCAL_RANK", "NODE_RANK"))
