"""The ``studio`` command (DESIGN §7): thin over ``core`` and ``worker``.

Each command group lives in its own module with a ``register(subparsers)`` function; this
module wires them, opens the workspace and turns :class:`StudioError` into a one-line
message on stderr with a non-zero exit status (never a traceback).
"""

from __future__ import annotations

import argparse
import sys

from ..core.errors import StudioError
from . import (
    dataset,
    diagnostics,
    evaluate,
    export,
    operating_point,
    predict,
    project,
    report,
    sample,
    split,
    train,
    weights,
    worker,
)

#: command modules, in the order ``studio --help`` lists them
COMMANDS = [project, sample, dataset, split, train, evaluate, operating_point, export, predict, report, weights,
            diagnostics, worker]

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="studio",
        description="AI Studio command line: the same operations as the desktop app, headless.")
    parser.add_argument("--workspace", metavar="DIR",
                        help="workspace folder (default: $STUDIO_WORKSPACE or the app-data folder)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
