"""Run a plain function on the thread pool and get its result back on the GUI thread.

Loading a 100,000-record ``dataset.json`` or computing statistics takes seconds; doing it in a
slot would freeze the window. ``BackgroundCall`` runs ``fn()`` in ``QThreadPool`` and delivers
``done(result)`` or ``failed(message)`` through queued signals. A newer call of the same
``BackgroundCall`` supersedes an older one (its late result is dropped).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from ....core.errors import StudioError


class _Relay(QObject):
    finished = Signal(int, object, str)
    partial = Signal(int, object)


class _Task(QRunnable):
    def __init__(self, generation: int, fn: Callable[..., object], relay: _Relay, with_partial: bool):
        super().__init__()
        self.generation, self.fn, self.relay, self.with_partial = generation, fn, relay, with_partial

    def _partial(self, value: object) -> None:
        try:
            self.relay.partial.emit(self.generation, value)
        except RuntimeError:
            pass  # the page was closed meanwhile

    def run(self) -> None:
        try:
            result = self.fn(self._partial) if self.with_partial else self.fn()
            error = ""
        except StudioError as exc:
            result, error = None, str(exc)
        except Exception as exc:  # noqa: BLE001 - reported to the user as one line, never a traceback
            result, error = None, f"{type(exc).__name__}: {exc}"
        try:
            self.relay.finished.emit(self.generation, result, error)
        except RuntimeError:
            pass  # the page was closed while this ran: nobody is waiting for the result


class BackgroundCall(QObject):
    """One kind of background work (e.g. "load the dataset"); only the latest call reports."""

    done = Signal(object)
    failed = Signal(str)
    #: an early, incomplete result (only for calls started with ``with_partial``)
    partial = Signal(object)

    def __init__(self, parent=None, pool: QThreadPool | None = None):
        super().__init__(parent)
        self.pool = pool or QThreadPool.globalInstance()
        self._generation = 0
        self.busy = False
        self._relay = _Relay()
        self._relay.finished.connect(self._finished)
        self._relay.partial.connect(self._partial)

    def start(self, fn: Callable[..., object], with_partial: bool = False) -> None:
        """Run ``fn()`` — or ``fn(report)`` with ``with_partial``, where ``report(value)``
        delivers an early result through :attr:`partial`."""
        self._generation += 1
        self.busy = True
        self.pool.start(_Task(self._generation, fn, self._relay, with_partial))

    def _partial(self, generation: int, value: object) -> None:
        if generation == self._generation:
            self.partial.emit(value)

    def cancel(self) -> None:
        """Forget the running call: its result will be ignored."""
        self._generation += 1
        self.busy = False

    def _finished(self, generation: int, result: object, error: str) -> None:
        if generation != self._generation:
            return
        self.busy = False
        if error:
            self.failed.emit(error)
        else:
            self.done.emit(result)
