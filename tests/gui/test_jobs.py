"""The job runner against a fake worker: a tiny detached script that appends protocol events.

The fake worker behaves like the real one where the runner cares: it writes events (one
line in two chunks, plus noise), watches for the STOP control file, and (in "stubborn" mode)
ignores it so the runner must kill it after the grace period.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

pytestmark = pytest.mark.gui

FAKE_WORKER = r'''
import json, os, sys, time
folder, mode = sys.argv[1], sys.argv[2]
path = os.path.join(folder, "events.jsonl")
def emit(event, **kw):
    with open(path, "a") as fh:
        fh.write(json.dumps({"event": event, "time": time.time(), **kw}) + "\n")
emit("started", experiment="fake", pid=os.getpid(), total_epochs=3)
with open(path, "a") as fh:  # one line written in two chunks, and some noise
    line = json.dumps({"event": "progress", "time": 0, "step": 1, "total": 2, "eta_s": 5, "epoch": 1})
    fh.write(line[:10]); fh.flush(); time.sleep(0.3); fh.write(line[10:] + "\n")
    fh.write("not json at all\n")
emit("epoch", epoch=1, metrics={"train_loss": 1.0, "val_loss": 1.2})
emit("log", level="info", message="hello")
if mode == "complete":
    emit("epoch", epoch=2, metrics={"train_loss": 0.5})
    emit("completed", summary={"best": 0.9})
    sys.exit(0)
if mode == "crash":
    os._exit(3)
while True:
    if mode == "graceful" and os.path.exists(os.path.join(folder, "STOP")):
        emit("stopped", epoch=1)
        sys.exit(0)
    time.sleep(0.05)
'''


@pytest.fixture
def fake_worker(tmp_path):
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE_WORKER)
    return script


@pytest.fixture
def manager(qtbot):
    from studio_desktop.gui.jobs import JobManager

    mgr = JobManager(grace_s=30.0, poll_ms=30)
    yield mgr
    for job in mgr.jobs():  # never leave a worker alive
        if job.pid:
            try:
                os.kill(job.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        job._timer.stop()
    mgr.deleteLater()
    qtbot.wait(20)


def _start(manager, fake_worker, folder, mode):
    folder.mkdir(parents=True, exist_ok=True)
    return manager.start_process(sys.executable, [str(fake_worker), str(folder), mode], folder,
                                 experiment_id=f"exp-{mode}", name=f"fake {mode}")


def test_signals_arrive_in_order(qtbot, manager, fake_worker, tmp_path):
    seen: list[str] = []
    job = _start(manager, fake_worker, tmp_path / "exp", "complete")
    for name in ("started", "progress", "epoch", "log", "completed", "finished"):
        getattr(job, name).connect(lambda *a, n=name: seen.append(n))
    with qtbot.waitSignal(job.finished, timeout=15000):
        pass
    # the noise line arrives as a log of level "noise", between progress and epoch
    assert [s for s in seen] == ["started", "progress", "log", "epoch", "log", "epoch", "completed", "finished"]
    assert job.state == "completed"
    assert job.total_epochs == 3 and job.epoch_no == 2
    assert job.last_metrics == {"train_loss": 0.5}
    assert manager.running() == []


def test_stop_writes_stop_file_and_worker_stops(qtbot, manager, fake_worker, tmp_path):
    folder = tmp_path / "exp"
    job = _start(manager, fake_worker, folder, "graceful")
    qtbot.waitUntil(lambda: job.epoch_no == 1, timeout=15000)
    assert manager.running() == [job]
    stopped = []
    job.stopped.connect(stopped.append)
    job.stop()
    assert (folder / "STOP").exists()
    assert job.state == "stopping"
    with qtbot.waitSignal(job.finished, timeout=15000):
        pass
    assert job.state == "stopped" and not job.killed
    assert stopped and stopped[0].get("epoch") == 1


def test_kill_after_grace_when_stop_ignored(qtbot, manager, fake_worker, tmp_path):
    from studio_desktop.core.procs import pid_alive
    from studio_desktop.gui.jobs import reap_children

    job = _start(manager, fake_worker, tmp_path / "exp", "stubborn")
    qtbot.waitUntil(lambda: job.epoch_no == 1, timeout=15000)
    pid = job.pid
    assert pid_alive(pid)
    job.stop(grace_s=0.5)
    with qtbot.waitSignal(job.finished, timeout=10000):
        pass
    assert job.killed and job.state == "stopped"
    deadline = time.time() + 5
    while pid_alive(pid) and time.time() < deadline:
        time.sleep(0.05)
        reap_children()  # the runner reaps its children on its pid checks too
    assert not pid_alive(pid)


def test_crash_without_final_event_is_reported(qtbot, manager, fake_worker, tmp_path):
    job = _start(manager, fake_worker, tmp_path / "exp", "crash")
    with qtbot.waitSignal(job.failed, timeout=15000) as blocker:
        pass
    assert "ended without reporting" in blocker.args[0]["error"]
    assert job.state == "failed"


def test_reattach_follows_current_run_only(qtbot, manager, fake_worker, tmp_path):
    """A restarted GUI re-attaches to a live worker and ignores the previous run's 'stopped'."""
    from types import SimpleNamespace

    folder = tmp_path / "exp"
    folder.mkdir()
    (folder / "events.jsonl").write_text('{"event": "started", "total_epochs": 1}\n{"event": "stopped"}\n')
    proc = _start(manager, fake_worker, folder, "graceful")
    qtbot.waitUntil(lambda: proc.epoch_no == 1, timeout=15000)
    proc._timer.stop()  # forget it, as a GUI that quit would
    manager._jobs.clear()
    exp = SimpleNamespace(id="exp-graceful", name="fake", project_id="p", status="running", pid=proc.pid)
    job = manager.reattach(exp, folder=folder)
    assert job is not None and job is not proc
    qtbot.waitUntil(lambda: job.epoch_no == 1, timeout=15000)
    assert job.is_running and job.total_epochs == 3
    job.stop()
    with qtbot.waitSignal(job.finished, timeout=15000):
        pass
    assert job.state == "stopped"
    dead = SimpleNamespace(id="x", name="x", project_id="p", status="running", pid=job.pid)
    qtbot.waitUntil(lambda: manager.reattach(dead, folder=folder) is None, timeout=5000)


