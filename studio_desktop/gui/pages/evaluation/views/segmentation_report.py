"""The semantic-segmentation part of the experiment report: the page's numbers and pictures, as HTML.

Same results object and plot builders as the Evaluation page: mIoU, pixel accuracy and Dice per subset
with their 95 % intervals, the class table, IoU per class, the distribution of the images' IoU, the
pixel confusion matrix (row shares), and the images with the lowest IoU, each shown three times: the
predicted mask over the photo, the ground truth, and the wrong pixels (false positives magenta, false
negatives cyan).
"""

from __future__ import annotations

import html

import numpy as np
from PySide6.QtCore import QSize
from PySide6.QtGui import QImage, QPainter

from ....report.render import grab, image_tag, thumbnail
from ....widgets.confusion import render_matrix
from ..controller import SUBSET_WORDS
from ..detail_layers import rgba_pixmap
from ..segmentation_results import FN_HEX, FP_HEX
from . import segmentation_plots as plots
from .detection_tables import fmt_ratio
from .segmentation import INTERVAL_TEXT, METRIC_HELP, METRICS

PLOT_SIZE = QSize(440, 340)
PICTURE = QSize(220, 220)


def _e(text) -> str:
    return html.escape(str(text))


def subset_reports(results) -> dict:
    """Every evaluated subset's numbers with their intervals (thread-safe: numpy only)."""
    return {s: results.report(s, full=True) for s in results.subsets}


def report_summary(results, exp) -> str:
    subset = results.default_subset()
    rep = results.report(subset, full=False)
    m, iv, c = rep["metrics"], rep["intervals"], rep["counts"]
    miou = f"mIoU <b>{fmt_ratio(m.get('miou'))}</b>"
    if iv.get("miou"):
        miou += f" (95 % interval {iv['miou'][0]:.3f}–{iv['miou'][1]:.3f})"
    weak = sorted((r for r in rep["per_class"] if r["iou"] is not None), key=lambda r: r["iou"])[:3]
    weakest = (" Its weakest classes: " + ", ".join(f"{_e(r['name'])} ({r['iou']:.2f})" for r in weak) + "."
               if weak else "")
    return (f"<p class='box'>On its {c['images']} {_e(SUBSET_WORDS.get(subset, subset))} images, <b>{_e(exp.name)}"
            f"</b> ({_e(exp.config.model)}) reaches {miou} with pixel accuracy {fmt_ratio(m.get('pixel_accuracy'))}."
            f"{weakest}</p>")


def _metrics_table(reports: dict) -> str:
    subsets = list(reports)
    head = "".join(f"<th>{_e(SUBSET_WORDS.get(s, s))} ({reports[s]['images']} images)</th>" for s in subsets)
    rows = []
    for key, label in METRICS:
        cells = []
        for s in subsets:
            v, i = reports[s]["metrics"].get(key), reports[s]["intervals"].get(key)
            cells.append(f"<td align='right'>{fmt_ratio(v)}" + (f"<br><small>95 %: {i[0]:.3f}–{i[1]:.3f}</small>"
                                                                 if i else "") + "</td>")
        rows.append(f"<tr><td>{_e(label)}<br><small>{_e(METRIC_HELP[key])}</small></td>{''.join(cells)}</tr>")
    return ("<table border='1' cellspacing='0' cellpadding='4' width='100%'>"
            f"<tr><th align='left'>Metric</th>{head}</tr>{''.join(rows)}</table>")


def _class_table(rep: dict) -> str:
    total = max(1, rep["pixels"])
    rows = []
    for r, colour in zip(rep["per_class"], rep["colours"], strict=True):
        iou = "not present" if r["iou"] is None else f"{r['iou']:.3f}"
        rows.append(f"<tr><td><span style='color:{colour}'>■</span> {_e(r['name'])}</td><td align='right'>{iou}</td>"
                    f"<td align='right'>{fmt_ratio(r['dice'])}</td><td align='right'>{fmt_ratio(r['precision'])}</td>"
                    f"<td align='right'>{fmt_ratio(r['recall'])}</td>"
                    f"<td align='right'>{100 * r['support'] / total:.1f} %</td></tr>")
    return ("<table border='1' cellspacing='0' cellpadding='3'><tr><th>class</th><th>IoU</th><th>Dice</th>"
            "<th>precision</th><th>recall</th><th>share of pixels</th></tr>" + "".join(rows) + "</table>")


