"""The worker as the GUI runs it: a separate process stopped through the STOP file or by losing
its parent, then resumed with the same curves."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from ml_helpers import tiny_config, worker_env

from studio_desktop.core.experiments import ExperimentService
from studio_desktop.core.procs import mark_detached, pid_alive, request_stop
from studio_desktop.worker.train import run_training

pytestmark = [pytest.mark.ml, pytest.mark.slow]


def _start(workspace, project, exp, *extra):
    return subprocess.Popen([sys.executable, "-m", "studio_desktop", "--workspace", str(workspace.root), "worker",
                             "train", project.id, exp.id, *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True, env=worker_env())


def _wait_for(predicate, timeout=90.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def _events(folder):
    path = folder / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_stop_file_then_resume_with_more_epochs(workspace, tiny_project):
    project, _ = tiny_project
    svc = ExperimentService(workspace, project.id)
    exp = svc.create(tiny_config(epochs=300), name="long")
    folder = svc.folder(exp.id)
    proc = _start(workspace, project, exp, "--parent-pid", str(__import__("os").getpid()))
    try:
        assert _wait_for(lambda: any(e["event"] == "epoch" for e in _events(folder))), "worker never trained"
        running = svc.get(exp.id)
        assert running.status == "running" and running.pid == proc.pid and pid_alive(proc.pid)
        request_stop(folder)
        out, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert lines and all("event" in e and "time" in e for e in lines)
    assert lines[-1]["event"] == "stopped"
    stopped = svc.get(exp.id)
    assert stopped.status == "stopped" and stopped.pid is None and svc.checkpoint(exp.id).is_file()
    done = stopped.epochs_done
    assert 1 <= done < 300 and lines[-1]["epoch"] == done
    outcome = run_training(workspace, project.id, exp.id, resume=True, epochs=done + 2)
    assert outcome.status == "completed", outcome.error
    epochs = [r["epoch"] for r in svc.metrics(exp.id) if r["kind"] == "epoch"]
    assert epochs == list(range(1, done + 3))  # numbering continues, nothing repeated
    assert not (folder / "STOP").exists()


def test_parent_death_stops_unless_detached(workspace, tiny_project):
    project, _ = tiny_project
    svc = ExperimentService(workspace, project.id)
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    exp = svc.create(tiny_config(epochs=300), name="orphan")
    folder = svc.folder(exp.id)
    proc = _start(workspace, project, exp, "--parent-pid", str(parent.pid))
    try:
        assert _wait_for(lambda: any(e["event"] == "epoch" for e in _events(folder)))
        parent.kill()
        parent.wait()
        proc.communicate(timeout=90)
    finally:
        for p in (proc, parent):
            if p.poll() is None:
                p.kill()
                p.wait()
    assert proc.returncode == 0
    e = svc.get(exp.id)
    assert e.status == "stopped"
    assert "closed" in _events(folder)[-1]["reason"]
    # with DETACHED the same situation keeps training: it is the user's "keep running" choice
    mark_detached(folder)
    from studio_desktop.ml.callbacks import StopFlag
    from studio_desktop.worker.stops import watch_parent

    flag = StopFlag()
    watch_parent(parent.pid, flag, lambda: folder, interval=0.05)
    time.sleep(0.5)
    assert not flag.requested()
