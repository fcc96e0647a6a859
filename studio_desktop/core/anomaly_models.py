"""The anomaly-detection models: how each learns, which backbone it uses (pure data, no torch).

Three ways to learn, and the Training page, the CLI and the worker all read them from here:

* ``fitted`` (PatchCore, PaDiM): one pass over the normal training images collects backbone
  features, then a fit (PatchCore's coreset selection, PaDiM's Gaussians); no epochs, no
  learning rate. anomalib's torch models do the work (``ml/models/anomaly.py``).
* ``trained`` (STFPM, FastFlow, Reverse Distillation, DRAEM): anomalib's torch
  models trained over epochs on normal images with their own losses.
* ``supervised``: a classification backbone with one logit, trained on normal AND defective
  images (the split must put defects in train), with a class-activation heat map.

The backbones' ImageNet weights come from the weights store under the backbone's name
(``backbone``), never from timm's or anomalib's downloads.
"""

from __future__ import annotations

from dataclasses import dataclass

FITTED, TRAINED, SUPERVISED = "fitted", "trained", "supervised"


@dataclass(frozen=True)
class AnomalyModel:
    name: str
    #: ``fitted`` | ``trained`` | ``supervised``
    kind: str
    #: anomalib's model package (``anomalib.models.image.<package>``); None: ours (supervised)
    package: str | None
    #: the ImageNet backbone whose weights start it (weights store name); None: it has none
    backbone: str | None
    #: feature layers of the backbone the model reads (anomalib's argument)
    layers: tuple[str, ...] = ()

    @property
    def normal_only(self) -> bool:
        return self.kind != SUPERVISED


ANOMALY_MODELS: dict[str, AnomalyModel] = {m.name: m for m in [
    AnomalyModel("patchcore_resnet18", FITTED, "patchcore", "resnet18", ("layer2", "layer3")),
    AnomalyModel("patchcore_wide_resnet50_2", FITTED, "patchcore", "wide_resnet50_2", ("layer2", "layer3")),
    AnomalyModel("padim_resnet18", FITTED, "padim", "resnet18", ("layer1", "layer2", "layer3")),
    AnomalyModel("padim_wide_resnet50_2", FITTED, "padim", "wide_resnet50_2", ("layer1", "layer2", "layer3")),
    AnomalyModel("stfpm_resnet18", TRAINED, "stfpm", "resnet18", ("layer1", "layer2", "layer3")),
    AnomalyModel("fastflow_resnet18", TRAINED, "fastflow", "resnet18"),
    AnomalyModel("reverse_distillation_resnet18", TRAINED, "reverse_distillation", "resnet18",
                 ("layer1", "layer2", "layer3")),
    AnomalyModel("draem", TRAINED, "draem", None),
    AnomalyModel("tiny_cnn", SUPERVISED, None, None),
    AnomalyModel("resnet18", SUPERVISED, None, "resnet18"),
    AnomalyModel("resnet34", SUPERVISED, None, "resnet34"),
    AnomalyModel("resnet50", SUPERVISED, None, "resnet50"),
    AnomalyModel("efficientnet_b0", SUPERVISED, None, "efficientnet_b0"),
]}


def anomaly_model(name: str) -> AnomalyModel | None:
    return ANOMALY_MODELS.get(name)


def weights_model(name: str) -> str:
    """The weights-store name whose file starts ``name`` (its backbone), or ``name`` itself."""
    info = ANOMALY_MODELS.get(name)
    return info.backbone if info is not None and info.backbone else name


__all__ = ["ANOMALY_MODELS", "AnomalyModel", "FITTED", "SUPERVISED", "TRAINED", "anomaly_model", "weights_model"]
