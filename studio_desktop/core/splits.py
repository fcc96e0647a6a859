"""Train/val/test splits: stratified, leak-free, previewed, then frozen (DESIGN §4).

:func:`plan_split` computes a :class:`SplitPlan` (the preview: who goes where, counts,
class distribution, warnings) without writing anything. :class:`SplitService` saves a plan
as ``projects/<id>/splits/<split-id>.json`` — once: a saved split is immutable, because
experiments refer to it and their numbers mean nothing if its subsets change. To change a
split, create a new one. A split may be deleted only while no experiment uses it.

Decisions (also shown as help in the GUI):

* Ratios: two (train, val) or three (train, val, test) numbers, each > 0, summing to 1
  (±1e-6). A zero subset is refused: ask for two subsets instead of a test of size zero.
* What is stratified follows the task's annotation field (``TASKS[task].annotation``), see
  :data:`STRATA`: the class (single label), the set of classes present (boxes, instances,
  rotated boxes, masks: iterative stratification), quantile bins of the first target
  (regression), normal/anomalous and the defect kind (anomaly detection).
* Semantic masks: the classes in an image are the unique values of its index PNG, read with
  PIL + numpy by :class:`MaskClassReader` and cached in ``dataset/mask_classes.json``
  (keyed by file size and modification time). Value 255 is "ignore", not a class.
* Groups: images with the same ``group`` (or the key chosen by ``group_by``) and exact
  duplicates (same sha256) form one unit that never straddles subsets; a group's labels are
  the union of its images' labels.
* Anomaly detection, ``normal-only``: normal images are split by the ratios; anomalous ones
  go only to val/test (by the val:test ratio), so training sees only normal images.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, Field

from ..tasks import get_task
from .datasets import DatasetStore
from .errors import InvalidInput, StoreError
from .refs import find_by_ref
from .schemas import Dataset, ImageRecord, Project, Stored, now
from .store import read_json, read_model, write_model
from .stratify import (
    Item,
    MaskClassReader,
    coverage_warnings,
    group_indices,
    iterative_stratification,
    ordered_strata,
    strata_of,
)
from .workspace import Workspace

SUBSETS = ("train", "val", "test")
STRATEGIES = ("auto", "stratified", "random")
ANOMALY_MODES = ("supervised", "normal-only")
IMMUTABLE = "splits are immutable: create a new split instead"
MAX_NAME = 100

#: annotation field -> how images are stratified (the "method" recorded in the split)
STRATA = {
    "label": "per-class",
    "boxes": "iterative (classes present)",
    "instances": "iterative (classes present)",
    "rboxes": "iterative (classes present)",
    "mask": "iterative (classes present)",
    "targets": "quantile bins of the first target",
    "anomaly": "normal / anomalous (by defect kind)",
}

_ROBOFLOW = re.compile(r"(_(png|jpe?g|bmp|tiff?))?\.rf\.[0-9a-f]{16,}$", re.IGNORECASE)


def origin_of(record: ImageRecord) -> str | None:
    """The original image a file was derived from, guessed from its source name.

    Roboflow exports name augmented copies ``image-7_png.rf.<hash>.jpg``; tilers (DOTA devkit,
    mmrotate, SAHI) name tiles ``P0000__1024__0___512.png``. Both reduce to the original's
    stem, so augmentations and tiles of one image share a group and cannot leak across subsets.
    """
    if not record.source:
        return None
    stem = Path(record.source.replace("\\", "/")).stem
    stem = _ROBOFLOW.sub("", stem)
    return stem.split("__")[0] or None


#: group_by name -> key of a record (None: not grouped by this key)
GROUP_KEYS: dict[str, Callable[[ImageRecord], Hashable | None]] = {
    "group": lambda r: r.group or None,
    "source": lambda r: r.source or None,
    "origin": origin_of,
    "none": lambda r: None,
}


class SubsetStats(BaseModel):
    images: int = 0
    groups: int = 0
    #: stratum key -> images of this subset in it (class id as text, "normal", "bin 0"...)
    classes: dict[str, int] = Field(default_factory=dict)


class Split(Stored):
    """A saved split. Immutable: written once, never updated."""

    KIND: ClassVar[str] = "split"
    id: str
    name: str
    task: str = ""
    created: datetime = Field(default_factory=now)
    seed: int = 0
    ratios: dict[str, float]
    strategy: str = "auto"
    method: str = "random"
    anomaly_mode: str | None = None
    group_by: str = "group"
    #: image id -> "train" | "val" | "test"
    assignments: dict[str, str] = Field(default_factory=dict)
    stats: dict[str, SubsetStats] = Field(default_factory=dict)
    #: stratum key -> display name at creation time
    strata_names: dict[str, str] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    dataset_fingerprint: str = ""
    image_count: int = 0

    @property
    def subsets(self) -> list[str]:
        return list(self.ratios)

    def ids_in(self, subset: str) -> list[str]:
        return [i for i, s in self.assignments.items() if s == subset]


@dataclass
class SplitPlan:
    """The preview of a split: nothing is written until :meth:`SplitService.create`."""

    task: str
    ratios: dict[str, float]
    seed: int
    strategy: str
    method: str
    anomaly_mode: str | None
    group_by: str
    assignments: dict[str, str]
    stats: dict[str, SubsetStats]
    strata_names: dict[str, str]
    warnings: list[str] = field(default_factory=list)
    fingerprint: str = ""
    image_count: int = 0

    @property
    def subsets(self) -> list[str]:
        return list(self.ratios)

    def as_json(self) -> dict:
        return {"task": self.task, "ratios": self.ratios, "seed": self.seed, "strategy": self.strategy,
                "method": self.method, "anomaly_mode": self.anomaly_mode, "group_by": self.group_by,
                "image_count": self.image_count, "fingerprint": self.fingerprint,
                "stats": {s: v.model_dump() for s, v in self.stats.items()},
                "strata_names": self.strata_names, "warnings": self.warnings}


def fingerprint(image_ids) -> str:
    """A short hash of the set of image ids: tells whether the dataset changed since."""
    return hashlib.sha256("\n".join(sorted(image_ids)).encode()).hexdigest()[:16]


def check_ratios(ratios) -> dict[str, float]:
    """Validate 2 or 3 ratios (each > 0, sum 1 ± 1e-6); name them train/val(/test)."""
    ratios = [float(r) for r in ratios]
    if len(ratios) not in (2, 3):
        raise InvalidInput(f"give 2 ratios (train val) or 3 (train val test), not {len(ratios)}")
    if any(math.isnan(r) or r < 0 for r in ratios):
        raise InvalidInput(f"ratios must not be negative: {ratios}")
    if any(r == 0 for r in ratios):
        raise InvalidInput(f"every ratio must be above 0 ({ratios}); for no test subset give two ratios")
    if abs(sum(ratios) - 1.0) > 1e-6:
        raise InvalidInput(f"ratios must sum to 1, these sum to {sum(ratios):.6g}: {ratios}")
    return dict(zip(SUBSETS, ratios, strict=False))


def plan_split(records: list[ImageRecord], task: str, ratios=(0.8, 0.1, 0.1), seed: int = 0,
               strategy: str = "auto", anomaly_mode: str | None = None, group_by="group",
               class_names: dict[int, str] | None = None,
               mask_classes: Callable[[ImageRecord], set[int]] | None = None) -> SplitPlan:
    """Compute a split of ``records`` (nothing is written). See the module docstring.

    ``group_by``: "group" (``record.group``), "source" (``record.source``), "origin"
    (:func:`origin_of`: augmented copies and tiles of one original image), "none", or a
    function record -> key. Exact duplicates (same sha256) are always grouped.
    """
    info = get_task(task)
    subset_ratios = check_ratios(ratios)
    if strategy not in STRATEGIES:
        raise InvalidInput(f"unknown strategy '{strategy}'; choose one of: {', '.join(STRATEGIES)}")
    if info.annotation == "anomaly":
        anomaly_mode = anomaly_mode or "supervised"
        if anomaly_mode not in ANOMALY_MODES:
            raise InvalidInput(f"unknown anomaly mode '{anomaly_mode}'; choose one of: "
                               f"{', '.join(ANOMALY_MODES)}")
    else:
        anomaly_mode = None
    if not records:
        raise InvalidInput("the dataset has no images: import images before making a split")
    k = len(subset_ratios)
    if len(records) < k:
        raise InvalidInput(f"the dataset has {len(records)} image(s), fewer than the {k} subsets asked for")
    if callable(group_by):
        key_fn, group_name = group_by, "custom"
    elif group_by in GROUP_KEYS:
        key_fn, group_name = GROUP_KEYS[group_by], group_by
    else:
        raise InvalidInput(f"unknown group_by '{group_by}'; choose one of: {', '.join(GROUP_KEYS)}")
    warnings: list[str] = []
    label_sets, names = strata_of(records, info.annotation, anomaly_mode, mask_classes,
                                class_names or {}, warnings)
    stratified = strategy != "random" and any(label_sets)
    if strategy == "stratified" and not stratified:
        warnings.append("no annotations to stratify by: the split is random")
    method = STRATA.get(info.annotation, "random") if stratified else "random"

    groups = group_indices(len(records), [lambda i: key_fn(records[i]),
                                          lambda i: records[i].sha256 or None])
    if len(groups) < k:
        raise InvalidInput(f"the {len(records)} images form only {len(groups)} group(s) (same group "
                           f"or duplicate content), fewer than the {k} subsets asked for")
    items = []
    for members in groups:
        labels: dict[Hashable, int] = {}
        if stratified:
            for i in members:
                for lab in label_sets[i]:
                    labels[lab] = labels.get(lab, 0) + 1
        items.append(Item(members, labels))

    subset_names = list(subset_ratios)
    ratio_list = list(subset_ratios.values())
    if anomaly_mode == "normal-only":
        normal, abnormal = [], []
        for it in items:
            # from the images themselves: with strategy "random" items carry no labels
            bad = any(lab.startswith("anomalous") for i in it.members for lab in label_sets[i])
            (abnormal if bad else normal).append(it)
        where = _assign(normal, ratio_list, seed, subset_names)
        rest = ratio_list[1:] if k == 3 else [1.0]
        rest = [r / sum(rest) for r in rest]
        where.update(_assign(abnormal, rest, seed, subset_names[1:]))
    else:
        where = _assign(items, ratio_list, seed, subset_names)

    assignments = {records[i].id: where[id(it)] for it in items for i in it.members}
    stats = {s: SubsetStats() for s in subset_names}
    for it in items:
        st = stats[where[id(it)]]
        st.groups += 1
        st.images += it.weight
        for i in it.members:
            for lab in label_sets[i]:
                st.classes[lab] = st.classes.get(lab, 0) + 1
    order = ordered_strata(names)
    for st in stats.values():
        st.classes = {lab: st.classes[lab] for lab in order if lab in st.classes}
    warnings += coverage_warnings(stats, order, names, subset_names, anomaly_mode)
    for s, st in stats.items():
        if st.images == 0:
            warnings.append(f"the {s} subset is empty: add images or change the ratios")
    return SplitPlan(task=task, ratios=subset_ratios, seed=seed, strategy=strategy, method=method,
                     anomaly_mode=anomaly_mode, group_by=group_name, assignments=assignments,
                     stats=stats, strata_names={k_: names[k_] for k_ in order}, warnings=warnings,
                     fingerprint=fingerprint(r.id for r in records), image_count=len(records))


def _assign(items: list[Item], ratios: list[float], seed: int, subset_names: list[str]) -> dict[int, str]:
    if not items:
        return {}
    idx = iterative_stratification(items, ratios, seed)
    return {id(it): subset_names[j] for it, j in zip(items, idx, strict=True)}


# ----------------------------------------------------------------------------- storage
def _validate_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise InvalidInput("a split name must not be empty")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"a split name must be at most {MAX_NAME} characters")
    return name


def _get(data: dict, section: str, key: str):
    value = data.get(section)
    return value.get(key) if isinstance(value, dict) else None


@dataclass(frozen=True)
class ExperimentRef:
    id: str
    name: str


class SplitService:
    """The splits of one project: create (once), list, get, delete (when unused)."""

    def __init__(self, workspace: Workspace, project_id: str):
        self.ws = workspace
        self.project_id = project_id
        self.folder = workspace.project_dir(project_id) / "splits"

    def path_of(self, split_id: str) -> Path:
        return self.folder / f"{split_id}.json"

    def scan(self) -> tuple[list[Split], list[str]]:
        """All readable splits (oldest first) and one message per unreadable file."""
        good, bad = [], []
        if self.folder.is_dir():
            for path in sorted(self.folder.glob("*.json")):
                try:
                    good.append(read_model(path, Split))
                except StoreError as exc:
                    bad.append(str(exc))
        good.sort(key=lambda s: (s.created, s.name.casefold()))
        return good, bad

    def list(self) -> list[Split]:
        return self.scan()[0]

    def get(self, ref: str) -> Split:
        """A split by id or name (case-insensitive)."""
        return find_by_ref(self.list(), ref, "split", listed=1000)

    def plan(self, project: Project, dataset: Dataset, **options) -> SplitPlan:
        """:func:`plan_split` for this project: its class names, and its masks read when needed."""
        reader = None
        if get_task(project.task).annotation == "mask":
            reader = MaskClassReader(DatasetStore(self.ws, self.project_id).root)
        plan = plan_split(dataset.images, project.task, class_names={c.id: c.name for c in project.classes},
                          mask_classes=reader, **options)
        if reader is not None and self.ws.writable:
            reader.save()
        return plan

    def default_name(self) -> str:
        taken = {s.name.casefold() for s in self.list()}
        n = 1
        while f"split {n}" in taken:
            n += 1
        return f"split {n}"

    def create(self, name: str | None, plan: SplitPlan) -> Split:
        """Save ``plan`` as a new split named ``name`` (unique in the project)."""
        self.ws.ensure_writable()
        name = _validate_name(name) if name is not None else self.default_name()
        for s in self.list():
            if s.name.casefold() == name.casefold():
                raise InvalidInput(f"a split named '{s.name}' already exists; choose another name")
        split = Split(id=secrets.token_hex(4), name=name, task=plan.task, seed=plan.seed,
                      ratios=plan.ratios, strategy=plan.strategy, method=plan.method,
                      anomaly_mode=plan.anomaly_mode, group_by=plan.group_by,
                      assignments=plan.assignments, stats=plan.stats, strata_names=plan.strata_names,
                      warnings=plan.warnings, dataset_fingerprint=plan.fingerprint,
                      image_count=plan.image_count)
        while self.path_of(split.id).exists():
            split.id = secrets.token_hex(4)
        self.save(split)
        return split

    def save(self, split: Split) -> None:
        """Write a new split; an existing one is never overwritten."""
        self.ws.ensure_writable()
        path = self.path_of(split.id)
        if path.exists():
            raise InvalidInput(f"split '{split.id}' already exists: {IMMUTABLE}", path=path)
        write_model(path, split)

    def update(self, *_args, **_kwargs):
        """Refused: experiments rely on a split never changing."""
        raise InvalidInput(IMMUTABLE)

    rename = update

    def experiments_using(self, split_id: str) -> list[ExperimentRef]:
        """Experiments that use this split (their experiment.json is read defensively, raw).

        The split id may be at ``config.split_id`` (chosen), or at top-level ``split_id`` /
        ``environment.split_id`` (resolved by the worker). An experiment that names no split
        trains on the newest one, so it counts as using the newest. An unreadable
        experiment.json counts as using the split if its text mentions the id: when in
        doubt, refuse a deletion rather than orphan an experiment.
        """
        out = []
        exp_root = self.ws.project_dir(self.project_id) / "experiments"
        if not exp_root.is_dir():
            return out
        newest = None
        for folder in sorted(exp_root.iterdir()):
            path = folder / "experiment.json"
            if not path.is_file():
                continue
            name = folder.name
            try:
                data = read_json(path)
                data = data if isinstance(data, dict) else {}
                name = str(data.get("name") or folder.name)
                named = {_get(data, "config", "split_id"), data.get("split_id"),
                         _get(data, "environment", "split_id")} - {None}
                if not named:
                    if newest is None:
                        splits = self.list()
                        newest = splits[-1].id if splits else ""
                    named = {newest}
                used = split_id in named
            except StoreError:
                try:
                    used = split_id in path.read_text(encoding="utf-8", errors="replace")
                except OSError:
                    used = False
            if used:
                out.append(ExperimentRef(folder.name, name))
        return out

    def delete(self, ref: str) -> Split:
        self.ws.ensure_writable()
        split = self.get(ref)
        users = self.experiments_using(split.id)
        if users:
            raise InvalidInput(f"split '{split.name}' is used by experiment(s) "
                               f"{', '.join(u.name for u in users)}: delete those first")
        self.path_of(split.id).unlink()
        return split

    @staticmethod
    def not_in_split(split: Split, dataset: Dataset) -> list[str]:
        """Ids of images added to the dataset after the split was made ("not in split")."""
        return [r.id for r in dataset.images if r.id not in split.assignments]

    @staticmethod
    def missing_from_dataset(split: Split, dataset: Dataset) -> list[str]:
        """Ids the split assigns that the dataset no longer has (deleted images)."""
        present = {r.id for r in dataset.images}
        return [i for i in split.assignments if i not in present]
