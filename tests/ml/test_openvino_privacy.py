"""OpenVINO conversion sends nothing anywhere: its converter's usage telemetry (Google Analytics,
on unless the person opted out with Intel's script) is replaced by its own no-op stub."""

from __future__ import annotations

import multiprocessing.process
import socket

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("openvino")

from studio_desktop.ml.export import openvino_format  # noqa: E402

pytestmark = pytest.mark.ml


def test_converting_to_openvino_starts_no_sender_and_looks_up_no_address(tmp_path, monkeypatch):
    # what makes Intel's telemetry send: no opt-out file in the home folder, not a CI job
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in ("CI", "TF_BUILD", "JENKINS_URL"):
        monkeypatch.delenv(var, raising=False)
    started, looked_up = [], []

    def no_process(self):
        started.append(self)  # the sender is a forked multiprocessing.Process

    def no_lookup(host, *args, **kwargs):
        looked_up.append(host)
        raise OSError("no network in this test")

    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", no_process)
    monkeypatch.setattr(socket, "getaddrinfo", no_lookup)
    onnx = tmp_path / "m.onnx"
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval()
    torch.onnx.export(model, (torch.zeros(1, 3, 8, 8),), str(onnx), dynamo=False)
    xml = tmp_path / "model.xml"
    openvino_format._convert(onnx, xml, {"task": "test"}, fp16_weights=False, log=lambda *a, **k: None)
    assert xml.is_file() and xml.with_suffix(".bin").is_file()
    assert started == [] and looked_up == []
