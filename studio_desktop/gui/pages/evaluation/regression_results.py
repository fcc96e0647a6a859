"""What the Evaluation page reads of a regression evaluation (no Qt, no torch).

The numbers are those of :mod:`core.evaluation.regression` (the evaluator checks them against
torchmetrics), recomputed here from the cached predictions in ``scores.npz`` so that the table,
the plots, the grid's order and its colours always agree image for image.

One target is "current" at a time (the view's target selector): the plots, the grid's order
(absolute error, worst first) and the border colours follow it. A border says how an image's
error compares with the baseline that predicts the training mean for every image: green under
half the baseline's mean absolute error, amber up to it, red at or above it (on that image the
model did no better than knowing nothing).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ....core.evaluation.regression import RegressionScores, residuals, subset_report
from ....core.evaluation.store import EvaluationInfo, EvaluationStore
from .results import (
    BOOTSTRAP_CELLS,
    RESAMPLES,
    STATUS_HEX,
    CachedResults,
    ImageMeta,
    ResultFilter,
    _meta,
)

#: border codes (the grid's colours: green, red, amber; see results.STATUS_HEX)
CLOSE, POOR, FAIR = 1, 0, -1
#: an image is "close" when its absolute error is under this share of the baseline's MAE
CLOSE_SHARE = 0.5
OUTCOMES = {"any": "All images", "close": "Close (green)", "fair": "Fair (amber)",
            "poor": "No better than the mean (red)"}
OUTCOME_CODES = {"close": CLOSE, "fair": FAIR, "poor": POOR}
SORTS = {"error": "Absolute error", "residual": "Error (predicted − true)", "truth": "True value",
         "predicted": "Predicted value", "name": "File name", "order": "Evaluation order"}


def fmt_value(value: float | None) -> str:
    """A target value or error as people write it: 4 significant digits, no exponent for
    everyday sizes."""
    if value is None or not np.isfinite(value):
        return "–"
    return f"{value:.4g}"


def with_unit(text: str, unit: str) -> str:
    return f"{text} {unit}" if unit else text


class RegressionResults(CachedResults):
    """The cached predictions of one regression evaluation, and the current target."""

    task = "regression"
    status_words = {CLOSE: "close: error under half the baseline's mean absolute error",
                    FAIR: "fair: error between half and all of the baseline's mean absolute error",
                    POOR: "no better than always predicting the training mean"}
    caption_lines = 2
    has_label_issues = False
    grid_help = ("Sorted by absolute error, worst first. Border: green when the error is under half the "
                 "baseline's (always predicting the training mean) average error, amber up to it, red when "
                 "the model did no better than the mean on that image. Click an image for every target.")
    section_help = ("Every evaluated image with its true and predicted value, worst error first; click one for "
                    "every target")
    filter_help = {
        "outcome": "Green: error under half the baseline's mean absolute error; amber: up to it; red: no better "
                   "than always predicting the training mean (for the target chosen above the plots)",
        "sort": "Order of the images, for the target chosen above the plots: absolute error (Descending: worst "
                "first), signed error, true or predicted value",
        "descending": "Reverse the order (largest error first, largest value first, last file name first…)",
    }

    def __init__(self, store: EvaluationStore | None, info: EvaluationInfo | None, aggregate: dict,
                 scores: RegressionScores, meta: ImageMeta, units: dict[str, str] | None = None):
        self.store = store
        self.info = info
        self.aggregate = aggregate
        self.scores = scores
        self.meta = meta
        self.units = dict(units or {})
        #: regression has no decision rule; the page and the report compare ``op`` by identity
        self.op = None
        self.dirty = False
        self.target = 0
        err = np.abs(scores.truth - scores.train_mean[None, :]) if len(scores) else np.zeros((0, self.n_targets))
        #: per target: the baseline's mean absolute error over every evaluated image (the colours' scale)
        self.baseline_mae = err.mean(axis=0) if len(scores) else np.zeros(self.n_targets)
        self._columns()

    @classmethod
    def load(cls, experiment_folder: str | Path, project=None) -> RegressionResults:
        """Read an evaluation folder (off the GUI thread); ``project`` gives the targets' units."""
        store = EvaluationStore(experiment_folder)
        info = store.info()
        aggregate = store.aggregate()
        scores = RegressionScores.from_npz(store.scores_arrays())
        meta = _meta(scores, store.results(), [], store.folder / "results.jsonl")
        units = dict(getattr(project, "target_units", None) or {})
        return cls(store, info, aggregate, scores, meta, units)

    # ----------------------------------------------------------------- targets
    @property
    def target_names(self) -> list[str]:
        return self.scores.target_names

    @property
    def n_targets(self) -> int:
        return len(self.scores.target_names)

    def unit(self, target: int | str) -> str:
        name = self.target_names[target] if isinstance(target, int) else target
        return self.units.get(name, "")

    def target_label(self, target: int) -> str:
        """"radius (px)": a target's name with its unit."""
        name, unit = self.target_names[target], self.unit(target)
        return f"{name} ({unit})" if unit else name

    def set_target(self, target: int) -> None:
        """Make another target current: the grid's order and colours follow it."""
        self.target = max(0, min(int(target), self.n_targets - 1))
        self._columns()

    def _columns(self) -> None:
        """Per-image columns of the current target that the grid reads for every cell it paints."""
        t = self.target
        s = self.scores
        if not len(s):
            self.error = self.abs_error = np.zeros(0)
            self.status = np.zeros(0, dtype=np.int8)
            return
        self.error = s.values[:, t] - s.truth[:, t]
        self.abs_error = np.abs(self.error)
        self.status = self.status_of(self.abs_error, t)

    def status_of(self, abs_error: np.ndarray, target: int) -> np.ndarray:
        """Border codes of absolute errors of ``target``, against its baseline's MAE."""
        scale = max(float(self.baseline_mae[target]), 1e-12)
        status = np.full(len(abs_error), FAIR, dtype=np.int8)
        status[abs_error < CLOSE_SHARE * scale] = CLOSE
        status[abs_error >= scale] = POOR
        return status

    # ------------------------------------------------------------------ metrics
    def report(self, subset: str, *, full: bool = True, resamples: int = RESAMPLES) -> dict:
        """The core's subset report: per target and averaged, the baseline, the skill; with
        ``full`` the 95 % bootstrap intervals too (the evaluator's seed and resamples: equal)."""
        return subset_report(self.scores, subset, resamples=resamples if full else 0, max_cells=BOOTSTRAP_CELLS)

    def residuals(self, subset: str | None, target: int | None = None) -> dict[str, np.ndarray]:
        """True values, predictions and residuals of one target (default: the current one) in
        ``subset``, with each point's results row (``rows``) so a click can select its image."""
        t = self.target if target is None else target
        out = residuals(self.scores, t, subset)
        out["rows"] = np.nonzero(self.scores.subset(subset))[0]
        out["subsets"] = self.scores.subsets[out["rows"]]
        out["status"] = self.status_of(out["abs_error"], t)
        out["target"] = t
        out["label"] = self.target_label(t)
        out["unit"] = self.unit(t)
        out["baseline_mae"] = float(self.baseline_mae[t]) if self.n_targets else 0.0
        return out

    def how(self, metric: str) -> str:
        return str((self.aggregate.get("how") or {}).get(metric, ""))

    def counts(self, subset: str | None = None) -> dict[str, int]:
        rows = self.scores.subset(subset)
        st = self.status[rows]
        return {"images": int(rows.sum()), "close": int((st == CLOSE).sum()), "fair": int((st == FAIR).sum()),
                "poor": int((st == POOR).sum())}

    @staticmethod
    def headline(aggregate: dict) -> str:
        """The experiment list's summary, comparable across targets of any units: on the test
        (else validation) images, how much less error than always predicting the training mean
        the model makes (the skill, averaged over the targets); the MAE with one target."""
        subsets = aggregate.get("subsets", {})
        for name in ("test", "val", "train"):
            targets = (subsets.get(name) or {}).get("per_target") or []
            skills = [t["skill"] for t in targets if t.get("skill") is not None]
            if skills:
                mae = targets[0]["metrics"].get("mae") if len(targets) == 1 else None
                return (f"{name} {100 * float(np.mean(skills)):.0f} % less error"
                        + (f" (MAE {mae:.3g})" if mae is not None else ""))
        return "evaluated"

    # ------------------------------------------------------- the filter bar
    def default_filter(self) -> ResultFilter:
        """The worst errors first (of the current target)."""
        return ResultFilter(sort="error", descending=True)

    def outcomes(self) -> list[tuple[str, str]]:
        return list(OUTCOMES.items())

    def sorts(self) -> list[tuple[str, str]]:
        return list(SORTS.items())

    def choices(self, kind: str) -> list[tuple[object, str]]:
        return []  # no classes to filter by

    def grid_summary(self) -> str:
        c = self.counts()
        return f"{c['poor']:,} no better than the mean ({self.target_names[self.target]})"

    # ------------------------------------------------------------------ images
    def visible(self, flt: ResultFilter) -> np.ndarray:
        """Row indices that pass ``flt``, in its order (the sort keys read the current target)."""
        s = self.scores
        keep = np.ones(len(s), dtype=bool)
        if flt.subset is not None:
            keep &= s.subsets == flt.subset
        if flt.outcome in OUTCOME_CODES:
            keep &= self.status == OUTCOME_CODES[flt.outcome]
        if flt.ids is not None:
            keep &= np.isin(s.image_ids, np.asarray(sorted(flt.ids), dtype=str))
        rows = np.nonzero(keep)[0]
        t = self.target
        keys = {"error": self.abs_error, "residual": self.error, "truth": s.truth[:, t] if len(s) else None,
                "predicted": s.values[:, t] if len(s) else None}
        if flt.sort in keys and len(rows):
            key = keys[flt.sort][rows]
        elif flt.sort == "name" and len(rows):
            key = np.asarray(self.meta.names, dtype=str)[rows]
        else:
            key = None
        return self._ordered(rows, key, flt.descending)

    def caption(self, row: int) -> str:
        """Two lines under the thumbnail: the current target's true and predicted value."""
        t = self.target
        unit = self.unit(t)
        return (f"true {with_unit(fmt_value(self.scores.truth[row, t]), unit)}\n"
                f"pred {with_unit(fmt_value(self.scores.values[row, t]), unit)}")

    def targets_of(self, row: int) -> list[dict]:
        """Every target of one image: name, unit, true, predicted, error (predicted − true)."""
        s = self.scores
        return [{"name": n, "unit": self.unit(t), "truth": float(s.truth[row, t]),
                 "predicted": float(s.values[row, t]), "error": float(s.values[row, t] - s.truth[row, t])}
                for t, n in enumerate(self.target_names)]

    def describe_image(self, row: int) -> dict:
        """What the detail view shows of one image: every target's true, predicted and error."""
        t = self.target
        status = int(self.status[row])
        targets = self.targets_of(row)
        cur = targets[t]
        d = {"image": str(self.scores.image_ids[row]), "name": self.meta.names[row], "file": self.meta.files[row],
             "source": self.meta.sources[row], "subset": str(self.scores.subsets[row]), "status": status,
             "truth": with_unit(fmt_value(cur["truth"]), cur["unit"]),
             "predicted": with_unit(fmt_value(cur["predicted"]), cur["unit"]),
             "error": cur["error"], "targets": targets, "probabilities": [], "issue": None}
        cells = []
        for i, tv in enumerate(targets):
            b = ("<b>", "</b>") if i == t else ("", "")
            unit = f" {tv['unit']}" if tv["unit"] else ""
            color = STATUS_HEX[status] if i == t else "inherit"
            cells.append(f"<tr><td>{b[0]}{tv['name']}{b[1]}</td><td align='right'>{fmt_value(tv['truth'])}{unit}</td>"
                         f"<td align='right'>{fmt_value(tv['predicted'])}{unit}</td>"
                         f"<td align='right' style='color:{color}'>{tv['error']:+.4g}{unit}</td></tr>")
        d["verdict"] = ("<table cellspacing='0' cellpadding='2'><tr><th align='left'>target</th><th>true</th>"
                        "<th>predicted</th><th>error</th></tr>" + "".join(cells) + "</table>"
                        f"<span style='color:{STATUS_HEX[status]}'>{self.target_names[t]}: "
                        f"{self.status_words[status]}</span>")
        return d

    def tooltip(self, row: int) -> str:
        d = self.describe_image(row)
        lines = [f"{d['name']} ({d['subset']})"]
        for tv in d["targets"]:
            error = with_unit(format(tv["error"], "+.4g"), tv["unit"])
            lines.append(f"{tv['name']}: true {with_unit(fmt_value(tv['truth']), tv['unit'])}, predicted "
                         f"{with_unit(fmt_value(tv['predicted']), tv['unit'])} (error {error})")
        lines.append(self.status_words[d["status"]])
        return "\n".join(lines)

    def worst_errors(self, subset: str | None, n: int) -> np.ndarray:
        """The ``n`` largest absolute errors of the current target (the report's thumbnails)."""
        return self.visible(ResultFilter(subset=subset, sort="error", descending=True))[:n]


__all__ = ["CLOSE", "FAIR", "OUTCOMES", "POOR", "RegressionResults", "SORTS", "fmt_value", "with_unit"]
