"""Which rows of an evaluation's cache belong to a subset (every task's cached scores use it)."""

from __future__ import annotations

import numpy as np


def subset_mask(subsets: np.ndarray, names: str | list[str] | None) -> np.ndarray:
    """Boolean mask of the rows whose subset is in ``names`` ("val", ["val", "test"]; None or
    "all": every row)."""
    if names in (None, "all"):
        return np.ones(len(subsets), dtype=bool)
    names = [names] if isinstance(names, str) else list(names)
    return np.isin(subsets, names)


__all__ = ["subset_mask"]
