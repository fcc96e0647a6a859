"""Settings a task adds to the common training settings (DESIGN §10), each with its help text.

The common settings (:class:`~.train_config.TrainConfig`) serve every task; what only makes sense
for one task (the loss of a regression, later the NMS threshold of a detector) is declared here,
one pydantic model per task, and stored in the config's ``task_settings``. The Training form
and ``studio train --list-settings`` build themselves from these models; ``--set loss=huber``
reaches them like any other setting.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class RegressionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    loss: Literal["mse", "l1", "huber"] = Field(
        "mse", title="Loss", description="How errors are counted while learning. mse (mean squared error): "
        "large errors count much more (the usual choice). l1 (mean absolute error): every unit of error "
        "counts the same; robust to a few wrong labels. huber: squared for small errors, absolute for "
        "large ones (a compromise).")
    huber_delta: float = Field(1.0, gt=0, le=100, title="Huber delta", json_schema_extra={"when": {"loss": "huber"}},
                               description="With the huber loss: the error (in standard deviations of the "
                                           "target) above which errors count linearly instead of squared.")
    target_weights: dict[str, float] = Field(default_factory=dict, title="Target weights",
                                             description="With several targets: how much each counts in the "
                                                         "loss (default 1 each), e.g. {\"price\": 2}.")
    log_targets: list[str] = Field(default_factory=list, title="Log-transformed targets",
                                   description="Targets learnt on a log scale: for positive, skewed values "
                                               "(prices, counts, areas) whose errors are relative. Predictions "
                                               "are converted back to the target's units.")


class DetectionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    nms_iou: float = Field(
        0.5, ge=0.05, le=0.95, title="NMS IoU",
        description="Non-maximum suppression: of two boxes of the same class overlapping more than this "
                    "(intersection over union), the weaker is removed. Lower removes more duplicates but can "
                    "merge objects that touch; higher keeps crowded objects apart. The Evaluation page can "
                    "apply a stricter value afterwards without running the model again.")
    max_detections: int = Field(
        100, ge=1, le=1000, title="Detections per image",
        description="The most boxes the model reports for one image (the best-scoring ones). COCO's mAP "
                    "counts up to 100; raise it for images with hundreds of objects.")
    score_threshold: float = Field(
        0.25, ge=0.0, le=1.0, title="Score threshold (display)",
        description="Boxes scoring below this are not drawn in training previews. The model itself keeps "
                    "low-scoring boxes (mAP needs them); the Evaluation page chooses the real operating point.")
    anchor_sizes: str = Field(
        "", title="Anchor sizes (pixels)",
        description="Box sizes, in input pixels, the model starts its guesses from: one per feature-pyramid "
                    "level (the Tiny FCOS has 3, ResNet-50 detectors 5; MobileNet Faster R-CNN takes its 5 "
                    "sizes for every level). Empty: the model's defaults. Set them when your objects are much "
                    "smaller or larger than usual, as numbers separated by commas (e.g. 8, 16, 32); "
                    "SSDlite has no sizes to set.")

    @field_validator("anchor_sizes", mode="before")
    @classmethod
    def _anchor_sizes(cls, v: Any) -> str:
        if v is None:
            return ""
        items = v if isinstance(v, list | tuple) else str(v).replace(";", ",").replace(" ", ",").split(",")
        sizes = []
        for item in items:
            text = str(item).strip()
            if not text:
                continue
            try:
                size = float(text)
            except ValueError:
                raise ValueError(f"'{text}' is not a number of pixels") from None
            if size != int(size) or not 1 <= size <= 4096:
                raise ValueError(f"{text} must be a whole number of pixels between 1 and 4096")
            sizes.append(int(size))
        return ", ".join(str(x) for x in sizes)

    def anchor_list(self) -> list[int]:
        """The anchor sizes as numbers (empty: the model's defaults)."""
        return [int(x) for x in self.anchor_sizes.split(",") if x.strip()]


class SegmentationSettings(BaseModel):
    """How a segmentation model sees its images and what its loss counts (ml/tasks/segmentation.py)."""

    model_config = ConfigDict(extra="forbid")
    mode: Literal["resize", "tiles"] = Field(
        "resize", title="Image geometry",
        description="resize: every image is shrunk whole to the input size (letterboxed, proportions kept), "
                    "like the other tasks: fast, right for small images and large regions. tiles: the network "
                    "learns on random crops of 'Tile size' pixels at full resolution (times 'Scale') and "
                    "predicts with a sliding window of overlapping tiles stitched together, so thin or small "
                    "structures of large images (4000 px photos, slides, aerial images) keep their pixels "
                    "and memory stays bounded.")
    crop_size: int = Field(
        256, ge=32, le=2048, multiple_of=32, title="Tile size (pixels)", json_schema_extra={"when": {"mode": "tiles"}},
        description="With tiles: the side of the square crops the network trains on and of the tiles it "
                    "predicts (a multiple of 32). Larger tiles see more context but cost more memory.")
    scale: float = Field(
        1.0, gt=0.05, le=1.0, title="Scale", json_schema_extra={"when": {"mode": "tiles"}},
        description="With tiles: images are first scaled by this factor (1 = full resolution; 0.5 = half "
                    "the width and height, four times fewer pixels). Predictions are returned at the "
                    "original resolution either way.")
    overlap: float = Field(
        0.25, ge=0.0, le=0.75, title="Tile overlap", json_schema_extra={"when": {"mode": "tiles"}},
        description="With tiles: the fraction of a tile shared with its neighbour when predicting. Overlap "
                    "hides the seams where the network sees only half an object; 0.25 is a good balance, "
                    "0.5 is smoother and about twice as slow.")
    blend: Literal["gaussian", "linear"] = Field(
        "gaussian", title="Tile blending", json_schema_extra={"when": {"mode": "tiles"}},
        description="With tiles: how overlapping tiles are averaged. gaussian: a tile's centre counts more "
                    "than its edges (where it lacks context); linear: weight falls linearly towards the "
                    "edges.")
    tile_batch: int = Field(
        4, ge=1, le=256, title="Tiles per batch", json_schema_extra={"when": {"mode": "tiles"}},
        description="With tiles: how many tiles go through the network at once when predicting. More is "
                    "faster on a GPU but needs more memory.")
    ce_weight: float = Field(
        1.0, ge=0.0, le=10.0, title="Cross-entropy weight",
        description="How much the per-pixel cross-entropy counts in the loss: it makes every pixel's class "
                    "right and dominates for large regions.")
    dice_weight: float = Field(
        1.0, ge=0.0, le=10.0, title="Dice weight",
        description="How much the Dice loss counts: it measures the overlap of each class's region as a "
                    "whole, so small classes (a few pixels) count as much as large ones. 0 turns it off.")
    aux_weight: float = Field(
        0.4, ge=0.0, le=10.0, title="Deep supervision weight",
        description="For networks with coarse auxiliary outputs (the Tiny U-Net): how much their "
                    "cross-entropy against the mask at 1/16 and 1/8 of the input counts. It makes the deep "
                    "layers learn what each object is, not only where its edges are; without it a "
                    "from-scratch U-Net can find every object yet give them all one class. 0 turns it off.")
    class_weights: Literal["none", "balanced"] = Field(
        "none", title="Class weights",
        description="none: every pixel counts the same in the cross-entropy. balanced: pixels of rare "
                    "classes count more (weights from the training masks' pixel counts, capped at 10x), "
                    "which helps small structures at the cost of some false positives.")

    @model_validator(mode="after")
    def _some_loss(self) -> SegmentationSettings:
        if self.ce_weight <= 0 and self.dice_weight <= 0:
            raise ValueError("ce_weight and dice_weight cannot both be 0: nothing would be learnt")
        return self


class AnomalySettings(BaseModel):
    """Anomaly detection: what the normal-only models (anomalib's) and the supervised one need."""

    model_config = ConfigDict(extra="forbid")
    coreset_ratio: float = Field(
        0.1, gt=0, le=1, title="Coreset ratio (PatchCore)",
        description="PatchCore keeps this share of the training images' patch features as its memory of "
                    "'normal' (chosen to cover them all evenly). Smaller: a smaller model and faster "
                    "predictions, a little less accurate; 0.1 is the paper's value, 0.01 suits thousands of "
                    "images. The exported model grows with it (4 bytes per number).",
        json_schema_extra={"models": ["patchcore"]})
    neighbours: int = Field(
        9, ge=1, le=50, title="Neighbours (PatchCore)",
        description="How many neighbours in the memory PatchCore looks at to weigh an image's score (the "
                    "paper's re-weighting). 1: the score is simply the largest patch distance.",
        json_schema_extra={"models": ["patchcore"]})
    padim_features: int = Field(
        100, ge=1, le=2000, title="Features kept (PaDiM)",
        description="PaDiM keeps this many of its backbone's feature channels, chosen at random once "
                    "(the paper's reduction): fewer make a smaller model and faster predictions. Capped at "
                    "the channels the backbone has.",
        json_schema_extra={"models": ["padim"]})
    pos_weight: str = Field(
        "auto", title="Defect weight (supervised)",
        description="With a supervised model: how much a defective training image counts against a good "
                    "one in the loss. auto: the ratio of good to defective images, so the rare defects "
                    "count as much as the many good images together; or a number, e.g. 5.",
        json_schema_extra={"models": ["supervised"]})
    cam_layer: str = Field(
        "last", title="Heat-map layer (supervised)",
        description="Where a supervised model's heat map comes from: 'last' (the last feature layer, "
                    "coarse but tied to the decision, a class-activation map) or 'previous' (the stage "
                    "before it: twice as sharp, less sure).",
        json_schema_extra={"models": ["supervised"]})

    @field_validator("pos_weight", mode="before")
    @classmethod
    def _pos_weight(cls, v: Any) -> str:
        text = "auto" if v is None else str(v).strip().lower()
        if text in ("", "auto"):
            return "auto"
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"'{v}' must be auto or a positive number") from None
        if not 0 < value <= 1000:
            raise ValueError(f"{v} must be a positive number up to 1000 (or auto)")
        return text

    @field_validator("cam_layer", mode="before")
    @classmethod
    def _cam_layer(cls, v: Any) -> str:
        text = str(v or "last").strip().lower()
        if text not in ("last", "previous"):
            raise ValueError(f"'{v}' must be last or previous")
        return text


#: task id -> its settings model (tasks without one have none)
TASK_SETTINGS: dict[str, type[BaseModel]] = {
    "regression": RegressionSettings,
    "object_detection": DetectionSettings,
    "semantic_segmentation": SegmentationSettings,
    "anomaly_detection": AnomalySettings,
}


def settings_for(task: str, config: Any) -> BaseModel:
    """The task's settings of ``config`` (validated; defaults where unset)."""
    model = TASK_SETTINGS.get(task)
    if model is None:
        raise KeyError(f"task {task} has no task settings")
    return model.model_validate(dict(getattr(config, "task_settings", None) or {}))


def task_setting_names(task: str) -> list[str]:
    model = TASK_SETTINGS.get(task)
    return list(model.model_fields) if model is not None else []


__all__ = ["AnomalySettings", "DetectionSettings", "RegressionSettings", "SegmentationSettings", "TASK_SETTINGS", "settings_for", "task_setting_names"]
