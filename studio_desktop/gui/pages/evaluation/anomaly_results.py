"""One loaded anomaly-detection evaluation, as every section of the Evaluation page reads it (no Qt,
no torch).

The evaluator cached each image's raw score and anomaly map (``scores.npz``); the operating point
is one threshold on that score. Everything here is recomputed from the cache by
``core/evaluation/anomaly.py`` under the one current threshold — the 2x2 counts, the rates, the
grid's colours and filters, the heat maps' colour scale — so the numbers never disagree: the
confusion matrix's cells are the sums over the grid (tested). Counting at a new threshold is a
binary search in pre-sorted scores (:class:`ThresholdCounter`), so a dragged line follows the
pointer.

The grid's border: green when the verdict is right (a normal image passed, a defect flagged), red
when a defect was missed, amber for a false alarm on a normal image. Heat maps are drawn with
``core/anomaly.py``: the colour scale puts the threshold in its middle, so "orange and hotter" means
"above the threshold" on every image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ....core import anomaly as heat
from ....core.evaluation import anomaly as an
from ....core.evaluation.operating_point import OperatingPoint, load_operating_point, save_operating_point
from ....core.evaluation.store import EvaluationInfo, EvaluationStore
from .results import CORRECT, STATUS_HEX, UNCERTAIN, WRONG, CachedResults, ImageMeta, ResultFilter, _meta

TASK = an.TASK
OUTCOMES = {"any": "All images", "errors": "Wrong verdicts", "missed": "Missed defects (FN)",
            "false_alarm": "False alarms (FP)", "flagged": "Flagged anomalous", "passed": "Passed as normal"}
SORTS = {"score": "Anomaly score", "margin": "Distance from the threshold", "name": "File name",
         "order": "Evaluation order"}
#: the 2x2 matrix's rows (truth) and columns (verdict)
KINDS = ("normal", "anomalous")
#: the detail's layers: key, title, shortcut, tooltip, shown at first (the protocol segmentation uses)
LAYERS = (
    ("heat", "Heat map", "H", "The anomaly map over the image: transparent where normal, dark red to yellow where "
                              "it scores above the threshold (the middle of the scale) (H)", True),
    ("truth", "Defect outline", "T", "The ground-truth defect mask's outline, in magenta (T)", True),
    ("region", "Flagged region", "R", "The outline of the pixels whose map value reaches the threshold, in "
                                      "white: what the model calls defective (R)", False),
)
#: outline colours: magenta and white appear nowhere in the heat map's colour table
TRUTH_RGB, REGION_RGB = (255, 0, 255), (255, 255, 255)
#: opacity of the hottest heat-map colour
HEAT_ALPHA = 0.65
#: thumbnails' heat maps: long side in pixels, and how many are kept
THUMB_SIDE, THUMB_CACHE = 96, 512
#: the detail's layers are made at most this wide (the canvas stretches them over the photo): a
#: dragged threshold redraws them in tens of milliseconds even for a 12-megapixel photo
LAYER_SIDE = 1024
#: images whose map at the layers' size and defect outline are kept
FRAME_CACHE = 4


class AnomalyResults(CachedResults):
    """The cached scores and maps of one anomaly evaluation, and the current threshold."""

    task = TASK
    status_words = {CORRECT: "right", WRONG: "missed defect (false negative)",
                    UNCERTAIN: "false alarm on a normal image (false positive)"}
    caption_lines = 2
    has_label_issues = False
    grid_help = ("Sorted by anomaly score, highest first, with the heat map over each image. Border: green when the "
                 "verdict is right, red for a missed defect, amber for a false alarm. Click an image for its heat "
                 "map, defect outline and flagged region.")
    section_help = ("Every evaluated image by anomaly score with its heat map; filter by verdict or by a cell of the "
                    "2x2 matrix, click one to inspect it")
    filter_help = {
        "outcome": "Images by verdict at the current threshold: wrong ones, missed defects, false alarms, flagged "
                   "or passed",
        "sort": "Order of the images: anomaly score (Descending: most anomalous first), distance from the "
                "threshold (closest first: the doubtful ones), name",
        "descending": "Reverse the order",
    }
    choice_help = {"truth": "Images that are really normal or really defective (a row of the 2x2 matrix)",
                   "predicted": "Images the model passes or flags at the threshold (a column of the 2x2 matrix)"}

    def __init__(self, store: EvaluationStore | None, info: EvaluationInfo | None, aggregate: dict,
                 scores: an.AnomalyScores, meta: ImageMeta, sizes: np.ndarray, saved: OperatingPoint | None,
                 truths: list[dict] | None = None):
        self.store = store
        self.info = info
        self.aggregate = aggregate
        self.scores = scores
        self.meta = meta
        self.sizes = sizes
        self.saved = saved if saved is not None and saved.task == TASK else None
        self.op = self.saved or OperatingPoint(task=TASK)
        self.default_threshold, self.default_how = an.default_threshold(scores)
        inp = aggregate.get("input") or {}
        grid = int(scores.map.shape[-1]) if scores.map.ndim == 3 else 1
        #: the network's input side and resize ("letterbox" / "squash"): how a map lies on the image
        self.input_size = int(inp.get("size") or grid)
        self.resize = str(inp.get("resize") or "letterbox")
        self.normal_val = scores.score[scores.subset("val") & (scores.label == 0)]
        if not len(self.normal_val):
            self.normal_val = scores.score[scores.label == 0]
        #: the defects' scores stretch the colour scale above the threshold (see display_range)
        self.anomalous_scores = scores.score[scores.label == 1]
        self._thumbs: dict[tuple, np.ndarray] = {}
        self._counters: dict = {}
        self._frames: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        #: per row: results.jsonl's truth (status, mask, defect)
        self.truths: list[dict] = list(truths) if truths is not None else [{} for _ in range(len(scores))]
        self._decide()

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, experiment_folder: str | Path, project=None) -> AnomalyResults:
        """Read an evaluation folder (off the GUI thread)."""
        store = EvaluationStore(experiment_folder)
        info = store.info()
        aggregate = store.aggregate()
        scores = an.AnomalyScores.from_npz(store.scores_arrays())
        lines = store.results()
        meta = _meta(scores, lines, [], store.folder / "results.jsonl")
        by_key = {(str(d.get("image")), str(d.get("subset"))): d for d in lines}
        sizes = np.zeros((len(scores), 2), dtype=np.float64)
        for i, key in enumerate(zip(scores.image_ids.tolist(), scores.subsets.tolist(), strict=True)):
            line = by_key.get(key) or {}
            sizes[i] = (float(line.get("width") or 0), float(line.get("height") or 0))
        truths = [(by_key.get(k) or {}).get("truth") or {}
                  for k in zip(scores.image_ids.tolist(), scores.subsets.tolist(), strict=True)]
        return cls(store, info, aggregate, scores, meta, sizes, load_operating_point(store.folder), truths)

    # ----------------------------------------------------------------- classes
    @property
    def class_names(self) -> list[str]:
        return list(KINDS)

    def names_by_id(self) -> dict[int, str]:
        return {}

    @staticmethod
    def headline(aggregate: dict) -> str:
        """The experiment list's summary: test (else validation) image AUROC, and pixel AUROC."""
        for name in ("test", "val", "train"):
            body = (aggregate.get("subsets") or {}).get(name) or {}
            if body.get("image_auroc") is not None:
                px = f", pixel {body['pixel_auroc']:.3f}" if body.get("pixel_auroc") is not None else ""
                return f"{name} AUROC {body['image_auroc']:.3f}{px}"
        return "evaluated"

    # ---------------------------------------------------------- operating point
    @property
    def threshold(self) -> float:
        return float(self.op.threshold) if self.op.threshold is not None else self.default_threshold

    def set_operating_point(self, op: OperatingPoint | None) -> None:
        """Decide again from the cached scores (microseconds to milliseconds)."""
        self.op = op if op is not None and op.task == TASK else OperatingPoint(task=TASK)
        self._decide()

    def set_threshold(self, value: float) -> None:
        """A threshold set by hand (the dragged line, the number box)."""
        self.set_operating_point(an.manual_operating_point(float(value), self.op))

    @property
    def dirty(self) -> bool:
        def key(op):
            return None if op is None or op.threshold is None else round(float(op.threshold), 9)
        return key(self.op) != key(self.saved)

    def save_operating_point(self) -> Path:
        path = save_operating_point(self.store.folder, self.op)
        self.saved = self.op
        return path

    def revert_operating_point(self) -> None:
        self.set_operating_point(self.saved)

    def describe_rule(self) -> str:
        if self.op.threshold is None:
            return f"anomalous when the score is at least {self.default_threshold:.4g} ({self.default_how})"
        return self.op.describe()

    def display_range(self) -> tuple[float, float]:
        """The heat maps' colour scale at the current threshold (threshold in the middle)."""
        return heat.display_range(self.normal_val, self.threshold, scores_anomalous=self.anomalous_scores)

    def _decide(self) -> None:
        thr = self.threshold
        s = self.scores
        self.flagged = s.score >= thr
        truth = s.label == 1
        status = np.full(len(s), CORRECT, dtype=np.int8)
        status[truth & ~self.flagged] = WRONG
        status[~truth & self.flagged] = UNCERTAIN
        self.status = status
        low, high = self.display_range()
        self._range = (low, high)

    # ----------------------------------------------------------------- metrics
    def counter(self, subset: str | None) -> an.ThresholdCounter:
        """The subset's scores sorted once: counts at any threshold by binary search."""
        hit = self._counters.get(subset)
        if hit is None:
            rows = self.scores.subset(subset)
            hit = self._counters[subset] = an.ThresholdCounter(self.scores.score[rows], self.scores.label[rows])
        return hit

    def counts(self, subset: str | None = None, threshold: float | None = None) -> dict:
        """The 2x2 counts and rates of ``subset`` at ``threshold`` (default: the current one)."""
        c = self.counter(subset).counts(self.threshold if threshold is None else threshold)
        out: dict = dict(c)
        out.update(an.rates(c))
        out["images"] = sum(c.values())
        out["errors"] = c["fp"] + c["fn"]
        return out

    def matrix(self, subset: str | None = None) -> np.ndarray:
        """2x2: rows truth (normal, anomalous), columns verdict (passed, flagged)."""
        c = self.counts(subset)
        return np.array([[c["tn"], c["fp"]], [c["fn"], c["tp"]]], dtype=np.int64)

    def subset_body(self, subset: str) -> dict:
        return (self.aggregate.get("subsets") or {}).get(subset) or {}

    def curves(self, subset: str) -> dict:
        """ROC and PR curves of the subset (exact, from the cache) and its scores by ground truth."""
        rows = self.scores.subset(subset)
        s, y = self.scores.score[rows], self.scores.label[rows]
        return {"roc": an.roc_curve(s, y), "pr": an.pr_curve(s, y), "normal": s[y == 0], "anomalous": s[y == 1]}

    def report(self, subset: str, *, full: bool = True) -> dict:
        """The subset's numbers: aggregate.json's threshold-free metrics (AUROC with interval, pixel
        AUROC, AUPRO), and at the current threshold the counts and rates; ``full`` adds the curves."""
        body = self.subset_body(subset)
        metrics = {k: body.get(k) for k in ("image_auroc", "average_precision", "pixel_auroc", "aupro")}
        rep = {"subset": subset, "metrics": metrics, "intervals": dict(body.get("intervals") or {}),
               "counts": self.counts(subset), "matrix": self.matrix(subset).tolist(), "threshold": self.threshold,
               "rule": self.describe_rule(), "with_mask": body.get("with_mask")}
        if full:
            rep["curves"] = self.curves(subset)
        return rep

    def how(self, metric: str) -> str:
        return str((self.aggregate.get("how") or {}).get(metric, ""))

    def correctness(self) -> list[bool | None]:
        return [bool(s == CORRECT) for s in self.status.tolist()]

    # ------------------------------------------------------- the filter bar
    def default_filter(self) -> ResultFilter:
        return ResultFilter(sort="score", descending=True)

    def outcomes(self) -> list[tuple[str, str]]:
        return list(OUTCOMES.items())

    def sorts(self) -> list[tuple[str, str]]:
        return list(SORTS.items())

    def choices(self, kind: str) -> list[tuple[object, str]]:
        if kind == "truth":
            return [(None, "Any truth"), (0, "truly normal"), (1, "truly anomalous")]
        return [(None, "Any verdict"), (0, "passed as normal"), (1, "flagged anomalous")]

    def grid_summary(self) -> str:
        c = self.counts()
        return f"{c['fn']:,} missed defects, {c['fp']:,} false alarms"

    # ------------------------------------------------------------------ images
    def visible(self, flt: ResultFilter) -> np.ndarray:
        s = self.scores
        keep = np.ones(len(s), dtype=bool)
        if flt.subset is not None:
            keep &= s.subsets == flt.subset
        truth = s.label == 1
        wants = {"errors": self.status != CORRECT, "missed": truth & ~self.flagged,
                 "false_alarm": ~truth & self.flagged, "flagged": self.flagged, "passed": ~self.flagged}
        if flt.outcome in wants:
            keep &= wants[flt.outcome]
        if flt.truth is not None:
            keep &= truth == bool(flt.truth)
        if flt.predicted is not None:
            keep &= self.flagged == bool(flt.predicted)
        if flt.ids is not None:
            keep &= np.isin(s.image_ids, np.asarray(sorted(flt.ids), dtype=str))
        rows = np.nonzero(keep)[0]
        if not len(rows):
            return rows
        if flt.sort == "score":
            key = s.score[rows]
        elif flt.sort == "margin":
            key = np.abs(s.score[rows] - self.threshold)
        elif flt.sort == "name":
            key = np.asarray(self.meta.names, dtype=str)[rows]
        else:
            key = None
        return self._ordered(rows, key, flt.descending)

    def truth_words(self, row: int) -> str:
        t = self.truths[row] if row < len(self.truths) else {}
        if self.scores.label[row] != 1:
            return "normal"
        return f"defect: {t['defect']}" if t.get("defect") else "defect"

    def caption(self, row: int) -> str:
        verdict = "flagged" if self.flagged[row] else "passed"
        return f"{self.scores.score[row]:.4g} · {verdict}\n{self.truth_words(row)}"

    def describe_image(self, row: int) -> dict:
        """What the detail shows of one image: the verdict line and the layers to draw (heat map,
        defect outline, flagged region; read off the GUI thread through ``layer_images``)."""
        status = int(self.status[row])
        score, thr = float(self.scores.score[row]), self.threshold
        verdict = "anomalous" if self.flagged[row] else "normal"
        d = {"image": str(self.scores.image_ids[row]), "name": self.meta.names[row], "file": self.meta.files[row],
             "source": self.meta.sources[row], "subset": str(self.scores.subsets[row]), "status": status,
             "truth": self.truth_words(row), "predicted": verdict, "probabilities": [], "issue": None,
             "score": score, "threshold": thr,
             "layers": [{"key": k, "title": t, "shortcut": sc, "tooltip": tip, "on": on, "beside": False}
                        for k, t, sc, tip, on in LAYERS],
             "layer_key": (row, round(thr, 9)), "layer_images": lambda r=row: self.layer_images(r)}
        mask_note = "" if self.scores.has_mask[row] or self.scores.label[row] != 1 else " (no mask: no outline)"
        d["verdict"] = (f"score <b>{score:.4g}</b> {'≥' if score >= thr else '<'} threshold {thr:.4g} → "
                        f"<b style='color:{STATUS_HEX[status]}'>{verdict}</b> · truth: {d['truth']}{mask_note} — "
                        f"{self.status_words[status]}<br><small><span style='color:rgb{TRUTH_RGB}'>■</span> defect "
                        f"outline · <span style='background:#444; color:rgb{REGION_RGB}'>■</span> flagged region · heat "
                        f"map: blue below the threshold, green at it, orange to red above</small>")
        return d

    def tooltip(self, row: int) -> str:
        return (f"{self.meta.names[row]} ({self.scores.subsets[row]})\nscore {self.scores.score[row]:.4g} "
                f"(threshold {self.threshold:.4g}): {'flagged' if self.flagged[row] else 'passed'}\n"
                f"truth: {self.truth_words(row)}\n{self.status_words[int(self.status[row])]}")

    def worst_errors(self, subset: str | None, n: int) -> np.ndarray:
        """The ``n`` most confident wrong verdicts (farthest from the threshold; the report's pictures)."""
        return self.visible(ResultFilter(subset=subset, outcome="errors", sort="margin", descending=True))[:n]

    # ------------------------------------------------------------------ pictures
    def image_size(self, row: int) -> tuple[int, int]:
        w, h = self.sizes[row]
        if w <= 0 or h <= 0:
            return self.input_size, self.input_size
        return int(w), int(h)

    def map_on_image(self, row: int, width: int, height: int) -> np.ndarray:
        """The row's anomaly map at ``width`` x ``height`` of the original image's frame."""
        return heat.resize_map(self.scores.map[row], width, height, input_size=self.input_size, resize=self.resize)

    def layer_size(self, row: int) -> tuple[int, int]:
        """(width, height) of the detail's layers: the image's size, at most ``LAYER_SIDE`` wide or high."""
        w, h = self.image_size(row)
        scale = min(1.0, LAYER_SIDE / max(w, h))
        return max(1, round(w * scale)), max(1, round(h * scale))

    def layer_images(self, row: int) -> dict[str, np.ndarray]:
        """RGBA (h, w, 4) uint8 in the image's frame (:meth:`layer_size`): ``heat``, ``truth`` (outline),
        ``region`` (outline)."""
        w, h = self.layer_size(row)
        values, truth = self._frame(row, w, h)
        low, high = self._range
        out = {"heat": heat.heat_rgba(values, low, high, HEAT_ALPHA, threshold=self.threshold), "truth": truth}
        rgba = np.zeros((h, w, 4), dtype=np.uint8)
        rgba[_thicken(heat.outline(values >= self.threshold), w, h)] = (*REGION_RGB, 255)
        out["region"] = rgba
        return out

    def _frame(self, row: int, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        """(the map at the layers' size, the defect outline layer): what a new threshold does not
        change, kept for the last few images (a dragged threshold redraws only the rest)."""
        key = (row, w, h)
        hit = self._frames.get(key)
        if hit is None:
            values = self.map_on_image(row, w, h)
            gt = heat.resize_map(self.scores.gt_mask[row].astype(np.float32), w, h, input_size=self.input_size,
                                 resize=self.resize) >= 0.5
            truth = np.zeros((h, w, 4), dtype=np.uint8)
            truth[_thicken(heat.outline(gt), w, h)] = (*TRUTH_RGB, 255)
            if len(self._frames) >= FRAME_CACHE:
                self._frames.pop(next(iter(self._frames)))
            hit = self._frames[key] = (values, truth)
        return hit

    def thumbnail_overlay(self, row: int) -> np.ndarray | None:
        """A small RGBA heat map in the image's aspect ratio for the grid (cached per colour scale)."""
        key = (row, self._range, self.threshold)
        hit = self._thumbs.get(key)
        if hit is not None:
            return hit
        w, h = self.image_size(row)
        scale = THUMB_SIDE / max(w, h)
        tw, th = max(1, round(w * scale)), max(1, round(h * scale))
        rgba = heat.heat_rgba(self.map_on_image(row, tw, th), *self._range, HEAT_ALPHA, threshold=self.threshold)
        if len(self._thumbs) >= THUMB_CACHE:
            self._thumbs.clear()
        self._thumbs[key] = rgba
        return rgba


def _thicken(edge: np.ndarray, w: int, h: int) -> np.ndarray:
    """Outlines a few pixels wide on large images (one pixel per ~400 of the long side)."""
    r = max(0, round(max(w, h) / 400) - 1)
    if r == 0 or not edge.any():
        return edge
    rows = edge.copy()  # a square dilation, one axis after the other (4r slice operations)
    for d in range(1, r + 1):
        rows[d:] |= edge[:-d]
        rows[:-d] |= edge[d:]
    out = rows.copy()
    for d in range(1, r + 1):
        out[:, d:] |= rows[:, :-d]
        out[:, :-d] |= rows[:, d:]
    return out


__all__ = ["AnomalyResults", "KINDS", "LAYERS", "OUTCOMES", "SORTS"]
