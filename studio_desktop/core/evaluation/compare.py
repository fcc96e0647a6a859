"""Two experiments evaluated on the same images: is one really better, and where do they differ?

Accuracy differences on a few dozen images are mostly noise. McNemar's test looks only at the
images the two models disagree on ("flips": one right, the other wrong); with few flips it uses
the exact binomial test (no approximation). The flips themselves are a filter for the image grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Comparison:
    common: int  # images evaluated by both (same id and subset)
    only_a_right: list[str] = field(default_factory=list)  # image ids
    only_b_right: list[str] = field(default_factory=list)
    both_right: int = 0
    both_wrong: int = 0
    p_value: float | None = None
    method: str = ""

    @property
    def flips(self) -> int:
        return len(self.only_a_right) + len(self.only_b_right)

    def verdict(self, a: str = "A", b: str = "B", alpha: float = 0.05) -> str:
        """One sentence for the page and the report."""
        if self.common == 0:
            return "the two evaluations share no images: evaluate both on the same subsets"
        if self.flips == 0:
            return f"{a} and {b} are right and wrong on exactly the same images"
        better = a if len(self.only_a_right) > len(self.only_b_right) else b
        if self.p_value is not None and self.p_value < alpha:
            return (f"{better} is better: it is right on {max(len(self.only_a_right), len(self.only_b_right))} "
                    f"of the {self.flips} images where they disagree (McNemar p = {self.p_value:.3g})")
        return (f"no significant difference: they disagree on {self.flips} images, "
                f"{len(self.only_a_right)} for {a} and {len(self.only_b_right)} for {b} "
                f"(McNemar p = {self.p_value:.3g}); more test images are needed to tell them apart")


def mcnemar(b: int, c: int) -> tuple[float, str]:
    """Two-sided p-value of McNemar's test for ``b`` and ``c`` discordant pairs.

    Exact (binomial, p = 1/2) up to 50 discordant pairs, the continuity-corrected chi-square
    above (what statsmodels' ``mcnemar(exact=...)`` computes)."""
    n = b + c
    if n == 0:
        return 1.0, "no disagreements"
    if n <= 50:
        k = min(b, c)
        tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
        return min(1.0, 2 * tail), "exact binomial McNemar test"
    chi2 = (abs(b - c) - 1) ** 2 / n
    # survival function of chi-square with 1 degree of freedom: erfc(sqrt(x/2))
    return math.erfc(math.sqrt(chi2 / 2)), "McNemar chi-square test with continuity correction"


def compare(ids_a: list[str], subsets_a: list[str], correct_a: list[bool | None],
            ids_b: list[str], subsets_b: list[str], correct_b: list[bool | None]) -> Comparison:
    """Compare per-image correctness of two evaluations on their common images (``None``, an
    uncertain prediction, is left out)."""
    right_b = {(i, s): c for i, s, c in zip(ids_b, subsets_b, correct_b, strict=True) if c is not None}
    out = Comparison(common=0)
    for i, s, ca in zip(ids_a, subsets_a, correct_a, strict=True):
        cb = right_b.get((i, s))
        if ca is None or cb is None:
            continue
        out.common += 1
        if ca and cb:
            out.both_right += 1
        elif ca:
            out.only_a_right.append(i)
        elif cb:
            out.only_b_right.append(i)
        else:
            out.both_wrong += 1
    if out.common:
        out.p_value, out.method = mcnemar(len(out.only_a_right), len(out.only_b_right))
    return out


def paired_accuracy_difference(correct_a: np.ndarray, correct_b: np.ndarray) -> float:
    return float(np.mean(correct_a) - np.mean(correct_b)) if len(correct_a) else 0.0


__all__ = ["Comparison", "compare", "mcnemar", "paired_accuracy_difference"]
