"""Put the current ``studio_desktop`` sources and ``resources/`` into a built bundle folder.

    python packaging/overlay.py "dist/AI Studio"

studio.spec collects our package as plain ``.pyc`` files (``module_collection_mode="pyc"``),
so a bundle built from a cached PyInstaller run is brought up to date by recompiling the
package into ``_internal/studio_desktop`` and copying ``resources/``: seconds instead of a
PyInstaller run. This is only correct while the third-party modules the package imports are
unchanged; ``bundle.cache_key`` includes every module name it imports, so a new import
means a new key and a full build (packaging/build.sh).

Both folders are replaced whole, by rename: a file deleted from the sources disappears from
the bundle too, and an interrupted overlay never leaves a half-written package behind.
Must run with the bundle's Python version (the .pyc format is version specific).
"""

from __future__ import annotations

import py_compile
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _swap(new: Path, target: Path) -> None:
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def compile_package(src: Path, dest: Path) -> int:
    """``src/**/*.py`` -> ``dest/**/*.pyc`` (legacy layout, as PyInstaller's pyc mode); returns the count."""
    new = dest.with_name(f".{dest.name}.new")
    shutil.rmtree(new, ignore_errors=True)
    count = 0
    for py in sorted(src.rglob("*.py")):
        if "__pycache__" in py.parts:
            continue
        rel = py.relative_to(src.parent)
        out = new / py.relative_to(src).with_suffix(".pyc")
        out.parent.mkdir(parents=True, exist_ok=True)
        py_compile.compile(str(py), cfile=str(out), dfile=str(rel), doraise=True,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        count += 1
    _swap(new, dest)
    return count


def copy_tree(src: Path, dest: Path) -> None:
    new = dest.with_name(f".{dest.name}.new")
    shutil.rmtree(new, ignore_errors=True)
    shutil.copytree(src, new)
    _swap(new, dest)


def internal_folder(bundle: Path) -> Path:
    """Where PyInstaller 6 puts the collected files (``_internal``; ``Contents/Frameworks`` in a .app)."""
    for candidate in (bundle / "_internal", bundle / "Contents" / "Frameworks"):
        if candidate.is_dir():
            return candidate
    raise SystemExit(f"overlay: {bundle} is not a one-folder bundle (no _internal folder)")


def bundle_python(internal: Path) -> str | None:
    """The bundled interpreter's "3.11" (from libpython3.11.so / python311.dll), None if not found."""
    for path in internal.iterdir():
        m = re.match(r"(?:lib)?python(3)\.?(\d+)(?:\.so|\.dll|\.dylib)", path.name)
        if m:
            return f"{m.group(1)}.{m.group(2)}"
    return None


def overlay(bundle: Path, root: Path = ROOT) -> int:
    internal = internal_folder(bundle)
    theirs, ours = bundle_python(internal), f"{sys.version_info[0]}.{sys.version_info[1]}"
    if theirs is not None and theirs != ours:
        raise SystemExit(f"overlay: the bundle runs Python {theirs} but this is Python {ours}; "
                         "run the overlay with the Python the bundle was built with")
    n = compile_package(root / "studio_desktop", internal / "studio_desktop")
    copy_tree(root / "resources", internal / "resources")
    return n


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print('usage: python packaging/overlay.py "dist/AI Studio"', file=sys.stderr)
        return 2
    n = overlay(Path(argv[0]))
    print(f"overlay: {n} modules of studio_desktop and resources/ refreshed in {argv[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
