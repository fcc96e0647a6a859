"""Segmentation networks: one wrapper, one output: logits ``(N, C, H, W)`` at the input's size.

The catalog (``core/train_config.MODEL_CATALOG["semantic_segmentation"]``):

* ``tiny_unet``: a small U-Net written here, trained from scratch on a CPU in minutes;
* torchvision's FCN-ResNet50, DeepLabV3 (ResNet-50, MobileNetV3-Large) and LR-ASPP
  (MobileNetV3-Large), built with ``weights=None, weights_backbone=None`` (never a download);
* segmentation-models-pytorch's U-Net (ResNet-18/34) and DeepLabV3+ (ResNet-50) with
  ``encoder_weights=None``: their ResNet encoders are torchvision ResNets, so the ImageNet file of
  our weights store loads into them tensor for tensor (``load_segmentation_weights``).

:class:`Segmenter` pads the input to the multiple of its network's stride (zeros, which is the
letterbox colour after normalisation), takes torchvision's ``out`` entry, upsamples to the padded
size where the network does not, and crops back: ``forward`` is the same for every model, which
is what training, the sliding window, prediction and export rely on.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ...core.errors import InvalidInput
from ...core.segmentation import BACKBONES

TEACHING = "tiny_unet"
TORCHVISION_SEGMENTERS = ("lraspp_mobilenet_v3_large", "deeplabv3_mobilenet_v3_large", "deeplabv3_resnet50",
                          "fcn_resnet50")
#: catalog name -> (smp architecture, encoder)
SMP_SEGMENTERS = {"unet_resnet18": ("Unet", "resnet18"), "unet_resnet34": ("Unet", "resnet34"),
                  "deeplabv3plus_resnet50": ("DeepLabV3Plus", "resnet50")}
SEGMENTERS = (TEACHING, *TORCHVISION_SEGMENTERS, *SMP_SEGMENTERS)


class Segmenter(nn.Module):
    """Any segmentation network as ``(N, 3, H, W) -> logits (N, C, H, W)``."""

    def __init__(self, net: nn.Module, stride: int = 1, backbone: nn.Module | None = None):
        super().__init__()
        self.net = net
        self.stride = int(stride)
        #: the part pretrained ImageNet weights fit (fine-tuning modes freeze its stages)
        self._backbone_name = _child_name(net, backbone) if backbone is not None else ""

    @property
    def backbone(self) -> nn.Module | None:
        return self.net.get_submodule(self._backbone_name) if self._backbone_name else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_train(x)[0]

    def forward_train(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(logits (N, C, H, W), auxiliary logits)``. Auxiliary logits (deep supervision, for the
        training loss) are coarser maps of the *padded* input, one per extra head of a network that
        has them (:class:`TinyUNet`) and only in training mode; other networks give none."""
        h, w = int(x.shape[-2]), int(x.shape[-1])
        ph, pw = (-h) % self.stride, (-w) % self.stride
        if ph or pw:  # (a Python decision at trace time: an exported graph has a fixed size)
            x = F.pad(x, (0, pw, 0, ph))
        out, aux = self.net.forward_with_aux(x) if hasattr(self.net, "forward_with_aux") else (self.net(x), [])
        if isinstance(out, dict):
            out = out["out"]
        if tuple(out.shape[-2:]) != tuple(x.shape[-2:]):
            out = F.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=False)
        if ph or pw:
            out = out[..., :h, :w]
        return out, aux

    def finetune_parts(self) -> tuple[list[nn.Module], nn.Module]:
        """``(backbone stages input-first, the rest)``: a linear probe trains the decoder and head
        on a frozen backbone."""
        body = self.backbone
        if body is None:
            raise InvalidInput("fine-tuning modes need a pretrained backbone; the Tiny U-Net always learns "
                               "every layer (choose fine-tuning 'full')")
        stages = [m for m in body.children() if any(True for _ in m.parameters())]
        ids = {id(p) for s in stages for p in s.parameters()}
        return stages, nn.ParameterList([p for p in self.net.parameters() if id(p) not in ids])


def _child_name(root: nn.Module, target: nn.Module) -> str:
    for name, module in root.named_modules():
        if module is target:
            return name
    raise ValueError("backbone is not part of the network")  # pragma: no cover


