"""Pictures for the report: widgets and images turned into PNG data URIs (the HTML stays one file).

The plots are the page's own widgets (pyqtgraph), shown off screen for a moment at a fixed size
and grabbed, so the report shows exactly what the page shows. Thumbnails are decoded scaled.
"""

from __future__ import annotations

import base64
import html

from PySide6.QtCore import QBuffer, QByteArray, QEventLoop, QIODevice, QSize, Qt
from PySide6.QtGui import QImage, QImageReader, QPixmap
from PySide6.QtWidgets import QApplication, QWidget


def png_bytes(image: QImage | QPixmap) -> bytes:
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG")
    buf.close()
    return bytes(data)


def data_uri(image: QImage | QPixmap) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


def grab(widget: QWidget, size: QSize) -> QPixmap:
    """Render a widget at ``size`` without showing it on screen; the widget is deleted after."""
    widget.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
    widget.resize(size)
    widget.show()
    app = QApplication.instance()
    for _ in range(3):  # layouts and pyqtgraph's view ranges settle in posted events
        app.sendPostedEvents()
        app.processEvents(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)
    pixmap = widget.grab()
    widget.close()
    widget.deleteLater()
    return pixmap


def thumbnail(path: str, size: QSize = QSize(128, 128)) -> QImage | None:
    """An image decoded to fit ``size`` (None when it cannot be read)."""
    reader = QImageReader(path)
    reader.setAutoTransform(True)
    src = reader.size()
    if src.isValid() and src.width() > 0 and src.height() > 0:
        reader.setScaledSize(src.scaled(size, Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    return None if image.isNull() else image


def img_tag(uri: str, width: int, alt: str, height: int | None = None) -> str:
    size = f' width="{width}"' + (f' height="{height}"' if height else "")
    return f'<img src="{uri}"{size} alt="{html.escape(alt)}">'


def image_tag(image: QImage | QPixmap, alt: str, box: int | None = None) -> str:
    """An embedded image at its own size, or fitted into a ``box`` × ``box`` square."""
    w, h = image.width(), image.height()
    if box and max(w, h) > 0:
        k = box / max(w, h)
        w, h = max(1, round(w * k)), max(1, round(h * k))
    return img_tag(data_uri(image), w, alt, h)


__all__ = ["data_uri", "grab", "image_tag", "img_tag", "png_bytes", "thumbnail"]
