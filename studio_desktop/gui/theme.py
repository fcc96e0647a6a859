"""Look and feel: light/dark Fusion palettes, task colours, icons and badges.

The app uses Qt's Fusion style everywhere so that a palette fully decides the colours and
the window looks the same on Windows, macOS and Linux. "System" follows the desktop's colour
scheme (``QStyleHints.colorScheme``) live; "Light" and "Dark" force one. Task colours and
icons are derived from the one ``TASKS`` registry, so a new task gets them without edits here.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PySide6.QtCore import QRectF, QSettings, Qt
from PySide6.QtGui import QColor, QFont, QGuiApplication, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QApplication

from ..core.projects import PALETTE
from ..tasks import TASKS

ORGANIZATION = "AI Studio"
APPLICATION = "AI Studio"

#: resources/ at the repository (or bundle) root
RESOURCES = Path(__file__).resolve().parents[2] / "resources"

THEMES = {"system": "Follow the system", "light": "Light", "dark": "Dark"}
THEME_KEY = "view/theme"


def settings() -> QSettings:
    """The app's QSettings, named explicitly so tests and the app agree without setup."""
    return QSettings(ORGANIZATION, APPLICATION)


# ------------------------------------------------------------------ palettes
def dark_palette() -> QPalette:
    p = QPalette()
    window, base, text = QColor(45, 45, 48), QColor(30, 30, 32), QColor(230, 230, 230)
    disabled = QColor(127, 127, 127)
    highlight = QColor(42, 130, 218)
    roles = {
        QPalette.ColorRole.Window: window,
        QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base,
        QPalette.ColorRole.AlternateBase: QColor(40, 40, 43),
        QPalette.ColorRole.ToolTipBase: QColor(60, 60, 64),
        QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.PlaceholderText: QColor(150, 150, 150),
        QPalette.ColorRole.Text: text,
        QPalette.ColorRole.Button: QColor(53, 53, 56),
        QPalette.ColorRole.ButtonText: text,
        QPalette.ColorRole.BrightText: QColor(255, 80, 80),
        QPalette.ColorRole.Link: QColor(100, 170, 240),
        QPalette.ColorRole.Highlight: highlight,
        QPalette.ColorRole.HighlightedText: QColor(255, 255, 255),
        QPalette.ColorRole.Light: QColor(70, 70, 74),
        QPalette.ColorRole.Midlight: QColor(60, 60, 64),
        QPalette.ColorRole.Mid: QColor(40, 40, 43),
        QPalette.ColorRole.Dark: QColor(25, 25, 27),
        QPalette.ColorRole.Shadow: QColor(10, 10, 10),
    }
    for role, color in roles.items():
        p.setColor(role, color)
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Highlight, QColor(80, 80, 80))
    return p


def light_palette() -> QPalette:
    app = QApplication.instance()
    return app.style().standardPalette() if app is not None else QPalette()


def system_is_dark() -> bool:
    return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark


def effective_theme(mode: str) -> str:
    """"light" or "dark" for a mode of :data:`THEMES`."""
    if mode == "system":
        return "dark" if system_is_dark() else "light"
    return mode if mode in ("light", "dark") else "light"


def saved_theme() -> str:
    mode = str(settings().value(THEME_KEY, "system"))
    return mode if mode in THEMES else "system"


def apply_theme(mode: str, *, save: bool = False) -> str:
    """Apply a theme mode to the running application; returns the effective "light"/"dark"."""
    app = QApplication.instance()
    if mode not in THEMES:
        mode = "system"
    if save:
        settings().setValue(THEME_KEY, mode)
    effective = effective_theme(mode)
    if app is not None:
        if app.style().name().lower() != "fusion":
            app.setStyle("Fusion")
        app.setPalette(dark_palette() if effective == "dark" else light_palette())
        app.setProperty("studio_theme_mode", mode)
    return effective


def follow_system_changes() -> None:
    """Re-apply the palette when the desktop switches light/dark while mode is "system"."""
    hints = QGuiApplication.styleHints()

    def changed(_scheme) -> None:
        app = QApplication.instance()
        if app is not None and app.property("studio_theme_mode") == "system":
            apply_theme("system")

    hints.colorSchemeChanged.connect(changed)


# ------------------------------------------------------------------ tasks: colours, icons, badges
def task_color(task_id: str) -> QColor:
    """A stable colour per task: its position in the registry picks a palette entry."""
    index = list(TASKS).index(task_id) if task_id in TASKS else len(PALETTE) - 1
    return QColor(PALETTE[index % len(PALETTE)])


def resource(*parts: str) -> Path:
    return RESOURCES.joinpath(*parts)


@cache
def task_icon(task_id: str) -> QIcon:
    task = TASKS.get(task_id)
    path = resource("icons", "tasks", task.icon) if task else None
    return QIcon(str(path)) if path is not None and path.exists() else QIcon()


@cache
def app_icon() -> QIcon:
    path = resource("icons", "app.svg")
    return QIcon(str(path)) if path.exists() else QIcon()


def pixel_ratio() -> float:
    """The highest device-pixel ratio of the connected screens, at least 2 (for pixmaps drawn by
    hand; SVG icons are drawn at the screen's own scale by Qt's icon engine)."""
    app = QGuiApplication.instance()
    screens = app.screens() if app is not None else []
    return max([2.0, *(s.devicePixelRatio() for s in screens)])


@cache
def badge_pixmap(task_id: str, height: int = 18) -> QPixmap:
    """A rounded, coloured label with the task's short badge text (e.g. "DET")."""
    task = TASKS.get(task_id)
    text = task.badge if task else "?"
    font = QFont()
    font.setBold(True)
    font.setPixelSize(int(height * 0.62))
    width = int(height * 0.45 * len(text) + height * 0.9)
    ratio = pixel_ratio()  # drawn at the sharpest screen's scale (at least 2x): crisp on high-DPI
    pix = QPixmap(int(width * ratio), int(height * ratio))
    pix.setDevicePixelRatio(ratio)
    pix.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pix)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(task_color(task_id))
    rect = QRectF(0, 0, width, height)
    painter.drawRoundedRect(rect, height * 0.3, height * 0.3)
    painter.setPen(QColor("white"))
    painter.setFont(font)
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
    painter.end()
    return pix
