"""Training curves: loss, validation metrics and learning rate, with pyqtgraph.

Points are buffered as they arrive (one per epoch, from the job runner or ``metrics.jsonl``)
and the plots are redrawn by a timer at most ~25 times a second, never once per event: a
fast worker or a re-attach that replays hundreds of epochs cannot flood the GUI thread.
The same panel overlays several experiments for comparison (one colour per experiment).
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QVBoxLayout, QWidget

from ...tasks import LOWER_IS_BETTER, TASKS, get_task

#: colours of overlaid experiments (and of the metric series of one experiment)
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]
REDRAW_MS = 40  # 25 Hz at most
NEW_ITEMS_PER_TICK = 3

#: the three plots: key, title, y label
PLOTS = (("loss", "Loss (lower is better)", "loss"),
         ("metrics", "Validation metrics (higher is better)", "value"),
         ("lr", "Learning rate", "lr"))


def is_epoch_row(row: dict) -> bool:
    """Epoch summary rows of metrics.jsonl (step rows are marked ``kind: "step"``)."""
    if row.get("kind") == "step":
        return False
    return row.get("epoch") is not None and (row.get("kind") == "epoch" or "step" not in row)


#: metric names written as people write them (the rest: underscores become spaces)
ACRONYMS = {"mae": "MAE", "rmse": "RMSE", "r2": "R²", "mape": "MAPE", "map": "mAP", "mar": "mAR", "miou": "mIoU",
            "ece": "ECE", "auroc": "AUROC"}
#: every metric a task of the registry logs under its own name (``map_50``: not a part of ``map``)
REGISTRY_METRICS = frozenset(m for info in TASKS.values() for m in info.metrics)


def _words(name: str) -> str:
    """Words of a metric name, COCO's way for its thresholds: map_50 -> mAP@0.5, mar_100 -> mAR@100."""
    out: list[str] = []
    for w in name.split("_"):
        if out and out[-1] in ("mAP", "mAR") and w.isdigit():
            out[-1] += "@" + (w if out[-1] == "mAR" else f"0.{w}".rstrip("0"))
        else:
            out.append(ACRONYMS.get(w, w))
    return " ".join(out)


def label_of(key: str) -> str:
    """``val_accuracy`` -> ``validation accuracy``, ``val_mae_radius`` -> ``validation MAE radius``:
    the words a student reads on the legend."""
    if key == "lr":
        return "learning rate"
    if key.startswith("val_"):
        return "validation " + _words(key[4:])
    if key.startswith("train_"):
        return "training " + _words(key[6:])
    return _words(key)


def lower_is_better(key: str) -> bool:
    """Whether a smaller value of a logged metric is better (``val_mae``, ``val_mae_radius``,
    ``train_loss``), from the task registry's LOWER_IS_BETTER."""
    base = key.removeprefix("val_").removeprefix("train_")
    return key in LOWER_IS_BETTER or base in LOWER_IS_BETTER or base.split("_")[0] in LOWER_IS_BETTER


def best_checkpoint_words(task: str) -> str:
    """How the best checkpoint of a task is chosen, in words: "lowest validation MAE"."""
    metric = get_task(task).primary_metric
    return f"{'lowest' if lower_is_better(metric) else 'highest'} {label_of('val_' + metric)}"


def plot_of(key: str) -> str | None:
    """Which plot a metric belongs to (None: not plotted, e.g. time or step counters)."""
    if key == "lr" or key.startswith("lr"):
        return "lr"
    if key.endswith("loss"):
        return "loss"
    if key.startswith("val_"):
        return "metrics"
    return None


class EpochAxis(pg.AxisItem):
    """Epochs are whole numbers: no 1.5 ticks."""

    def tickSpacing(self, minVal, maxVal, size):  # noqa: N802,N803 - pyqtgraph API
        return [(max(1.0, float(spacing)), offset) for spacing, offset in super().tickSpacing(minVal, maxVal, size)]

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph API
        return [f"{v:.0f}" for v in values]


