"""Prediction on new images with a checkpoint or an exported model, through one decode.

``MODEL`` may be an experiment (name or id), a checkpoint file, or an exported model (its file or
its export folder). Whatever runs the network, the images are prepared by the same
:class:`~.preprocess.Preprocessing` (EXIF orientation applied, as at import) and the raw outputs
are decoded by the same task decoder and operating point (``core/evaluation/predictions.py``), so
a checkpoint and its export give the same answers. A file that cannot be read is reported by
name and the others are still predicted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.errors import InvalidInput, NotFound, StudioError
from ..core.evaluation.detection_predictions import coco_results as to_coco
from ..core.evaluation.operating_point import OperatingPoint, load_operating_point
from ..core.evaluation.predictions import (
    BOX_TASKS,
    DRAWERS,
    MODEL_CONTEXTS,
    collect_images,
    decode_predictions,
    write_prediction_files,
)
from ..core.evaluation.store import evaluation_folder
from ..core.experiments import ExperimentService
from ..core.procs import StopFlag
from ..core.projects import ProjectService
from ..core.store import atomic_write_json
from .preprocess import Preprocessing

EXPORT_SUFFIXES = (".onnx", ".xml", ".pt", ".ts", ".torchscript")


@dataclass
class Predictor:
    """Runs a batch of prepared images and says how to read the outputs."""

    task: str
    classes: list[dict]  # output order: id, name
    preprocessing: Preprocessing
    op: OperatingPoint | None
    run: Callable[[torch.Tensor], dict[str, np.ndarray]]
    describe: dict[str, Any]
    #: a task that predicts each image whole at its own resolution (``WHOLE_IMAGE_TASKS``): the image
    #: (H, W, 3 uint8, EXIF orientation applied) -> the decoder's arrays for that image; None: ``run``
    #: on batches of preprocessed inputs
    image_run: Callable[[np.ndarray], dict[str, np.ndarray]] | None = None
    #: what the task's decoder needs from the model besides its outputs (``MODEL_CONTEXTS``: an anomaly
    #: model's threshold and colour scale), merged into every batch's context
    context: dict[str, Any] = field(default_factory=dict)


#: tasks whose models answer for every pixel of the original image, predicted image by image:
#: task -> module with ``checkpoint_runner(trained)`` and ``export_runner(exported)``, each returning
#: the ``image_run`` of :class:`Predictor`
WHOLE_IMAGE_TASKS: dict[str, str] = {"semantic_segmentation": "studio_desktop.ml.segmentation_predict"}


def _whole_image(task: str, maker: str, source):
    """The task's whole-image runner made from a checkpoint or an exported file (None for other tasks)."""
    import importlib

    spec = WHOLE_IMAGE_TASKS.get(task)
    return getattr(importlib.import_module(spec), maker)(source) if spec else None


def _model_context(task: str, op: OperatingPoint | None, evaluation: Path | None, metadata: dict | None) -> dict:
    maker = MODEL_CONTEXTS.get(task)
    return maker(op, evaluation, metadata) if maker is not None else {}


def _from_trained(trained, op: OperatingPoint | None, describe: dict, evaluation: Path | None = None) -> Predictor:
    head = trained.head

    @torch.inference_mode()
    def run(batch: torch.Tensor) -> dict[str, np.ndarray]:
        return head.eval_batch(trained(batch))

    units = trained.project.target_units
    outputs = ([{"id": c.id, "name": c.name, "colour": c.color} for c in trained.project.classes]
               or [{"id": i, "name": n, "unit": units.get(n, "")} for i, n in enumerate(trained.project.target_names)])
    return Predictor(task=trained.project.task, classes=outputs,
                     preprocessing=trained.preprocessing, op=op, run=run,
                     describe={**describe, "checkpoint": trained.describe_checkpoint(), "model": trained.config.model},
                     image_run=_whole_image(trained.project.task, "checkpoint_runner", trained),
                     context=_model_context(trained.project.task, op, evaluation, None))


def _from_export(path: Path) -> Predictor:
    try:
        from .export.runtime import load_exported
    except ImportError:  # pragma: no cover - the export module ships with the app
        raise InvalidInput("this version cannot run exported models", path=path) from None
    exported = load_exported(path)
    meta = exported.metadata
    task = str(meta.get("task", "classification"))
    op = OperatingPoint.model_validate({"task": task, **meta["operating_point"]}) if meta.get("operating_point") \
        else None
    classes = meta.get("classes") or [{"id": i, "name": n} for i, n in enumerate(meta.get("class_names") or [])]

    def run(batch: torch.Tensor) -> dict[str, np.ndarray]:
        # every output under its own name, the main one as float32: what the task's decoder reads ("logits",
        # "values"; an anomaly model's "score" and "map")
        x = np.asarray(batch.numpy(), dtype=np.float32)
        outputs = exported.runner.run_all(x) if len(x) else {exported.output: exported.run(x)}
        return {**outputs, exported.output: np.asarray(outputs[exported.output], dtype=np.float32)}

    return Predictor(task=str(meta.get("task", "classification")), classes=classes,
                     preprocessing=exported.preprocessing, op=op, run=run,
                     describe={"kind": "export", "path": str(exported.path), "format": exported.format,
                               "experiment": meta.get("experiment_id")},
                     image_run=_whole_image(task, "export_runner", exported),
                     context=_model_context(task, op, None, meta))


