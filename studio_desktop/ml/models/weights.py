"""Pretrained weights, offline: the torch hub cache or a file the user chose, never the network.

torchvision would download missing weights (and hang or fail without internet). We look for
the exact file its weights enum names in ``torch.hub.get_dir()/checkpoints`` and load it
ourselves; when it is not there the caller trains from scratch and says so.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from ...core.errors import InvalidInput

NOT_OFFLINE = "pretrained weights not available offline — training from scratch"


def pretrained_cache_path(arch: str) -> Path | None:
    """Where torchvision's default ImageNet weights of ``arch`` live in the hub cache (may not exist)."""
    try:
        from torchvision.models import get_model_weights

        url = get_model_weights(arch).DEFAULT.url
    except (ValueError, AttributeError, KeyError):
        return None
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def _read_state(path: Path) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets one clear message
        raise InvalidInput(f"cannot read the weights file: {str(exc).splitlines()[0][:200]}", path=path) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise InvalidInput("is not a PyTorch state dict", path=path)
    return state


def load_pretrained(model: nn.Module, arch: str, weights_file: str | None,
                    log: Callable[[str, str], None]) -> str | None:
    """Load ImageNet (or user) weights into ``model`` where shapes match; return their source.

    The classification head usually differs (1000 ImageNet classes vs the project's): those
    tensors are skipped and stay randomly initialised. Returns None (after logging the
    warning) when no weights are available offline.
    """
    path = Path(weights_file).expanduser() if weights_file else pretrained_cache_path(arch)
    if weights_file and not path.is_file():
        raise InvalidInput("weights file not found", path=path)
    if path is None or not path.is_file():
        log(NOT_OFFLINE, "warning")
        return None
    state = _read_state(path)
    own = model.state_dict()
    usable = {k.removeprefix("model."): v for k, v in state.items()}
    usable = {k: v for k, v in usable.items() if k in own and own[k].shape == v.shape}
    if not usable:
        raise InvalidInput(f"no tensor of this file fits the {arch} model (is it for another architecture?)",
                           path=path)
    model.load_state_dict(usable, strict=False)
    skipped = len(own) - len(usable)
    log(f"loaded pretrained weights from {path} ({len(usable)} tensors; {skipped} new, e.g. the head)", "info")
    return str(path)
