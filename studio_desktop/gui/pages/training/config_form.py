"""The training settings form, generated from ``TrainConfig``'s fields.

Every setting gets the widget its type calls for (check box, choice list, text), its title,
its teaching help as a tooltip *and* as a small hint line under it, and an error line that
names what is wrong. Values are validated by the same pydantic model the worker uses, so the
form cannot accept what training would refuse. Numbers are typed as text on purpose: a spin
box would silently clamp an out-of-range value instead of explaining the limit.
"""

from __future__ import annotations

import typing
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ....core.experiments import ModelInfo, TrainConfig
from ....core.task_settings import TASK_SETTINGS
from .task_settings_box import TaskSettingsBox
from .weights_panel import WeightsLine

#: how the generated fields are grouped (fields not named here land in "Other settings")
GROUPS: list[tuple[str, list[str]]] = [
    ("Data and model", ["split_id", "model", "pretrained", "weights_file", "finetune", "unfreeze_stages",
                        "input_size"]),
    ("Training", ["epochs", "batch_size", "optimizer", "lr", "weight_decay", "momentum", "scheduler",
                  "warmup_epochs"]),
    ("Regularisation and stopping", ["early_stopping", "early_stopping_metric", "patience", "grad_clip",
                                     "label_smoothing", "class_weights"]),
    ("Hardware and reproducibility", ["device", "mixed_precision", "num_workers", "seed"]),
]
#: edited elsewhere on the page
SKIPPED = {"augmentations"}
#: what a *fitted* model (PatchCore, PaDiM: one pass, no optimiser) does not use
NOT_FITTED = ("epochs", "optimizer", "lr", "weight_decay", "momentum", "scheduler", "warmup_epochs",
              "early_stopping", "early_stopping_metric", "patience", "grad_clip")
NEWEST_SPLIT = "(newest split)"

HINT_STYLE = "color: #666; font-size: 8pt;"
ERROR_STYLE = "color: #c0392b; font-weight: bold;"


def _base_type(annotation) -> type | None:
    """``int`` for ``int``, ``str`` for ``str | None``; None for anything else."""
    if annotation in (int, float, str, bool):
        return annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if len(args) == 1 and args[0] in (int, float, str, bool):
        return args[0]
    return None


def _editable(name: str) -> bool:
    """Whether the form has a widget for the setting (a choice, a check box, a number or text)."""
    info = TrainConfig.model_fields[name]
    return typing.get_origin(info.annotation) is typing.Literal or _base_type(info.annotation) is not None


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


class SettingRow:
    """One setting: its widget, hint line and error line."""

    def __init__(self, name: str, widget: QWidget, hint: QLabel, error: QLabel, kind: str):
        self.name, self.widget, self.hint, self.error, self.kind = name, widget, hint, error, kind


