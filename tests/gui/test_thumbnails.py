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
