"""The Training form's "task settings" section, built from the task's settings model
(``core/task_settings.py``), so a task that declares settings gets its widgets without any page code.

A widget per field from its type: a choice list for a ``Literal``, a number (typed as text, so
validation explains a limit instead of a spin box clamping it) for ``float`` / ``int``, a check
box for ``bool``, a small editor with one weight per output for ``dict[str, float]`` and a check
list of the outputs for ``list[str]`` (a regression's targets). Each field's description is its
tooltip and the hint line under it; validation errors appear under the field they concern.
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

HINT_STYLE = "color: #666; font-size: 8pt;"
ERROR_STYLE = "color: #c0392b; font-weight: bold;"
#: the weight editor's range (a weight of 0 leaves a target out of the loss)
WEIGHT_RANGE = (0.0, 1000.0)


def field_kind(annotation) -> str:
    """choice, float, int, bool, str, weights (``dict[str, float]``) or checklist (``list[str]``)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return "choice"
    if origin is dict:
        return "weights"
    if origin is list:
        return "checklist"
    args = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    base = args[0] if len(args) == 1 else None
    return {float: "float", int: "int", bool: "bool"}.get(base, "str")


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


class TaskSettingRow:
    def __init__(self, name: str, kind: str, widget: QWidget, error: QLabel, hint: QLabel):
        self.name, self.kind, self.widget, self.error, self.hint = name, kind, widget, error, hint
        #: per-output editors of a weights or check-list field: output name -> widget
        self.items: dict[str, QWidget] = {}
        #: values the editors do not show (names that are not outputs of this project), kept as loaded
        self.extra: Any = None
        #: {other field: value}: shown only while the other field has that value ("huber delta" with
        #: the huber loss)
        self.when: dict[str, Any] = {}


