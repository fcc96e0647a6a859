"""Object detection results from the cached raw predictions, in numpy: matching, counts, confusion.

The evaluator caches every prediction the model made down to a low score (mAP needs them) in
``scores.npz``. Everything a user changes afterwards — the score threshold (one, or one per class),
the NMS IoU, the IoU a prediction needs to count as a hit — is recomputed here from that cache,
without re-running the model, fast enough for a slider (1,000 images x 100 predictions: a
threshold move is a few milliseconds; a new NMS or match IoU a few tens).

Why it is fast: greedy matching by score does not depend on the score threshold. A prediction is
matched (or not) by the higher-scoring predictions of its image only, so raising the threshold just
drops the lowest ones; their matches above stay the same. :func:`match` therefore matches every
prediction once per (NMS IoU, match IoU), and :func:`at_operating_point` only compares scores.

Matching follows COCO (``pycocotools.cocoeval``): per image and class, predictions in descending
score take the unmatched ground-truth box of the same class with the highest IoU >= the match IoU.
Ignore boxes (``difficult`` or ``iscrowd``) are matched only when no ordinary box is left, may be
matched any number of times, use COCO's crowd overlap (intersection / prediction area), and a
prediction matched to one is neither a true nor a false positive. Ground truth that no prediction
above the threshold matched is a false negative (ignore boxes never are).

The confusion matrix is drawn at the same operating point as the counts, so they never disagree:
rows are the true class (then "background": nothing was there), columns the predicted class (then
"background": nothing was found). The diagonal holds the true positives; a false positive that
overlaps (IoU >= the match IoU) a missed object of another class counts as that confusion (each
missed object at most once, to its highest-scoring such prediction); other false positives go to
the background row, other misses to the background column. So row sums are TP + FN of each class
and column sums TP + FP, exactly the counts beside it.

Pure numpy: the GUI imports it (no torch).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .classification import GoalNotReachable
from .detection_goals import choose_operating_point, pr_curve
from .operating_point import DEFAULT_MATCH_IOU, DEFAULT_SCORE_THRESHOLD, OperatingPoint
from .subsets import subset_mask

#: COCO's area ranges (pixels², original image) for small / medium / large objects
AREA_SMALL, AREA_MEDIUM = 32 ** 2, 96 ** 2


# ---------------------------------------------------------------------------------------- the cache
@dataclass
class DetectionScores:
    """The raw predictions and ground truth of one evaluation (``scores.npz``), boxes in original pixels.

    Predictions and ground-truth boxes are flat arrays; ``det_image`` / ``gt_image`` index the images
    (the order of results.jsonl). Labels are project class indices (0..C-1, ``class_ids`` order)."""

    subsets: np.ndarray  # (I,) str
    det_image: np.ndarray  # (P,) int
    det_boxes: np.ndarray  # (P, 4) x1 y1 x2 y2
    det_scores: np.ndarray  # (P,)
    det_labels: np.ndarray  # (P,) int
    gt_image: np.ndarray  # (G,) int
    gt_boxes: np.ndarray  # (G, 4)
    gt_labels: np.ndarray  # (G,) int
    gt_ignore: np.ndarray  # (G,) bool: difficult or iscrowd
    image_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=str))  # (I,)
    class_ids: list[int] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.subsets = np.asarray(self.subsets).astype(str)
        self.det_image = np.asarray(self.det_image, dtype=np.int64).reshape(-1)
        # float32 values (what scores.npz stores) held as float64: the cache in memory and on disk agree
        self.det_boxes = np.asarray(self.det_boxes, dtype=np.float32).astype(np.float64).reshape(-1, 4)
        self.det_scores = np.asarray(self.det_scores, dtype=np.float32).astype(np.float64).reshape(-1)
        self.det_labels = np.asarray(self.det_labels, dtype=np.int64).reshape(-1)
        self.gt_image = np.asarray(self.gt_image, dtype=np.int64).reshape(-1)
        self.gt_boxes = np.asarray(self.gt_boxes, dtype=np.float32).astype(np.float64).reshape(-1, 4)
        self.gt_labels = np.asarray(self.gt_labels, dtype=np.int64).reshape(-1)
        self.gt_ignore = np.asarray(self.gt_ignore, dtype=bool).reshape(-1)
        if not len(self.image_ids):
            self.image_ids = np.arange(len(self.subsets)).astype(str)
        self.image_ids = np.asarray(self.image_ids).astype(str)
        if not self.class_ids:
            top = max(int(self.det_labels.max(initial=-1)), int(self.gt_labels.max(initial=-1)))
            self.class_ids = list(range(top + 1))
        if not self.class_names:
            self.class_names = [str(c) for c in self.class_ids]
        self._matchings: dict[tuple, Matching] = {}

    def __len__(self) -> int:
        return len(self.subsets)

    @property
    def num_classes(self) -> int:
        return len(self.class_ids)

    def subset(self, names: str | list[str] | None) -> np.ndarray:
        """(I,) bool: the images of a subset ("val", ["val", "test"], None / "all": every image)."""
        return subset_mask(self.subsets, names)

    def as_npz(self) -> dict[str, np.ndarray]:
        return {"subsets": self.subsets.astype(str), "image_ids": self.image_ids.astype(str),
                "det_image": self.det_image.astype(np.int64), "det_boxes": self.det_boxes.astype(np.float32),
                "det_scores": self.det_scores.astype(np.float32), "det_labels": self.det_labels.astype(np.int64),
                "gt_image": self.gt_image.astype(np.int64), "gt_boxes": self.gt_boxes.astype(np.float32),
                "gt_labels": self.gt_labels.astype(np.int64), "gt_ignore": self.gt_ignore.astype(bool),
                "class_ids": np.asarray(self.class_ids, dtype=np.int64),
                "class_names": np.asarray(self.class_names, dtype=str)}

    @classmethod
    def from_npz(cls, data) -> DetectionScores:
        """From ``np.load(scores.npz)`` (or any mapping with the same keys)."""
        keys = set(data.keys()) if hasattr(data, "keys") else set(data.files)
        return cls(subsets=data["subsets"], det_image=data["det_image"], det_boxes=data["det_boxes"],
                   det_scores=data["det_scores"], det_labels=data["det_labels"], gt_image=data["gt_image"],
                   gt_boxes=data["gt_boxes"], gt_labels=data["gt_labels"], gt_ignore=data["gt_ignore"],
                   image_ids=data["image_ids"] if "image_ids" in keys else np.zeros(0, dtype=str),
                   class_ids=[int(c) for c in data["class_ids"]] if "class_ids" in keys else [],
                   class_names=[str(c) for c in data["class_names"]] if "class_names" in keys else [])

    def matching(self, nms_iou: float | None = None, match_iou: float = DEFAULT_MATCH_IOU) -> Matching:
        """:func:`match` of this cache, remembered per (NMS IoU, match IoU) (a slider reuses it)."""
        key = (None if nms_iou is None else round(float(nms_iou), 6), round(float(match_iou), 6))
        if key not in self._matchings:
            self._matchings[key] = match(self, nms_iou=nms_iou, match_iou=match_iou)
        return self._matchings[key]


# ---------------------------------------------------------------------------------------- geometry
def box_area(boxes: np.ndarray) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)


def pair_iou(a: np.ndarray, b: np.ndarray, crowd: np.ndarray | None = None) -> np.ndarray:
    """IoU of row i of ``a`` with row i of ``b`` (both (n, 4)); where ``crowd`` is set, COCO's crowd
    overlap instead: intersection / area of ``a`` (the prediction)."""
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    area_a, area_b = box_area(a), box_area(b)
    union = area_a + area_b - inter
    if crowd is not None:
        union = np.where(crowd, area_a, union)
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, m) IoU matrix of two box sets."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    i, j = np.meshgrid(np.arange(len(a)), np.arange(len(b)), indexing="ij")
    return pair_iou(a[i.ravel()], b[j.ravel()]).reshape(len(a), len(b))


def _pairs(left_image: np.ndarray, right_image: np.ndarray, n_images: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (left index, right index) pair that shares an image, without a Python loop."""
    lo = np.argsort(left_image, kind="stable")
    ro = np.argsort(right_image, kind="stable")
    nl = np.bincount(left_image, minlength=n_images)
    nr = np.bincount(right_image, minlength=n_images)
    r_start = np.concatenate([[0], np.cumsum(nr)[:-1]])
    per_left = nr[left_image[lo]]  # how many right items each (sorted) left item pairs with
    total = int(per_left.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    li = np.repeat(lo, per_left)
    block_start = np.repeat(np.cumsum(per_left) - per_left, per_left)
    offset = np.arange(total) - block_start
    ri = ro[np.repeat(r_start[left_image[lo]], per_left) + offset]
    del nl
    return li, ri


# ---------------------------------------------------------------------------------------- NMS
def nms(scores: DetectionScores, iou: float | None) -> np.ndarray:
    """(P,) bool: the predictions class-wise greedy NMS at ``iou`` keeps (None: all of them).

    Greedy NMS as torchvision's ``batched_nms``: in descending score, a prediction is dropped when a
    kept one of the same image and class overlaps it by more than ``iou``. Solved for every image at
    once as the fixed point of "kept = not overlapped by a kept higher-scoring one" (the greedy
    result is that recursion's only solution, and each pass fixes at least one more rank)."""
    p = len(scores.det_scores)
    keep = np.ones(p, dtype=bool)
    if iou is None or p == 0:
        return keep
    hi, lo, ov = _nms_pairs(scores)
    sel = ov > float(iou)
    hi, lo = hi[sel], lo[sel]
    while len(hi):
        sup = np.zeros(p, dtype=bool)
        sup[lo[keep[hi]]] = True
        new = ~sup
        if np.array_equal(new, keep):
            break
        keep = new
    return keep


def _nms_pairs(scores: DetectionScores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Overlapping same-image same-class prediction pairs (higher, lower score, IoU), computed once."""
    cached = getattr(scores, "_nms_pairs_cache", None)
    if cached is not None:
        return cached
    group = scores.det_image * (scores.num_classes + 1) + scores.det_labels
    _, g = np.unique(group, return_inverse=True)
    a, b = _pairs(g, g, int(g.max(initial=-1)) + 1)
    # order by score (ties: index), keep a before b
    rank = np.lexsort((np.arange(len(scores.det_scores)), -scores.det_scores))
    pos = np.empty_like(rank)
    pos[rank] = np.arange(len(rank))
    sel = pos[a] < pos[b]
    a, b = a[sel], b[sel]
    ov = pair_iou(scores.det_boxes[a], scores.det_boxes[b])
    sel = ov > 0
    out = (a[sel], b[sel], ov[sel])
    scores._nms_pairs_cache = out  # type: ignore[attr-defined]
    return out


# ---------------------------------------------------------------------------------------- matching
@dataclass
class Matching:
    """Every prediction matched once, independently of the score threshold (see the module doc)."""

    nms_iou: float | None
    match_iou: float
    kept: np.ndarray  # (P,) bool: survives NMS
    rank: np.ndarray  # (P,) int: position among its image's kept predictions by descending score
    det_gt: np.ndarray  # (P,) int: the same-class ground truth it matched, -1: none
    det_ignored: np.ndarray  # (P,) bool: matched only an ignore box (neither TP nor FP)
    gt_score: np.ndarray  # (G,) the score of the prediction that matched it (-inf: none)
    gt_det: np.ndarray  # (G,) int: that prediction, -1: none
    #: candidate confusions: (unmatched prediction, ordinary box of another class, IoU >= match IoU)
    cross_det: np.ndarray
    cross_gt: np.ndarray
    cross_iou: np.ndarray

    @property
    def det_tp(self) -> np.ndarray:
        """(P,) bool: a true positive at any threshold it passes."""
        return self.kept & (self.det_gt >= 0) & ~self.det_ignored


def _det_gt_pairs(scores: DetectionScores) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Overlapping same-image (prediction, ground truth) pairs: det, gt, IoU, COCO IoU (crowd for ignore)."""
    cached = getattr(scores, "_dg_pairs_cache", None)
    if cached is not None:
        return cached
    d, g = _pairs(scores.det_image, scores.gt_image, len(scores))
    db, gb = scores.det_boxes[d], scores.gt_boxes[g]
    iou = pair_iou(db, gb)
    coco = pair_iou(db, gb, crowd=scores.gt_ignore[g])
    sel = (iou > 0) | (coco > 0)
    out = (d[sel], g[sel], iou[sel], coco[sel])
    scores._dg_pairs_cache = out  # type: ignore[attr-defined]
    return out


def _greedy(d: np.ndarray, g: np.ndarray, value: np.ndarray, rank: np.ndarray, reusable: np.ndarray,
            n_gt: int) -> tuple[np.ndarray, np.ndarray]:
    """Greedy assignment of candidate pairs (prediction ``d``, box ``g``): predictions in ``rank`` order
    each take their highest-``value`` box not yet taken (``reusable`` boxes may be taken again).

    All images advance one rank per step (ranks are distinct within an image), so the Python loop
    runs as often as the most crowded image has candidates, not once per prediction. Returns the
    chosen (prediction, box) pairs."""
    if not len(d):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    pr = rank[d]
    by = np.lexsort((-value, d, pr))  # by rank, then prediction, best candidate first
    d, g, reusable, pr = d[by], g[by], reusable[by], pr[by]
    taken = np.zeros(n_gt, dtype=bool)
    bounds = np.r_[0, np.flatnonzero(np.diff(pr)) + 1, len(pr)]
    out_d, out_g = [], []
    for s, e in zip(bounds[:-1], bounds[1:], strict=True):
        cd, cg, cr = d[s:e], g[s:e], reusable[s:e]
        ok = cr | ~taken[cg]
        cd, cg, cr = cd[ok], cg[ok], cr[ok]
        if not len(cd):
            continue
        first = np.r_[True, cd[1:] != cd[:-1]]  # the best remaining candidate of each prediction
        cd, cg, cr = cd[first], cg[first], cr[first]
        taken[cg[~cr]] = True
        out_d.append(cd)
        out_g.append(cg)
    if not out_d:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(out_d), np.concatenate(out_g)


def match(scores: DetectionScores, *, nms_iou: float | None = None, match_iou: float = DEFAULT_MATCH_IOU
          ) -> Matching:
    """Match every prediction (after NMS at ``nms_iou``) to the ground truth at ``match_iou`` (COCO rules)."""
    p, n_gt = len(scores.det_scores), len(scores.gt_labels)
    kept = nms(scores, nms_iou)
    # rank of each kept prediction within its image, by descending score
    order = np.lexsort((np.arange(p), -scores.det_scores, scores.det_image))
    order = order[kept[order]]
    rank = np.full(p, -1, dtype=np.int64)
    if len(order):
        img = scores.det_image[order]
        starts = np.r_[0, np.flatnonzero(np.diff(img)) + 1]
        rank[order] = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    d, g, iou, coco = _det_gt_pairs(scores)
    same = (scores.det_labels[d] == scores.gt_labels[g]) & kept[d] & (coco >= match_iou)
    ign = scores.gt_ignore[g[same]]
    # prefer ordinary boxes over ignore boxes, then the highest IoU (as COCOeval)
    md, mg = _greedy(d[same], g[same], coco[same] + np.where(ign, 0.0, 2.0), rank, ign, n_gt)
    det_gt = np.full(p, -1, dtype=np.int64)
    det_gt[md] = mg
    det_ignored = np.zeros(p, dtype=bool)
    det_ignored[md] = scores.gt_ignore[mg]
    real = ~scores.gt_ignore[mg]
    gt_score = np.full(n_gt, -np.inf)
    gt_score[mg[real]] = scores.det_scores[md[real]]
    gt_det = np.full(n_gt, -1, dtype=np.int64)
    gt_det[mg[real]] = md[real]
    cross = (kept[d] & (det_gt[d] < 0) & (iou >= match_iou) & ~scores.gt_ignore[g]
             & (scores.det_labels[d] != scores.gt_labels[g]))
    return Matching(nms_iou=nms_iou, match_iou=float(match_iou), kept=kept, rank=rank, det_gt=det_gt,
                    det_ignored=det_ignored, gt_score=gt_score, gt_det=gt_det, cross_det=d[cross],
                    cross_gt=g[cross], cross_iou=iou[cross])


# ---------------------------------------------------------------------------------------- operating point
def class_thresholds(scores: DetectionScores, op: OperatingPoint | None) -> np.ndarray:
    """(C,) the score threshold of each class (project class index order) under ``op``."""
    base = DEFAULT_SCORE_THRESHOLD if op is None or op.score_threshold is None else float(op.score_threshold)
    thr = np.full(scores.num_classes, base)
    for cid, t in ((op.class_thresholds or {}) if op is not None else {}).items():
        if int(cid) in scores.class_ids:
            thr[scores.class_ids.index(int(cid))] = float(t)
    return thr


@dataclass
class Outcome:
    """The results at one operating point: what each prediction / box is, counts, confusion."""

    scores: DetectionScores
    matching: Matching
    thresholds: np.ndarray  # (C,)
    shown: np.ndarray  # (P,) bool: kept by NMS and at or above its class threshold
    det_tp: np.ndarray  # (P,) bool
    det_fp: np.ndarray  # (P,) bool
    gt_tp: np.ndarray  # (G,) bool: found
    gt_fn: np.ndarray  # (G,) bool: missed (ignore boxes never are)
    image_tp: np.ndarray  # (I,) int
    image_fp: np.ndarray  # (I,) int
    image_fn: np.ndarray  # (I,) int
    confusion: np.ndarray  # (C+1, C+1) rows: true class + background; columns: predicted class + background

    def counts(self, images: np.ndarray | None = None) -> dict:
        """TP/FP/FN, precision, recall, F1 in total and per class (``images``: (I,) bool, None: all)."""
        return counts_from(self, images)

    def confusion_for(self, images: np.ndarray | None) -> np.ndarray:
        """The confusion matrix over some images ((I,) bool; None: all)."""
        return _confusion(self.scores, self.matching, self.det_tp, self.det_fp, self.gt_fn, images)


def at_operating_point(scores: DetectionScores, op: OperatingPoint | None = None, *,
                       thresholds: np.ndarray | float | None = None) -> Outcome:
    """Everything at an operating point, from the cache (``thresholds`` overrides op's scores: a slider)."""
    nms_iou = op.nms_iou if op is not None else None
    match_iou = op.match_iou if op is not None and op.match_iou is not None else DEFAULT_MATCH_IOU
    m = scores.matching(nms_iou, match_iou)
    if thresholds is None:
        thr = class_thresholds(scores, op)
    else:
        thr = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (scores.num_classes,)).copy()
    c = scores.num_classes
    det_thr = thr[scores.det_labels] if c else np.zeros(0)
    shown = m.kept & (scores.det_scores >= det_thr)
    det_tp = shown & (m.det_gt >= 0) & ~m.det_ignored
    det_fp = shown & (m.det_gt < 0)
    gt_thr = thr[scores.gt_labels] if c else np.zeros(0)
    gt_tp = ~scores.gt_ignore & (m.gt_score >= gt_thr)
    gt_fn = ~scores.gt_ignore & ~gt_tp
    n = len(scores)
    image_tp = np.bincount(scores.det_image[det_tp], minlength=n)
    image_fp = np.bincount(scores.det_image[det_fp], minlength=n)
    image_fn = np.bincount(scores.gt_image[gt_fn], minlength=n)
    confusion = _confusion(scores, m, det_tp, det_fp, gt_fn, None)
    return Outcome(scores=scores, matching=m, thresholds=thr, shown=shown, det_tp=det_tp, det_fp=det_fp, gt_tp=gt_tp, gt_fn=gt_fn,
                   image_tp=image_tp, image_fp=image_fp, image_fn=image_fn, confusion=confusion)


def _confusion(scores: DetectionScores, m: Matching, det_tp, det_fp, gt_fn, images: np.ndarray | None) -> np.ndarray:
    """The confusion matrix at an operating point: the diagonal is the true positives; the false
    positives and misses left over are then matched greedily by score regardless of class (IoU >=
    the match IoU): such a pair is a confusion (true class row, predicted class column); the rest go
    to the background row (false positives) and column (misses)."""
    c = scores.num_classes
    if images is not None:
        det_tp, det_fp = det_tp & images[scores.det_image], det_fp & images[scores.det_image]
        gt_fn = gt_fn & images[scores.gt_image]
    n = c + 1
    lab, glab = scores.det_labels, scores.gt_labels
    cm = np.bincount(lab[det_tp] * (n + 1), minlength=n * n)
    sel = det_fp[m.cross_det] & gt_fn[m.cross_gt]
    cd, cg = _greedy(m.cross_det[sel], m.cross_gt[sel], m.cross_iou[sel], m.rank, np.zeros(int(sel.sum()), bool),
                     len(glab))
    cm += np.bincount(glab[cg] * n + lab[cd], minlength=n * n)
    lone_fp = det_fp.copy()
    lone_fp[cd] = False
    cm += np.bincount(c * n + lab[lone_fp], minlength=n * n)
    lone_fn = gt_fn.copy()
    lone_fn[cg] = False
    cm += np.bincount(glab[lone_fn] * n + c, minlength=n * n)
    return cm.reshape(n, n)


def _prf(tp, fp, fn):
    tp, fp, fn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, fn))
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), np.nan)
        recall = np.where(tp + fn > 0, tp / (tp + fn), np.nan)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
    return precision, recall, f1


