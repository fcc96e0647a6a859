"""Augmentations a training can apply: the table the Training page's editor is built from
(name, help, parameters with their ranges), each task's defaults and the notes that say why some
are off by default for a task. Pure data: the worker turns the steps into torchvision v2
transforms (``ml/augment.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..tasks import get_task


@dataclass(frozen=True)
class AugmentationInfo:
    """One augmentation the user can put in the list: what it does, its parameters.

    ``params`` maps a parameter name to ``(default, minimum, maximum, help)``.
    """

    name: str
    display: str
    help: str
    params: dict[str, tuple[float, float, float, str]] = field(default_factory=dict)


def _aug(name, display, help_, **params) -> tuple[str, AugmentationInfo]:
    return name, AugmentationInfo(name, display, help_, params)


AUGMENTATIONS: dict[str, AugmentationInfo] = dict([
    _aug("flip_horizontal", "Horizontal flip",
         "Mirrors the image left-right at random. Use it when a mirrored object is still the same class "
         "(most photos); avoid it for text or left/right-specific parts.",
         p=(0.5, 0.0, 1.0, "probability of flipping each image")),
    _aug("flip_vertical", "Vertical flip",
         "Turns the image upside down at random. Good for microscopy and aerial images, where 'up' "
         "has no meaning; bad for everyday photos.",
         p=(0.5, 0.0, 1.0, "probability of flipping each image")),
    _aug("rotation", "Rotation",
         "Rotates the image by a random angle, so the model learns objects at any orientation.",
         degrees=(15.0, 0.0, 180.0, "largest rotation in degrees, either direction")),
    _aug("resized_crop", "Random crop and zoom",
         "Cuts a random part of the image and scales it to the input size: the model sees objects "
         "at different sizes and positions. One of the most useful augmentations.",
         scale_min=(0.6, 0.05, 1.0, "smallest crop, as a fraction of the image area"),
         ratio=(1.33, 1.0, 3.0, "largest aspect-ratio change of the crop")),
    _aug("affine", "Shift and scale",
         "Moves and scales the image a little, keeping all of it in view (unlike the crop).",
         translate=(0.1, 0.0, 0.5, "largest shift as a fraction of the image size"),
         scale=(0.1, 0.0, 0.5, "largest zoom in or out, as a fraction")),
    _aug("perspective", "Perspective",
         "Tilts the image as if seen from a slightly different viewpoint.",
         distortion=(0.2, 0.0, 1.0, "strength of the tilt"),
         p=(0.3, 0.0, 1.0, "probability of applying it")),
    _aug("color_jitter", "Colour jitter",
         "Changes brightness, contrast, saturation and hue at random, so the model does not rely "
         "on the exact lighting or camera of the training images.",
         brightness=(0.2, 0.0, 1.0, "largest brightness change (fraction)"),
         contrast=(0.2, 0.0, 1.0, "largest contrast change (fraction)"),
         saturation=(0.2, 0.0, 1.0, "largest saturation change (fraction)"),
         hue=(0.0, 0.0, 0.5, "largest hue shift (fraction of the colour wheel)")),
    _aug("blur", "Blur",
         "Blurs the image a little at random, as out-of-focus or low-resolution cameras do.",
         sigma=(1.0, 0.1, 10.0, "largest blur strength (Gaussian sigma in pixels)"),
         p=(0.2, 0.0, 1.0, "probability of applying it")),
    _aug("grayscale", "Grayscale",
         "Removes colour from some images, so the model learns shapes and textures rather than colour.",
         p=(0.1, 0.0, 1.0, "probability of converting each image")),
    _aug("random_erasing", "Random erasing",
         "Blanks out a random rectangle, so the model learns to use the whole object, not one detail.",
         p=(0.25, 0.0, 1.0, "probability of erasing a patch"),
         scale_max=(0.2, 0.02, 0.5, "largest patch, as a fraction of the image area")),
])


class AugmentationStep(BaseModel):
    """One entry of the ordered augmentation list of a config."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(title="Augmentation", description="Which augmentation (see the list of augmentations).")
    enabled: bool = Field(True, title="On", description="Untick to keep the step in the list but skip it.")
    params: dict[str, float] = Field(default_factory=dict, title="Parameters",
                                     description="The augmentation's parameters; missing ones use defaults.")

    @model_validator(mode="after")
    def _known(self) -> AugmentationStep:
        info = AUGMENTATIONS.get(self.name)
        if info is None:
            raise ValueError(f"unknown augmentation '{self.name}'; choose one of: {', '.join(AUGMENTATIONS)}")
        for key, value in self.params.items():
            if key not in info.params:
                raise ValueError(f"augmentation '{self.name}' has no parameter '{key}' "
                                 f"(it has: {', '.join(info.params) or 'none'})")
            _, lo, hi, _ = info.params[key]
            if not lo <= value <= hi:
                raise ValueError(f"augmentation '{self.name}' parameter '{key}' must be between {lo} and {hi}")
        return self

    def value(self, key: str) -> float:
        """The parameter's value, or its default."""
        return float(self.params.get(key, AUGMENTATIONS[self.name].params[key][0]))


