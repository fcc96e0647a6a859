"""Help › Keyboard shortcuts: every shortcut of the window, read from its actions.

The list is collected from the live window (menu actions, the workflow bar, page actions
such as Delete on the project table) rather than written by hand, so it cannot drift from
what the keys really do. A few keys that are handled by widgets without an action (Enter in
a list, arrows in the image browser) are added from :data:`WIDGET_KEYS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLineEdit,
    QMenu,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

#: keys handled inside widgets (no QAction to read them from): (keys, what, where)
WIDGET_KEYS = [
    ("Enter", "Open the selected project", "Project page"),
    ("Double-click", "Open a project / an image", "Project and Dataset pages"),
    ("←  →", "Previous / next image", "Dataset page, image view"),
]


@dataclass(frozen=True)
class ShortcutRow:
    keys: str
    action: str
    where: str


def _clean(text: str) -> str:
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip(".…").strip()


def _where(window, obj) -> str:
    """The menu an action sits in, else the page (dock) that holds it, else 'Window'."""
    menus = [o for o in getattr(obj, "associatedObjects", lambda: [])() if isinstance(o, QMenu)]
    if menus:
        titles = []
        menu: QWidget | None = menus[0]
        while isinstance(menu, QMenu):
            titles.insert(0, _clean(menu.title()))
            parent_action = menu.menuAction()
            parents = [o for o in parent_action.associatedObjects() if isinstance(o, QMenu)]
            menu = parents[0] if parents else None
        return " › ".join(t for t in titles if t)
    widget = obj.parent()
    docks = getattr(window, "docks", {})
    while isinstance(widget, QWidget):
        for dock in docks.values():
            if widget is dock:
                return f"{dock.windowTitle()} page"
        if widget is getattr(window, "workflow", None):
            return "Workflow bar"
        widget = widget.parentWidget()
    return "Window"


def collect_shortcuts(window) -> list[ShortcutRow]:
    """Every (shortcut, action, where) of ``window``'s actions and QShortcuts, sorted by place."""
    rows: dict[tuple[str, str], ShortcutRow] = {}
    for action in window.findChildren(QAction):
        try:
            sequences, text = action.shortcuts(), _clean(action.text()) or _clean(action.toolTip())
        except RuntimeError:  # deleted since (a page rebuilt its menus)
            continue
        where = _where(window, action) if sequences else ""
        if where == "Workflow bar":  # "3 Split" -> "Show the Split page"
            text = f"Show the {re.sub(r'^[0-9]+ ', '', text)} page"
        for seq in sequences:
            keys = seq.toString(QKeySequence.SequenceFormat.NativeText)
            if keys and text:
                rows.setdefault((keys, text), ShortcutRow(keys, text, where))
    for shortcut in window.findChildren(QShortcut):
        try:
            keys = shortcut.key().toString(QKeySequence.SequenceFormat.NativeText)
            text = _clean(shortcut.whatsThis() or shortcut.objectName().replace("_", " "))
        except RuntimeError:
            continue
        if keys and text:
            rows.setdefault((keys, text), ShortcutRow(keys, text, _where(window, shortcut)))
    for keys, text, where in WIDGET_KEYS:
        rows.setdefault((keys, text), ShortcutRow(keys, text, where))
    return sorted(rows.values(), key=lambda r: (r.where != "File", r.where, r.keys))


class ShortcutsDialog(QDialog):
    def __init__(self, window, parent: QWidget | None = None):
        super().__init__(parent or window)
        self.setObjectName("shortcuts_dialog")
        self.setWindowTitle("Keyboard shortcuts")
        self.rows = collect_shortcuts(window)
        lay = QVBoxLayout(self)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search shortcuts…")
        self.search.setClearButtonEnabled(True)
        self.search.setToolTip("Show only the shortcuts whose keys, action or place contain this text")
        lay.addWidget(self.search)
        self.table = QTableWidget(len(self.rows), 3, self)
        self.table.setObjectName("shortcuts_table")
        self.table.setHorizontalHeaderLabels(["Keys", "Action", "Where"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        for i, row in enumerate(self.rows):
            for j, value in enumerate((row.keys, row.action, row.where)):
                item = QTableWidgetItem(value)
                if j == 0:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(i, j, item)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        lay.addWidget(self.table, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.search.textChanged.connect(self._filter)
        self.resize(640, 520)

    def _filter(self, text: str) -> None:
        needle = text.casefold().strip()
        for i, row in enumerate(self.rows):
            hay = f"{row.keys} {row.action} {row.where}".casefold()
            self.table.setRowHidden(i, bool(needle) and needle not in hay)
