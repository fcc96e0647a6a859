"""Fixtures of the ML tests (helpers in ml_helpers.py)."""

from __future__ import annotations

import pytest
from ml_helpers import make_tiny_project


@pytest.fixture
def tiny_project(workspace):
    return make_tiny_project(workspace)


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """2 shared cores: torch's multi-threading spins against other processes (10x slower here)."""
    import os

    import torch

    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"  # inherited by worker subprocesses
    yield
