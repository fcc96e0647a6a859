"""TorchScript: ``torch.jit.trace`` of the network in eval mode, frozen (batch-norm folded),
with the metadata as ``metadata.json`` inside the archive (``extra/`` in the zip).

Tracing records the operations run on one example; classification and regression networks have
no data-dependent control flow, and the traced graph accepts any batch size (checked by the
validation, which runs batches). A detector's per-image steps unroll into the trace: its graph
runs one image per call, which its metadata states (``batch`` = ``1``) and the runner follows. ``torch.jit`` is in maintenance in PyTorch 2.x: it still
loads in LibTorch (C++), the reason to offer it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...core.errors import InvalidInput
from .base import Exported, ExportOptions, Log, Runner, first_line, quiet

NAME = "torchscript"
FILE_NAME = "model.pt"
#: whether the file accepts any batch size whatever the dynamic-batch option (traced graphs do)
ANY_BATCH = True
METADATA_FILE = "metadata.json"


def export(network: nn.Module, example: torch.Tensor, options: ExportOptions, folder: Path, log: Log) -> Exported:
    if options.precision != "fp32":
        raise InvalidInput(f"TorchScript export is FP32 only, not {options.precision}")
    path = folder / FILE_NAME
    with quiet(log), torch.no_grad():
        traced = torch.jit.trace(network.eval(), example[:1], check_trace=False)
        traced = torch.jit.freeze(traced)
    torch.jit.save(traced, str(path), _extra_files={METADATA_FILE: json.dumps(options.metadata, ensure_ascii=False)})
    return Exported(path, "torch.jit.trace + freeze", [FILE_NAME])


def _load(path: Path) -> tuple[torch.jit.ScriptModule, dict[str, str]]:
    files = {METADATA_FILE: ""}
    try:
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=files)
    except Exception as exc:  # noqa: BLE001 - a damaged archive raises RuntimeError, zip errors...
        raise InvalidInput(f"cannot load this TorchScript file (damaged or not TorchScript): {first_line(exc)}",
                           path=path) from None
    raw = files[METADATA_FILE]
    try:
        meta = json.loads(raw) if raw else {}
    except ValueError:
        raise InvalidInput("its metadata.json is damaged", path=path) from None
    return module.eval(), meta if isinstance(meta, dict) else {}


def load(path: Path, threads: int = 1) -> Runner:
    module, meta = _load(path)
    names = json.loads(meta["outputs"]).keys() if meta.get("outputs") else ("logits", "probabilities")
    names = list(names)

    def run(x: np.ndarray) -> dict[str, np.ndarray]:
        with torch.no_grad():
            out = module(torch.from_numpy(x))
        out = out if isinstance(out, (tuple, list)) else (out,)
        return {n: o.numpy() for n, o in zip(names, out, strict=False)}

    # a graph traced with a fixed batch (a detector's unrolled per-image steps) says so in its metadata
    fixed = meta.get("batch", "dynamic")
    return Runner(run, int(fixed) if str(fixed).isdigit() else None, "TorchScript")


def read_metadata(path: Path) -> dict[str, str]:
    return {str(k): str(v) for k, v in _load(path)[1].items()}


__all__ = ["FILE_NAME", "NAME", "export", "load", "read_metadata"]
