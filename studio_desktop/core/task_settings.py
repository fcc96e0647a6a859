"""Settings a task adds to the common training settings (DESIGN §10), each with its help text.

The common settings (:class:`~.train_config.TrainConfig`) serve every task; what only makes sense
for one task (the loss of a regression, later the NMS threshold of a detector) is declared here,
one pydantic model per task, and stored in the config's ``task_settings``. The Training form
and ``studio train --list-settings`` build themselves from these models; ``--set loss=huber``
reaches them like any other setting.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class RegressionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    loss: Literal["mse", "l1", "huber"] = Field(
        "mse", title="Loss", description="How errors are counted while learning. mse (mean squared error): "
        "large errors count much more (the usual choice). l1 (mean absolute error): every unit of error "
        "counts the same; robust to a few wrong labels. huber: squared for small errors, absolute for "
        "large ones (a compromise).")
    huber_delta: float = Field(1.0, gt=0, le=100, title="Huber delta",
                               description="With the huber loss: the error (in standard deviations of the "
                                           "target) above which errors count linearly instead of squared.")
    target_weights: dict[str, float] = Field(default_factory=dict, title="Target weights",
                                             description="With several targets: how much each counts in the "
                                                         "loss (default 1 each), e.g. {\"price\": 2}.")
    log_targets: list[str] = Field(default_factory=list, title="Log-transformed targets",
                                   description="Targets learnt on a log scale: for positive, skewed values "
                                               "(prices, counts, areas) whose errors are relative. Predictions "
                                               "are converted back to the target's units.")


#: task id -> its settings model (tasks without one have none)
TASK_SETTINGS: dict[str, type[BaseModel]] = {
    "regression": RegressionSettings,
}


def settings_for(task: str, config: Any) -> BaseModel:
    """The task's settings of ``config`` (validated; defaults where unset)."""
    model = TASK_SETTINGS.get(task)
    if model is None:
        raise KeyError(f"task {task} has no task settings")
    return model.model_validate(dict(getattr(config, "task_settings", None) or {}))


def task_setting_names(task: str) -> list[str]:
    model = TASK_SETTINGS.get(task)
    return list(model.model_fields) if model is not None else []


__all__ = ["RegressionSettings", "TASK_SETTINGS", "settings_for", "task_setting_names"]
