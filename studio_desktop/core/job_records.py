"""``job.json``: what a job's folder says about the worker running in it, so that a later GUI
session can follow an evaluation or an export it left running in the background (a training
comes back through its experiment record instead). No Qt here: the GUI's job manager reads
:func:`running_jobs` and follows what it returns."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from .procs import DETACHED_FILE, pid_alive, process_identity
from .protocol import TERMINAL_EVENTS, Event, parse_line
from .store import atomic_write_json

JOB_RECORD = "job.json"


@dataclass(frozen=True)
class JobRecord:
    folder: Path
    kind: str
    experiment_id: str
    name: str
    project_id: str
    pid: int
    #: where the run's events start in the folder's events.jsonl
    offset: int
    #: ``procs.process_identity`` of the worker when it started (None where the platform has none)
    identity: str | None = None


def write_job_record(folder: Path, *, kind: str, experiment_id: str, name: str, project_id: str, pid: int,
                     offset: int) -> None:
    """Written when the job starts; a failure only costs following it again after a restart."""
    try:
        atomic_write_json(Path(folder) / JOB_RECORD, {
            "schema_version": 1, "kind": kind, "experiment_id": experiment_id, "name": name,
            "project_id": project_id, "pid": pid, "identity": process_identity(pid), "offset": offset,
            "started": time.time()})
    except OSError:
        pass


def running_jobs(project_dir: Path) -> list[JobRecord]:
    """The project's evaluations, exports... whose worker still runs its recorded run: not
    finished, not dead, and not a stranger that was given the same process id."""
    root = Path(project_dir) / "experiments"
    found = []
    # the job folders of core/evaluation (experiments/<id>/jobs/<kind>) and core/exports
    # (experiments/<id>/exports/.jobs/<export id>)
    for path in [*root.glob(f"*/jobs/*/{JOB_RECORD}"), *root.glob(f"*/exports/.jobs/*/{JOB_RECORD}")]:
        record = _read(path)
        if record is not None and record.kind != "train" and _running(record):
            found.append(record)
    return found


def mark_followed(record: JobRecord) -> None:
    """A GUI follows the job again: it is no longer orphaned."""
    try:
        (record.folder / DETACHED_FILE).unlink()
    except FileNotFoundError:
        pass


def _read(path: Path) -> JobRecord | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return JobRecord(folder=path.parent, kind=str(data["kind"]), experiment_id=str(data["experiment_id"]),
                         name=str(data.get("name") or data["experiment_id"]),
                         project_id=str(data.get("project_id") or ""), pid=int(data["pid"]),
                         offset=int(data.get("offset", 0)), identity=data.get("identity") or None)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # not a record this version wrote: nothing to follow


def _running(record: JobRecord) -> bool:
    if not pid_alive(record.pid):
        return False
    if record.identity and record.identity != process_identity(record.pid):
        return False  # the id now belongs to another process
    return not _ended(record.folder / "events.jsonl", record.offset)


def _ended(events: Path, offset: int) -> bool:
    """Whether the run that starts at ``offset`` of ``events`` already wrote its last event."""
    try:
        with open(events, "rb") as fh:
            fh.seek(offset)
            tail = fh.read()
    except OSError:
        return False
    for line in tail.decode("utf-8", errors="replace").splitlines():
        item = parse_line(line)
        if isinstance(item, Event) and item.name in TERMINAL_EVENTS:
            return True
    return False


__all__ = ["JOB_RECORD", "JobRecord", "mark_followed", "running_jobs", "write_job_record"]
