"""ONNX: ``torch.onnx.export`` (the dynamo exporter, or the TorchScript-based one where dynamo
cannot), metadata in ``metadata_props``, ``onnx.checker``, FP16/INT8 with ONNX Runtime.

The dynamo exporter silently keeps opset 18 when asked for an older one (its version converter
fails on these graphs); an older opset therefore goes to the TorchScript-based exporter, and the
opset written in the file is the one reported.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...core.errors import InvalidInput
from .base import Exported, ExportOptions, Log, Runner, first_line, quiet
from .precision import set_metadata, to_fp16, to_int8

NAME = "onnx"
FILE_NAME = "model.onnx"
#: batch size is fixed at 1 unless the dynamic-batch option is set
ANY_BATCH = False
#: the oldest opset the dynamo exporter writes itself
DYNAMO_MIN_OPSET = 18
#: protobuf's limit on one ONNX file (the weights are stored inside it), and room kept for the graph
SIZE_LIMIT_BYTES = 2 * 1024 ** 3
SIZE_MARGIN_BYTES = 64 * 1024 ** 2


def tensor_bytes(network: nn.Module) -> int:
    """Bytes of every parameter and buffer of ``network`` (what the file stores), each tensor once."""
    seen: dict[int, int] = {}
    for t in [*network.parameters(), *network.buffers()]:
        seen[id(t)] = t.numel() * t.element_size()
    return sum(seen.values())


def check_size(network: nn.Module, limit: int = SIZE_LIMIT_BYTES) -> None:
    """Refuse, before exporting, a network whose weights would pass ONNX's 2 GB limit (a large PatchCore
    memory bank); the network's ``size_hint()``, when it has one, says what to do instead."""
    total = tensor_bytes(network)
    if total + SIZE_MARGIN_BYTES <= limit:
        return
    hint = network.size_hint() if hasattr(network, "size_hint") else "export to TorchScript, which has no such limit"
    raise InvalidInput(f"the model's weights take {total / 1e9:.2f} GB: an ONNX file cannot pass "
                       f"{limit / 1024 ** 3:.0f} GB", hint=hint)


def _file_opset(path: Path) -> int | None:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), None)


def _export_dynamo(network: nn.Module, example: torch.Tensor, options: ExportOptions, path: Path, log: Log) -> None:
    dynamic = ({0: torch.export.Dim("batch", min=1, max=4096)},) if options.dynamic_batch else None
    with quiet(log):
        torch.onnx.export(network, (example,), str(path), dynamo=True, opset_version=options.opset,
                          input_names=[options.input_name], output_names=list(options.output_names),
                          dynamic_shapes=dynamic, external_data=False, optimize=True, verbose=False)


def _export_torchscript_based(network: nn.Module, example: torch.Tensor, options: ExportOptions, path: Path,
                              log: Log) -> None:
    axes = None
    if options.dynamic_batch:
        axes = {name: {0: "batch"} for name in (options.input_name, *options.output_names)}
    with quiet(log):
        torch.onnx.export(network, (example,), str(path), dynamo=False, opset_version=options.opset,
                          input_names=[options.input_name], output_names=list(options.output_names),
                          dynamic_axes=axes, do_constant_folding=True)


