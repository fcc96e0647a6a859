"""Work-arounds for defects of the Qt binding that would crash the app.

PySide6 6.12.0's ``SignalInstance.emit`` returns ``True`` without taking a reference to it.
On Python 3.11 ``True`` is an ordinary ref-counted object, so every ``signal.emit(...)``
from Python lowers its count by one until the interpreter aborts with "bool_dealloc:
deallocating True or False" (seen after a few thousand emits: a training run's progress
events alone would crash the GUI). :func:`install` measures whether the running binding has
the defect and, only then, wraps ``emit`` so that it gives back the reference it took.
Imported by ``studio_desktop.gui`` so that every GUI module gets the fix.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject, Signal, SignalInstance

_installed = False


class _Probe(QObject):
    ping = Signal()


def _incref(obj) -> None:
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))


def emit_steals_bool_reference() -> bool:
    """Whether ``emit`` loses a reference to the bool it returns (measured, not assumed)."""
    probe = _Probe()
    n = 16
    before = sys.getrefcount(True)
    for _ in range(n):
        probe.ping.emit()
    lost = before - sys.getrefcount(True)
    for _ in range(max(0, lost)):  # give back what the probe itself took
        _incref(True)
    return lost >= n


def install() -> bool:
    """Patch ``SignalInstance.emit`` when (and only when) the binding has the defect."""
    global _installed
    if _installed:
        return True
    if not emit_steals_bool_reference():
        return False
    original = SignalInstance.emit

    def emit(self, *args):
        result = original(self, *args)
        if result is True or result is False:
            _incref(result)
        return result

    emit.__doc__ = original.__doc__
    SignalInstance.emit = emit
    _installed = True
    return True


install()
