"""Training settings: the config every experiment stores (the model catalog is in
``model_catalog.py`` and the augmentations in ``augmentations.py``, both re-exported here).

Pure data (no torch): the Training page builds its forms from these tables, and the worker
turns them into torchvision / Lightning objects. Every setting carries a ``title`` and a
teaching ``description`` (``TrainConfig.field_help()``), so a student can hover any knob and
learn what it does. Validation messages name the setting (see :func:`validate_config`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..tasks import TASKS, get_task
from .augmentations import (
    AUGMENTATION_NOTES,
    AUGMENTATIONS,
    AugmentationInfo,
    AugmentationStep,
    augmentation_note,
    default_augmentations,
)
from .errors import InvalidInput
from .model_catalog import MODEL_CATALOG, ModelInfo, model_info

# --------------------------------------------------------------------------- the config

_DEVICE = re.compile(r"^(auto|cpu|cuda|cuda:\d+|mps)$")


def _f(default, title: str, description: str, *, tasks: tuple[str, ...] = (), **kw):
    """A setting with its help; ``tasks``: the only tasks it does anything for (empty: every task)."""
    if tasks:
        kw["json_schema_extra"] = {"tasks": list(tasks)}
    return Field(default, title=title, description=description, **kw)


class TrainConfig(BaseModel):
    """Everything that decides how a model is trained. Stored in experiment.json."""

    model_config = ConfigDict(extra="forbid")

    split_id: str | None = _f(None, "Split", "Which train/validation/test split to train on. Empty: the "
                              "newest split of the project.")
    model: str = _f("resnet18", "Model", "The network architecture. Bigger models can learn harder problems "
                    "but train slower and need more images. New classification experiments start with ResNet-18 when "
                    "its ImageNet weights are on this computer, otherwise with the Tiny CNN: from scratch, a "
                    "big network needs far more images and time to beat it.")
    pretrained: bool = _f(True, "Start from pretrained weights", "Start from weights learned on ImageNet "
                          "(1.2 million photos): training is much faster and works with far fewer images. "
                          "Get them once with Weights… (download or import). Without them the model learns "
                          "from scratch.")
    weights_file: str | None = _f(None, "Weights file", "A .pth / .pt / .safetensors file to start from "
                                  "instead of the model's usual pretrained weights (for example your own). "
                                  "Empty: the weights of the Weights dialog.")
    finetune: Literal["full", "linear_probe", "partial"] = _f(
        "full", "Fine-tuning", "How much of a pretrained network is trained. full (default, learning rate "
        "1e-4): every layer, with small steps; best from a few dozen images per class. linear_probe "
        "(learning rate 1e-3): the pretrained layers stay frozen and only the last layer learns: the "
        "safest with very few images (under ~10 per class) and the fastest on a CPU. partial (3e-4): only "
        "the last stages learn. Choosing a mode sets its learning rate. From scratch every layer is trained.")
    unfreeze_stages: int = _f(1, "Stages to train", "With partial fine-tuning: how many of the last stages "
                              "of the backbone are trained; the earlier ones stay frozen.", ge=0, le=10)
    epochs: int = _f(20, "Epochs", "How many times the model sees every training image.", ge=1, le=10000)
    batch_size: int = _f(32, "Batch size", "Images per training step. Larger batches are faster per image "
                         "but need more memory; lower it if you run out of memory.", ge=1, le=4096)
    input_size: int = _f(224, "Input size (pixels)", "Images are resized to this many pixels square. "
                         "Smaller is much faster; larger keeps small details.", ge=16, le=2048)
    optimizer: Literal["sgd", "adam", "adamw"] = _f(
        "adamw", "Optimizer", "How the weights are updated. AdamW is a robust default; SGD with momentum "
        "can reach slightly better results with a well-tuned learning rate.")
    lr: float = _f(1e-3, "Learning rate", "Size of each update step. Too high: the loss jumps or becomes "
                   "NaN. Too low: training crawls. Typical: 1e-3 for Adam/AdamW, 1e-2 for SGD.", gt=0, le=10)
    weight_decay: float = _f(1e-4, "Weight decay", "Pulls weights towards zero to reduce over-fitting.",
                             ge=0, le=1)
    momentum: float = _f(0.9, "Momentum (SGD)", "How much of the previous update SGD keeps.", ge=0, lt=1)
    scheduler: Literal["none", "step", "cosine", "plateau", "onecycle"] = _f(
        "cosine", "Learning-rate schedule", "How the learning rate changes during training. cosine: smoothly "
        "down to zero; step: divided by 10 every third of training; plateau: lowered when validation stops "
        "improving; onecycle: up then down.")
    warmup_epochs: float = _f(0.0, "Warm-up epochs", "Start with a tiny learning rate and raise it linearly "
                              "over this many epochs; helps stability with large learning rates.", ge=0, le=100)
    early_stopping: bool = _f(False, "Early stopping", "Stop when the validation metric has not improved "
                              "for 'patience' epochs, and keep the best model.")
    early_stopping_metric: str = _f("val_loss", "Early-stopping metric", "The validation metric watched by "
                                    "early stopping, e.g. val_loss or val_accuracy.")
    patience: int = _f(5, "Patience (epochs)", "Epochs without improvement before early stopping stops.",
                       ge=1, le=1000)
    grad_clip: float = _f(0.0, "Gradient clipping", "Caps the size of the gradients (0 = off); prevents "
                          "sudden jumps of the loss.", ge=0)
    label_smoothing: float = _f(0.0, "Label smoothing", "Makes the model less over-confident by aiming at "
                                "0.9 instead of 1.0 for the right class (0.1 = 10 %).", ge=0, lt=1,
                                tasks=("classification",))
    class_weights: bool = _f(False, "Balance classes", "Weight the loss by inverse class frequency, so rare "
                             "classes count as much as frequent ones.", tasks=("classification",))
    mixed_precision: bool = _f(True, "Mixed precision", "Compute in 16-bit where the GPU supports it: faster "
                               "and less memory. Ignored on CPU.")
    seed: int = _f(0, "Seed", "Random seed: the same seed, data and settings give the same run.", ge=0)
    device: str = _f("auto", "Device", "Where to train: auto (a GPU if there is one), cpu, cuda or cuda:N.")
    num_workers: int = _f(0, "Data-loading processes", "Processes that decode images in parallel with "
                          "training. 0 loads in the training process (safest); 2-8 is faster on big "
                          "machines.", ge=0, le=64)
    augmentations: list[AugmentationStep] = _f([], "Augmentations", "Random changes applied to training "
                                               "images, in order, so the model generalises beyond them.")
    task_settings: dict[str, Any] = _f({}, "Task settings", "Settings only this task has (see "
                                       "core/task_settings.py): e.g. a regression's loss and log-transformed "
                                       "targets. Set them like the others: --set loss=huber.")

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        v = v.strip().lower()
        if not _DEVICE.match(v):
            raise ValueError("must be auto, cpu, cuda or cuda:N")
        return v

    @field_validator("early_stopping_metric")
    @classmethod
    def _es_metric(cls, v: str) -> str:
        if not re.match(r"^(val|train)_[a-z0-9_]+$", v):
            raise ValueError("must name a logged metric such as val_loss or val_accuracy")
        return v

    @classmethod
    def field_help(cls) -> dict[str, str]:
        """Setting name -> teaching help text (tooltips, ``studio train --help``)."""
        return {name: f.description or "" for name, f in cls.model_fields.items()}

    @classmethod
    def setting_tasks(cls, name: str) -> tuple[str, ...]:
        """The only tasks a common setting does anything for (empty: every task)."""
        extra = cls.model_fields[name].json_schema_extra
        return tuple(extra.get("tasks", ())) if isinstance(extra, dict) else ()

    @classmethod
    def applies_to(cls, name: str, task: str) -> bool:
        """Whether the setting does anything for ``task`` (the form hides the others)."""
        tasks = cls.setting_tasks(name)
        return not tasks or task in tasks

    @classmethod
    def field_titles(cls) -> dict[str, str]:
        return {name: f.title or name for name, f in cls.model_fields.items()}


def _message(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = [str(p) for p in err.get("loc", ())]
    where = loc[0] if loc else "config"
    if where == "augmentations" and len(loc) > 1:
        where = f"augmentations[{loc[1]}]"
    msg = str(err.get("msg", "")).removeprefix("Value error, ")
    if err.get("type") == "extra_forbidden":
        msg = "is not a training setting"
    return f"invalid training setting '{where}': {msg}"


def validate_config(data: Any, task: str | None = None) -> TrainConfig:
    """Validate a config dict (or model); errors are :class:`InvalidInput` naming the setting.

    With ``task`` the model must also be in that task's catalog.
    """
    try:
        cfg = data if isinstance(data, TrainConfig) else TrainConfig.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(_message(exc)) from None
    if task is not None:
        model_info(task, cfg.model)
        _validate_task_settings(cfg, task)
    return cfg


def _validate_task_settings(cfg: TrainConfig, task: str) -> None:
    from .task_settings import TASK_SETTINGS

    model = TASK_SETTINGS.get(task)
    if model is None:
        if cfg.task_settings:
            raise InvalidInput(f"invalid training setting '{next(iter(cfg.task_settings))}': {task} has no such "
                               "setting")
        return
    try:
        model.model_validate(cfg.task_settings)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ())) or "task_settings"
        msg = "is not a setting of this task" if err.get("type") == "extra_forbidden" else \
            str(err.get("msg", "")).removeprefix("Value error, ")
        raise InvalidInput(f"invalid training setting '{where}': {msg}") from None


def _parse_value(text: str) -> Any:
    import json

    low = text.strip().lower()
    if low in ("none", "null", ""):
        return None
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    try:
        return json.loads(text)
    except ValueError:
        return text


def apply_settings(config: TrainConfig, pairs: list[str], task: str | None = None) -> TrainConfig:
    """``["lr=0.01", "epochs=3"]`` (the CLI's ``--set``) applied to ``config``, validated."""
    data = config.model_dump()
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidInput(f"--set expects key=value, got '{pair}'")
        if key not in TrainConfig.model_fields:
            from .task_settings import task_setting_names

            if task is not None and key in task_setting_names(task):
                data["task_settings"] = {**(data.get("task_settings") or {}), key: _parse_value(value)}
                continue
            known = [*TrainConfig.model_fields, *(task_setting_names(task) if task else [])]
            raise InvalidInput(f"invalid training setting '{key}': is not a training setting; "
                               f"known: {', '.join(known)}")
        data[key] = _parse_text(value) if _is_text(TrainConfig.model_fields[key].annotation) else _parse_value(value)
    return validate_config(data, task)


def _is_text(annotation) -> bool:
    """Whether a setting holds text (``str`` or ``str | None``): its value is kept as typed."""
    import typing

    args = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    return args == [str]


def _parse_text(text: str) -> str | None:
    """A text setting as typed ("66598e14" stays a split id, not a number); empty or none: unset."""
    return None if text.strip().lower() in ("none", "null", "") else text.strip()


#: Learning rate of each fine-tuning mode when starting from pretrained weights (AdamW). The
#: pretrained layers need small steps (large ones wreck what they learned on ImageNet); a new last
#: layer trained alone on frozen features can take large ones. Full fine-tuning at 1e-4 is the
#: usual choice and works from a few dozen images per class; a linear probe is the safer
#: choice with very few images (under ~10 per class) and the fastest on a CPU.
PRETRAINED_LR: dict[str, float] = {"full": 1e-4, "partial": 3e-4, "linear_probe": 1e-3}


def pretrained_settings(model: str, finetune: str = "full") -> dict[str, Any]:
    """Settings that follow from starting ``model`` from its pretrained weights: the input size
    the weights were trained at and the fine-tuning mode's learning rate."""
    from .weights_catalog import default_weights

    w = default_weights(model)
    out: dict[str, Any] = {"pretrained": True, "finetune": finetune, "lr": PRETRAINED_LR[finetune]}
    if w is not None:
        out["input_size"] = w.crop_size
    return out


_TASK_DEFAULTS: dict[str, dict[str, Any]] = {
    # With ImageNet weights on this computer: ResNet-18 fine-tuned at the 224 px its weights were
    # trained at (pretrained_settings). Without them see _FROM_SCRATCH: a ResNet-18 from scratch
    # needs thousands of images and minutes per epoch.
    "classification": dict(model="resnet18", epochs=20, batch_size=32, early_stopping_metric="val_accuracy",
                           **pretrained_settings("resnet18")),
    "regression": dict(model="resnet18", epochs=20, batch_size=32, early_stopping_metric="val_mae",
                       **pretrained_settings("resnet18")),
    # with COCO weights on this computer: the 320 px MobileNet Faster R-CNN, fine-tuned (else _FROM_SCRATCH)
    "object_detection": dict(model="fasterrcnn_mobilenet_v3_large_320_fpn", input_size=320, batch_size=4,
                             epochs=20, lr=1e-4, pretrained=True, early_stopping_metric="val_map"),
    # with ResNet-18's ImageNet weights on this computer: a U-Net on that encoder (else _FROM_SCRATCH)
    "semantic_segmentation": dict(model="unet_resnet18", input_size=256, batch_size=8, epochs=30, lr=3e-4,
                                  pretrained=True, early_stopping_metric="val_miou"),
    "instance_segmentation": dict(model="maskrcnn_resnet50_fpn", input_size=512, batch_size=2, epochs=20,
                                  lr=1e-4, early_stopping_metric="val_map_mask"),
    # with ResNet-18's ImageNet weights on this computer: PatchCore at anomalib's 256 px (else _FROM_SCRATCH)
    "anomaly_detection": dict(model="patchcore_resnet18", input_size=256, batch_size=16, epochs=1, pretrained=True,
                              early_stopping_metric="val_image_auroc", scheduler="none"),
    "oriented_object_detection": dict(model="rotated_fasterrcnn_mobilenet_v3_large_fpn", input_size=512,
                                      batch_size=4, epochs=30, lr=1e-4, early_stopping_metric="val_map_50"),
}


#: Classification defaults when no pretrained weights are on this computer (offline, from scratch).
#: Measured with benchmarks/classification_accuracy.py on the default shapes sample (300 images,
#: 240 train, 30 test): seeds 0-4 gave 150 of 150 test images right, 37-49 s of `studio train`
#: each on a 2-core CPU. Small batches give enough update steps on small datasets; the higher
#: learning rate suits a small network with batch norm.
_FROM_SCRATCH: dict[str, dict[str, Any]] = {
    "classification": dict(model="tiny_cnn", input_size=64, epochs=80, batch_size=16, lr=3e-3,
                           early_stopping_metric="val_accuracy"),
    # benchmarks/regression_accuracy.py on the default 300-image disc sample (seed 0): test MAE
    # 0.14x the training-mean baseline's for both targets, R2 0.976 (radius) and 0.974 (brightness)
    "regression": dict(model="tiny_cnn", input_size=64, epochs=60, batch_size=16, lr=3e-3,
                       early_stopping_metric="val_mae"),
    # benchmarks/detection_accuracy.py on the default 200-image shapes sample (images 64-128 px, so
    # 96 px loses little); the warm-up keeps the from-scratch detector's first steps stable
    "object_detection": dict(model="tiny_fcos", input_size=96, epochs=40, batch_size=8, lr=3e-3,
                             warmup_epochs=1.0, pretrained=False, early_stopping_metric="val_map"),
    # benchmarks/segmentation_accuracy.py on the default 200-image shapes sample (64-128 px images,
    # 160 to train on), seeds 0-2: test mIoU 0.954 / 0.952 / 0.936 (0.948 / 0.954 / 0.933 at original
    # resolution), best epochs 46 / 48 / 34, 306-337 s of training on a 2-core CPU; small batches give
    # many update steps; the warm-up steadies the start
    "semantic_segmentation": dict(model="tiny_unet", input_size=96, epochs=60, batch_size=4, lr=5e-3,
                                  warmup_epochs=1.0, pretrained=False, early_stopping_metric="val_miou"),
    # benchmarks/anomaly_models.py without pretrained weights, anomaly sample, 128 px: PatchCore on an
    # untrained ResNet-18 test image AUROC 1.0 (pixel 0.974), PaDiM 1.0 (0.984, fit 1.3x PatchCore's and it
    # needs aligned parts); at 64 px after 2 epochs STFPM test 0.42, DRAEM validation 0.62 (~2 min an epoch)
    "anomaly_detection": dict(model="patchcore_resnet18", input_size=128, batch_size=16, epochs=1,
                              pretrained=False, early_stopping_metric="val_image_auroc", scheduler="none"),
}


def suggested_lr(task: str, model: str, pretrained: bool, finetune: str = "full") -> float:
    """The learning rate that goes with a model, whether it starts from pretrained weights, and
    the fine-tuning mode (what the Training form proposes when one of them changes)."""
    if pretrained:
        return PRETRAINED_LR.get(finetune, PRETRAINED_LR["full"])
    scratch = _FROM_SCRATCH.get(task)
    if scratch and scratch.get("model") == model:
        return float(scratch["lr"])
    return float(TrainConfig.model_fields["lr"].default)


def _torch_hub_checkpoints() -> Path:
    """torch.hub's weights folder (see :func:`studio_desktop.core.weights.torch_hub_checkpoints`)."""
    from .weights import torch_hub_checkpoints

    return torch_hub_checkpoints()


def imagenet_weights_cached(model: str) -> bool:
    """Whether pretrained weights of ``model`` are on this computer (the weights store's quick
    check: the file is there with the right size), i.e. whether "Start from pretrained weights"
    can work offline."""
    from .weights import weights_ready

    return weights_ready(model)


def defaults_for(task: str) -> TrainConfig:
    """The settings a new experiment of ``task`` starts with (validated).

    Where pretrained weights make the difference (classification) and they are not on this
    computer, the defaults are the from-scratch ones: a small network that learns in a minute
    instead of a large one that would need far more images and time without them."""
    get_task(task)
    data = dict(_TASK_DEFAULTS.get(task, {}))
    if task in _FROM_SCRATCH and not imagenet_weights_cached(data.get("model", "resnet18")):
        data = dict(_FROM_SCRATCH[task])
    data["augmentations"] = default_augmentations(task)
    return validate_config(data, task)


__all__ = ["AUGMENTATIONS", "AUGMENTATION_NOTES", "AugmentationInfo", "augmentation_note", "AugmentationStep", "MODEL_CATALOG", "ModelInfo",
           "PRETRAINED_LR", "TrainConfig", "apply_settings", "default_augmentations", "defaults_for",
           "imagenet_weights_cached", "model_info", "pretrained_settings", "suggested_lr",
           "validate_config", "TASKS"]
