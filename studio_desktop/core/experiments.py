"""Experiments: one training run each, stored in ``projects/<pid>/experiments/<exp-id>/``.

``experiment.json`` holds the config (:class:`TrainConfig`), the status and its timestamps,
the environment the run used and its best metric; the worker appends ``metrics.jsonl``,
``events.jsonl`` and ``train.log`` beside it and keeps ``checkpoints/best.ckpt`` and
``last.ckpt``. The GUI and the worker both write ``experiment.json`` (notes vs status), so
every change is a locked read-modify-write (:meth:`ExperimentService.update`) and every write
is atomic. :meth:`ExperimentService.reconcile` turns runs whose worker died into
``interrupted`` ones, resumable from ``last.ckpt``: a crash never loses a run.

Writing an experiment does not require the workspace lock: a detached worker owns its
experiment folder while the GUI (which holds the lock) keeps working on everything else.
Creating and deleting experiments does require it.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

from filelock import FileLock
from pydantic import BaseModel, ConfigDict, Field

from .errors import InvalidInput, StoreError
from .procs import pid_alive
from .refs import find_by_ref
from .schemas import Stored, now
from .store import read_json, read_model, write_model
from .train_config import (
    AUGMENTATIONS,
    MODEL_CATALOG,
    AugmentationInfo,
    AugmentationStep,
    ModelInfo,
    TrainConfig,
    apply_settings,
    default_augmentations,
    defaults_for,
    model_info,
    validate_config,
)
from .workspace import Workspace

ExperimentStatus = Literal["created", "running", "stopped", "completed", "failed", "interrupted"]
#: statuses in which no worker runs and the run can be continued from last.ckpt
RESUMABLE = ("stopped", "interrupted", "failed", "completed")
MAX_NAME = 100


class BestMetric(BaseModel):
    """The best value of the primary metric so far, and the epoch it was reached."""

    model_config = ConfigDict(extra="ignore")
    metric: str
    value: float
    epoch: int

    def __getitem__(self, key: str):  # lets callers use best["value"] as well as best.value
        return getattr(self, key)


class Experiment(Stored):
    KIND: ClassVar[str] = "experiment"
    SCHEMA_VERSION: ClassVar[int] = 1
    id: str
    name: str
    project_id: str
    task: str
    config: TrainConfig
    status: ExperimentStatus = "created"
    #: full precision so that experiments created within one second still sort newest first
    created: datetime = Field(default_factory=lambda: datetime.now(UTC))
    started: datetime | None = None
    ended: datetime | None = None
    duration_s: float = 0.0
    pid: int | None = None
    host: str | None = None
    epochs_done: int = 0
    best: BestMetric | None = None
    last_metrics: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    hint: str | None = None
    notes: str = ""
    environment: dict[str, Any] = Field(default_factory=dict)
    resumed_from: str | None = None
    detached: bool = False


class ExperimentProblem(BaseModel):
    """An experiment folder that could not be read, with the reason (listed, never fatal)."""

    folder: str
    reason: str


def _new_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def _validate_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise InvalidInput("an experiment name must not be empty")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"an experiment name has at most {MAX_NAME} characters")
    return name


class ExperimentService:
    """The experiments of one project."""

    def __init__(self, ws: Workspace, project_id: str):
        self.ws = ws
        self.project_id = project_id
        self.root = ws.project_dir(project_id) / "experiments"
        #: folders that could not be read by the last :meth:`list`
        self.problems: list[ExperimentProblem] = []

    # ------------------------------------------------------------------ paths
    def folder(self, exp_id: str) -> Path:
        return self.root / exp_id

    def json_path(self, exp_id: str) -> Path:
        return self.folder(exp_id) / "experiment.json"

    def checkpoint(self, exp_id: str, which: str = "last") -> Path:
        return self.folder(exp_id) / "checkpoints" / f"{which}.ckpt"

    def checkpoints(self, exp_id: str) -> dict[str, Path]:
        """The checkpoints that exist, ``{"best": path, "last": path}`` (only those on disk), so
        that evaluation and export offer only what can be loaded."""
        return {k: p for k in ("best", "last") if (p := self.checkpoint(exp_id, k)).is_file()}

    def _lock(self, exp_id: str) -> FileLock:
        return FileLock(str(self.folder(exp_id) / ".experiment.lock"), timeout=10)

    # ---------------------------------------------------------------- reading
    def list(self) -> list[Experiment]:
        """All experiments, newest first. Unreadable folders go to :attr:`problems`."""
        self.problems = []
        out: list[Experiment] = []
        if not self.root.is_dir():
            return out
        for folder in self.root.iterdir():
            if not folder.is_dir() or folder.name.startswith("."):
                continue
            try:
                out.append(read_model(folder / "experiment.json", Experiment))
            except StoreError as exc:
                self.problems.append(ExperimentProblem(folder=str(folder), reason=str(exc)))
        out.sort(key=lambda e: (e.created, e.id), reverse=True)
        return out

    def get(self, ref: str) -> Experiment:
        """An experiment by id or by name (case-insensitive)."""
        if ref and (self.root / ref / "experiment.json").exists():
            return read_model(self.json_path(ref), Experiment)
        return find_by_ref(self.list(), ref, "experiment")

    def metrics(self, exp_id: str) -> list[dict]:
        """The lines of ``metrics.jsonl``; a torn or corrupt line (a crash mid-write) is skipped."""
        path = self.folder(exp_id) / "metrics.jsonl"
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        rows = []
        for line in text.splitlines():
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict):
                rows.append(row)
        return rows

    def resumable(self, exp_id: str) -> bool:
        """True when the run is not running and has a ``last.ckpt`` to continue from, or ended
        inside its first epoch (then resuming trains again from the start)."""
        exp = self.get(exp_id)
        return exp.status in RESUMABLE and (self.checkpoint(exp.id).exists() or exp.epochs_done == 0)

    # ---------------------------------------------------------------- writing
    def _unique_name(self, base: str) -> str:
        taken = {e.name.casefold() for e in self.list()}
        if base.casefold() not in taken:
            return base
        n = 2
        while f"{base} {n}".casefold() in taken:
            n += 1
        return f"{base} {n}"

    def _project_task(self) -> str:
        path = self.ws.project_dir(self.project_id) / "project.json"
        try:
            return str(read_json(path)["task"])
        except (KeyError, TypeError):
            raise StoreError("has no task", path=path) from None

    def create(self, config: TrainConfig | dict, name: str | None = None) -> Experiment:
        """A new experiment in status ``created`` (the worker then runs it)."""
        self.ws.ensure_writable()
        task = self._project_task()
        config = validate_config(config if isinstance(config, TrainConfig) else dict(config), task)
        if name is None:
            name = self._unique_name(config.model)
        else:
            name = _validate_name(name)
            if any(e.name.casefold() == name.casefold() for e in self.list()):
                raise InvalidInput(f"an experiment named '{name}' already exists")
        exp_id = _new_id()
        while self.folder(exp_id).exists():
            exp_id = _new_id()
        exp = Experiment(id=exp_id, name=name, project_id=self.project_id, task=task, config=config)
        self.folder(exp_id).mkdir(parents=True)
        write_model(self.json_path(exp_id), exp)
        return exp

    def save(self, exp: Experiment) -> Experiment:
        """Write ``exp`` as it is (atomic). Prefer :meth:`update` when another process may write."""
        with self._lock(exp.id):
            write_model(self.json_path(exp.id), exp)
        return exp

    def update(self, exp_id: str, **changes: Any) -> Experiment:
        """Locked read-modify-write of some fields: the worker's status changes never erase the
        notes the GUI wrote a second earlier, and vice versa."""
        with self._lock(exp_id):
            exp = read_model(self.json_path(exp_id), Experiment)
            exp = Experiment.model_validate({**exp.model_dump(), **changes})
            write_model(self.json_path(exp_id), exp)
        return exp

    def duplicate(self, ref: str, name: str | None = None) -> Experiment:
        """A new ``created`` experiment with the same settings (to change one and compare)."""
        src = self.get(ref)
        return self.create(src.config, name or self._unique_name(f"{src.name} copy"))

    def rename(self, ref: str, new_name: str) -> Experiment:
        exp = self.get(ref)
        new_name = _validate_name(new_name)
        if any(e.id != exp.id and e.name.casefold() == new_name.casefold() for e in self.list()):
            raise InvalidInput(f"an experiment named '{new_name}' already exists")
        return self.update(exp.id, name=new_name)

    def set_notes(self, ref: str, text: str) -> Experiment:
        return self.update(self.get(ref).id, notes=text)

    def delete(self, ref: str) -> Experiment:
        """Delete an experiment and its files; refused while its worker runs."""
        self.ws.ensure_writable()
        exp = self.get(ref)
        if exp.status == "running" and self._alive(exp):
            raise InvalidInput(f"experiment '{exp.name}' is still training; stop it before deleting it")
        trash = self.root / f".deleting-{exp.id}-{secrets.token_hex(2)}"
        self.folder(exp.id).rename(trash)
        shutil.rmtree(trash, ignore_errors=True)
        return exp

    @staticmethod
    def _alive(exp: Experiment) -> bool:
        if exp.host and exp.host != socket.gethostname():
            return True  # another machine's process: we cannot tell, assume it lives
        return pid_alive(exp.pid)

    def reconcile(self) -> list[str]:
        """Mark runs whose worker is gone as ``interrupted``; returns the ids changed."""
        changed = []
        for exp in self.list():
            if exp.status != "running" or self._alive(exp):
                continue
            resumable = self.checkpoint(exp.id).exists()
            hint = ("resume it to continue from the last checkpoint" if resumable
                    else "no checkpoint was saved yet; start it again")
            self.update(exp.id, status="interrupted", ended=now(), pid=None,
                        error="the training process ended unexpectedly (crash, power loss or killed)",
                        hint=hint)
            changed.append(exp.id)
        return changed


# ---------------------------------------------------------------- splits and hashes

def resolve_split(ws: Workspace, project_id: str, split_id: str | None) -> tuple[str, dict[str, str]]:
    """``(split id, {image_id: "train"|"val"|"test"})`` of the named split, or the newest one."""
    from .splits import SplitService

    svc = SplitService(ws, project_id)
    if split_id is None:
        splits = svc.list()  # oldest first
        if not splits:
            raise InvalidInput("this project has no split; create a split first (Split page or "
                               "`studio split create`)")
        split = splits[-1]
    else:
        split = svc.get(split_id)
    return split.id, dict(split.assignments)


def stable_hash(obj: Any) -> str:
    """Short sha256 of a JSON-able object (dataset and split fingerprints in experiment.json)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def host_name() -> str:
    return socket.gethostname()


def this_pid() -> int:
    return os.getpid()


__all__ = ["AUGMENTATIONS", "AugmentationInfo", "AugmentationStep", "BestMetric", "Experiment",
           "ExperimentProblem", "ExperimentService", "ExperimentStatus", "MODEL_CATALOG", "ModelInfo",
           "RESUMABLE", "TrainConfig", "apply_settings", "default_augmentations", "defaults_for",
           "model_info", "resolve_split", "stable_hash", "validate_config"]
