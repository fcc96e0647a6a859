"""The experiment report as one self-contained HTML file: what a student hands in and an engineer
archives.

Sections: summary, configuration, dataset and split, training curves, the evaluation (the task's
result view module writes that part, with the page's plots), environment (versions, device,
dataset / split / checkpoint hashes). Pictures are embedded as PNG data URIs, so the file can be
mailed or archived alone; the HTML uses only what Qt's rich-text engine also renders, so the PDF
made from it (``pdf.py``) needs no browser engine.
"""

from __future__ import annotations

import html
from datetime import datetime

from PySide6.QtCore import QSize

from ... import __version__
from ...core.datasets import DatasetStore
from ...core.errors import StudioError
from ...core.evaluation.store import EvaluationStore
from ...core.experiments import ExperimentService
from ...core.splits import SplitService
from ...core.store import read_json
from ...tasks import get_task
from ..pages.evaluation.views import report_module
from ..widgets.curves import CurvesPanel
from .render import grab, image_tag

STYLE = """
body { font-family: sans-serif; font-size: 10pt; color: #222; }
h1 { font-size: 18pt; margin-bottom: 2px; }
h2 { font-size: 13pt; color: #1f4e79; border-bottom: 1px solid #1f4e79; margin-top: 18px; }
th { background: #e8eef5; text-align: left; }
small { color: #555; }
code { font-size: 9pt; }
.box { background: #f3f7fb; padding: 6px; }
"""


def _e(text) -> str:
    return html.escape(str(text))


def _kv_table(rows: list[tuple[str, object]], columns: int = 1) -> str:
    """Name/value pairs, ``columns`` pairs per table row."""
    cells = [f"<th>{_e(k)}</th><td>{_e(v)}</td>" for k, v in rows if v not in (None, "")]
    body = "".join("<tr>" + "".join(cells[i:i + columns]) + "</tr>" for i in range(0, len(cells), columns))
    return f"<table border='1' cellspacing='0' cellpadding='3'>{body}</table>"


def image_path_in(dataset: DatasetStore):
    """``(results, image id, thumbnail) -> path``: the thumbnail when there is one, else the image."""
    def path_of(results, image_id: str, thumbnail: bool = True) -> str:
        if thumbnail:
            thumb = dataset.thumbnail_path(image_id)
            if thumb.is_file():
                return str(thumb)
        return str(dataset.path_of(results.file_of(image_id)))
    return path_of


def _configuration(exp) -> str:
    cfg = exp.config.model_dump(mode="json")
    augs = cfg.pop("augmentations", [])
    rows = [(k.replace("_", " "), v) for k, v in cfg.items() if not isinstance(v, (dict, list))]
    on = [a["name"].replace("_", " ") + (f" {a['params']}" if a.get("params") else "")
          for a in augs if a.get("enabled", True)]
    rows.append(("augmentations", ", ".join(on) or "none"))
    return _kv_table(rows, columns=2)


def _data(ws, project, exp) -> str:
    out = []
    store = DatasetStore(ws, project.id)
    try:
        summary = read_json(store.summary_path) if store.summary_path.is_file() else {}
    except StudioError:
        summary = {}
    classes = ", ".join(c.name for c in project.classes)
    units = project.target_units
    targets = ", ".join(f"{n} ({units[n]})" if units.get(n) else n for n in project.target_names)
    out.append(_kv_table([("project", project.name), ("task", project.task.replace("_", " ")),
                          ("images", summary.get("images", "?")), ("annotated", summary.get("annotated", "?")),
                          ("classes", classes), ("targets", targets)]))
    try:
        split = SplitService(ws, project.id).get(exp.config.split_id)
    except StudioError as exc:
        out.append(f"<p><i>The split could not be read: {_e(exc)}</i></p>")
        return "".join(out)
    ratios = ", ".join(f"{s} {r:.0%}" for s, r in split.ratios.items())
    out.append(f"<p>Split <b>{_e(split.name)}</b> (id {_e(split.id)}): {_e(ratios)}, seed {split.seed}, "
               f"{_e(split.strategy)} / {_e(split.method)}, {split.image_count} images.</p>")
    subsets = list(split.ratios)
    keys = sorted({k for s in subsets if s in split.stats for k in split.stats[s].classes},
                  key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else 0, k))
    names = {str(c.id): c.name for c in project.classes}
    head = "".join(f"<th>{_e(s)}</th>" for s in subsets)
    rows = [f"<tr><td><b>images</b></td>{''.join(f'<td align=right>{split.stats[s].images}</td>' for s in subsets if s in split.stats)}</tr>"]
    for k in keys:
        label = split.strata_names.get(k) or names.get(k, k)
        cells = "".join(f"<td align=right>{split.stats[s].classes.get(k, 0)}</td>" for s in subsets if s in split.stats)
        rows.append(f"<tr><td>{_e(label)}</td>{cells}</tr>")
    out.append(f"<table border='1' cellspacing='0' cellpadding='3'><tr><th></th>{head}</tr>{''.join(rows)}</table>")
    for w in split.warnings:
        out.append(f"<p><small>warning: {_e(w)}</small></p>")
    return "".join(out)