def _num(v) -> float | None:
    v = float(v)
    return None if not np.isfinite(v) else v


def counts_from(outcome: Outcome, images: np.ndarray | None = None) -> dict:
    """``{"tp", "fp", "fn", "precision", "recall", "f1", "per_class": [{...}]}`` over ``images``.

    Precision is None without predictions, recall None without ground truth (not 0: nothing to judge)."""
    s = outcome.scores
    c = s.num_classes
    det_tp, det_fp, gt_fn = outcome.det_tp, outcome.det_fp, outcome.gt_fn
    if images is not None:
        images = np.asarray(images, dtype=bool)
        det_tp, det_fp = det_tp & images[s.det_image], det_fp & images[s.det_image]
        gt_fn = gt_fn & images[s.gt_image]
    tp = np.bincount(s.det_labels[det_tp], minlength=c)
    fp = np.bincount(s.det_labels[det_fp], minlength=c)
    fn = np.bincount(s.gt_labels[gt_fn], minlength=c)
    p, r, f = _prf(tp, fp, fn)
    tp_all, fp_all, fn_all = int(tp.sum()), int(fp.sum()), int(fn.sum())
    pa, ra, fa = _prf(tp_all, fp_all, fn_all)
    per_class = [{"class_id": s.class_ids[k], "name": s.class_names[k], "tp": int(tp[k]), "fp": int(fp[k]),
                  "fn": int(fn[k]), "precision": _num(p[k]), "recall": _num(r[k]), "f1": _num(f[k]),
                  "threshold": float(outcome.thresholds[k])} for k in range(c)]
    return {"tp": tp_all, "fp": fp_all, "fn": fn_all, "precision": _num(pa), "recall": _num(ra), "f1": _num(fa),
            "per_class": per_class}


