"""Which real images an export is checked and calibrated on.

Validation prefers images the network never trained on: the experiment's validation subset,
then its test subset; only a split with neither falls back to training images (and says so
in ``export.json``). INT8 calibration uses training images. Within a subset images are taken in
the order of their ids, which are content hashes: a fixed, effectively random choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...core.datasets import DatasetStore
from ...core.errors import StudioError
from ...core.experiments import resolve_split


@dataclass(frozen=True)
class Sample:
    path: Path
    #: the true target as the task head reads it: the output index of the class (classification),
    #: the values in target units (regression, one per target)
    target: Any
    subset: str
    #: the image's record (a detector's ground-truth boxes are read from it)
    record: Any = None


def _plain(target) -> Any:
    """A head's target (an int, or a tensor of values) as plain Python numbers."""
    value = np.asarray(target).tolist()
    return int(value) if isinstance(value, int | bool) else value


def _usable(records, head) -> list[tuple]:
    out = []
    for rec in sorted(records, key=lambda r: r.id):
        if not head.usable(rec):
            continue
        try:
            out.append((rec, head.target(rec)))
        except StudioError:  # a class added to the project after this model was trained
            continue
    return out


def choose(ws, trained, *, validation: int, calibration: int) -> tuple[list[Sample], list[Sample]]:
    """``(validation samples, calibration samples)`` of a trained model's experiment."""
    project_id = trained.project.id
    split_id = trained.config.split_id
    if trained.experiment is not None:
        split_id = (trained.experiment.environment or {}).get("split_id") or split_id
    _, assignments = resolve_split(ws, project_id, split_id)
    store = DatasetStore(ws, project_id)
    by_subset: dict[str, list] = {"train": [], "val": [], "test": []}
    for rec in store.load().images:
        where = assignments.get(rec.id)
        if where in by_subset:
            by_subset[where].append(rec)
    usable = {k: _usable(v, trained.head) for k, v in by_subset.items()}

    def take(subsets, n) -> list[Sample]:
        out: list[Sample] = []
        for s in subsets:
            for rec, target in usable[s]:
                if len(out) >= n:
                    return out
                out.append(Sample(store.path_of(rec.file), _plain(target), s, rec))
        return out

    held_out = take(("val", "test"), validation)
    checks = held_out or take(("train",), validation)
    calib = take(("train",), calibration) or take(("val", "test"), calibration)
    return checks, calib


__all__ = ["Sample", "choose"]
