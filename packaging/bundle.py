"""What goes into the PyInstaller bundle and what is trimmed out of it.

``studio.spec`` imports this module (it is plain Python, no PyInstaller import at module level),
so the rules can be unit-tested without building (tests/unit/test_bundle_rules.py) and read in
one place. Every exclusion names why the app provably does not load it:

* Python packages: the bundle's self-test (train, evaluate, export, predict in the bundle) would
  fail on an ImportError of anything it needs; the ones below are imported only optionally by
  torch / pyqtgraph (inside ``try``) or only by tests and build tools.
* Qt: the app imports QtCore, QtGui, QtWidgets and (through pyqtgraph) QtSvg; QML/Quick,
  Designer, WebEngine, multimedia, 3D and the other add-ons are never imported, and the
  plug-ins built on them (QML tooling, Wayland compositor, designer) are never loaded.
* CUDA: everything ``libtorch_cuda`` needs (DT_NEEDED) and everything cuDNN opens at run time
  stays; files that no collected library references are dropped (see CUDA_UNUSED).
"""

from __future__ import annotations

import fnmatch
import os
import re
from pathlib import Path, PurePosixPath

APP_NAME = "AI Studio"
#: the executable: the app without arguments, the CLI and its workers with them
EXE_NAME = "ai-studio"
BUNDLE_ID = "org.aistudio.desktop"

#: never wanted, even in the untrimmed build (GUI toolkits and build tools the app cannot use)
ALWAYS_EXCLUDED = ["tkinter", "_tkinter", "PyInstaller",
                   # OpenVINO's converter sends usage data unless opted out; without the package it
                   # uses its own no-op stub (ml/export/openvino_format.without_telemetry)
                   "openvino_telemetry"]

#: Python packages the app does not import (see the module docstring for the proof)
EXCLUDED_MODULES = ALWAYS_EXCLUDED + [
    # torch.compile's GPU code generator (~0.9 GB); torch imports it only inside try/except
    "triton",
    # TensorBoard logging is not a feature of the app (Lightning logs to CSV/our metrics.jsonl)
    "tensorboard", "tensorboardX", "torch.utils.tensorboard",
    # test and lint tools
    # (not torch.testing._internal: torch.utils.checkpoint imports it; nor scipy's _testutils)
    "pytest", "_pytest", "pytestqt", "hypothesis", "pluggy", "iniconfig", "importlinter", "grimp",
    # notebooks nothing of ours imports (not matplotlib: anomalib.models imports it)
    "IPython", "ipykernel", "jupyter_client", "notebook",
    # Qt bindings other than PySide6 (pyqtgraph probes them)
    "PyQt5", "PyQt6", "PySide2",
]

#: PySide6 modules the app never imports (pyqtgraph's QtOpenGLWidgets/QtTest imports are
#: optional: it falls back to FailedImport and uses them only for OpenGL plots and its tests)
EXCLUDED_QT_MODULES = [
    "QtQml", "QtQuick", "QtQuickWidgets", "QtQuickControls2", "QtQuick3D", "QtQuickTest",
    "QtOpenGLWidgets", "QtTest", "QtDesigner", "QtUiTools", "QtHelp", "QtSql", "QtNetwork",
    "QtWebEngineCore", "QtWebEngineWidgets", "QtWebChannel", "QtWebSockets", "QtMultimedia",
    "QtMultimediaWidgets", "Qt3DCore", "QtCharts", "QtDataVisualization", "QtPdf", "QtPdfWidgets",
    "QtBluetooth", "QtPositioning", "QtLocation", "QtSensors", "QtSerialPort", "QtRemoteObjects",
    "QtScxml", "QtStateMachine", "QtTextToSpeech", "QtSpatialAudio", "QtHttpServer", "QtConcurrent",
]

#: Qt shared-library stems (libQt6<stem>.so.6, Qt6<stem>.dll, Qt<stem>.framework) that go with them
EXCLUDED_QT_LIBS = [
    "Qml*", "Quick*", "Labs*", "Lottie*", "Designer*", "Help", "Sql", "Test", "UiTools", "WebEngine*",
    "Multimedia*", "3D*", "Charts*", "DataVisualization*", "Pdf*", "WaylandCompositor*",
    "WaylandEglCompositor*", "WlShellIntegration", "VirtualKeyboard*", "Network", "Concurrent",
    "OpenGLWidgets", "ShaderTools", "SpatialAudio", "TextToSpeech", "HttpServer", "RemoteObjects*",
]