_DEFAULT_AUGS: dict[str, list[str]] = {
    # mild, safe for most photos; random crops are left to the user (they can cut the object off)
    "classification": ["flip_horizontal", "rotation", "color_jitter"],
    "object_detection": ["flip_horizontal", "color_jitter"],
    "semantic_segmentation": ["flip_horizontal", "resized_crop", "color_jitter"],
    "instance_segmentation": ["flip_horizontal", "color_jitter"],
    # light: a mirrored good part is still good; colour and crops could hide or fake a defect
    # (fitted models such as PatchCore use none: ml/tasks/anomaly.py)
    "anomaly_detection": ["flip_horizontal"],
    # what changes the answer is off: colour jitter alters a colour or brightness target, flips
    # and rotations a direction; a horizontal flip keeps sizes, counts and amounts
    "regression": ["flip_horizontal"],
    "oriented_object_detection": ["flip_horizontal", "flip_vertical", "color_jitter"],
}


#: Per task: why an augmentation is on or off by default, shown beside it by the augmentation
#: editor (the "" entry is the task's general note). Data, not a branch in the editor: a task whose
#: answer an augmentation can change says so here, next to its default list.
AUGMENTATION_NOTES: dict[str, dict[str, str]] = {
    "regression": {
        "": "Augmentations that could change the answer are off by default: a regression target may measure "
            "colour, brightness, size or a direction, and an augmentation that alters it makes the image "
            "disagree with its label. Add one only when no target depends on what it changes.",
        "color_jitter": "Off by default for regression: it changes brightness, contrast and colour, so a target "
                        "that measures them (a brightness, a colour, a ripeness, a fill level seen by its "
                        "shade) would no longer match the image.",
        "grayscale": "Off by default for regression: a target that depends on colour cannot be read from a "
                     "grey image.",
        "flip_horizontal": "On by default for regression: mirroring keeps sizes, counts and amounts. Switch it "
                           "off when a target is a direction or a left/right position (an angle, a heading).",
        "flip_vertical": "Off by default for regression: turning the image upside down changes a target that "
                         "is a direction, an angle or a height in the picture.",
        "rotation": "Off by default for regression: rotating changes a target that is an angle or a direction, "
                    "and cuts off corners that may hold what is measured.",
        "resized_crop": "Off by default for regression: zooming changes the apparent size, so a size target "
                        "(a radius, a length, an area in pixels) would no longer match; a crop can also cut "
                        "off what is counted.",
        "affine": "Off by default for regression: scaling changes the apparent size of what a size target "
                  "measures.",
        "perspective": "Off by default for regression: tilting changes lengths and angles in the picture.",
        "random_erasing": "Off by default for regression: the erased patch can hide what is counted or measured.",
    },
}


def augmentation_note(task: str, name: str = "") -> str:
    """Why augmentation ``name`` is on or off by default for ``task`` ("" the task's general note)."""
    return AUGMENTATION_NOTES.get(task, {}).get(name, "")


def default_augmentations(task: str) -> list[AugmentationStep]:
    """The augmentation list a new experiment of ``task`` starts with."""
    get_task(task)
    return [AugmentationStep(name=n) for n in _DEFAULT_AUGS.get(task, [])]


__all__ = ["AUGMENTATIONS", "AUGMENTATION_NOTES", "AugmentationInfo", "AugmentationStep", "augmentation_note",
           "default_augmentations"]
