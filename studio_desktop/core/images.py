"""Image decoding, verification, EXIF orientation and thumbnails (Pillow only, no Qt, no torch).

Why here and not in the GUI: the importer must decide *before* a file enters the workspace
whether it is a readable image, so that a corrupt or truncated file becomes a one-line reason
in the import report instead of a crash during training months later.

Conventions:
- every failure is a :class:`BadImage` whose message is the reason (the caller adds the file);
- decompression bombs (more pixels than :data:`MAX_PIXELS`) are refused, never decoded;
- "RGB for display/training": greyscale, palette, RGBA (over white), CMYK and 16-bit images
  all come out as 8-bit RGB from :func:`to_rgb`;
- an image whose EXIF orientation is not 1 is stored re-oriented, so that its pixels are what
  the user sees, and annotations drawn on the raw frame are moved with :func:`orient_point`.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

#: refuse images above this many pixels (about 16k x 11k): a bomb, or not a training image
MAX_PIXELS = 178_956_970
THUMBNAIL_SIDE = 256
#: file extensions the importer looks at (everything else in an image folder is reported)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")  # ordered: lookup by stem tries them in turn
#: Pillow format names we accept (a .jpg that is really a GIF is refused by content, not name)
SUPPORTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "BMP", "TIFF", "WEBP"})
#: Pillow's EXIF orientation tag
ORIENTATION_TAG = 0x0112

#: EXIF orientation -> the transpose ImageOps.exif_transpose applies
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class BadImage(Exception):
    """A file that cannot be imported as an image; ``str()`` is the reason in plain words."""


@dataclass(frozen=True)
class ImageInfo:
    """What verification learned about one image file."""

    format: str
    mode: str
    #: size as stored in the file, before EXIF orientation
    raw_size: tuple[int, int]
    #: EXIF orientation (1 = as stored)
    orientation: int = 1

    @property
    def size(self) -> tuple[int, int]:
        """Size as the user sees it (after EXIF orientation)."""
        w, h = self.raw_size
        return (h, w) if self.orientation in (5, 6, 7, 8) else (w, h)


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def _open(source: Path | bytes) -> Image.Image:
    """Open lazily, turning Pillow's many failure modes into :class:`BadImage` reasons."""
    fp = io.BytesIO(source) if isinstance(source, bytes | bytearray) else source
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(fp)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise BadImage(f"refused: more than {MAX_PIXELS:,} pixels (a decompression bomb or a "
                       "scan far too large to train on)") from None
    except UnidentifiedImageError:
        raise BadImage("not an image file Pillow can read (unsupported or corrupt)") from None
    except (OSError, ValueError, SyntaxError) as exc:
        if "truncated" in str(exc).lower():
            raise BadImage("is truncated (the file ends before the image data does)") from None
        raise BadImage(f"cannot be opened: {exc}") from None
    if img.format not in SUPPORTED_FORMATS:
        raise BadImage(f"unsupported image format {img.format} (use JPEG, PNG, BMP, TIFF or WebP)")
    w, h = img.size
    if w < 1 or h < 1:
        raise BadImage(f"has an empty size {w}x{h}")
    if w * h > MAX_PIXELS:
        raise BadImage(f"refused: {w}x{h} is more than {MAX_PIXELS:,} pixels")
    return img


def orientation_of(img: Image.Image) -> int:
    try:
        value = int(img.getexif().get(ORIENTATION_TAG, 1))
    except (ValueError, TypeError, OSError, SyntaxError):
        return 1
    return value if value in _TRANSPOSE else 1


def _load(img: Image.Image) -> None:
    """Decode every pixel: the only reliable way to catch truncated or corrupt data."""
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        img.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        text = str(exc)
        if "truncated" in text.lower():
            raise BadImage("is truncated (the file ends before the image data does)") from None
        raise BadImage(f"is corrupt: {text}") from None


def verify_image(source: Path | bytes) -> ImageInfo:
    """Open and fully decode ``source``; return what it is or raise :class:`BadImage`."""
    img = _open(source)
    with img:
        info = ImageInfo(img.format, img.mode, img.size, orientation_of(img))
        _load(img)
    return info


