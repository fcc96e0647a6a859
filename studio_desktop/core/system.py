"""Compute devices in words, shared by ``studio diagnostics`` and the About dialog (no torch:
the device list itself comes from ``ml/system_info.py`` in a worker-side process)."""

from __future__ import annotations


def device_line(device: dict) -> str:
    """One device: "CPU: <name>, 8 cores", "GPU 0: <name>, 24.0 GiB", "MPS: Apple GPU (Metal)"."""
    if device.get("kind") == "cpu":
        return f"CPU: {device.get('name', '?')}, {device.get('cores', '?')} cores"
    if device.get("kind") == "cuda" and "index" in device:
        return f"GPU {device['index']}: {device.get('name', '?')}, {device.get('memory_gib', '?')} GiB"
    note = f" ({device['note']})" if device.get("note") else ""
    return f"{str(device.get('kind', '?')).upper()}: {device.get('name', '?')}{note}"
