"""One loaded semantic-segmentation evaluation, as every section of the Evaluation page reads it (no Qt,
no torch).

The evaluator cached one pixel confusion matrix per image (``scores.npz``) and wrote each predicted
index mask (``evaluation/masks/<image id>.png``, class ids). Every number here — mIoU, per-class IoU,
the pixel confusion matrix, each image's IoU, the grid's order and colours — is recomputed from those
matrices by ``core/evaluation/segmentation.py``, for any subset, so the page always agrees with itself
and with ``aggregate.json``. There is no decision rule to move (the prediction is the argmax).

The grid's border says how well an image is segmented: green at IoU >= 0.75, amber from 0.5, red
under 0.5. The detail draws the masks over the photo: the prediction (semi-transparent class colours),
the ground truth (toggled, or beside the prediction) and an error layer with false positives and
false negatives in two colours (:meth:`SegmentationResults.layer_images`). A *focus class* (a click on
its IoU bar) narrows the error layer and the grid's order to that class.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ....core import segmentation as seg
from ....core.errors import StoreError
from ....core.evaluation import segmentation as sm
from ....core.evaluation.store import EvaluationInfo, EvaluationStore
from .results import CORRECT, STATUS_HEX, UNCERTAIN, WRONG, CachedResults, ImageMeta, ResultFilter, _name_of

TASK = "semantic_segmentation"
#: an image's IoU at or above GOOD is green, at or above FAIR amber, below red
GOOD_IOU, FAIR_IOU = 0.75, 0.5
OUTCOMES = {"any": "All images", "good": f"Good (IoU ≥ {GOOD_IOU:.2f})", "fair": f"Fair ({FAIR_IOU:.2f}–{GOOD_IOU:.2f})",
            "poor": f"Poor (IoU < {FAIR_IOU:.2f})"}
OUTCOME_CODES = {"good": CORRECT, "fair": UNCERTAIN, "poor": WRONG}
SORTS = {"iou": "IoU", "class_iou": "IoU of the focus class", "accuracy": "Pixel accuracy", "name": "File name",
         "order": "Evaluation order"}
#: the error layer's colours: predicted there but wrong (false positive), missed (false negative)
FP_HEX, FN_HEX = "#ff00ff", "#00e5ff"
#: opacity (0-255) of the class colours drawn over the photo, of the error layer, of ignore pixels
MASK_ALPHA, ERROR_ALPHA, IGNORE_ALPHA = 140, 200, 70
#: the detail's layers: key, title, shortcut, tooltip, shown at first
LAYERS = (
    ("prediction", "Prediction", "P", "The predicted mask over the image, each class in its colour (P)", True),
    ("truth", "Truth", "T", "The ground-truth mask over the image; ignore pixels pale white (T)", False),
    ("errors", "Errors", "E", "Wrong pixels in two colours: magenta where the prediction put a class that is not "
                              "there (false positive), cyan where a class was missed (false negative); with a focus "
                              "class, that class's false positives and false negatives (E)", False),
)
#: masks kept decoded (the detail flips between layers and images without reading them again)
CACHE_IMAGES = 4
#: the grid's thumbnails: the long side of the predicted mask drawn over each, how many are kept, and
#: the largest image whose mask is read for it while painting (larger: the caption and border only)
THUMB_SIDE, THUMB_CACHE, THUMB_MAX_PIXELS = 96, 1500, 6_000_000


def _rgb(hex_: str) -> tuple[int, int, int]:
    h = hex_.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def read_mask(path: Path) -> np.ndarray:
    """An index PNG's values as uint8 (palette indices, grey levels; RGB: the first channel)."""
    from PIL import Image

    with Image.open(path) as im:
        if im.mode not in ("P", "L"):
            im = im.convert("RGB").getchannel(0) if im.mode in ("RGB", "RGBA") else im.convert("L")
        return np.asarray(im, dtype=np.uint8)


