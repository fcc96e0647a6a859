"""The contract every export format implements (one small module each, listed in ``registry.py``).

A format module provides::

    NAME, FILE_NAME, ANY_BATCH                                      # ANY_BATCH: accepts any batch anyway
    export(network, example, options, folder, log) -> Exported   # write the model file(s) into folder
    load(path, threads) -> Runner                                   # run it back, numpy in and out
    read_metadata(path) -> dict[str, str]                           # the embedded metadata, as written

and the pipeline does the rest the same way for all of them: validation on real images,
latency, the usage snippet and ``export.json``. A format adds no branch anywhere else.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...core.exports import DEFAULT_OPSET

Log = Callable[..., None]


@dataclass
class ExportOptions:
    """What the user asked for, plus what the pipeline prepared for the format."""

    precision: str = "fp32"
    opset: int = DEFAULT_OPSET
    dynamic_batch: bool = False
    #: int8: "static" (calibrated on training images) or "dynamic" (weights only)
    quantization: str = "static"
    #: int8 static: a fresh iterator of preprocessed training images (1, 3, S, S) float32 per call
    calibration: Callable[[], Iterable[np.ndarray]] | None = None
    #: the strings embedded in the file (metadata.build)
    metadata: dict[str, str] = field(default_factory=dict)
    input_name: str = "input"
    output_names: tuple[str, ...] = ("logits", "probabilities")
    #: FP16/INT8: op types where the task's float head begins (every node from the outputs back to
    #: the nearest of them stays float32); None: the default (INT8 keeps the logits layer and the
    #: softmax float, FP16 converts everything)
    float_layers: tuple[str, ...] | None = None
    #: ONNX: "auto" (dynamo, the TorchScript-based exporter where dynamo cannot) or "torchscript"
    #: (the task's models need it: torchvision detectors, DESIGN §11)
    exporter: str = "auto"
    #: a folder for intermediate files (removed by the pipeline)
    scratch: Path | None = None
    #: an FP32 ONNX file of the same network already exported and validated (same checkpoint,
    #: opset, batch and operating point): formats that start from ONNX copy it instead of
    #: exporting again, and say so (``reused_from`` names its export)
    onnx_source: Path | None = None
    reused_from: str = ""


@dataclass
class Exported:
    """What a format wrote: the model file, the other files that belong to it, how it was made,
    and for FP16/INT8 the same network in FP32 (in scratch) to measure what the precision costs."""

    path: Path
    exporter: str
    files: list[str] = field(default_factory=list)
    fp32_path: Path | None = None
    opset: int | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Runner:
    """A loaded exported model: ``runner(batch)`` -> {output name: array}."""

    run: Callable[[np.ndarray], dict[str, np.ndarray]]
    #: the batch size the file accepts (None: any)
    batch: int | None
    runtime: str

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        return self.run(np.ascontiguousarray(batch, dtype=np.float32))

    def run_all(self, images: np.ndarray, chunk: int = 16) -> dict[str, np.ndarray]:
        """Any number of images, in batches the file accepts."""
        step = self.batch or chunk
        parts: dict[str, list[np.ndarray]] = {}
        for i in range(0, len(images), step):
            for name, value in self(images[i:i + step]).items():
                parts.setdefault(name, []).append(value)
        return {k: np.concatenate(v) for k, v in parts.items()}


@contextlib.contextmanager
def quiet(log: Log | None = None) -> Iterator[None]:
    """Exporters print progress to stdout, which is the worker's protocol channel: capture it
    (and their warnings) and pass it to the log instead."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), warnings.catch_warnings(record=True) as caught:
        try:
            yield
        finally:
            if log is not None:
                seen = set()
                for w in caught:
                    text = str(w.message).strip().splitlines()[0][:300] if str(w.message).strip() else ""
                    if text and text not in seen:
                        seen.add(text)
                        log(f"{w.category.__name__}: {text}", "debug")


def first_line(exc: BaseException, limit: int = 300) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0][:limit] if text else type(exc).__name__)


__all__ = ["ExportOptions", "Exported", "Log", "Runner", "first_line", "quiet"]
