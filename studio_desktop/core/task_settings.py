"""Settings a task adds to the common training settings (DESIGN §10), each with its help text.

The common settings (:class:`~.train_config.TrainConfig`) serve every task; what only makes sense
for one task (the loss of a regression, later the NMS threshold of a detector) is declared here,
one pydantic model per task, and stored in the config's ``task_settings``. The Training form
and ``studio train --list-settings`` build themselves from these models; ``--set loss=huber``
reaches them like any other setting.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


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


#: task id -> its settings model (tasks without one have none)
TASK_SETTINGS: dict[str, type[BaseModel]] = {
    "regression": RegressionSettings,
    "object_detection": DetectionSettings,
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


__all__ = ["DetectionSettings", "RegressionSettings", "TASK_SETTINGS", "settings_for", "task_setting_names"]
