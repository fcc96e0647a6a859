"""OpenVINO IR (``model.xml`` + ``model.bin``), converted from the ONNX export with the
``openvino`` package; the metadata goes into the IR's ``rt_info`` under ``studio``.

Two OpenVINO defaults would change the numbers silently, so both are set explicitly:
``save_model`` compresses weights to FP16 unless told otherwise (done only for the fp16
precision), and the CPU plugin computes in bfloat16 on processors that support it (the
runtime is asked for f32, here, in the snippet and in ``load_exported``): on this machine's
CPU bf16 moved ResNet-50 logits by 0.06, f32 by 1e-5.

A task whose head must stay float32 (``ExportOptions.float_layers``: a regression's
de-normalisation) gets its FP16 weights compressed here instead, every float constant but those
the head reads: ``compress_to_fp16`` would clamp a target mean of 90 000 to FP16's 65 504.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...core.errors import InvalidInput
from . import onnx_format
from .base import Exported, ExportOptions, Log, Runner, first_line, quiet

NAME = "openvino"
FILE_NAME = "model.xml"
#: batch size is fixed at 1 unless the dynamic-batch option is set
ANY_BATCH = False
WEIGHTS = "model.bin"
SECTION = "studio"
#: compile settings used everywhere this app runs an IR (validation, latency, snippet, runtime)
RUNTIME_CONFIG = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}


#: ONNX op types (ExportOptions.float_layers) -> the OpenVINO operations they become
OV_LAYERS = {"Gemm": ("MatMul",), "MatMul": ("MatMul",), "Conv": ("Convolution", "GroupConvolution")}


def without_telemetry():
    """``openvino``, with its converter's usage telemetry made impossible.

    Why: ``openvino.convert_model`` sends usage data to Google Analytics unless the person has
    opted out with Intel's ``opt_in_out`` script (a consent file in their home folder). AI Studio
    promises that nothing leaves the machine; and offline, the forked process that sends waits on
    a DNS lookup and keeps the process that converted from exiting (seen: a test run that printed
    its summary and never exited, its telemetry child stuck in getaddrinfo). A ``None`` entry in
    ``sys.modules`` makes the converter's modules fall back to their own no-op stub; modules that
    already imported the real one get the stub set in their place."""
    sys.modules.setdefault("openvino_telemetry", None)
    import openvino as ov
    from openvino.tools.ovc import convert_impl, telemetry_stub, telemetry_utils, utils

    for module in (convert_impl, telemetry_utils, utils):
        module.tm = telemetry_stub
    return ov


def _convert(onnx_path: Path, xml: Path, metadata: dict[str, str], *, fp16_weights: bool, log: Log,
             float_layers: tuple[str, ...] | None = None) -> None:
    ov = without_telemetry()

    try:
        with quiet(log):
            model = ov.convert_model(str(onnx_path))
    except Exception as exc:  # noqa: BLE001 - conversion errors come in many types
        raise InvalidInput(f"OpenVINO cannot convert the ONNX file: {first_line(exc)}", path=onnx_path) from None
    for key, value in metadata.items():
        model.set_rt_info(value, [SECTION, key])
    if fp16_weights and float_layers is not None:
        layers = tuple(op for name in float_layers for op in OV_LAYERS.get(name, (name,)))
        _compress_body_weights(model, layers)
        fp16_weights = False
    ov.save_model(model, str(xml), compress_to_fp16=fp16_weights)


def _head_constants(model, layers: tuple[str, ...]) -> set[str]:
    """Names of the constants read by the nodes from each result back to the nearest of ``layers``
    (that layer's weights included)."""
    keep: set[str] = set()
    seen: set[str] = set()
    stack = [r.input_value(0).get_node() for r in model.get_results()]
    while stack:
        node = stack.pop()
        if node.get_name() in seen:
            continue
        seen.add(node.get_name())
        for value in node.input_values():
            source = value.get_node()
            if source.get_type_name() == "Constant":
                keep.add(source.get_name())
            elif node.get_type_name() not in layers:
                stack.append(source)
    return keep


def _compress_body_weights(model, layers: tuple[str, ...]) -> None:
    """What ``compress_to_fp16`` does (FP16 constants decompressed to f32 when the model runs), for
    every float32 constant but the head's."""
    import numpy as np
    import openvino as ov
    import openvino.opset13 as ops

    keep = _head_constants(model, layers)
    for node in model.get_ordered_ops():
        if node.get_type_name() == "Constant" and node.get_element_type() == ov.Type.f32 \
                and node.get_name() not in keep and node.get_output_size() == 1:
            half = ops.convert(ops.constant(node.get_data().astype(np.float16)), ov.Type.f32)
            node.output(0).replace(half.output(0))
    model.validate_nodes_and_infer_types()


def export(network: nn.Module, example: torch.Tensor, options: ExportOptions, folder: Path, log: Log) -> Exported:
    scratch = options.scratch or folder
    onnx_fp32 = scratch / "model.fp32.onnx"
    exporter, opset = onnx_format.export_fp32(network, example, options, onnx_fp32, log)
    source = onnx_fp32
    if options.precision == "int8":  # OpenVINO runs ONNX Runtime's QDQ graph in int8
        source = onnx_format.convert_precision(onnx_fp32, scratch / "model.int8.onnx", options, log)
    xml = folder / FILE_NAME
    _convert(source, xml, options.metadata, fp16_weights=options.precision == "fp16", log=log,
             float_layers=options.float_layers)
    fp32_path = None
    if options.precision != "fp32":
        fp32_path = scratch / "fp32" / FILE_NAME
        fp32_path.parent.mkdir(parents=True, exist_ok=True)
        _convert(onnx_fp32, fp32_path, options.metadata, fp16_weights=False, log=log)
    how = {"fp32": "", "fp16": " + FP16 weights", "int8": " + onnxruntime int8 QDQ"}[options.precision]
    return Exported(xml, f"{exporter} -> openvino.convert_model{how}", [FILE_NAME, WEIGHTS], fp32_path=fp32_path,
                    opset=opset)


def _read(path: Path):
    import openvino as ov

    if not path.with_suffix(".bin").is_file():
        raise InvalidInput(f"the weights file {path.with_suffix('.bin').name} is missing beside it", path=path)
    try:
        return ov.Core(), ov.Core().read_model(str(path))
    except Exception as exc:  # noqa: BLE001
        raise InvalidInput(f"OpenVINO cannot read this file (damaged or not an IR): {first_line(exc)}",
                           path=path) from None


class _Session:
    """A compiled model and its request; releasing it repairs the thread's signal stack, which
    OpenVINO's CPU plugin can leave pointing at freed memory (see ``ml/native.py``)."""

    def __init__(self, core, compiled):
        self.core, self.compiled = core, compiled
        self.request = compiled.create_infer_request()
        #: (name, port) for every name of each output (a port keeps the compiled model alive: it is
        #: held here). An output can carry several tensor names (the TorchScript-based ONNX exporter's
        #: graph gives the de-normalised 'values' an inner name too) and ``any_name`` may pick either
        self.outputs = [(name, o) for o in compiled.outputs for name in sorted(o.get_names()) or [o.any_name]]

    def __del__(self):
        self.outputs = []
        self.request = self.compiled = self.core = None  # the plugin restores its stacks now
        from ..native import repair_signal_stack

        repair_signal_stack()


def load(path: Path, threads: int = 1) -> Runner:
    core, model = _read(path)
    try:
        compiled = core.compile_model(model, "CPU", {**RUNTIME_CONFIG, "INFERENCE_NUM_THREADS": max(1, int(threads))})
    except Exception as exc:  # noqa: BLE001
        raise InvalidInput(f"OpenVINO cannot compile this model: {first_line(exc)}", path=path) from None
    session = _Session(core, compiled)
    del compiled  # held by the session only, so that releasing the session releases it
    dim = model.inputs[0].get_partial_shape()[0]
    batch = None if dim.is_dynamic else int(dim.get_length())

    def run(x: np.ndarray) -> dict[str, np.ndarray]:
        result = session.request.infer({0: x})
        return {name: np.array(result[port]) for name, port in session.outputs}

    return Runner(run, batch, "OpenVINO")


def read_metadata(path: Path) -> dict[str, str]:
    _, model = _read(path)
    info = model.get_rt_info()
    if SECTION not in info:
        return {}
    return {k: v.astype(str) for k, v in info[SECTION].items()}


__all__ = ["FILE_NAME", "NAME", "RUNTIME_CONFIG", "export", "load", "read_metadata"]