class TaskSettingsBox(QGroupBox):
    """One group box with a row per field of a task's settings model."""

    changed = Signal()

    def __init__(self, task: str, model: type[BaseModel], outputs: list[str], units: dict[str, str] | None = None,
                 parent=None):
        super().__init__(f"{task.replace('_', ' ').capitalize()} settings", parent)
        self.task, self.model, self.outputs = task, model, list(outputs)
        self.units = dict(units or {})
        self.setObjectName("task_settings_box")
        self.setToolTip(f"Settings only {task.replace('_', ' ')} has; stored with the experiment "
                        "(studio train --set name=value sets them too)")
        self.rows: dict[str, TaskSettingRow] = {}
        self._loading = False
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        for name, info in model.model_fields.items():
            self._add_row(form, name, info)
        self.set_values({})

    # --------------------------------------------------------------- building
    def _add_row(self, form: QFormLayout, name: str, info) -> None:
        kind = field_kind(info.annotation)
        title, help_ = info.title or name, info.description or ""
        if kind == "choice":
            widget = QComboBox()
            widget.addItems([str(a) for a in typing.get_args(info.annotation)])
            widget.currentIndexChanged.connect(lambda _i: self._emit())
        elif kind == "bool":
            widget = QCheckBox()
            widget.toggled.connect(lambda _v: self._emit())
        elif kind in ("weights", "checklist"):
            widget = QWidget()
            grid = QGridLayout(widget)
            grid.setContentsMargins(0, 0, 0, 0)
            if not self.outputs:
                grid.addWidget(QLabel("(nothing to choose: the project has no outputs yet)"), 0, 0)
        else:
            widget = QLineEdit()
            widget.textEdited.connect(lambda _t: self._emit())
        widget.setObjectName(f"task_setting_{name}")
        widget.setToolTip(f"<b>{title}</b><br>{help_}")
        hint = QLabel(help_)
        hint.setWordWrap(True)
        hint.setStyleSheet(HINT_STYLE)
        error = QLabel()
        error.setWordWrap(True)
        error.setStyleSheet(ERROR_STYLE)
        error.hide()
        row = TaskSettingRow(name, kind, widget, error, hint)
        if kind in ("weights", "checklist"):
            self._add_items(row, widget.layout(), help_)
        cell = QWidget()
        v = QVBoxLayout(cell)
        v.setContentsMargins(0, 0, 0, 4)
        v.setSpacing(1)
        v.addWidget(widget)
        v.addWidget(hint)
        v.addWidget(error)
        label = QLabel(title)
        label.setToolTip(help_)
        label.setBuddy(widget)
        form.addRow(label, cell)
        self.rows[name] = row
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        #: {other field: value}: the row shows only while the other field has that value
        row.when = dict(extra.get("when") or {})
        self._form = form

    def _add_items(self, row: TaskSettingRow, grid: QGridLayout, help_: str) -> None:
        """One editor per output: a weight box, or a check box."""
        for i, out in enumerate(self.outputs):
            text = f"{out} ({self.units[out]})" if self.units.get(out) else out
            if row.kind == "weights":
                spin = QDoubleSpinBox()
                spin.setRange(*WEIGHT_RANGE)
                spin.setDecimals(3)
                spin.setSingleStep(0.5)
                spin.setValue(1.0)
                spin.setToolTip(f"How much '{out}' counts in the loss (1 = as much as the others; 0 = not at all)")
                spin.valueChanged.connect(lambda _v: self._emit())
                grid.addWidget(QLabel(text), i, 0)
                grid.addWidget(spin, i, 1)
                row.items[out] = spin
            else:
                box = QCheckBox(text)
                box.setToolTip(help_)
                box.toggled.connect(lambda _v: self._emit())
                grid.addWidget(box, i // 3, i % 3)
                row.items[out] = box
        grid.setColumnStretch(2, 1)

    # ------------------------------------------------------------------ data
    def set_values(self, values: dict[str, Any]) -> None:
        """Show ``values`` (a config's ``task_settings``); fields it lacks show their defaults."""
        data = {name: info.get_default(call_default_factory=True) for name, info in self.model.model_fields.items()}
        data.update(values or {})
        self._loading = True
        try:
            for name, row in self.rows.items():
                value = data.get(name)
                w = row.widget
                if row.kind == "choice":
                    w.setCurrentText(str(value))
                elif row.kind == "bool":
                    w.setChecked(bool(value))
                elif row.kind == "weights":
                    value = dict(value or {}) if isinstance(value, dict) else {}
                    for out, spin in row.items.items():
                        spin.setValue(float(value.get(out, 1.0)) if _is_number(value.get(out, 1.0)) else 1.0)
                    row.extra = {k: v for k, v in value.items() if k not in row.items}
                elif row.kind == "checklist":
                    chosen = [str(v) for v in (value or [])] if isinstance(value, list) else []
                    for out, box in row.items.items():
                        box.setChecked(out in chosen)
                    row.extra = [v for v in chosen if v not in row.items]
                else:
                    w.setText(_fmt(value))
        finally:
            self._loading = False
        self._update_visibility()

    def _update_visibility(self) -> None:
        current = None
        for row in self.rows.values():
            if row.when:
                current = current if current is not None else self.values()
                shown = all(str(current.get(k)) == str(v) for k, v in row.when.items())
                self._form.setRowVisible(row.widget.parentWidget(), shown)

    def values(self) -> dict[str, Any]:
        """The settings as set; numbers that do not parse stay text so validation names them."""
        out: dict[str, Any] = {}
        for name, row in self.rows.items():
            w = row.widget
            if row.kind == "choice":
                out[name] = w.currentText()
            elif row.kind == "bool":
                out[name] = w.isChecked()
            elif row.kind == "weights":
                weights = dict(row.extra or {})
                weights.update({o: round(s.value(), 6) for o, s in row.items.items() if s.value() != 1.0})
                out[name] = weights
            elif row.kind == "checklist":
                out[name] = [o for o, b in row.items.items() if b.isChecked()] + list(row.extra or [])
            else:
                text = w.text().strip()
                if row.kind == "float" and _is_number(text):
                    out[name] = float(text)
                elif row.kind == "int" and text.lstrip("-").isdigit():
                    out[name] = int(text)
                else:
                    out[name] = text
        return out

    def show_errors(self, errors: dict[str, str]) -> dict[str, str]:
        """Show each field's message under it; returns the messages that are not about a field here."""
        rest = dict(errors)
        for name, row in self.rows.items():
            msg = rest.pop(name, None)
            title = self.model.model_fields[name].title or name
            row.error.setText(f"{title}: {msg}" if msg else "")
            row.error.setVisible(bool(msg))
        return rest

    def _emit(self) -> None:
        if not self._loading:
            self._update_visibility()
            self.changed.emit()


def _is_number(value) -> bool:
    try:
        float(value)
        return True
    except (TypeError, ValueError):
        return False


__all__ = ["TaskSettingsBox", "field_kind"]