#: Qt plug-in folders whose plug-ins need one of the excluded libraries (never loaded)
EXCLUDED_QT_PLUGIN_DIRS = [
    "qmltooling", "designer", "sqldrivers", "networkinformation", "tls", "vectorimageformats",
    "wayland-graphics-integration-server", "multimedia", "position", "webview", "sceneparsers",
    "geometryloaders", "renderers", "renderplugins", "texttospeech", "canbus", "sensors",
]

#: CUDA files nothing loads at run time: static archives and LLVM bitcode (only for compiling
#: CUDA code, which torch.compile's triton would do). The CUDA libraries themselves all stay:
#: libtorch_cuda needs them (DT_NEEDED) or cuDNN opens them for GPU convolutions.
CUDA_UNUSED = ["*.a", "*.bc"]

#: OpenVINO libraries it opens by name at run time (the stock analysis misses them): the CPU
#: plugin (the app compiles IR models for "CPU" only), the ONNX and IR readers, and the plugins
#: and TBB parts these load. GPU/NPU plugins and the GPU kernel cache are left out.
OPENVINO_RUNTIME = [
    # Linux (and macOS plug-ins, which are .so there too)
    "libopenvino_intel_cpu_plugin.so", "libopenvino_arm_cpu_plugin.so", "libopenvino_auto_plugin.so",
    "libopenvino_hetero_plugin.so", "libopenvino_auto_batch_plugin.so", "libopenvino_onnx_frontend.so.*",
    "libopenvino_ir_frontend.so.*", "libtbbmalloc.so.*", "libtbbbind_2_5.so.*", "libhwloc.so.*",
    # macOS libraries
    "libopenvino_onnx_frontend.*.dylib", "libopenvino_ir_frontend.*.dylib", "libtbbmalloc.*.dylib",
    # Windows
    "openvino_intel_cpu_plugin.dll", "openvino_auto_plugin.dll", "openvino_hetero_plugin.dll",
    "openvino_auto_batch_plugin.dll", "openvino_onnx_frontend.dll", "openvino_ir_frontend.dll",
    "tbbmalloc.dll", "tbbbind_2_5.dll",
]


