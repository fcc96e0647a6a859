"""Which pretrained weights each catalog model can start from: pure data, no torch.

Built like torchvision's own weights enums (``torchvision/models/_api.py``): every entry carries
where the file comes from, how to recognise it (torchvision names its files
``<name>-<first hex digits of the sha256>.pth``), how big it is, under which terms it is
published, and the preprocessing the weights were trained with, so that the input pipeline can
never drift from the weights it belongs to. The GUI lists and checks weights from this table
without importing torch; ``tests/ml/test_weights_catalog.py`` compares every entry with
torchvision's enums (url, parameter count, file size, resize/crop size, mean/std), so the table
cannot drift from the library either.

Models of other tasks (detection, segmentation, DINOv3 from Hugging Face) get entries in the
same table: ``source`` says which cache folder holds the file (``torchvision``: torch hub's
``checkpoints`` folder; a later ``huggingface`` source: a hub id and the Hugging Face cache).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: mean and std of ImageNet-1k (RGB, pixel values divided by 255)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_TV_BASE = "https://download.pytorch.org/models/"
_TV_LICENCE = ("Published by the PyTorch team with torchvision (BSD-3-Clause code). Trained on "
               "ImageNet-1k, whose images come with non-commercial research terms; whether those "
               "carry over to the weights is unsettled: check before commercial use.")
_TIMM_LICENCE = ("Ported to torchvision from Ross Wightman's timm (Apache-2.0). Trained on "
                 "ImageNet-1k, whose images come with non-commercial research terms; whether those "
                 "carry over to the weights is unsettled: check before commercial use.")
#: torch.hub's convention: the digits after the last '-' of the file name start its sha256
_HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,64})\.[A-Za-z0-9]+$")


@dataclass(frozen=True)
class WeightsInfo:
    """One pretrained weights file of one catalog model."""

    #: catalog model name (``core.train_config.MODEL_CATALOG``)
    model: str
    #: the weights' name at their source (torchvision's enum member, a hub id...)
    name: str
    #: what they were trained on and how well, for people ("ImageNet-1k, 69.8 % top-1")
    title: str
    url: str
    #: file size in MiB as torchvision records it (``meta["_file_size"]``, 3 decimals)
    size_mib: float
    num_params: int
    licence: str
    #: the preprocessing the weights expect: resize the short side, centre-crop, normalise
    resize_size: int
    crop_size: int
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    #: which cache holds the file (see :func:`studio_desktop.core.weights.cache_dir`)
    source: str = "torchvision"
    #: torchvision's DEFAULT for the model: what a download fetches
    default: bool = True

    @property
    def file_name(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def sha256_prefix(self) -> str:
        """The hex digits in the file name: the start of the file's sha256 (torch.hub's check)."""
        match = _HASH_IN_NAME.search(self.file_name)
        return match.group(1) if match else ""

    @property
    def approx_bytes(self) -> int:
        """Size in bytes, within ~500 bytes (torchvision rounds to 0.001 MiB)."""
        return round(self.size_mib * 1024 * 1024)

    @property
    def host(self) -> str:
        return self.url.split("/")[2]

    def preprocessing(self) -> dict:
        """The preprocessing the weights were trained with (recorded in experiments)."""
        return {"resize_size": self.resize_size, "crop_size": self.crop_size,
                "interpolation": self.interpolation, "mean": list(self.mean), "std": list(self.std)}


def _tv(model: str, name: str, file: str, size_mib: float, params: int, top1: float, resize: int,
        crop: int = 224, interpolation: str = "bilinear", licence: str = _TV_LICENCE,
        default: bool = True) -> WeightsInfo:
    return WeightsInfo(model=model, name=name, title=f"ImageNet-1k, {top1:.1f} % top-1 ({name})",
                       url=_TV_BASE + file, size_mib=size_mib, num_params=params, licence=licence,
                       resize_size=resize, crop_size=crop, interpolation=interpolation, default=default)


_COCO_LICENCE = ("Published by the PyTorch team with torchvision (BSD-3-Clause code). Trained on COCO 2017 "
                 "(annotations CC BY 4.0; the images carry their Flickr owners' terms) from an ImageNet-1k "
                 "backbone: check before commercial use.")


def _coco(model: str, file: str, size_mib: float, params: int, box_map: float, size: int) -> WeightsInfo:
    """COCO detector weights: the class-specific last layers are replaced for the project's classes."""
    return WeightsInfo(model=model, name="COCO_V1", title=f"COCO 2017, {box_map:.1f} box mAP (COCO_V1)",
                       url=_TV_BASE + file, size_mib=size_mib, num_params=params, licence=_COCO_LICENCE,
                       resize_size=size, crop_size=size)


