"""The bundle's rules without building it: trimming (Qt symlinks filtered by their target too),
the extra binaries the stock hooks miss, the version, the cache key that decides when
packaging/build.sh must run PyInstaller again, the overlay of our own code, and the frozen
entry point that makes `<app> worker ...` a worker."""

from __future__ import annotations

import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "packaging"))
import bundle  # noqa: E402
import overlay  # noqa: E402


def test_trim_drops_excluded_qt_libraries_by_name_and_symlinks_by_target():
    toc = [
        ("PySide6/Qt/lib/libQt6Quick.so.6", "/venv/PySide6/Qt/lib/libQt6Quick.so.6", "BINARY"),
        # PyInstaller 6 links top-level names to the real file: the name alone would not tell
        ("libQt6Quick.so.6", "PySide6/Qt/lib/libQt6Quick.so.6", "SYMLINK"),
        ("libsomething.so", "PySide6/Qt/lib/libQt6Qml.so.6", "SYMLINK"),
        ("PySide6/Qt/plugins/qmltooling/libqmldbg_debugger.so", "/venv/x.so", "BINARY"),
        ("PySide6/plugins/qmltooling/qmldbg_debugger.dll", "C:/venv/x.dll", "BINARY"),
        ("PySide6/Qt/lib/QtQuick.framework/Versions/A/QtQuick", "/venv/QtQuick", "BINARY"),
        ("triton/backends/nvidia/lib/libdevice.10.bc", "/venv/libdevice.10.bc", "DATA"),
        # kept: what the app loads
        ("PySide6/Qt/lib/libQt6Widgets.so.6", "/venv/PySide6/Qt/lib/libQt6Widgets.so.6", "BINARY"),
        ("libQt6Widgets.so.6", "PySide6/Qt/lib/libQt6Widgets.so.6", "SYMLINK"),
        ("PySide6/Qt/lib/libQt6Svg.so.6", "/venv/PySide6/Qt/lib/libQt6Svg.so.6", "BINARY"),
        ("PySide6/Qt/plugins/platforms/libqxcb.so", "/venv/libqxcb.so", "BINARY"),
        ("PySide6/Qt/plugins/iconengines/libqsvgicon.so", "/venv/libqsvgicon.so", "BINARY"),
        ("nvidia/cudnn/lib/libcudnn_engines_precompiled.so.9", "/venv/x.so", "BINARY"),
        ("Qt6Widgets.dll", "C:/venv/Qt6Widgets.dll", "BINARY"),
    ]
    kept = {dest for dest, _src, _t in bundle.trim_toc(toc)}
    assert kept == {
        "PySide6/Qt/lib/libQt6Widgets.so.6", "libQt6Widgets.so.6", "PySide6/Qt/lib/libQt6Svg.so.6",
        "PySide6/Qt/plugins/platforms/libqxcb.so", "PySide6/Qt/plugins/iconengines/libqsvgicon.so",
        "nvidia/cudnn/lib/libcudnn_engines_precompiled.so.9", "Qt6Widgets.dll"}


def test_excluded_qt_modules_are_not_what_the_app_imports():
    used = {name.split(".")[1] for name in bundle.imported_modules(ROOT / "studio_desktop")
            if name.startswith("PySide6.")}
    assert used and not used & set(bundle.EXCLUDED_QT_MODULES), used
    assert "triton" in bundle.EXCLUDED_MODULES and "tensorboard" in bundle.EXCLUDED_MODULES
    top = {name.split(".")[0] for name in bundle.imported_modules(ROOT / "studio_desktop")}
    assert not top & {m.split(".")[0] for m in bundle.EXCLUDED_MODULES if "." not in m}


def test_binaries_the_stock_hooks_miss_are_found():
    pytest.importorskip("torchvision")  # find_spec only: torch is not imported
    names = {Path(src).name for src, _dest in bundle.torchvision_stable_binaries()}
    assert {"_C_stable.so", "image_stable.so"} <= names or sys.platform.startswith(("win", "darwin"))
    openvino = {Path(src).name for src, dest in bundle.openvino_runtime_binaries()}
    assert any("intel_cpu_plugin" in n for n in openvino) and any("onnx_frontend" in n for n in openvino)
    assert not any("gpu_plugin" in n for n in openvino)


def test_version_comes_from_the_package():
    from studio_desktop import __version__

    assert bundle.app_version(ROOT) == __version__
    assert bundle.version_tuple("1.2.3") == (1, 2, 3, 0)
    assert bundle.version_tuple("0.10.0rc1") == (0, 10, 0, 0)


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    for name in bundle.KEY_FILES:
        src = ROOT / name
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        if src.exists():
            shutil.copy(src, root / name)
    pkg = root / "studio_desktop"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("__version__ = '0.1.0'\n")
    (pkg / "a.py").write_text("import json\nfrom . import b\n\ndef f():\n    return b.ONE\n")
    (pkg / "b.py").write_text("ONE = 1\n")
    return root


