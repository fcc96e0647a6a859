"""AI Studio desktop: train, evaluate and export image models offline.

Layers (DESIGN §2): ``core`` and ``tasks`` are pure Python, ``ml`` and ``worker`` run
only in worker processes, ``gui`` is Qt and never imports torch.
"""

from pathlib import Path

__version__ = "0.1.0"

#: Top-level ``resources/`` folder (icons, stylesheets); PyInstaller bundles it beside the package.
RESOURCES = Path(__file__).resolve().parent.parent / "resources"
