"""`studio report PROJECT EXPERIMENT [--pdf FILE]`: write the experiment's report.

The same report as the Evaluation page's Report button: a self-contained HTML file in the
experiment folder (``report/report.html``) and a PDF (``report/report.pdf`` unless ``--pdf``
names another file). The plots are drawn by Qt, so this command starts an off-screen Qt
application when none runs; it never imports torch.
"""

from __future__ import annotations

import os
import sys

from ..core.evaluation.store import EvaluationStore
from ..core.experiments import ExperimentService
from ..core.projects import ProjectService
from .common import open_workspace


def register(sub) -> None:
    p = sub.add_parser("report", help="write an experiment's HTML and PDF report",
                       description="Write the experiment's report (configuration, dataset and split, training "
                                   "curves, metrics with 95 %% intervals, confusion matrix, worst errors, "
                                   "environment) as a self-contained HTML file in the experiment folder, and "
                                   "a PDF.")
    p.add_argument("project", help="project name or id")
    p.add_argument("experiment", help="experiment name or id")
    p.add_argument("--pdf", metavar="FILE", help="where to write the PDF (default: report/report.pdf beside the HTML)")
    p.set_defaults(func=run)


def _application():
    """The running QApplication, or an off-screen one (no display needed)."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        app = QApplication(["studio report"])
    return app


def run(args) -> int:
    with open_workspace(args, write=False) as ws:
        project = ProjectService(ws).get(args.project)
        exp = ExperimentService(ws, project.id).get(args.experiment)
        from ..gui.report import write_report  # the gui package first: it fixes PySide6 references

        _keep = _application()  # noqa: F841 - lives until the report is written

        html, pdf = write_report(ws, project, exp, pdf=args.pdf)
        print(f"wrote {html}")
        print(f"wrote {pdf}")
        if not EvaluationStore(html.parent.parent).exists():
            print("note: the experiment is not evaluated yet; the report has no metrics "
                  f"(run: studio evaluate {project.name} {exp.name})", file=sys.stderr)
    return 0
