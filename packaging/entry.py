"""PyInstaller entry point: the bundled executable is both the app and its workers.

``freeze_support`` first (DESIGN §10); then ``studio_desktop.__main__.main`` decides:
no arguments → GUI, ``worker ...`` or any other command → CLI. Workers are started as
``<executable> worker <job> ...`` so the bundle needs no separate Python.
"""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from studio_desktop.__main__ import main

    sys.exit(main())