def _training(ws, project, exp) -> str:
    svc = ExperimentService(ws, project.id)
    rows = svc.metrics(exp.id)
    best = f"best {exp.best.metric} {exp.best.value:.4g} at epoch {exp.best.epoch}" if exp.best else "no best metric"
    duration = f", {exp.duration_s:.0f} s" if exp.duration_s else ""
    text = (f"<p>Status <b>{_e(exp.status)}</b>, {exp.epochs_done} of {exp.config.epochs} epochs{duration}; "
            f"{_e(best)}.</p>")
    if not rows:
        return text + "<p><i>No training curves were recorded.</i></p>"
    panel = CurvesPanel()
    panel.set_monitor(f"val_{get_task(project.task).primary_metric}")
    panel.set_rows(rows)
    panel.redraw_now()
    return text + f"<p>{image_tag(grab(panel, QSize(720, 560)), 'training curves')}</p>"


def _environment(exp, info) -> str:
    train = dict(exp.environment or {})
    evaluation = dict(info.environment) if info is not None else {}
    keys = list(dict.fromkeys([*train, *evaluation]))
    keys = [k for k in keys if not isinstance(train.get(k, evaluation.get(k)), (dict, list))]
    rows = "".join(f"<tr><th>{_e(k.replace('_', ' '))}</th><td>{_e(train.get(k, ''))}</td>"
                   f"<td>{_e(evaluation.get(k, ''))}</td></tr>" for k in keys)
    ck = (info.checkpoint if info is not None else {}) or {}
    extra = (f"<p>Checkpoint <code>{_e(ck.get('path', ''))}</code><br>sha256 <code>{_e(ck.get('sha256', ''))}"
             "</code></p>") if ck else ""
    return (f"<table border='1' cellspacing='0' cellpadding='3'><tr><th></th><th>training</th><th>evaluation</th>"
            f"</tr>{rows}</table>{extra}")


def _summary(project, exp, results) -> str:
    if results is None:
        return ("<p class='box'>This experiment has not been evaluated yet: evaluate it on the Evaluation page "
                "(or with <code>studio evaluate</code>) for metrics, the confusion matrix and the errors.</p>")
    return report_module(project.task).report_summary(results, exp)


def build_html(ws, project, exp, results=None, numbers=None) -> str:
    """The whole report. ``results``: the page's loaded evaluation (with its operating point on
    screen); None reads the saved evaluation (at the saved operating point) when there is one.
    ``numbers``: the report module's ``subset_reports(results)``, when already computed (off the
    GUI thread by the page)."""
    store = EvaluationStore(ExperimentService(ws, project.id).folder(exp.id))
    if results is None and store.exists():
        from ..pages.evaluation.results import load_results

        results = load_results(store.experiment_folder, project.task, project=project)
    info = results.info if results is not None else None
    when = datetime.now().strftime("%Y-%m-%d %H:%M")
    sections = [("Configuration", _configuration(exp)), ("Dataset and split", _data(ws, project, exp)),
                ("Training", _training(ws, project, exp))]
    if results is not None:
        module = report_module(project.task)
        sections += module.report_sections(results, image_path_in(DatasetStore(ws, project.id)), reports=numbers)
    sections.append(("Environment", _environment(exp, info)))
    anchors = [f"s{i}" for i in range(len(sections))]
    contents = " · ".join(f"<a href='#{a}'>{_e(t)}</a>" for a, (t, _) in zip(anchors, sections, strict=True))
    parts = [f"<h1>{_e(project.name)} — {_e(exp.name)}</h1>",
             f"<p><small>{_e(project.task.replace('_', ' '))} · report written {when} by AI Studio "
             f"{_e(__version__)} · experiment {_e(exp.id)}</small></p>",
             _summary(project, exp, results), f"<p><small>{contents}</small></p>"]
    for anchor, (title, body) in zip(anchors, sections, strict=True):
        parts += [f"<h2><a name='{anchor}'></a>{_e(title)}</h2>", body]
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>{_e(project.name)} — {_e(exp.name)}</title><style>{STYLE}</style></head><body>"
            + "\n".join(parts) + "</body></html>")


__all__ = ["build_html", "image_path_in"]