def to_rgb(img: Image.Image) -> Image.Image:
    """8-bit RGB for any mode: 16-bit/32-bit grey is scaled, alpha is composited over white."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        import numpy as np

        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        arr = np.clip(arr * (255.0 / top), 0, 255).astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def open_rgb(path: Path, *, oriented: bool = True) -> Image.Image:
    """The image as the user sees it, as 8-bit RGB (training, previews)."""
    img = _open(path)
    _load(img)
    if oriented:
        img = ImageOps.exif_transpose(img)
    return to_rgb(img)


def write_thumbnail(img: Image.Image, out: Path, side: int = THUMBNAIL_SIDE) -> None:
    """Save a JPEG thumbnail (longest side ``side``) of an already oriented image."""
    thumb = to_rgb(img)
    thumb.thumbnail((side, side), Image.Resampling.BILINEAR, reducing_gap=2.0)
    out.parent.mkdir(parents=True, exist_ok=True)
    thumb.save(out, "JPEG", quality=85)


def thumbnail_from(source: Path | bytes, out: Path, side: int = THUMBNAIL_SIDE) -> ImageInfo:
    """Verify ``source`` and write its thumbnail in one decode.

    ``draft()`` lets the JPEG decoder scale by 1/2..1/8 while decoding, which is several
    times faster than a full decode; the whole entropy-coded stream is still read, so a
    truncated file is still caught.
    """
    img = _open(source)
    with img:
        info = ImageInfo(img.format, img.mode, img.size, orientation_of(img))
        if img.format == "JPEG":
            # ask for the thumbnail's own size: the decoder picks the largest 1/2..1/8 scale
            # that still covers it in both dimensions
            w, h = img.size
            k = side / max(w, h)
            if k < 1:
                img.draft("RGB", (max(1, int(w * k)), max(1, int(h * k))))
        _load(img)
        oriented = _transpose(img, info.orientation)
        write_thumbnail(oriented, out, side)
    return info


def _transpose(img: Image.Image, orientation: int) -> Image.Image:
    method = _TRANSPOSE.get(orientation)
    return img.transpose(method) if method is not None else img


def transpose_for(img: Image.Image, orientation: int) -> Image.Image:
    """Apply EXIF ``orientation`` to any image of the raw frame (e.g. a label mask)."""
    return _transpose(img, orientation)


def reoriented_bytes(source: bytes, info: ImageInfo) -> bytes:
    """The file re-encoded with its EXIF orientation applied (and the tag reset to 1)."""
    img = _open(source)
    _load(img)
    out = ImageOps.exif_transpose(img)
    buf = io.BytesIO()
    fmt = "JPEG" if info.format in ("JPEG", "MPO") else info.format
    params: dict = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    if fmt == "JPEG" and out.mode not in ("RGB", "L", "CMYK"):
        out = to_rgb(out)
    exif = out.getexif()
    if ORIENTATION_TAG in exif:
        del exif[ORIENTATION_TAG]
    out.save(buf, fmt, exif=exif.tobytes(), **params)
    return buf.getvalue()


# --------------------------------------------------------------- annotations under orientation

def orient_point(x: float, y: float, raw_size: tuple[int, int], orientation: int) -> tuple[float, float]:
    """Where the raw-frame point (x, y) lands after EXIF ``orientation`` is applied."""
    w, h = raw_size
    return {
        1: (x, y),
        2: (w - x, y),
        3: (w - x, h - y),
        4: (x, h - y),
        5: (y, x),
        6: (h - y, x),
        7: (h - y, w - x),
        8: (y, w - x),
    }.get(orientation, (x, y))


def orient_flat(points: list[float], raw_size: tuple[int, int], orientation: int) -> list[float]:
    """A flat [x1, y1, x2, y2, ...] list moved by :func:`orient_point`."""
    out: list[float] = []
    for i in range(0, len(points) - 1, 2):
        out.extend(orient_point(points[i], points[i + 1], raw_size, orientation))
    return out


def orient_box(x1: float, y1: float, x2: float, y2: float, raw_size: tuple[int, int],
               orientation: int) -> tuple[float, float, float, float]:
    ax, ay = orient_point(x1, y1, raw_size, orientation)
    bx, by = orient_point(x2, y2, raw_size, orientation)
    return min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)

