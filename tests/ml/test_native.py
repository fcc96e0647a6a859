"""OpenVINO runners released in the order they were made leave a usable signal stack, so a later
Ctrl+C stops gracefully instead of crashing the process (found by a segfault in the test suite)."""

from __future__ import annotations

import gc
import os
import signal
import sys
import time

import numpy as np
import pytest
import torch

from studio_desktop.ml.native import repair_signal_stack, signal_stack

pytestmark = [pytest.mark.ml, pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")]


def test_openvino_runners_released_in_creation_order_keep_the_signal_stack(tmp_path):
    ov = pytest.importorskip("openvino")
    from studio_desktop.ml.export import openvino_format

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
    torch.onnx.export(model, (torch.zeros(1, 3, 8, 8),), str(tmp_path / "m.onnx"), dynamo=False)
    ov.save_model(ov.convert_model(str(tmp_path / "m.onnx")), str(tmp_path / "m.xml"))
    first = openvino_format.load(tmp_path / "m.xml", 1)
    second = openvino_format.load(tmp_path / "m.xml", 1)
    first.run(np.zeros((1, 3, 8, 8), np.float32))
    del first
    gc.collect()
    del second
    gc.collect()
    assert signal_stack()[2], "the thread's alternate signal stack points at freed memory"
    hit = []
    old = signal.signal(signal.SIGINT, lambda *a: hit.append(1))
    try:
        os.kill(os.getpid(), signal.SIGINT)  # crashed the process before the repair
        time.sleep(0.1)
    finally:
        signal.signal(signal.SIGINT, old)
    assert hit == [1]


def test_repair_turns_off_a_dangling_stack_only():
    import ctypes
    import mmap

    from studio_desktop.ml import native

    assert repair_signal_stack() is False  # nothing to repair
    area = mmap.mmap(-1, 65536)
    address = ctypes.addressof(ctypes.c_char.from_buffer(area))
    libc = native._libc()
    stack = native._StackT(address, 0, 65536)
    assert libc.sigaltstack(ctypes.byref(stack), None) == 0
    assert signal_stack() == (address, 65536, True) and repair_signal_stack() is False
    off = native._StackT(None, native.SS_DISABLE, 0)
    libc.sigaltstack(ctypes.byref(off), None)
    # a stack at an address that is no longer mapped is turned off
    libc.sigaltstack(ctypes.byref(native._StackT(8192, 0, 4096)), None)
    assert signal_stack()[2] is False and repair_signal_stack() is True and signal_stack()[0] == 0