def picture_with_layer(results, row: int, path: str, layer: str, size: QSize = PICTURE) -> QImage | None:
    """The image scaled into ``size`` with one of its layers (prediction, truth, errors) drawn over it."""
    image = thumbnail(path, size)
    if image is None:
        return None
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    try:
        rgba = results.layer_images(row, results.focus)[layer]
    except Exception:  # noqa: BLE001 - a missing mask leaves the bare picture
        return image
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    p.drawPixmap(image.rect(), rgba_pixmap(rgba))
    p.end()
    return image


def _pictures(results, rows, image_path) -> str:
    lines = []
    for row in rows:
        d = results.describe_image(int(row))
        path = image_path(results, d["image"], thumbnail=False)
        cells = []
        for layer, title in (("prediction", "prediction"), ("truth", "ground truth"), ("errors", "errors")):
            img = picture_with_layer(results, int(row), path, layer)
            cells.append(f"<td align='center' valign='top'>{image_tag(img, title) if img is not None else '<i>(no image)</i>'}"
                         f"<br><small>{title}</small></td>")
        iou = "no labelled pixel" if d["iou"] is None else f"IoU {d['iou']:.3f}"
        weak = ", ".join(f"{_e(c['name'])} {c['iou']:.2f}" for c in d["classes"] if np.isfinite(c["iou"]))[:160]
        lines.append(f"<tr><td colspan='3'><b>{_e(d['name'])}</b> ({_e(d['subset'])}) · {iou} · {weak}</td></tr>"
                     f"<tr>{''.join(cells)}</tr>")
    if not lines:
        return "<p><i>No images.</i></p>"
    return f"<table cellspacing='0' cellpadding='4'>{''.join(lines)}</table>"


def report_sections(results, image_path, *, reports: dict | None = None, max_images: int = 6
                    ) -> list[tuple[str, str]]:
    """``[(title, html)]`` of a segmentation evaluation (``reports``: :func:`subset_reports`)."""
    subset = results.default_subset()
    reports = reports if reports is not None else subset_reports(results)
    main = reports[subset]
    info = results.info
    ck = info.checkpoint
    epoch = f", epoch {ck.get('epoch')}" if ck.get("epoch") else ""
    where = SUBSET_WORDS.get(subset, subset)
    shares = np.asarray(main["confusion_normalised"], dtype=float)
    counts = np.round(shares * 1000).astype(int).tolist()  # the painter colours by row share either way
    legend = (f"<span style='color:{FP_HEX}'>■</span> false positive (a class put where it is not), "
              f"<span style='color:{FN_HEX}'>■</span> false negative (missed)")
    return [
        ("Evaluation", (
            f"<p>The <b>{_e(ck.get('which', '?'))}</b> checkpoint{epoch} (sha256 <code>{_e(str(ck.get('sha256', ''))[:16])}"
            f"…</code>) evaluated on {', '.join(f'{n} {SUBSET_WORDS.get(s, s)}' for s, n in info.images.items())} images "
            f"at their original resolution with batch size {info.batch_size} on {_e(info.device)}.</p>"
            "<p><b>mIoU</b> averages, over the classes present, the overlap of the predicted and the true pixels of a "
            "class divided by their union; pixels marked ignore (255) are not counted, and a class in neither the "
            f"truth nor the prediction is left out. {_e(INTERVAL_TEXT)}</p>" + _metrics_table(reports))),
        (f"IoU per class ({where} images)", (
            "<p>Left: each class's IoU over every pixel of the subset (dashed: mIoU). Right: how many images reach "
            "each IoU (an image's IoU averages the classes in its truth or prediction).</p>"
            "<table cellspacing='0' cellpadding='2'><tr>"
            f"<td valign='top'>{image_tag(grab(plots.plot_of('iou', main), PLOT_SIZE), 'IoU per class')}</td>"
            f"<td valign='top'>{image_tag(grab(plots.plot_of('images', main), PLOT_SIZE), 'image IoU')}</td>"
            "</tr></table>" + _class_table(main))),
        (f"The pixel confusion matrix ({where} images)", (
            "<p>Rows: the true class; columns: the predicted class; each cell is the share of the row's pixels (in "
            "tenths of a percent) that went there — the diagonal is each class's recall.</p>"
            f"<p>{image_tag(render_matrix(counts, main['names'], size=QSize(620, 620), normalized=True), 'pixel confusion matrix')}"
            "</p>")),
        (f"Images with the lowest IoU ({where} images)", (
            f"<p>Worst first: the predicted mask, the ground truth, and the wrong pixels: {legend}.</p>"
            + _pictures(results, results.worst_errors(subset, max_images), image_path))),
    ]


__all__ = ["picture_with_layer", "report_sections", "report_summary", "subset_reports"]
