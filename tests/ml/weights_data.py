"""Real state dicts of small catalog architectures for the weights tests (built once)."""

from __future__ import annotations

import io
from functools import cache


@cache
def state_dict_bytes(arch: str = "mobilenet_v3_small", num_classes: int | None = None) -> bytes:
    """``torch.save(state_dict)`` of ``arch`` built untrained (mobilenet_v3_small: ~10 MB)."""
    import torch
    import torchvision.models as tvm

    torch.manual_seed(0)
    extra = {"num_classes": num_classes} if num_classes else {}
    model = tvm.get_model(arch, weights=None, **extra)
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.getvalue()
