"""Exporters (DESIGN §10): a format registry, each format one small module behind one contract.

- ``registry.py``: the formats (onnx, torchscript, openvino); ``base.py``: the contract.
- ``metadata.py``: what every file says about itself; ``snippet.py``: the usage script.
- ``precision.py``: FP16 and INT8 with ONNX Runtime; ``validation.py``: the checks on real
  images; ``latency.py``: the speed table; ``samples.py``: which images.
- ``pipeline.py``: one export from checkpoint to ``export.json``; ``runtime.py``: loading an
  exported file back (prediction uses it).
- ``tasks.py``: what differs per task (the exported network, its outputs, their metadata, the
  checks and the metric), one entry per task: classification there, ``regression.py``,
  ``detection.py`` (one output ``detections``, batch 1, the TorchScript-based ONNX exporter) with
  its checks in ``detection_checks.py`` (boxes paired per image).

Importing this package imports torch (the pipeline); the format modules import their own
package (onnx, openvino) only when they run.
"""
