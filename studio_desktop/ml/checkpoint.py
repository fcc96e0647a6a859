"""A trained model back from its checkpoint: the one loader evaluation, prediction and export use.

A checkpoint written by this version carries, under ``"studio"``, the task, the project, the
class names in output order and the training config (``TaskHead.checkpoint_meta``), so the
network is rebuilt exactly as trained, even after classes were added to the project since, and
a checkpoint of another project is refused by name instead of failing deep inside PyTorch.
Older checkpoints fall back to the experiment's config and the project's classes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..core.errors import InvalidInput
from ..core.experiments import Experiment, ExperimentService
from ..core.projects import ProjectService
from ..core.schemas import ClassInfo, Project
from ..core.train_config import TrainConfig, validate_config
from .preprocess import Preprocessing
from .tasks import TaskHead, make_head


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint's dictionary; a missing, truncated or foreign file raises one clear message."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInput("checkpoint not found", path=path)
    try:
        # weights_only: a checkpoint chosen by the user must not be able to run code when loaded
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets one message naming it
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"cannot read the checkpoint (damaged, truncated or not a checkpoint): {first}",
                           path=path, hint="train again, or choose another checkpoint") from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise InvalidInput("is not a training checkpoint of AI Studio (it has no state_dict)", path=path)
    return ckpt


@dataclass
class TrainedModel:
    """A network in eval mode with everything needed to feed it and read its outputs."""

    project: Project
    config: TrainConfig
    head: TaskHead
    model: nn.Module
    checkpoint: Path
    checkpoint_sha256: str
    experiment: Experiment | None = None
    #: "best" / "last" / "file"
    which: str = "file"
    #: the epoch the weights are from (1-based, as the curves number them), when recorded
    epoch: int | None = None

    @property
    def preprocessing(self) -> Preprocessing:
        return Preprocessing.from_config(self.config)

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.project.classes]

    def describe_checkpoint(self) -> dict:
        return {"which": self.which, "path": str(self.checkpoint), "sha256": self.checkpoint_sha256,
                "epoch": self.epoch}

    def to(self, device: torch.device | str) -> TrainedModel:
        self.model.to(device)
        return self

    @torch.no_grad()
    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model(batch)


def _model_project(project: Project, meta: dict, path: Path) -> Project:
    """The project as the checkpoint saw it: its classes in output order."""
    if meta.get("project_id") and meta["project_id"] != project.id:
        raise InvalidInput(f"this checkpoint belongs to project '{meta.get('project_name') or meta['project_id']}', "
                           f"not to '{project.name}'", path=path)
    if meta.get("task") and meta["task"] != project.task:
        raise InvalidInput(f"this checkpoint is a {meta['task']} model, the project is {project.task}", path=path)
    if meta.get("classes") is not None:
        colours = {c.id: c.color for c in project.classes}
        classes = [ClassInfo(id=int(c["id"]), name=str(c["name"]), color=colours.get(int(c["id"]), "#1f77b4"))
                   for c in meta["classes"]]
        return project.model_copy(update={"classes": classes,
                                          "target_names": list(meta.get("target_names") or project.target_names),
                                          "target_units": dict(meta.get("target_units") or project.target_units)})
    return project


def build_trained(project: Project, config: TrainConfig, ckpt: dict, path: Path, *,
                  experiment: Experiment | None = None, which: str = "file") -> TrainedModel:
    """Rebuild the network of ``config`` for ``project`` and load the checkpoint's weights."""
    meta = ckpt.get("studio") or {}
    project = _model_project(project, meta, path)
    # the architecture only: the trained weights replace anything pretrained
    arch = config.model_copy(update={"pretrained": False, "weights_file": None})
    head = make_head(project, arch)
    head.restore_meta(meta)  # e.g. a regression's target normalisation
    model = head.build_model(lambda message, level="info": None)
    state = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        detail = str(exc).strip().splitlines()[0][:160]
        raise InvalidInput(f"the checkpoint does not fit the {config.model} network of this experiment "
                           f"(is it from another project or model?): {detail}", path=path) from None
    model.eval()
    epoch = ckpt.get("epoch")
    return TrainedModel(project=project, config=config, head=head, model=model, checkpoint=path,
                        checkpoint_sha256=file_sha256(path), experiment=experiment, which=which,
                        epoch=int(epoch) + 1 if isinstance(epoch, int) else None)


def load_trained(ws, project_ref: str, experiment_ref: str, checkpoint: str = "best") -> TrainedModel:
    """The experiment's ``best`` or ``last`` checkpoint, or any checkpoint FILE, loaded for it."""
    project = ProjectService(ws).get(project_ref)
    svc = ExperimentService(ws, project.id)
    exp = svc.get(experiment_ref)
    if checkpoint in ("best", "last"):
        path = svc.checkpoint(exp.id, checkpoint)
        if not path.exists():
            have = ", ".join(svc.checkpoints(exp.id)) or "none"
            raise InvalidInput(f"experiment '{exp.name}' has no {checkpoint}.ckpt (checkpoints: {have}); "
                               "train it first", path=path)
        which = checkpoint
    else:
        path, which = Path(checkpoint).expanduser(), "file"
    ckpt = read_checkpoint(path)
    meta = ckpt.get("studio") or {}
    config = exp.config
    if isinstance(meta.get("config"), dict) and which == "file":
        config = validate_config(meta["config"], project.task)
    return build_trained(project, config, ckpt, path, experiment=exp, which=which)


def load_checkpoint_file(path: str | Path) -> TrainedModel:
    """A checkpoint used on its own (``studio predict best.ckpt``): it must carry its metadata."""
    path = Path(path).expanduser()
    ckpt = read_checkpoint(path)
    meta = ckpt.get("studio")
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
        raise InvalidInput("this checkpoint was written by an older version and does not describe its model; "
                           "name its experiment instead", path=path)
    config = validate_config(meta["config"], meta.get("task"))
    project = Project(id=str(meta.get("project_id") or "checkpoint"), name=str(meta.get("project_name") or path.stem),
                      task=str(meta["task"]),
                      classes=[ClassInfo(id=int(c["id"]), name=str(c["name"])) for c in meta.get("classes") or []],
                      target_names=list(meta.get("target_names") or []),
                      target_units=dict(meta.get("target_units") or {}))
    return build_trained(project, config, ckpt, path)


__all__ = ["TrainedModel", "build_trained", "file_sha256", "load_checkpoint_file", "load_trained",
           "read_checkpoint"]
