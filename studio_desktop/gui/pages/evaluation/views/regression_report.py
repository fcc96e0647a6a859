"""The regression part of the experiment report: the page's numbers and plots, as HTML.

Same results object and plot builders as the Evaluation page: every target's metrics beside the
training-mean baseline with 95 % intervals, the skill in words, its predicted-vs-true scatter and
its error plots, and the images with the largest errors.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QSize

from .....core.evaluation.bootstrap import LEVEL
from ....report.render import grab, image_tag, thumbnail
from ..controller import SUBSET_WORDS
from ..regression_results import fmt_value, with_unit
from . import regression_plots as plots
from .regression import METRICS, fmt_interval, fmt_metric, skill_words

PLOT_SIZE = QSize(420, 340)


def _e(text) -> str:
    return html.escape(str(text))


def _figure(kind: str, data: dict, title: str) -> str:
    return f"<p>{image_tag(grab(plots.plot_of(kind, data), PLOT_SIZE), title)}</p>"


def _side_by_side(*cells: str) -> str:
    return ("<table cellspacing='0' cellpadding='2'><tr>"
            + "".join(f"<td valign='top'>{c}</td>" for c in cells) + "</tr></table>")


def subset_reports(results) -> dict:
    """Every evaluated subset's report with its bootstrap intervals (the slow part, which the page
    computes in a background thread and hands to :func:`report_sections`)."""
    return {s: results.report(s, full=True) for s in results.subsets}


def report_summary(results, exp) -> str:
    """The report's opening line: each target's MAE on the default subset, its interval and how
    much less error than the training mean it makes."""
    subset = results.default_subset()
    rep = (results.aggregate.get("subsets") or {}).get(subset) or results.report(subset, full=False)
    parts = []
    for t, pt in enumerate(rep["per_target"]):
        unit = results.unit(t)
        iv = (pt.get("intervals") or {}).get("mae")
        iv_text = f" (95 % interval {fmt_interval(iv, 'unit', unit)})" if iv else ""
        skill = pt.get("skill")
        skill_text = (f", {100 * skill:.0f} % less error than always predicting the training mean"
                      if skill is not None and skill > 0 else ", no better than always predicting the training mean"
                      if skill is not None else "")
        parts.append(f"<b>{_e(pt['name'])}</b> with a mean absolute error of "
                     f"<b>{_e(fmt_metric(pt['metrics'].get('mae'), 'unit', unit))}</b>{_e(iv_text)}{skill_text}")
    return (f"<p class='box'>On its {rep['images']} {_e(SUBSET_WORDS.get(subset, subset))} images, "
            f"<b>{_e(exp.name)}</b> ({_e(exp.config.model)}) predicts {'; '.join(parts)}.</p>")


def _metrics_table(results, reports: dict) -> str:
    subsets = list(reports)
    head = "".join(f"<th>{_e(SUBSET_WORDS.get(s, s))} ({reports[s]['images']} images)<br><small>model (95 %) · "
                   "baseline</small></th>" for s in subsets)
    rows = []
    for t in range(results.n_targets):
        unit = results.unit(t)
        rows.append(f"<tr><td colspan='{1 + len(subsets)}'><b>{_e(results.target_label(t))}</b></td></tr>")
        for key, label, kind in METRICS:
            cells = []
            for s in subsets:
                pt = reports[s]["per_target"][t]
                value = pt["metrics"].get(key)
                text = fmt_metric(value, kind, unit) if value is not None or not pt.get("why") else "skipped"
                iv = fmt_interval((pt.get("intervals") or {}).get(key), kind, unit)
                base = fmt_metric(pt["baseline"].get(key), kind, unit)
                cells.append(f"<td align='right'>{_e(text)}{f'<br><small>95 %: {_e(iv)}</small>' if iv else ''}"
                             f"<br><small>baseline {_e(base)}</small></td>")
            how = results.how(key)
            rows.append(f"<tr><td>{_e(label)}{f'<br><small>{_e(how)}</small>' if how else ''}</td>{''.join(cells)}</tr>")
        skills = "".join(f"<td align='right'><b>{100 * sk:.0f} %</b></td>" if (sk := reports[s]["per_target"][t]
                                                                             .get("skill")) is not None
                         else "<td align='right'>–</td>" for s in subsets)
        rows.append(f"<tr><td>Skill<br><small>1 − MAE / baseline MAE</small></td>{skills}</tr>")
        whys = {reports[s]["per_target"][t].get("why") for s in subsets} - {""}
        if whys:
            rows.append(f"<tr><td colspan='{1 + len(subsets)}'><small>{_e(' '.join(sorted(whys)))}</small></td></tr>")
    return ("<table border='1' cellspacing='0' cellpadding='4' width='100%'>"
            f"<tr><th align='left'>Metric (how it is computed)</th>{head}</tr>{''.join(rows)}</table>")


def _image_cells(results, rows, image_path, per_row: int = 4) -> str:
    cells = []
    for row in rows:
        d = results.describe_image(int(row))
        img = thumbnail(image_path(results, d["image"], thumbnail=True))
        pic = image_tag(img, d["name"], box=110) if img is not None else "<i>(no image)</i>"
        values = "<br>".join(f"{_e(tv['name'])}: true {_e(with_unit(fmt_value(tv['truth']), tv['unit']))}, "
                             f"predicted <b>{_e(with_unit(fmt_value(tv['predicted']), tv['unit']))}</b>"
                             for tv in d["targets"])
        cells.append(f"<td align='center' valign='top' width='25%'>{pic}<br><small>{_e(d['name'])}<br>{values}"
                     "</small></td>")
    if not cells:
        return "<p><i>None.</i></p>"
    lines = ["<tr>" + "".join(cells[i:i + per_row]) + "</tr>" for i in range(0, len(cells), per_row)]
    return f"<table cellspacing='0' cellpadding='4'>{''.join(lines)}</table>"


def report_sections(results, image_path, *, reports: dict | None = None, max_errors: int = 12
                    ) -> list[tuple[str, str]]:
    """``[(title, html)]`` of a regression evaluation (``reports``: :func:`subset_reports`,
    computed here when not given)."""
    subset = results.default_subset()
    reports = reports if reports is not None else subset_reports(results)
    main = reports[subset]
    info = results.info
    ck = info.checkpoint
    epoch = f", epoch {ck.get('epoch')}" if ck.get("epoch") else ""
    where = SUBSET_WORDS.get(subset, subset)
    out = [("Evaluation", (
        f"<p>The <b>{_e(ck.get('which', '?'))}</b> checkpoint{epoch} (sha256 <code>{_e(str(ck.get('sha256', ''))[:16])}"
        f"…</code>) evaluated on {', '.join(f'{n} {SUBSET_WORDS.get(s, s)}' for s, n in info.images.items())} images "
        f"with batch size {info.batch_size} on {_e(info.device)}.</p>"
        "<p>Every metric stands beside the <b>baseline</b>: a model that predicts the training images' mean for "
        "every image. A model that does not beat it has learnt nothing from the pictures; the <b>skill</b> "
        "(1 − MAE / baseline MAE) is the share of the baseline's error the model removes. "
        f"Each metric has its {int(LEVEL * 100)} % bootstrap interval: the images were resampled with replacement "
        "1,000 times and the metric recomputed; the interval holds 95 % of the values.</p>"
        f"<p>{'<br>'.join(skill_words(_e(pt['name']), pt, results.unit(t)) for t, pt in enumerate(main['per_target']))}"
        "</p>" + _metrics_table(results, reports)))]
    for t in range(results.n_targets):
        data = results.residuals(subset, target=t)
        title = results.target_label(t)
        out.append((f"{title}: predicted vs true ({where} images)", (
            "<p>Left: each image at its true and predicted value; on the dashed line the prediction is exact. "
            "Right: the errors (predicted − true); a peak away from 0 means a bias. Below: the error against the "
            "true value; a slope means the model is systematically wrong for small or large values. Green: "
            "error under half the baseline's mean absolute error; amber: up to it; red: no better than the mean."
            "</p>"
            + _side_by_side(_figure("scatter", data, f"{title}: predicted vs true"),
                            _figure("histogram", data, f"{title}: errors"))
            + _figure("residual_vs_true", data, f"{title}: error against the true value"))))
    worst = results.worst_errors(subset, max_errors)
    current = results.target_names[results.target]
    out.append((f"Largest errors ({where} images)", (
        f"<p>The images with the largest absolute error of <b>{_e(current)}</b>, worst first: often a hard or "
        "unusual image, sometimes a wrong value in the labels.</p>"
        + _image_cells(results, worst, image_path))))
    return out


__all__ = ["report_sections", "report_summary", "subset_reports"]
