"""The object-detection part of the experiment report: the page's numbers and pictures, as HTML.

Same results object and plot builders as the Evaluation page, at the operating point on screen
(the saved one when the report is written from the command line): mAP per subset with its 95 %
intervals and per class, the counts and the confusion matrix at the operating point, AP per
class, the PR curves with the operating point marked, and the images with the most errors with
their boxes drawn (green found, amber false alarm, red missed).
"""

from __future__ import annotations

import html

from PySide6.QtCore import QRectF, QSize
from PySide6.QtGui import QColor, QPainter, QPen

from ....report.render import grab, image_tag, thumbnail
from ....widgets.confusion import render_matrix
from ..controller import SUBSET_WORDS
from ..detection_results import BOX_HEX, FN, FP, HEADLINE, MORE_METRICS, TP
from . import detection_plots as plots
from .detection_tables import METRIC_HELP, fmt_ratio

PLOT_SIZE = QSize(440, 340)
PICTURE = QSize(230, 230)


def _e(text) -> str:
    return html.escape(str(text))


def subset_reports(results) -> dict:
    """Every evaluated subset's numbers at the operating point, with the PR curves (thread-safe:
    numpy only)."""
    return {s: results.report(s, full=True) for s in results.subsets}


def report_summary(results, exp) -> str:
    subset = results.default_subset()
    rep = results.report(subset, full=False)
    m, iv, c = rep["metrics"], rep["intervals"], rep["counts"]
    parts = []
    for key, label in HEADLINE[:2]:
        if m.get(key) is not None:
            i = iv.get(key)
            parts.append(f"{label} <b>{m[key]:.3f}</b>" + (f" (95 % interval {i[0]:.3f}–{i[1]:.3f})" if i else ""))
    objects = c["tp"] + c["fn"]
    found = (f" At its operating point ({_e(results.describe_rule())}) it finds <b>{c['tp']}</b> of the {objects} "
             f"objects (recall {fmt_ratio(c['recall'])}) with <b>{c['fp']}</b> false alarms (precision "
             f"{fmt_ratio(c['precision'])}).")
    return (f"<p class='box'>On its {c['images']} {_e(SUBSET_WORDS.get(subset, subset))} images, <b>{_e(exp.name)}"
            f"</b> ({_e(exp.config.model)}) reaches {' and '.join(parts) or 'no mAP'}.{found}</p>")


def _metrics_table(results, reports: dict) -> str:
    subsets = list(reports)
    head = "".join(f"<th>{_e(SUBSET_WORDS.get(s, s))} ({reports[s]['counts']['images']} images)</th>" for s in subsets)
    rows = []
    for key, label in (*HEADLINE, *MORE_METRICS):
        if not any(key in reports[s]["metrics"] for s in subsets):
            continue
        cells = []
        for s in subsets:
            v, i = reports[s]["metrics"].get(key), reports[s]["intervals"].get(key)
            cells.append(f"<td align='right'>{fmt_ratio(v)}" + (f"<br><small>95 %: {i[0]:.3f}–{i[1]:.3f}</small>"
                                                                 if i else "") + "</td>")
        rows.append(f"<tr><td>{_e(label)}<br><small>{_e(METRIC_HELP.get(key, ''))}</small></td>{''.join(cells)}</tr>")
    return ("<table border='1' cellspacing='0' cellpadding='4' width='100%'>"
            f"<tr><th align='left'>Metric</th>{head}</tr>{''.join(rows)}</table>")


def _class_table(rep: dict) -> str:
    c = rep["counts"]
    ap = {r["name"]: r for r in rep["per_class_ap"]}
    rows = []
    for pc in c["per_class"]:
        a = ap.get(pc["name"], {})
        rows.append(f"<tr><td>{_e(pc['name'])}</td><td align='right'>{fmt_ratio(a.get('ap'))}</td>"
                    f"<td align='right'>{fmt_ratio(a.get('ap_50'))}</td><td align='right'>{pc['threshold']:.2f}</td>"
                    f"<td align='right'>{pc['tp'] + pc['fn']}</td><td align='right'>{pc['tp']}</td>"
                    f"<td align='right'>{pc['fp']}</td><td align='right'>{pc['fn']}</td>"
                    f"<td align='right'>{fmt_ratio(pc['precision'])}</td><td align='right'>{fmt_ratio(pc['recall'])}"
                    "</td></tr>")
    rows.append(f"<tr><td><b>all classes</b></td><td></td><td></td><td></td><td align='right'><b>{c['tp'] + c['fn']}"
                f"</b></td><td align='right'><b>{c['tp']}</b></td><td align='right'><b>{c['fp']}</b></td>"
                f"<td align='right'><b>{c['fn']}</b></td><td align='right'><b>{fmt_ratio(c['precision'])}</b></td>"
                f"<td align='right'><b>{fmt_ratio(c['recall'])}</b></td></tr>")
    return ("<table border='1' cellspacing='0' cellpadding='3'><tr><th>class</th><th>AP</th><th>AP@0.5</th>"
            "<th>score ≥</th><th>objects</th><th>TP</th><th>FP</th><th>FN</th><th>precision</th><th>recall</th></tr>"
            + "".join(rows) + "</table>")


