#!/usr/bin/env bash
# Install what AI Studio needs (once; cached per machine) and start the desktop app.
# Extra arguments go to the app, e.g. scripts/start.sh --workspace ~/studio-ws
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$("$here/scripts/env.sh")"
# This clone first on the path, whichever clone the shared environment was last installed from.
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
exec "$venv/bin/python" -m studio_desktop "$@"
