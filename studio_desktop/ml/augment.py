"""The augmentation list of a config as a torchvision ``transforms.v2`` pipeline.

Samples are ``(tv_tensors.Image, target)`` where a later task's target can hold
``tv_tensors.BoundingBoxes`` / ``Mask``: v2 transforms move those with the image, so every
task shares this one builder. Inputs are uint8 CHW tensors (decoded once, see ``data.py``);
geometry and colour run on the 8-bit image in Pillow (:class:`ToPIL`, fastest; masks and
boxes stay tensors), then the image becomes a float tensor normalised with the ImageNet
statistics the pretrained backbones expect.
"""

from __future__ import annotations

import torch
from PIL import Image as PILImage
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F
from torchvision.transforms.v2._utils import query_size

from ..core.train_config import AugmentationStep

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: letterbox borders (uint8): the ImageNet mean colour, which becomes ~0 after normalisation
BORDER_FILL = tuple(round(255 * m) for m in IMAGENET_MEAN)

#: applied after normalisation (they work on float tensors)
_AFTER_NORMALIZE = {"random_erasing"}


def _fill() -> dict:
    """Fill of the corners uncovered by geometric augmentations: the same colour as the letterbox
    borders for images (so every border the network sees looks alike), background for masks."""
    return {tv_tensors.Image: list(BORDER_FILL), PILImage.Image: BORDER_FILL, "others": 0}


class ToPIL(v2.Transform):
    """The image (uint8 CHW tensor) as a PIL image; masks and boxes stay tensors.

    Pillow's geometric and colour operations on 8-bit images are much faster than torch's on
    small images (rotation of a 224 px image: 0.08 ms against 0.73 ms), so the random
    augmentations run on PIL and the image becomes a tensor only for ``ToDtype``/``Normalize``:
    the whole default pipeline takes a third less time at 64 and at 224 px."""

    def transform(self, inpt, params: dict):
        if isinstance(inpt, tv_tensors.Image) and inpt.dtype == torch.uint8 and inpt.shape[-3] == 3:
            return PILImage.fromarray(inpt.permute(1, 2, 0).contiguous().numpy(), "RGB")
        return inpt


def _step(step: AugmentationStep, size: int) -> v2.Transform:
    v = step.value
    match step.name:
        case "flip_horizontal":
            return v2.RandomHorizontalFlip(p=v("p"))
        case "flip_vertical":
            return v2.RandomVerticalFlip(p=v("p"))
        case "rotation":
            return v2.RandomRotation(degrees=v("degrees"), fill=_fill())
        case "resized_crop":
            r = v("ratio")
            return v2.RandomResizedCrop((size, size), scale=(v("scale_min"), 1.0), ratio=(1 / r, r),
                                        antialias=True)
        case "affine":
            s = v("scale")
            return v2.RandomAffine(degrees=0, translate=(v("translate"), v("translate")), scale=(1 - s, 1 + s), fill=_fill())
        case "perspective":
            return v2.RandomPerspective(distortion_scale=v("distortion"), p=v("p"), fill=_fill())
        case "color_jitter":
            return v2.ColorJitter(brightness=v("brightness"), contrast=v("contrast"),
                                  saturation=v("saturation"), hue=v("hue"))
        case "blur":
            return v2.RandomApply([v2.GaussianBlur(kernel_size=5, sigma=(0.1, v("sigma")))], p=v("p"))
        case "grayscale":
            return v2.RandomGrayscale(p=v("p"))
        case "random_erasing":
            return v2.RandomErasing(p=v("p"), scale=(0.02, v("scale_max")))
    raise ValueError(f"unknown augmentation '{step.name}'")  # validated earlier; cannot happen


class PadToSquare(v2.Transform):
    """Centre an image of at most ``size`` pixels a side on a ``size`` x ``size`` canvas.

    The image is filled with :data:`BORDER_FILL` and masks with 0 (background); boxes shift
    with the image. Black borders (what ``CenterCrop`` pads with) become a strong -2 edge
    after normalisation that a network trained from scratch latches on to: on the shapes
    sample a small CNN scored ~85 % with black borders and ~98 % with mean-colour ones."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size
        self._fill = _fill()

    def make_params(self, flat_inputs: list) -> dict:
        h, w = query_size(flat_inputs)
        left, top = max(0, self.size - w) // 2, max(0, self.size - h) // 2
        return {"padding": [left, top, max(0, self.size - w) - left, max(0, self.size - h) - top]}

    def transform(self, inpt, params: dict):
        if not any(params["padding"]):
            return inpt
        if isinstance(inpt, tv_tensors.Image):
            fill = self._fill[tv_tensors.Image]
        elif isinstance(inpt, PILImage.Image):
            fill = self._fill[PILImage.Image]
        else:
            fill = 0
        return self._call_kernel(F.pad, inpt, padding=params["padding"], fill=fill)


def letterbox(size: int) -> list[v2.Transform]:
    """Fit the whole image in ``size`` x ``size`` keeping its proportions (mean-colour borders).

    Squashing a 4:3 image to a square turns circles into ellipses and squares into rectangles;
    a centre crop may cut the object off. Letterboxing keeps both shape and content."""
    return [v2.Resize(size=None, max_size=size, antialias=True), PadToSquare(size),
            v2.CenterCrop((size, size))]


def zooms(augmentations: list[AugmentationStep]) -> bool:
    """Whether the training pipeline zooms in (an enabled resized crop), so that images must be
    kept with more pixels than the input size (see ``data.Detail``)."""
    return any(s.enabled and s.name == "resized_crop" for s in augmentations)


def build_transforms(augmentations: list[AugmentationStep], size: int, *, train: bool,
                     normalize: bool = True) -> v2.Compose:
    """Training pipeline (the enabled augmentations, in order) or evaluation pipeline (resize only).

    Without a ``resized_crop`` step the image is first letterboxed to ``size`` x ``size`` so the
    other augmentations work on small images; with one, that step produces the final size.
    """
    steps = [s for s in augmentations if s.enabled] if train else []
    before = [s for s in steps if s.name not in _AFTER_NORMALIZE]
    after = [s for s in steps if s.name in _AFTER_NORMALIZE]
    ops: list[v2.Transform] = [ToPIL()]  # the 8-bit steps run on Pillow (see ToPIL)
    if not zooms(before):
        ops += letterbox(size)
    ops += [_step(s, size) for s in before]
    ops += [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]
    if normalize:
        ops.append(v2.Normalize(IMAGENET_MEAN, IMAGENET_STD))
    ops += [_step(s, size) for s in after]
    return v2.Compose(ops)


def denormalize(image: torch.Tensor) -> torch.Tensor:
    """Back from normalised float to 0..1 (for previews)."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=image.dtype).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=image.dtype).view(3, 1, 1)
    return (image * std + mean).clamp(0, 1)
