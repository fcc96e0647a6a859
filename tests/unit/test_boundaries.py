"""Layer boundaries (DESIGN §2), checked on the source, including imports inside functions.

import-linter (run by scripts/test.sh) checks module-level imports; this test also catches
lazy imports hidden in function bodies, which would still load torch into the GUI process.
"""

from __future__ import annotations

import ast
from pathlib import Path

import studio_desktop

PKG = Path(studio_desktop.__file__).parent
TORCHY = ("torch", "torchvision", "pytorch_lightning", "lightning", "torchmetrics", "onnxruntime")
QT = ("PySide6", "pyqtgraph", "shiboken6")


def imported_modules(path: Path, pkg_parent: Path = PKG.parent) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # resolve relative imports against the file's package
                parts = path.relative_to(pkg_parent).with_suffix("").parts[:-node.level]
                base = ".".join(parts)
                found.append((node.lineno, f"{base}.{node.module}" if node.module else base))
            elif node.module:
                found.append((node.lineno, node.module))
    return found


def offenders(layer: str, banned: tuple[str, ...], pkg: Path = PKG) -> list[str]:
    bad = []
    for path in sorted((pkg / layer).rglob("*.py")):
        for line, mod in imported_modules(path, pkg.parent):
            if mod.split(".")[0] in banned or any(mod == b or mod.startswith(b + ".") for b in banned):
                bad.append(f"{path.relative_to(pkg.parent)}:{line} imports {mod}")
    return bad


def test_core_and_tasks_import_neither_qt_nor_torch():
    banned = TORCHY + QT + ("studio_desktop.gui", "studio_desktop.ml", "studio_desktop.worker")
    assert offenders("core", banned) == []
    assert offenders("tasks", banned) == []


def test_gui_never_imports_torch_even_lazily():
    banned = TORCHY + ("studio_desktop.ml", "studio_desktop.worker")
    assert offenders("gui", banned) == []


def test_scanner_would_catch_a_lazy_import(tmp_path):
    """Guard against a scanner that silently finds nothing."""
    pkg = tmp_path / "studio_desktop"
    (pkg / "gui" / "pages").mkdir(parents=True)
    (pkg / "gui" / "pages" / "probe.py").write_text(
        "def f():\n    import torch\n    from ...ml import train\n", encoding="utf-8")
    found = offenders("gui", TORCHY + ("studio_desktop.ml",), pkg)
    assert any("probe.py:2 imports torch" in o for o in found)
    assert any("probe.py:3 imports studio_desktop.ml" in o for o in found)
