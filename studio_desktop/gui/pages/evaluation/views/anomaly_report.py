"""The anomaly-detection part of the experiment report: the page's numbers and pictures, as HTML.

Same results object and plot builders as the Evaluation page, at the threshold on screen (the
saved one when the report is written from the command line): image AUROC per subset with its 95 %
interval, pixel AUROC and AUPRO, the 2x2 matrix and the score histogram at the threshold, the ROC
and PR curves with the operating point, and the wrong verdicts farthest from the threshold with
their heat maps drawn.
"""

from __future__ import annotations

import html

import numpy as np
from PySide6.QtCore import QPoint, QSize
from PySide6.QtGui import QImage, QPainter

from ....report.render import grab, image_tag, thumbnail
from ....widgets.confusion import render_matrix
from ..anomaly_results import KINDS
from ..controller import SUBSET_WORDS
from . import anomaly_plots as plots
from .anomaly import ROWS
from .detection_tables import fmt_ratio

PLOT_SIZE = QSize(440, 320)
PICTURE = QSize(230, 230)


def _e(text) -> str:
    return html.escape(str(text))


def subset_reports(results) -> dict:
    """Every evaluated subset's numbers at the threshold, with the curves (thread-safe: numpy only)."""
    return {s: results.report(s, full=True) for s in results.subsets}


def report_summary(results, exp) -> str:
    subset = results.default_subset()
    rep = results.report(subset, full=False)
    m, iv, c = rep["metrics"], rep["intervals"], rep["counts"]
    au = m.get("image_auroc")
    i = iv.get("image_auroc")
    head = (f"image AUROC <b>{au:.3f}</b>" + (f" (95 % interval {i[0]:.3f}–{i[1]:.3f})" if i else "")
            if au is not None else "no image AUROC (the images are not of both kinds)")
    px = f", pixel AUROC {m['pixel_auroc']:.3f}" if m.get("pixel_auroc") is not None else ""
    found = (f" At its threshold ({_e(results.describe_rule())}) it flags <b>{c['tp']}</b> of the {c['tp'] + c['fn']} "
             f"defective images and <b>{c['fp']}</b> of the {c['fp'] + c['tn']} normal ones.")
    return (f"<p class='box'>On its {c['images']} {_e(SUBSET_WORDS.get(subset, subset))} images, <b>{_e(exp.name)}"
            f"</b> ({_e(exp.config.model)}) reaches {head}{px}.{found}</p>")


def _metrics_table(reports: dict) -> str:
    subsets = list(reports)
    head = "".join(f"<th>{_e(SUBSET_WORDS.get(s, s))} ({reports[s]['counts']['images']} images)</th>" for s in subsets)
    rows = []
    for key, label, tip, at_threshold in ROWS:
        cells = []
        for s in subsets:
            rep = reports[s]
            v = rep["counts"].get(key) if at_threshold else rep["metrics"].get(key)
            i = rep["intervals"].get(key)
            cells.append(f"<td align='right'>{fmt_ratio(v)}" + (f"<br><small>95 %: {i[0]:.3f}–{i[1]:.3f}</small>"
                                                                 if i else "") + "</td>")
        rows.append(f"<tr><td>{_e(label)}<br><small>{_e(tip)}</small></td>{''.join(cells)}</tr>")
    return ("<table border='1' cellspacing='0' cellpadding='4' width='100%'>"
            f"<tr><th align='left'>Metric</th>{head}</tr>{''.join(rows)}</table>")


def rgba_image(rgba: np.ndarray) -> QImage:
    """A numpy (H, W, 4) uint8 RGBA array as a QImage (copied: the array may go)."""
    rgba = np.ascontiguousarray(rgba)
    h, w = rgba.shape[:2]
    return QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()


def picture_with_heat(results, row: int, path: str, size: QSize = PICTURE) -> QImage | None:
    """The image scaled into ``size`` with its heat map and outlines over it (None: unreadable)."""
    image = thumbnail(path, size)
    if image is None:
        return None
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    layers = results.layer_images(row)
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    for key in ("heat", "truth", "region"):
        over = rgba_image(layers[key]).scaled(image.size())
        p.drawImage(QPoint(0, 0), over)
    p.end()
    return image


