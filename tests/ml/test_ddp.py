"""The multi-GPU (DDP) path, exercised with two CPU processes: Lightning starts the second one
with the same command, and only the first writes the experiment, speaks the protocol and holds
the workspace; a stop request stops both at the same step; the schedule follows each process's
share of the batches. (The STOP file, seen by every process, is tested in test_worker.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from ml_helpers import make_tiny_project, tiny_config, worker_env

from studio_desktop.core.experiments import ExperimentService
from studio_desktop.core.workspace import Workspace

pytestmark = [pytest.mark.ml, pytest.mark.slow]


def _env():
    return {**worker_env(), "STUDIO_CPU_DDP_PROCESSES": "2"}


def _studio(ws_dir, *args, stdin=subprocess.DEVNULL):
    return subprocess.Popen([sys.executable, "-m", "studio_desktop", "--workspace", str(ws_dir), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=stdin, text=True, env=_env())


def _events(text):
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_foreground_training_on_two_processes(workspace_dir):
    ws = Workspace.open(workspace_dir)
    project, _ = make_tiny_project(ws)
    ws.close()  # `studio train` takes the workspace lock itself
    proc = _studio(workspace_dir, "train", project.name, "--model", "tiny_cnn", "--epochs", "3", "--json",
                   "--set", "input_size=32", "--set", "batch_size=4", "--set", "split_id=s1",
                   "--set", "pretrained=false")
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err[-2000:]
    events = _events(out)
    kinds = [e["event"] for e in events]
    assert kinds.count("started") == 1 and kinds[-1] == "completed"  # one voice, not two
    ws = Workspace.open(workspace_dir, lock=False)
    try:
        svc = ExperimentService(ws, project.id)
        [exp] = svc.list()  # the second process trained this experiment instead of creating one
        assert exp.status == "completed" and exp.epochs_done == 3
        rows = [r for r in svc.metrics(exp.id) if r["kind"] == "epoch"]
        assert [r["epoch"] for r in rows] == [1, 2, 3]
    finally:
        ws.close()
    # 18 training images: 9 per process, 3 batches of 4 (or fewer) each; the cosine schedule is
    # counted in those steps and reaches 0 at the very last one
    progress = [e for e in events if e["event"] == "progress"]
    assert progress[-1]["total"] == 9 and progress[-1]["batches"] == 3
    assert rows[-1]["lr"] == pytest.approx(0.0, abs=1e-9) and rows[0]["lr"] > 0


def test_a_stop_request_stops_both_processes_then_resume(workspace, tiny_project):
    project, _ = tiny_project
    svc = ExperimentService(workspace, project.id)
    exp = svc.create(tiny_config(epochs=300, batch_size=4), name="ddp")
    folder = svc.folder(exp.id)
    proc = _studio(workspace.root, "worker", "train", project.id, exp.id, "--parent-pid", str(os.getpid()),
                   stdin=subprocess.PIPE)
    try:
        end = time.monotonic() + 120
        metrics = folder / "metrics.jsonl"
        # after a whole epoch (a stop inside the first one leaves nothing to resume from)
        while time.monotonic() < end and not (metrics.exists() and '"kind": "epoch"' in metrics.read_text()):
            time.sleep(0.2)
        assert svc.get(exp.id).status == "running"
        # only the first process reads stdin: without agreeing, the second would train on alone
        # and wait forever for the first at its next gradient exchange
        proc.stdin.write("stop\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-2000:]
    assert _events(out)[-1]["event"] == "stopped"
    stopped = svc.get(exp.id)
    assert stopped.status == "stopped" and svc.checkpoint(exp.id).is_file()
    done = stopped.epochs_done
    assert 1 <= done < 300
    proc = _studio(workspace.root, "worker", "train", project.id, exp.id, "--resume", "--epochs", str(done + 2))
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err[-2000:]
    assert _events(out)[-1]["event"] == "completed"
    epochs = [r["epoch"] for r in svc.metrics(exp.id) if r["kind"] == "epoch"]
    assert epochs == list(range(1, done + 3))
