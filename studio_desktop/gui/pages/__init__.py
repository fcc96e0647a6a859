"""The six workflow pages, in order. The main window builds one dock per entry.

Each page is a ``QWidget`` subclass constructed as ``Page(ctx: AppContext)``. It listens to
``ctx`` signals itself (``projectChanged`` ...). When its prerequisite is missing (no project
open, no dataset...) it shows what it will do and what to do first instead of a blank panel.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageSpec:
    key: str
    title: str
    #: "module:Class", imported when the main window is built
    factory: str
    #: one line for the workflow bar's tooltip
    tooltip: str


PAGES: list[PageSpec] = [
    PageSpec("project", "Project", "studio_desktop.gui.pages.project:ProjectPage",
             "Create, open, rename and delete projects"),
    PageSpec("dataset", "Dataset", "studio_desktop.gui.pages.dataset:DatasetPage",
             "Import images and annotations, check data health, browse"),
    PageSpec("split", "Split", "studio_desktop.gui.pages.split:SplitPage",
             "Divide the images into training, validation and test subsets"),
    PageSpec("training", "Training", "studio_desktop.gui.pages.training:TrainingPage",
             "Configure, run and compare training experiments"),
    PageSpec("evaluation", "Evaluation", "studio_desktop.gui.pages.evaluation:EvaluationPage",
             "Measure a trained model on the test subset"),
    PageSpec("export", "Export", "studio_desktop.gui.pages.export:ExportPage",
             "Export a trained model to ONNX and other formats"),
]