def app_version(root: str | os.PathLike) -> str:
    """The package version, read from studio_desktop/__init__.py without importing it."""
    text = (Path(root) / "studio_desktop" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__\s*=\s*["\']([^"\']+)["\']', text, re.M)
    if not match:
        raise ValueError("studio_desktop/__init__.py has no __version__ = '...' line")
    return match.group(1)


def version_tuple(version: str) -> tuple[int, int, int, int]:
    """``"0.1.0"`` -> ``(0, 1, 0, 0)`` for the Windows version resource (non-digits dropped)."""
    parts = [int(re.match(r"\d*", p).group() or 0) for p in version.split(".")[:4]]
    return tuple(parts + [0] * (4 - len(parts)))  # type: ignore[return-value]


def qt_lib_patterns() -> list[str]:
    """File-name patterns of the excluded Qt libraries on Linux, Windows and macOS."""
    out: list[str] = []
    for stem in EXCLUDED_QT_LIBS:
        out += [f"libQt6{stem}.so*", f"Qt6{stem}.dll", f"Qt{stem}.framework"]
    return out


def _plugin_dir_patterns() -> list[str]:
    return [f"*/plugins/{d}/*" for d in EXCLUDED_QT_PLUGIN_DIRS]


def _matches(path: str, patterns: list[str]) -> bool:
    """Whether a bundle path matches: patterns with "/" match the whole path, "X.framework"
    any folder of it, the others the file name."""
    p = PurePosixPath(path.replace("\\", "/"))
    for pat in patterns:
        if "/" in pat:
            hit = fnmatch.fnmatchcase(p.as_posix(), pat)
        elif pat.endswith(".framework"):
            hit = any(fnmatch.fnmatchcase(part, pat) for part in p.parts[:-1])
        else:
            hit = fnmatch.fnmatchcase(p.name, pat)
        if hit:
            return True
    return False


def trim_patterns() -> list[str]:
    """Everything :func:`trim_toc` drops: excluded Qt libraries and plug-ins, unused CUDA files."""
    return qt_lib_patterns() + _plugin_dir_patterns() + CUDA_UNUSED


def trim_toc(toc, patterns: list[str] | None = None) -> list:
    """The TOC without entries whose destination *or symlink target* matches ``patterns``.

    PyInstaller 6 adds SYMLINK entries (e.g. ``_internal/libQt6Quick.so.6`` ->
    ``PySide6/Qt/lib/libQt6Quick.so.6``); dropping only the target would leave a dangling link
    and dropping only by destination name would keep the 30 MB target, so both are checked.
    """
    patterns = trim_patterns() if patterns is None else patterns
    kept = []
    for entry in toc:
        dest, src, typecode = entry
        if _matches(dest, patterns):
            continue
        if typecode == "SYMLINK" and src and _matches(str(PurePosixPath(dest.replace("\\", "/")).parent / src), patterns):
            continue
        kept.append(entry)
    return kept


def _package_folder(name: str) -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def openvino_runtime_binaries() -> list[tuple[str, str]]:
    """(file, bundle folder) for :data:`OPENVINO_RUNTIME`, from openvino/libs (Linux, macOS) or
    openvino/libs (Windows wheels keep their DLLs there too)."""
    folder = _package_folder("openvino")
    if folder is None:
        return []
    libs = folder / "libs"
    found = {p for pattern in OPENVINO_RUNTIME for p in libs.glob(pattern) if p.is_file()}
    return [(str(p), "openvino/libs") for p in sorted(found)]


def torchvision_stable_binaries() -> list[tuple[str, str]]:
    """torchvision 0.29's ``_C_stable`` / ``image_stable`` extensions (loaded by path, so the
    stock hook misses them; without them: "operator torchvision::nms does not exist")."""
    folder = _package_folder("torchvision")
    if folder is None:
        return []
    found = [p for pattern in ("_C_stable*", "image_stable*") for p in folder.glob(pattern)
             if p.suffix in (".so", ".pyd", ".dylib")]
    return [(str(p), "torchvision") for p in sorted(found)]


# ---------------------------------------------------------------------- cache key (packaging/build.sh)
#: files whose content decides what PyInstaller collects (the package's own code does not:
#: packaging/overlay.py refreshes it in a cached bundle)
KEY_FILES = ("requirements.txt", "requirements-test.txt", "requirements-bundle.txt", "studio.spec",
             "packaging/bundle.py", "packaging/entry.py")


def imported_modules(package_dir: str | os.PathLike) -> set[str]:
    """Every absolute module name the package's code imports (top level and inside functions).

    A new third-party or standard-library import changes this set and so the cache key: the
    cached bundle might lack that module, so it is rebuilt."""
    import ast

    names: set[str] = set()
    root = Path(package_dir)
    own = root.name
    for path in sorted(root.rglob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except SyntaxError:
            names.add(f"<syntax error in {path.relative_to(root.parent)}>")
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
    return {n for n in names if n.split(".")[0] != own}


def cache_key(root: str | os.PathLike, *, trim: bool = True) -> str:
    """16 hex digits naming a PyInstaller build that can be reused for this tree."""
    import hashlib
    import platform
    import sys

    root = Path(root)
    h = hashlib.sha256()
    for name in KEY_FILES:
        path = root / name
        h.update(name.encode() + b"\0" + (path.read_bytes() if path.exists() else b"<missing>") + b"\0")
    h.update("\n".join(sorted(imported_modules(root / "studio_desktop"))).encode())
    h.update(f"{sys.version}|{platform.machine()}|{sys.platform}|trim={trim}".encode())
    return h.hexdigest()[:16]


if __name__ == "__main__":  # python packaging/bundle.py key|version ROOT
    import sys

    what = sys.argv[1] if len(sys.argv) > 1 else "key"
    where = sys.argv[2] if len(sys.argv) > 2 else "."
    if what == "key":
        print(cache_key(where, trim=os.environ.get("STUDIO_BUNDLE_TRIM", "1") != "0"))
    elif what == "version":
        print(app_version(where))
    else:
        raise SystemExit("usage: python packaging/bundle.py key|version ROOT")
