"""One loaded object-detection evaluation, as every section of the Evaluation page reads it (no Qt, no
torch).

The evaluator cached every prediction down to a low score (``scores.npz``); the operating point
(score threshold, one per class if the user wants, NMS IoU, match IoU) decides which of them are
shown and counted. Everything here is recomputed from that cache by ``core/evaluation/detection.py``
under the one current operating point: the counts, the confusion matrix, each image's TP / FP / FN,
the grid's colours, the boxes on the thumbnails and in the detail. So the numbers never disagree —
the counts in the panel are the sums over the grid and the confusion matrix's totals (tested).

The grid's border: green when every object of the image was found and nothing else was, red when
an object was missed, amber when nothing was missed but something was found that is not there.
The mAP figures (threshold-free: they rank every prediction) come from ``aggregate.json``, measured
at the evaluated NMS; the page says so when the user re-applies NMS at another IoU.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ....core.errors import StoreError
from ....core.evaluation.detection import (
    DEFAULT_MATCH_IOU,
    DEFAULT_SCORE_THRESHOLD,
    DetectionScores,
    Outcome,
    at_operating_point,
    pr_curve,
)
from ....core.evaluation.operating_point import OperatingPoint, load_operating_point, save_operating_point
from ....core.evaluation.store import EvaluationInfo, EvaluationStore
from .results import CORRECT, UNCERTAIN, WRONG, CachedResults, ImageMeta, ResultFilter, _name_of

TASK = "object_detection"
#: what a box on the canvas and on a thumbnail is (colours: TP green, FP amber, FN red, ignored grey)
TP, FP, FN, FOUND, IGNORED = "tp", "fp", "fn", "found", "ignored"
BOX_HEX = {TP: "#2ca02c", FP: "#f0a30a", FN: "#d62728", FOUND: "#2ca02c", IGNORED: "#9aa5b1"}
BOX_WORDS = {TP: "found (true positive)", FP: "false alarm (false positive)", FN: "missed (false negative)",
             FOUND: "ground truth, found", IGNORED: "ignored (difficult / crowd box, or a prediction on one)"}
OUTCOMES = {"any": "All images", "fp": "Has false positives", "fn": "Has missed objects",
            "errors": "Has any error", "perfect": "No errors"}
SORTS = {"errors": "Errors (FP + FN)", "fp": "False positives", "fn": "Missed objects", "objects": "Objects",
         "name": "File name", "order": "Evaluation order"}
#: the headline numbers of aggregate.json: key, label
HEADLINE = (("map", "mAP@0.5:0.95"), ("map_50", "mAP@0.5"), ("map_75", "mAP@0.75"))
MORE_METRICS = (("map_small", "mAP small"), ("map_medium", "mAP medium"), ("map_large", "mAP large"),
                ("mar_100", "mAR@100"))


@dataclass(frozen=True)
class DrawnBox:
    """A box to draw (the detail canvas, thumbnails, the report): original pixels, what it is."""

    kind: str  # TP, FP, FN, FOUND, IGNORED
    x1: float
    y1: float
    x2: float
    y2: float
    text: str
    prediction: bool

    @property
    def color(self) -> str:
        return BOX_HEX[self.kind]


def _sizes(lines: list[dict], n: int) -> np.ndarray:
    """(I, 2) original width and height of each image from results.jsonl (0: unknown; then the
    thumbnails show no boxes, the detail still does)."""
    sizes = np.zeros((n, 2), dtype=np.float64)
    for i, line in enumerate(lines[:n]):
        sizes[i] = (float(line.get("width") or 0), float(line.get("height") or 0))
    return sizes


class DetectionResults(CachedResults):
    """The cached predictions of one detection evaluation and what the operating point makes of them."""

    task = TASK
    status_words = {CORRECT: "every object found, nothing else", WRONG: "objects missed",
                    UNCERTAIN: "false alarms (nothing missed)"}
    caption_lines = 2
    has_label_issues = False
    grid_help = ("Boxes: green found, amber false alarm, red missed. Border: green when every object was found "
                 "and nothing else, red when an object was missed, amber when something was found that is "
                 "not there. Click an image to see its boxes with classes and scores.")
    section_help = ("Every evaluated image with its boxes at the operating point: green found, amber false alarm, "
                    "red missed; filter by error or class, click one to inspect it")
    filter_help = {
        "outcome": "Images with a false positive (a box where nothing of that class is), a missed object, either, "
                   "or none, at the current operating point",
        "sort": "Order of the images: by their errors at the operating point (Descending: most first), their "
                "number of objects, or their name",
        "descending": "Reverse the order (most errors first, last file name first…)",
    }
    choice_help = {"truth": "Images with an object of this true class (a confusion-matrix row); background: "
                            "images with a false alarm on nothing",
                   "predicted": "Images with a prediction of this class (a confusion-matrix column); background: "
                                "images with a missed object"}

    def __init__(self, store: EvaluationStore | None, info: EvaluationInfo | None, aggregate: dict,
                 scores: DetectionScores, meta: ImageMeta, sizes: np.ndarray, saved: OperatingPoint | None):
        self.store = store
        self.info = info
        self.aggregate = aggregate
        self.scores = scores
        self.meta = meta
        self.sizes = sizes
        self.saved = saved
        self.op = saved or OperatingPoint(task=TASK)
        self._gt_of = _index_by(scores.gt_image, len(scores))
        self._det_of = _index_by(scores.det_image, len(scores))
        self._decide()

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, experiment_folder: str | Path, project=None) -> DetectionResults:
        """Read an evaluation folder (off the GUI thread)."""
        store = EvaluationStore(experiment_folder)
        info = store.info()
        aggregate = store.aggregate()
        arrays = store.scores_arrays()
        lines = store.results()
        if "image_ids" not in arrays:
            arrays["image_ids"] = np.asarray([str(ln.get("id") or ln.get("image")) for ln in lines], dtype=str)
        if "class_ids" not in arrays and info.classes:
            arrays["class_ids"] = np.asarray([int(c["id"]) for c in info.classes])
            arrays["class_names"] = np.asarray([str(c["name"]) for c in info.classes], dtype=str)
        labels = np.asarray(arrays["det_labels"])
        n_classes = len(arrays["class_ids"]) if "class_ids" in arrays else int(labels.max(initial=-1)) + 1
        real = (labels >= 0) & (labels < n_classes)
        if not real.all():  # padding rows (class -1) are no predictions, whatever their score
            for key in ("det_image", "det_boxes", "det_scores", "det_labels"):
                arrays[key] = np.asarray(arrays[key])[real]
        scores = DetectionScores.from_npz(arrays)
        if len(lines) != len(scores):
            raise StoreError(f"has {len(lines)} lines for the {len(scores)} images of scores.npz; evaluate again",
                             path=store.folder / "results.jsonl")
        meta = _meta(scores, lines)
        return cls(store, info, aggregate, scores, meta, _sizes(lines, len(scores)), load_operating_point(store.folder))

    # ----------------------------------------------------------------- classes
    @property
    def class_names(self) -> list[str]:
        return self.scores.class_names

    @property
    def class_ids(self) -> list[int]:
        return self.scores.class_ids

    def names_by_id(self) -> dict[int, str]:
        return dict(zip(self.class_ids, self.class_names, strict=True))

    @property
    def matrix_names(self) -> list[str]:
        """Rows and columns of the confusion matrix: the classes, then background."""
        return [*self.class_names, "background"]

    @staticmethod
    def headline(aggregate: dict) -> str:
        """The experiment list's summary: test (else validation) mAP@0.5:0.95 and mAP@0.5."""
        subsets = aggregate.get("subsets", {})
        for name in ("test", "val", "train"):
            m = (subsets.get(name) or {}).get("metrics", {})
            if m.get("map") is not None:
                at50 = f" (@0.5 {m['map_50']:.3f})" if m.get("map_50") is not None else ""
                return f"{name} mAP {m['map']:.3f}{at50}"
        return "evaluated"

    # ---------------------------------------------------------- operating point
    def set_operating_point(self, op: OperatingPoint | None) -> None:
        """Decide again from the cache (milliseconds; a new NMS or match IoU: tens of them once)."""
        self.op = op or OperatingPoint(task=TASK)
        self._decide()

    @property
    def dirty(self) -> bool:
        """The operating point on screen decides differently from the saved one (the defaults
        written out, e.g. a threshold dragged back to 0.5, are the same rule)."""
        return _rule_key(self.op) != _rule_key(self.saved)

    def save_operating_point(self) -> Path:
        path = save_operating_point(self.store.folder, self.op)
        self.saved = self.op
        return path

    def revert_operating_point(self) -> None:
        self.set_operating_point(self.saved)

    def describe_rule(self) -> str:
        return self.op.describe(self.names_by_id())

    @property
    def match_iou(self) -> float:
        return self.op.match_iou if self.op.match_iou is not None else DEFAULT_MATCH_IOU

    @property
    def score_threshold(self) -> float:
        return self.op.score_threshold if self.op.score_threshold is not None else DEFAULT_SCORE_THRESHOLD

    def _decide(self) -> None:
        """The outcome at the operating point and the per-image columns the grid reads."""
        o: Outcome = at_operating_point(self.scores, self.op)
        self.outcome = o
        self.image_tp, self.image_fp, self.image_fn = o.image_tp, o.image_fp, o.image_fn
        status = np.full(len(self), CORRECT, dtype=np.int8)
        status[o.image_fp > 0] = UNCERTAIN
        status[o.image_fn > 0] = WRONG
        self.status = status
        self._entries()

    def _entries(self) -> None:
        """Every confusion-matrix entry with its image: (row, column, image) per true positive,
        confused pair, lone false positive and lone miss — the matrix is their count, and a cell's
        images are those of its entries (what a click on it shows)."""
        s, o = self.scores, self.outcome
        c = s.num_classes
        lab = s.det_labels
        pd, pg = _pairs_of(o)
        lone_fp = o.det_fp.copy()
        lone_fp[pd] = False
        lone_fn = o.gt_fn.copy()
        lone_fn[pg] = False
        rows = np.concatenate([lab[o.det_tp], s.gt_labels[pg], np.full(int(lone_fp.sum()), c),
                               s.gt_labels[lone_fn]]).astype(np.int64)
        cols = np.concatenate([lab[o.det_tp], lab[pd], lab[lone_fp], np.full(int(lone_fn.sum()), c)]).astype(np.int64)
        images = np.concatenate([s.det_image[o.det_tp], s.det_image[pd], s.det_image[lone_fp],
                                 s.gt_image[lone_fn]]).astype(np.int64)
        self.entry_row, self.entry_col, self.entry_image = rows, cols, images
        #: per prediction / box: the other side of its confusion pair (a FP's missed box; -1: none)
        self.det_pair = np.full(len(lab), -1, dtype=np.int64)
        self.det_pair[pd] = pg
        self.gt_pair = np.full(len(s.gt_labels), -1, dtype=np.int64)
        self.gt_pair[pg] = pd

    # ----------------------------------------------------------------- metrics
    def images_of(self, subset: str | None) -> np.ndarray:
        return self.scores.subset(subset)

    def counts(self, subset: str | None = None) -> dict:
        """TP/FP/FN, precision, recall, F1 (in total and per class) of ``subset`` at the operating
        point, plus the number of images and of images with each kind of error."""
        images = self.scores.subset(subset)
        out = self.outcome.counts(images)
        st = self.status[images]
        out.update(images=int(images.sum()), perfect=int((st == CORRECT).sum()), missed=int((st == WRONG).sum()),
                   false_alarms=int((self.image_fp[images] > 0).sum()))
        return out

    def confusion(self, subset: str | None = None) -> np.ndarray:
        """(C+1, C+1) at the operating point: rows true class then background, columns predicted
        (the count of the entries, equal to the core's ``confusion_for``: tested)."""
        n = self.scores.num_classes + 1
        sel = self.scores.subset(subset)[self.entry_image]
        flat = self.entry_row[sel] * n + self.entry_col[sel]
        return np.bincount(flat, minlength=n * n).reshape(n, n)

    def subset_body(self, subset: str) -> dict:
        """The subset's part of aggregate.json (mAP, per-class AP, intervals), or {}."""
        return (self.aggregate.get("subsets") or {}).get(subset) or {}

    def per_class_ap(self, subset: str) -> list[dict]:
        """Per class: name, ap, ap_50, ar_100 from aggregate.json (None where it has none)."""
        rows = self.subset_body(subset).get("per_class") or []
        if isinstance(rows, dict):  # {class name or id: {...}}
            rows = [dict(v, name=v.get("name", k)) for k, v in rows.items()]
        by_name = {str(r.get("name")): r for r in rows}
        by_id = {r.get("id", r.get("class_id")): r for r in rows}
        out = []
        for cid, name in zip(self.class_ids, self.class_names, strict=True):
            r = by_id.get(cid) or by_name.get(name) or {}
            out.append({"id": cid, "name": name, "ap": r.get("ap"), "ap_50": r.get("ap_50"),
                        "ar_100": r.get("ar_100")})
        return out

    def pr_curves(self, subset: str) -> list[dict]:
        """Per class at the operating point's NMS and match IoU: the PR curve as the threshold falls
        (``thresholds`` descending), the class's current threshold and where it sits on the curve."""
        m = self.outcome.matching
        images = self.scores.subset(subset)
        out = []
        for k, name in enumerate(self.class_names):
            curve = pr_curve(self.scores, m, k, images)
            thr = float(self.outcome.thresholds[k])
            at = int(np.searchsorted(-curve["thresholds"], -thr, side="right")) - 1  # last point >= thr
            curve.update(name=name, threshold=thr, at=at)
            out.append(curve)
        return out

    def report(self, subset: str, *, full: bool = True) -> dict:
        """The subset's numbers: aggregate.json's mAP with intervals, and at the operating point the
        counts and the confusion matrix; with ``full`` the PR curves too."""
        body = self.subset_body(subset)
        rep = {"subset": subset, "metrics": dict(body.get("metrics") or {}),
               "intervals": dict(body.get("intervals") or {}), "per_class_ap": self.per_class_ap(subset),
               "counts": self.counts(subset), "confusion": self.confusion(subset).tolist(),
               "rule": self.describe_rule(), "evaluated_nms": self.op.nms_iou is None}
        if full:
            rep["curves"] = self.pr_curves(subset)
        return rep

    def how(self, metric: str) -> str:
        return str((self.aggregate.get("how") or {}).get(metric, ""))

    def correctness(self) -> list[bool | None]:
        """Per image: no error at the operating point (the paired comparison's unit)."""
        return [bool(s == CORRECT) for s in self.status.tolist()]

    # ------------------------------------------------------- the filter bar
    def default_filter(self) -> ResultFilter:
        """The images with the most errors first."""
        return ResultFilter(sort="errors", descending=True)

    def outcomes(self) -> list[tuple[str, str]]:
        return list(OUTCOMES.items())

    def sorts(self) -> list[tuple[str, str]]:
        return list(SORTS.items())

    def choices(self, kind: str) -> list[tuple[object, str]]:
        """Class filters: a confusion-matrix row (``truth``) or column (``predicted``); the index
        after the last class is background."""
        c = self.scores.num_classes
        if kind == "truth":
            return ([(None, "Any true class")] + [(i, f"true: {n}") for i, n in enumerate(self.class_names)]
                    + [(c, "true: background (false alarms)")])
        return ([(None, "Any prediction")] + [(i, f"predicted: {n}") for i, n in enumerate(self.class_names)]
                + [(c, "predicted: background (missed)")])

    def grid_summary(self) -> str:
        c = self.counts()
        return f"{c['missed']:,} with missed objects, {c['false_alarms']:,} with false alarms"

    # ------------------------------------------------------------------ images
    def visible(self, flt: ResultFilter) -> np.ndarray:
        """Row indices that pass ``flt``, in its order. ``truth``/``predicted`` select the images with
        a confusion-matrix entry in that row / column / cell (background: the last index)."""
        s = self.scores
        keep = np.ones(len(s), dtype=bool)
        if flt.subset is not None:
            keep &= s.subsets == flt.subset
        fp, fn = self.image_fp > 0, self.image_fn > 0
        if flt.outcome == "fp":
            keep &= fp
        elif flt.outcome == "fn":
            keep &= fn
        elif flt.outcome == "errors":
            keep &= fp | fn
        elif flt.outcome == "perfect":
            keep &= ~(fp | fn)
        if flt.truth is not None or flt.predicted is not None:
            sel = np.ones(len(self.entry_row), dtype=bool)
            if flt.truth is not None:
                sel &= self.entry_row == flt.truth
            if flt.predicted is not None:
                sel &= self.entry_col == flt.predicted
            has = np.zeros(len(s), dtype=bool)
            has[self.entry_image[sel]] = True
            keep &= has
        if flt.ids is not None:
            keep &= np.isin(s.image_ids, np.asarray(sorted(flt.ids), dtype=str))
        rows = np.nonzero(keep)[0]
        if not len(rows):
            return rows
        if flt.sort == "errors":
            key = (self.image_fp + self.image_fn)[rows]
        elif flt.sort == "fp":
            key = self.image_fp[rows]
        elif flt.sort == "fn":
            key = self.image_fn[rows]
        elif flt.sort == "objects":
            key = np.bincount(s.gt_image[~s.gt_ignore], minlength=len(s))[rows]
        elif flt.sort == "name":
            key = np.asarray(self.meta.names, dtype=str)[rows]
        else:
            key = None
        return self._ordered(rows, key, flt.descending)

    def caption(self, row: int) -> str:
        """Two lines under the thumbnail: found and false alarms, then missed."""
        return f"TP {self.image_tp[row]} · FP {self.image_fp[row]}\nFN {self.image_fn[row]} missed"

    def boxes(self, row: int, *, found_truth: bool = True) -> list[DrawnBox]:
        """What the detail and the thumbnails draw of one image at the operating point: the shown
        predictions (found, false alarm, on an ignore box) and the ground truth (missed, ignored,
        and with ``found_truth`` the found boxes too, dashed under their prediction)."""
        s, o = self.scores, self.outcome
        names = self.class_names
        out: list[DrawnBox] = []
        for g in self._gt_of[row]:
            x1, y1, x2, y2 = (float(v) for v in s.gt_boxes[g])
            name = names[s.gt_labels[g]]
            if s.gt_ignore[g]:
                out.append(DrawnBox(IGNORED, x1, y1, x2, y2, f"{name} (ignored)", False))
            elif o.gt_fn[g]:
                pair = self.gt_pair[g]
                text = f"missed {name}" + (f" (seen as {names[s.det_labels[pair]]})" if pair >= 0 else "")
                out.append(DrawnBox(FN, x1, y1, x2, y2, text, False))
            elif found_truth:
                out.append(DrawnBox(FOUND, x1, y1, x2, y2, "", False))
        dets = self._det_of[row]
        dets = dets[o.shown[dets]]
        for d in dets[np.argsort(s.det_scores[dets], kind="stable")]:  # the highest score drawn last, on top
            x1, y1, x2, y2 = (float(v) for v in s.det_boxes[d])
            kind = TP if o.det_tp[d] else FP if o.det_fp[d] else IGNORED
            out.append(DrawnBox(kind, x1, y1, x2, y2, f"{names[s.det_labels[d]]} {s.det_scores[d]:.2f}", True))
        return out

    def describe_image(self, row: int) -> dict:
        """What the detail view shows of one image: the verdict line and the boxes to draw."""
        status = int(self.status[row])
        tp, fp, fn = int(self.image_tp[row]), int(self.image_fp[row]), int(self.image_fn[row])
        n_objects = tp + fn
        d = {"image": str(self.scores.image_ids[row]), "name": self.meta.names[row], "file": self.meta.files[row],
             "source": self.meta.sources[row], "subset": str(self.scores.subsets[row]), "status": status,
             "truth": f"{n_objects} objects", "predicted": f"{tp + fp} boxes", "probabilities": [], "issue": None,
             "tp": tp, "fp": fp, "fn": fn,
             "boxes": [{"x1": b.x1, "y1": b.y1, "x2": b.x2, "y2": b.y2, "color": b.color, "text": b.text,
                        "dashed": not b.prediction, "kind": b.kind} for b in self.boxes(row)]}
        swatch = "<span style='color:{}'>■</span>"
        d["verdict"] = (f"{n_objects} object{'s' if n_objects != 1 else ''} · "
                        f"{swatch.format(BOX_HEX[TP])} <b>{tp}</b> found · "
                        f"{swatch.format(BOX_HEX[FP])} <b>{fp}</b> false alarm{'s' if fp != 1 else ''} · "
                        f"{swatch.format(BOX_HEX[FN])} <b>{fn}</b> missed<br><small>{self.describe_rule()}</small>")
        return d

    def tooltip(self, row: int) -> str:
        name = self.meta.names[row]
        return (f"{name} ({self.scores.subsets[row]})\n{self.image_tp[row]} found, {self.image_fp[row]} false "
                f"alarms, {self.image_fn[row]} missed\n{self.status_words[int(self.status[row])]}")

    def thumbnail_boxes(self, row: int) -> tuple[float, float, list[tuple[str, np.ndarray]]]:
        """(width, height, [(colour, (n, 4) boxes)]) for the grid's thumbnail: the shown predictions
        (found, false alarm) and the missed objects, in original pixels (width 0: the image's size
        is unknown, nothing is drawn). Vectorised: the grid paints dozens of these per frame."""
        w, h = self.sizes[row]
        s, o = self.scores, self.outcome
        dets, gts = self._det_of[row], self._gt_of[row]
        return float(w), float(h), [(BOX_HEX[TP], s.det_boxes[dets[o.det_tp[dets]]]),
                                    (BOX_HEX[FP], s.det_boxes[dets[o.det_fp[dets]]]),
                                    (BOX_HEX[FN], s.gt_boxes[gts[o.gt_fn[gts]]])]

    def worst_errors(self, subset: str | None, n: int) -> np.ndarray:
        """The ``n`` images with the most errors (the report's pictures)."""
        rows = self.visible(ResultFilter(subset=subset, outcome="errors", sort="errors", descending=True))
        return rows[:n]