def test_a_restarted_gui_follows_evaluations_and_exports_left_running(qtbot, manager, fake_worker, tmp_path):
    """Jobs other than training have no experiment record of their pid: the job.json written at
    start lets a new GUI session follow them again; finished, dead or foreign ones are left alone."""
    import json
    from types import SimpleNamespace

    from studio_desktop.core.job_records import JOB_RECORD
    from studio_desktop.gui.jobs import JobManager

    ws = SimpleNamespace(project_dir=lambda pid: tmp_path / "projects" / pid)
    exp_root = tmp_path / "projects" / "p1" / "experiments"
    folder = exp_root / "e1" / "jobs" / "evaluate"
    folder.mkdir(parents=True)
    old = manager.start_process(sys.executable, [str(fake_worker), str(folder), "graceful"], folder,
                                experiment_id="e1", name="first run", project_id="p1", kind="evaluate")
    qtbot.waitUntil(lambda: old.epoch_no == 1, timeout=15000)
    record = json.loads((folder / JOB_RECORD).read_text())
    assert record["kind"] == "evaluate" and record["pid"] == old.pid and record["experiment_id"] == "e1"
    # an export that already finished, and one whose worker is gone
    done = exp_root / "e2" / "exports" / ".jobs" / "x1"
    done.mkdir(parents=True)
    (done / "events.jsonl").write_text('{"event": "started"}\n{"event": "completed", "summary": {}}\n')
    (done / JOB_RECORD).write_text(json.dumps({**record, "kind": "export", "experiment_id": "e2", "offset": 0}))
    gone = exp_root / "e3" / "jobs" / "evaluate"
    gone.mkdir(parents=True)
    (gone / JOB_RECORD).write_text(json.dumps({**record, "experiment_id": "e3", "pid": 2 ** 22 + 7}))
    stranger = exp_root / "e4" / "jobs" / "evaluate"
    stranger.mkdir(parents=True)
    (stranger / JOB_RECORD).write_text(json.dumps({**record, "experiment_id": "e4", "identity": "another:1"}))

    later = JobManager(grace_s=30.0, poll_ms=30)  # the next GUI session
    try:
        found = later.reattach_workers(ws, "p1")
        assert [j.experiment_id for j in found] == ["e1"]
        job = later.job_for("e1", "evaluate")
        assert job is found[0] and job.kind == "evaluate" and job.pid == old.pid and job.name == "first run"
        assert later.job_for("e2", "export") is None and later.job_for("e3", "evaluate") is None
        qtbot.waitUntil(lambda: job.epoch_no == 1, timeout=15000)
        assert later.reattach_workers(ws, "p1") == []  # already followed
        job.stop()
        with qtbot.waitSignal(job.finished, timeout=15000):
            pass
        assert job.state == "stopped"
        assert later.reattach_workers(ws, "p1") == []  # its run has ended
    finally:
        for j in later.jobs():
            j._timer.stop()
        later.deleteLater()