def _pictures(results, rows, image_path, per_row: int = 3) -> str:
    cells = []
    for row in rows:
        d = results.describe_image(int(row))
        img = picture_with_heat(results, int(row), image_path(results, d["image"], thumbnail=False))
        pic = image_tag(img, d["name"]) if img is not None else "<i>(no image)</i>"
        name = d["name"] if len(d["name"]) <= 36 else f"{d['name'][:20]}…{d['name'][-14:]}"
        cells.append(f"<td align='center' valign='top'>{pic}<br><small>{_e(name)}<br>score {d['score']:.4g} · "
                     f"{_e(d['predicted'])} · truth {_e(d['truth'])}</small></td>")
    if not cells:
        return "<p><i>None: every verdict is right at this threshold.</i></p>"
    lines = ["<tr>" + "".join(cells[i:i + per_row]) + "</tr>" for i in range(0, len(cells), per_row)]
    return f"<table cellspacing='0' cellpadding='4'>{''.join(lines)}</table>"


def report_sections(results, image_path, *, reports: dict | None = None, max_errors: int = 9
                    ) -> list[tuple[str, str]]:
    """``[(title, html)]`` of an anomaly evaluation (``reports``: :func:`subset_reports`)."""
    subset = results.default_subset()
    reports = reports if reports is not None else subset_reports(results)
    main = reports[subset]
    info = results.info
    ck = info.checkpoint
    epoch = f", epoch {ck.get('epoch')}" if ck.get("epoch") else ""
    where = SUBSET_WORDS.get(subset, subset)
    return [
        ("Evaluation", (
            f"<p>The <b>{_e(ck.get('which', '?'))}</b> checkpoint{epoch} (sha256 <code>{_e(str(ck.get('sha256', ''))[:16])}"
            f"…</code>) evaluated on {', '.join(f'{n} {SUBSET_WORDS.get(s, s)}' for s, n in info.images.items())} "
            f"images with batch size {info.batch_size} on {_e(info.device)}.</p>"
            "<p><b>Image AUROC</b> ranks every image by its anomaly score: it does not depend on a threshold. "
            "Pixel AUROC and AUPRO judge the heat maps against the defect masks (on the map's grid, images with a "
            "mask only). The intervals are 95 % bootstrap intervals over the images.</p>" + _metrics_table(reports))),
        (f"At the threshold ({where} images)", (
            f"<p>Operating point: {_e(results.describe_rule())}{' (not saved)' if results.dirty else ''}. Rows: what the "
            "image really is; columns: the verdict. The histogram shows the scores of normal (blue) and defective "
            "(red) images with the threshold line.</p><table cellspacing='0' cellpadding='2'><tr>"
            f"<td valign='top'>{image_tag(render_matrix(main['matrix'], list(KINDS), QSize(320, 320)), '2x2')}</td>"
            f"<td valign='top'>{image_tag(grab(plots.plot_of('histogram', main), PLOT_SIZE), 'score histogram')}</td>"
            "</tr></table>")),
        (f"ROC and precision–recall ({where} images)", (
            "<p>The dot is the threshold.</p><table cellspacing='0' cellpadding='2'><tr>"
            f"<td valign='top'>{image_tag(grab(plots.plot_of('roc', main), PLOT_SIZE), 'ROC')}</td>"
            f"<td valign='top'>{image_tag(grab(plots.plot_of('pr', main), PLOT_SIZE), 'PR')}</td></tr></table>")),
        (f"Wrong verdicts ({where} images)", (
            "<p>Farthest from the threshold first, with the heat map (blue below the threshold, green at it, orange "
            "to red above), the defect outline in magenta and the flagged region in white.</p>"
            + _pictures(results, results.worst_errors(subset, max_errors), image_path))),
    ]


__all__ = ["picture_with_heat", "report_sections", "report_summary", "rgba_image", "subset_reports"]
