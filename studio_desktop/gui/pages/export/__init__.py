"""Export page: export a trained model (ONNX, TorchScript, OpenVINO; FP32, FP16, INT8), see how it
was checked against PyTorch and how fast it runs, and take its usage snippet."""

from .page import ExportPage

__all__ = ["ExportPage"]