class SegmentationResults(CachedResults):
    """The cached confusion matrices and masks of one segmentation evaluation."""

    task = TASK
    status_words = {CORRECT: f"good: IoU ≥ {GOOD_IOU:.2f}", UNCERTAIN: f"fair: IoU {FAIR_IOU:.2f}–{GOOD_IOU:.2f}",
                    WRONG: f"poor: IoU under {FAIR_IOU:.2f}"}
    caption_lines = 1
    has_label_issues = False
    grid_help = (f"Each image's IoU (mean over the classes in its truth or prediction), worst first. Border: green "
                 f"at IoU ≥ {GOOD_IOU:.2f}, amber from {FAIR_IOU:.2f}, red under. Click an image to see its masks: "
                 "P prediction, T ground truth, E errors, B truth beside the prediction.")
    section_help = ("Every evaluated image with its IoU, worst first; click one to see the predicted mask over it, "
                    "the ground truth and the wrong pixels")
    filter_help = {
        "outcome": f"Images by their IoU: good ≥ {GOOD_IOU:.2f}, fair {FAIR_IOU:.2f}–{GOOD_IOU:.2f}, poor under "
                   f"{FAIR_IOU:.2f}",
        "sort": "Order of the images: by IoU (ascending: worst first), by the IoU of the focus class (click a bar "
                "of the IoU chart to choose it), by pixel accuracy or by name",
        "descending": "Reverse the order (best first, last file name first…)",
    }
    choice_help = {"truth": "Images whose ground truth has pixels of this class",
                   "predicted": "Images where the model predicted pixels of this class"}

    def __init__(self, store: EvaluationStore | None, info: EvaluationInfo | None, aggregate: dict,
                 scores: sm.SegmentationScores, meta: ImageMeta, lines: list[dict], dataset_root: Path | None,
                 classes=None):
        self.store = store
        self.info = info
        self.aggregate = aggregate
        self.scores = scores
        self.meta = meta
        self.dataset_root = Path(dataset_root) if dataset_root is not None else None
        #: no decision rule: the prediction is the argmax (the page compares ``op`` by identity)
        self.op = None
        self.dirty = False
        self.saved = None
        #: the class whose errors the error layer and the "class_iou" sort show (None: every class)
        self.focus: int | None = None
        self.truth_files = [str((ln.get("truth") or {}).get("mask") or "") for ln in lines]
        self.pred_files = [str((ln.get("prediction") or {}).get("mask") or "") for ln in lines]
        self.sizes = np.asarray([(float(ln.get("width") or 0), float(ln.get("height") or 0)) for ln in lines]
                                ).reshape(-1, 2)
        named = list(classes) if classes is not None else list(scores.class_names)
        if len(named) != scores.num_classes:
            named = list(scores.class_names)
        #: (256, 3) colour of each channel, the page's and the written PNGs' palette
        self.palette = seg.palette(named)
        self.background = seg.background_channels(scores.class_names)
        self.lut = seg.channel_lut(scores.class_ids)
        self._cache: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._thumbs: dict[int, np.ndarray | None] = {}
        self._lock = threading.Lock()
        self.image_iou = sm.image_iou(scores)
        self.image_accuracy = sm.image_pixel_accuracy(scores)
        self.image_class_iou = sm.image_class_iou(scores)
        cm = scores.confusion
        #: (I, C) pixels of each class in the truth / in the prediction
        self.truth_pixels = cm.sum(axis=2) if len(scores) else np.zeros((0, scores.num_classes), np.int64)
        self.pred_pixels = cm.sum(axis=1) if len(scores) else np.zeros((0, scores.num_classes), np.int64)
        iou = np.nan_to_num(self.image_iou, nan=1.0)  # an image with no labelled pixel has nothing wrong
        self.status = np.where(iou >= GOOD_IOU, CORRECT, np.where(iou >= FAIR_IOU, UNCERTAIN, WRONG)).astype(np.int8)

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, experiment_folder: str | Path, project=None) -> SegmentationResults:
        """Read an evaluation folder (off the GUI thread). The dataset (ground-truth masks) is the
        project's, beside its experiments folder."""
        store = EvaluationStore(experiment_folder)
        info = store.info()
        aggregate = store.aggregate()
        scores = sm.SegmentationScores.from_npz(store.scores_arrays())
        lines = store.results()
        if len(lines) != len(scores):
            raise StoreError(f"has {len(lines)} lines for the {len(scores)} images of scores.npz; evaluate again",
                             path=store.folder / "results.jsonl")
        files, names, sources = [], [], []
        for line, image_id in zip(lines, scores.image_ids.tolist(), strict=True):
            if str(line.get("image")) != image_id:
                raise StoreError(f"line of image {line.get('image')} where scores.npz has {image_id}; evaluate again",
                                 path=store.folder / "results.jsonl")
            files.append(str(line.get("file") or ""))
            sources.append(str(line.get("source") or ""))
            names.append(_name_of(sources[-1], files[-1]))
        meta = ImageMeta(files=files, names=names, sources=sources, issue_rank=np.zeros(len(scores), dtype=np.int64))
        root = Path(experiment_folder).parent.parent / "dataset"
        classes = getattr(project, "classes", None)
        if classes is not None and [c.id for c in classes] != scores.class_ids:
            by_id = {c.id: c for c in classes}
            classes = [by_id.get(i, n) for i, n in zip(scores.class_ids, scores.class_names, strict=True)]
        return cls(store, info, aggregate, scores, meta, lines, root, classes)

    # ----------------------------------------------------------------- classes
    @property
    def class_names(self) -> list[str]:
        return self.scores.class_names

    @property
    def class_ids(self) -> list[int]:
        return self.scores.class_ids

    def colour_hex(self, k: int) -> str:
        r, g, b = (int(v) for v in self.palette[k])
        return f"#{r:02x}{g:02x}{b:02x}"

    @staticmethod
    def headline(aggregate: dict) -> str:
        """The experiment list's summary: test (else validation) mIoU."""
        subsets = aggregate.get("subsets", {})
        for name in ("test", "val", "train"):
            m = (subsets.get(name) or {}).get("metrics", {})
            if m.get("miou") is not None:
                return f"{name} mIoU {m['miou']:.3f}"
        return "evaluated"

    def describe_rule(self) -> str:
        return "each pixel gets its most probable class"

    def set_focus(self, k: int | None) -> None:
        """Make a class the focus of the error layer and of the "class_iou" sort (None: every class)."""
        self.focus = None if k is None or not 0 <= int(k) < self.scores.num_classes else int(k)

    # ----------------------------------------------------------------- metrics
    def report(self, subset: str, *, full: bool = True, resamples: int = 1000) -> dict:
        """The core's subset report (with the bootstrap intervals when ``full``), plus the counts."""
        from .results import BOOTSTRAP_CELLS

        rep = sm.subset_report(self.scores, subset, resamples=resamples if full else 0, max_cells=BOOTSTRAP_CELLS)
        if not full:  # the intervals aggregate.json has for this subset (the same seed: equal)
            rep["intervals"] = dict(((self.aggregate.get("subsets") or {}).get(subset) or {}).get("intervals") or {})
        rep["counts"] = self.counts(subset)
        ious = self.image_iou[self.scores.subset(subset)]
        rep["image_ious"] = [float(v) if np.isfinite(v) else None for v in ious.tolist()]
        rep["names"] = list(self.class_names)
        rep["colours"] = [self.colour_hex(k) for k in range(self.scores.num_classes)]
        return rep

    def how(self, metric: str) -> str:
        return str((self.aggregate.get("how") or {}).get(metric, "") or sm.HOW.get(metric, ""))

    def counts(self, subset: str | None = None) -> dict[str, int]:
        rows = self.scores.subset(subset)
        st = self.status[rows]
        return {"images": int(rows.sum()), "good": int((st == CORRECT).sum()), "fair": int((st == UNCERTAIN).sum()),
                "poor": int((st == WRONG).sum())}

    def confusion(self, subset: str | None = None) -> np.ndarray:
        return self.scores.summed(self.scores.subset(subset))

    def correctness(self) -> list[bool | None]:
        return [bool(s == CORRECT) for s in self.status.tolist()]

    # ------------------------------------------------------- the filter bar
    def default_filter(self) -> ResultFilter:
        """The worst images first."""
        return ResultFilter(sort="iou", descending=False)

    def outcomes(self) -> list[tuple[str, str]]:
        return list(OUTCOMES.items())

    def sorts(self) -> list[tuple[str, str]]:
        return list(SORTS.items())

    def choices(self, kind: str) -> list[tuple[object, str]]:
        if kind == "truth":
            return [(None, "Any true class")] + [(i, f"has {n}") for i, n in enumerate(self.class_names)]
        return [(None, "Any prediction")] + [(i, f"predicted {n}") for i, n in enumerate(self.class_names)]

    def grid_summary(self) -> str:
        c = self.counts()
        return f"{c['poor']:,} poor, {c['fair']:,} fair"

    # ------------------------------------------------------------------ images
    def visible(self, flt: ResultFilter) -> np.ndarray:
        """Row indices that pass ``flt``, in its order (``iou`` ascending: the worst first)."""
        s = self.scores
        keep = np.ones(len(s), dtype=bool)
        if flt.subset is not None:
            keep &= s.subsets == flt.subset
        if flt.outcome in OUTCOME_CODES:
            keep &= self.status == OUTCOME_CODES[flt.outcome]
        if flt.truth is not None and flt.predicted is not None:  # a confusion-matrix cell
            keep &= s.confusion[:, flt.truth, flt.predicted] > 0
        elif flt.truth is not None:
            keep &= self.truth_pixels[:, flt.truth] > 0
        elif flt.predicted is not None:
            keep &= self.pred_pixels[:, flt.predicted] > 0
        if flt.ids is not None:
            keep &= np.isin(s.image_ids, np.asarray(sorted(flt.ids), dtype=str))
        rows = np.nonzero(keep)[0]
        if not len(rows):
            return rows
        if flt.sort == "iou":
            key = np.nan_to_num(self.image_iou[rows], nan=2.0)  # nothing labelled: after the rest
        elif flt.sort == "class_iou":
            k = self.focus
            key = (np.nan_to_num(self.image_class_iou[rows, k], nan=2.0) if k is not None
                   else np.nan_to_num(self.image_iou[rows], nan=2.0))
        elif flt.sort == "accuracy":
            key = np.nan_to_num(self.image_accuracy[rows], nan=2.0)
        elif flt.sort == "name":
            key = np.asarray(self.meta.names, dtype=str)[rows]
        else:
            key = None
        return self._ordered(rows, key, flt.descending)

    def caption(self, row: int) -> str:
        iou = self.image_iou[row]
        text = "no labelled pixel" if not np.isfinite(iou) else f"IoU {iou:.2f}"
        if self.focus is not None:
            ci = self.image_class_iou[row, self.focus]
            text += f" · {self.class_names[self.focus]} " + (f"{ci:.2f}" if np.isfinite(ci) else "–")
        return text

    def image_classes(self, row: int) -> list[dict]:
        """The classes of one image (in its truth or prediction): IoU, true and predicted pixels,
        worst IoU first."""
        out = []
        for k, name in enumerate(self.class_names):
            t, p = int(self.truth_pixels[row, k]), int(self.pred_pixels[row, k])
            if t or p:
                iou = float(self.image_class_iou[row, k])
                out.append({"index": k, "name": name, "iou": iou, "truth": t, "predicted": p,
                            "colour": self.colour_hex(k)})
        return sorted(out, key=lambda d: d["iou"])

    def describe_image(self, row: int) -> dict:
        """What the detail shows of one image: the verdict (IoU, pixel accuracy, its classes' IoU)
        and the mask layers to draw (read off the GUI thread through ``layer_images``)."""
        status = int(self.status[row])
        iou, acc = self.image_iou[row], self.image_accuracy[row]
        d = {"image": str(self.scores.image_ids[row]), "name": self.meta.names[row], "file": self.meta.files[row],
             "source": self.meta.sources[row], "subset": str(self.scores.subsets[row]), "status": status,
             "truth": "", "predicted": "", "probabilities": [], "issue": None,
             "iou": None if not np.isfinite(iou) else float(iou),
             "pixel_accuracy": None if not np.isfinite(acc) else float(acc),
             "classes": self.image_classes(row), "focus": self.focus,
             "layers": [{"key": k, "title": t, "shortcut": s, "tooltip": tip, "on": on, "beside": k == "truth"}
                        for k, t, s, tip, on in LAYERS],
             "layer_key": (row, self.focus), "layer_images": lambda r=row, f=self.focus: self.layer_images(r, f)}
        cells = []
        for c in d["classes"][:8]:
            value = "–" if not np.isfinite(c["iou"]) else f"{c['iou']:.2f}"
            bold = ("<b>", "</b>") if c["index"] == self.focus else ("", "")
            cells.append(f"<span style='color:{c['colour']}'>■</span> {bold[0]}{c['name']}{bold[1]} {value}")
        more = f" · +{len(d['classes']) - 8} more" if len(d["classes"]) > 8 else ""
        head = ("no labelled pixel" if d["iou"] is None else
                f"IoU <b style='color:{STATUS_HEX[status]}'>{d['iou']:.3f}</b> · pixel accuracy "
                f"{100 * (d['pixel_accuracy'] or 0):.1f} %")
        legend = (f"<span style='color:{FP_HEX}'>■</span> false positive · <span style='color:{FN_HEX}'>■</span> "
                  f"false negative" + (f" of <b>{self.class_names[self.focus]}</b>" if self.focus is not None else ""))
        d["verdict"] = f"{head} — {self.status_words[status]}<br>{' · '.join(cells)}{more}<br><small>{legend}</small>"
        return d

    def tooltip(self, row: int) -> str:
        iou = self.image_iou[row]
        worst = [c for c in self.image_classes(row) if np.isfinite(c["iou"])][:3]
        text = f"{self.meta.names[row]} ({self.scores.subsets[row]})\n"
        text += "no labelled pixel" if not np.isfinite(iou) else f"IoU {iou:.3f} · pixel accuracy " \
                                                                 f"{100 * self.image_accuracy[row]:.1f} %"
        if worst:
            text += "\nweakest: " + ", ".join(f"{c['name']} {c['iou']:.2f}" for c in worst)
        return text + "\n" + self.status_words[int(self.status[row])]

    def worst_errors(self, subset: str | None, n: int) -> np.ndarray:
        """The ``n`` images with the lowest IoU (the report's pictures)."""
        return self.visible(ResultFilter(subset=subset, sort="iou"))[:n]

    # ------------------------------------------------------------------ masks
    def mask_paths(self, row: int) -> tuple[Path | None, Path | None]:
        """(ground truth, prediction) mask files of an image."""
        truth = self.dataset_root / self.truth_files[row] if self.dataset_root and self.truth_files[row] else None
        pred = self.store.folder / self.pred_files[row] if self.store is not None and self.pred_files[row] else None
        return truth, pred

    def channels(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """(truth, prediction) as channel-index masks (255: ignore) at the original size; thread-safe
        and cached for the last few images."""
        with self._lock:
            hit = self._cache.get(row)
            if hit is not None:
                self._cache.move_to_end(row)
                return hit
        truth_path, pred_path = self.mask_paths(row)
        if pred_path is None or not pred_path.is_file():
            raise StoreError("has no predicted mask for this image; evaluate again", path=pred_path or self.store.folder)
        pred = seg.to_channels(read_mask(pred_path), self.lut)
        if truth_path is not None and truth_path.is_file():
            truth = seg.to_channels(read_mask(truth_path), self.lut)
            if truth.shape != pred.shape:
                raise StoreError(f"is {truth.shape[1]}x{truth.shape[0]} pixels but the prediction "
                                 f"{pred.shape[1]}x{pred.shape[0]}; evaluate again", path=truth_path)
        else:
            truth = np.full(pred.shape, seg.IGNORE, dtype=np.uint8)
        with self._lock:
            self._cache[row] = (truth, pred)
            while len(self._cache) > CACHE_IMAGES:
                self._cache.popitem(last=False)
        return truth, pred

    def error_masks(self, row: int, focus: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(false positive, false negative) boolean masks of an image's labelled pixels.

        With a focus class k: FP = predicted k where the truth is another class; FN = truly k,
        predicted another. Every class (no focus): a wrong pixel predicted as a background class is
        a miss (FN: the object was not seen); any other wrong pixel is a false positive (the model
        put a class there that is not there). Without a background class every wrong pixel is an FP
        of its predicted class — pick a focus class to see one class's misses."""
        truth, pred = self.channels(row)
        labelled = truth != seg.IGNORE
        if focus is not None:
            return labelled & (pred == focus) & (truth != focus), labelled & (truth == focus) & (pred != focus)
        wrong = labelled & (pred != truth)
        if self.background:
            missed = wrong & np.isin(pred, self.background)
            return wrong & ~missed, missed
        return wrong, np.zeros_like(wrong)

    def thumbnail_overlay(self, row: int) -> np.ndarray | None:
        """The predicted mask over the grid's thumbnail: a small RGBA image (long side THUMB_SIDE) in
        the image's aspect ratio, cached (None: no mask file, or an image too large to read while
        painting)."""
        if row in self._thumbs:
            return self._thumbs[row]
        w, h = self.sizes[row] if row < len(self.sizes) else (0, 0)
        rgba = None
        _truth, pred_path = self.mask_paths(row)
        if 0 < w * h <= THUMB_MAX_PIXELS and pred_path is not None and pred_path.is_file():
            try:
                pred = seg.to_channels(read_mask(pred_path), self.lut)
            except (OSError, ValueError):
                pred = None
            if pred is not None:
                ph, pw = pred.shape
                scale = THUMB_SIDE / max(ph, pw)
                th, tw = max(1, round(ph * scale)), max(1, round(pw * scale))
                small = pred[(np.arange(th) * ph // th)[:, None], (np.arange(tw) * pw // tw)[None, :]]
                rgba = np.zeros((th, tw, 4), dtype=np.uint8)
                rgba[..., :3] = self.palette[small]
                alpha = np.full(256, MASK_ALPHA, dtype=np.uint8)
                alpha[self.background] = 0
                alpha[seg.IGNORE] = 0
                rgba[..., 3] = alpha[small]
        if len(self._thumbs) >= THUMB_CACHE:
            self._thumbs.clear()
        self._thumbs[row] = rgba
        return rgba

    def layer_images(self, row: int, focus: int | None = None) -> dict[str, np.ndarray]:
        """RGBA images (H, W, 4 uint8) of the detail's layers: ``prediction``, ``truth``, ``errors``."""
        truth, pred = self.channels(row)
        out = {}
        for key, mask in (("prediction", pred), ("truth", truth)):
            rgba = np.zeros((*mask.shape, 4), dtype=np.uint8)
            rgba[..., :3] = self.palette[mask]
            alpha = np.full(256, MASK_ALPHA, dtype=np.uint8)
            alpha[self.background] = 0
            alpha[seg.IGNORE] = IGNORE_ALPHA if key == "truth" else 0
            rgba[..., 3] = alpha[mask]
            out[key] = rgba
        fp, fn = self.error_masks(row, focus)
        rgba = np.zeros((*pred.shape, 4), dtype=np.uint8)
        rgba[fp] = (*_rgb(FP_HEX), ERROR_ALPHA)
        rgba[fn] = (*_rgb(FN_HEX), ERROR_ALPHA)
        out["errors"] = rgba
        return out


__all__ = ["FAIR_IOU", "FN_HEX", "FP_HEX", "GOOD_IOU", "LAYERS", "OUTCOMES", "SORTS", "SegmentationResults",
           "read_mask"]