# --------------------------------------------------------------------------- teaching network


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class TinyUNet(nn.Module):
    """Five levels (widths 16-32-64-128-128), skip connections, bilinear upsampling: ~1.2 M parameters.

    Small enough to learn a simple scene from scratch on a CPU in minutes and to read in one
    screen; the deepest level (1/16 of the input) sees whole objects, which is what tells a
    circle's pixels from a square's. Input sides must be multiples of 16 (:class:`Segmenter` pads).

    Deep supervision: two 1x1 heads classify the pixels at 1/16 and 1/8 during training
    (:meth:`forward_with_aux`; unused when predicting and absent from exports). Without them the
    skip connections let the net find objects from edges and colour and never learn which shape
    an object is: on the shapes sample the same net stalled at validation mIoU 0.35-0.48 (every
    shape called one class) and with them reached 0.97 in a minute of CPU
    (benchmarks/segmentation_accuracy.py)."""

    STRIDE = 16

    def __init__(self, num_classes: int, width: int = 16):
        super().__init__()
        w = width
        widths = [w, 2 * w, 4 * w, 8 * w, 8 * w]
        self.down = nn.ModuleList([_double_conv(cin, cout) for cin, cout in zip([3, *widths[:-1]], widths, strict=True)])
        self.up = nn.ModuleList([_double_conv(deep + skip, skip) for deep, skip in
                                 zip([widths[4], widths[3], widths[2], widths[1]], [widths[3], widths[2], widths[1], widths[0]],
                                     strict=True)])
        self.head = nn.Conv2d(w, num_classes, 1)
        self.aux = nn.ModuleList([nn.Conv2d(widths[4], num_classes, 1), nn.Conv2d(widths[3], num_classes, 1)])
        self.register_load_state_dict_pre_hook(_keep_missing_aux)

    def forward(self, x):
        return self.forward_with_aux(x)[0]

    def forward_with_aux(self, x) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(logits, [logits at 1/16, logits at 1/8])``: the coarse ones are deep supervision."""
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        x = skips.pop()
        aux = [self.aux[0](x)] if self.training else []
        for i, block in enumerate(self.up):
            skip = skips.pop()
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], 1))
            if i == 0 and self.training:
                aux.append(self.aux[1](x))
        return self.head(x), aux


def _keep_missing_aux(module, state_dict, prefix, *_args) -> None:
    """A Tiny U-Net saved before it had deep-supervision heads still loads (they only train)."""
    for name, tensor in module.aux.state_dict().items():
        state_dict.setdefault(f"{prefix}aux.{name}", tensor)


# --------------------------------------------------------------------------- the catalog


def build_segmenter(name: str, num_classes: int) -> Segmenter:
    """The untrained network ``name`` with ``num_classes`` output channels (nothing is downloaded)."""
    if num_classes < 1:
        raise InvalidInput("the project has no classes to train on")
    if name == TEACHING:
        return Segmenter(TinyUNet(num_classes), TinyUNet.STRIDE)
    if name in TORCHVISION_SEGMENTERS:
        import torchvision.models.segmentation as tvs

        net = getattr(tvs, name)(weights=None, weights_backbone=None, num_classes=num_classes, aux_loss=None)
        return Segmenter(net, 1, net.backbone)
    if name in SMP_SEGMENTERS:
        import segmentation_models_pytorch as smp

        arch, encoder = SMP_SEGMENTERS[name]
        net = getattr(smp, arch)(encoder_name=encoder, encoder_weights=None, classes=num_classes)
        return Segmenter(net, 32, net.encoder)
    raise InvalidInput(f"invalid training setting 'model': unknown segmentation model '{name}'; choose one of: "
                       + ", ".join(SEGMENTERS))


def load_segmentation_weights(model: Segmenter, name: str, weights_file: str | None,
                              log: Callable[[str, str], None]) -> dict | None:
    """Weights to start from: the user's file (tensors whose names and shapes fit), else the
    ImageNet weights of the backbone's classifier from the weights store, else none (from
    scratch, said in the log). Returns what experiment.json records, or None."""
    from ...core.weights import weights_for_training
    from .weights import load_pretrained, read_weights_file

    if weights_file:
        return load_pretrained(model.net, name, weights_file, log)
    arch = BACKBONES.get(name)
    if arch is None or model.backbone is None:
        log(f"{name} has no pretrained weights: it learns from scratch", "info")
        return None
    chosen = weights_for_training(arch)
    if chosen is None:
        log(f"no ImageNet weights of {arch} on this computer: {name} learns from scratch, which needs many "
            f"more images and epochs (get them with `studio weights download {arch}` or the Weights dialog)",
            "warning")
        return None
    state = read_weights_file(chosen.path)
    body = model.backbone
    own = body.state_dict()
    mapped = {}
    for key, value in state.items():
        k = key.removeprefix("features.")  # MobileNet: torchvision segmenters keep only `features`
        if k in own and own[k].shape == value.shape:
            mapped[k] = value
    if not mapped:
        raise InvalidInput(f"no tensor of the {arch} weights fits the backbone of {name}", path=chosen.path)
    body.load_state_dict(mapped, strict=False)
    log(f"loaded the ImageNet weights of {arch} into the backbone of {name} ({len(mapped)} of {len(own)} tensors, "
        f"from {chosen.path}); the decoder learns from scratch", "info")
    return {**chosen.record(), "part": f"backbone only ({arch}, ImageNet); the decoder starts from scratch"}


__all__ = ["SEGMENTERS", "SMP_SEGMENTERS", "Segmenter", "TEACHING", "TORCHVISION_SEGMENTERS", "TinyUNet",
           "build_segmenter", "load_segmentation_weights"]
