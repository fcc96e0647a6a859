"""What the Training page asks of the workspace, without Qt (testable on its own).

Wraps :class:`ExperimentService` and the split store for one project, and turns pydantic
validation errors into ``{setting: message}`` so the form can show each message next to
the setting it concerns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from ....core.event_tail import read_tail_lines
from ....core.experiments import (
    MODEL_CATALOG,
    Experiment,
    ExperimentService,
    ModelInfo,
    TrainConfig,
    defaults_for,
)
from ....core.schemas import Project
from ....core.splits import SplitService
from ....core.task_settings import TASK_SETTINGS
from ....core.workspace import Workspace
from ....tasks import get_task

#: status -> (colour, one-line meaning) for badges and tooltips
STATUS_STYLE: dict[str, tuple[str, str]] = {
    "created": ("#7f7f7f", "created, not started yet"),
    "running": ("#1f77b4", "training now"),
    "completed": ("#2ca02c", "finished all its epochs (or stopped early by early stopping)"),
    "stopped": ("#ff7f0e", "stopped by you; resume it to continue from its last checkpoint"),
    "failed": ("#d62728", "failed; select it to read why"),
    "interrupted": ("#9467bd", "its process ended unexpectedly; resume it from its last checkpoint"),
}


def format_duration(seconds: float | None) -> str:
    if not seconds:
        return ""
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"


def duration_of(exp: Experiment) -> float:
    if exp.status == "running" and exp.started is not None:
        started = exp.started if exp.started.tzinfo else exp.started.replace(tzinfo=UTC)
        return max(0.0, (datetime.now(UTC) - started).total_seconds())
    return exp.duration_s or 0.0


def best_text(exp: Experiment) -> str:
    if exp.best is None:
        return ""
    return f"{exp.best.metric.removeprefix('val_')} {exp.best.value:.3g}"


def field_errors(exc: ValidationError) -> dict[str, str]:
    """pydantic errors -> {top-level setting: readable message}."""
    out: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        field = loc[0] if loc else "config"
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        if err.get("type") == "extra_forbidden":
            msg = "is not a training setting"
        if field == "augmentations" and len(loc) > 1:
            msg = f"step {int(loc[1]) + 1}: {msg}" if loc[1].isdigit() else msg
        out.setdefault(field, msg)
    return out


@dataclass
class Validation:
    config: TrainConfig | None
    errors: dict[str, str]

    @property
    def ok(self) -> bool:
        return self.config is not None and not self.errors


class TrainingController:
    def __init__(self, workspace: Workspace, project: Project):
        self.ws = workspace
        self.project = project
        self.task = get_task(project.task)
        self.service = ExperimentService(workspace, project.id)
        self._metrics_cache: dict[str, tuple[tuple[int, int], list[dict]]] = {}

    # -------------------------------------------------------------- catalog
    def models(self) -> list[ModelInfo]:
        return list(MODEL_CATALOG.get(self.project.task, []))

    def defaults(self) -> TrainConfig:
        return defaults_for(self.project.task)

    def output_names(self) -> list[str]:
        """What the model predicts, by name: a regression's targets, else the classes (the task
        settings' per-target editors list them)."""
        return list(self.project.target_names) or [c.name for c in self.project.classes]

    def validate(self, data: dict[str, Any]) -> Validation:
        try:
            cfg = TrainConfig.model_validate(data)
        except ValidationError as exc:
            return Validation(None, field_errors(exc))
        if cfg.model not in {m.name for m in self.models()}:
            names = ", ".join(m.name for m in self.models())
            return Validation(None, {"model": f"not a {self.project.task} model; choose one of: {names}"})
        errors = self.task_setting_errors(cfg.task_settings)
        return Validation(None if errors else cfg, errors)

    def task_setting_errors(self, values: dict[str, Any]) -> dict[str, str]:
        """``{"task_settings.<name>": message}`` for the task's own settings (core/task_settings.py),
        including names that are not outputs of this project (a log-transformed target that is not
        a target)."""
        model = TASK_SETTINGS.get(self.project.task)
        if model is None:
            return {}
        try:
            settings = model.model_validate(values or {})
        except ValidationError as exc:
            return {f"task_settings.{k}": v for k, v in field_errors(exc).items()}
        names = set(self.output_names())
        out = {}
        for key, value in settings.model_dump().items():
            listed = value if isinstance(value, list) else list(value) if isinstance(value, dict) else []
            unknown = [str(v) for v in listed if str(v) not in names]
            if unknown and names:
                out[f"task_settings.{key}"] = (f"'{unknown[0]}' is not a target of this project "
                                               f"({', '.join(sorted(names))})")
        return out

    # --------------------------------------------------------------- splits
    def splits(self) -> list[tuple[str, str]]:
        """(id, label) of the project's splits, newest first; empty when there are none."""
        try:
            splits = SplitService(self.ws, self.project.id).list()
        except Exception:  # noqa: BLE001 - a broken split file must not break the page
            return []
        return [(s.id, getattr(s, "name", s.id) or s.id) for s in reversed(splits)]

    # ---------------------------------------------------------- experiments
    def experiments(self) -> list[Experiment]:
        return self.service.list()

    def metrics(self, exp_id: str) -> list[dict]:
        """``metrics.jsonl`` rows, re-read only when the file changed (size or time)."""
        path = self.service.folder(exp_id) / "metrics.jsonl"
        try:
            st = path.stat()
            key = (st.st_mtime_ns, st.st_size)
        except OSError:
            return []
        cached = self._metrics_cache.get(exp_id)
        if cached is not None and cached[0] == key:
            return cached[1]
        rows = self.service.metrics(exp_id)
        self._metrics_cache[exp_id] = (key, rows)
        return rows

    def log_tail(self, exp_id: str, n: int = 200) -> list[str]:
        folder = self.service.folder(exp_id)
        lines = read_tail_lines(folder / "train.log", n)
        if not lines:
            lines = read_tail_lines(folder / "worker-stderr.log", n)
        return lines

    def resumable(self, exp: Experiment) -> bool:
        return exp.status in ("stopped", "interrupted", "failed", "completed") and \
            self.service.checkpoint(exp.id).exists()
