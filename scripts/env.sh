#!/usr/bin/env bash
# Prepare (or reuse) the virtual environment for this clone and print its path.
#
# The environment with torch weighs ~6 GB, so it is cached once per machine in
# ${AI_STUDIO_VENV_CACHE:-~/.cache/ai-studio} under a key derived from the pinned
# requirement files: a fresh clone reuses it; a change of dependencies builds a new one.
# Usage: scripts/env.sh [--bundle]   (one environment serves the app and the tests)
# --bundle also installs the packaging tools of requirements-bundle.txt (PyInstaller) into it:
# build tools, not part of the key, so adding them never rebuilds the 6 GB environment.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-}"
if [ -z "$py" ]; then
  for c in python3.11 python3 python; do
    if command -v "$c" >/dev/null 2>&1; then py="$c"; break; fi
  done
fi
[ -n "$py" ] || { echo "env.sh: no python3 found (Python 3.11 is needed)" >&2; exit 1; }
key=$(cat "$here/requirements.txt" "$here/requirements-test.txt" | sha256sum | cut -c1-16)
cache="${AI_STUDIO_VENV_CACHE:-$HOME/.cache/ai-studio}"
venv="$cache/venv-$key"
if [ ! -f "$venv/.complete" ]; then
  echo "env.sh: building the environment in $venv (first time only; several minutes)" >&2
  rm -rf "$venv"
  mkdir -p "$cache"
  "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip >&2
  "$venv/bin/python" -m pip install --quiet -r "$here/requirements.txt" -r "$here/requirements-test.txt" >&2
  touch "$venv/.complete"
fi
if [ "${1:-}" = "--bundle" ]; then
  bkey=$(sha256sum < "$here/requirements-bundle.txt" | cut -c1-16)
  if [ ! -f "$venv/.bundle-$bkey" ]; then
    echo "env.sh: installing the packaging tools (requirements-bundle.txt)" >&2
    "$venv/bin/python" -m pip install --quiet -r "$here/requirements-bundle.txt" >&2
    touch "$venv/.bundle-$bkey"
  fi
fi
# The package itself is installed editable from this clone (seconds): the cached
# environment then runs whichever clone asked last.
"$venv/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e "$here" >&2
echo "$venv"