def _rule_key(op: OperatingPoint | None) -> tuple:
    """What decides which boxes count, with the defaults filled in."""
    op = op or OperatingPoint(task=TASK)
    base = round(op.score_threshold if op.score_threshold is not None else DEFAULT_SCORE_THRESHOLD, 6)
    per = tuple(sorted((int(c), round(float(t), 6)) for c, t in (op.class_thresholds or {}).items()
                       if round(float(t), 6) != base))
    match = round(op.match_iou if op.match_iou is not None else DEFAULT_MATCH_IOU, 6)
    return base, per, None if op.nms_iou is None else round(op.nms_iou, 6), match


def _pairs_of(o: Outcome) -> tuple[np.ndarray, np.ndarray]:
    """The (false positive, missed box) pairs of the confusion matrix's off-diagonal cells at the
    operating point, as ``core/evaluation/detection.py`` pairs them."""
    if hasattr(o, "pair_det"):
        return np.asarray(o.pair_det, dtype=np.int64), np.asarray(o.pair_gt, dtype=np.int64)
    from ....core.evaluation import detection as core

    s, m = o.scores, o.matching
    sel = o.det_fp[m.cross_det] & o.gt_fn[m.cross_gt]
    return core._greedy(m.cross_det[sel], m.cross_gt[sel], m.cross_iou[sel], m.rank,
                        np.zeros(int(sel.sum()), bool), len(s.gt_labels))


def _index_by(owner: np.ndarray, n: int) -> list[np.ndarray]:
    """Per image, the indices of its predictions (or boxes), in one pass."""
    order = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[order], np.arange(n + 1))
    return [order[bounds[i]:bounds[i + 1]] for i in range(n)]


def _meta(scores: DetectionScores, lines: list[dict]) -> ImageMeta:
    """results.jsonl lines are in the cache's image order (det_image indexes them)."""
    files, names, sources = [], [], []
    for line in lines:
        file = str(line.get("file") or "")
        source = str(line.get("source") or "")
        files.append(file)
        sources.append(source)
        names.append(_name_of(source, file))
    return ImageMeta(files=files, names=names, sources=sources, issue_rank=np.zeros(len(scores), dtype=np.int64))


__all__ = ["BOX_HEX", "BOX_WORDS", "DetectionResults", "DrawnBox", "FN", "FOUND", "FP", "HEADLINE", "IGNORED",
           "MORE_METRICS", "OUTCOMES", "SORTS", "TP"]
