"""The regression result view: every target's errors beside the baseline that always predicts the
training mean, with 95 % intervals, a target selector, and the target's plots (predicted vs true
with the identity line, the histogram of the errors, the error against the true value).

A regression number means little alone ("MAE 3.1" is excellent for prices in thousands and useless
for a percentage), so each one stands beside the baseline's and the skill says it in words: "86 %
less error than always predicting the training mean". The quick numbers come at once, the
1,000-resample intervals from a background thread. Clicking a point shows its image in the grid
and the detail; clicking a histogram bar shows the images with those errors; the selected target
orders and colours the grid (``operatingPointChanged``: the page refilters it).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ...dataset.background import BackgroundCall
from ..controller import SUBSET_WORDS
from ..regression_results import fmt_value, with_unit
from . import regression_plots as plots
from .base import ResultView

#: (metric key, label, how the value is written: "unit" in the target's units, "plain", "percent")
METRICS = (("mae", "MAE", "unit"), ("rmse", "RMSE", "unit"), ("r2", "R²", "plain"), ("mape", "MAPE", "percent"))
METRIC_HELP = {
    "mae": "Mean absolute error: the average distance between prediction and truth, in the target's units.",
    "rmse": "Root mean squared error: like MAE, but large errors weigh more; in the target's units.",
    "r2": "R² (coefficient of determination): 1 = perfect, 0 = no better than predicting this subset's own "
          "mean, negative = worse.",
    "mape": "Mean absolute percentage error: the average error as a share of the true value. Skipped when a "
            "true value is 0 (it would divide by zero).",
    "skill": "1 − MAE / baseline MAE: the share of the baseline's error that the model removes. 0 % = no better "
             "than always predicting the training mean; 100 % = perfect.",
}
BASELINE_HELP = ("The baseline predicts the training images' mean for every image: the model must beat it to "
                 "have learnt anything from the pictures.")
INTERVAL_TEXT = ("95 % bootstrap interval: the images were resampled with replacement 1,000 times; the metric "
                 "fell inside this range in 95 % of the resamples. Two models whose intervals overlap may not "
                 "really differ on images like these.")
#: the plots under tabs (the scatter has a column of its own): kind, tab title, tooltip
PLOT_TABS = (("histogram", "Errors", "How many images have each error (predicted − true)"),
             ("residual_vs_true", "Error vs true", "Each image's error against its true value"))
#: table rows: target index (or AVERAGE) and metric key (or HEADER / "skill")
AVERAGE, HEADER = -1, ""
GROUP_BACKGROUND = QColor("#e8eef5")
CURRENT_BACKGROUND = QColor("#b9d3ee")


def fmt_metric(value, kind: str, unit: str = "") -> str:
    if value is None:
        return "–"
    if kind == "percent":
        return f"{100 * value:.1f} %"
    if kind == "plain":
        return f"{value:.3f}" if round(value, 3) != 0 else "0.000"  # never "-0.000"
    return with_unit(fmt_value(value), unit)


def fmt_interval(iv, kind: str, unit: str = "") -> str:
    if not iv:
        return ""
    if kind == "percent":
        return f"{100 * iv[0]:.1f}–{100 * iv[1]:.1f} %"
    if kind == "plain":
        return f"{iv[0]:.3f}–{iv[1]:.3f}"
    return with_unit(f"{fmt_value(iv[0])}–{fmt_value(iv[1])}", unit)


def skill_words(name: str, target: dict, unit: str = "") -> str:
    """One target's verdict in words (HTML): how much less error than the training mean."""
    skill, mae, base = target.get("skill"), target["metrics"].get("mae"), target["baseline"].get("mae")
    than = (f" (MAE {fmt_metric(mae, 'unit', unit)} against {fmt_metric(base, 'unit', unit)})"
            if mae is not None and base is not None else "")
    if skill is None:
        return f"<b>{name}</b>: no baseline to compare with{than}."
    if skill <= 0:
        return (f"<span style='color:#c0392b'><b>{name}</b>: {100 * -skill:.0f} % <b>more</b> error than always "
                f"predicting the training mean{than}: the model has not learnt this target.</span>")
    return f"<b>{name}</b>: {100 * skill:.0f} % less error than always predicting the training mean{than}."


