"""Writing the usage snippet beside an export, and importing it back for the validation.

The text itself (pure Python, no torch) lives in ``core/export_snippet.py`` so the Export page
can show and re-target it; the validation imports the written file (:func:`load_module`) and
feeds the exported model through its ``load`` and ``preprocess`` (and a classifier's ``decide``).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from ...core.export_snippet import RUNTIMES, SNIPPET_FILE, render


def write(folder: Path, runtime: str, file_name: str, title: str, task: str = "classification") -> Path:
    path = folder / SNIPPET_FILE
    path.write_text(render(runtime, file_name, title, task), encoding="utf-8")
    return path


def load_module(path: Path) -> ModuleType:
    """Import a written snippet as a module (its ``load``/``preprocess``, a classifier's ``decide``)
    without running its ``main``."""
    name = f"_studio_snippet_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    return module


__all__ = ["RUNTIMES", "SNIPPET_FILE", "load_module", "render", "write"]
