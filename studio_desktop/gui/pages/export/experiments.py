"""The left column: the experiments that can be exported (the Training page's table model) with
their exports counted in a column of their own."""

from __future__ import annotations

from ..training.headline_list import HeadlineColumn, HeadlineExperimentList

COLUMN = HeadlineColumn("Exports", "Exports of the experiment that passed their validation (ready) or did not "
                        "(failed)", "not exported yet")


class ExportExperimentList(HeadlineExperimentList):
    def __init__(self, parent=None):
        super().__init__(COLUMN, title_tip="Trained experiments with a checkpoint on disk; select one to export it "
                         "or to see its exports",
                         table_tip="Click an experiment to export it or to see its exports",
                         hidden=(1, 3, 4),  # status, best metric and duration belong to the Training page
                         parent=parent)
