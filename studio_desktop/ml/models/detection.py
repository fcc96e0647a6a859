"""Detection networks: torchvision's detectors behind one wrapper, :class:`Detector`.

torchvision's detectors take a list of images, resize and normalise them themselves, compute
their loss inside ``forward`` in training mode and return a list of dicts in eval mode. The app
feeds every model the same letterboxed, ImageNet-normalised ``S`` x ``S`` batch
(``ml/preprocess.py``), so each detector is configured with a resize that is the identity at
``S`` (``min_size = max_size = S``) and a normalisation that is the identity (or, for SSDlite,
the exact map from ImageNet normalisation to the ``[-1, 1]`` its weights expect). The wrapper
turns the list of dicts into fixed-size tensors (``boxes (N, K, 4)``, ``scores (N, K)``,
``labels (N, K)`` = project class index, -1 for padding), which is what evaluation caches,
prediction reads and export traces.

Label space: 0 is background, ``k + 1`` the ``k``-th project class (``num_classes = C + 1``).

The teaching detector (``tiny_fcos``) is torchvision's FCOS on a four-stage convolutional
backbone with a small feature pyramid (0.8 M parameters in all): anchor-free, one stage, no
pretrained weights needed, and it learns the shapes sample on a laptop CPU in a few minutes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import nn

from ...core.errors import InvalidInput
from ..augment import IMAGENET_MEAN, IMAGENET_STD

#: catalog detectors built by torchvision (weights=None: never downloads)
TORCHVISION_DETECTORS = ("fasterrcnn_resnet50_fpn_v2", "fasterrcnn_mobilenet_v3_large_fpn",
                         "fasterrcnn_mobilenet_v3_large_320_fpn", "retinanet_resnet50_fpn_v2",
                         "fcos_resnet50_fpn", "ssdlite320_mobilenet_v3_large")
TEACHING = "tiny_fcos"
DETECTORS = (TEACHING, *TORCHVISION_DETECTORS)
#: the ImageNet backbone whose weights start a detector when its COCO weights are not here
BACKBONES = {"fasterrcnn_resnet50_fpn_v2": "resnet50", "retinanet_resnet50_fpn_v2": "resnet50",
             "fcos_resnet50_fpn": "resnet50", "fasterrcnn_mobilenet_v3_large_fpn": "mobilenet_v3_large",
             "fasterrcnn_mobilenet_v3_large_320_fpn": "mobilenet_v3_large"}
#: (SSDlite splits MobileNet's layers differently: it starts from its COCO weights or from scratch)
#: default anchor sizes (input pixels, one per pyramid level) of the models that have anchors
#: the user may change (FCOS uses them as its levels' scale ranges)
DEFAULT_ANCHORS = {TEACHING: (8, 16, 32)}


class Detector(nn.Module):
    """A torchvision detector with the app's input and a fixed-size output (module docstring)."""

    def __init__(self, net: nn.Module, max_detections: int = 100):
        super().__init__()
        self.net = net
        self.max_detections = int(max_detections)

    def forward(self, x: torch.Tensor, targets: list[dict] | None = None):
        images = list(x.unbind(0))
        if self.training:
            if targets is None:
                raise ValueError("a detector in training mode needs targets")
            return self.net(images, targets)
        return self.pad(self.net(images), x.shape[0])

    def finetune_parts(self) -> tuple[list[nn.Module], nn.Module]:
        """``(backbone stages input-first, the rest)`` for the fine-tuning modes: a linear probe
        trains the feature pyramid and the detection heads on a frozen backbone."""
        body = backbone_body(self)
        stages = list(body.children())
        ids = {id(p) for s in stages for p in s.parameters()}
        rest = nn.ParameterList([p for p in self.net.parameters() if id(p) not in ids])
        return stages, rest

    def pad(self, detections: list[dict], n: int) -> dict[str, torch.Tensor]:
        """Each image's detections as the ``K`` best rows (padding: score 0, label -1, box 0).

        Written without Python numbers taken from the data (no ``len`` of a result), so a traced or
        exported graph keeps working for any number of detections."""
        k = self.max_detections
        out_boxes, out_scores, out_labels = [], [], []
        for det in detections:
            # one-stage detectors (FCOS, RetinaNet) score every label, background's too: it never
            # learns a positive and is no class of the project
            s = torch.where(det["labels"] > 0, det["scores"], torch.zeros_like(det["scores"])).float()
            s = torch.cat([s, s.new_zeros(k)])
            boxes = torch.cat([det["boxes"].float(), s.new_zeros((k, 4))])
            labels = torch.cat([det["labels"].long() - 1, torch.full((k,), -1, dtype=torch.int64, device=s.device)])
            scores, top = torch.topk(s, k)
            keep = scores > 0
            out_scores.append(scores)
            out_boxes.append(torch.where(keep[:, None], boxes[top], torch.zeros_like(boxes[top])))
            out_labels.append(torch.where(keep, labels[top], torch.full_like(labels[top], -1)))
        return {"boxes": torch.stack(out_boxes), "scores": torch.stack(out_scores), "labels": torch.stack(out_labels)}