def _experiment(ws, ref: str, project_ref: str | None):
    """(project, experiment) for an experiment name or id, searching every project unless told."""
    projects = [ProjectService(ws).get(project_ref)] if project_ref else ProjectService(ws).list()
    found = []
    for project in projects:
        try:
            found.append((project, ExperimentService(ws, project.id).get(ref)))
        except NotFound:
            continue
    if not found:
        where = f"project '{projects[0].name}'" if project_ref else "any project"
        raise InvalidInput(f"'{ref}' is neither a model file nor an experiment of {where}")
    if len(found) > 1:
        names = ", ".join(p.name for p, _ in found)
        raise InvalidInput(f"several projects have an experiment '{ref}' ({names}); name one with --project")
    return found[0]


def load_predictor(ws, model: str, *, project: str | None = None, checkpoint: str = "best") -> Predictor:
    from .checkpoint import load_checkpoint_file, load_trained

    path = Path(model).expanduser()
    if path.exists():
        if path.is_dir() or path.suffix.lower() in EXPORT_SUFFIXES:
            return _from_export(path)
        trained = load_checkpoint_file(path)
        # a checkpoint inside its experiment folder follows that experiment's operating point
        inside = path.parent.name == "checkpoints"
        folder = evaluation_folder(path.parent.parent) if inside else None
        op = load_operating_point(folder) if inside else None
        return _from_trained(trained, op, {"kind": "checkpoint", "path": str(path)}, folder)
    if ws is None:
        raise InvalidInput(f"no such model file: {model}")
    proj, exp = _experiment(ws, model, project)
    trained = load_trained(ws, proj.id, exp.id, checkpoint)
    folder = evaluation_folder(ExperimentService(ws, proj.id).folder(exp.id))
    return _from_trained(trained, load_operating_point(folder),
                         {"kind": "experiment", "project": proj.name, "experiment": exp.name, "id": exp.id}, folder)


def oriented_size(path: Path) -> dict:
    """``{"width", "height"}`` of an image as the user sees it (EXIF orientation applied), from its header."""
    from PIL import Image

    from ..core.images import orientation_of

    try:
        with Image.open(path) as im:
            width, height = im.size
            turned = orientation_of(im) in (5, 6, 7, 8)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets one message naming it
        raise InvalidInput(f"cannot decode image: {exc}", path=path) from None
    return {"width": height, "height": width} if turned else {"width": width, "height": height}


def output_names(files: list[Path]) -> dict[str, str]:
    """A distinct name for each image's own output files (its stem; ``-2``, ``-3``... when two share one)."""
    names, taken = {}, set()
    for f in files:
        stem, n = Path(f).stem, 2
        name = stem
        while name in taken:
            name, n = f"{stem}-{n}", n + 1
        taken.add(name)
        names[str(f)] = name
    return names


