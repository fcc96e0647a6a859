"""Render the app icon (resources/icons/app.svg) for the desktops: PNGs, .ico and .icns.

    python packaging/make_icons.py OUT_DIR

writes ``OUT_DIR/hicolor/<n>x<n>/apps/ai-studio.png`` (the freedesktop icon theme layout that
packaging/install.sh copies into ~/.local/share/icons), ``OUT_DIR/app.png`` (512 px),
``OUT_DIR/app.ico`` (Windows, 16-256 px) and ``OUT_DIR/app.icns`` (macOS). The SVG stays the
one source; every size is drawn from it, so icons are sharp at every scale (no scaled bitmap).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICON_NAME = "ai-studio"


def render(svg: Path, out: Path) -> list[Path]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841 - painting needs one
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"make_icons: {svg} is not a valid SVG file")
    written: list[Path] = []
    pngs: dict[int, Path] = {}
    for size in SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        target = out / "hicolor" / f"{size}x{size}" / "apps" / f"{ICON_NAME}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not image.save(str(target)):
            raise SystemExit(f"make_icons: could not write {target}")
        pngs[size] = target
        written.append(target)
    scalable = out / "hicolor" / "scalable" / "apps" / f"{ICON_NAME}.svg"
    scalable.parent.mkdir(parents=True, exist_ok=True)
    scalable.write_bytes(svg.read_bytes())
    written.append(scalable)

    from PIL import Image

    big = Image.open(pngs[512]).convert("RGBA")
    app_png = out / "app.png"
    big.save(app_png)
    ico = out / "app.ico"
    # each size drawn from the SVG, not downscaled from the big one
    small = [Image.open(pngs[s]).convert("RGBA") for s in SIZES if s <= 256]
    big.save(ico, sizes=[im.size for im in small], append_images=small)
    icns = out / "app.icns"
    big.save(icns, append_images=[Image.open(pngs[s]).convert("RGBA") for s in SIZES if s < 512])
    written += [app_png, ico, icns]
    return written


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python packaging/make_icons.py OUT_DIR", file=sys.stderr)
        return 2
    root = Path(__file__).resolve().parents[1]
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    files = render(root / "resources" / "icons" / "app.svg", out)
    print(f"make_icons: {len(files)} files in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
