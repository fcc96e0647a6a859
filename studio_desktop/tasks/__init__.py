"""The task registry: one explicit dict describing every task (DESIGN §2.4).

Pages, the CLI, importers and tests ask this registry; they never branch on task names.
Importable without torch or Qt. A task's ML side lives in ``studio_desktop.ml`` and is
looked up by the same id.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core.errors import InvalidInput


@dataclass(frozen=True)
class TaskInfo:
    id: str
    display_name: str
    #: one paragraph for newcomers: what the task does and when to use it
    description: str
    #: which ImageRecord field carries the annotation (DESIGN §5)
    annotation: str
    import_formats: tuple[str, ...]
    metrics: tuple[str, ...]
    #: the metric used to pick the best checkpoint; higher is better unless in LOWER_IS_BETTER
    primary_metric: str
    #: file name under resources/icons/tasks/
    icon: str
    #: short label for badges
    badge: str
    #: whether the task has classes (regression does not)
    has_classes: bool = True
    example: str = ""
    #: whether this version can train it (a task head in ml/tasks; kept in step by a test), so the
    #: GUI and the CLI say so before an experiment is set up, without importing torch
    trainable: bool = False
    extra: dict = field(default_factory=dict)


TASKS: dict[str, TaskInfo] = {
    "classification": TaskInfo(
        id="classification",
        display_name="Image classification",
        description=(
            "Gives each whole image one class, such as 'good part' or 'scratched part', 'cat' or 'dog'. "
            "Use it when the question is 'what is in this picture?' and one answer per image is enough. "
            "You label images by sorting them into one folder per class or with a CSV file."),
        annotation="label",
        import_formats=("folder", "csv", "zip"),
        trainable=True,
        metrics=("accuracy", "precision_macro", "recall_macro", "f1_macro"),
        primary_metric="accuracy",
        icon="classification.svg",
        badge="CLS",
        example="sorting defective from good parts",
    ),
    "object_detection": TaskInfo(
        id="object_detection",
        display_name="Object detection",
        description=(
            "Finds every object of interest in an image and draws a box around each, with its class. "
            "Use it to count or locate things (cells, vehicles, defects) when their outline does not matter. "
            "Imports COCO, YOLO, Pascal VOC and labelme annotations."),
        annotation="boxes",
        import_formats=("coco", "yolo", "voc", "labelme", "zip"),
        trainable=True,
        metrics=("map", "map_50", "map_75", "mar_100"),
        primary_metric="map",
        icon="object_detection.svg",
        badge="DET",
        example="counting blood cells",
    ),
    "semantic_segmentation": TaskInfo(
        id="semantic_segmentation",
        display_name="Semantic segmentation",
        description=(
            "Colours every pixel of the image with its class (road, sky, tumour, background...). "
            "Use it when you need the exact area of each kind of region but not individual objects. "
            "Imports label masks (index or palette PNGs), COCO polygons and labelme."),
        annotation="mask",
        import_formats=("masks", "coco", "labelme", "zip"),
        trainable=True,
        metrics=("miou", "pixel_accuracy", "dice"),
        primary_metric="miou",
        icon="semantic_segmentation.svg",
        badge="SEG",
        example="measuring road surface in street scenes",
    ),
    "instance_segmentation": TaskInfo(
        id="instance_segmentation",
        display_name="Instance segmentation",
        description=(
            "Finds each object and outlines it precisely, pixel by pixel, keeping touching objects apart. "
            "Use it when you need to count objects and also measure their shape or area. "
            "Imports COCO (polygons and RLE), YOLO segment and labelme polygons."),
        annotation="instances",
        import_formats=("coco", "yolo", "labelme", "zip"),
        metrics=("map_mask", "map_mask_50", "map", "map_50"),
        primary_metric="map_mask",
        icon="instance_segmentation.svg",
        badge="INS",
        example="outlining each seed on a tray",
    ),
    "anomaly_detection": TaskInfo(
        id="anomaly_detection",
        display_name="Anomaly detection",
        description=(
            "Learns what 'normal' looks like from good examples and flags anything unusual, with a heat map "
            "of where. Use it for inspection when defects are rare or varied and you mostly have good "
            "images. Imports the MVTec AD folder layout or folders of good and bad images."),
        annotation="anomaly",
        import_formats=("mvtec", "folder", "zip"),
        trainable=True,
        metrics=("image_auroc", "image_f1", "pixel_auroc"),
        primary_metric="image_auroc",
        icon="anomaly_detection.svg",
        badge="ANO",
        has_classes=False,
        example="spotting cracked hazelnuts",
        # the default model (normal-only: any split works), not the catalog's smallest (supervised)
        extra={"self_test_settings": {"model": "patchcore_resnet18"}},
    ),
    "regression": TaskInfo(
        id="regression",
        display_name="Regression",
        description=(
            "Predicts one or more numbers from an image, such as a price, an age, a weight or a fill level. "
            "Use it when the answer is a quantity rather than a category. "
            "Imports a CSV file with an image column and one numeric column per target."),
        annotation="targets",
        import_formats=("csv", "zip"),
        trainable=True,
        metrics=("mae", "rmse", "r2"),
        primary_metric="mae",
        icon="regression.svg",
        badge="REG",
        has_classes=False,
        example="estimating house prices from photos",
    ),
    "oriented_object_detection": TaskInfo(
        id="oriented_object_detection",
        display_name="Oriented object detection",
        description=(
            "Like object detection, but each box can rotate to fit the object tightly. "
            "Use it for things seen from above at any angle: ships, planes, parts on a conveyor, text lines. "
            "Imports DOTA label files and YOLO OBB."),
        annotation="rboxes",
        import_formats=("dota", "yolo", "zip"),
        metrics=("map_50", "map"),
        primary_metric="map_50",
        icon="oriented_object_detection.svg",
        badge="OBB",
        example="finding ships in aerial images",
    ),
}

#: metrics where a smaller value is better (for best-checkpoint selection and display)
LOWER_IS_BETTER = frozenset({"mae", "rmse", "loss", "val_loss", "train_loss"})


def get_task(task_id: str) -> TaskInfo:
    """The task with this id; an unknown id raises :class:`InvalidInput` listing the valid ones."""
    try:
        return TASKS[task_id]
    except KeyError:
        raise InvalidInput(f"unknown task '{task_id}'; choose one of: {', '.join(TASKS)}") from None


def task_ids() -> list[str]:
    return list(TASKS)


def training_unavailable(task_id: str) -> str | None:
    """Why a project of this task cannot be trained yet (one line for the user), or None."""
    task = get_task(task_id)
    if task.trainable:
        return None
    can = ", ".join(t.display_name.lower() for t in TASKS.values() if t.trainable)
    return (f"training {task.display_name.lower()} models is not available yet in this version of AI Studio "
            f"(it can train: {can}); import, check and split the data now, and train it in a later version")