def _fmt(value) -> str:
    return f"{value:.3f}" if isinstance(value, float) else "  –  "


def summary_lines(aggregate: dict) -> list[str]:
    """The console summary of a detection evaluation (``studio evaluate``): one row per subset."""
    lines = [f"{'subset':8s} {'images':>6s} {'objects':>7s}  {'mAP@.5:.95 (95 % interval)':27s} {'mAP@.5':>6s} "
             f"{'mAP@.75':>7s}  at the operating point"]
    for subset, body in aggregate.get("subsets", {}).items():
        m, iv = body.get("metrics", {}), body.get("intervals", {})
        head = _fmt(m.get("map"))
        if iv.get("map"):
            head += f" ({iv['map'][0]:.3f}–{iv['map'][1]:.3f})"
        c = body.get("at_operating_point", {})
        op = (f"TP {c.get('tp', 0)} FP {c.get('fp', 0)} FN {c.get('fn', 0)}, precision {_fmt(c.get('precision'))}, "
              f"recall {_fmt(c.get('recall'))}")
        lines.append(f"{subset:8s} {body.get('images', 0):>6d} {body.get('objects', 0):>7d}  {head:27s} "
                     f"{_fmt(m.get('map_50')):>6s} {_fmt(m.get('map_75')):>7s}  {op}")
    return lines


__all__ = ["AREA_MEDIUM", "AREA_SMALL", "DEFAULT_MATCH_IOU", "DEFAULT_SCORE_THRESHOLD", "DetectionScores",
           "GoalNotReachable", "Matching", "Outcome", "at_operating_point", "box_area", "box_iou",
           "choose_operating_point", "class_thresholds", "counts_from", "match", "nms",
           "summary_lines",
           "pair_iou", "pr_curve"]
