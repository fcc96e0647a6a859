"""The classification part of the experiment report: the page's numbers and plots, as HTML.

Same results object, same operating point, same plot builders as the Evaluation page, so the
report a student hands in shows what the page showed. Each metric says how it was computed.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QSize

from .....core.evaluation.bootstrap import LEVEL
from ....report.render import grab, image_tag, thumbnail
from ....widgets.confusion import render_matrix
from ..controller import SUBSET_WORDS
from . import classification_plots as plots
from .classification import METRICS, fmt, fmt_interval

PLOT_SIZE = QSize(460, 360)


def _e(text) -> str:
    return html.escape(str(text))


def _figure(kind: str, report: dict, title: str) -> str:
    return f"<p>{image_tag(grab(plots.plot_of(kind, report), PLOT_SIZE), title)}</p>"


def _side_by_side(*cells: str) -> str:
    return ("<table cellspacing='0' cellpadding='2'><tr>"
            + "".join(f"<td valign='top'>{c}</td>" for c in cells) + "</tr></table>")


def _headline_table(results, reports: dict) -> str:
    subsets = list(reports)
    head = "".join(f"<th>{_e(SUBSET_WORDS.get(s, s))} ({reports[s].images} images)</th>" for s in subsets)
    rows = []
    for key, label, pct in METRICS:
        if not any(key in reports[s].metrics for s in subsets):
            continue
        cells = []
        for s in subsets:
            rep = reports[s]
            iv = fmt_interval(rep.intervals.get(key), pct)
            cells.append(f"<td align='right'>{fmt(rep.metrics.get(key), pct)}"
                         f"{f'<br><small>95 %: {iv}</small>' if iv else ''}</td>")
        how = results.how(key)
        rows.append(f"<tr><td><b>{_e(label)}</b>{f'<br><small>{_e(how)}</small>' if how else ''}</td>"
                    f"{''.join(cells)}</tr>")
    return ("<table border='1' cellspacing='0' cellpadding='4' width='100%'>"
            f"<tr><th align='left'>Metric (how it is computed)</th>{head}</tr>{''.join(rows)}</table>")


def _per_class_table(report) -> str:
    rows = []
    for r in report.per_class:
        auc = f"{r['roc_auc']:.3f}" if r.get("roc_auc") is not None else "–"
        ap = f"{r['average_precision']:.3f}" if r.get("average_precision") is not None else "–"
        rows.append(f"<tr><td>{_e(r['name'])}</td><td align='right'>{r['support']}</td>"
                    f"<td align='right'>{r['predicted']}</td><td align='right'>{fmt(r['precision'], True)}</td>"
                    f"<td align='right'>{fmt(r['recall'], True)}</td><td align='right'>{fmt(r['f1'], True)}</td>"
                    f"<td align='right'>{auc}</td><td align='right'>{ap}</td></tr>")
    return ("<table border='1' cellspacing='0' cellpadding='3'><tr><th>class</th><th>images</th><th>predicted"
            "</th><th>precision</th><th>recall</th><th>F1</th><th>ROC AUC</th><th>AP</th></tr>"
            f"{''.join(rows)}</table>")


def _image_cells(results, rows, image_path, caption, per_row: int = 4) -> str:
    cells = []
    for row in rows:
        d = results.describe_image(int(row))
        img = thumbnail(image_path(results, d["image"], thumbnail=True))
        pic = image_tag(img, d["name"], box=110) if img is not None else "<i>(no image)</i>"
        cells.append(f"<td align='center' valign='top' width='25%'>{pic}<br><small>{caption(d)}</small></td>")
    if not cells:
        return "<p><i>None.</i></p>"
    lines = ["<tr>" + "".join(cells[i:i + per_row]) + "</tr>" for i in range(0, len(cells), per_row)]
    return f"<table cellspacing='0' cellpadding='4'>{''.join(lines)}</table>"


def report_summary(results, exp) -> str:
    """The report's opening line: the default subset's accuracy, its interval, the decision rule."""
    subset = results.default_subset()
    rep = results.report(subset, full=False)
    acc = rep.metrics.get("accuracy")
    full_iv = (results.aggregate.get("subsets", {}).get(subset, {}) or {}).get("intervals", {}).get("accuracy")
    iv = f" (95 % interval {100 * full_iv[0]:.1f}–{100 * full_iv[1]:.1f} %)" if full_iv and not results.dirty else ""
    acc_text = f"{100 * acc:.1f} %" if acc is not None else "–"
    return (f"<p class='box'>On its {rep.images} {_e(subset)} images, <b>{_e(exp.name)}</b> ({_e(exp.config.model)}) "
            f"is right on <b>{acc_text}</b>{iv}, deciding by {_e(results.describe_rule())}.</p>")


def subset_reports(results) -> dict:
    """Every evaluated subset's full report (curves, intervals): the slow part of the report, which
    the page computes in a background thread and hands to :func:`report_sections`."""
    return {s: results.report(s, full=True) for s in results.subsets}


def report_sections(results, image_path, *, reports: dict | None = None, max_errors: int = 12,
                    max_issues: int = 20) -> list[tuple[str, str]]:
    """``[(title, html)]`` of the evaluation, at the results' current operating point (``reports``:
    :func:`subset_reports` of that operating point, computed here when not given)."""
    subset = results.default_subset()
    reports = reports if reports is not None else subset_reports(results)
    main = reports[subset]
    data = main.as_json()
    info = results.info
    ck = info.checkpoint
    rule = results.describe_rule()
    if results.dirty:
        rule += " (shown on the page, not saved)"
    epoch = f", epoch {ck.get('epoch')}" if ck.get("epoch") else ""
    where = SUBSET_WORDS.get(subset, subset)
    flagged = f"; {main.flagged} flagged uncertain and not counted" if main.flagged else ""
    out = []
    out.append(("Evaluation", (
        f"<p>The <b>{_e(ck.get('which', '?'))}</b> checkpoint{epoch} (sha256 <code>{_e(str(ck.get('sha256', ''))[:16])}"
        f"…</code>) evaluated on {', '.join(f'{n} {SUBSET_WORDS.get(s, s)}' for s, n in info.images.items())} images "
        f"with batch size {info.batch_size} on {_e(info.device)}.</p>"
        f"<p><b>Decision rule (operating point):</b> {_e(rule)}. Every number below and every colour on the "
        "Evaluation page follows this rule.</p>"
        f"<p>Each metric is shown with its {int(LEVEL * 100)} % bootstrap confidence interval: the images were "
        "resampled with replacement 1,000 times and the metric recomputed; the interval holds 95 % of the "
        "values. Averages marked macro weigh every class equally (over the classes that occur); weighted ones "
        "weigh classes by their number of images.</p>"
        + _headline_table(results, reports))))
    out.append((f"Confusion matrix ({where} images)", (
        f"<p>Rows: the true class; columns: the predicted class; {main.counted} images counted{flagged}. "
        "Colour: the share of the row.</p>"
        f"<p>{image_tag(render_matrix(main.confusion, results.class_names, QSize(560, 560)), 'confusion matrix')}</p>")))
    out.append((f"Per class ({where} images)", _side_by_side(_per_class_table(main), _figure("per_class", data, "per class"))))
    out.append(("Curves and calibration", (
        "<p>Precision–recall and ROC curves are threshold-free (the same at every operating point); the reliability "
        "diagram shows whether the predicted probabilities mean what they say.</p>"
        + _side_by_side(_figure("pr", data, "precision-recall"), _figure("roc", data, "ROC"))
        + _figure("reliability", data, "reliability"))))
    worst = results.worst_errors(subset, max_errors)
    out.append((f"Most confident errors ({where} images)", (
        "<p>The wrong predictions the model was most sure of: often a labelling mistake or a confusing image.</p>"
        + _image_cells(results, worst, image_path,
                       lambda d: f"{_e(d['name'])}<br>true <b>{_e(d['truth'])}</b><br>predicted "
                                 f"<b>{_e(d['predicted'])}</b> {100 * d['confidence']:.0f} %"))))
    issues = sorted(results.meta.issues.items(), key=lambda kv: kv[1]["rank"])[:max_issues]
    if issues:
        out.append(("Likely label errors", (
            f"<p>{int((results.meta.issue_rank > 0).sum())} evaluated images whose given label is probably wrong "
            "(cleanlab, from the model's out-of-sample probabilities), most likely first. Check them; fix wrong "
            "labels on the Dataset page.</p>"
            + _image_cells(results, [r for r, _ in issues], image_path,
                           lambda d: f"#{d['issue']['rank']} {_e(d['name'])} ({_e(d['subset'])})<br>given "
                                     f"<b>{_e(d['issue']['given']['name'])}</b><br>suggested "
                                     f"<b>{_e(d['issue']['suggested']['name'])}</b>"))))
    return out


__all__ = ["report_sections", "report_summary", "subset_reports"]
