"""``python -m studio_desktop``: the GUI without arguments, the CLI with them.

``--self-test`` checks the installation end to end (:mod:`studio_desktop.selftest`); in the
PyInstaller bundle the same dispatch serves ``<app> worker ...`` for the app's workers.

``multiprocessing.freeze_support()`` must run first so that a PyInstaller bundle can start
its own worker processes (DESIGN §10).
"""

from __future__ import annotations

import multiprocessing
import os
import sys


def _without_relaunch_script(argv: list[str]) -> list[str]:
    """In the bundle, Lightning's DDP launcher starts the other processes as ``sys.executable
    <abspath of sys.argv[0]> <args>`` (it takes the app for a script run by an interpreter): the
    app's own path then arrives as the first argument. Dropped, so ``<app> worker train ...``
    runs on every rank."""
    if getattr(sys, "frozen", False) and argv:
        try:
            if os.path.samefile(argv[0], sys.executable):
                return argv[1:]
        except OSError:
            pass
    return argv


def main(argv: list[str] | None = None) -> int:
    multiprocessing.freeze_support()
    argv = sys.argv[1:] if argv is None else argv
    argv = _without_relaunch_script(argv)
    if argv and argv[0] == "--self-test":  # end-to-end check of this installation (selftest.py)
        from .selftest import main as self_test

        return self_test(argv[1:])
    gui_flags = {"--workspace"}
    # GUI when no command is given (only --workspace DIR may be passed to the GUI).
    wants_gui = not argv or (len(argv) == 2 and argv[0] in gui_flags) or (
        len(argv) == 1 and argv[0].startswith("--workspace="))
    if wants_gui:
        from .gui.app import run_gui

        return run_gui(argv)
    from .cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
