"""One loaded evaluation, as every section of the Evaluation page reads it (no Qt, no torch).

The page never keeps numbers of its own: the metrics table, the confusion matrix, the per-class
bars, the grid's colours and its counts are all computed here from the cached scores under the
one current operating point (:mod:`core.evaluation.operating_point`), saved or being edited. So
the numbers on the page always agree with each other, and with ``aggregate.json`` while the
operating point is the one the evaluator ran with.

Per task, a results class (here :class:`ClassificationResults`; regression's in
:mod:`.regression_results`) knows how its scores become decisions, and tells the generic Images
section what to offer (filter choices, sorts, captions, border words, tooltips, the detail's
verdict); :data:`RESULTS` maps task ids to them, so later tasks add a class and a view module.
Filtering and sorting are numpy operations over whole columns: 10,000 images filter in about a
millisecond, so the grid can follow every click and every threshold change at once.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ....core.errors import StoreError
from ....core.evaluation.classification import (
    Decisions,
    Scores,
    SubsetReport,
    decisions,
    fit_temperature,
    subset_report,
)
from ....core.evaluation.operating_point import OperatingPoint, load_operating_point, save_operating_point
from ....core.evaluation.store import EvaluationInfo, EvaluationStore

#: image outcome under the operating point (the grid's border colour)
CORRECT, WRONG, UNCERTAIN = 1, 0, -1
#: border colour of each outcome (green, red, amber); the grid and the detail draw with these
STATUS_HEX = {CORRECT: "#2ca02c", WRONG: "#d62728", UNCERTAIN: "#f0a30a"}
OUTCOMES = {"any": "All outcomes", "correct": "Correct", "incorrect": "Incorrect", "uncertain": "Uncertain"}
SORTS = {"order": "Evaluation order", "confidence": "Confidence", "name": "File name",
         "label_issue": "Label-error rank"}
SUBSET_ORDER = ("val", "test", "train")
#: bootstrap resamples for the page's intervals (the evaluator's number, so they agree)
RESAMPLES = 1000
#: resampled cells per numpy call in the page's bootstrap (a few ms each; see ``report``)
BOOTSTRAP_CELLS = 200_000


@dataclass(frozen=True)
class ResultFilter:
    """What the image grid shows: the filter bar's state plus a drill-down from a result view.

    ``truth`` and ``predicted`` are output indices (the model's class order). ``confidence`` is a
    ``[low, high)`` range of the highest class probability (the reliability diagram's bins; 1.0
    falls in the last bin). ``ids`` is an explicit selection (the compare view's flips), named
    by ``why`` in the filter bar."""

    subset: str | None = None
    outcome: str = "any"
    truth: int | None = None
    predicted: int | None = None
    label_issues: bool = False
    confidence: tuple[float, float] | None = None
    ids: frozenset[str] | None = None
    why: str = ""
    sort: str = "order"
    descending: bool = False

    def but(self, **changes) -> ResultFilter:
        return replace(self, **changes)

    @property
    def drilled(self) -> bool:
        """A selection that the filter bar's combos do not show (confidence range, explicit ids)."""
        return self.confidence is not None or self.ids is not None


@dataclass
class ImageMeta:
    """Per image, from ``results.jsonl`` and ``label_issues.json``, aligned with the score rows."""

    files: list[str]
    names: list[str]
    sources: list[str]
    #: rank of the image among the likely label errors (1 = most likely), 0 when not listed
    issue_rank: np.ndarray
    #: row -> {"given": {...}, "suggested": {...}, "quality": ..., "rank": ...}
    issues: dict[int, dict] = field(default_factory=dict)


def _name_of(source: str, file: str) -> str:
    return (source or file).replace("\\", "/").rsplit("/", 1)[-1]


def _meta(scores: Scores, lines: list[dict], issues: list[dict], path: Path) -> ImageMeta:
    """Line up results.jsonl (and the label issues) with the score rows by (image, subset)."""
    by_key = {(str(d.get("image")), str(d.get("subset"))): d for d in lines}
    files, names, sources = [], [], []
    for image_id, subset in zip(scores.image_ids.tolist(), scores.subsets.tolist(), strict=True):
        line = by_key.get((image_id, subset))
        if line is None:
            raise StoreError(f"has no line for image {image_id} ({subset}) of scores.npz; evaluate again",
                             path=path)
        file = str(line.get("file") or "")
        source = str(line.get("source") or "")
        files.append(file)
        sources.append(source)
        names.append(_name_of(source, file))
    rank = np.zeros(len(scores), dtype=np.int64)
    rows_of = {(i, s): r for r, (i, s) in enumerate(zip(scores.image_ids.tolist(), scores.subsets.tolist(),
                                                         strict=True))}
    by_row: dict[int, dict] = {}
    for issue in issues:
        row = rows_of.get((str(issue.get("image")), str(issue.get("subset"))))
        if row is not None and issue.get("rank"):
            rank[row] = int(issue["rank"])
            by_row[row] = issue
    return ImageMeta(files=files, names=names, sources=sources, issue_rank=rank, issues=by_row)


def _same_rule(a: OperatingPoint | None, b: OperatingPoint | None) -> bool:
    """Whether two operating points decide alike (when they were chosen does not matter)."""
    def key(op):
        op = op or OperatingPoint()
        return op.model_dump(mode="json", exclude={"chosen", "goal", "goals", "achieved"})
    return key(a) == key(b)


class CachedResults:
    """What every task's results object shares: the evaluated subsets, the image count, the file
    of an image id, and the grid's order from a sort key. Subclasses set ``self.scores`` (the
    task's cached scores: ``subsets``, ``image_ids``) and ``self.meta`` (:class:`ImageMeta`)."""

    scores = None
    meta: ImageMeta

    @property
    def subsets(self) -> list[str]:
        """The evaluated subsets, in the evaluator's order (val, test, train)."""
        present = set(self.scores.subsets.tolist())
        return [s for s in SUBSET_ORDER if s in present] + sorted(present - set(SUBSET_ORDER))

    def default_subset(self) -> str:
        return "test" if "test" in self.subsets else self.subsets[0]

    def __len__(self) -> int:
        return len(self.scores)

    def file_of(self, image_id: str) -> str:
        """The dataset-relative image file of an image id."""
        return self._files_by_id.get(image_id, "")

    @functools.cached_property
    def _files_by_id(self) -> dict[str, str]:
        return dict(zip(self.scores.image_ids.tolist(), self.meta.files, strict=True))

    @staticmethod
    def _ordered(rows: np.ndarray, key, descending: bool) -> np.ndarray:
        """``rows`` sorted by ``key`` (stable; None: the cache's order)."""
        if key is None:
            return rows[::-1] if descending else rows
        order = np.argsort(key, kind="stable")
        return rows[order[::-1] if descending else order]


class ClassificationResults(CachedResults):
    """The cached scores of one classification evaluation and what the operating point makes of them."""

    task = "classification"
    #: what the grid's border colours mean (tooltips, the detail's verdict)
    status_words = {CORRECT: "correct", WRONG: "wrong", UNCERTAIN: "uncertain (flagged for review, not counted)"}
    #: lines of text under each thumbnail
    caption_lines = 1
    #: whether the evaluation lists likely label errors (the filter bar's check box)
    has_label_issues = True
    grid_help = ("Green: right · red: wrong · amber: uncertain (not counted) · #n: likely label "
                 "error. Click an image to see its class probabilities.")
    section_help = "Every evaluated image, green right, red wrong; filter, sort and click for the class probabilities"

    def __init__(self, store: EvaluationStore, info: EvaluationInfo, aggregate: dict, scores: Scores,
                 meta: ImageMeta, saved: OperatingPoint | None):
        self.store = store
        self.info = info
        self.aggregate = aggregate
        self.scores = scores
        self.meta = meta
        #: the operating point in operating_point.json (None: none saved, argmax)
        self.saved = saved
        self.op = saved or OperatingPoint()
        self._decide()

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, experiment_folder: str | Path, project=None) -> ClassificationResults:
        """Read an evaluation folder (seconds for a large one: call it off the GUI thread)."""
        store = EvaluationStore(experiment_folder)
        info = store.info()
        aggregate = store.aggregate()
        scores = Scores.from_npz(store.scores_arrays())
        meta = _meta(scores, store.results(), store.label_issues(), store.folder / "results.jsonl")
        return cls(store, info, aggregate, scores, meta, load_operating_point(store.folder))

    # ----------------------------------------------------------------- classes
    @property
    def class_names(self) -> list[str]:
        return self.scores.class_names

    @property
    def class_ids(self) -> list[int]:
        return self.scores.class_ids

    def names_by_id(self) -> dict[int, str]:
        return dict(zip(self.class_ids, self.class_names, strict=True))

    @staticmethod
    def headline(aggregate: dict) -> str:
        """The experiment list's one-word summary of an ``aggregate.json``: test (else validation)
        accuracy."""
        subsets = aggregate.get("subsets", {})
        for name in ("test", "val", "train"):
            acc = (subsets.get(name) or {}).get("metrics", {}).get("accuracy")
            if acc is not None:
                return f"{name} {100 * acc:.1f} %"
        return "evaluated"

    # ------------------------------------------------------- the filter bar
    def default_filter(self) -> ResultFilter:
        """What the grid shows when an evaluation opens."""
        return ResultFilter()

    def outcomes(self) -> list[tuple[str, str]]:
        return list(OUTCOMES.items())

    def sorts(self) -> list[tuple[str, str]]:
        return list(SORTS.items())

    def choices(self, kind: str) -> list[tuple[object, str]]:
        """The filter bar's class choices (``truth`` or ``predicted``); an empty list hides the combo."""
        first = {"truth": "Any true class", "predicted": "Any prediction"}[kind]
        word = {"truth": "true", "predicted": "predicted"}[kind]
        return [(None, first)] + [(i, f"{word}: {n}") for i, n in enumerate(self.class_names)]

    def grid_summary(self) -> str:
        """The Images section's header after "n of N shown": what went wrong."""
        c = self.counts()
        unsure = f", {c['uncertain']} uncertain" if c["uncertain"] else ""
        return f"{c['incorrect']:,} wrong{unsure}"

    # ---------------------------------------------------------- operating point
    def set_operating_point(self, op: OperatingPoint | None) -> None:
        """Decide again from the cached scores (a few ms for 10,000 images)."""
        self.op = op or OperatingPoint()
        self._decide()

    @property
    def dirty(self) -> bool:
        """The operating point on screen differs from the saved one."""
        return not _same_rule(self.op, self.saved)

    def save_operating_point(self) -> Path:
        path = save_operating_point(self.store.folder, self.op)
        self.saved = self.op
        return path

    def revert_operating_point(self) -> None:
        self.set_operating_point(self.saved)

    def describe_rule(self) -> str:
        return self.op.describe(self.names_by_id())

    def temperature_from_validation(self) -> float | None:
        """Temperature fitted on the evaluated validation images, or None without any."""
        rows = self.scores.subset("val")
        if not rows.any():
            return None
        return fit_temperature(self.scores.logits[rows], self.scores.truth[rows])

    def _decide(self) -> None:
        """Decisions and the per-image columns the grid reads for every cell it paints."""
        self.dec: Decisions = decisions(self.scores, self.op)
        right = self.dec.pred == self.scores.truth
        status = np.where(right, CORRECT, WRONG).astype(np.int8)
        status[self.dec.uncertain] = UNCERTAIN
        self.status = status
        #: probability of the predicted class, and the highest class probability
        self.confidence = self.dec.confidence
        self.top_probability = self.dec.probs.max(axis=1) if len(self) else np.zeros(0)

    # ----------------------------------------------------------------- metrics
    def report(self, subset: str, *, full: bool = True, resamples: int = RESAMPLES) -> SubsetReport:
        """The subset's metrics at the current operating point. ``full=False`` leaves out the
        curves and the bootstrap intervals (milliseconds instead of a second for 10,000 images).

        The intervals are those of ``subset_report`` (same statistic, seed and resamples: equal,
        tested), drawn in small chunks: the core's 4-million-cell chunks hold the GIL for ~50 ms
        per numpy call, which stalls the GUI thread while this runs in a background thread."""
        return subset_report(self.scores, self.dec, subset, curves=full, resamples=resamples if full else 0,
                             max_cells=BOOTSTRAP_CELLS)

    def how(self, metric: str) -> str:
        """How the evaluator says a metric is computed (aggregate.json), for tooltips."""
        return str((self.aggregate.get("how") or {}).get(metric, ""))

    def counts(self, subset: str | None = None) -> dict[str, int]:
        rows = self.scores.subset(subset)
        st = self.status[rows]
        return {"images": int(rows.sum()), "correct": int((st == CORRECT).sum()),
                "incorrect": int((st == WRONG).sum()), "uncertain": int((st == UNCERTAIN).sum())}

    def correctness(self) -> list[bool | None]:
        """Per row: right, wrong, or None when flagged uncertain (for the paired comparison)."""
        return [None if s == UNCERTAIN else bool(s == CORRECT) for s in self.status.tolist()]

    # ------------------------------------------------------------------ images
    def visible(self, flt: ResultFilter) -> np.ndarray:
        """Row indices that pass ``flt``, in its order."""
        s = self.scores
        keep = np.ones(len(s), dtype=bool)
        if flt.subset is not None:
            keep &= s.subsets == flt.subset
        if flt.outcome == "correct":
            keep &= self.status == CORRECT
        elif flt.outcome == "incorrect":
            keep &= self.status == WRONG
        elif flt.outcome == "uncertain":
            keep &= self.status == UNCERTAIN
        if flt.truth is not None:
            keep &= s.truth == flt.truth
        if flt.predicted is not None:
            keep &= self.dec.pred == flt.predicted
        if flt.label_issues:
            keep &= self.meta.issue_rank > 0
        if flt.confidence is not None:
            lo, hi = flt.confidence
            top = self.top_probability
            keep &= (top >= lo) & ((top < hi) | (hi >= 1.0))
        if flt.ids is not None:
            keep &= np.isin(s.image_ids, np.asarray(sorted(flt.ids), dtype=str))
        rows = np.nonzero(keep)[0]
        if flt.sort == "confidence":
            key = self.confidence[rows]
        elif flt.sort == "name":
            key = np.asarray(self.meta.names, dtype=str)[rows] if len(rows) else np.zeros(0)
        elif flt.sort == "label_issue":
            rank = self.meta.issue_rank[rows]
            key = np.where(rank > 0, rank, np.iinfo(np.int64).max)
        else:
            key = None
        return self._ordered(rows, key, flt.descending)

    def caption(self, row: int) -> str:
        """The grid's caption: the predicted class and its probability ("uncertain" when flagged)."""
        name = self.class_names[int(self.dec.pred[row])]
        conf = float(self.confidence[row])
        if self.status[row] == UNCERTAIN:
            return f"? {name} {conf:.0%}"
        return f"{name} {conf:.0%}"

    def describe_image(self, row: int) -> dict:
        """What the detail view shows of one image (``verdict``: its rich-text line)."""
        truth = int(self.scores.truth[row])
        pred = int(self.dec.pred[row])
        probs = self.dec.probs[row]
        order = np.argsort(-probs, kind="stable")
        status = int(self.status[row])
        d = {"image": str(self.scores.image_ids[row]), "name": self.meta.names[row],
             "file": self.meta.files[row], "source": self.meta.sources[row],
             "subset": str(self.scores.subsets[row]), "truth": self.class_names[truth],
             "predicted": self.class_names[pred], "confidence": float(probs[pred]),
             "status": status,
             "probabilities": [(self.class_names[i], float(probs[i])) for i in order.tolist()],
             "issue": self.meta.issues.get(row)}
        d["verdict"] = (f"true <b>{d['truth']}</b> · predicted <b style='color:{STATUS_HEX[status]}'>"
                        f"{d['predicted']}</b> ({100 * d['confidence']:.1f} %) — {self.status_words[status]}")
        return d

    def tooltip(self, row: int) -> str:
        """The grid's tooltip of one image."""
        d = self.describe_image(row)
        text = (f"{d['name']} ({d['subset']})\ntrue: {d['truth']}\npredicted: {d['predicted']} "
                f"{d['confidence']:.1%} — {self.status_words[d['status']]}")
        if d["issue"]:
            text += (f"\nlikely label error #{d['issue']['rank']}: given {d['issue']['given']['name']}, "
                     f"suggested {d['issue']['suggested']['name']}")
        return text

    def worst_errors(self, subset: str | None, n: int) -> np.ndarray:
        """The ``n`` wrong predictions made with the highest confidence (the report's thumbnails)."""
        return self.visible(ResultFilter(subset=subset, outcome="incorrect", sort="confidence",
                                         descending=True))[:n]


#: task id -> "module:Class" (under this package) that loads and decides that task's evaluations
RESULTS: dict[str, str] = {
    "classification": "results:ClassificationResults",
    "regression": "regression_results:RegressionResults",
    "object_detection": "detection_results:DetectionResults",
    "anomaly_detection": "anomaly_results:AnomalyResults",
    "semantic_segmentation": "segmentation_results:SegmentationResults",
}


def results_class(task: str) -> type | None:
    """The results class of ``task`` (imported on first use), or None when there is none yet."""
    spec = RESULTS.get(task)
    if spec is None:
        return None
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(f"{__package__}.{module}"), name)


def load_results(experiment_folder: str | Path, task: str, project=None):
    """The task's results object for an experiment's evaluation (off the GUI thread); ``project``
    gives what the evaluation files do not hold (a regression's target units)."""
    cls = results_class(task)
    if cls is None:
        raise StoreError(f"the Evaluation page cannot show {task.replace('_', ' ')} results yet")
    return cls.load(experiment_folder, project=project)


__all__ = ["CORRECT", "ClassificationResults", "ImageMeta", "OUTCOMES", "RESULTS", "ResultFilter", "SORTS",
           "STATUS_HEX", "UNCERTAIN", "WRONG", "load_results", "results_class"]
