"""Compare: this experiment against another evaluated on the same images.

Side by side the headline metrics with their 95 % intervals, McNemar's paired test on the images
both got right or wrong (accuracy differences on a few dozen images are mostly noise), and the
"flips" — images one gets right and the other wrong — as a filter on the image grid. Each side
decides with its own operating point: this one as edited on the page, the other as saved.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..dataset.background import BackgroundCall
from .controller import SUBSET_WORDS, EvaluationController
from .views.classification import METRICS, fmt, fmt_interval

COMPARED = ("accuracy", "balanced_accuracy", "f1_macro", "precision_macro", "recall_macro")


class ComparePanel(QWidget):
    #: ResultFilter fields for the grid (the flips)
    filterRequested = Signal(dict)
    #: a comparison is on screen (tests)
    compared = Signal(object)

    def __init__(self, load_other, parent=None):
        """``load_other(exp_id)`` returns that experiment's results (called off the GUI thread)."""
        super().__init__(parent)
        self._load_other = load_other
        self.results = None
        self.name = ""
        self.other = None
        self.other_name = ""
        self.subset = ""
        self.comparison = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        row = QHBoxLayout()
        row.addWidget(QLabel("Compare with"))
        self.choice = QComboBox()
        self.choice.setToolTip("Another experiment of this project with an evaluation; the comparison uses the "
                               "images both evaluated in the chosen subset")
        row.addWidget(self.choice, 1)
        lay.addLayout(row)
        self.table = QTableWidget(0, 3)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        for c in (1, 2):
            self.table.horizontalHeader().setSectionResizeMode(c, QHeaderView.ResizeMode.Stretch)
        self.table.setToolTip("Each metric with its 95 % bootstrap interval; overlapping intervals mean the "
                              "difference may be chance")
        lay.addWidget(self.table, 1)
        self.verdict = QLabel("Choose an experiment to compare with.")
        self.verdict.setWordWrap(True)
        self.verdict.setTextFormat(Qt.TextFormat.RichText)
        self.verdict.setToolTip("McNemar's test looks only at the images where the two disagree; exact binomial "
                                "up to 50 disagreements. p < 0.05: unlikely to be chance")
        lay.addWidget(self.verdict)
        flips = QHBoxLayout()
        self.only_a = QPushButton("")
        self.only_b = QPushButton("")
        for b in (self.only_a, self.only_b):
            b.setToolTip("Show these images in the grid below")
            b.setEnabled(False)
            flips.addWidget(b)
        lay.addLayout(flips)
        self.only_a.clicked.connect(lambda: self._show_flips(True))
        self.only_b.clicked.connect(lambda: self._show_flips(False))
        self.choice.currentIndexChanged.connect(self._choice_changed)
        self._loader = BackgroundCall(self)
        self._loader.done.connect(self._other_loaded)
        self._loader.failed.connect(lambda msg: self.verdict.setText(f"<span style='color:#c0392b'>{msg}</span>"))
        self._reports = BackgroundCall(self)
        self._reports.done.connect(self._reports_ready)

    # ------------------------------------------------------------------ input
    def set_candidates(self, experiments: list) -> None:
        keep = self.choice.currentData()
        self.choice.blockSignals(True)
        self.choice.clear()
        self.choice.addItem("(nothing)", "")
        for e in experiments:
            self.choice.addItem(e.name, e.id)
        self.choice.setCurrentIndex(max(0, self.choice.findData(keep)))
        self.choice.blockSignals(False)
        if self.choice.currentData() != keep:
            self._choice_changed()

    def set_results(self, results, name: str, subset: str) -> None:
        self.results, self.name, self.subset = results, name, subset
        self.update_comparison()

    def set_subset(self, subset: str) -> None:
        self.subset = subset
        self.update_comparison()

    def choose(self, exp_id: str) -> None:
        self.choice.setCurrentIndex(max(0, self.choice.findData(exp_id)))

    def _choice_changed(self) -> None:
        exp_id = self.choice.currentData()
        self.other, self.other_name = None, self.choice.currentText() if exp_id else ""
        if not exp_id:
            self._clear("Choose an experiment to compare with.")
            return
        self._clear("Loading…")
        self._loader.start(lambda: self._load_other(exp_id))

    def _other_loaded(self, other) -> None:
        self.other = other
        self.update_comparison()

    # ---------------------------------------------------------------- compare
    def _clear(self, text: str) -> None:
        self.comparison = None
        self.table.setRowCount(0)
        self.verdict.setText(text)
        for b in (self.only_a, self.only_b):
            b.setText("")
            b.setEnabled(False)

    def update_comparison(self) -> None:
        """Recompute the paired test at once (cheap); the intervals follow from the background."""
        a, b = self.results, self.other
        if a is None or b is None:
            return
        subset = self.subset if self.subset in b.subsets else None
        comp = EvaluationController.compare(a, b, self.subset if subset else None)
        self.comparison = comp
        where = f"{SUBSET_WORDS.get(self.subset, self.subset)} images" if subset else "images"
        if comp.common == 0:
            self.verdict.setText(f"<b>{self.other_name}</b> was not evaluated on these {where}: evaluate both "
                                 "on the same subsets to compare them.")
        else:
            p = f"p = {comp.p_value:.3g}, {comp.method}" if comp.p_value is not None else comp.method
            self.verdict.setText(f"On the {comp.common} {where} both evaluated: "
                                 f"<b>{comp.verdict(self.name, self.other_name)}</b>.<br>"
                                 f"Both right {comp.both_right}, both wrong {comp.both_wrong}; paired test: {p}.")
        self.only_a.setText(f"Only {self.name} right ({len(comp.only_a_right)})")
        self.only_b.setText(f"Only {self.other_name} right ({len(comp.only_b_right)})")
        self.only_a.setEnabled(bool(comp.only_a_right))
        self.only_b.setEnabled(bool(comp.only_b_right))
        self._fill_table(None, None)
        s = self.subset
        self._reports.start(lambda a=a, b=b, op=a.op: (a, b, op, a.report(s, full=True),
                                                         b.report(s, full=True) if s in b.subsets else None))
        self.compared.emit(comp)

    def _reports_ready(self, payload) -> None:
        a, b, op, ra, rb = payload
        if a is self.results and b is self.other and op is a.op:
            self._fill_table(ra, rb)

    def _fill_table(self, ra, rb) -> None:
        rows = [(k, label, pct) for k, label, pct in METRICS if k in COMPARED]
        self.table.setColumnCount(3)
        self.table.setHorizontalHeaderLabels(["Metric", self.name, self.other_name])
        self.table.setRowCount(len(rows))
        for i, (key, label, pct) in enumerate(rows):
            self.table.setItem(i, 0, QTableWidgetItem(label))
            for col, rep in ((1, ra), (2, rb)):
                if rep is None:
                    text = "…" if (col == 1 or self.subset in self.other.subsets) else "not evaluated"
                else:
                    iv = fmt_interval(rep.intervals.get(key), pct)
                    text = fmt(rep.metrics.get(key), pct) + (f"  ({iv})" if iv else "")
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.table.setItem(i, col, item)
        self.table.resizeRowsToContents()

    def _show_flips(self, a_right: bool) -> None:
        comp = self.comparison
        if comp is None:
            return
        ids = comp.only_a_right if a_right else comp.only_b_right
        winner, loser = (self.name, self.other_name) if a_right else (self.other_name, self.name)
        self.filterRequested.emit({"ids": frozenset(ids), "why": f"{winner} right, {loser} wrong",
                                   "subset": self.subset if self.subset in self.other.subsets else None,
                                   "outcome": "any", "truth": None, "predicted": None, "confidence": None,
                                   "label_issues": False})
