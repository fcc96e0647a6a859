"""Classification networks: torchvision backbones with a head sized to the project's classes.

Each builder also tells which modules are the backbone *stages* (in order, input first) and
which is the *head*, so the fine-tuning modes (linear probe, partial unfreeze) work the same
for every architecture.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ...core.errors import InvalidInput
from .weights import load_pretrained

TORCHVISION = ("resnet18", "resnet34", "resnet50", "efficientnet_b0", "efficientnet_b3",
               "mobilenet_v3_small", "mobilenet_v3_large", "convnext_tiny")


class TinyCNN(nn.Module):
    """Four conv blocks and a linear layer: ~0.1 M parameters, trains in seconds on a CPU.

    For tests and for teaching (every layer is visible in a few lines)."""

    def __init__(self, num_classes: int, width: int = 16):
        super().__init__()

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                                 nn.ReLU(inplace=True), nn.MaxPool2d(2))

        w = width
        self.features = nn.Sequential(block(3, w), block(w, 2 * w), block(2 * w, 4 * w), block(4 * w, 8 * w))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8 * w, num_classes)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


def _replace_last_linear(seq: nn.Sequential, num_classes: int) -> None:
    for i in range(len(seq) - 1, -1, -1):
        if isinstance(seq[i], nn.Linear):
            seq[i] = nn.Linear(seq[i].in_features, num_classes)
            return
    raise RuntimeError("no linear layer in the classifier")  # pragma: no cover


def build_classifier(name: str, num_classes: int, *, pretrained: bool = True, weights_file: str | None = None,
                     log: Callable[[str, str], None] = lambda m, lvl: None,
                     on_weights: Callable[[dict], None] | None = None) -> nn.Module:
    """The network ``name`` with ``num_classes`` outputs, pretrained where weights exist offline.

    ``on_weights`` receives what the experiment records about the weights that were loaded."""
    if num_classes < 1:
        raise InvalidInput("the project has no classes to train on")
    if name == "tiny_cnn":
        model: nn.Module = TinyCNN(num_classes)
        if pretrained or weights_file:  # only a file the user imported or chose: it has no official ones
            _load(model, name, weights_file, log, on_weights)
        return model
    if name not in TORCHVISION:
        raise InvalidInput(f"invalid training setting 'model': unknown classification model '{name}'")
    import torchvision.models as tvm

    model = tvm.get_model(name, weights=None)  # never downloads: weights are loaded below, offline
    if pretrained or weights_file:
        _load(model, name, weights_file, log, on_weights)
    if name.startswith("resnet"):
        model.fc = nn.Linear(model.fc.in_features, num_classes)
    else:  # efficientnet, mobilenet_v3, convnext: classifier is a Sequential ending in a Linear
        _replace_last_linear(model.classifier, num_classes)
    return model


def _load(model, name, weights_file, log, on_weights) -> None:
    record = load_pretrained(model, name, weights_file, log)
    if record is not None and on_weights is not None:
        on_weights(record)


def split_stages(model: nn.Module) -> tuple[list[nn.Module], nn.Module]:
    """``(backbone stages input-first, head)`` of a network built by :func:`build_classifier`."""
    if hasattr(model, "finetune_parts"):  # a network that states its own (the detectors)
        return model.finetune_parts()
    if isinstance(model, TinyCNN):
        return list(model.features), model.fc
    if hasattr(model, "layer4"):  # resnet
        stem = nn.ModuleList([model.conv1, model.bn1])
        return [stem, model.layer1, model.layer2, model.layer3, model.layer4], model.fc
    if hasattr(model, "features") and hasattr(model, "classifier"):
        return list(model.features), model.classifier
    raise InvalidInput(f"fine-tuning modes are not supported for {type(model).__name__}")


def apply_finetune(model: nn.Module, mode: str, unfreeze_stages: int) -> list[nn.Module]:
    """Freeze what the fine-tuning mode says; return the frozen modules (kept in eval mode so that
    their batch-norm statistics stay those of the pretrained network)."""
    if mode == "full":
        return []
    stages, head = split_stages(model)
    keep = 0 if mode == "linear_probe" else max(0, min(unfreeze_stages, len(stages)))
    frozen = stages[: len(stages) - keep]
    for module in frozen:
        for p in module.parameters():
            p.requires_grad_(False)
    for p in head.parameters():
        p.requires_grad_(True)
    return frozen
