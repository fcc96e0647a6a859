"""The export formats: one explicit dict, from which the CLI, the worker and the tests derive.

Each value is a module implementing the contract of ``base.py``. The torch-free facts about a
format (title, file name, package, precisions) live in ``core.exports.FORMATS`` for the GUI;
a test keeps the two dicts in step.
"""

from __future__ import annotations

from types import ModuleType

from ...core.exports import format_info
from . import onnx_format, openvino_format, torchscript_format

FORMATS: dict[str, ModuleType] = {
    "onnx": onnx_format,
    "torchscript": torchscript_format,
    "openvino": openvino_format,
}


def get_format(name: str) -> ModuleType:
    format_info(name)  # the one "unknown format" message
    return FORMATS[name]


def format_of_file(path) -> str | None:
    """The format of a model file by its name (model.onnx, model.pt, model.xml)."""
    suffix = str(path).lower().rsplit(".", 1)[-1]
    return {"onnx": "onnx", "pt": "torchscript", "xml": "openvino"}.get(suffix)


__all__ = ["FORMATS", "format_of_file", "get_format"]
