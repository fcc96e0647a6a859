"""How an image becomes the network's input, once, for evaluation, prediction and every export.

Training's evaluation pipeline (``augment.build_transforms([], size, train=False)``) is the
reference: evaluation and prediction run exactly it, so the numbers of the Evaluation page equal
the training summary's on the same checkpoint. :class:`Preprocessing` describes it in words and
numbers that travel inside exported files (ONNX ``metadata_props``...), so that a stranger holding
only the file can reproduce the input with Pillow and numpy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..core.train_config import TrainConfig
from .augment import BORDER_FILL, IMAGENET_MEAN, IMAGENET_STD, build_transforms
from .data import Detail, decode, shrink


@dataclass(frozen=True)
class Preprocessing:
    """The input a model expects: what :meth:`tensor` does, stated for outsiders."""

    input_size: int
    #: letterbox: scale so the long side is input_size (bilinear, antialiased), keep the aspect
    #: ratio, centre on an input_size square filled with ``fill``
    resize: str = "letterbox"
    fill: tuple[int, int, int] = BORDER_FILL
    colour_order: str = "RGB"
    #: pixel values are divided by 255, then (x - mean) / std per channel
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    layout: str = "NCHW"
    dtype: str = "float32"

    @classmethod
    def from_config(cls, config: TrainConfig) -> Preprocessing:
        return cls(input_size=int(config.input_size))

    def as_dict(self) -> dict:
        d = asdict(self)
        d["fill"], d["mean"], d["std"] = list(self.fill), list(self.mean), list(self.std)
        return d

    def describe(self) -> str:
        """One sentence for a usage snippet, a report or a tooltip."""
        return (f"RGB image, long side scaled to {self.input_size} px (aspect ratio kept), centred on a "
                f"{self.input_size}x{self.input_size} square filled with RGB{tuple(self.fill)}, divided by 255, "
                f"minus mean {list(self.mean)}, divided by std {list(self.std)}, as {self.layout} {self.dtype}")

    # ------------------------------------------------------------------ torch side
    def transform(self):
        """The evaluation pipeline (uint8 CHW image -> normalised float CHW)."""
        return build_transforms([], self.input_size, train=False)

    def detail(self) -> Detail:
        return Detail(self.input_size)

    def tensor(self, path: str | Path, transform=None, *, oriented: bool = False) -> torch.Tensor:
        """One image file as the network's input (C, S, S); unreadable files raise InvalidInput.

        ``oriented``: apply the file's EXIF orientation first, as the importer does for dataset
        images (a phone photo of a new image is otherwise seen lying on its side)."""
        from torchvision import tv_tensors

        detail = self.detail()
        image = read_oriented(Path(path), detail) if oriented else decode(Path(path), detail)
        return (transform or self.transform())(tv_tensors.Image(shrink(image, detail)))


def read_oriented(path: Path, detail: Detail) -> torch.Tensor:
    """uint8 RGB CHW of a new image file as the user sees it (EXIF orientation applied)."""
    from PIL import Image, UnidentifiedImageError
    from torchvision.transforms.v2 import functional as TF

    from ..core.errors import InvalidInput
    from ..core.images import ORIENTATION_TAG, open_rgb

    try:
        with Image.open(path) as im:
            orientation = im.getexif().get(ORIENTATION_TAG, 1)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise InvalidInput(f"cannot decode image: {exc}", path=path) from None
    if orientation in (None, 1):
        return decode(path, detail)
    try:
        return TF.pil_to_tensor(open_rgb(path, oriented=True))
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets one message naming it
        raise InvalidInput(f"cannot decode image: {exc}", path=path) from None


__all__ = ["Preprocessing"]
