"""Detection PR curves and the score thresholds chosen from a goal, from the matched cache.

Kept apart from ``detection.py`` (which re-exports both functions: one API for the page and the
CLI). The curve falls through every prediction's score at a matching's IoU; a goal — the best F1,
a precision to keep, a recall to reach — picks the threshold, for all classes at once, for one
class, or for each class on its own, on the validation images so that the test numbers stay honest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .classification import GoalNotReachable
from .operating_point import DEFAULT_MATCH_IOU, DEFAULT_SCORE_THRESHOLD, Goal, OperatingPoint

if TYPE_CHECKING:
    from .detection import DetectionScores, Matching


def _num(v) -> float | None:
    v = float(v)
    return None if not np.isfinite(v) else v


def pr_curve(scores: DetectionScores, matching: Matching, cls: int | None, images: np.ndarray | None = None) -> dict:
    """Precision and recall as the threshold falls through every prediction's score (class index
    ``cls``; None: all classes together), at ``matching``'s IoU: ``{"thresholds", "precision",
    "recall", "f1", "positives"}`` — one point per distinct score, thresholds descending."""
    det = matching.kept & ~matching.det_ignored
    gt = ~scores.gt_ignore
    if cls is not None:
        det &= scores.det_labels == cls
        gt &= scores.gt_labels == cls
    if images is not None:
        det &= images[scores.det_image]
        gt &= images[scores.gt_image]
    npos = int(gt.sum())
    sc = scores.det_scores[det]
    tp = (matching.det_gt[det] >= 0).astype(np.float64)
    o = np.argsort(-sc, kind="stable")
    sc, tp = sc[o], tp[o]
    ctp, cfp = np.cumsum(tp), np.cumsum(1 - tp)
    last = np.r_[sc[1:] != sc[:-1], True] if len(sc) else np.zeros(0, dtype=bool)  # ties: all or none
    sc, ctp, cfp = sc[last], ctp[last], cfp[last]
    precision = ctp / np.maximum(ctp + cfp, 1)
    recall = ctp / npos if npos else np.full(len(ctp), np.nan)
    f1 = 2 * ctp / np.maximum(ctp + cfp + npos, 1)
    return {"thresholds": sc, "precision": precision, "recall": recall, "f1": f1, "positives": npos}


def _pick(curve: dict, goal: Goal) -> int:
    p, r, f = curve["precision"], curve["recall"], curve["f1"]
    if not len(p):
        raise GoalNotReachable("there are no predictions to choose a threshold from")
    if goal.kind == "f1":
        return int(np.argmax(f))
    if goal.kind == "precision":
        ok = np.flatnonzero(p >= goal.value - 1e-12)
        if not len(ok):
            raise GoalNotReachable(f"no threshold gives precision {goal.value:.3g} (best {p.max():.3g})")
        return int(ok[np.argmax(np.nan_to_num(r[ok]) + 1e-9 * ok)])  # the most recall, then the lowest threshold
    if goal.kind == "recall":
        ok = np.flatnonzero(np.nan_to_num(r) >= goal.value - 1e-12)
        if not len(ok):
            raise GoalNotReachable(f"no threshold gives recall {goal.value:.3g} (best {np.nanmax(r):.3g}): "
                                   "the model never finds the rest")
        return int(ok[0])  # the highest threshold that reaches it
    raise GoalNotReachable(f"a detection threshold cannot be chosen for the goal '{goal.kind}'")


def choose_operating_point(scores: DetectionScores, goal: Goal, base: OperatingPoint | None = None) -> OperatingPoint:
    """The score threshold(s) that meet ``goal`` on ``goal.subset``'s images (validation by default).

    Goals: ``f1`` (the threshold of the highest F1), ``precision`` (the most recall with at least
    that precision), ``recall`` (the highest threshold with at least that recall). With
    ``goal.class_id`` only that class's threshold is set; with ``goal.per_class`` every class gets
    its own; otherwise one threshold for all. NMS and match IoU come from ``base``."""
    base = base or OperatingPoint(task="object_detection")
    images = scores.subset(goal.subset)
    if not images.any():
        raise GoalNotReachable(f"there are no '{goal.subset}' images to choose on")
    match_iou = base.match_iou if base.match_iou is not None else DEFAULT_MATCH_IOU
    m = scores.matching(base.nms_iou, match_iou)
    update: dict = {"task": "object_detection", "goal": goal.model_dump(mode="json"), "rule": "threshold"}
    achieved: dict = {"subset": goal.subset}
    if goal.class_id is not None or goal.per_class:
        ids = [goal.class_id] if goal.class_id is not None else list(scores.class_ids)
        per = dict(base.class_thresholds or {})
        for cid in ids:
            if cid not in scores.class_ids:
                raise GoalNotReachable(f"class id {cid} is not one of the model's classes")
            k = scores.class_ids.index(cid)
            curve = pr_curve(scores, m, k, images)
            if curve["positives"] == 0 and goal.per_class:
                continue
            i = _pick(curve, goal)
            per[cid] = float(curve["thresholds"][i])
            achieved[str(cid)] = {"precision": float(curve["precision"][i]), "recall": _num(curve["recall"][i]),
                                  "f1": float(curve["f1"][i])}
        update["class_thresholds"] = per
        if base.score_threshold is None:
            update["score_threshold"] = DEFAULT_SCORE_THRESHOLD
    else:
        curve = pr_curve(scores, m, None, images)
        i = _pick(curve, goal)
        update["score_threshold"] = float(curve["thresholds"][i])
        update["class_thresholds"] = {}
        achieved.update(precision=float(curve["precision"][i]), recall=_num(curve["recall"][i]),
                        f1=float(curve["f1"][i]))
    update["achieved"] = achieved
    return base.model_copy(update=update)


__all__ = ["choose_operating_point", "pr_curve"]
