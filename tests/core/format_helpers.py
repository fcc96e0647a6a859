"""Helpers shared by the format readers' tests: small images on disk, the report as text."""

from __future__ import annotations

from pathlib import Path

from PIL import Image


def write_image(path: Path, size=(32, 24), colour=(0, 0, 0), mode: str = "RGB") -> Path:
    """A plain image file (format from the suffix), creating its folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour if mode == "RGB" else 0).save(path)
    return path


def image_maker(default_size, colour=(0, 0, 0)):
    """``write_image`` with this file's default size and colour; size may still be passed by position."""

    def make(path: Path, size=default_size, mode: str = "RGB") -> Path:
        return write_image(path, size, colour, mode)

    return make


def issue_lines(parsed) -> str:
    """The reader's issues, one ``file: reason [action]`` line each (for ``in`` assertions)."""
    return "\n".join(f"{i.file}: {i.reason} [{i.action}]" for i in parsed.issues)
