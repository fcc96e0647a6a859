"""``studio export`` and ``studio worker export``: what scripts and the Export page rely on."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from export_helpers import untrained_experiment
from ml_helpers import make_tiny_project, worker_env

from studio_desktop.cli import main
from studio_desktop.core.exports import ExportService
from studio_desktop.core.procs import STOP_FILE

pytestmark = pytest.mark.ml

FAST = ["--validation-images", "6", "--latency-runs", "2", "--threads", "1"]


@pytest.fixture
def ready_experiment(workspace_dir):
    from studio_desktop.core.workspace import Workspace

    ws = Workspace.open(workspace_dir)
    project, _ = make_tiny_project(ws, per_class=4, val_every=2)
    exp = untrained_experiment(ws, project, "tiny_cnn", name="net")
    ws.close()
    return workspace_dir, project, exp


def test_export_prints_the_record_and_lists_and_deletes(ready_experiment, capsys):
    root, project, exp = ready_experiment
    base = ["--workspace", str(root), "export", project.name, "net"]
    assert main(base + ["--format", "torchscript", "--json", *FAST]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["status"] == "ready" and record["format"] == "torchscript" and record["validation"]["passed"]
    assert main(base + ["--format", "torchscript", *FAST]) == 0
    out = capsys.readouterr()
    assert "TorchScript FP32 of 'net' (tiny_cnn) - ready: passed its validation on 6 images" in out.out
    assert "PyTorch eager" in out.out and "try it: python " in out.out and "predict.py IMAGE" in out.out
    assert "[1/11] loading the checkpoint" in out.err and "validating 6/6" in out.err
    assert main(base + ["--list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert len(listed) == 2 and listed[1]["id"] == record["id"]
    assert main(base + ["--delete", record["id"]]) == 0
    assert main(base + ["--list"]) == 0
    text = capsys.readouterr().out
    assert record["id"] not in text and "TorchScript FP32" in text


def test_bad_requests_exit_non_zero_with_one_line(ready_experiment, capsys):
    root, project, _ = ready_experiment
    base = ["--workspace", str(root), "export", project.name]
    assert main(base + ["net", "--format", "torchscript", "--precision", "int8"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "error: TorchScript export supports fp32, not int8; use ONNX or OpenVINO for fp16 and int8"
    assert main(base + ["nope"]) == 1
    assert "no experiment named or with id 'nope'" in capsys.readouterr().err
    assert main(base + ["net", "--delete", "20990101-000000-onnx-fp32-abcd"]) == 1
    assert "no export '20990101-000000-onnx-fp32-abcd'" in capsys.readouterr().err


def test_a_failed_validation_exits_1_and_keeps_the_numbers(ready_experiment, capsys, monkeypatch):
    from studio_desktop.ml.export import metadata

    root, project, exp = ready_experiment
    real = metadata.build

    def swapped_colours(*a, **k):  # BGR stated where the network wants RGB: std per channel swapped
        meta = real(*a, **k)
        meta["mean"] = json.dumps(list(reversed(json.loads(meta["mean"]))))
        meta["std"] = "[0.1, 0.5, 0.9]"
        return meta

    monkeypatch.setattr(metadata, "build", swapped_colours)
    code = main(["--workspace", str(root), "export", project.name, "net", "--format", "torchscript", *FAST])
    out = capsys.readouterr()
    assert code == 1
    assert "- failed on 6 images: validation failed" in out.out and "FAIL metadata read back as written" in out.out
    assert out.err.strip().splitlines()[-1].startswith("error: validation failed: ")
    assert "try it" not in out.out


@pytest.mark.slow
def test_worker_job_writes_events_where_the_gui_follows_them_and_obeys_stop(ready_experiment):
    """``studio worker export`` as the Export page starts it: events in exports/.jobs/<id>/, the
    export renamed into place at the end; a STOP file there stops it with nothing kept."""
    from studio_desktop.core.workspace import Workspace

    root, project, exp = ready_experiment
    ws = Workspace.open(root, lock=False)
    svc = ExportService(ws, project.id, exp.id)
    env = worker_env()
    cmd = [sys.executable, "-m", "studio_desktop", "--workspace", str(root), "worker", "export", project.id, exp.id,
           "--format", "torchscript", *FAST, "--parent-pid", str(os.getpid())]
    done = subprocess.run(cmd + ["--export-id", "e-ready"], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    events = [json.loads(line) for line in (svc.job_folder("e-ready") / "events.jsonl").read_text().splitlines()]
    assert events[0]["event"] == "started" and events[0]["export_id"] == "e-ready" and events[-1]["event"] == "completed"
    assert [json.loads(line)["event"] for line in done.stdout.splitlines()] == [e["event"] for e in events]
    assert svc.get("e-ready").ready and (svc.folder("e-ready") / "model.pt").is_file()

    svc.job_folder("e-stop").mkdir(parents=True)
    (svc.job_folder("e-stop") / STOP_FILE).write_text("stop\n")
    stopped = subprocess.run(cmd + ["--export-id", "e-stop"], env=env, capture_output=True, text=True, timeout=180)
    assert stopped.returncode == 0
    last = json.loads((svc.job_folder("e-stop") / "events.jsonl").read_text().splitlines()[-1])
    assert last["event"] == "stopped"
    assert [r.id for r in svc.list()] == ["e-ready"] and not list(svc.root.glob(".staging-*"))
    ws.close()