def letterboxed_input(net: nn.Module, size: int) -> None:
    """Make the detector's own resize a no-op on our ``size`` x ``size`` input.

    torchvision's ``GeneralizedRCNNTransform`` interpolates even at scale 1 (a copy of every
    image, and an interpolation in every exported graph); our input is already letterboxed."""
    net.transform.__class__ = _letterboxed_class(type(net.transform))
    net.transform.letterbox_size = int(size)


_CLASSES: dict = {}


def _letterboxed_class(base):
    if getattr(base, "letterboxed", False):
        return base
    if base not in _CLASSES:
        def resize(self, image, target=None):
            if tuple(image.shape[-2:]) == (self.letterbox_size, self.letterbox_size):
                return image, target
            return base.resize(self, image, target)

        _CLASSES[base] = type("LetterboxedInput", (base,), {"resize": resize, "letterboxed": True,
                                                            "__module__": __name__, "__qualname__": "LetterboxedInput"})
        globals()["LetterboxedInput"] = _CLASSES[base]
    return _CLASSES[base]


# --------------------------------------------------------------------------- teaching detector


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class TinyBackbone(nn.Module):
    """Strides 8, 16 and 32 from five small conv stages; returns them by name for the FPN."""

    def __init__(self, width: int = 16):
        super().__init__()
        w = width
        self.stem = nn.Sequential(nn.Conv2d(3, w, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(w),
                                  nn.ReLU(inplace=True))  # /2 (one conv: the costliest resolution)
        self.s1 = _block(w, 2 * w, 2)  # /4
        self.s2 = _block(2 * w, 4 * w, 2)  # /8
        self.s3 = _block(4 * w, 8 * w, 2)  # /16
        self.s4 = _block(8 * w, 8 * w, 2)  # /32
        self.channels = [4 * w, 8 * w, 8 * w]

    def forward(self, x):
        x = self.s1(self.stem(x))
        c3 = self.s2(x)
        c4 = self.s3(c3)
        c5 = self.s4(c4)
        return OrderedDict([("0", c3), ("1", c4), ("2", c5)])


class TinyFPN(nn.Module):
    """A backbone and torchvision's FeaturePyramidNetwork: ``out_channels`` maps per stride."""

    def __init__(self, out_channels: int = 64, width: int = 16):
        super().__init__()
        from torchvision.ops import FeaturePyramidNetwork

        self.body = TinyBackbone(width)
        self.fpn = FeaturePyramidNetwork(self.body.channels, out_channels)
        self.out_channels = out_channels

    def forward(self, x):
        return self.fpn(self.body(x))


def tiny_fcos(num_classes: int, size: int, *, anchor_sizes=DEFAULT_ANCHORS[TEACHING], **kw) -> nn.Module:
    from torchvision.models.detection import FCOS
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.fcos import FCOSHead

    backbone = TinyFPN(64)
    anchors = AnchorGenerator(sizes=tuple((int(a),) for a in anchor_sizes), aspect_ratios=((1.0,),) * 3)
    head = FCOSHead(backbone.out_channels, 1, num_classes, num_convs=1)
    return FCOS(backbone, num_classes, min_size=size, max_size=size, anchor_generator=anchors, head=head,
                image_mean=[0.0, 0.0, 0.0], image_std=[1.0, 1.0, 1.0], **kw)


# --------------------------------------------------------------------------- builder


def _torchvision(name: str, num_classes: int, size: int, nms_iou: float, k: int, score: float) -> nn.Module:
    import torchvision.models.detection as tvd

    common = dict(weights=None, weights_backbone=None, num_classes=num_classes)
    if name.startswith("fasterrcnn"):
        return getattr(tvd, name)(**common, min_size=size, max_size=size, image_mean=[0.0] * 3,
                                  image_std=[1.0] * 3, box_score_thresh=score, box_nms_thresh=nms_iou,
                                  box_detections_per_img=k)
    if name.startswith(("retinanet", "fcos")):
        return getattr(tvd, name)(**common, min_size=size, max_size=size, image_mean=[0.0] * 3,
                                  image_std=[1.0] * 3, score_thresh=score, nms_thresh=nms_iou,
                                  detections_per_img=k)
    if name.startswith("ssdlite"):
        from torchvision.models.detection.transform import GeneralizedRCNNTransform

        net = tvd.ssdlite320_mobilenet_v3_large(**common, score_thresh=score, nms_thresh=nms_iou,
                                                detections_per_img=k, topk_candidates=max(300, k))
        # our input is (x - imagenet_mean) / imagenet_std; SSDlite's weights expect (x - 0.5) / 0.5
        mean = [(0.5 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD, strict=True)]
        std = [0.5 / s for s in IMAGENET_STD]
        net.transform = GeneralizedRCNNTransform(size, size, mean, std, size_divisible=1, fixed_size=(size, size))
        return net
    raise InvalidInput(f"invalid training setting 'model': unknown detection model '{name}'")  # pragma: no cover


def build_detector(name: str, num_classes: int, size: int, *, nms_iou: float = 0.5, max_detections: int = 100,
                   score_threshold: float = 0.001, anchor_sizes: list[int] | None = None) -> Detector:
    """``Detector`` around catalog model ``name`` for ``num_classes`` project classes (+ background)."""
    if num_classes < 1:
        raise InvalidInput("the project has no classes to detect")
    if name == TEACHING:
        sizes = tuple(anchor_sizes) if anchor_sizes else DEFAULT_ANCHORS[TEACHING]
        if len(sizes) != 3:
            raise InvalidInput(f"invalid training setting 'anchor_sizes': {name} has 3 pyramid levels, "
                               f"so it needs 3 sizes (got {len(sizes)})")
        net = tiny_fcos(num_classes + 1, size, anchor_sizes=sizes, score_thresh=score_threshold,
                        nms_thresh=nms_iou, detections_per_img=max_detections, topk_candidates=1000)
    elif name in TORCHVISION_DETECTORS:
        net = _torchvision(name, num_classes + 1, size, nms_iou, max_detections, score_threshold)
    else:
        raise InvalidInput(f"invalid training setting 'model': '{name}' is not a detection model; choose one "
                           f"of: {', '.join(DETECTORS)}")
    letterboxed_input(net, size)
    _live_box_regression(net)
    return Detector(net, max_detections)


#: FCOS's box distances (in anchor sizes) start here: the middle of what objects need
FCOS_REGRESSION_START = 2.0


def _live_box_regression(net: nn.Module) -> None:
    """Start FCOS's box regression well above zero.

    torchvision's FCOS puts a ReLU after its last regression layer, initialised around 0: one
    large early step can push every output below 0 for good (a "dead" ReLU: all boxes collapse to
    points, mAP stays exactly 0 while the loss still falls through the other terms). Seed 1 of the
    shapes sample did exactly that from scratch; a positive bias (a box of about two anchor sizes
    each way) keeps the layer alive. Pretrained weights, when loaded later, replace it."""
    head = getattr(getattr(net, "head", None), "regression_head", None)
    reg = getattr(head, "bbox_reg", None)
    if reg is not None and hasattr(head, "bbox_ctrness"):  # (FCOS only)
        with torch.no_grad():
            reg.bias.fill_(FCOS_REGRESSION_START)


def freeze_batch_norm(module: nn.Module) -> None:
    """Every ``BatchNorm2d`` of ``module`` -> ``FrozenBatchNorm2d`` with its statistics (as torchvision
    builds pretrained detectors: batches of 2-8 images would ruin the pretrained statistics)."""
    from torchvision.ops.misc import FrozenBatchNorm2d

    for name, child in list(module.named_children()):
        if isinstance(child, nn.BatchNorm2d):
            frozen = FrozenBatchNorm2d(child.num_features, eps=child.eps)
            frozen.weight.copy_(child.weight.detach())
            frozen.bias.copy_(child.bias.detach())
            frozen.running_mean.copy_(child.running_mean)
            frozen.running_var.copy_(child.running_var)
            setattr(module, name, frozen)
        else:
            freeze_batch_norm(child)


def backbone_body(detector: Detector) -> nn.Module:
    """The backbone's feature extractor (what ImageNet weights fit)."""
    backbone = detector.net.backbone
    return getattr(backbone, "body", None) or getattr(backbone, "features", backbone)


def load_detector_weights(detector: Detector, name: str, weights_file: str | None,
                          log: Callable[[str, str], None]) -> dict | None:
    """COCO weights of ``name`` (or the user's file; the class-specific last layers stay new), else
    the ImageNet weights of its backbone, else nothing (from scratch, said in the log). Returns
    what the experiment records, or None."""
    from ...core.weights import weights_for_training
    from .weights import load_pretrained

    if name == TEACHING and not weights_file:
        return None
    if weights_file or weights_for_training(name) is not None or BACKBONES.get(name) is None:
        return load_pretrained(detector.net, name, weights_file, log)
    record = _load_backbone(backbone_body(detector), BACKBONES[name], name, log)
    if record is None:
        return load_pretrained(detector.net, name, None, log)  # says: from scratch, and how to get them
    return {**record, "part": f"backbone only ({BACKBONES[name]}, ImageNet); the detection layers start "
                              "from scratch"}


def _load_backbone(body: nn.Module, arch: str, name: str, log) -> dict | None:
    """ImageNet classification weights into the detection backbone (names as torchvision's
    classifiers have them: ``layer1...`` for ResNets, ``features.N...`` for MobileNets)."""
    from ...core.weights import weights_for_training
    from .weights import read_weights_file

    chosen = weights_for_training(arch)
    if chosen is None:
        return None
    state = read_weights_file(chosen.path)
    own = body.state_dict()
    mapped = {}
    for key, value in state.items():
        k = key.removeprefix("features.")
        if k in own and own[k].shape == value.shape:
            mapped[k] = value
    if not mapped:
        return None
    body.load_state_dict(mapped, strict=False)
    log(f"no COCO weights of {name} on this computer: loaded the ImageNet weights of {arch} into its backbone "
        f"({len(mapped)} tensors, from {chosen.path}); the detection layers learn from scratch (get the COCO "
        f"weights with `studio weights download {name}` or the Weights dialog)", "info")
    return chosen.record()


__all__ = ["BACKBONES", "DEFAULT_ANCHORS", "DETECTORS", "Detector", "TEACHING", "TORCHVISION_DETECTORS", "set_anchor_sizes",
           "build_detector", "freeze_batch_norm", "load_detector_weights"]


def set_anchor_sizes(detector: Detector, name: str, sizes: list[int]) -> None:
    """The user's anchor sizes (``DetectionSettings.anchor_sizes``) on a torchvision detector.

    One size per pyramid level: each level's sizes are scaled so that its first is the user's
    (RetinaNet's three octave scales per level keep their ratios). A model whose levels all share
    one list (MobileNet Faster R-CNN) takes the list for every level."""
    from torchvision.models.detection.anchor_utils import AnchorGenerator

    net = detector.net
    owner = net.rpn if hasattr(net, "rpn") else net
    old = getattr(owner, "anchor_generator", None)
    if not isinstance(old, AnchorGenerator):
        raise InvalidInput(f"invalid training setting 'anchor_sizes': {name} has no anchor sizes to set "
                           "(leave it empty)")
    levels = old.sizes
    if len(sizes) == len(levels):
        new = tuple(tuple(float(u) * s / lvl[0] for s in lvl) for u, lvl in zip(sizes, levels, strict=True))
    elif len(set(levels)) == 1 and len(sizes) == len(levels[0]):
        new = tuple(tuple(float(u) for u in sizes) for _ in levels)
    else:
        raise InvalidInput(f"invalid training setting 'anchor_sizes': {name} needs {len(levels)} sizes, one per "
                           f"pyramid level (got {len(sizes)})")
    owner.anchor_generator = AnchorGenerator(new, old.aspect_ratios)
