"""The distribution of a split: grouped bars per class and subset, a table, and the warnings.

Shows either a preview (a :class:`SplitPlan`, not saved yet) or a saved :class:`Split` (from
the stats saved with it: nothing is recomputed).
"""

from __future__ import annotations

import math
from html import escape

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFontMetrics
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ....core.splits import Split, SplitPlan
from .controller import SUBSET_COLORS, SUBSET_TITLES


def percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


class PercentAxis(pg.AxisItem):
    """A value axis in percent: "20 %" labels, none above 100 % (the range goes higher only to
    leave room for the legend) and none below 0."""

    def tickValues(self, minVal, maxVal, size):  # noqa: N802, N803 - pyqtgraph override
        return [(spacing, [v for v in values if -1e-9 <= v <= 100 + 1e-9])
                for spacing, values in super().tickValues(minVal, maxVal, size)]

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph override
        return [f"{v * scale:g} %" for v in values]


class SplitChart(pg.PlotWidget):
    """For each class, one bar per subset: the % of that subset's images showing the class.

    Percentages (not counts) so that a 10 % test subset is comparable with an 80 % train
    subset: equal bars mean the subsets look alike.
    """

    def __init__(self, parent=None):
        super().__init__(parent, background="w", axisItems={"left": PercentAxis("left")})
        self.setObjectName("split_chart")
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.setMinimumHeight(220)
        self.showGrid(y=True, alpha=0.25)
        self.setLabel("left", "share of the subset's images")
        self.setYRange(0, 100, padding=0)  # empty until a split is shown: still a 0-100 % scale
        self.setToolTip("Each group of bars is one class; each colour one subset. Bars of similar "
                        "height mean the subsets have the same class balance.")
        self.legend = self.addLegend(offset=(-10, 5), colCount=3)
        self.bars: dict[str, pg.BarGraphItem] = {}
        self.names: list[str] = []

    def show_plan(self, plan: SplitPlan | Split | None) -> None:
        for bar in self.bars.values():
            self.removeItem(bar)
        self.legend.clear()
        self.bars = {}
        self.names = []
        if plan is None:
            self._update_ticks()
            self.setYRange(0, 100, padding=0)
            return
        keys = list(plan.strata_names) or ["__all__"]
        subsets = plan.subsets
        width = 0.8 / len(subsets)
        xs = np.arange(len(keys), dtype=float)
        for j, s in enumerate(subsets):
            st = plan.stats[s]
            heights = [100.0 if k == "__all__" else percent(st.classes.get(k, 0), st.images) for k in keys]
            bar = pg.BarGraphItem(x=xs - 0.4 + width * (j + 0.5), height=heights, width=width * 0.95,
                                  brush=pg.mkBrush(SUBSET_COLORS[s]), pen=pg.mkPen(None))
            self.addItem(bar)
            self.legend.addItem(bar, f"{SUBSET_TITLES[s]} ({st.images})")
            self.bars[s] = bar
        self.names = ["all images"] if keys == ["__all__"] else [plan.strata_names[k] for k in keys]
        self._update_ticks()
        self.setXRange(-0.6, len(keys) - 0.4, padding=0)
        top = max((max(b.opts["height"], default=0) for b in self.bars.values()), default=100)
        self.setYRange(0, max(10.0, top * 1.3), padding=0)  # headroom for the legend

    def _update_ticks(self) -> None:
        """Label as many classes as fit without overlapping (every class has a table row)."""
        if "names" not in self.__dict__:
            return  # a resize during construction, before the plot exists
        labels = [n if len(n) <= 14 else n[:13] + "…" for n in self.names]
        axis = self.getAxis("bottom")
        if labels:
            metrics = QFontMetrics(axis.style.get("tickFont") or self.font())
            widest = max(metrics.horizontalAdvance(t) for t in labels) + 12
            room = max(1.0, self.plotItem.vb.width() or self.width() - 60)
            step = max(1, math.ceil(len(labels) * widest / room))
        else:
            step = 1
        axis.setTicks([[(i, t) for i, t in enumerate(labels) if i % step == 0]])

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._update_ticks()


class PreviewPanel(QWidget):
    """Chart, table (class × subset, counts and %) and warnings of the current preview."""

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.summary = QLabel("Press Preview (Ctrl+P) to see how the images would be divided.")
        self.summary.setObjectName("split_summary")
        self.summary.setWordWrap(True)
        self.chart = SplitChart(self)
        self.table = QTableWidget(self)
        self.table.setObjectName("split_table")
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setToolTip("Images per class in each subset, and the share of the subset they make up. "
                              "For detection and segmentation, an image counts once per class it shows.")
        self.warnings = QPlainTextEdit()
        self.warnings.setObjectName("split_warnings")
        self.warnings.setReadOnly(True)
        self.warnings.setStyleSheet("color: #b35900;")
        self.warnings.setMaximumHeight(self.fontMetrics().lineSpacing() * 5 + 12)
        self.warnings.setToolTip("What to know about this split before saving it: classes too rare to "
                                 "reach every subset, and where their images went (train first, then "
                                 "validation, then test).")
        self.warnings.setVisible(False)
        lay.addWidget(self.summary)
        lay.addWidget(self.chart, 3)
        lay.addWidget(self.table, 2)
        lay.addWidget(self.warnings)

    def show_plan(self, plan: SplitPlan | Split | None) -> None:
        """Show a preview, or a saved split (its name and lock in the summary), or nothing."""
        self.chart.show_plan(plan)
        self.table.clear()
        self.table.setRowCount(0)
        self.table.setColumnCount(0)
        if plan is None:
            self.summary.setText("Press Preview (Ctrl+P) to see how the images would be divided.")
            self.warnings.clear()
            self.warnings.setVisible(False)
            return
        subsets = plan.subsets
        total = plan.image_count or sum(plan.stats[s].images for s in subsets)
        parts = ", ".join(f"{SUBSET_TITLES[s].lower()} {plan.stats[s].images}" for s in subsets)
        what = (f"<b>Saved split '{escape(plan.name)}'</b> (locked)" if isinstance(plan, Split)
                else "<b>Preview</b>")
        self.summary.setText(f"{what} of {total} images: {parts}. Method: {plan.method}, seed {plan.seed}.")
        self.table.setColumnCount(1 + len(subsets))
        self.table.setHorizontalHeaderLabels(["Class"] + [SUBSET_TITLES[s] for s in subsets])
        rows = [("All images", None)] + [(name, key) for key, name in plan.strata_names.items()]
        self.table.setRowCount(len(rows))
        for r, (name, key) in enumerate(rows):
            self.table.setItem(r, 0, QTableWidgetItem(name))
            for c, s in enumerate(subsets, start=1):
                st = plan.stats[s]
                n = st.images if key is None else st.classes.get(key, 0)
                whole = total if key is None else st.images
                item = QTableWidgetItem(f"{n}  ({percent(n, whole):.1f} %)")
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if key is not None and n == 0:
                    item.setForeground(QColor("#c62828"))
                self.table.setItem(r, c, item)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in range(1, 1 + len(subsets)):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.warnings.setPlainText("\n".join(f"⚠ {w}" for w in plan.warnings))
        self.warnings.setVisible(bool(plan.warnings))
