"""What the Evaluation page asks of the workspace, without Qt (testable on its own).

Which experiments can be evaluated (those with a checkpoint on disk), what an evaluation job is
started with, where its events, the "Try it" predictions and the report go, Reset, and the
paired comparison of two evaluations. The numbers themselves come from the task's results
object (:mod:`.results`), loaded off the GUI thread.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from ....core.errors import StudioError
from ....core.evaluation.compare import Comparison, compare
from ....core.evaluation.store import EvaluationStore, job_folder
from ....core.experiments import Experiment, ExperimentService
from ....core.schemas import Project
from ....core.splits import SplitService
from ....core.store import read_json
from ....core.workspace import Workspace
from .results import load_results, results_class

SUBSETS = ("val", "test", "train")
SUBSET_WORDS = {"val": "validation", "test": "test", "train": "training"}
DEVICES = ("auto", "cpu", "cuda")


def percent(value) -> str:
    return f"{100 * value:.1f} %" if isinstance(value, (int, float)) else "–"


class EvaluationController:
    """The Evaluation page's view of one project."""

    def __init__(self, workspace: Workspace, project: Project):
        self.ws = workspace
        self.project = project
        self.service = ExperimentService(workspace, project.id)

    # -------------------------------------------------------------- experiments
    def experiments(self) -> list[Experiment]:
        """Experiments that can be evaluated: not training now, with a checkpoint on disk."""
        return [e for e in self.service.list()
                if e.status != "running" and self.service.checkpoints(e.id)]

    def folder(self, exp_id: str) -> Path:
        return self.service.folder(exp_id)

    def store(self, exp_id: str) -> EvaluationStore:
        return EvaluationStore(self.folder(exp_id))

    def evaluated(self, exp_id: str) -> bool:
        return self.store(exp_id).exists()

    def headline(self, exp_id: str) -> str:
        """The list's one-word summary (the task's results class words it: test accuracy, test
        MAE...), or nothing."""
        store = self.store(exp_id)
        if not store.exists():
            return ""
        try:
            aggregate = read_json(store.folder / "aggregate.json")
        except StudioError:
            return "unreadable"
        cls = results_class(self.project.task)
        return cls.headline(aggregate) if cls is not None else "evaluated"

    def checkpoints(self, exp_id: str) -> list[str]:
        """Only the checkpoints that exist ("best" first)."""
        return list(self.service.checkpoints(exp_id))

    def subset_sizes(self, exp: Experiment) -> dict[str, int]:
        """Images per subset of the experiment's split (what each checkbox would evaluate)."""
        try:
            split = SplitService(self.ws, self.project.id).get(exp.config.split_id)
        except StudioError:
            return {}
        return {s: split.stats[s].images if s in split.stats else len(split.ids_in(s))
                for s in SUBSETS if s in split.ratios}

    def evaluate_args(self, exp: Experiment, checkpoint: str, subsets: list[str], batch_size: int,
                      device: str) -> list[str]:
        """The ``worker evaluate`` arguments (the job manager adds workspace and parent pid)."""
        return [self.project.id, exp.id, "--checkpoint", checkpoint, "--subsets", *subsets,
                "--batch-size", str(int(batch_size)), "--device", device]

    def job_folder(self, exp_id: str) -> Path:
        return job_folder(self.folder(exp_id))

    def reset(self, exp_id: str) -> None:
        """Delete the evaluation (and its operating point) at once."""
        self.ws.ensure_writable()
        self.store(exp_id).reset()

    def load(self, exp_id: str):
        """The task's results object (seconds for a large evaluation: off the GUI thread)."""
        return load_results(self.folder(exp_id), self.project.task, project=self.project)

    # ------------------------------------------------------------------ compare
    def comparable(self, exp_id: str) -> list[Experiment]:
        """Other experiments of the project with an evaluation (candidates to compare with)."""
        return [e for e in self.service.list() if e.id != exp_id and self.evaluated(e.id)]

    @staticmethod
    def compare(a, b, subset: str | None) -> Comparison:
        """Paired comparison of two results objects on the images both evaluated in ``subset``."""
        def side(r):
            rows = r.scores.subset(subset)
            ids = r.scores.image_ids[rows].tolist()
            subs = r.scores.subsets[rows].tolist()
            right = [c for c, keep in zip(r.correctness(), rows.tolist(), strict=True) if keep]
            return ids, subs, right

        return compare(*side(a), *side(b))

    # ------------------------------------------------------------------- try it
    def try_folder(self, exp_id: str) -> Path:
        """A new folder for one "Try it" run: ``experiments/<id>/try/<timestamp>/``."""
        base = self.folder(exp_id) / "try"
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        path, n = base / stamp, 2
        while path.exists():
            path, n = base / f"{stamp}-{n}", n + 1
        return path

    def predict_args(self, exp: Experiment, inputs: list[str], out: Path, checkpoint: str) -> list[str]:
        """The ``worker predict`` arguments for images and folders chosen by the user."""
        return [exp.id, *inputs, "--out", str(out), "--project", self.project.id, "--checkpoint", checkpoint]

    # ------------------------------------------------------------------- report
    def report_path(self, exp_id: str) -> Path:
        return self.folder(exp_id) / "report" / "report.html"


__all__ = ["DEVICES", "EvaluationController", "SUBSETS", "SUBSET_WORDS", "percent"]
