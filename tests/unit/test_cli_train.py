"""`studio train` end to end on a tiny sample project (subprocesses, as a user runs it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.ml, pytest.mark.slow]


def studio(ws, *args, timeout=300):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "studio_desktop", "--workspace", str(ws), *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture
def sample_project(tmp_path):
    ws = tmp_path / "ws"
    assert studio(ws, "sample", "--task", "classification", str(tmp_path / "s"), "--images", "24").returncode == 0
    assert studio(ws, "project", "create", "shapes", "--task", "classification").returncode == 0
    res = studio(ws, "dataset", "import", "shapes", str(tmp_path / "s"))
    assert res.returncode == 0, res.stderr
    return ws


def test_train_without_split_fails_with_one_line(sample_project):
    res = studio(sample_project, "train", "shapes", "--model", "tiny_cnn")
    assert res.returncode != 0
    assert res.stderr.strip().splitlines() == [
        "error: this project has no split; create a split first (Split page or `studio split create`)"]
    bad = studio(sample_project, "train", "shapes", "--set", "lr=-3")
    assert bad.returncode != 0 and "invalid training setting 'lr'" in bad.stderr
    assert "Traceback" not in bad.stderr + res.stderr


def test_train_end_to_end_json_and_resume(sample_project):
    assert studio(sample_project, "split", "create", "shapes").returncode == 0
    res = studio(sample_project, "train", "shapes", "--name", "cli run", "--model", "tiny_cnn", "--epochs", "2",
                 "--set", "input_size=32", "--set", "batch_size=8", "--device", "cpu", "--json")
    assert res.returncode == 0, res.stderr
    events = [json.loads(line) for line in res.stdout.splitlines()]
    assert events[-1]["event"] == "completed" and events[-1]["summary"]["epochs"] == 2
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [1, 2]
    more = studio(sample_project, "train", "shapes", "--resume", "cli run", "--epochs", "3")
    assert more.returncode == 0, more.stderr
    assert "epoch 3:" in more.stdout and "completed" in more.stdout and "{" not in more.stdout.splitlines()[0]
    again = studio(sample_project, "train", "shapes", "--resume", "cli run", "--epochs", "3")
    assert again.returncode != 0 and "pass more epochs" in again.stderr
    (exp_json,) = sample_project.glob("projects/*/experiments/*/experiment.json")
    stored = json.loads(exp_json.read_text())
    assert stored["status"] == "completed" and stored["epochs_done"] == 3  # a refused resume changes nothing


def test_a_task_without_training_is_refused_before_an_experiment_exists(tmp_path):
    ws = tmp_path / "ws"
    assert studio(ws, "project", "create", "cells", "--task", "instance_segmentation").returncode == 0
    res = studio(ws, "train", "cells")
    assert res.returncode == 1
    assert res.stderr.strip().startswith("error: training instance segmentation models is not available yet")
    assert not list(ws.glob("projects/*/experiments/*"))