def export_fp32(network: nn.Module, example: torch.Tensor, options: ExportOptions, path: Path,
                log: Log) -> tuple[str, int | None]:
    """Write the FP32 ONNX file with its metadata and check it; returns (exporter, opset)."""

    if options.onnx_source is not None:
        shutil.copyfile(options.onnx_source, path)
        log(f"ONNX graph reused from export {options.reused_from} (same checkpoint, opset, batch and "
            "operating point)")
        _finish(path, options)
        return f"torch.onnx graph of export {options.reused_from}", _file_opset(path)
    check_size(network)
    # a dynamic batch needs an example of at least 2 (torch.export specialises a size of 1)
    example = example[:2] if options.dynamic_batch else example[:1]
    if options.dynamic_batch and len(example) < 2:
        example = torch.cat([example, example])
    exporter = "torch.onnx (dynamo)"
    try:
        if options.exporter == "torchscript":
            raise _UseTorchScript("this model exports with the TorchScript-based exporter (dynamo cannot trace it)")
        if options.opset < DYNAMO_MIN_OPSET:
            raise _UseTorchScript(f"opset {options.opset} is older than the dynamo exporter writes")
        _export_dynamo(network, example, options, path, log)
        if _file_opset(path) != options.opset:
            raise _UseTorchScript(f"the dynamo exporter wrote opset {_file_opset(path)}, not {options.opset}")
    except Exception as exc:  # noqa: BLE001 - DESIGN §11: some models need the older exporter
        reason = str(exc) if isinstance(exc, _UseTorchScript) else f"the dynamo exporter failed: {first_line(exc)}"
        log(f"{reason}; using the TorchScript-based ONNX exporter", "info")
        path.unlink(missing_ok=True)
        try:
            _export_torchscript_based(network, example, options, path, log)
        except Exception as exc2:  # noqa: BLE001
            raise InvalidInput(f"this model cannot be exported to ONNX opset {options.opset}: {first_line(exc2)}",
                               hint="try another opset (18 is the most widely supported)") from None
        exporter = "torch.onnx (TorchScript-based)"
    _finish(path, options)
    return exporter, _file_opset(path)


def _finish(path: Path, options: ExportOptions) -> None:
    """Embed the metadata and check the file."""
    import onnx

    model = onnx.load(str(path))
    set_metadata(model, options.metadata)
    model.doc_string = options.metadata.get("preprocessing", "")
    onnx.save(model, str(path))
    check(path)


def check(path: Path) -> None:
    """``onnx.checker`` with shape inference; a file that fails it is never offered."""
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:  # noqa: BLE001 - checker raises several types
        raise InvalidInput(f"the exported file does not pass onnx.checker: {first_line(exc)}", path=path) from None


def export(network: nn.Module, example: torch.Tensor, options: ExportOptions, folder: Path, log: Log) -> Exported:
    path = folder / FILE_NAME
    if options.precision == "fp32":
        exporter, opset = export_fp32(network, example, options, path, log)
        return Exported(path, exporter, [FILE_NAME], opset=opset)
    scratch = options.scratch or folder
    fp32 = scratch / "model.fp32.onnx"
    exporter, opset = export_fp32(network, example, options, fp32, log)
    convert_precision(fp32, path, options, log)
    check(path)
    return Exported(path, exporter + f" + onnxruntime {options.precision}", [FILE_NAME], fp32_path=fp32, opset=opset)


def convert_precision(fp32: Path, dst: Path, options: ExportOptions, log: Log) -> Path:
    """The FP16 or INT8 version of an FP32 ONNX file (metadata carried over)."""
    if options.precision == "fp16":
        return to_fp16(fp32, dst, options.metadata, output_names=options.output_names,
                       float_layers=options.float_layers)
    if options.precision == "int8":
        return to_int8(fp32, dst, options.metadata, mode=options.quantization, calibration=options.calibration,
                       input_name=options.input_name, output_names=options.output_names, log=log,
                       float_layers=options.float_layers)
    shutil.copyfile(fp32, dst)
    return dst


def load(path: Path, threads: int = 1) -> Runner:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = max(1, int(threads))
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - a damaged file raises several types
        raise InvalidInput(f"ONNX Runtime cannot load this file (damaged or not an ONNX model): {first_line(exc)}",
                           path=path) from None
    inp = session.get_inputs()[0]
    names = [o.name for o in session.get_outputs()]
    batch = inp.shape[0] if isinstance(inp.shape[0], int) else None

    def run(x: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(names, session.run(names, {inp.name: x}), strict=True))

    return Runner(run, batch, "ONNX Runtime")


def read_metadata(path: Path) -> dict[str, str]:
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf raises DecodeError, OSError...
        raise InvalidInput(f"cannot read this ONNX file (damaged or not ONNX): {first_line(exc)}", path=path) from None
    return {p.key: p.value for p in model.metadata_props}


class _UseTorchScript(Exception):
    """The dynamo exporter cannot honour the request: use the TorchScript-based one."""


__all__ = ["FILE_NAME", "NAME", "SIZE_LIMIT_BYTES", "check", "check_size", "convert_precision", "export", "export_fp32", "load", "read_metadata"]
