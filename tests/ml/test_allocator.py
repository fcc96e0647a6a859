"""Training processes tune glibc's malloc (no page faults on every step); elsewhere, nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from studio_desktop.ml import allocator

pytestmark = pytest.mark.ml


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt exists on Linux only")
def test_takes_effect_on_linux_in_a_fresh_process():
    code = "from studio_desktop.ml.allocator import keep_freed_memory as k; print(k())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "True"


def test_does_nothing_on_other_systems(monkeypatch):
    monkeypatch.setattr(allocator.sys, "platform", "win32")
    assert allocator.keep_freed_memory() is False


def test_a_c_library_without_mallopt_is_left_alone(monkeypatch):
    class NoMallopt:
        def __init__(self, name):
            pass

    monkeypatch.setattr(allocator.sys, "platform", "linux")
    monkeypatch.setattr(allocator.ctypes, "CDLL", NoMallopt)
    assert allocator.keep_freed_memory() is False
