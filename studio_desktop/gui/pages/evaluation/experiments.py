"""The left column: the experiments that can be evaluated, as on the Training page, with their
evaluation's headline (test accuracy) in a column of its own."""

from __future__ import annotations

from ..training.headline_list import HeadlineColumn, HeadlineExperimentList

COLUMN = HeadlineColumn("Evaluation", "Accuracy of the saved evaluation (test subset when evaluated), blank: not "
                        "evaluated yet", "not evaluated yet")


class EvaluationExperimentList(HeadlineExperimentList):
    def __init__(self, parent=None):
        super().__init__(COLUMN, title_tip="Trained experiments with a checkpoint on disk; select one to evaluate "
                         "it or to see its evaluation",
                         table_tip="Click an experiment to see its evaluation or to evaluate it",
                         hidden=(2, 3, 4),  # model, best metric and duration belong to the Training page
                         parent=parent)
