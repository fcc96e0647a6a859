"""Background jobs: start training workers detached and follow them through their event file.

Why detached and tailed rather than a QProcess pipe (deviation from DESIGN §6, agreed in the
training contract): a QProcess-owned child dies with the GUI, which would make "keep training
in the background" impossible, and a pipe cannot be re-opened by a restarted GUI. The worker
appends every protocol event to ``<experiment>/events.jsonl``; :class:`Job` follows that file
with a QTimer through the Qt-free :class:`~studio_desktop.core.event_tail.EventTail` and turns
the events into Qt signals. Stopping writes the ``STOP`` control file (the worker still accepts
``stop`` on stdin when it has a pipe) and kills the process after a grace period.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, QTimer, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from ..core.event_tail import Event, EventTail, Noise, file_size, offset_of_last_start
from ..core.job_records import mark_followed, running_jobs, write_job_record
from ..core.procs import mark_detached, pid_alive, request_stop

#: seconds between the STOP request and killing a worker that ignores it
DEFAULT_GRACE_S = 30.0
#: how often the event file is read (10 Hz keeps the GUI thread idle)
POLL_MS = 100
#: how often the worker's pid is checked (a crash without a final event)
PID_CHECK_S = 1.0


def kill_pid(pid: int) -> None:
    """Kill a process that ignored the STOP request (SIGKILL / TerminateProcess)."""
    if pid <= 0:
        return
    if os.name == "nt":  # pragma: no cover - Windows only
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x0001, False, pid)  # PROCESS_TERMINATE
        if handle:
            ctypes.windll.kernel32.TerminateProcess(handle, 1)
            ctypes.windll.kernel32.CloseHandle(handle)
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


#: children started by this process; polled so that finished ones are reaped (a zombie
#: would otherwise look alive to ``pid_alive``)
_CHILDREN: list[subprocess.Popen] = []


def reap_children() -> None:
    for child in list(_CHILDREN):
        if child.poll() is not None:
            _CHILDREN.remove(child)


def spawn_detached(program: str, args: list[str], cwd: Path, stderr_file: Path) -> int:
    """Start a process that outlives this one; returns its pid.

    PySide6 6.12's ``QProcess.startDetached()`` (the member form, the only one that can
    redirect output) does not return the pid, and the runner needs the pid to notice a crash
    and to kill a worker that ignores STOP; so this uses ``subprocess`` in a new session
    (POSIX) / detached process group (Windows): the child survives the GUI quitting.
    stdout (a copy of the events file) is discarded; stderr is appended to ``stderr_file``.
    """
    kwargs: dict = {}
    if os.name == "nt":  # pragma: no cover - Windows only
        kwargs["creationflags"] = (subprocess.DETACHED_PROCESS | subprocess.CREATE_NEW_PROCESS_GROUP
                                   | subprocess.CREATE_NO_WINDOW)
    else:
        kwargs["start_new_session"] = True
    reap_children()
    with open(stderr_file, "ab") as err:
        try:
            child = subprocess.Popen([program, *args], cwd=str(cwd), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=err, close_fds=True, **kwargs)
        except OSError as exc:
            raise RuntimeError(f"could not start the training process ({program}): {exc}") from exc
    _CHILDREN.append(child)
    return child.pid


def worker_command(*args: str) -> tuple[str, list[str]]:
    """Program and arguments that run ``studio_desktop worker ...`` as a separate process.

    In a PyInstaller bundle ``sys.executable`` is the app itself, which accepts the CLI
    arguments directly; otherwise it is Python and needs ``-m studio_desktop``.
    """
    if getattr(sys, "frozen", False):
        return sys.executable, list(args)
    return sys.executable, ["-m", "studio_desktop", *args]


def job_key(experiment_id: str, kind: str) -> str:
    """Training jobs keep the experiment id as their key; other kinds are ``kind:experiment``."""
    return experiment_id if kind == "train" else f"{kind}:{experiment_id}"


class Job(QObject):
    """One worker followed through its ``events.jsonl``; every protocol event becomes a signal."""

    started = Signal(dict)
    progress = Signal(dict)
    epoch = Signal(dict)
    log = Signal(dict)
    artifact = Signal(dict)
    completed = Signal(dict)
    failed = Signal(dict)
    stopped = Signal(dict)
    #: the job is over (after completed / failed / stopped)
    finished = Signal()
    #: any displayed attribute changed (state, epoch, progress, ETA)
    changed = Signal()

    def __init__(self, folder: str | Path, *, experiment_id: str, name: str, project_id: str = "",
                 pid: int = 0, offset: int = 0, grace_s: float = DEFAULT_GRACE_S,
                 poll_ms: int = POLL_MS, kind: str = "train", parent: QObject | None = None):
        super().__init__(parent)
        self.folder = Path(folder)
        self.experiment_id = experiment_id
        #: what the worker does: train | evaluate | export | predict | download ...
        self.kind = kind
        #: the last progress message of a job without epochs ("exporting: validating 12/64")
        self.message = ""
        self.project_id = project_id
        self.name = name
        self.pid = pid
        self.grace_s = grace_s
        #: starting | running | stopping | completed | failed | stopped
        self.state = "starting"
        self.epoch_no = 0
        self.total_epochs = 0
        self.step = 0
        self.total_steps = 0
        self.batch = 0
        self.batches = 0
        self.eta_s: float | None = None
        self.last_metrics: dict = {}
        self.error: str | None = None
        self.hint: str | None = None
        self.killed = False
        self.detached = False
        self.started_at = time.monotonic()
        self._tail = EventTail(self.folder / "events.jsonl", offset=offset, max_bytes=256 * 1024)
        self._last_pid_check = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(poll_ms)
        self._timer.timeout.connect(self.poll)
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._kill_if_alive)
        self._timer.start()

    # ----------------------------------------------------------------- state
    @property
    def key(self) -> str:
        """Identity in the job manager: one job of each kind per experiment at a time."""
        return job_key(self.experiment_id, self.kind)

    @property
    def is_running(self) -> bool:
        return self.state in ("starting", "running", "stopping")

    @property
    def fraction(self) -> float:
        """Overall progress in [0, 1].

        From the batch within the epoch when the worker reports it (``batch``/``batches``),
        else from the global ``step``/``total``, else from whole epochs.
        """
        if self.batches and self.total_epochs:
            done = max(0, self.epoch_no - 1) + min(1.0, self.batch / self.batches)
            return max(0.0, min(1.0, done / self.total_epochs))
        if self.total_steps:
            return max(0.0, min(1.0, self.step / self.total_steps))
        if self.total_epochs:
            return max(0.0, min(1.0, self.epoch_no / self.total_epochs))
        return 0.0

    def describe(self) -> str:
        if self.state == "starting":
            return f"{self.name}: starting…"
        if self.kind != "train":
            text = self.message or self.kind
            return f"{self.name}: {'stopping… ' if self.state == 'stopping' else ''}{text}"
        epoch = f"epoch {self.epoch_no}/{self.total_epochs}" if self.total_epochs else ""
        if self.state == "stopping":
            return f"{self.name}: stopping… {epoch}".strip()
        return f"{self.name}: {epoch}".strip()

    # --------------------------------------------------------------- control
    def stop(self, grace_s: float | None = None) -> None:
        """Ask the worker to stop after its current step; kill it if it is still alive later."""
        if not self.is_running:
            return
        request_stop(self.folder)
        self.state = "stopping"
        grace = self.grace_s if grace_s is None else grace_s
        self._kill_timer.start(int(max(0.0, grace) * 1000))
        self.changed.emit()

    def detach(self) -> None:
        """Let the worker go on after the GUI quits (it then ignores its parent's death)."""
        mark_detached(self.folder)
        self.detached = True
        self._timer.stop()
        self._kill_timer.stop()

    def _kill_if_alive(self) -> None:
        reap_children()
        if self.is_running and self.pid and pid_alive(self.pid):
            kill_pid(self.pid)
            self.killed = True
            self.log.emit({"event": "log", "level": "warning",
                           "message": f"the worker ignored the stop request for {self.grace_s:g} s and was killed"})
        if self.is_running:
            self._finish("stopped", {"event": "stopped", "epoch": self.epoch_no, "killed": True})

    # --------------------------------------------------------------- reading
    def poll(self) -> None:
        """Read new events (bounded per call); detect a worker that died without a final event."""
        items = self._tail.poll()
        # a backlog (re-attach, a slow tick) holds many progress events: only the newest is shown
        last_progress = max((i for i, it in enumerate(items)
                             if isinstance(it, Event) and it.name == "progress"), default=-1)
        for i, item in enumerate(items):
            if isinstance(item, Event) and item.name == "progress" and i != last_progress:
                continue
            self._dispatch(item)
            if not self.is_running:
                return
        now = time.monotonic()
        if self.pid and now - self._last_pid_check >= PID_CHECK_S:
            self._last_pid_check = now
            reap_children()
            if not pid_alive(self.pid):
                for item in self._tail.poll() + self._tail.flush_partial():
                    self._dispatch(item)
                    if not self.is_running:
                        return
                if self.state == "stopping":
                    self._finish("stopped", {"event": "stopped", "epoch": self.epoch_no})
                else:
                    self._finish("failed", {
                        "event": "failed",
                        "error": f"the {'training' if self.kind == 'train' else self.kind} process ended "
                                 "without reporting a result",
                        "hint": (f"it may have crashed or been killed; see {self.folder / 'train.log'}; "
                                 "you can resume it from its last checkpoint") if self.kind == "train" else
                                (f"it may have crashed or been killed; see the log files in {self.folder}; "
                                 "nothing half-finished was kept: start it again")})

    def _dispatch(self, item: Event | Noise) -> None:
        if isinstance(item, Noise):
            self.log.emit({"event": "log", "level": "noise", "message": item.text})
            return
        data, name = item.data, item.name
        if name == "started":
            self.state = "running" if self.state == "starting" else self.state
            self.total_epochs = int(data.get("total_epochs") or self.total_epochs)
            self.pid = int(data.get("pid") or self.pid)
            self.started.emit(data)
        elif name == "progress":
            self.step = int(data.get("step") or 0)
            self.total_steps = int(data.get("total") or 0)
            self.batch = int(data.get("batch") or 0)
            self.batches = int(data.get("batches") or 0)
            self.eta_s = data.get("eta_s")
            if data.get("epoch") is not None:
                self.epoch_no = int(data["epoch"])
            if data.get("message"):
                self.message = str(data["message"])
            self.progress.emit(data)
        elif name == "epoch":
            self.epoch_no = int(data.get("epoch") or self.epoch_no)
            self.last_metrics = dict(data.get("metrics") or {})
            self.epoch.emit(data)
        elif name == "log":
            self.log.emit(data)
        elif name == "artifact":
            self.artifact.emit(data)
        elif name in ("completed", "failed", "stopped"):
            if name == "failed":
                self.error, self.hint = data.get("error"), data.get("hint")
            self._finish(name, data)
            return
        else:  # an event from a newer worker: show it, never fail on it
            self.log.emit({"event": "log", "level": "debug", "message": f"unknown event {name!r}"})
        self.changed.emit()

    def _finish(self, state: str, data: dict) -> None:
        self.state = state
        self._timer.stop()
        self._kill_timer.stop()
        if state == "failed":
            self.error = self.error or data.get("error")
            self.hint = self.hint or data.get("hint")
        getattr(self, state).emit(data)
        self.changed.emit()
        self.finished.emit()


class JobManager(QObject):
    """Starts and tracks the jobs of this GUI session; the status bar and pages listen to it."""

    jobsChanged = Signal()
    #: a job finished (the Job), so pages can reload the experiment
    jobFinished = Signal(object)

    def __init__(self, parent: QObject | None = None, *, grace_s: float | None = None,
                 poll_ms: int = POLL_MS):
        super().__init__(parent)
        if grace_s is None:  # configurable: QSettings "training/stop_grace_s"
            try:
                grace_s = float(QSettings().value("training/stop_grace_s", DEFAULT_GRACE_S))
            except (TypeError, ValueError):
                grace_s = DEFAULT_GRACE_S
        self.grace_s = grace_s
        self.poll_ms = poll_ms
        self._jobs: dict[str, Job] = {}

    # ----------------------------------------------------------------- query
    def jobs(self) -> list[Job]:
        return list(self._jobs.values())

    def running(self) -> list[Job]:
        return [j for j in self._jobs.values() if j.is_running]

    def job_for(self, experiment_id: str, kind: str = "train") -> Job | None:
        """The running job of this kind for the experiment, if any."""
        job = self._jobs.get(job_key(experiment_id, kind))
        return job if job is not None and job.is_running else None

    def last_job(self, experiment_id: str, kind: str) -> Job | None:
        """The job of this kind for the experiment started in this session (running or not)."""
        return self._jobs.get(job_key(experiment_id, kind))

    # ---------------------------------------------------------------- start
    def start_training(self, ws, project, experiment, resume: bool = False,
                       epochs: int | None = None) -> Job:
        """Start ``worker train`` detached for ``experiment`` and follow it."""
        folder = Path(ws.project_dir(project.id)) / "experiments" / experiment.id
        args = ["--workspace", str(ws.root), "worker", "train", project.id, experiment.id,
                "--parent-pid", str(os.getpid())]
        if resume:
            args.append("--resume")
        if epochs is not None:
            args += ["--epochs", str(int(epochs))]
        program, full = worker_command(*args)
        return self.start_process(program, full, folder, experiment_id=experiment.id,
                                  name=experiment.name, project_id=project.id)

    def start_worker(self, ws, job: str, args: list[str], folder: str | Path, *, experiment_id: str,
                     name: str, project_id: str = "") -> Job:
        """Start ``worker JOB ARGS...`` (evaluate, export, download...) detached and follow the
        protocol events it appends to ``folder/events.jsonl``."""
        full_args = ["--workspace", str(ws.root), "worker", job, *args, "--parent-pid", str(os.getpid())]
        program, full = worker_command(*full_args)
        return self.start_process(program, full, folder, experiment_id=experiment_id, name=name,
                                  project_id=project_id, kind=job)

    def start_process(self, program: str, args: list[str], folder: str | Path, *,
                      experiment_id: str, name: str, project_id: str = "", kind: str = "train") -> Job:
        """Start any worker-like process detached and follow ``folder/events.jsonl``.

        Only new events are followed (a resumed run appends to the previous run's file).
        The process's stderr goes to ``worker-stderr.log`` so that a crash before the
        worker's own logging is set up still leaves a trace.
        """
        if self.job_for(experiment_id, kind) is not None:
            raise RuntimeError(f"{name!r} is already running")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            (folder / "STOP").unlink()  # a stale stop request must not stop the new run
        except FileNotFoundError:
            pass
        try:
            (folder / "DETACHED").unlink()
        except FileNotFoundError:
            pass
        offset = file_size(folder / "events.jsonl")
        pid = spawn_detached(program, args, folder, folder / "worker-stderr.log")
        job = Job(folder, experiment_id=experiment_id, name=name, project_id=project_id, pid=int(pid),
                  offset=offset, grace_s=self.grace_s, poll_ms=self.poll_ms, kind=kind, parent=self)
        write_job_record(folder, kind=kind, experiment_id=experiment_id, name=name, project_id=project_id,
                         pid=job.pid, offset=offset)
        self._add(job)
        return job

    def reattach_workers(self, ws, project_id: str) -> list[Job]:
        """Follow again the evaluations, exports... of a project that an earlier GUI session left
        running in the background (``core/job_records.py``; a training comes back through its
        experiment record, see :meth:`reattach`)."""
        found: list[Job] = []
        for rec in running_jobs(Path(ws.project_dir(project_id))):
            if self.job_for(rec.experiment_id, rec.kind) is not None:
                continue
            mark_followed(rec)
            job = Job(rec.folder, experiment_id=rec.experiment_id, name=rec.name,
                      project_id=rec.project_id or project_id, pid=rec.pid, offset=rec.offset,
                      grace_s=self.grace_s, poll_ms=self.poll_ms, kind=rec.kind, parent=self)
            self._add(job)
            found.append(job)
        return found

    def reattach(self, experiment, ws=None, folder: str | Path | None = None) -> Job | None:
        """Follow a job started by an earlier GUI session, if its worker is still alive."""
        reap_children()
        if experiment.status != "running" or not experiment.pid or not pid_alive(int(experiment.pid)):
            return None
        existing = self._jobs.get(experiment.id)
        if existing is not None and existing.is_running:
            return existing
        if folder is None:
            folder = Path(ws.project_dir(experiment.project_id)) / "experiments" / experiment.id
        folder = Path(folder)
        try:
            (folder / "DETACHED").unlink()  # a GUI follows it again: it is no longer orphaned
        except FileNotFoundError:
            pass
        job = Job(folder, experiment_id=experiment.id, name=experiment.name,
                  project_id=experiment.project_id, pid=int(experiment.pid),
                  offset=offset_of_last_start(folder / "events.jsonl"),
                  grace_s=self.grace_s, poll_ms=self.poll_ms, parent=self)
        self._add(job)
        return job

    def _add(self, job: Job) -> None:
        self._jobs[job.key] = job
        job.finished.connect(lambda j=job: self._on_finished(j))
        job.changed.connect(self.jobsChanged)
        self.jobsChanged.emit()

    def _on_finished(self, job: Job) -> None:
        self.jobFinished.emit(job)
        self.jobsChanged.emit()

    # ---------------------------------------------------------------- close
    def stop_all(self) -> None:
        for job in self.running():
            job.stop()

    def ask_close_choice(self, parent: QWidget | None, jobs: list[Job]) -> str:
        """Ask what to do with running jobs on quit: "keep", "stop" or "cancel"."""
        names = ", ".join(j.name for j in jobs)
        box = QMessageBox(parent)
        box.setIcon(QMessageBox.Icon.Question)
        training = all(j.kind == "train" for j in jobs)
        what = "training job(s)" if training else "job(s)"
        box.setWindowTitle("Training is running" if training else "Jobs are running")
        box.setText(f"{len(jobs)} {what} still running: {names}.")
        box.setInformativeText(
            "Keep them running in the background: they go on, and this window follows them again "
            "the next time you open AI Studio. Stop: a training saves its last checkpoint and "
            "stops (you can resume it later); an evaluation or export stops and keeps what was there "
            "before.")
        keep = box.addButton("Keep training in the background" if training else "Keep running in the background",
                             QMessageBox.ButtonRole.AcceptRole)
        stop = box.addButton("Stop training" if training else "Stop them", QMessageBox.ButtonRole.DestructiveRole)
        cancel = box.addButton("Cancel", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(cancel)
        box.setEscapeButton(cancel)
        box.exec()
        clicked = box.clickedButton()
        return "keep" if clicked is keep else "stop" if clicked is stop else "cancel"

    def confirm_close(self, parent: QWidget | None = None) -> bool:
        """Whether the window may close; asks first when jobs are running and acts on the answer."""
        jobs = self.running()
        if not jobs:
            return True
        choice = self.ask_close_choice(parent, jobs)
        if choice == "cancel":
            return False
        for job in jobs:
            if choice == "keep":
                job.detach()
            else:
                request_stop(job.folder)
        return True
