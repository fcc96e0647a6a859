"""Image verification, colour modes, EXIF orientation, bombs and thumbnails (core/images.py)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio_desktop.core import images
from studio_desktop.core.images import BadImage, orient_box, thumbnail_from, to_rgb, verify_image


def _bytes(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def exif_jpeg(img: Image.Image, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[images.ORIENTATION_TAG] = orientation
    return _bytes(img, "JPEG", exif=exif.tobytes(), quality=95)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height (no pixel data needed to trip the bomb check)."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("fmt,mode", [("JPEG", "RGB"), ("PNG", "RGBA"), ("BMP", "RGB"), ("TIFF", "RGB"),
                                      ("WEBP", "RGB"), ("PNG", "L"), ("PNG", "P")])
def test_supported_formats_verify_and_thumbnail(tmp_path: Path, fmt: str, mode: str):
    img = Image.new(mode, (48, 32), 100 if mode in ("L", "P") else (10, 200, 30))
    data = _bytes(img, fmt)
    info = verify_image(data)
    assert info.format == fmt and info.raw_size == (48, 32) and info.orientation == 1
    out = tmp_path / "t.jpg"
    thumbnail_from(data, out)
    with Image.open(out) as t:
        assert t.format == "JPEG" and t.mode == "RGB" and t.size == (48, 32)


def test_thumbnail_longest_side_is_256(tmp_path: Path):
    data = _bytes(Image.new("RGB", (1024, 512), (1, 2, 3)), "JPEG")
    thumbnail_from(data, tmp_path / "t.jpg")
    with Image.open(tmp_path / "t.jpg") as t:
        assert max(t.size) == 256 and t.size == (256, 128)


def test_cmyk_jpeg_reads_as_rgb():
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # pure red in CMYK
    img = Image.open(io.BytesIO(_bytes(cmyk, "JPEG")))
    assert img.mode == "CMYK"
    r, g, b = to_rgb(img).getpixel((8, 8))
    assert r > 200 and g < 60 and b < 60


def test_16bit_tiff_is_scaled_to_8bit(tmp_path: Path):
    arr = np.array([[0, 65535], [32768, 1000]], dtype=np.uint16)
    path = tmp_path / "deep.tif"
    Image.fromarray(arr).save(path)
    info = verify_image(path)
    assert info.format == "TIFF" and info.mode.startswith("I;16")
    rgb = to_rgb(Image.open(path))
    assert rgb.mode == "RGB"
    assert rgb.getpixel((1, 0)) == (255, 255, 255) and rgb.getpixel((0, 0)) == (0, 0, 0)
    assert 120 <= rgb.getpixel((0, 1))[0] <= 135
    thumbnail_from(path, tmp_path / "t.jpg")
    assert (tmp_path / "t.jpg").stat().st_size > 0


def test_rgba_transparent_becomes_white():
    img = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    img.putpixel((1, 1), (0, 0, 255, 255))
    rgb = to_rgb(img)
    assert rgb.getpixel((0, 0)) == (255, 255, 255)
    assert rgb.getpixel((1, 1)) == (0, 0, 255)


def test_corrupt_truncated_unsupported_and_empty():
    with pytest.raises(BadImage, match="not an image"):
        verify_image(b"this is not an image at all")
    jpeg = _bytes(Image.effect_noise((64, 64), 50).convert("RGB"), "JPEG")
    with pytest.raises(BadImage, match="truncated"):
        verify_image(jpeg[: len(jpeg) // 2])
    with pytest.raises(BadImage, match="unsupported image format GIF"):
        verify_image(_bytes(Image.new("P", (8, 8)), "GIF"))


def test_decompression_bomb_is_refused_from_its_header():
    with pytest.raises(BadImage, match="refused"):
        verify_image(png_header_only(100_000, 100_000))


def test_bomb_limit_between_pillow_warning_and_error(monkeypatch):
    data = _bytes(Image.new("L", (64, 64)), "PNG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 3000)  # 4096 px: Pillow warns (not errors)
    with pytest.raises(BadImage, match="decompression bomb"):
        verify_image(data)


@pytest.mark.parametrize("orientation", [2, 3, 4, 5, 6, 7, 8])
def test_orient_point_matches_exif_transpose(orientation: int):
    raw = Image.new("L", (40, 24), 0)
    raw.paste(255, (5, 3, 9, 6))  # a 4x3 block
    exif = Image.Exif()
    exif[images.ORIENTATION_TAG] = orientation
    shown = Image.open(io.BytesIO(_bytes(raw, "PNG", exif=exif.tobytes())))
    assert images.orientation_of(shown) == orientation
    from PIL import ImageOps

    shown = ImageOps.exif_transpose(shown)
    box = orient_box(5, 3, 9, 6, (40, 24), orientation)
    assert shown.getbbox() == tuple(int(round(v)) for v in box)


def test_reoriented_bytes_store_what_the_user_sees():
    raw = Image.new("RGB", (60, 40), (0, 0, 0))
    raw.paste((255, 0, 0), (0, 0, 10, 10))  # red in the raw top-left corner
    data = exif_jpeg(raw, 6)  # 6 = rotate 90 degrees clockwise to display
    info = verify_image(data)
    assert info.raw_size == (60, 40) and info.size == (40, 60) and info.orientation == 6
    out = Image.open(io.BytesIO(images.reoriented_bytes(data, info)))
    assert out.size == (40, 60)
    assert images.orientation_of(out) == 1
    r, g, b = out.getpixel((35, 5))  # raw top-left lands at the displayed top-right
    assert r > 200 and g < 60
