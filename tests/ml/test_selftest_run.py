"""The self-test for real, from the source tree (the bundle runs the same in CI): every step a
process of ``python -m studio_desktop``; the test passes only if every step did."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from studio_desktop.selftest import FAILED, PASSED, trainable_tasks

pytestmark = [pytest.mark.ml, pytest.mark.slow]


def test_selftest_trains_evaluates_exports_and_predicts(tmp_path):
    task = trainable_tasks()[0]
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", TMPDIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-m", "studio_desktop", "--self-test", "--json", "--task", task,
                          "--device", "cpu"], capture_output=True, text=True, env=env, timeout=1200)
    events = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    results = [e for e in events if e["event"] == "step" and e["status"] != "running"]
    failed = [f"{r['step']}: {r['detail']}" for r in results if r["status"] == FAILED]
    assert not failed and out.returncode == 0, (failed, out.stderr[-2000:])
    passed = {r["step"] for r in results if r["status"] == PASSED}
    assert {"processes", "window", "sample", "import", "split", "train", "evaluate", "predict"} <= passed
    assert events[-1]["event"] == "end" and events[-1]["ok"]
    assert not any(tmp_path.glob("ai-studio-selftest-*"))  # the temporary workspace is removed
