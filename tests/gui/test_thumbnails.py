"""Thumbnails decode off the GUI thread, arrive later, are cached in a bounded LRU."""

from __future__ import annotations

import pytest
from PIL import Image
from PySide6.QtCore import QSize

from studio_desktop.gui.widgets.thumbnails import ThumbnailLoader, decode_thumbnail

pytestmark = pytest.mark.gui


def _thumbs(tmp_path, n: int) -> list[str]:
    paths = []
    for i in range(n):
        p = tmp_path / f"t{i}.jpg"
        Image.new("RGB", (64, 32), (10 * i, 50, 90)).save(p, "JPEG")
        paths.append(str(p))
    return paths


def test_decode_scales_to_fit_keeping_aspect(tmp_path):
    (path,) = _thumbs(tmp_path, 1)
    image = decode_thumbnail(path, QSize(32, 32))
    assert (image.width(), image.height()) == (32, 16)


def test_thumbnail_arrives_asynchronously_and_is_cached(qtbot, tmp_path):
    (path,) = _thumbs(tmp_path, 1)
    loader = ThumbnailLoader(size=QSize(32, 32))
    assert loader.pixmap("a", path) is None  # first ask: queued, placeholder drawn meanwhile
    with qtbot.waitSignal(loader.loaded, timeout=3000) as sig:
        pass
    assert sig.args == ["a"]
    pm = loader.pixmap("a", path)
    assert pm is not None and pm.width() == 32 and pm.height() == 16
    loader.shutdown()


def test_unreadable_thumbnail_is_marked_failed_not_retried(qtbot, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    loader = ThumbnailLoader(size=QSize(32, 32))
    loader.pixmap("bad", str(bad))
    qtbot.waitUntil(lambda: "bad" in loader.failed, timeout=3000)
    assert loader.pixmap("bad", str(bad)) is None and not loader.is_cached("bad")
    loader.shutdown()


def test_cache_is_bounded_and_keeps_the_most_recent(qtbot, tmp_path):
    paths = _thumbs(tmp_path, 6)
    loader = ThumbnailLoader(size=QSize(16, 16), capacity=3)
    for i, p in enumerate(paths):
        loader.pixmap(str(i), p)
    qtbot.waitUntil(lambda: sum(loader.is_cached(str(i)) for i in range(6)) == 3 and not loader._pending
                    and not loader._inflight, timeout=5000)
    assert len(loader._cache) == 3
    loader.shutdown()


def test_thumbnails_decoded_meanwhile_arrive_in_one_batch(qtbot, tmp_path):
    """Decoded images are handed over per batch: one ``loaded`` for everything that was ready,
    so a burst of thumbnails costs the grid one repaint instead of one per image."""
    import time

    paths = _thumbs(tmp_path, 12)
    loader = ThumbnailLoader(size=QSize(32, 32))
    emitted = []
    loader.loaded.connect(emitted.append)
    for i, path in enumerate(paths):
        assert loader.pixmap(f"t{i}", path) is None
    deadline = time.perf_counter() + 5
    while len(loader._done) < len(paths) and time.perf_counter() < deadline:
        time.sleep(0.01)  # no event loop: the decode threads queue their images
    qtbot.waitUntil(lambda: all(loader.is_cached(f"t{i}") for i in range(len(paths))), timeout=3000)
    assert len(emitted) == 1
    loader.shutdown()
