"""The experiment report: ``experiments/<id>/report/report.html`` (self-contained) and a PDF.

``write_report`` is called by the Evaluation page's Report button and by ``studio report``; it
needs a QApplication (plots are rendered by Qt) but no torch.
"""

from __future__ import annotations

from pathlib import Path

from ...core.experiments import ExperimentService
from ...core.store import atomic_write_text
from .builder import build_html
from .pdf import write_pdf

REPORT_FOLDER = "report"


def report_folder(ws, project, exp) -> Path:
    return ExperimentService(ws, project.id).folder(exp.id) / REPORT_FOLDER


def write_report(ws, project, exp, *, results=None, numbers=None, pdf: str | Path | None = None
                 ) -> tuple[Path, Path]:
    """Write report.html (and the PDF, by default report.pdf beside it); returns both paths.
    ``numbers``: see :func:`build_html`."""
    folder = report_folder(ws, project, exp)
    folder.mkdir(parents=True, exist_ok=True)
    text = build_html(ws, project, exp, results, numbers)
    html_path = folder / "report.html"
    atomic_write_text(html_path, text)
    pdf_path = Path(pdf) if pdf else folder / "report.pdf"
    write_pdf(text, pdf_path)
    return html_path, pdf_path


__all__ = ["REPORT_FOLDER", "build_html", "report_folder", "write_pdf", "write_report"]