def picture_with_boxes(results, row: int, path: str, size: QSize = PICTURE):
    """The image scaled into ``size`` with its boxes at the operating point drawn (None: unreadable)."""
    image = thumbnail(path, size)
    if image is None:
        return None
    image = image.convertToFormat(image.Format.Format_RGB32)
    w, h, groups = results.thumbnail_boxes(row)
    if w > 0 and h > 0:
        sx, sy = image.width() / w, image.height() / h
        p = QPainter(image)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        for color, boxes in groups:
            p.setPen(QPen(QColor(color), 1.5))
            for b in boxes.tolist():
                p.drawRect(QRectF(b[0] * sx, b[1] * sy, (b[2] - b[0]) * sx, (b[3] - b[1]) * sy))
        p.end()
    return image


def _pictures(results, rows, image_path, per_row: int = 3) -> str:
    cells = []
    for row in rows:
        d = results.describe_image(int(row))
        img = picture_with_boxes(results, int(row), image_path(results, d["image"], thumbnail=False))
        pic = image_tag(img, d["name"]) if img is not None else "<i>(no image)</i>"
        name = d["name"] if len(d["name"]) <= 36 else f"{d['name'][:20]}…{d['name'][-14:]}"
        cells.append(f"<td align='center' valign='top'>{pic}<br><small>{_e(name)}<br>{d['tp']} found · "
                     f"{d['fp']} false alarms · {d['fn']} missed</small></td>")
    if not cells:
        return "<p><i>None: every image is right at this operating point.</i></p>"
    lines = ["<tr>" + "".join(cells[i:i + per_row]) + "</tr>" for i in range(0, len(cells), per_row)]
    return f"<table cellspacing='0' cellpadding='4'>{''.join(lines)}</table>"


def report_sections(results, image_path, *, reports: dict | None = None, max_errors: int = 9
                    ) -> list[tuple[str, str]]:
    """``[(title, html)]`` of a detection evaluation (``reports``: :func:`subset_reports`)."""
    subset = results.default_subset()
    reports = reports if reports is not None else subset_reports(results)
    main = reports[subset]
    info = results.info
    ck = info.checkpoint
    epoch = f", epoch {ck.get('epoch')}" if ck.get("epoch") else ""
    where = SUBSET_WORDS.get(subset, subset)
    legend = (f"<span style='color:{BOX_HEX[TP]}'>■</span> found, <span style='color:{BOX_HEX[FP]}'>■</span> false "
              f"alarm, <span style='color:{BOX_HEX[FN]}'>■</span> missed")
    out = [("Evaluation", (
        f"<p>The <b>{_e(ck.get('which', '?'))}</b> checkpoint{epoch} (sha256 <code>{_e(str(ck.get('sha256', ''))[:16])}"
        f"…</code>) evaluated on {', '.join(f'{n} {SUBSET_WORDS.get(s, s)}' for s, n in info.images.items())} images "
        f"with batch size {info.batch_size} on {_e(info.device)}.</p>"
        "<p><b>mAP</b> (COCO's mean average precision) ranks every box the model proposed, so it does not depend on "
        "a score threshold; @0.5:0.95 averages it over IoU thresholds 0.5 to 0.95 (boxes must fit tightly), @0.5 "
        "asks only that the object be found. The intervals are 95 % bootstrap intervals over the images.</p>"
        + _metrics_table(results, reports))),
        (f"At the operating point ({where} images)", (
            f"<p>Operating point: {_e(results.describe_rule())}{' (not saved)' if results.dirty else ''}. A box is "
            "<b>found</b> (TP) when it overlaps an object of its class by the match IoU or more, a <b>false alarm</b> "
            "(FP) otherwise; an object no box found is <b>missed</b> (FN). The confusion matrix counts the same boxes: "
            "its diagonal is the TPs, its background row the false alarms on nothing, its background column the "
            "missed objects; an off-diagonal cell is an object found at the right place with the wrong class.</p>"
            + _class_table(main)
            + f"<p>{image_tag(render_matrix(main['confusion'], results.matrix_names), 'confusion matrix')}</p>")),
        (f"Average precision and precision–recall ({where} images)", (
            "<p>Left: COCO AP per class. Right: each class's precision against recall as its threshold falls; the "
            "dot is the operating point.</p>"
            "<table cellspacing='0' cellpadding='2'><tr>"
            f"<td valign='top'>{image_tag(grab(plots.plot_of('ap', main), PLOT_SIZE), 'AP per class')}</td>"
            f"<td valign='top'>{image_tag(grab(plots.plot_of('pr', main), PLOT_SIZE), 'PR curves')}</td>"
            "</tr></table>")),
        (f"Images with the most errors ({where} images)", (
            f"<p>At the operating point, most false alarms and misses first. Boxes: {legend}.</p>"
            + _pictures(results, results.worst_errors(subset, max_errors), image_path)))]
    return out


__all__ = ["picture_with_boxes", "report_sections", "report_summary", "subset_reports"]
