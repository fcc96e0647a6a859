"""Repairs after native libraries that leave the process in a state Python cannot survive.

OpenVINO's CPU plugin installs an alternate signal stack (``sigaltstack``) on the thread that
compiles a model and, when the compiled model is destroyed, puts back the one it found. With two
compiled models destroyed in the order they were made (a validation runner, then the FP32
reference), the second "restores" the first one's stack, which is already freed: the thread's
alternate stack now points at unmapped memory, and the next signal handled on it (Ctrl+C,
SIGTERM, a timer) kills the process with a segmentation fault instead of stopping gracefully.
:func:`repair_signal_stack` notices a dangling alternate stack and turns it off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

SS_DISABLE = 2


class _StackT(ctypes.Structure):
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


def _libc():
    return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def _mapped(address: int) -> bool:
    with open("/proc/self/maps", encoding="ascii", errors="replace") as fh:
        for line in fh:
            lo, _, hi = line.split(" ", 1)[0].partition("-")
            if int(lo, 16) <= address < int(hi, 16):
                return True
    return False


def signal_stack() -> tuple[int, int, bool]:
    """``(address, size, usable)`` of this thread's alternate signal stack (0 when there is none)."""
    if not sys.platform.startswith("linux"):
        return 0, 0, True
    current = _StackT()
    if _libc().sigaltstack(None, ctypes.byref(current)) != 0:
        return 0, 0, True
    address = int(current.ss_sp or 0)
    if current.ss_flags & SS_DISABLE or not address:
        return 0, 0, True
    return address, int(current.ss_size), _mapped(address) and _mapped(address + int(current.ss_size) - 1)


def repair_signal_stack() -> bool:
    """Turn off this thread's alternate signal stack when it points at freed memory; True if it did."""
    address, _, usable = signal_stack()
    if not address or usable:
        return False
    off = _StackT(None, SS_DISABLE, 0)
    return _libc().sigaltstack(ctypes.byref(off), None) == 0


__all__ = ["repair_signal_stack", "signal_stack"]
