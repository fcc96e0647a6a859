"""Helpers shared by the CLI command modules."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import Any

from ..core.workspace import Workspace


@contextmanager
def open_workspace(args, *, write: bool):
    """Open the workspace named by ``--workspace``; commands that write require the lock."""
    ws = Workspace.open(getattr(args, "workspace", None), lock=True)
    try:
        if write:
            ws.ensure_writable()
        yield ws
    finally:
        ws.close()


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")
    sys.stdout.flush()


def not_built(name: str):
    """Placeholder handler for a command whose capability is not built yet."""

    def handler(args) -> int:
        print(f"error: '{name}' is not available yet in this version of AI Studio", file=sys.stderr)
        return 2

    return handler
