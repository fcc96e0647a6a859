"""The augmentation list: an ordered, editable list of random changes applied to training images.

Add from the catalog (``AUGMENTATIONS``, each with its teaching help), remove, reorder (buttons
or drag), switch on/off (check box), and edit the selected step's parameters with their ranges
and help. ``changed`` fires on every edit so the page can refresh the live preview.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ....core.experiments import AUGMENTATIONS
from ....core.train_config import augmentation_note

ROLE_STEP = Qt.ItemDataRole.UserRole
NOTE_STYLE = "color: #8a5a00; font-size: 8pt;"


class AugmentationEditor(QGroupBox):
    changed = Signal()

    def __init__(self, parent=None):
        super().__init__("Augmentations", parent)
        self.setToolTip("Random changes applied to each training image, in this order, every time it "
                        "is shown. They make the model robust to variations it has not seen; the preview "
                        "on the right shows what the model will see.")
        lay = QVBoxLayout(self)
        hint = QLabel("Random changes applied to training images, in order. Tick to switch a step on; "
                      "drag or use the arrows to reorder.")
        hint.setWordWrap(True)
        hint.setStyleSheet("color: #666; font-size: 8pt;")
        lay.addWidget(hint)
        #: the project's task note: why some augmentations are off by default (core AUGMENTATION_NOTES)
        self.task_note = QLabel()
        self.task_note.setWordWrap(True)
        self.task_note.setStyleSheet(NOTE_STYLE)
        self.task_note.hide()
        lay.addWidget(self.task_note)
        self.task = ""
        self.list = QListWidget()
        self.list.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.list.setMaximumHeight(150)
        self.list.currentRowChanged.connect(lambda _r: self._show_params())
        self.list.itemChanged.connect(lambda _i: self._emit())
        self.list.model().rowsMoved.connect(lambda *_: self._emit())
        lay.addWidget(self.list)

        row = QHBoxLayout()
        self.add_button = QToolButton()
        self.add_button.setText("Add")
        self.add_button.setToolTip("Add an augmentation to the end of the list")
        self.add_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.add_button)
        self._actions: dict[str, QAction] = {}
        for name, info in AUGMENTATIONS.items():
            act = QAction(info.display, menu)
            act.setToolTip(info.help)
            act.setStatusTip(info.help)
            act.triggered.connect(lambda _c=False, n=name: self.add_step(n))
            menu.addAction(act)
            self._actions[name] = act
        menu.setToolTipsVisible(True)
        self.add_button.setMenu(menu)
        self.remove_button = QToolButton()
        self.remove_button.setText("Remove")
        self.remove_button.setToolTip("Remove the selected augmentation")
        self.remove_button.clicked.connect(self.remove_current)
        self.up_button = QToolButton()
        self.up_button.setText("▲")
        self.up_button.setToolTip("Move the selected augmentation earlier (applied before the others)")
        self.up_button.clicked.connect(lambda: self.move_current(-1))
        self.down_button = QToolButton()
        self.down_button.setText("▼")
        self.down_button.setToolTip("Move the selected augmentation later")
        self.down_button.clicked.connect(lambda: self.move_current(1))
        for b in (self.add_button, self.remove_button, self.up_button, self.down_button):
            row.addWidget(b)
        row.addStretch(1)
        lay.addLayout(row)

        self.params_box = QWidget()
        self.params_form = QFormLayout(self.params_box)
        self.params_form.setContentsMargins(0, 0, 0, 0)
        self.step_help = QLabel()
        self.step_help.setWordWrap(True)
        self.step_help.setTextFormat(Qt.TextFormat.RichText)
        self.step_help.setStyleSheet("color: #666; font-size: 8pt;")
        lay.addWidget(self.step_help)
        lay.addWidget(self.params_box)
        self._loading = False

    # ----------------------------------------------------------------- data
    def set_task(self, task: str) -> None:
        """Say, for this task, why augmentations are on or off by default (next to each one too)."""
        self.task = task
        note = augmentation_note(task)
        self.task_note.setText(note)
        self.task_note.setVisible(bool(note))
        for name, act in self._actions.items():
            act.setToolTip(self._help(name))
            act.setStatusTip(self._help(name))
        for i in range(self.list.count()):
            item = self.list.item(i)
            item.setToolTip(self._help(item.data(ROLE_STEP)["name"]))
        self._show_params()

    def _help(self, name: str) -> str:
        """An augmentation's help, and the task's note about it."""
        info = AUGMENTATIONS.get(name)
        note = augmentation_note(self.task, name)
        return "\n\n".join(t for t in ((info.help if info else ""), note) if t)

    def set_steps(self, steps: list) -> None:
        """Fill from ``AugmentationStep`` objects or dicts."""
        self._loading = True
        self.list.clear()
        for step in steps:
            data = step.model_dump() if hasattr(step, "model_dump") else dict(step)
            self._append(data)
        self._loading = False
        if self.list.count():
            self.list.setCurrentRow(0)
        self._show_params()

    def steps(self) -> list[dict]:
        out = []
        for i in range(self.list.count()):
            item = self.list.item(i)
            data = dict(item.data(ROLE_STEP))
            data["enabled"] = item.checkState() == Qt.CheckState.Checked
            out.append(data)
        return out

    def _append(self, data: dict) -> QListWidgetItem:
        info = AUGMENTATIONS.get(data["name"])
        item = QListWidgetItem(info.display if info else data["name"])
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsDragEnabled)
        item.setCheckState(Qt.CheckState.Checked if data.get("enabled", True) else Qt.CheckState.Unchecked)
        item.setData(ROLE_STEP, {"name": data["name"], "enabled": data.get("enabled", True),
                                 "params": dict(data.get("params") or {})})
        if info:
            item.setToolTip(self._help(data["name"]))
        self.list.addItem(item)
        return item

    def _emit(self) -> None:
        if not self._loading:
            self.changed.emit()

    # -------------------------------------------------------------- actions
    def add_step(self, name: str) -> None:
        self._append({"name": name, "enabled": True, "params": {}})
        self.list.setCurrentRow(self.list.count() - 1)
        self._emit()

    def remove_current(self) -> None:
        row = self.list.currentRow()
        if row >= 0:
            self.list.takeItem(row)
            self._show_params()
            self._emit()

    def move_current(self, delta: int) -> None:
        row = self.list.currentRow()
        new = row + delta
        if row < 0 or not 0 <= new < self.list.count():
            return
        self._loading = True
        item = self.list.takeItem(row)
        self.list.insertItem(new, item)
        self.list.setCurrentRow(new)
        self._loading = False
        self._emit()

    # ------------------------------------------------------------ parameters
    def _show_params(self) -> None:
        while self.params_form.rowCount():
            self.params_form.removeRow(0)
        item = self.list.currentItem()
        name = item.data(ROLE_STEP)["name"] if item else ""
        info = AUGMENTATIONS.get(name) if item else None
        note = augmentation_note(self.task, name) if info else ""
        self.step_help.setText((f"{html.escape(info.help)}<br><span style='{NOTE_STYLE}'>{html.escape(note)}</span>"
                                if note else html.escape(info.help)) if info else "")
        if item is None or info is None:
            return
        params = item.data(ROLE_STEP)["params"]
        for key, (default, lo, hi, help_) in info.params.items():
            spin = QDoubleSpinBox()
            spin.setRange(lo, hi)
            spin.setDecimals(2)
            spin.setSingleStep((hi - lo) / 20 or 0.05)
            spin.setValue(float(params.get(key, default)))
            spin.setToolTip(f"{help_} (from {lo:g} to {hi:g}; default {default:g})")
            spin.valueChanged.connect(lambda v, k=key, it=item: self._set_param(it, k, v))
            label = QLabel(key.replace("_", " "))
            label.setToolTip(help_)
            self.params_form.addRow(label, spin)

    def _set_param(self, item: QListWidgetItem, key: str, value: float) -> None:
        data = dict(item.data(ROLE_STEP))
        data["params"] = {**data["params"], key: round(float(value), 4)}
        item.setData(ROLE_STEP, data)
        self._emit()
