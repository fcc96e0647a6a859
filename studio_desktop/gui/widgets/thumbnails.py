"""Thumbnails decoded off the GUI thread, cached in a bounded LRU, drawn by a grid delegate.

The grid asks :class:`ThumbnailLoader` for a pixmap only while painting a visible cell, so a
100,000-image dataset decodes only what is on screen. Requests go into a most-recent-first
queue (scrolling fast abandons what scrolled past) served by a few ``QThreadPool`` tasks that
decode the stored thumbnail JPEG with ``QImageReader.setScaledSize`` (decoding straight to the
cell size). ``QImage``s come back to the GUI thread through a queued signal and become
``QPixmap``s there (pixmaps are GUI-thread objects).

GUI-thread cost was measured while scrolling 100,000 images (``benchmarks/dataset_browse.py
--profile``): starting a pool task per requested thumbnail cost ~0.25 ms each on the GUI
thread (2 s over a scroll to the end), so decode tasks now stay alive while requests keep
coming (they wait on a condition for :data:`IDLE_EXIT_S` before ending) and a request only
notifies them. Decoded images reach the GUI thread in batches (one queued signal, one repaint).
Lowering the decode threads' OS priority was tried and made stalls worse (a preempted decode
thread holding the GIL keeps the GUI thread waiting), so they run at normal priority.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QRect, QRunnable, QSize, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QImageReader, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QStyle, QStyledItemDelegate

from ..models.images import IdRole, RowRole

#: requests kept waiting; older ones (scrolled past) are dropped first
MAX_PENDING = 256
#: a decode task with nothing to do waits this long for new requests before it ends
IDLE_EXIT_S = 0.5
#: most GUI-thread time spent converting decoded images to pixmaps in one event-loop turn
DRAIN_SLICE_S = 0.008


def decode_thumbnail(path: str, size: QSize) -> QImage:
    """Decode ``path`` scaled to fit ``size`` (keeping its aspect ratio); a null image on failure."""
    reader = QImageReader(path)
    src = reader.size()
    if src.isValid() and src.width() > 0 and src.height() > 0:
        reader.setScaledSize(src.scaled(size, Qt.AspectRatioMode.KeepAspectRatio))
    return reader.read()


def _stop(wake: threading.Condition, state: dict) -> None:
    with wake:
        state["_stopping"] = True
        state["_pending"].clear()
        state["_done"].clear()
        wake.notify_all()


class _Relay(QObject):
    """Tells the GUI thread (queued connection) that decoded images wait in ``_done``."""

    ready = Signal()


class _DecodeTask(QRunnable):
    def __init__(self, loader: ThumbnailLoader):
        super().__init__()
        self.loader = loader
        self.relay = loader._relay

    def run(self) -> None:
        while True:
            job = self.loader._take()
            if job is None:
                return
            key, path, size = job
            if self.loader._deliver(key, decode_thumbnail(path, size)):
                try:
                    self.relay.ready.emit()
                except RuntimeError:
                    return  # the loader is gone


class ThumbnailLoader(QObject):
    """Asynchronous, cached thumbnail pixmaps keyed by image id."""

    #: thumbnails became available (or failed: then ``failed`` holds their ids); emitted once
    #: per delivered batch, with the last image id of the batch
    loaded = Signal(str)

    def __init__(self, size: QSize = QSize(128, 128), capacity: int = 1500, threads: int = 2, parent=None):
        super().__init__(parent)
        self.size = size
        self.capacity = capacity
        self._cache: OrderedDict[str, QPixmap] = OrderedDict()
        self.failed: set[str] = set()
        self._pending: OrderedDict[str, str] = OrderedDict()
        self._inflight: set[str] = set()
        self._running = 0
        self._threads = threads
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(threads)
        self._relay = _Relay()
        self._relay.ready.connect(self._drain, Qt.ConnectionType.QueuedConnection)
        #: decoded images waiting for the GUI thread (one queued signal per batch, not per image)
        self._done: deque[tuple[str, QImage]] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stopping = False
        # the pool waits for its tasks when destroyed: wake idle ones at once (plain closure:
        # the Python wrapper's methods cannot be called once the C++ object is going away)
        wake, state = self._wake, self.__dict__
        self.destroyed.connect(lambda *_: _stop(wake, state))

    def pixmap(self, image_id: str, path: str | Path | Callable[[str], str]) -> QPixmap | None:
        """The cached pixmap, or None after queueing a decode (the caller draws a placeholder).

        ``path`` may be a function of the id, called only when the image must be decoded."""
        pm = self._cache.get(image_id)
        if pm is not None:
            self._cache.move_to_end(image_id)
            return pm
        if image_id in self.failed:
            return None
        with self._lock:
            if image_id in self._inflight:
                return None
            self._pending[image_id] = str(path(image_id) if callable(path) else path)
            self._pending.move_to_end(image_id)
            while len(self._pending) > MAX_PENDING:
                self._pending.popitem(last=False)
            start = self._running < self._threads and not self._stopping
            if start:
                self._running += 1
            else:
                self._wake.notify()
        if start:
            self.pool.start(_DecodeTask(self))
        return None

    def _take(self):
        """Next job for a pool thread (most recent request first), or None to stop: after
        :data:`IDLE_EXIT_S` without requests, or on shutdown."""
        with self._lock:
            if not self._pending and not self._stopping:
                self._wake.wait(IDLE_EXIT_S)
            if not self._pending or self._stopping:
                self._running -= 1
                return None
            key, path = self._pending.popitem(last=True)
            self._inflight.add(key)
            return key, path, self.size

    def _deliver(self, image_id: str, image: QImage) -> bool:
        """Queue a decoded image for the GUI thread; True when the queue was empty (the
        caller then signals once: images decoded meanwhile ride along in the same drain)."""
        with self._lock:
            self._done.append((image_id, image))
            return len(self._done) == 1

    def _drain(self) -> None:
        """Turn decoded images into pixmaps in slices of at most :data:`DRAIN_SLICE_S`, then
        emit ``loaded`` once (the grid repaints once per slice, not once per thumbnail)."""
        deadline = time.perf_counter() + DRAIN_SLICE_S
        last = None
        while True:
            with self._lock:
                if not self._done:
                    break
                image_id, image = self._done.popleft()
                self._inflight.discard(image_id)
            last = image_id
            if image.isNull():
                self.failed.add(image_id)
            else:
                self._cache[image_id] = QPixmap.fromImage(image)
                while len(self._cache) > self.capacity:
                    self._cache.popitem(last=False)
            if time.perf_counter() > deadline:
                QTimer.singleShot(0, self, self._drain)  # the rest next turn: the GUI breathes
                break
        if last is not None:
            self.loaded.emit(last)

    def is_cached(self, image_id: str) -> bool:
        return image_id in self._cache

    def clear(self) -> None:
        """Forget cached pixmaps and queued requests (after images were re-imported or deleted)."""
        with self._lock:
            self._pending.clear()
            self._done.clear()
        self._cache.clear()
        self.failed.clear()

    def shutdown(self) -> None:
        """Drop queued work and wait for running decodes (no thread outlives the page)."""
        _stop(self._wake, self.__dict__)
        self.pool.waitForDone(2000)


def _placeholder(base: QColor) -> QColor:
    """Grey at 25 % over ``base``: the look of the former translucent placeholder, opaque."""
    return QColor((base.red() * 3 + 128) // 4, (base.green() * 3 + 128) // 4, (base.blue() * 3 + 128) // 4)


class ThumbnailDelegate(QStyledItemDelegate):
    """Draws a thumbnail cell: the image (or a placeholder while it loads) and its name."""

    def __init__(self, loader: ThumbnailLoader, path_of, parent=None):
        super().__init__(parent)
        self.loader = loader
        #: image id -> thumbnail path
        self.path_of = path_of
        self.cell = QSize(loader.size.width() + 12, loader.size.height() + 28)

    def sizeHint(self, option, index) -> QSize:
        return self.cell

    def paint(self, painter: QPainter, option, index) -> None:
        image_id = index.data(IdRole)
        row = index.data(RowRole)
        r: QRect = option.rect
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        painter.save()
        if selected:
            painter.fillRect(r, option.palette.highlight())
        thumb = QRect(r.x() + 6, r.y() + 4, self.loader.size.width(), self.loader.size.height())
        pm = self.loader.pixmap(image_id, self.path_of) if image_id else None
        if pm is None:
            # opaque (base colour shaded toward grey): a translucent fill blends every pixel,
            # ~0.1 ms per cell in software rendering, the largest cost of painting a page
            painter.fillRect(thumb.adjusted(8, 8, -8, -8), _placeholder(option.palette.base().color()))
            if image_id in self.loader.failed:
                painter.setPen(QColor("#c0392b"))
                painter.drawText(thumb, Qt.AlignmentFlag.AlignCenter, "no thumbnail")
        else:
            x = thumb.x() + (thumb.width() - pm.width()) // 2
            y = thumb.y() + (thumb.height() - pm.height()) // 2
            painter.drawPixmap(x, y, pm)
        if row is not None and not row.annotated:
            painter.setPen(QPen(QColor("#e67e22"), 2))
            painter.drawEllipse(thumb.right() - 10, thumb.y() + 2, 8, 8)
        painter.setPen(option.palette.highlightedText().color() if selected else option.palette.text().color())
        text_rect = QRect(r.x() + 2, thumb.bottom() + 4, r.width() - 4, 18)
        name = option.fontMetrics.elidedText(index.data() or "", Qt.TextElideMode.ElideMiddle, text_rect.width())
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignCenter, name)
        painter.restore()