#: model name -> its weights, the one a download fetches (torchvision's DEFAULT) first; older
#: versions follow so that files a user already has in the torch cache are found too
WEIGHTS: dict[str, tuple[WeightsInfo, ...]] = {
    "resnet18": (_tv("resnet18", "IMAGENET1K_V1", "resnet18-f37072fd.pth", 44.661, 11689512, 69.758, 256),),
    "resnet34": (_tv("resnet34", "IMAGENET1K_V1", "resnet34-b627a593.pth", 83.275, 21797672, 73.314, 256),),
    "resnet50": (_tv("resnet50", "IMAGENET1K_V2", "resnet50-11ad3fa6.pth", 97.79, 25557032, 80.858, 232),
                 _tv("resnet50", "IMAGENET1K_V1", "resnet50-0676ba61.pth", 97.781, 25557032, 76.13, 256,
                     default=False)),
    "mobilenet_v3_small": (_tv("mobilenet_v3_small", "IMAGENET1K_V1", "mobilenet_v3_small-047dcff4.pth",
                               9.829, 2542856, 67.668, 256),),
    "mobilenet_v3_large": (_tv("mobilenet_v3_large", "IMAGENET1K_V2", "mobilenet_v3_large-5c1a4163.pth",
                               21.107, 5483032, 75.274, 232),
                           _tv("mobilenet_v3_large", "IMAGENET1K_V1", "mobilenet_v3_large-8738ca79.pth",
                               21.114, 5483032, 74.042, 256, default=False)),
    "efficientnet_b0": (_tv("efficientnet_b0", "IMAGENET1K_V1", "efficientnet_b0_rwightman-7f5810bc.pth",
                            20.451, 5288548, 77.692, 256, interpolation="bicubic", licence=_TIMM_LICENCE),),
    "efficientnet_b3": (_tv("efficientnet_b3", "IMAGENET1K_V1", "efficientnet_b3_rwightman-b3899882.pth",
                            47.184, 12233232, 82.008, 320, crop=300, interpolation="bicubic",
                            licence=_TIMM_LICENCE),),
    # the backbone of the anomaly models PatchCore / PaDiM on Wide ResNet-50 (SHARED_WEIGHTS below)
    "wide_resnet50_2": (_tv("wide_resnet50_2", "IMAGENET1K_V2", "wide_resnet50_2-9ba9bcbe.pth", 263.124, 68883240,
                            81.602, 232),
                        _tv("wide_resnet50_2", "IMAGENET1K_V1", "wide_resnet50_2-95faca4d.pth", 131.82, 68883240,
                            78.468, 256, default=False)),
    "convnext_tiny": (_tv("convnext_tiny", "IMAGENET1K_V1", "convnext_tiny-983f1562.pth", 109.119, 28589128,
                          82.52, 236),),
    # detectors (object_detection): COCO weights; without them the backbone's ImageNet weights
    # above are used (ml/models/detection.py)
    "fasterrcnn_resnet50_fpn_v2": (_coco("fasterrcnn_resnet50_fpn_v2", "fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth",
                                         167.104, 43712278, 46.7, 800),),
    "fasterrcnn_mobilenet_v3_large_fpn": (_coco("fasterrcnn_mobilenet_v3_large_fpn",
                                                "fasterrcnn_mobilenet_v3_large_fpn-fb6a3cc7.pth", 74.239, 19386354,
                                                32.8, 800),),
    "fasterrcnn_mobilenet_v3_large_320_fpn": (_coco("fasterrcnn_mobilenet_v3_large_320_fpn",
                                                    "fasterrcnn_mobilenet_v3_large_320_fpn-907ea3f9.pth", 74.239,
                                                    19386354, 22.8, 320),),
    "retinanet_resnet50_fpn_v2": (_coco("retinanet_resnet50_fpn_v2", "retinanet_resnet50_fpn_v2_coco-5905b1c5.pth",
                                        146.037, 38198935, 41.5, 800),),
    "fcos_resnet50_fpn": (_coco("fcos_resnet50_fpn", "fcos_resnet50_fpn_coco-99b0c9b7.pth", 123.608, 32269600,
                                39.2, 800),),
    "ssdlite320_mobilenet_v3_large": (_coco("ssdlite320_mobilenet_v3_large",
                                            "ssdlite320_mobilenet_v3_large_coco-a79551df.pth", 13.418, 3440060,
                                            21.3, 320),),
}

def _shared() -> dict[str, str]:
    from .anomaly_models import ANOMALY_MODELS
    from .segmentation import BACKBONES

    shared = {name: m.backbone for name, m in ANOMALY_MODELS.items() if m.backbone and m.backbone != name}
    return {**shared, **BACKBONES}  # (a segmentation network: its backbone's ImageNet weights)


#: catalog models that start from another model's file: an anomaly model (PatchCore on ResNet-18)
#: or a segmentation network (U-Net on ResNet-18) from its backbone's ImageNet weights, so one
#: download serves both
SHARED_WEIGHTS: dict[str, str] = _shared()

#: why a catalog model has no entry, for the GUI and the CLI
NO_WEIGHTS_REASON: dict[str, str] = {
    "draem": "DRAEM has no pretrained backbone: it always learns from scratch (on synthetic defects)",
    "tiny_cnn": "the Tiny CNN is a teaching network without pretrained weights: it always learns from scratch",
    "tiny_fcos": "the Tiny FCOS is a teaching detector without pretrained weights: it always learns from scratch",
    "tiny_unet": "the Tiny U-Net is a teaching network without pretrained weights: it always learns from scratch",
}


def weights_of(model: str) -> tuple[WeightsInfo, ...]:
    """The pretrained weights ``model`` can use, the default first (empty: none)."""
    return WEIGHTS.get(SHARED_WEIGHTS.get(model, model), ())


def default_weights(model: str) -> WeightsInfo | None:
    entries = weights_of(model)
    return next((w for w in entries if w.default), entries[0] if entries else None)


def no_weights_reason(model: str) -> str:
    return NO_WEIGHTS_REASON.get(model, f"there are no pretrained weights for {model} in this version")


def find_by_file_name(name: str) -> WeightsInfo | None:
    """The entry whose file is called ``name`` (any model)."""
    return next((w for ws in WEIGHTS.values() for w in ws if w.file_name == name), None)


def find_by_sha256(sha256: str) -> WeightsInfo | None:
    """The entry whose file has this sha256 (by torchvision's prefix; any model)."""
    return next((w for ws in WEIGHTS.values() for w in ws
                 if w.sha256_prefix and sha256.lower().startswith(w.sha256_prefix)), None)


__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "NO_WEIGHTS_REASON", "SHARED_WEIGHTS", "WEIGHTS", "WeightsInfo", "default_weights",
           "find_by_file_name", "find_by_sha256", "no_weights_reason", "weights_of"]
