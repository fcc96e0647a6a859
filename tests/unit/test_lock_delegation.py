"""A lock holder (the GUI) lets the child it starts (the import subprocess) write; nobody else."""

from __future__ import annotations

import os
import subprocess
import sys

from studio_desktop.core.workspace import LOCK_HOLDER_ENV

CHILD = ("import sys; from studio_desktop.core.workspace import Workspace; "
         "ws = Workspace.open(sys.argv[1]); print(ws.writable)")


def _child_writable(root, env_extra: dict) -> str:
    env = {**os.environ, **env_extra}
    out = subprocess.run([sys.executable, "-c", CHILD, str(root)], env=env, capture_output=True, text=True,
                         check=True, timeout=60)
    return out.stdout.strip()


def test_child_of_the_lock_holder_may_write(workspace):
    assert workspace.writable
    assert _child_writable(workspace.root, {LOCK_HOLDER_ENV: str(os.getpid())}) == "True"


def test_others_stay_read_only(workspace):
    assert _child_writable(workspace.root, {}) == "False"
    # claiming another process as the holder does not work either
    assert _child_writable(workspace.root, {LOCK_HOLDER_ENV: str(os.getpid() + 1)}) == "False"
