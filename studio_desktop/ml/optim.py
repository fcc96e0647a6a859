"""Optimizers and learning-rate schedules from the config (with linear warm-up).

Step-based schedules (none/step/cosine + warm-up) are one ``LambdaLR`` updated every step,
so the curve is smooth and resuming continues it exactly (its step count is in the
checkpoint). ``plateau`` reacts to the monitored validation metric once per epoch; its
warm-up is applied by the module before each step. ``onecycle`` is torch's OneCycleLR, whose
own warm-up fraction is taken from ``warmup_epochs`` (0.3 of training when not set).
"""

from __future__ import annotations

import math

import torch

from ..core.train_config import TrainConfig


def _params(module):
    decay, no_decay = [], []
    for name, p in module.named_parameters():
        if not p.requires_grad:
            continue
        # no weight decay on biases and normalisation weights (standard practice)
        (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
    return decay, no_decay


def _fused(groups: list[dict]) -> dict:
    """``fused=True`` where torch has a fused kernel for these parameters (CPU and CUDA, floating
    point), else nothing. Fused updates are one kernel per step instead of a dozen per tensor:
    for ResNet-18 on a CPU the AdamW step drops from ~27 ms to ~6 ms, ~15 % of a 64 px step."""
    params = [p for g in groups for p in g["params"]]
    devices = {p.device.type for p in params}
    if params and devices <= {"cpu", "cuda"} and all(p.is_floating_point() for p in params):
        return {"fused": True}
    return {}


def build_optimizer(module, config: TrainConfig) -> torch.optim.Optimizer:
    decay, no_decay = _params(module)
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    groups = [g for g in groups if g["params"]]
    fast = _fused(groups)
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=config.momentum > 0, **fast)
    if config.optimizer == "adam":
        return torch.optim.Adam(groups, lr=config.lr, **fast)
    return torch.optim.AdamW(groups, lr=config.lr, **fast)


def lr_factor(step: int, *, total: int, warmup: int, kind: str) -> float:
    """Multiplier of the base learning rate at ``step`` (0-based) for step-based schedules."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    if kind == "cosine":
        span = max(1, total - warmup)
        t = min(1.0, (step - warmup) / span)
        return 0.5 * (1 + math.cos(math.pi * t))
    if kind == "step":
        third = max(1, total // 3)
        return 0.1 ** (step // third)
    return 1.0


def build_optimization(module, config: TrainConfig, steps_per_epoch: int):
    opt = build_optimizer(module, config)
    total = max(1, config.epochs * steps_per_epoch)
    warmup = int(round(config.warmup_epochs * steps_per_epoch))
    module.warmup_steps = warmup if config.scheduler == "plateau" else 0
    if config.scheduler == "onecycle":
        pct = min(0.9, config.warmup_epochs / config.epochs) if config.warmup_epochs else 0.3
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=total + 1,
                                                    pct_start=max(pct, 1.0 / total))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
    if config.scheduler == "plateau":
        mode = "min" if module.head.monitor_mode == "min" else "max"
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode=mode, factor=0.1,
                                                           patience=max(1, config.patience // 2))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch",
                                                   "monitor": module.head.monitor, "strict": False}}
    kind = config.scheduler
    if kind == "none" and not warmup:
        return opt
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: lr_factor(step, total=total, warmup=warmup, kind=kind))
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def plateau_warmup(module, optimizer, step: int) -> None:
    """Linear warm-up for the plateau schedule (which has no step-based form)."""
    warmup = getattr(module, "warmup_steps", 0)
    if warmup and step < warmup:
        for group in optimizer.param_groups:
            group["lr"] = module.config.lr * (step + 1) / warmup
