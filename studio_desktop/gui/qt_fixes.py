"""Work-around for a defect of the Qt binding that would crash the app after a while.

PySide6 6.12.0 returns ``None`` from every void method (``QTimer.stop()``, ``QLabel.setText()``
...) and ``True``/``False`` from ``SignalInstance.emit``/``disconnect`` without taking a
reference, as if these objects were immortal. They are immortal from Python 3.12 on, but on
Python 3.11 they are ordinary ref-counted objects: every such call lowers their count by one
until the interpreter aborts with "none_dealloc: deallocating None" or "bool_dealloc"
(measured: ~10 million ``QTimer.stop()`` calls, far fewer in a long session, since the count
starts in the tens of thousands; a GUI test run hit it).

:func:`install` measures whether the binding has the defect and, only then, gives ``None``,
``True`` and ``False`` a reference count so large (2**60) that no session can exhaust it: the
same thing Python 3.12 does by making them immortal. These objects are never freed anyway, so
this changes nothing else. Imported by ``studio_desktop.gui`` before any Qt call.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject, Signal

PIN = 1 << 60
_installed = False


class _Probe(QObject):
    ping = Signal()


def _add_refs(obj, n: int) -> None:
    ctypes.c_ssize_t.from_address(id(obj)).value += n


def binding_drops_references() -> bool:
    """Whether void calls / emit lose a reference to None / True (measured, not assumed)."""
    probe = _Probe()
    n = 16
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(n):
        probe.blockSignals(False)  # a void-ish call returning a bool
        probe.ping.emit()
        probe.setObjectName("probe")  # a void call
    lost_none = none_before - sys.getrefcount(None)
    lost_true = true_before - sys.getrefcount(True)
    # give back what the probe itself took
    if lost_none > 0:
        _add_refs(None, lost_none)
    if lost_true > 0:
        _add_refs(True, lost_true)
    return lost_none >= n or lost_true >= n


def install() -> bool:
    """Pin None/True/False when (and only when) the running binding has the defect."""
    global _installed
    if _installed:
        return True
    if sys.version_info >= (3, 12) or not binding_drops_references():
        return False
    for obj in (None, True, False):
        _add_refs(obj, PIN)
    _installed = True
    return True


install()
