"""The split settings: ratios that always sum to 100 %, subsets, seed, strategy, anomaly mode."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from .controller import SUBSET_COLORS, SUBSET_TITLES

RATIO_HELP = {
    "train": "Share of the images the model learns from. Usually the largest part (70–80 %).",
    "val": "Share used during training to pick the best epoch and tune settings. The model never "
           "learns from these images, but your choices are tuned on them.",
    "test": "Share kept aside until the end, for an honest final measurement on images neither the "
            "model nor your tuning has seen.",
}
STRATEGY_HELP = {
    "auto": "Balance the classes across subsets when the images are annotated (recommended).",
    "stratified": "Balance the classes (or target values, or normal/anomalous) across subsets, so each "
                  "subset looks like the whole dataset; rare classes reach every subset when they can.",
    "random": "Shuffle and cut, ignoring annotations. Rare classes may miss a subset.",
}
GROUP_HELP = {
    "group": ("Images that share a group", "Images with the same group (set at import: same patient, "
              "same scene...) stay in one subset."),
    "origin": ("Copies and tiles of one image", "Augmented copies (Roboflow's 'name_png.rf.…') and tiles "
               "('P0001__1024__0___512') of one original image stay in one subset."),
    "source": ("Images from the same file", "Images imported from the same source file stay together."),
    "none": ("Only exact duplicates", "Only identical files are kept together."),
}
ANOMALY_HELP = {
    "supervised": "Anomalous images go to every subset (training sees some defects).",
    "normal-only": "Training gets only normal images; anomalous ones go to validation and test. This is "
                   "how most anomaly detectors (PatchCore, PaDiM...) are meant to be trained.",
}


class RatioControls(QGroupBox):
    """A slider and a spin box per subset; changing one adjusts the others so the sum stays 100 %."""

    changed = Signal()

    def __init__(self, parent=None):
        super().__init__("Subsets", parent)
        self._busy = False
        self.values = {"train": 80, "val": 10, "test": 10}
        self.spins: dict[str, QSpinBox] = {}
        self.sliders: dict[str, QSlider] = {}
        self.labels: dict[str, QLabel] = {}
        grid = QGridLayout(self)
        self.use_test = QCheckBox("Keep a test subset")
        self.use_test.setObjectName("split_use_test")
        self.use_test.setChecked(True)
        self.use_test.setToolTip("Three subsets (train / validation / test) or two (train / validation). "
                                 "A test subset gives an honest final score; with very few images, "
                                 "two subsets leave more for training.")
        grid.addWidget(self.use_test, 0, 0, 1, 3)
        for row, s in enumerate(("train", "val", "test"), start=1):
            label = QLabel(f"<span style='color:{SUBSET_COLORS[s]}'>■</span> {SUBSET_TITLES[s]}")
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setRange(1, 98)
            spin = QSpinBox()
            spin.setRange(1, 98)
            spin.setSuffix(" %")
            spin.setObjectName(f"split_ratio_{s}")
            for w in (label, slider, spin):
                w.setToolTip(RATIO_HELP[s])
            slider.valueChanged.connect(lambda v, s=s: self._set(s, v))
            spin.valueChanged.connect(lambda v, s=s: self._set(s, v))
            grid.addWidget(label, row, 0)
            grid.addWidget(slider, row, 1)
            grid.addWidget(spin, row, 2)
            self.spins[s], self.sliders[s], self.labels[s] = spin, slider, label
        grid.setColumnStretch(1, 1)
        self.use_test.toggled.connect(self._toggle_test)
        self._show()

    def subsets(self) -> list[str]:
        return ["train", "val", "test"] if self.use_test.isChecked() else ["train", "val"]

    def ratios(self) -> list[float]:
        return [self.values[s] / 100 for s in self.subsets()]

    def set_percentages(self, *values: int) -> None:
        """Set all at once (e.g. 70, 20, 10 or 80, 20); they must sum to 100."""
        self._busy = True
        self.use_test.setChecked(len(values) == 3)
        self._busy = False
        self.values.update(zip(("train", "val", "test"), values, strict=False))
        self._show()
        self.changed.emit()

    def _toggle_test(self, on: bool) -> None:
        if self._busy:
            return
        if on:
            take = max(1, round(self.values["train"] * 0.1))
            self.values["test"] = take
            self.values["train"] -= take
        else:
            self.values["train"] += self.values["test"]
        self._show()
        self.changed.emit()

    def _set(self, subset: str, value: int) -> None:
        if self._busy or value == self.values[subset]:
            return
        subs = self.subsets()
        if subset not in subs:
            return
        others = [s for s in subs if s != subset]
        value = min(value, 100 - len(others))  # every other subset keeps at least 1 %
        self.values[subset] = value
        rest = 100 - value
        if len(others) == 1:
            self.values[others[0]] = rest
        else:
            # train moves: val and test share the rest in their current proportion;
            # val or test moves: train absorbs the difference first, then the third one.
            if subset == "train":
                a, b = others
                total = self.values[a] + self.values[b]
                self.values[a] = max(1, min(rest - 1, round(rest * self.values[a] / total)))
                self.values[b] = rest - self.values[a]
            else:
                third = "test" if subset == "val" else "val"
                self.values["train"] = max(1, rest - self.values[third])
                self.values[third] = rest - self.values["train"]
        self._show()
        self.changed.emit()

    def _show(self) -> None:
        self._busy = True
        with_test = self.use_test.isChecked()
        for s in ("train", "val", "test"):
            visible = with_test or s != "test"
            for w in (self.spins[s], self.sliders[s], self.labels[s]):
                w.setVisible(visible)
            self.spins[s].setValue(self.values[s])
            self.sliders[s].setValue(self.values[s])
        self._busy = False


class SplitOptions(QWidget):
    """Name, seed, strategy and (for anomaly detection) the anomaly mode."""

    changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self._anomaly = False
        self.ratios = RatioControls(self)
        lay.addWidget(self.ratios)
        form = QFormLayout()
        lay.addLayout(form)
        self.seed = QSpinBox()
        self.seed.setObjectName("split_seed")
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip("The random seed. The same seed on the same images always gives the same "
                             "split; change it to draw another one.")
        self.strategy = QComboBox()
        self.strategy.setObjectName("split_strategy")
        for key in ("auto", "stratified", "random"):
            self.strategy.addItem(key.capitalize(), key)
            self.strategy.setItemData(self.strategy.count() - 1, STRATEGY_HELP[key], Qt.ItemDataRole.ToolTipRole)
        self.strategy.setToolTip("How images are assigned to subsets:\n"
                                 + "\n".join(f"• {k}: {v}" for k, v in STRATEGY_HELP.items()))
        self.anomaly_mode = QComboBox()
        self.anomaly_mode.setObjectName("split_anomaly_mode")
        for key, title in (("supervised", "Anomalies in every subset"),
                           ("normal-only", "Normal-only training")):
            self.anomaly_mode.addItem(title, key)
            self.anomaly_mode.setItemData(self.anomaly_mode.count() - 1, ANOMALY_HELP[key],
                                          Qt.ItemDataRole.ToolTipRole)
        self.anomaly_mode.setToolTip("Where anomalous images go:\n"
                                     + "\n".join(f"• {k}: {v}" for k, v in ANOMALY_HELP.items()))
        self.group_by = QComboBox()
        self.group_by.setObjectName("split_group_by")
        for key, (title, tip) in GROUP_HELP.items():
            self.group_by.addItem(title, key)
            self.group_by.setItemData(self.group_by.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.group_by.setToolTip("Which images must never be split between training and testing (a model "
                                 "tested on a copy of a training image looks better than it is). Exact "
                                 "duplicates always stay together.\n"
                                 + "\n".join(f"• {t}: {h}" for t, h in GROUP_HELP.values()))
        self.anomaly_label = QLabel("Anomalous images")
        self.anomaly_label.setToolTip(self.anomaly_mode.toolTip())
        self.name = QLineEdit()
        self.name.setObjectName("split_name")
        self.name.setToolTip("A name to find this split again (unique in the project). Experiments "
                             "record which split they used.")
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed, 1)
        form.addRow("Seed", seed_row)
        form.addRow("Strategy", self.strategy)
        form.addRow("Keep together", self.group_by)
        form.addRow(self.anomaly_label, self.anomaly_mode)
        form.addRow("Name", self.name)
        form.labelForField(seed_row).setToolTip(self.seed.toolTip())
        form.labelForField(self.strategy).setToolTip(self.strategy.toolTip())
        form.labelForField(self.name).setToolTip(self.name.toolTip())
        form.labelForField(self.group_by).setToolTip(self.group_by.toolTip())
        self.ratios.changed.connect(self.changed)
        self.seed.valueChanged.connect(self.changed)
        self.strategy.currentIndexChanged.connect(self.changed)
        self.anomaly_mode.currentIndexChanged.connect(self.changed)
        self.group_by.currentIndexChanged.connect(self.changed)

    def show_anomaly_mode(self, visible: bool) -> None:
        self._anomaly = visible
        self.anomaly_mode.setVisible(visible)
        self.anomaly_label.setVisible(visible)

    def settings(self) -> dict:
        return {"ratios": self.ratios.ratios(), "seed": self.seed.value(),
                "strategy": self.strategy.currentData(),
                "group_by": self.group_by.currentData(),
                "anomaly_mode": self.anomaly_mode.currentData() if self._anomaly else None}
