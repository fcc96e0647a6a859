"""The report as PDF through Qt's own rich-text engine (QTextDocument + QPdfWriter): no browser
engine to ship, and the same HTML file as its source."""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import QMarginsF, QSizeF
from PySide6.QtGui import QImage, QPageLayout, QPageSize, QPainter, QPdfWriter, QTextDocument

from ...core.errors import StoreError

RESOLUTION = 150
_PAGE = re.compile(rb"/Type\s*/Page\b")


def document(html: str) -> QTextDocument:
    doc = QTextDocument()
    doc.setHtml(html)
    return doc


def write_pdf(html: str, path: str | Path) -> int:
    """Write ``html`` as an A4 PDF; returns the number of pages. Written beside and renamed, so a
    failed write never leaves a half PDF under the final name."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    writer = QPdfWriter(str(tmp))
    writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    writer.setPageMargins(QMarginsF(15, 15, 15, 15), QPageLayout.Unit.Millimeter)
    writer.setResolution(RESOLUTION)
    writer.setTitle(re.sub(r"<[^>]+>", "", html.split("<title>", 1)[-1].split("</title>", 1)[0]) if "<title>" in html
                    else "AI Studio report")
    writer.setCreator("AI Studio")
    doc = document(html)
    doc.print_(writer)
    del writer  # closes the file
    try:
        pages = pdf_page_count(tmp)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"cannot write the PDF: {exc.strerror or exc}", path=path) from None
    return pages


def pdf_page_count(path: str | Path) -> int:
    """Pages of a PDF written by Qt (its page objects are stored uncompressed)."""
    return len(_PAGE.findall(Path(path).read_bytes()))


def render_first_page(html: str, width_px: int = 900) -> QImage:
    """The report's first page as an image, laid out as on A4 paper (previews, screenshots)."""
    doc = document(html)
    height_px = round(width_px * 297 / 210)
    doc.setPageSize(QSizeF(width_px, height_px))
    image = QImage(width_px, height_px, QImage.Format.Format_RGB32)
    image.fill(0xFFFFFFFF)
    p = QPainter(image)
    doc.drawContents(p)
    p.end()
    return image


__all__ = ["document", "pdf_page_count", "render_first_page", "write_pdf"]
