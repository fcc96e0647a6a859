"""FP16 and INT8 versions of an FP32 ONNX file, with ONNX Runtime's own tools.

- FP16: ``onnxruntime.transformers.float16.convert_float_to_float16`` (shipped with
  onnxruntime; no extra package), inputs and outputs kept float32 so callers feed the same
  arrays whatever the precision; the graph is then sorted again (the converter appends the
  input casts at the end, which ``onnx.checker`` refuses).
- INT8 static: ``quantize_static`` in QDQ format, per-channel int8 weights and uint8
  activations whose ranges are calibrated (min-max) on training images; the decision layer
  (the node that produces the logits) and the softmax stay in float so the scores keep
  their resolution.
- INT8 dynamic: ``quantize_dynamic``: int8 weights, activations quantized on the fly; no
  calibration, but on convolutional networks usually slower than FP32 on a CPU (measured and
  reported in the export's latency table).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from ...core.errors import InvalidInput
from .base import Log, first_line, quiet


def set_metadata(model, metadata: dict[str, str]) -> None:
    """Replace an ONNX model's ``metadata_props`` with ``metadata``."""
    del model.metadata_props[:]
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def to_fp16(src: Path, dst: Path, metadata: dict[str, str]) -> Path:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16
    from onnxruntime.transformers.onnx_model import OnnxModel

    with quiet():
        model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
        # the converter appends the input casts at the end of the graph: onnx.checker wants order
        wrapped = OnnxModel(model)
        wrapped.topological_sort()
        model = wrapped.model
    set_metadata(model, metadata)
    onnx.save(model, str(dst))
    return dst


def _head_nodes(model, output_names: tuple[str, ...]) -> list[str]:
    """Names of the nodes that compute the outputs from the logits (softmax path) and the node
    that computes the logits: kept in float by static quantization."""
    producers = {out: node for node in model.graph.node for out in node.output}
    keep: list[str] = []
    logits = output_names[0]
    if logits in producers:
        keep.append(producers[logits].name)
    for name in output_names[1:]:
        stack = [name]
        while stack:
            node = producers.get(stack.pop())
            if node is None or node.name in keep:
                continue
            keep.append(node.name)
            stack += [i for i in node.input if i != logits and i in producers]
    return [k for k in keep if k]


def _ensure_node_names(model) -> None:
    for i, node in enumerate(model.graph.node):
        if not node.name:
            node.name = f"{node.op_type}_{i}"


class _Calibration:
    """onnxruntime's CalibrationDataReader over an iterable of (1, 3, S, S) arrays."""

    def __init__(self, input_name: str, images: Iterable[np.ndarray]):
        self.input_name = input_name
        self._it = iter(images)

    def get_next(self):
        x = next(self._it, None)
        return None if x is None else {self.input_name: np.ascontiguousarray(x, dtype=np.float32)}

    def rewind(self):  # pragma: no cover - only some calibration methods rewind
        raise RuntimeError("calibration images can be read once")


def to_int8(src: Path, dst: Path, metadata: dict[str, str], *, mode: str = "static",
            calibration: Callable[[], Iterable[np.ndarray]] | None = None, input_name: str = "input",
            output_names: tuple[str, ...] = ("logits", "probabilities"), log: Log | None = None) -> Path:
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    log = log or (lambda *a, **k: None)
    prepared = dst.with_name(dst.stem + ".prepared.onnx")
    try:
        with quiet(log):
            quant_pre_process(str(src), str(prepared), skip_symbolic_shape=False)
    except Exception as exc:  # noqa: BLE001 - the optimisation is optional; quantize the plain graph
        log(f"quantization pre-processing skipped ({first_line(exc)})", "warning")
        prepared = src
    model = onnx.load(str(prepared))
    _ensure_node_names(model)
    onnx.save(model, str(prepared))
    try:
        with quiet(log):
            if mode == "dynamic":
                quantize_dynamic(str(prepared), str(dst), weight_type=QuantType.QInt8, per_channel=True)
            else:
                if calibration is None:
                    raise InvalidInput("static INT8 quantization needs calibration images")
                quantize_static(str(prepared), str(dst), _Calibration(input_name, calibration()),
                                quant_format=QuantFormat.QDQ, per_channel=True,
                                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                                calibrate_method=CalibrationMethod.MinMax,
                                nodes_to_exclude=_head_nodes(model, output_names))
    finally:
        if prepared != src:
            prepared.unlink(missing_ok=True)
    model = onnx.load(str(dst))
    set_metadata(model, metadata)
    onnx.save(model, str(dst))
    return dst


__all__ = ["set_metadata", "to_fp16", "to_int8"]