class ConfigForm(QWidget):
    changed = Signal()
    #: the user chose another model (its name)
    modelPicked = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: dict[str, SettingRow] = {}
        self._models: list[ModelInfo] = []
        self._loading = False
        #: the learning rate last filled in by the form (a loaded config or a suggestion): only
        #: that one is replaced by a new suggestion, never a value the user typed
        self._auto_lr: str | None = None
        #: the user's pretrained choice while a model without pretrained weights is shown
        self._pretrained_wish = True
        self.weights_line = WeightsLine()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)

        name_box = QFormLayout()
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("automatic (the model's name)")
        self.name_edit.setToolTip("A name for the new experiment, to recognise it in the list "
                                  "(for example 'resnet18 strong augmentation')")
        name_box.addRow("Experiment name", self.name_edit)
        lay.addLayout(name_box)
        self.general_error = QLabel()
        self.general_error.setStyleSheet(ERROR_STYLE)
        self.general_error.setWordWrap(True)
        self.general_error.hide()
        lay.addWidget(self.general_error)

        fields = TrainConfig.model_fields
        grouped = {n for _, names in GROUPS for n in names}
        groups = [(t, [n for n in names if n in fields]) for t, names in GROUPS]
        rest = [n for n in fields if n not in grouped and n not in SKIPPED and _editable(n)]
        #: settings without a widget here (structured values such as a task's own settings): kept
        #: as loaded, so that starting from this form never drops them
        self._carried: dict[str, Any] = {}
        if rest:
            groups.append(("Other settings", rest))
        #: the task's own settings (core/task_settings.py), built by set_task; placed before this box
        self.task_box: TaskSettingsBox | None = None
        self._task_key: tuple | None = None
        self._boxes: dict[str, QGroupBox] = {}
        #: the form layout holding each setting's row (to hide the settings a task does not use)
        self._forms: dict[str, QFormLayout] = {}
        for title, names in groups:
            box = self._boxes[title] = QGroupBox(title)
            form = QFormLayout(box)
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            # long titles go above their field, so the field and its hint keep a readable width
            form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
            for name in names:
                self._add_row(form, name)
            lay.addWidget(box)

    # --------------------------------------------------------------- building
    def _add_row(self, form: QFormLayout, name: str) -> None:
        info = TrainConfig.model_fields[name]
        help_ = info.description or ""
        title = info.title or name
        literal = typing.get_origin(info.annotation) is typing.Literal
        base = _base_type(info.annotation)
        if name == "model":
            widget, kind = QComboBox(), "model"
            widget.currentIndexChanged.connect(self._model_picked)
        elif name == "split_id":
            widget, kind = QComboBox(), "split"
            widget.currentIndexChanged.connect(lambda _i: self._emit())
        elif literal:
            widget, kind = QComboBox(), "choice"
            widget.addItems([str(a) for a in typing.get_args(info.annotation)])
            widget.currentIndexChanged.connect(lambda _i: self._emit())
            if name == "finetune":
                widget.currentIndexChanged.connect(lambda _i: self._update_finetune_rows())
        elif base is bool:
            widget, kind = QCheckBox(), "bool"
            widget.toggled.connect(lambda _v: self._emit())
            if name == "pretrained":
                widget.toggled.connect(self._pretrained_toggled)
        else:
            widget, kind = QLineEdit(), (base.__name__ if base else "str")
            if kind == "str" and info.default is None:
                widget.setPlaceholderText("empty: automatic")
            widget.textEdited.connect(lambda _t: self._emit())
        widget.setObjectName(f"setting_{name}")
        widget.setToolTip(f"<b>{title}</b><br>{help_}")
        widget.setWhatsThis(help_)
        hint = QLabel(help_)
        hint.setWordWrap(True)
        hint.setStyleSheet(HINT_STYLE)
        error = QLabel()
        error.setWordWrap(True)
        error.setStyleSheet(ERROR_STYLE)
        error.setObjectName(f"error_{name}")
        error.hide()
        cell = QWidget()
        v = QVBoxLayout(cell)
        v.setContentsMargins(0, 0, 0, 4)
        v.setSpacing(1)
        if name == "model":
            line = QHBoxLayout()
            line.addWidget(widget, 1)
            line.addWidget(self.weights_line.dialog_button)
            v.addLayout(line)
            v.addWidget(self.weights_line)
        elif name == "weights_file":
            line = QHBoxLayout()
            line.addWidget(widget, 1)
            browse = QToolButton()
            browse.setText("Browse…")
            browse.setToolTip("Choose a weights file (.pth / .pt / .safetensors) on this computer")
            browse.clicked.connect(lambda _c=False, w=widget: self._browse_weights(w))
            line.addWidget(browse)
            v.addLayout(line)
        else:
            v.addWidget(widget)
        v.addWidget(hint)
        v.addWidget(error)
        label = QLabel(title)
        label.setToolTip(help_)
        label.setBuddy(widget)
        form.addRow(label, cell)
        self.rows[name] = SettingRow(name, widget, hint, error, kind)
        self._forms[name] = form

    def _browse_weights(self, edit: QLineEdit) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Pretrained weights", edit.text(),
                                              "Weights files (*.pth *.pt *.ckpt *.safetensors);;All files (*)")
        if path:
            edit.setText(path)
            self._emit()

    def set_models(self, models: list[ModelInfo]) -> None:
        """Fill the model catalog: parameter count, input size; description as tooltip and hint."""
        self._models = list(models)
        combo: QComboBox = self.rows["model"].widget
        self._loading = True
        combo.clear()
        for m in models:
            combo.addItem(f"{m.display} · {m.params_millions:g} M params · {m.default_input_size} px", m.name)
            combo.setItemData(combo.count() - 1, m.description, Qt.ItemDataRole.ToolTipRole)
        self._loading = False

    def set_task(self, task: str, outputs: list[str], units: dict[str, str] | None = None) -> None:
        """Build the "task settings" section of ``task`` (none when the task declares no settings),
        with per-output editors over ``outputs`` (a regression's targets)."""
        key = (task, tuple(outputs), tuple(sorted((units or {}).items())))
        if key == self._task_key:
            return
        self._task_key = key
        for name, form in self._forms.items():  # e.g. "Balance classes" means nothing to a regression
            form.setRowVisible(self.rows[name].widget.parentWidget(), TrainConfig.applies_to(name, task))
        if self.task_box is not None:
            self.task_box.setParent(None)
            self.task_box.deleteLater()
            self.task_box = None
        model = TASK_SETTINGS.get(task)
        if model is None:
            return
        self.task_box = TaskSettingsBox(task, model, outputs, units)
        self.task_box.changed.connect(self._emit)
        lay = self.layout()
        before = self._boxes.get("Hardware and reproducibility")
        lay.insertWidget(lay.indexOf(before) if before is not None else lay.count(), self.task_box)

    def set_splits(self, splits: list[tuple[str, str]]) -> None:
        combo: QComboBox = self.rows["split_id"].widget
        current = combo.currentData()
        self._loading = True
        combo.clear()
        combo.addItem(NEWEST_SPLIT, None)
        for split_id, label in splits:
            combo.addItem(label, split_id)
        idx = combo.findData(current)
        combo.setCurrentIndex(max(0, idx))
        self._loading = False

    # ------------------------------------------------------------------ data
    def set_config(self, config: TrainConfig, name: str = "") -> None:
        self._loading = True
        try:
            data = config.model_dump()
            self._carried = {k: v for k, v in data.items() if k not in self.rows and k not in SKIPPED}
            for key, row in self.rows.items():
                value = data.get(key)
                w = row.widget
                if row.kind in ("model", "split"):
                    idx = w.findData(value)
                    if idx < 0 and row.kind == "split" and value is not None:
                        w.addItem(f"{value} (missing)", value)
                        idx = w.count() - 1
                    w.setCurrentIndex(max(0, idx))
                elif row.kind == "choice":
                    w.setCurrentText(str(value))
                elif row.kind == "bool":
                    w.setChecked(bool(value))
                else:
                    w.setText(_fmt(value))
            self.name_edit.setText(name)
            if self.task_box is not None:
                self.task_box.set_values(data.get("task_settings") or {})
            self._auto_lr = self.rows["lr"].widget.text() if "lr" in self.rows else None
            self._pretrained_wish = bool(data.get("pretrained", True))
        finally:
            self._loading = False
        self._update_model_hint()
        self._update_finetune_rows()
        self.show_errors({})

    def values(self) -> dict[str, Any]:
        """The settings as typed; numbers that do not parse stay text so validation names them."""
        out: dict[str, Any] = dict(self._carried)
        for key, row in self.rows.items():
            w = row.widget
            if row.kind in ("model", "split"):
                out[key] = w.currentData()
            elif row.kind == "choice":
                out[key] = w.currentText()
            elif row.kind == "bool":
                out[key] = w.isChecked()
            else:
                text = w.text().strip()
                if row.kind == "int":
                    out[key] = int(text) if _is_int(text) else text
                elif row.kind == "float":
                    out[key] = float(text) if _is_float(text) else text
                else:
                    default = TrainConfig.model_fields[key].default
                    out[key] = None if (text == "" and default is None) else text
        if self.task_box is not None:
            out["task_settings"] = self.task_box.values()
        return out

    def experiment_name(self) -> str | None:
        return self.name_edit.text().strip() or None

    def show_errors(self, errors: dict[str, str]) -> None:
        """Show each message under its setting; messages for other things on top."""
        titles = TrainConfig.field_titles()
        general = []
        if self.task_box is not None:  # "task_settings.loss" -> under the task's own "loss" row
            prefix = "task_settings."
            task_errors = {k.removeprefix(prefix): v for k, v in errors.items() if k.startswith(prefix)}
            left = self.task_box.show_errors(task_errors)
            errors = {k: v for k, v in errors.items() if not k.startswith(prefix)}
            general += [f"{k}: {v}" for k, v in left.items()]
        for key, msg in errors.items():
            if key not in self.rows:
                general.append(f"{titles.get(key, key)}: {msg}")
        for key, row in self.rows.items():
            msg = errors.get(key)
            row.error.setText(f"{titles.get(key, key)}: {msg}" if msg else "")
            row.error.setVisible(bool(msg))
        self.general_error.setText("\n".join(general))
        self.general_error.setVisible(bool(general))

    # --------------------------------------------------------------- events
    def _emit(self) -> None:
        if not self._loading:
            self.changed.emit()

    def _model_picked(self, _index: int) -> None:
        self._update_model_hint()
        if self._loading:
            return
        info = self._current_model()
        if info is not None and "input_size" in self.rows:  # (for pretrained models: the weights' size)
            self.rows["input_size"].widget.setText(str(info.default_input_size))
        if info is not None:
            self.modelPicked.emit(info.name)
        self._emit()

    # ------------------------------------------------------------- weights
    def set_pretrained_available(self, available: bool, reason: str = "") -> None:
        """Enable the pretrained check box, or disable (and untick) it saying why (the Tiny CNN
        has no pretrained weights); the user's choice comes back with a model that has some."""
        row = self.rows["pretrained"]
        box: QCheckBox = row.widget
        if box.isEnabled() == available:
            return
        base = TrainConfig.model_fields["pretrained"].description or ""
        loading, self._loading = self._loading, True
        try:
            if available:
                box.setEnabled(True)
                box.setChecked(self._pretrained_wish)
                row.hint.setText(base)
                box.setToolTip(f"<b>{TrainConfig.model_fields['pretrained'].title}</b><br>{base}")
            else:
                self._pretrained_wish = box.isChecked()
                box.setChecked(False)
                box.setEnabled(False)
                text = (reason[:1].upper() + reason[1:] + ".") if reason else "This model has no pretrained weights."
                row.hint.setText(text)
                box.setToolTip(f"<b>Not available:</b> {text}<br><br>{base}")
        finally:
            self._loading = loading
        self._update_finetune_rows()

    def _update_finetune_rows(self) -> None:
        """Fine-tuning modes only mean something for a pretrained start."""
        box = self.rows["pretrained"].widget
        on = box.isEnabled() and box.isChecked()
        for key in ("finetune", "unfreeze_stages"):
            if key in self.rows:
                self.rows[key].widget.setEnabled(on)
        if "unfreeze_stages" in self.rows and on:
            self.rows["unfreeze_stages"].widget.setEnabled(self.rows["finetune"].widget.currentText() == "partial")

    def suggest_lr(self, value: float) -> None:
        """Put ``value`` in the learning rate unless the user typed one of their own."""
        edit = self.rows["lr"].widget
        if self._auto_lr is not None and edit.text() != self._auto_lr:
            return
        text = _fmt(float(value))
        self._auto_lr = text
        if edit.text() != text:
            edit.setText(text)
            self._emit()

    def _pretrained_toggled(self, checked: bool) -> None:
        if not self._loading and self.rows["pretrained"].widget.isEnabled():
            self._pretrained_wish = checked
        self._update_finetune_rows()

    def _current_model(self) -> ModelInfo | None:
        name = self.rows["model"].widget.currentData()
        return next((m for m in self._models if m.name == name), None)

    def _update_model_hint(self) -> None:
        info = self._current_model()
        row = self.rows["model"]
        base = TrainConfig.model_fields["model"].description or ""
        row.hint.setText(f"{info.description} Default input size {info.default_input_size} px." if info else base)
        self._update_fitted_rows(info)

    def _update_fitted_rows(self, info: ModelInfo | None) -> None:
        """A fitted model learns in one pass over the images: epochs and the optimiser's settings
        are greyed out, and the epochs row says why."""
        fitted = bool(info is not None and info.fitted)
        for key in NOT_FITTED:
            if key in self.rows:
                self.rows[key].widget.setEnabled(not fitted)
        if "epochs" in self.rows:
            base = TrainConfig.model_fields["epochs"].description or ""
            self.rows["epochs"].hint.setText(
                f"Not used by {info.display}: it learns in one pass over the training images (features, then "
                "a fit), with no epochs, learning rate or optimiser." if fitted else base)


def _is_int(text: str) -> bool:
    try:
        int(text)
        return True
    except ValueError:
        return False


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False
