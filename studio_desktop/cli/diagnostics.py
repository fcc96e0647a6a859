"""`studio diagnostics`: versions of the app and its ML stack, and the compute devices.

The About dialog runs ``<app> diagnostics --json`` in a subprocess so that the window never
imports torch; people paste the text form into bug reports.
"""

from __future__ import annotations

from ..core.system import device_line
from .common import print_json


def register(sub) -> None:
    p = sub.add_parser("diagnostics", help="versions of the app and ML libraries, compute devices",
                       description="Print the versions of AI Studio and its ML libraries and the devices "
                                   "it can compute on (CPU cores, each GPU's name and memory).")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..ml.system_info import collect  # torch loads only now

    info = collect()
    if args.json:
        print_json(info)
        return 0
    for label, version in info["versions"].items():
        print(f"{label}: {version}")
    print(f"CUDA build: {info['cuda_build'] or 'none (CPU-only PyTorch)'}")
    for device in info["devices"]:
        print(device_line(device))
    print(f"platform: {info['platform']}")
    print(f"executable: {info['executable']}{' (bundle)' if info['frozen'] else ''}")
    return 0
