"""Stratified assignment of items to subsets, the grouping that keeps items together, and
what is stratified for each task (:func:`strata_of`, :class:`MaskClassReader`).

The assignment is pure Python, deterministic for a given seed; only reading semantic masks
needs PIL and numpy.

*Items* are what gets assigned: a group of images that must stay together (a single image
in the common case). Each item has a weight (its number of images) and a label count
(label -> how many of its images carry that label). :func:`iterative_stratification` is the
algorithm of Sechidis, Tsoumakas & Vlahavas, "On the stratification of multi-label data"
(ECML PKDD 2011): labels are processed rarest first, and each item of the current label goes
to the subset that still *wants* that label most (then the one that wants images most, then
at random). For single-label data this is the largest-remainder rule, so per-class counts
end within ±1 of ideal.

One addition, *coverage*: when the items still unassigned for a label are no more than the
subsets that do not have that label yet, they go to those subsets in subset order (train,
then val, then test) — checked for every label of the item being placed, not only the one
being processed. That is why every class with at least as many images (items) as there
are subsets appears in every subset, even when its ideal count in val or test is below one;
a class with fewer images fills train first, then val, then test.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import StoreError
from .schemas import ImageRecord
from .store import atomic_write_json, read_json


@dataclass
class Item:
    """Something to assign: its images and the labels they carry."""

    members: list[int]  # indices of the records in this item
    labels: dict[Hashable, int] = field(default_factory=dict)  # label -> images carrying it

    @property
    def weight(self) -> int:
        return len(self.members)


class _UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def group_indices(n: int, keys: Iterable[Callable[[int], Hashable | None]]) -> list[list[int]]:
    """Partition ``range(n)`` so that indices sharing any key (that is not None) are together.

    Each function of ``keys`` maps an index to a key (a group name, a sha256...); groups
    are the connected components, so "same group OR same content" chains transitively.
    Groups come out in order of their first index (deterministic).
    """
    uf = _UnionFind(n)
    for key_of in keys:
        first: dict[Hashable, int] = {}
        for i in range(n):
            key = key_of(i)
            if key is None:
                continue
            if key in first:
                uf.union(first[key], i)
            else:
                first[key] = i
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(uf.find(i), []).append(i)
    return list(groups.values())


def iterative_stratification(items: list[Item], ratios: list[float], seed: int,
                             coverage: bool = True) -> list[int]:
    """Subset index (0 = train, 1 = val, 2 = test) for each item; see the module docstring."""
    rng = random.Random(seed)
    k = len(ratios)
    n_items = len(items)
    # A random rank per item and per label: the order of processing, hence what a seed changes.
    rank = list(range(n_items))
    rng.shuffle(rank)
    total = sum(it.weight for it in items)
    wanted = [r * total for r in ratios]
    label_total: dict[Hashable, int] = {}
    holders: dict[Hashable, set[int]] = {}
    for i, it in enumerate(items):
        for label, count in it.labels.items():
            label_total[label] = label_total.get(label, 0) + count
            holders.setdefault(label, set()).add(i)
    label_keys = sorted(label_total, key=str)
    label_rank = {lab: rng.random() for lab in label_keys}
    wanted_l = {lab: [r * label_total[lab] for r in ratios] for lab in label_keys}
    present = {lab: [False] * k for lab in label_keys}
    remaining = {lab: sum(items[i].labels[lab] for i in holders[lab]) for lab in label_keys}
    out = [-1] * n_items

    def assign(i: int, s: int) -> None:
        out[i] = s
        it = items[i]
        wanted[s] -= it.weight
        for lab, count in it.labels.items():
            wanted_l[lab][s] -= count
            present[lab][s] = True
            remaining[lab] -= count
            holders[lab].discard(i)

    def best(scores: list[float], among: list[int]) -> list[int]:
        top = max(scores[j] for j in among)
        return [j for j in among if scores[j] >= top - 1e-9]

    usable = [j for j in range(k) if ratios[j] > 0]
    while True:
        open_labels = [lab for lab in label_keys if holders[lab]]
        if not open_labels:
            break
        lab = min(open_labels, key=lambda x: (remaining[x], label_rank[x]))
        for i in sorted(holders[lab], key=lambda x: rank[x]):
            if out[i] != -1:
                continue
            if coverage:
                needed = _needed_subset(items[i], usable, present, holders)
                if needed is not None:
                    assign(i, needed)
                    continue
            cands = best(wanted_l[lab], usable)
            if len(cands) > 1:
                cands = best(wanted, cands)
            assign(i, cands[0] if len(cands) == 1 else rng.choice(cands))
    for i in sorted(range(n_items), key=lambda x: rank[x]):
        if out[i] == -1:  # items without labels balance the subset sizes
            cands = best(wanted, usable)
            assign(i, cands[0] if len(cands) == 1 else rng.choice(cands))
    return out


def _needed_subset(item: Item, usable: list[int], present, holders) -> int | None:
    """The subset this item must go to so that one of its labels still reaches every subset.

    A label is in need when its unassigned items are no more than the subsets still lacking
    it; among the item's labels in need, the tightest one decides, and its first lacking
    subset (train, then val, then test) is chosen.
    """
    best, slack = None, None
    for lab in item.labels:
        lacking = [j for j in usable if not present[lab][j]]
        if lacking and len(holders[lab]) <= len(lacking):
            s = len(lacking) - len(holders[lab])
            if slack is None or s < slack:
                best, slack = lacking[0], s
    return best


def quantile_bins(values: list[float | None], n_bins: int) -> tuple[list[int | None], list[tuple[float, float]]]:
    """Bin each value by the quantiles of all values (None stays None): strata for regression.

    Returns the bin index per value and each bin's [low, high] range. Equal values always
    share a bin, so heavily tied data may give fewer bins than asked.
    """
    known = sorted(v for v in values if v is not None)
    if not known or n_bins < 1:
        return [None] * len(values), []
    n = len(known)
    edges: list[float] = []
    for b in range(1, n_bins):
        cut = known[min(n - 1, (b * n) // n_bins)]
        if (not edges or cut > edges[-1]) and cut > known[0]:
            edges.append(cut)
    bounds = [known[0], *edges, known[-1]]
    ranges = [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)] or [(known[0], known[-1])]

    def bin_of(v: float) -> int:
        return sum(1 for e in edges if v >= e)

    return [None if v is None else bin_of(v) for v in values], ranges


# ------------------------------------------------------------- what is stratified, per task
def strata_of(records: list[ImageRecord], annotation: str, anomaly_mode: str | None,
            mask_classes: Callable[[ImageRecord], set[int]] | None,
            class_names: dict[int, str], warnings: list[str]):
    """Label set per record and the display names of the labels, by annotation field."""
    names: dict[str, str] = {}

    keys: dict[int, str] = {}

    def cls_key(c: int) -> str:
        key = keys.get(c)
        if key is None:
            key = keys[c] = str(c)
            names[key] = class_names.get(c, f"class {c}")
        return key

    if annotation == "label":
        return [{cls_key(r.label)} if r.label is not None else set() for r in records], names
    if annotation in ("boxes", "instances", "rboxes"):
        return [{cls_key(o.cls) for o in getattr(r, annotation)} for r in records], names
    if annotation == "mask":
        if mask_classes is None:
            warnings.append("mask classes were not read: images are split without stratification")
            return [set() for _ in records], names
        return [{cls_key(c) for c in mask_classes(r)} if r.mask else set() for r in records], names
    if annotation == "anomaly":
        out = []
        for r in records:
            if r.anomaly is None:
                out.append(set())
            elif r.anomaly.status == "normal":
                names["normal"] = "normal"
                out.append({"normal"})
            else:
                key = f"anomalous:{r.anomaly.defect}" if r.anomaly.defect else "anomalous"
                names[key] = key.replace(":", ": ")
                out.append({key})
        return out, names
    if annotation == "targets":
        firsts = [next(iter(r.targets.values())) if r.targets else None for r in records]
        known = sum(v is not None for v in firsts)
        bins, ranges = quantile_bins(firsts, max(2, min(10, known // 10)))
        for b, (lo, hi) in enumerate(ranges):
            names[f"bin {b}"] = f"{lo:.4g} – {hi:.4g}"
        return [{f"bin {b}"} if b is not None else set() for b in bins], names
    return [set() for _ in records], names


def ordered_strata(keys) -> list[str]:
    """Class ids numerically, then the other strata by name."""
    def sort_key(k: str):
        return (0, int(k), "") if k.isdigit() else (1, 0, k)
    return sorted(keys, key=sort_key)


def coverage_warnings(stats, order, names, subset_names, anomaly_mode) -> list[str]:
    """Name every class missing from a subset, and where the images of rare classes went."""
    out = []
    for lab in order:
        per = {s: stats[s].classes.get(lab, 0) for s in subset_names}
        total = sum(per.values())
        expected = subset_names[1:] if (anomaly_mode == "normal-only" and lab.startswith("anomalous")) \
            else subset_names
        missing = [s for s in expected if per[s] == 0]
        if not missing:
            continue
        placed = ", ".join(f"{s} {per[s]}" for s in subset_names if per[s])
        if total < len(expected):
            out.append(f"class '{names[lab]}' has only {total} image(s), fewer than the "
                       f"{len(expected)} subsets: {placed} (none in {', '.join(missing)})")
        else:
            out.append(f"class '{names[lab]}' ({total} images) is missing from {', '.join(missing)}: "
                       f"its images share groups or always appear with other classes")
    return out


class MaskClassReader:
    """Classes present in semantic masks (unique PNG values), cached on disk by size and mtime."""

    IGNORE = 255

    def __init__(self, dataset_root: Path):
        self.root = Path(dataset_root)
        self.cache_path = self.root / "mask_classes.json"
        try:
            data = read_json(self.cache_path) if self.cache_path.exists() else {}
            self.cache: dict = data.get("masks", {}) if isinstance(data, dict) else {}
        except StoreError:
            self.cache = {}  # a corrupt cache is only a cache: rebuilt below
        self.dirty = False

    def __call__(self, record: ImageRecord) -> set[int]:
        import numpy as np
        from PIL import Image

        path = self.root / record.mask
        try:
            st = path.stat()
        except OSError:
            raise StoreError("mask file not found", path=path) from None
        stamp = [st.st_size, st.st_mtime_ns]
        hit = self.cache.get(record.mask)
        if hit and hit[0] == stamp:
            return set(hit[1])
        try:
            with Image.open(path) as im:
                values = np.unique(np.asarray(im))
        except OSError as exc:
            raise StoreError(f"mask cannot be read: {exc}", path=path) from None
        classes = sorted(int(v) for v in values if int(v) != self.IGNORE)
        self.cache[record.mask] = [stamp, classes]
        self.dirty = True
        return set(classes)

    def save(self) -> None:
        if self.dirty:
            atomic_write_json(self.cache_path, {"schema_version": 1, "masks": self.cache})
            self.dirty = False