class CurvesPanel(QWidget):
    """Three stacked plots fed with per-epoch metric dicts."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        pg.setConfigOptions(antialias=True)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.plots: dict[str, pg.PlotWidget] = {}
        # A plot costs ~15-50 ms to build: one per event-loop turn keeps the window responsive
        # while the page appears (points that arrive meanwhile wait in the buffer).
        self._to_build = list(PLOTS)
        QTimer.singleShot(0, self, self._build_next)
        # (experiment label, metric key) -> ([x], [y]); the curve items mirror them on redraw
        self._series: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
        self._items: dict[tuple[str, str], pg.PlotDataItem] = {}
        self._colors: dict[str, str] = {}
        self._compare = False
        #: the metric the best checkpoint is chosen on (``val_mae``): its best epoch gets a star
        self._monitor: str | None = None
        self._best_item = None
        self.best: tuple[int, float] | None = None  # (epoch, value) of the star
        self._dirty = False
        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self._redraw)
        self._timer.start()

    def _build_plot(self, key: str, title: str, ylabel: str) -> None:
        w = pg.PlotWidget(background="w", axisItems={"bottom": EpochAxis(orientation="bottom")})
        w.setTitle(title, color="#333", size="10pt")
        w.setLabel("bottom", "epoch")
        w.setLabel("left", ylabel)
        w.getAxis("left").enableAutoSIPrefix(False)  # "loss (x0.001)" confuses more than it helps
        w.showGrid(x=True, y=True, alpha=0.25)
        w.addLegend(offset=(-5, 5), labelTextSize="8pt")
        w.setMinimumHeight(110)
        w.setToolTip({"loss": "How wrong the model is. Training loss falling while validation loss "
                              "rises means over-fitting: the model memorises the training images.",
                      "metrics": "Scores on the validation images, which the model never trains on: "
                                 "the honest measure of how well it generalises.",
                      "lr": "The learning rate used at each epoch, as set by the schedule."}[key])
        self.plots[key] = w
        if key == "metrics":
            self._place_legend()
        self._layout.addWidget(w, 2 if key != "lr" else 1)

    def _build_next(self) -> None:
        if self._to_build:
            self._build_plot(*self._to_build.pop(0))
        if self._to_build:
            QTimer.singleShot(0, self, self._build_next)

    def ensure_built(self) -> None:
        """Build the plots not built yet, now (before drawing on demand)."""
        while self._to_build:
            self._build_plot(*self._to_build.pop(0))

    def _place_legend(self) -> None:
        """The metrics legend goes where the curves are not: metrics that rise leave the lower
        right free, metrics that fall (a regression's MAE) the upper right, like the loss."""
        plot = self.plots.get("metrics")  # (built a moment after the panel)
        legend = plot.plotItem.legend if plot is not None else None
        if legend is not None:
            low = self._monitor is None or lower_is_better(self._monitor)
            legend.anchor(itemPos=(1, 0 if low else 1), parentPos=(1, 0 if low else 1), offset=(-5, 5 if low else -5))

    def set_monitor(self, metric: str | None) -> None:
        """The validation metric the best checkpoint is chosen on (the task's primary metric): the
        metrics plot marks its best epoch and says whether lower or higher is better."""
        self._monitor = metric
        self._place_legend()
        self._dirty = True

    # ------------------------------------------------------------------ data
    def clear(self) -> None:
        self._series.clear()
        self._colors.clear()
        for key, item in self._items.items():
            self.plots[self._plot_for(key[1])].removeItem(item)
        self._items.clear()
        for w in self.plots.values():
            legend = w.plotItem.legend
            if legend is not None:
                legend.clear()
        if self._best_item is not None:
            self.plots["metrics"].removeItem(self._best_item)
            self._best_item = None
        self.best = None
        self._dirty = True

    def _plot_for(self, metric: str) -> str:
        return plot_of(metric) or "metrics"

    def add_point(self, epoch: float, metrics: dict, experiment: str = "") -> None:
        """Buffer one epoch's metrics (drawn on the next timer tick). Per-target parts of a metric
        (``val_mae_radius`` beside ``val_mae``) are left to the numbers above the plots: on one
        axis with the others, in their own units, they would bury the curve the best checkpoint is
        chosen on."""
        shown = [k for k in metrics if plot_of(k) == "metrics"]
        for key, value in metrics.items():
            if plot_of(key) is None or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if plot_of(key) == "metrics" and self._detail_of(key, shown):
                continue
            if self._compare and plot_of(key) == "metrics" and key != self._compare_metric:
                continue
            xs, ys = self._series.setdefault((experiment, key), ([], []))
            if xs and epoch <= xs[-1]:  # a resumed run re-reports an epoch: keep the newest value
                while xs and xs[-1] >= epoch:
                    xs.pop()
                    ys.pop()
            xs.append(float(epoch))
            ys.append(float(value))
        self._dirty = True

    def set_rows(self, rows: list[dict], experiment: str = "") -> None:
        """Replace the curves with the epoch rows of one experiment's ``metrics.jsonl``."""
        self._compare = False
        self.clear()
        self.add_rows(rows, experiment)

    def add_rows(self, rows: list[dict], experiment: str = "") -> None:
        for row in rows:
            if is_epoch_row(row):
                metrics = row.get("metrics") if isinstance(row.get("metrics"), dict) else row
                self.add_point(row["epoch"], metrics, experiment)

    def set_comparison(self, runs: dict[str, list[dict]], metric: str = "val_accuracy") -> None:
        """Overlay several experiments: name -> rows. Losses, ``metric`` and lr, one colour each."""
        self.clear()
        self._compare = True
        self._compare_metric = metric
        for i, (name, rows) in enumerate(runs.items()):
            self._colors[name] = PALETTE[i % len(PALETTE)]
            self.add_rows(rows, name)

    def point_count(self) -> int:
        """Points drawn (not just buffered): what the user sees."""
        return sum(len(item.xData) if item.xData is not None else 0 for item in self._items.values())

    def series_names(self) -> list[str]:
        return sorted(f"{exp}:{key}" if exp else key for exp, key in self._items)

    # ---------------------------------------------------------------- drawing
    def _pen(self, experiment: str, key: str) -> pg.mkPen:
        if self._compare:
            color = self._colors.setdefault(experiment, PALETTE[len(self._colors) % len(PALETTE)])
            style = Qt.PenStyle.DashLine if key.startswith("train_") else Qt.PenStyle.SolidLine
            return pg.mkPen(color, width=2, style=style)
        fixed = {"train_loss": PALETTE[0], "val_loss": PALETTE[1], "lr": PALETTE[2]}
        if key in fixed:
            return pg.mkPen(fixed[key], width=2)
        metric_keys = sorted({k for _, k in self._series if plot_of(k) == "metrics"})
        idx = metric_keys.index(key) if key in metric_keys else 0
        return pg.mkPen(PALETTE[(idx + 3) % len(PALETTE)], width=3 if key == self._monitor else 2)

    @staticmethod
    def _detail_of(key: str, keys) -> bool:
        """``val_mae_radius`` beside ``val_mae``: a per-target (or per-class) part of a metric.
        A metric the task registry names is never one (``val_map_50`` beside ``val_map``)."""
        if key.split("_", 1)[-1] in REGISTRY_METRICS:
            return False
        return any(key != k and key.startswith(k + "_") for k in keys)

    def _redraw(self, budget: int = NEW_ITEMS_PER_TICK) -> None:
        """Push buffered points to the curves; at most ``budget`` new curves per tick (creating
        one costs several ms with its legend entry), the rest on the next ticks."""
        if not self._dirty or self._to_build:
            return  # (still building the plots: the points stay buffered)
        self._dirty = False
        for skey, (xs, ys) in self._series.items():
            item = self._items.get(skey)
            if item is None:
                if budget <= 0:
                    self._dirty = True
                    continue
                budget -= 1
                experiment, metric = skey
                name = label_of(metric) if not experiment else f"{experiment}: {label_of(metric)}"
                if plot_of(metric) == "metrics" and self._mixed():  # the title cannot say which way is better
                    name += f" ({'lower' if lower_is_better(metric) else 'higher'} is better)"
                item = self.plots[self._plot_for(metric)].plot(
                    [], [], pen=self._pen(experiment, metric), name=name,
                    symbol="o" if len(xs) < 30 else None, symbolSize=4)
                self._items[skey] = item
            item.setData(list(xs), list(ys))
        self._fit_fraction_axis()
        self._mark_best()

    def _mixed(self) -> bool:
        """Whether the metrics plot holds metrics where lower is better beside ones where higher is."""
        ways = {lower_is_better(k) for _, k in self._series if plot_of(k) == "metrics"}
        return len(ways) > 1

    def _mark_best(self) -> None:
        """A star on the monitored metric's best epoch (a tie goes to the later epoch, as for
        best.ckpt), and a title that says which way is better (the legend, when both occur)."""
        plot = self.plots["metrics"]
        if self._mixed():
            title = "Validation metrics"
        else:
            lower = any(lower_is_better(k) for _, k in self._series if plot_of(k) == "metrics")
            title = f"Validation metrics ({'lower' if lower else 'higher'} is better)"
        series = None if self._compare or not self._monitor else self._series.get(("", self._monitor))
        best = None
        if series and series[0]:
            low = lower_is_better(self._monitor)
            for x, y in zip(*series, strict=True):
                if best is None or (y <= best[1] if low else y >= best[1]):
                    best = (int(x), y)
        if best is None:
            if self._best_item is not None:
                plot.removeItem(self._best_item)
                self._best_item = None
            self.best = None
            plot.setTitle(title, color="#333", size="10pt")
            return
        words = f"{'lowest' if lower_is_better(self._monitor) else 'highest'} {label_of(self._monitor)}"
        plot.setTitle(f"{title} · ★ best checkpoint: {words}", color="#333", size="10pt")
        if self._best_item is None:
            self._best_item = pg.ScatterPlotItem(symbol="star", size=18, brush=pg.mkBrush("#111"), pen=None)
            self._best_item.setZValue(10)
            plot.addItem(self._best_item)
            plot.plotItem.legend.addItem(self._best_item, "best checkpoint")
        self._best_item.setData([best[0]], [best[1]])
        self._best_item.setToolTip(f"The best checkpoint (best.ckpt): epoch {best[0]}, the {words} "
                                   f"({best[1]:.4g}); Evaluation uses it by default")
        self.best = best

    def _fit_fraction_axis(self) -> None:
        """Scores between 0 and 1 (accuracy, F1...) get the whole 0-1 axis: an auto range that
        zooms onto 0.99-1.0 makes a converged run look noisy and crowds the tick labels."""
        values = [y for (_, key), (_, ys) in self._series.items() if plot_of(key) == "metrics" for y in ys]
        plot = self.plots["metrics"].plotItem
        if values and all(0.0 <= v <= 1.0 for v in values):
            plot.setYRange(0.0, 1.0, padding=0.03)
        else:
            plot.enableAutoRange(axis="y")

    def redraw_now(self) -> None:
        """Draw all buffered points immediately (tests, screenshots)."""
        self.ensure_built()
        self._dirty = True
        self._redraw(budget=1 << 30)
