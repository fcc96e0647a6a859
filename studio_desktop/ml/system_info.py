"""What this installation runs on: versions of the app and its ML stack, compute devices.

Read by ``studio diagnostics`` (the About dialog starts it as a subprocess: the GUI never
imports torch). Each library's version comes from its installed metadata when present and
from the imported module otherwise (a PyInstaller bundle carries modules, not metadata).
Nothing here raises: a library that cannot be loaded is reported with the reason.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
import sys

#: label -> (import name, distribution name)
LIBRARIES: dict[str, tuple[str, str]] = {
    "PyTorch": ("torch", "torch"),
    "torchvision": ("torchvision", "torchvision"),
    "Lightning": ("pytorch_lightning", "pytorch-lightning"),
    "torchmetrics": ("torchmetrics", "torchmetrics"),
    "ONNX": ("onnx", "onnx"),
    "ONNX Runtime": ("onnxruntime", "onnxruntime"),
    "OpenVINO": ("openvino", "openvino"),
    "NumPy": ("numpy", "numpy"),
    "Pillow": ("PIL", "pillow"),
    "PySide6": ("PySide6", "PySide6-Essentials"),
}


def library_version(module: str, dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return f"not available ({type(exc).__name__}: {exc})"
    return str(getattr(mod, "__version__", "installed"))


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def devices() -> list[dict]:
    """The CPU, then each CUDA GPU (name, memory) or Apple's MPS device."""
    out: list[dict] = [{"kind": "cpu", "name": cpu_name(), "cores": os.cpu_count() or 1}]
    try:
        import torch
    except Exception as exc:  # noqa: BLE001
        out[0]["note"] = f"PyTorch could not be loaded: {exc}"
        return out
    out[0]["threads"] = torch.get_num_threads()
    try:
        if torch.cuda.is_available():
            for i in range(torch.cuda.device_count()):
                p = torch.cuda.get_device_properties(i)
                out.append({"kind": "cuda", "index": i, "name": p.name,
                            "memory_gib": round(p.total_memory / 2**30, 1),
                            "capability": f"{p.major}.{p.minor}"})
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            out.append({"kind": "mps", "name": "Apple GPU (Metal)"})
    except Exception as exc:  # noqa: BLE001 - a broken driver is reported, not a crash
        out.append({"kind": "cuda", "name": "unavailable", "note": f"{type(exc).__name__}: {exc}"})
    return out


def collect() -> dict:
    from .. import __version__

    versions = {"AI Studio": __version__, "Python": platform.python_version()}
    versions.update({label: library_version(m, d) for label, (m, d) in LIBRARIES.items()})
    cuda = None
    try:
        import torch

        cuda = torch.version.cuda
    except Exception:  # noqa: BLE001
        pass
    return {
        "versions": versions,
        "cuda_build": cuda,
        "devices": devices(),
        "platform": platform.platform(),
        "executable": sys.executable,
        "frozen": bool(getattr(sys, "frozen", False)),
    }
