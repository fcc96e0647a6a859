"""FP16 and INT8 versions of an FP32 ONNX file, with ONNX Runtime's own tools.

- FP16: ``onnxruntime.transformers.float16.convert_float_to_float16`` (shipped with
  onnxruntime; no extra package), inputs and outputs kept float32 so callers feed the same
  arrays whatever the precision; the graph is then sorted again (the converter appends the
  input casts at the end, which ``onnx.checker`` refuses). A task may keep its head float32
  (a regression's de-normalisation: values beyond 65504 overflow FP16).
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


def to_fp16(src: Path, dst: Path, metadata: dict[str, str], *, output_names: tuple[str, ...] = (),
            float_layers: tuple[str, ...] | None = None) -> Path:
    """The FP16 file; with ``float_layers``, the head (see :func:`float_head`) stays float32."""
    import onnx

    model = onnx.load(str(src))
    if float_layers is None:
        model = _fp16(model)
    else:
        model = _fp16_body(model, output_names, float_layers)
    set_metadata(model, metadata)
    onnx.save(model, str(dst))
    return dst


def _fp16(model):
    """The converter, inputs and outputs kept float32, the graph sorted again."""
    from onnxruntime.transformers.float16 import convert_float_to_float16
    from onnxruntime.transformers.onnx_model import OnnxModel

    with quiet():
        model = convert_float_to_float16(model, keep_io_types=True)
        # the converter appends the input casts at the end of the graph: onnx.checker wants order
        wrapped = OnnxModel(model)
        wrapped.topological_sort()
    return wrapped.model


def _fp16_body(model, output_names: tuple[str, ...], layers: tuple[str, ...]):
    """FP16 for everything but the head: the head's nodes are taken out, the rest converted with
    the tensors the head reads as float32 outputs, then the head put back unchanged. (The
    converter's own block list casts between two blocked nodes through FP16, which would
    overflow a value above 65504 and round the rest.)"""
    import onnx
    from onnx import helper
    from onnxruntime.transformers.onnx_model import OnnxModel

    _ensure_node_names(model)
    head_names = set(float_head(model, output_names, layers))
    head = [n for n in model.graph.node if n.name in head_names]
    body = [n for n in model.graph.node if n.name not in head_names]
    produced = {o for n in body for o in n.output}
    used_by_body = {i for n in body for i in n.input}
    inits = {t.name: t for t in model.graph.initializer}
    head_inputs = list(dict.fromkeys(i for n in head for i in n.input if i))
    boundary = [i for i in head_inputs if i in produced]
    head_inits = [inits[i] for i in head_inputs if i in inits and i not in used_by_body]
    typed = {v.name: v for v in onnx.shape_inference.infer_shapes(model).graph.value_info}
    missing = [b for b in boundary if b not in typed]
    if missing:
        raise InvalidInput(f"cannot keep the output layers in float32: no type for {', '.join(missing)}")
    part = helper.make_model(
        helper.make_graph(body, "body", list(model.graph.input), [typed[b] for b in boundary],
                          [t for name, t in inits.items() if name in used_by_body]),
        opset_imports=list(model.opset_import), ir_version=model.ir_version)
    part = _fp16(part)
    graph = helper.make_graph(list(part.graph.node) + head, model.graph.name, list(part.graph.input),
                              list(model.graph.output), list(part.graph.initializer) + head_inits)
    out = helper.make_model(graph, opset_imports=list(model.opset_import), ir_version=model.ir_version,
                            producer_name=model.producer_name, producer_version=model.producer_version)
    wrapped = OnnxModel(out)
    wrapped.topological_sort()
    return wrapped.model


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


def float_head(model, output_names: tuple[str, ...], layers: tuple[str, ...]) -> list[str]:
    """Names of the nodes from each output back to the nearest node of an op type in ``layers``
    (the last layer, included): what must stay float for the outputs to keep their range and
    resolution (a regression's de-normalisation: a price overflows FP16, INT8 rounds it)."""
    producers = {out: node for node in model.graph.node for out in node.output}
    keep: list[str] = []
    stack = [n for n in output_names if n in producers]
    while stack:
        node = producers.get(stack.pop())
        if node is None or node.name in keep:
            continue
        keep.append(node.name)
        if node.op_type not in layers:
            stack += [i for i in node.input if i in producers]
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
            output_names: tuple[str, ...] = ("logits", "probabilities"), log: Log | None = None,
            float_layers: tuple[str, ...] | None = None) -> Path:
    """The INT8 file. Static quantization keeps float the logits layer and the softmax
    (:func:`_head_nodes`), or with ``float_layers`` every node from the outputs back to the
    nearest such layer (:func:`float_head`)."""
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
                quantize_dynamic(str(prepared), str(dst), weight_type=QuantType.QInt8, per_channel=True,
                                 nodes_to_exclude=None if float_layers is None
                                 else float_head(model, output_names, float_layers))
            else:
                if calibration is None:
                    raise InvalidInput("static INT8 quantization needs calibration images")
                quantize_static(str(prepared), str(dst), _Calibration(input_name, calibration()),
                                quant_format=QuantFormat.QDQ, per_channel=True,
                                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                                calibrate_method=CalibrationMethod.MinMax,
                                nodes_to_exclude=_head_nodes(model, output_names) if float_layers is None
                                else float_head(model, output_names, float_layers))
    finally:
        if prepared != src:
            prepared.unlink(missing_ok=True)
    model = onnx.load(str(dst))
    set_metadata(model, metadata)
    onnx.save(model, str(dst))
    return dst


__all__ = ["float_head", "set_metadata", "to_fp16", "to_int8"]