@pytest.mark.parametrize("choice", ["keep", "stop", "cancel"])
def test_confirm_close(qtbot, manager, fake_worker, tmp_path, monkeypatch, choice):
    assert manager.confirm_close(None) is True  # nothing running: no question
    folder = tmp_path / "exp"
    job = _start(manager, fake_worker, folder, "graceful")
    asked = []
    monkeypatch.setattr(manager, "ask_close_choice", lambda parent, jobs: asked.append(jobs) or choice)
    result = manager.confirm_close(None)
    assert asked == [[job]]
    assert result is (choice != "cancel")
    assert (folder / "DETACHED").exists() is (choice == "keep")
    assert (folder / "STOP").exists() is (choice == "stop")


def test_binding_refcount_defect_is_neutralised(qtbot):
    """PySide6 6.12 drops a reference to None/True on void calls and emit (fatal on Python 3.11
    after enough calls); gui.qt_fixes pins them, so a long session cannot exhaust them."""
    from PySide6.QtCore import QObject, QTimer, Signal

    from studio_desktop.gui import qt_fixes

    class Emitter(QObject):
        ping = Signal(dict)

    e = Emitter()
    e.ping.connect(lambda d: None)
    timer = QTimer()
    for _ in range(5000):
        e.ping.emit({})
        timer.stop()
    if sys.version_info < (3, 12) and qt_fixes.binding_drops_references():
        assert qt_fixes._installed
        assert sys.getrefcount(None) > qt_fixes.PIN // 2
        assert sys.getrefcount(True) > qt_fixes.PIN // 2
        assert sys.getrefcount(False) > qt_fixes.PIN // 2


def test_status_area_shows_running_jobs_and_stops_them(qtbot, manager, fake_worker, tmp_path):
    from PySide6.QtCore import Qt

    from studio_desktop.gui.widgets.job_status import JobStatusArea, format_eta

    area = JobStatusArea(manager)
    qtbot.addWidget(area)
    area.show()
    assert area.idle_label.isVisible() and area.idle_label.text() == "No jobs running"
    job = _start(manager, fake_worker, tmp_path / "exp", "graceful")
    qtbot.waitUntil(lambda: job.epoch_no == 1 and job.experiment_id in area.rows, timeout=15000)
    row = area.rows[job.experiment_id]
    qtbot.waitUntil(lambda: "epoch 1/3" in row.label.text(), timeout=5000)
    assert "fake graceful" in row.label.text()
    assert not area.idle_label.isVisible()
    assert row.bar.value() > 0
    qtbot.mouseClick(row.stop_button, Qt.MouseButton.LeftButton)
    assert (tmp_path / "exp" / "STOP").exists()
    qtbot.waitUntil(lambda: not job.is_running, timeout=15000)
    qtbot.waitUntil(lambda: not area.rows and area.idle_label.isVisible(), timeout=5000)
    assert format_eta(3725) == "1 h 02 min" and format_eta(65) == "1 min 05 s" and format_eta(None) == ""


def test_backlog_of_progress_events_is_coalesced(qtbot, manager, tmp_path):
    """Re-attaching to a long run replays thousands of progress lines: only the newest is emitted."""
    import json as _json

    from studio_desktop.gui.jobs import Job

    folder = tmp_path / "exp"
    folder.mkdir()
    lines = [_json.dumps({"event": "started", "total_epochs": 2})]
    lines += [_json.dumps({"event": "progress", "step": s, "total": 3000, "epoch": 1}) for s in range(3000)]
    lines += [_json.dumps({"event": "epoch", "epoch": 1, "metrics": {"val_loss": 1.0}})]
    (folder / "events.jsonl").write_text("\n".join(lines) + "\n")
    job = Job(folder, experiment_id="e", name="long", poll_ms=10)
    seen = []
    job.progress.connect(lambda d: seen.append(d["step"]))
    epochs = []
    job.epoch.connect(lambda d: epochs.append(d["epoch"]))
    qtbot.waitUntil(lambda: epochs == [1], timeout=5000)
    assert seen and seen[-1] == 2999 and len(seen) < 20
    assert job.step == 2999 and job.total_steps == 3000
    job._timer.stop()


def test_fraction_from_batches_steps_or_epochs(qtbot, tmp_path):
    from studio_desktop.core.event_tail import Event
    from studio_desktop.gui.jobs import Job

    job = Job(tmp_path, experiment_id="e", name="n")
    job._timer.stop()
    job._dispatch(Event("started", {"event": "started", "total_epochs": 4}))
    assert job.fraction == 0.0
    job._dispatch(Event("epoch", {"event": "epoch", "epoch": 1, "metrics": {}}))
    assert job.fraction == 0.25
    job._dispatch(Event("progress", {"event": "progress", "step": 30, "total": 40, "epoch": 3}))
    assert job.fraction == 0.75
    job._dispatch(Event("progress", {"event": "progress", "step": 25, "total": 40, "epoch": 3,
                                     "batch": 5, "batches": 10}))
    assert job.fraction == (2 + 0.5) / 4
