"""What the Split page does, without any widget: load, preview, save, list and delete splits.

The page calls these; tests call them directly. Everything here is plain Python over
``core`` (no Qt), so it can also run in a worker thread for large datasets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ....core.datasets import DatasetStore
from ....core.errors import StoreError
from ....core.schemas import Dataset, Project
from ....core.splits import Split, SplitPlan, SplitService
from ....core.store import read_json
from ....core.workspace import Workspace
from ....tasks import get_task

#: above this many images the preview (and loading) runs off the GUI thread. Measured on a
#: laptop-class CPU: 20k detection images take ~0.6 s to plan, so the GUI's 50 ms budget
#: is exceeded from about 2k images on; below that, computing directly keeps it simple.
LARGE_DATASET = 2_000

#: one colour per subset, the same in the chart, the table and the list
SUBSET_COLORS = {"train": "#1f77b4", "val": "#ff7f0e", "test": "#2ca02c"}
SUBSET_TITLES = {"train": "Training", "val": "Validation", "test": "Test"}


@dataclass(frozen=True)
class SplitRow:
    """One line of the split list."""

    split: Split
    experiments: list[str]  # names of the experiments using it
    not_in_split: int  # images added to the dataset after the split was made
    missing: int  # images of the split deleted from the dataset since

    @property
    def counts(self) -> str:
        return " · ".join(f"{s} {v.images}" for s, v in self.split.stats.items())


@dataclass
class SplitListing:
    rows: list[SplitRow] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    image_count: int = 0


class SplitController:
    """Split operations of one project for the page."""

    def __init__(self, workspace: Workspace, project: Project):
        self.ws = workspace
        self.project = project
        self.service = SplitService(workspace, project.id)
        self.store = DatasetStore(workspace, project.id)
        self._dataset: Dataset | None = None

    @property
    def is_anomaly(self) -> bool:
        return get_task(self.project.task).annotation == "anomaly"

    def image_count(self) -> int:
        """The number of images, from summary.json (cheap: the 100k-image dataset is not parsed)."""
        try:
            data = read_json(self.store.summary_path) if self.store.summary_path.exists() else {}
            return int(data.get("images", 0))
        except (StoreError, ValueError, TypeError, AttributeError):
            return len(self.dataset().images)

    def is_large(self) -> bool:
        """Whether to work off the GUI thread. Semantic masks must be decoded to find their
        classes (a few ms each until cached), so for them "large" starts much earlier."""
        limit = LARGE_DATASET // 40 if get_task(self.project.task).annotation == "mask" else LARGE_DATASET
        return self.image_count() > limit

    def dataset(self, reload: bool = False) -> Dataset:
        if self._dataset is None or reload:
            self._dataset = self.store.load()
        return self._dataset

    def listing(self, reload: bool = False) -> SplitListing:
        dataset = self.dataset(reload)
        splits, problems = self.service.scan()
        rows = [SplitRow(s, [e.name for e in self.service.experiments_using(s.id)],
                         len(self.service.not_in_split(s, dataset)),
                         len(self.service.missing_from_dataset(s, dataset))) for s in splits]
        return SplitListing(rows, problems, len(dataset.images))

    def preview(self, ratios, seed: int, strategy: str, anomaly_mode: str | None = None,
                group_by: str = "group") -> SplitPlan:
        return self.service.plan(self.project, self.dataset(), ratios=ratios, seed=seed, strategy=strategy,
                                 anomaly_mode=anomaly_mode if self.is_anomaly else None, group_by=group_by)

    @staticmethod
    def next_name(listing: SplitListing) -> str:
        """'split N' not yet taken, from a listing already loaded (split files can be large)."""
        taken = {row.split.name.casefold() for row in listing.rows}
        n = 1
        while f"split {n}" in taken:
            n += 1
        return f"split {n}"

    def save(self, name: str, plan: SplitPlan) -> Split:
        return self.service.create(name.strip() or None, plan)

    def delete(self, split_id: str) -> Split:
        return self.service.delete(split_id)

