#!/usr/bin/env bash
# Install what AI Studio and its tests need (once; cached per machine), then run the
# quality gates (ruff, import boundaries) and the whole test suite, offscreen.
# Extra arguments go to pytest, e.g. scripts/test.sh -m "not slow" -x
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
venv="$("$here/scripts/env.sh")" || { echo "test.sh: could not prepare the environment" >&2; exit 1; }
# This clone first on the path, whichever clone the shared environment was last installed from.
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
export QT_QPA_PLATFORM=offscreen
export PYTHONDONTWRITEBYTECODE=1
status=0
echo "== ruff"
"$venv/bin/ruff" check studio_desktop tests benchmarks || status=1
echo "== import boundaries (core: no Qt/torch; gui: no torch)"
"$venv/bin/lint-imports" --no-cache || status=1
echo "== pytest"
# --durations: the slowest tests in every log, to keep the suite well under 15 minutes
"$venv/bin/python" -m pytest -p no:cacheprovider --durations=15 "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "test.sh: pytest collected no tests" >&2
  rc=1
fi
[ "$rc" -eq 0 ] || status=$rc
exit $status
