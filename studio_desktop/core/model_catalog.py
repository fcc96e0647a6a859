"""The model catalog: which networks each task can train, with their size and help text.

Pure data (no torch): the Training page lists them, ``studio train --list-settings`` prints them,
and the task heads build them by name.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InvalidInput

# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class ModelInfo:
    name: str
    display: str
    params_millions: float
    default_input_size: int
    description: str
    tasks: tuple[str, ...]
    #: learns in one pass without an optimiser (PatchCore, PaDiM): no epochs, learning rate...
    fitted: bool = False


_CLS = ("classification", "regression")
_CLASSIFIERS = [
    ModelInfo("tiny_cnn", "Tiny CNN (teaching)", 0.1, 64,
              "Four small convolution layers: trains in seconds on any laptop. Good for learning how "
              "training works and for simple images; too small for hard problems.", _CLS),
    ModelInfo("resnet18", "ResNet-18", 11.7, 224,
              "The classic residual network, small and robust. A good first choice on CPU.", _CLS),
    ModelInfo("resnet34", "ResNet-34", 21.8, 224, "Deeper ResNet: a little more accurate, twice as slow.", _CLS),
    ModelInfo("resnet50", "ResNet-50", 25.6, 224,
              "The standard strong baseline; wants a GPU for comfortable training.", _CLS),
    ModelInfo("mobilenet_v3_small", "MobileNet V3 small", 2.5, 224,
              "Made for phones: very fast, less accurate. Good when predictions must be quick.", _CLS),
    ModelInfo("mobilenet_v3_large", "MobileNet V3 large", 5.5, 224,
              "Fast mobile network with better accuracy than the small one.", _CLS),
    ModelInfo("efficientnet_b0", "EfficientNet-B0", 5.3, 224,
              "Accurate for its size; slower to train than its size suggests.", _CLS),
    ModelInfo("efficientnet_b3", "EfficientNet-B3", 12.2, 300, "Larger EfficientNet for harder problems.", _CLS),
    ModelInfo("convnext_tiny", "ConvNeXt-Tiny", 28.6, 224,
              "A modern convolutional network, very accurate with pretrained weights; needs a GPU.", _CLS),
]

_SEG = ("semantic_segmentation",)

_ANO = ("anomaly_detection",)

MODEL_CATALOG: dict[str, list[ModelInfo]] = {
    "classification": _CLASSIFIERS,
    "regression": _CLASSIFIERS,
    # benchmarks/detection_throughput.py measures their training speed against the teaching detector
    "object_detection": [
        ModelInfo("tiny_fcos", "Tiny FCOS (teaching)", 0.8, 96,
                  "torchvision's FCOS detector on a small five-stage convolutional backbone (0.8 M parameters in "
                  "all): learns simple scenes from scratch in minutes on any CPU, no pretrained weights needed. "
                  "Suits a CPU. The default when no pretrained detector is on this computer.",
                  ("object_detection",)),
        ModelInfo("fasterrcnn_mobilenet_v3_large_320_fpn", "Faster R-CNN MobileNet V3 (320 px)", 19.4, 320,
                  "Two-stage detector on a mobile backbone, made for 320 px inputs: accurate from its COCO "
                  "weights. Trains on a CPU slowly (about 1 image/s at 320 px on 2 cores, 1/20 of the teaching "
                  "detector's speed); a GPU is better.", ("object_detection",)),
        ModelInfo("fasterrcnn_mobilenet_v3_large_fpn", "Faster R-CNN MobileNet V3", 19.4, 640,
                  "The same network tuned for larger inputs (640 px): better for small objects, several times "
                  "slower there. Needs a GPU.", ("object_detection",)),
        ModelInfo("ssdlite320_mobilenet_v3_large", "SSDlite MobileNet V3", 3.4, 320,
                  "Very small one-stage detector for simple scenes and fast prediction: the pretrained detector "
                  "that suits a CPU (about 9 images/s at 320 px on 2 cores). From scratch it needs many epochs.",
                  ("object_detection",)),
        ModelInfo("fasterrcnn_resnet50_fpn_v2", "Faster R-CNN ResNet-50 v2", 43.7, 640,
                  "Accurate two-stage detector (46.7 COCO mAP). Needs a GPU.", ("object_detection",)),
        ModelInfo("retinanet_resnet50_fpn_v2", "RetinaNet ResNet-50 v2", 38.2, 640,
                  "One-stage detector with focal loss (41.5 COCO mAP). Needs a GPU.", ("object_detection",)),
        ModelInfo("fcos_resnet50_fpn", "FCOS ResNet-50", 32.3, 640,
                  "Anchor-free one-stage detector (39.2 COCO mAP). Needs a GPU.", ("object_detection",)),
    ],
    # benchmarks/segmentation_throughput.py measures their training speed at 256 px; the backbones'
    # ImageNet weights come from the weights store (core/segmentation.BACKBONES), never a download
    "semantic_segmentation": [
        ModelInfo("tiny_unet", "Tiny U-Net (teaching)", 1.2, 96,
                  "A small U-Net (five levels, 1.2 M parameters) that learns from scratch in minutes on any CPU; "
                  "no pretrained weights needed. The default when no pretrained backbone is on this computer.",
                  _SEG),
        ModelInfo("lraspp_mobilenet_v3_large", "LR-ASPP MobileNet V3", 3.2, 256,
                  "Light segmentation network on a mobile backbone: the fastest pretrained choice; fine on a CPU.",
                  _SEG),
        ModelInfo("deeplabv3_mobilenet_v3_large", "DeepLabV3 MobileNet V3", 11.0, 256,
                  "DeepLab's multi-scale head on a mobile backbone: a good balance of speed and accuracy.", _SEG),
        ModelInfo("unet_resnet18", "U-Net ResNet-18", 14.3, 256,
                  "U-Net decoder (segmentation-models-pytorch) on a ResNet-18 encoder: sharp boundaries and "
                  "small structures; fine-tunes well from ImageNet weights.", _SEG),
        ModelInfo("unet_resnet34", "U-Net ResNet-34", 24.4, 256,
                  "The classic U-Net encoder size: a little more accurate than ResNet-18, slower.", _SEG),
        ModelInfo("deeplabv3plus_resnet50", "DeepLabV3+ ResNet-50", 26.7, 512,
                  "DeepLabV3+ (segmentation-models-pytorch): multi-scale context with a decoder for sharp "
                  "edges; accurate, wants a GPU.", _SEG),
        ModelInfo("deeplabv3_resnet50", "DeepLabV3 ResNet-50", 39.6, 512,
                  "Accurate, heavier DeepLab from torchvision; wants a GPU.", _SEG),
        ModelInfo("fcn_resnet50", "FCN ResNet-50", 33.0, 512,
                  "The classic fully convolutional network from torchvision; wants a GPU.", _SEG),
    ],
    "instance_segmentation": [
        ModelInfo("maskrcnn_resnet50_fpn", "Mask R-CNN ResNet-50", 44.4, 512,
                  "The standard instance segmentation model.", ("instance_segmentation",)),
    ],
    # core/anomaly_models.py says how each learns (fitted / trained / supervised) and its backbone;
    # benchmarks/anomaly_models.py measures them on the anomaly sample and mvtec_hazelnut
    "anomaly_detection": [
        ModelInfo("patchcore_resnet18", "PatchCore (ResNet-18 features)", 11.7, 256,
                  "Normal-only: remembers the patch features of good images (a coreset) and scores each patch "
                  "of a new image by its distance to the nearest remembered one. One pass, no epochs; very "
                  "accurate with ImageNet weights. Suits a CPU. Without them (an untrained ResNet-18) it still "
                  "finds clear defects on simple, aligned parts, but pretrained features are much better on real "
                  "images: get ResNet-18's weights once with Weights… (download, or import the file).", _ANO,
                  fitted=True),
        ModelInfo("patchcore_wide_resnet50_2", "PatchCore (Wide ResNet-50 features)", 68.9, 256,
                  "PatchCore on the paper's larger backbone: the most accurate, several times slower and a "
                  "larger memory; wants a GPU for big datasets.", _ANO, fitted=True),
        ModelInfo("padim_resnet18", "PaDiM (ResNet-18 features)", 11.7, 256,
                  "Normal-only: a Gaussian of the good images' features at every position; one pass, no "
                  "epochs, fast predictions. Needs well-aligned images (same part, same place).", _ANO,
                  fitted=True),
        ModelInfo("padim_wide_resnet50_2", "PaDiM (Wide ResNet-50 features)", 68.9, 256,
                  "PaDiM on the larger backbone: more accurate, slower.", _ANO, fitted=True),
        ModelInfo("stfpm_resnet18", "STFPM (ResNet-18)", 22.0, 256,
                  "Normal-only: a student network learns to copy a pretrained teacher's features on good "
                  "images; where it fails, the image is unusual. Trained over epochs; needs the teacher's "
                  "ImageNet weights to work well.", _ANO),
        ModelInfo("fastflow_resnet18", "FastFlow (ResNet-18)", 16.3, 256,
                  "Normal-only: a normalising flow learns the probability of the good images' features. "
                  "Trained over epochs; wants ImageNet weights and a GPU.", _ANO),
        ModelInfo("reverse_distillation_resnet18", "Reverse Distillation (ResNet-18)", 26.0, 256,
                  "Normal-only: a decoder learns to rebuild the teacher's features from a compressed code; "
                  "defects are rebuilt badly. Trained over epochs; wants ImageNet weights and a GPU.", _ANO),
        ModelInfo("draem", "DRAEM", 97.4, 256,
                  "Normal-only: learns to repair synthetic defects (random noise shapes pasted on good "
                  "images) and to segment them; needs no pretrained weights. Trained over many epochs.",
                  _ANO),
        ModelInfo("tiny_cnn", "Tiny CNN, supervised (teaching)", 0.1, 64,
                  "Supervised: learns good versus defective from both kinds of training images (the split "
                  "must put defects in train); heat map from its last layer. Trains in seconds.", _ANO),
        ModelInfo("resnet18", "ResNet-18, supervised", 11.7, 224,
                  "Supervised: a classifier of good versus defective with a class-activation heat map; "
                  "needs defects of every kind you expect in the training images.", _ANO),
        ModelInfo("resnet34", "ResNet-34, supervised", 21.8, 224, "Supervised, deeper ResNet.", _ANO),
        ModelInfo("resnet50", "ResNet-50, supervised", 25.6, 224, "Supervised, strong; wants a GPU.", _ANO),
        ModelInfo("efficientnet_b0", "EfficientNet-B0, supervised", 5.3, 224,
                  "Supervised, accurate for its size.", _ANO),
    ],
    "oriented_object_detection": [
        ModelInfo("rotated_fasterrcnn_mobilenet_v3_large_fpn", "Rotated Faster R-CNN MobileNet V3", 19.4, 512,
                  "Faster R-CNN predicting an angle for every box.", ("oriented_object_detection",)),
    ],
}


def model_info(task: str, name: str) -> ModelInfo:
    """The catalog entry of ``name`` for ``task``; unknown names raise :class:`InvalidInput`."""
    for m in MODEL_CATALOG.get(task, []):
        if m.name == name:
            return m
    names = ", ".join(m.name for m in MODEL_CATALOG.get(task, []))
    raise InvalidInput(f"invalid training setting 'model': '{name}' is not a {task} model; choose one of: {names}")


__all__ = ["MODEL_CATALOG", "ModelInfo", "model_info"]