class RegressionView(ResultView):
    """The Metrics section's content for regression."""

    # operatingPointChanged: the current target changed (the grid's order and colours follow it)
    section_help = ("Each target's errors beside the baseline that always predicts the training mean, with 95 % "
                    "intervals; click a point to see its image, a bar to see its images")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.results = None
        self.quick: dict | None = None
        self.full: dict | None = None
        self.selected_row: int | None = None
        self._drawn: dict[str, tuple] = {}
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        self.subset = QComboBox()
        self.subset.setToolTip("Which evaluated images the metrics describe (the test subset is the honest "
                               "estimate; validation images helped choose the checkpoint)")
        self.target = QComboBox()
        self.target.setToolTip("The target the plots show; the image grid is sorted by this target's error and "
                               "coloured by it (Alt+Up / Alt+Down)")
        head.addWidget(QLabel("Metrics of"))
        head.addWidget(self.subset)
        head.addWidget(QLabel("Target"))
        head.addWidget(self.target)
        self.summary = QLabel("")
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        head.addWidget(self.summary, 1)
        lay.addLayout(head)

        split = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Metric", "Model", "95 % interval", "Baseline"])
        self.table.horizontalHeaderItem(2).setToolTip(INTERVAL_TEXT)
        self.table.horizontalHeaderItem(3).setToolTip(BASELINE_HELP)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in range(1, 4):
            self.table.horizontalHeader().setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setToolTip("Each target's metrics beside the baseline (always predicting the training mean); "
                              "click a target's rows to show its plots")
        self.table.cellClicked.connect(self._cell_clicked)
        ll.addWidget(self.table, 1)
        self.words = QLabel("")
        self.words.setWordWrap(True)
        self.words.setTextFormat(Qt.TextFormat.RichText)
        self.words.setToolTip(METRIC_HELP["skill"])
        ll.addWidget(self.words)
        split.addWidget(left)

        self.scatter = plots.new_plot("scatter")
        self.scatter.scene().sigMouseClicked.connect(lambda ev: self._point_clicked(self.scatter, ev))
        split.addWidget(self.scatter)

        self.tabs = QTabWidget()
        self._plots: dict[str, object] = {"scatter": self.scatter}
        self._holders: dict[str, QWidget] = {}
        for key, title, tip in PLOT_TABS:
            holder = QWidget()
            QVBoxLayout(holder).setContentsMargins(0, 0, 0, 0)
            self._holders[key] = holder
            self.tabs.addTab(holder, title)
            self.tabs.setTabToolTip(self.tabs.count() - 1, tip)
        self.tabs.currentChanged.connect(lambda _i: self._draw_visible())
        split.addWidget(self.tabs)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 3)
        split.setStretchFactor(2, 3)
        split.setSizes([420, 380, 380])
        lay.addWidget(split, 1)

        self.subset.currentIndexChanged.connect(self._subset_changed)
        self.target.currentIndexChanged.connect(self._target_changed)
        self._background = BackgroundCall(self)
        self._background.done.connect(self._full_ready)
        QTimer.singleShot(0, self, lambda: self.plots)  # build the tab plots after the view appears
        for keys, step in (("Alt+Up", -1), ("Alt+Down", 1)):
            sc = QShortcut(QKeySequence(keys), self, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(lambda s=step: self.set_target(self.current_target() + s))

    # --------------------------------------------------------------- contract
    def set_writable(self, _on: bool) -> None:
        """Nothing here is saved (regression has no decision rule)."""

    def save_operating_point(self) -> None:
        """Ctrl+S: regression has no decision rule to save."""

    def show_selection(self, _flt) -> None:
        """The grid's filter changed (nothing here outlines a selection)."""

    def current_target(self) -> int:
        return max(0, self.target.currentIndex())

    def section_summary(self) -> str:
        """The Metrics header: the current target's MAE on the subset and its skill in words."""
        r, rep = self.results, self.quick
        if r is None or rep is None:
            return ""
        t = self.current_target()
        pt = rep["per_target"][t]
        subset = self.current_subset()
        skill = pt.get("skill")
        skill_text = (f" · {100 * skill:.0f} % less error than the mean" if skill is not None and skill > 0
                      else " · <span style='color:#c0392b'>no better than the mean</span>" if skill is not None
                      else "")
        return (f"{SUBSET_WORDS.get(subset, subset)} MAE of {pt['name']} "
                f"<b>{fmt_metric(pt['metrics'].get('mae'), 'unit', r.unit(t))}</b>{skill_text}")

    # ------------------------------------------------------------------ data
    def set_results(self, results) -> None:
        self.results = results
        self.full = None
        self.selected_row = None
        self._drawn.clear()
        for combo, items, current in (
                (self.subset, [(f"{SUBSET_WORDS.get(s, s)} ({int(results.scores.subset(s).sum())} images)", s)
                               for s in results.subsets], results.default_subset()),
                (self.target, [(results.target_label(t), t) for t in range(results.n_targets)], results.target)):
            combo.blockSignals(True)
            combo.clear()
            for text, data in items:
                combo.addItem(text, data)
            combo.setCurrentIndex(max(0, combo.findData(current)))
            combo.blockSignals(False)
        self.target.setEnabled(results.n_targets > 1)
        self.refresh()

    def _subset_changed(self) -> None:
        self.refresh()
        self.subsetChanged.emit(self.current_subset())

    def _target_changed(self) -> None:
        r = self.results
        if r is None:
            return
        r.set_target(self.current_target())
        self.operatingPointChanged.emit()  # the grid re-sorts and re-colours for this target
        self._show_summary()
        self._highlight_target()
        self._draw_visible()
        self.refreshed.emit()

    def set_target(self, target: int) -> None:
        """Show another target (its plots; the grid's order and colours)."""
        self.target.setCurrentIndex(max(0, min(target, self.target.count() - 1)))

    def refresh(self) -> None:
        """Quick numbers and plots now, intervals in the background."""
        r = self.results
        if r is None:
            return
        subset = self.current_subset()
        self.quick = r.report(subset, full=False)
        self.full = None
        self._show_table(self.quick, intervals=False)
        self._show_summary()
        self._draw_visible()
        self.refreshed.emit()
        self._background.start(lambda res=r, s=subset: (res, s, res.report(s, full=True)))

    def _full_ready(self, payload) -> None:
        r, subset, report = payload
        if r is not self.results or subset != self.current_subset():
            return
        self.full = report
        self._show_table(report, intervals=True)
        self.reportReady.emit(report)

    # ----------------------------------------------------------------- table
    def _show_summary(self) -> None:
        r, rep = self.results, self.quick
        ck = r.info.checkpoint if r.info is not None else {}
        epoch = f", epoch {ck.get('epoch')}" if ck.get("epoch") else ""
        c = r.counts(self.current_subset())
        poor = (f" · <span style='color:#c0392b'>{c['poor']} no better than the mean</span>" if c["poor"] else "")
        self.summary.setText(f"{rep['images']} images{poor} · {ck.get('which', '?')} checkpoint{epoch}")
        self.summary.setToolTip("Red: images whose error on the current target is at least the baseline's mean "
                                "absolute error (always predicting the training mean)")

    def _rows(self, rep: dict) -> list[tuple]:
        """(target index, key, label, unit, metrics, intervals, baseline, why) per table row."""
        r = self.results
        out = []
        groups = [(t, pt, r.unit(t), r.target_label(t)) for t, pt in enumerate(rep["per_target"])]
        for t, pt, unit, label in groups:
            out.append((t, HEADER, label, unit, None, None, None, ""))
            for key, name, _kind in METRICS:
                out.append((t, key, name, unit, pt["metrics"], pt.get("intervals") or {}, pt["baseline"],
                            pt.get("why", "") if key == "mape" else ""))
            out.append((t, "skill", "Skill", unit, pt, None, None, ""))
        if len(groups) > 1:
            out.append((AVERAGE, HEADER, f"Average of the {len(groups)} targets", "", None, None, None, ""))
            for key, name, _kind in METRICS:
                out.append((AVERAGE, key, name, "", rep["metrics"], {}, rep["baseline"], ""))
        return out

    def _show_table(self, rep: dict, intervals: bool) -> None:
        rows = self._rows(rep)
        self.table.clearSpans()
        self.table.setRowCount(len(rows))
        kinds = {k: kind for k, _n, kind in METRICS}
        bold = QFont(self.table.font())
        bold.setBold(True)
        for i, (t, key, label, unit, metrics, ivs, base, why) in enumerate(rows):
            name = QTableWidgetItem(label)
            name.setData(Qt.ItemDataRole.UserRole, (t, key))
            if key == HEADER:
                name.setFont(bold)
                name.setBackground(QBrush(GROUP_BACKGROUND))
                name.setToolTip("Click to show this target's plots" if t != AVERAGE else
                                "Plain means of the per-target values (each in its own units: compare targets "
                                "one by one when their units differ); no interval")
                self.table.setItem(i, 0, name)
                for c in range(1, 4):
                    self.table.setItem(i, c, QTableWidgetItem(""))
                self.table.setSpan(i, 0, 1, 4)
                continue
            if key == "skill":
                skill = metrics.get("skill")
                cells = [f"{100 * skill:.0f} %" if skill is not None else "–", "", ""]
                tips = [METRIC_HELP["skill"], "", ""]
            else:
                kind = kinds[key]
                value = metrics.get(key)
                iv = ivs.get(key) if intervals else None
                cells = [fmt_metric(value, kind, unit) if value is not None or not why else "skipped",
                         (fmt_interval(iv, kind, unit) if iv else "") if intervals or t == AVERAGE else "…",
                         fmt_metric(base.get(key), kind, unit)]
                tips = [why or METRIC_HELP[key],
                        INTERVAL_TEXT if iv else ("computing the bootstrap interval…" if not intervals else
                                                  "no interval for this metric"), BASELINE_HELP]
            name.setToolTip(METRIC_HELP.get(key, ""))
            self.table.setItem(i, 0, name)
            for c, (text, tip) in enumerate(zip(cells, tips, strict=True), 1):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                item.setToolTip(tip)
                if key == "skill" and c == 1:
                    skill = metrics.get("skill")
                    item.setForeground(QBrush(QColor("#2ca02c" if skill is not None and skill > 0 else "#c0392b")))
                    item.setFont(bold)
                self.table.setItem(i, c, item)
        self.table.resizeRowsToContents()  # (columns size themselves: the first stretches, the others fit)
        header = self.table.horizontalHeader()
        width = (sum(max(self.table.sizeHintForColumn(c), header.sectionSizeHint(c)) for c in range(4))
                 + 2 * self.table.frameWidth() + self.table.verticalScrollBar().sizeHint().width() + 4)
        self.table.setMinimumWidth(max(width, self.table.fontMetrics().horizontalAdvance("0") * 44))
        r = self.results
        self.words.setText("<br>".join(skill_words(pt["name"], pt, r.unit(t)) for t, pt in enumerate(rep["per_target"])))
        self._highlight_target()

    def _highlight_target(self) -> None:
        """The current target's header marked (▸, a stronger colour): the plots and the grid show it."""
        t = self.current_target()
        r = self.results
        for i in range(self.table.rowCount()):
            item = self.table.item(i, 0)
            data = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
            if not data or data[1] != HEADER or data[0] == AVERAGE or r is None:
                continue
            current = data[0] == t and self.target.count() > 1
            item.setBackground(QBrush(CURRENT_BACKGROUND if current else GROUP_BACKGROUND))
            item.setText(("▸ " if current else "") + r.target_label(data[0]))

    def metric_text(self, target: int, key: str) -> tuple[str, str, str]:
        """(model, interval, baseline) as the table shows them; ``target`` -1: the average (tests)."""
        for i in range(self.table.rowCount()):
            if self.table.item(i, 0).data(Qt.ItemDataRole.UserRole) == (target, key):
                return tuple(self.table.item(i, c).text() for c in (1, 2, 3))
        raise KeyError((target, key))

    def _cell_clicked(self, row: int, _col: int) -> None:
        data = self.table.item(row, 0).data(Qt.ItemDataRole.UserRole)
        if data and data[0] != AVERAGE:
            self.set_target(int(data[0]))

    # ----------------------------------------------------------------- plots
    @property
    def plots(self) -> dict:
        """Every plot, built now if it was not yet (tests, screenshots)."""
        for key in self._holders:
            self.plot(key)
        return self._plots

    def plot(self, kind: str):
        w = self._plots.get(kind)
        if w is None:
            w = self._plots[kind] = plots.new_plot(kind)
            self._holders[kind].layout().addWidget(w)
            if kind == "residual_vs_true":
                w.scene().sigMouseClicked.connect(lambda ev: self._point_clicked(w, ev))
            elif kind == "histogram":
                w.scene().sigMouseClicked.connect(lambda ev: self._bin_clicked(w, ev))
        return w

    def _visible_kinds(self) -> list[str]:
        current = self.tabs.currentWidget()
        return ["scatter"] + [k for k, holder in self._holders.items() if holder is current]

    def _draw_visible(self) -> None:
        """Draw the plots on screen when what they show changed (another subset, target or
        evaluation); hidden tabs wait until shown."""
        r = self.results
        if r is None:
            return
        key = (id(r), self.current_subset(), r.target)
        data = None
        for kind in self._visible_kinds():
            if self._drawn.get(kind) == key:
                continue
            if data is None:
                data = r.residuals(self.current_subset())
            w = self.plot(kind)
            plots.draw(kind, w, data)
            plots.mark(w, self.selected_row)
            self._drawn[kind] = key

    def draw_all(self) -> None:
        """Draw every plot now (tests, screenshots)."""
        for kind in self.plots:
            if kind not in self._visible_kinds() and self.results is not None:
                plots.draw(kind, self.plot(kind), self.results.residuals(self.current_subset()))
                plots.mark(self.plot(kind), self.selected_row)
                self._drawn[kind] = (id(self.results), self.current_subset(), self.results.target)
        self._draw_visible()

    def show_image(self, row: int) -> None:
        """The grid's selected image: a ring around its point."""
        self.selected_row = row
        for kind in ("scatter", "residual_vs_true"):
            if kind in self._plots:
                plots.mark(self._plots[kind], row)

    # ----------------------------------------------------------------- clicks
    def _point_clicked(self, widget, event) -> None:
        r = self.results
        if r is None:
            return
        row = plots.point_at(widget, event.scenePos())
        if row is not None:
            self.imageRequested.emit(str(r.scores.image_ids[row]), str(r.scores.subsets[row]))

    def _bin_clicked(self, widget, event) -> None:
        r = self.results
        if r is None:
            return
        b = plots.bin_at(widget, event.scenePos())
        if b is None:
            return
        lo, hi = b
        data = r.residuals(self.current_subset())
        res = data["residual"]
        last = hi >= float(widget.bins[0][-1])
        inside = (res >= lo) & ((res <= hi) if last else (res < hi))
        ids = frozenset(data["image_ids"][inside].tolist())
        unit = r.unit(r.target)
        why = f"{r.target_names[r.target]} error {fmt_value(lo)} to {fmt_value(hi)}" + (f" {unit}" if unit else "")
        self.filterRequested.emit({"subset": self.current_subset(), "ids": ids, "why": why, "outcome": "any",
                                   "truth": None, "predicted": None, "confidence": None, "label_issues": False})


__all__ = ["METRICS", "RegressionView", "fmt_interval", "fmt_metric", "skill_words"]