def test_cache_key_changes_with_a_new_import_not_with_other_code(tmp_path):
    root = _tree(tmp_path)
    key = bundle.cache_key(root)
    (root / "studio_desktop" / "a.py").write_text("import json\nfrom . import b\n\ndef f():\n    return 2  # edited\n")
    assert bundle.cache_key(root) == key  # our code is overlaid, not analysed again
    (root / "studio_desktop" / "c.py").write_text("def g():\n    import sqlite3\n")
    assert bundle.cache_key(root) != key  # a new (lazy) import may need a module the bundle lacks
    key2 = bundle.cache_key(root)
    (root / "requirements.txt").write_text("torch==9.9\n")
    assert bundle.cache_key(root) != key2
    assert bundle.cache_key(root, trim=False) != bundle.cache_key(root)


def test_overlay_replaces_the_package_whole(tmp_path):
    root = _tree(tmp_path)
    (root / "resources" / "icons").mkdir(parents=True)
    (root / "resources" / "icons" / "app.svg").write_text("<svg/>")
    internal = tmp_path / "AI Studio" / "_internal"
    (internal / "studio_desktop").mkdir(parents=True)
    (internal / "studio_desktop" / "gone.pyc").write_bytes(b"old")
    assert overlay.overlay(internal.parent, root) == 3
    files = sorted(p.relative_to(internal).as_posix() for p in internal.rglob("*") if p.is_file())
    assert files == ["resources/icons/app.svg", "studio_desktop/__init__.pyc", "studio_desktop/a.pyc",
                     "studio_desktop/b.pyc"]
    # the compiled package imports without its sources
    out = subprocess.run([sys.executable, "-c", "import studio_desktop.a as a; print(a.f())"], cwd=internal,
                         capture_output=True, text=True, env={"PYTHONPATH": str(internal)})
    assert out.stdout.strip() == "1", out.stderr


def test_overlay_refuses_another_python(tmp_path):
    internal = tmp_path / "b" / "_internal"
    internal.mkdir(parents=True)
    (internal / "libpython3.8.so.1.0").write_bytes(b"")
    assert overlay.bundle_python(internal) == "3.8"
    with pytest.raises(SystemExit, match="Python 3.8"):
        overlay.overlay(internal.parent, ROOT)


def test_frozen_entry_point_runs_freeze_support_first_then_dispatches_worker(monkeypatch, tmp_path):
    calls = []
    import multiprocessing

    import studio_desktop.worker as worker

    monkeypatch.setattr(multiprocessing, "freeze_support", lambda: calls.append("freeze_support"))
    monkeypatch.setattr(worker, "dispatch", lambda args: calls.append(("dispatch", args.job, args.workspace)) or 0)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "argv", ["/opt/AI Studio/ai-studio", "--workspace", str(tmp_path), "worker",
                                      "train", "my project", "e1"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(ROOT / "packaging" / "entry.py"), run_name="__main__")
    assert exit_info.value.code == 0
    assert calls[0] == "freeze_support"
    assert calls[-1] == ("dispatch", "train", str(tmp_path))


def test_frozen_worker_command_is_the_app_itself(monkeypatch):
    pytest.importorskip("PySide6")
    from studio_desktop.gui.jobs import worker_command

    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", "/opt/AI Studio/ai-studio")
    program, args = worker_command("--workspace", "W", "worker", "train", "P")
    assert program == "/opt/AI Studio/ai-studio" and args == ["--workspace", "W", "worker", "train", "P"]


def test_lightning_ddp_relaunch_of_the_bundle_reaches_the_worker(monkeypatch, tmp_path):
    """Lightning starts the other DDP ranks as `sys.executable <abspath(argv[0])> args`: in the
    bundle both are the app, so its own path arrives as the first argument."""
    import studio_desktop.__main__ as entry
    import studio_desktop.worker as worker

    app = tmp_path / "ai-studio"
    app.write_bytes(b"")
    calls = []
    monkeypatch.setattr(worker, "dispatch", lambda args: calls.append(args.job) or 0)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(app))
    assert entry.main([str(app), "--workspace", str(tmp_path), "worker", "train", "p", "e"]) == 0
    assert calls == ["train"]
    # not frozen, or another file first: the arguments are left alone
    assert entry._without_relaunch_script(["worker", "train"]) == ["worker", "train"]
    monkeypatch.setattr(sys, "frozen", False)
    assert entry._without_relaunch_script([str(app), "x"]) == [str(app), "x"]
