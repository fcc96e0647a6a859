"""Anomaly-detection networks with one forward contract, whatever learns inside.

In eval mode every network here maps ``x: (N, 3, S, S)`` (the app's normalised input) to
``{"score": (N,) float32, "map": (N, 1, S, S) float32}``: the raw image score (higher = more
anomalous) and the raw anomaly map at the input size. Evaluation, prediction and export use
that and nothing else (docs: /work/notes/ANOMALY.md).

* :class:`AnomalibNet` wraps one of anomalib's torch models (``anomalib.models.image.<name>.
  torch_model``), used as they are: their backbones are built with ``pretrained=False`` (timm
  would download) and start from the weights store's ImageNet file when there is one.
* :class:`SupervisedNet` is a classification backbone with one logit; its map is the
  class-activation map (the last linear layer applied at every position of the last feature
  map), in logit units: its spatial mean is exactly the logit, so the map is computed without
  gradients and exports as plain convolutions (see :func:`class_activation`).

anomalib is imported here only, lazily (it takes seconds): the GUI and core never import it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ...core.anomaly_models import FITTED, SUPERVISED, AnomalyModel, anomaly_model
from ...core.errors import InvalidInput
from ..augment import IMAGENET_MEAN, IMAGENET_STD

Log = Callable[[str, str], None]


@contextlib.contextmanager
def no_downloads() -> Iterator[None]:
    """Build timm networks without their pretrained weights while inside (anomalib asks timm for
    pretrained backbones, STFPM's teacher unconditionally, and timm would download them)."""
    import timm

    original = timm.create_model

    def create_model(*args, **kwargs):
        kwargs["pretrained"] = False
        return original(*args, **kwargs)

    timm.create_model = create_model
    try:
        yield
    finally:
        timm.create_model = original


def _quiet_imports() -> None:
    import warnings

    warnings.filterwarnings("ignore", message=".*timm.models.layers is deprecated.*")
    warnings.filterwarnings("ignore", message=".*dinov2 package is deprecated.*")
    warnings.filterwarnings("ignore", message=".*Importing from timm.models.layers.*")


class AnomalibNet(nn.Module):
    """One of anomalib's torch models behind the app's forward contract.

    Training mode passes the input straight to the inner model (fitted models collect features,
    trained ones return what their loss needs, see :meth:`training_loss`)."""

    def __init__(self, info: AnomalyModel, inner: nn.Module, *, raw_pixels: bool = False):
        super().__init__()
        self.info = info
        self.inner = inner
        #: the inner model wants 0..1 pixels (DRAEM): the normalisation is undone in the graph
        self.raw_pixels = raw_pixels
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.losses: dict[str, nn.Module] = {}
        self.augmenter: nn.Module | None = None

    @property
    def fits(self) -> bool:
        return self.info.kind == FITTED

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std + self.mean if self.raw_pixels else x

    def forward(self, x: torch.Tensor):
        if self.training:
            return self.inner(self._input(x))
        out = self.inner(self._input(x))
        amap = out.anomaly_map.float()
        if amap.dim() == 3:
            amap = amap.unsqueeze(1)
        if amap.shape[-2:] != x.shape[-2:]:
            amap = F.interpolate(amap, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return {"score": out.pred_score.float().reshape(-1), "map": amap}

    # ------------------------------------------------------------------ trained models
    def training_loss(self, x: torch.Tensor) -> torch.Tensor:
        """The loss anomalib's Lightning model computes for one training batch of normal images."""
        package = self.info.package
        x = self._input(x)
        if package == "stfpm":
            teacher, student = self.inner(x)
            return self.losses["loss"](teacher, student)
        if package == "fastflow":
            hidden, jacobians = self.inner(x)
            return self.losses["loss"](hidden, jacobians)
        if package == "reverse_distillation":
            return self.losses["loss"](*self.inner(x))
        if package == "draem":
            augmented, mask = self.augmenter(x)
            reconstruction, prediction = self.inner(augmented)
            return self.losses["loss"](x, reconstruction, mask, prediction)
        raise InvalidInput(f"{self.info.name} is not trained with a loss")  # pragma: no cover


def _loss_modules(info: AnomalyModel) -> dict[str, nn.Module]:
    if info.package == "stfpm":
        from anomalib.models.image.stfpm.loss import STFPMLoss

        return {"loss": STFPMLoss()}
    if info.package == "fastflow":
        from anomalib.models.image.fastflow.loss import FastflowLoss

        return {"loss": FastflowLoss()}
    if info.package == "reverse_distillation":
        from anomalib.models.image.reverse_distillation.loss import ReverseDistillationLoss

        return {"loss": ReverseDistillationLoss()}
    if info.package == "draem":
        from anomalib.models.image.draem.loss import DraemLoss

        return {"loss": DraemLoss()}
    return {}


def _inner_model(info: AnomalyModel, size: int, settings) -> nn.Module:
    """anomalib's torch model of ``info`` (untrained backbone; weights are loaded afterwards)."""
    _quiet_imports()
    package, backbone, layers = info.package, info.backbone, list(info.layers)
    with no_downloads():
        if package == "patchcore":
            from anomalib.models.image.patchcore.torch_model import PatchcoreModel

            return PatchcoreModel(layers=layers, backbone=backbone, pre_trained=False,
                                  num_neighbors=int(settings.neighbours))
        if package == "padim":
            from anomalib.models.image.padim.torch_model import PadimModel

            probe = PadimModel(backbone=backbone, layers=layers, pre_trained=False, n_features=1)
            n = min(int(settings.padim_features), probe.n_features_original)
            return PadimModel(backbone=backbone, layers=layers, pre_trained=False, n_features=n)
        if package == "stfpm":
            from anomalib.models.image.stfpm.torch_model import STFPMModel

            return STFPMModel(layers=layers, backbone=backbone)
        if package == "fastflow":
            from anomalib.models.image.fastflow.torch_model import FastflowModel

            return FastflowModel(input_size=(size, size), backbone=backbone, pre_trained=False, flow_steps=8,
                                 conv3x3_only=True, hidden_ratio=1.0)
        if package == "reverse_distillation":
            from anomalib.models.image.reverse_distillation.anomaly_map import AnomalyMapGenerationMode
            from anomalib.models.image.reverse_distillation.torch_model import ReverseDistillationModel

            return ReverseDistillationModel(backbone=backbone, input_size=(size, size), layers=layers,
                                            anomaly_map_mode=AnomalyMapGenerationMode.ADD, pre_trained=False)
        if package == "draem":
            from anomalib.models.image.draem.torch_model import DraemModel

            return DraemModel(sspcab=False)
    raise InvalidInput(f"invalid training setting 'model': unknown anomaly model '{info.name}'")  # pragma: no cover


def _backbone_modules(info: AnomalyModel, inner: nn.Module) -> list[nn.Module]:
    """The timm networks of ``inner`` that ImageNet weights start (the teacher, not a student)."""
    package = info.package
    if package in ("patchcore", "padim"):
        return [inner.feature_extractor.feature_extractor]
    if package == "stfpm":
        return [inner.teacher_model.feature_extractor]
    if package == "fastflow":
        return [inner.feature_extractor]
    if package == "reverse_distillation":
        return [inner.encoder.feature_extractor]
    return []


def load_backbone(module: nn.Module, backbone: str, weights_file: str | None, log: Log) -> dict | None:
    """The weights store's ImageNet file of ``backbone`` into a timm network (same tensor names as
    torchvision's for ResNets; the classifier, absent from a feature extractor, is skipped)."""
    from .weights import load_pretrained

    return load_pretrained(module, backbone, weights_file, log)


def build_anomaly_net(name: str, *, input_size: int, settings, pretrained: bool, weights_file: str | None,
                      log: Log, on_weights: Callable[[dict], None] | None = None) -> nn.Module:
    """The network of catalog model ``name`` (see :mod:`studio_desktop.core.anomaly_models`)."""
    info = anomaly_model(name)
    if info is None:
        raise InvalidInput(f"invalid training setting 'model': unknown anomaly detection model '{name}'")
    if info.kind == SUPERVISED:
        return build_supervised(info, settings=settings, pretrained=pretrained, weights_file=weights_file,
                                log=log, on_weights=on_weights)
    inner = _inner_model(info, input_size, settings)
    net = AnomalibNet(info, inner, raw_pixels=info.package == "draem")
    net.losses = nn.ModuleDict(_loss_modules(info))
    if info.package == "draem":
        from anomalib.data.utils.generators.perlin import PerlinAnomalyGenerator

        # no texture folder (DTD would be downloaded): anomalib's Perlin-noise fallback
        net.augmenter = PerlinAnomalyGenerator(anomaly_source_path=None, blend_factor=(0.1, 1.0))
    if (pretrained or weights_file) and info.backbone:
        for module in _backbone_modules(info, inner):
            record = load_backbone(module, info.backbone, weights_file, log)
            if record is not None and on_weights is not None:
                on_weights({**record, "part": f"backbone only ({info.backbone}, ImageNet)"})
    return net


# --------------------------------------------------------------------------- supervised


class SupervisedNet(nn.Module):
    """A backbone's features, global average pooling and one linear logit (good vs defective).

    ``map`` is the class-activation map: the logit's linear layer applied at each position of the
    feature map, plus its bias, upsampled to the input. Global average pooling and a linear layer
    commute, so the map's mean over the feature grid equals the score exactly: the map says where
    the logit comes from, in the same units."""

    def __init__(self, features: nn.Module, channels: int, kind: str):
        super().__init__()
        self.features = features
        self.fc = nn.Linear(channels, 1)
        self.kind = kind

    def forward(self, x: torch.Tensor):
        f = self.features(x)
        score = self.fc(f.mean(dim=(2, 3))).reshape(-1)
        cam = class_activation(f, self.fc)
        amap = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return {"score": score, "map": amap}

    def finetune_parts(self) -> tuple[list[nn.Module], nn.Module]:
        stages = list(self.features.children())
        return stages, self.fc


def class_activation(features: torch.Tensor, fc: nn.Linear) -> torch.Tensor:
    """(N, 1, h, w): ``fc`` applied at every position of ``features`` (N, C, h, w)."""
    return torch.einsum("nchw,oc->nohw", features, fc.weight) + fc.bias.view(1, -1, 1, 1)


def build_supervised(info: AnomalyModel, *, settings, pretrained: bool, weights_file: str | None, log: Log,
                     on_weights: Callable[[dict], None] | None = None) -> SupervisedNet:
    from .classification import TinyCNN, build_classifier

    previous = getattr(settings, "cam_layer", "last") == "previous"
    base = build_classifier(info.name, 1, pretrained=pretrained, weights_file=weights_file, log=log,
                            on_weights=on_weights)
    if isinstance(base, TinyCNN):
        blocks = list(base.features)
        if previous:
            blocks = blocks[:-1]
        channels = blocks[-1][0].out_channels
        return SupervisedNet(nn.Sequential(*blocks), channels, info.name)
    if hasattr(base, "layer4"):  # ResNets
        stem = nn.Sequential(base.conv1, base.bn1, base.relu, base.maxpool)
        layers = [base.layer1, base.layer2, base.layer3] + ([] if previous else [base.layer4])
        last = layers[-1][-1]
        channels = (last.conv3 if hasattr(last, "conv3") else last.conv2).out_channels
        return SupervisedNet(nn.Sequential(stem, *layers), channels, info.name)
    if hasattr(base, "features"):  # EfficientNet: a Sequential of stages
        stages = list(base.features)
        if previous:
            stages = stages[:-1]
        with torch.no_grad():
            channels = nn.Sequential(*stages)(torch.zeros(1, 3, 64, 64)).shape[1]
        return SupervisedNet(nn.Sequential(*stages), channels, info.name)
    raise InvalidInput(f"invalid training setting 'model': {info.name} cannot be used for supervised anomaly "
                       "detection")  # pragma: no cover


__all__ = ["AnomalibNet", "SupervisedNet", "build_anomaly_net", "class_activation", "no_downloads"]