def _read_image(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a new image as the user sees it (EXIF orientation applied)."""
    from ..core.images import BadImage, open_rgb

    try:
        return np.array(open_rgb(Path(path), oriented=True))  # a writable copy (torch.from_numpy wants one)
    except BadImage as exc:
        raise InvalidInput(str(exc), path=path) from None
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets one message naming it
        raise InvalidInput(f"cannot decode image: {exc}", path=path) from None


def _predict_whole(predictor: Predictor, files: list[Path], rows: list[dict], context: dict, progress, stop) -> None:
    """Image by image at each image's own resolution (``Predictor.image_run``)."""
    for done, f in enumerate(files, start=1):
        if stop is not None and stop.requested():
            break
        try:
            image = _read_image(f)
        except StudioError as exc:
            rows.append({"file": str(f), "ok": False, "error": exc.message})
        else:
            arrays = predictor.image_run(image)
            one = {**context, "images": [{"width": int(image.shape[1]), "height": int(image.shape[0])}],
                   "files": [str(f)], "names": [context["names"][str(f)]]}
            pred = decode_predictions(predictor.task, arrays, predictor.op, predictor.classes, one)[0]
            rows.append({"file": str(f), "ok": True, **pred})
        if progress is not None:
            progress(done, len(files))


def predict_files(predictor: Predictor, inputs: list[str | Path], *, batch_size: int = 16,
                  progress: Callable[[int, int], None] | None = None, stop: StopFlag | None = None,
                  out: Path | None = None) -> list[dict]:
    """One row per image (``ok`` with the decoded prediction, or ``ok: False`` with the error).

    ``out``: the folder where a task's decoder may write each image's own files (a segmentation's
    index mask), named by :func:`output_names`."""
    files, rows = collect_images(inputs)
    if not files and not rows:
        raise InvalidInput("no images to predict: name image files or folders that contain images")
    pre = predictor.preprocessing
    names = output_names(files)
    base = {**predictor.context, "input_size": pre.input_size, "resize": pre.resize, "names": names,
            "out": Path(out).resolve() if out is not None else None}
    if predictor.image_run is not None:
        _predict_whole(predictor, files, rows, base, progress, stop)
        order = {str(f): i for i, f in enumerate(files)}
        rows.sort(key=lambda r: order.get(r["file"], -1))
        return rows
    transform = pre.transform()
    done = 0
    for start in range(0, len(files), batch_size):
        if stop is not None and stop.requested():
            break
        chunk = files[start: start + batch_size]
        tensors, good, sizes = [], [], []
        for f in chunk:
            try:
                tensors.append(pre.tensor(f, transform, oriented=True))
                sizes.append(oriented_size(f))
                good.append(f)
            except StudioError as exc:
                rows.append({"file": str(f), "ok": False, "error": exc.message})
        if tensors:
            arrays = predictor.run(torch.stack(tensors))
            # what a decoder may need besides the outputs: each image's size as the user sees it
            # (a detector's boxes go back from the letterboxed input to the original pixels)
            # (and where and under which names its own files go: ``out``, ``names``)
            context = {**base, "images": sizes, "files": [str(f) for f in good], "names": [names[str(f)] for f in good]}
            for f, pred in zip(good, decode_predictions(predictor.task, arrays, predictor.op, predictor.classes,
                                                        context), strict=True):
                rows.append({"file": str(f), "ok": True, **pred})
        done += len(chunk)
        if progress is not None:
            progress(done, len(files))
    order = {str(f): i for i, f in enumerate(files)}
    rows.sort(key=lambda r: order.get(r["file"], -1))
    return rows


def with_score_threshold(op: OperatingPoint | None, task: str, threshold: float) -> OperatingPoint:
    """The operating point with one score threshold for every class (the user's ``--score-threshold``)."""
    if not 0.0 <= threshold <= 1.0:
        raise InvalidInput(f"the score threshold must be between 0 and 1, not {threshold:g}")
    base = op if op is not None else OperatingPoint(task=task)
    return base.model_copy(update={"score_threshold": float(threshold), "class_thresholds": {}})


def draw_predictions(rows: list[dict], folder: Path, classes: list[dict], task: str = "object_detection"
                     ) -> list[Path]:
    """Each predicted image drawn by its task's writer (``DRAWERS``: boxes, masks, heat maps) into
    ``folder/<name>...png`` (``<name>-2``, ``-3``... when two images share a name)."""
    writer = DRAWERS[task]
    folder.mkdir(parents=True, exist_ok=True)
    written, taken = [], set()
    for row in rows:
        if not row.get("ok"):
            continue
        stem, n = Path(row["file"]).stem, 2
        name = stem
        while name in taken:
            name, n = f"{stem}-{n}", n + 1
        taken.add(name)
        written.extend(writer(row, folder / name, classes))
    return written


def predict(ws, model: str, inputs: list[str | Path], out: Path | None, *, project: str | None = None,
            checkpoint: str = "best", batch_size: int = 16, progress=None, stop: StopFlag | None = None,
            score_threshold: float | None = None, coco_results: Path | None = None, draw: Path | None = None
            ) -> tuple[list[dict], Predictor, float]:
    """Predict and (with ``out``) write predictions.json / .csv; returns (rows, predictor, seconds).

    Models that predict boxes also take ``score_threshold`` (instead of the operating point's, for
    every class), write COCO results to ``coco_results`` and drawn PNGs into ``draw``."""
    predictor = load_predictor(ws, model, project=project, checkpoint=checkpoint)
    asked = [name for name, v in (("--score-threshold", score_threshold), ("--coco-results", coco_results))
             if v is not None]
    if asked and predictor.task not in BOX_TASKS:
        raise InvalidInput(f"{', '.join(asked)} only {'applies' if len(asked) == 1 else 'apply'} to models that predict boxes (object detection); this is "
                           f"a {predictor.task.replace('_', ' ')} model")
    if draw is not None and predictor.task not in DRAWERS:
        raise InvalidInput(f"--draw has nothing to draw for a {predictor.task.replace('_', ' ')} model (it draws "
                           "boxes, masks and heat maps); its predictions are in predictions.json")
    if score_threshold is not None:
        predictor.op = with_score_threshold(predictor.op, predictor.task, score_threshold)
    t0 = time.monotonic()
    rows = predict_files(predictor, inputs, batch_size=batch_size, progress=progress, stop=stop,
                         out=out if out is not None else draw)
    elapsed = time.monotonic() - t0
    if out is not None:
        write_prediction_files(out, predictor.describe | {"task": predictor.task, "outputs": predictor.classes},
                               predictor.op, rows,
                               [c["name"] for c in predictor.classes])
    if coco_results is not None:
        coco_results.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(coco_results, to_coco(rows))
    if draw is not None:
        draw_predictions(rows, draw, predictor.classes, predictor.task)
    return rows, predictor, elapsed


__all__ = ["Predictor", "draw_predictions", "load_predictor", "oriented_size", "predict", "predict_files",
           "with_score_threshold"]
