"""``experiments/<id>/evaluation/`` on disk: written whole or not at all, read by page, CLI and report.

The evaluator writes a new evaluation into a hidden staging folder and swaps it in only when it
is complete, so a stopped, failed or killed evaluation leaves the previous one as it was; the
user's operating point survives a re-evaluation (it is a choice, not a result). Files:

- ``evaluation.json``  what was evaluated and how (:class:`EvaluationInfo`)
- ``aggregate.json``   metrics per subset at the operating point of the run (torchmetrics)
- ``results.jsonl``    one line per image: subset, truth and prediction in the §5 model,
                       confidence, class probabilities, correct
- ``scores.npz``       the cached raw outputs every view recomputes from
- ``label_issues.json`` likely label errors (cleanlab), when the task has them
- ``operating_point.json`` the decision rule the user chose (absent: argmax)

The job's own files (``events.jsonl``, ``STOP``, the worker's stderr) live in
``experiments/<id>/jobs/evaluate/`` so that a running evaluation can be followed and stopped.
"""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from ..errors import StoreError
from ..schemas import Stored, now
from ..store import read_json, read_model, write_model
from .operating_point import FILE_NAME as OPERATING_POINT_FILE

FOLDER = "evaluation"
#: files kept when an evaluation is replaced
KEPT = (OPERATING_POINT_FILE,)


class EvaluationInfo(Stored):
    """``evaluation.json``: the configuration, the checkpoint and the timings of one evaluation."""

    KIND: ClassVar[str] = "evaluation"
    SCHEMA_VERSION: ClassVar[int] = 1
    experiment_id: str
    project_id: str
    task: str
    status: str = "completed"
    checkpoint: dict[str, Any] = Field(default_factory=dict)  # which, path, sha256, epoch
    subsets: list[str] = Field(default_factory=list)
    images: dict[str, int] = Field(default_factory=dict)
    skipped: dict[str, int] = Field(default_factory=dict)
    batch_size: int = 32
    device: str = "cpu"
    classes: list[dict] = Field(default_factory=list)  # output order: id, name
    started: str = Field(default_factory=lambda: now().isoformat())
    ended: str | None = None
    timings: dict[str, float] = Field(default_factory=dict)
    environment: dict[str, Any] = Field(default_factory=dict)
    operating_point: dict[str, Any] | None = None


def evaluation_folder(experiment_folder: str | Path) -> Path:
    return Path(experiment_folder) / FOLDER


def job_folder(experiment_folder: str | Path, kind: str = "evaluate") -> Path:
    """Where a job of this kind for the experiment keeps events.jsonl, STOP and its stderr."""
    return Path(experiment_folder) / "jobs" / kind


class EvaluationStore:
    """The evaluation of one experiment (``folder`` is the experiment folder)."""

    def __init__(self, experiment_folder: str | Path):
        self.experiment_folder = Path(experiment_folder)
        self.folder = evaluation_folder(experiment_folder)

    # ---------------------------------------------------------------- reading
    def exists(self) -> bool:
        return (self.folder / "evaluation.json").is_file() and (self.folder / "scores.npz").is_file()

    def info(self) -> EvaluationInfo:
        return read_model(self.folder / "evaluation.json", EvaluationInfo)

    def aggregate(self) -> dict:
        return read_json(self.folder / "aggregate.json")

    def results(self) -> list[dict]:
        """Every line of results.jsonl (a torn line is reported, not skipped silently)."""
        path = self.folder / "results.jsonl"
        out = []
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise StoreError(f"cannot read: {exc.strerror}", path=path) from None
        for no, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    raise StoreError(f"line {no} is not valid JSON; evaluate again", path=path) from None
        return out

    def scores_arrays(self) -> dict[str, np.ndarray]:
        path = self.folder / "scores.npz"
        try:
            with np.load(path, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read the cached scores ({exc}); evaluate again", path=path) from None

    def label_issues(self) -> list[dict]:
        path = self.folder / "label_issues.json"
        if not path.is_file():
            return []
        return list(read_json(path).get("issues", []))

    # ---------------------------------------------------------------- writing
    def staging(self) -> Path:
        """A fresh hidden folder beside ``evaluation/`` to write a new evaluation into."""
        self.clean_staging()
        path = self.experiment_folder / f".evaluation-new-{secrets.token_hex(3)}"
        path.mkdir(parents=True)
        return path

    def clean_staging(self) -> None:
        """Remove what a killed evaluation left behind."""
        for old in self.experiment_folder.glob(".evaluation-*"):
            shutil.rmtree(old, ignore_errors=True)

    def commit(self, staged: Path) -> Path:
        """Swap ``staged`` in as ``evaluation/``, keeping the user's operating point."""
        for name in KEPT:
            src = self.folder / name
            if src.is_file() and not (staged / name).exists():
                shutil.copy2(src, staged / name)
        trash = None
        if self.folder.exists():
            trash = self.experiment_folder / f".evaluation-old-{secrets.token_hex(3)}"
            self.folder.rename(trash)
        staged.rename(self.folder)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)
        return self.folder

    def reset(self) -> None:
        """Delete the evaluation (and its operating point) at once."""
        if self.folder.exists():
            trash = self.experiment_folder / f".evaluation-old-{secrets.token_hex(3)}"
            self.folder.rename(trash)
            shutil.rmtree(trash, ignore_errors=True)


def write_info(folder: Path, info: EvaluationInfo) -> None:
    write_model(folder / "evaluation.json", info)


__all__ = ["EvaluationInfo", "EvaluationStore", "FOLDER", "evaluation_folder", "job_folder", "write_info"]
