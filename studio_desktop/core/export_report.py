"""An export record in words and tables: shared by ``studio export`` and the Export page.

Pure text from ``export.json`` (:class:`~studio_desktop.core.exports.ExportRecord`), so the
command line and the GUI can never disagree on what an export's numbers say.
"""

from __future__ import annotations

from .exports import ExportRecord


def number(value: float | None) -> str:
    """3 significant digits; small values in scientific notation (logit differences are ~1e-6)."""
    if value is None:
        return "n/a"
    if value == 0:
        return "0"
    return f"{value:.3g}" if abs(value) >= 1e-3 else f"{value:.2e}"


def share(value: float | None) -> str:
    """A fraction as a percentage, never rounded up to 100 % (63/64 is 98.4 %, not 100 %)."""
    if value is None:
        return "n/a"
    text = f"{100 * value:.1f} %"
    return "99.9 %" if text == "100.0 %" and value < 1 else text.replace(".0 %", " %")


def size_text(n: int | None) -> str:
    if not n:
        return ""
    for unit, k in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= k:
            return f"{n / k:.1f} {unit}"
    return f"{n} B"


def verdict(record: ExportRecord) -> str:
    """One line: what the export is and whether it may be used."""
    v = record.validation
    images = f" on {v.images} images" if v is not None else ""
    if record.ready:
        return f"ready: passed its validation{images}"
    return f"failed{images}: {record.error or 'see the numbers'}"


def subsets_text(record: ExportRecord) -> str:
    v = record.validation
    if v is None or not v.subsets:
        return ""
    names = {"val": "validation", "test": "test", "train": "training (no held-out images in the split)"}
    return ", ".join(f"{n} {names.get(k, k)}" for k, n in v.subsets.items())


def validation_rows(record: ExportRecord) -> list[tuple[str, str, str, bool, str]]:
    """(check, value, limit, passed, help) per validation check, plus the metric under both."""
    v = record.validation
    if v is None:
        return []
    rows = []
    for c in v.checks:
        limit = ("at most " if c.kind == "max" else "at least ") + check_value(c, c.limit)
        rows.append((c.name, check_value(c, c.value), limit, c.passed, c.help))
    if v.metric_pytorch is not None:
        rows.append((f"{v.metric} (PyTorch -> exported)",
                     f"{metric_number(v.metric_pytorch)} -> {metric_number(v.metric_exported)}", "",
                     True, "the task metric on the same images, under each"))
    return rows


def check_value(check, value: float | None) -> str:
    """A check's value or limit: a share as a percentage, else a number with the check's unit."""
    if check.unit == "share":
        return share(value)
    return number(value) + (f" {check.unit}" if check.unit and value is not None else "")


def metric_number(value: float | None) -> str:
    """A task metric: 3 decimals (accuracy 0.953, MAE 2.315), small values in scientific notation."""
    if value is None:
        return "n/a"
    return f"{value:.3f}" if value == 0 or abs(value) >= 0.01 else f"{value:.2e}"


def latency_rows(record: ExportRecord) -> list[tuple[str, str, str, str, str]]:
    """(runtime, precision, median ms, images/s, vs PyTorch) per measured runtime."""
    lat = record.latency
    if lat is None:
        return []
    out = []
    for r in lat.rows:
        speed = f"{r.speedup:.2f}x" if r.speedup else "baseline"
        tput = f"{r.throughput:.0f}" + (f" (batch {r.batch})" if r.batch > 1 else "") if r.throughput else ""
        out.append((r.runtime, r.precision.upper(), f"{r.median_ms:.2f}", tput, speed))
    return out


def latency_note(record: ExportRecord) -> str:
    lat = record.latency
    if lat is None:
        return ""
    return (f"batch 1, {lat.input_size} px, {lat.threads} thread(s), median of {lat.runs} calls each, the runtimes "
            f"taking turns in blocks ({lat.warmup} warm-up calls before each); {lat.device}")


def precision_text(record: ExportRecord) -> str:
    """What FP16/INT8 changed against FP32: "accuracy 0.953 -> 0.945 (-0.008), 2.9x faster, 26 % of the size"."""
    c = record.precision_change
    if c is None:
        return ""
    parts = []
    if c.metric_fp32 is not None and c.metric_exported is not None:
        parts.append(f"{c.metric} {metric_number(c.metric_fp32)} (FP32) -> {metric_number(c.metric_exported)} "
                     f"({c.change:+.3f})")
    if c.agreement_with_fp32 is not None:
        parts.append(f"{c.agreement_with_fp32:.1%} {c.agreement_words or 'of decisions as FP32'}")
    if c.speedup:
        parts.append(f"{c.speedup:.2f}x the FP32 speed ({c.latency_fp32_ms:.2f} -> {c.latency_ms:.2f} ms)")
    if c.size and c.size_fp32:
        parts.append(f"{c.size / c.size_fp32:.0%} of the FP32 size")
    return "; ".join(parts)


def report(record: ExportRecord, folder) -> str:
    """The text ``studio export`` prints at the end."""
    lines = [f"export {record.id}: {record.title} of '{record.experiment_name}' ({record.model}) - {verdict(record)}",
             f"  file: {folder / record.file} ({size_text(record.file_size)}, sha256 {record.sha256[:16]}...)",
             f"  made with: {record.exporter}" + (f", opset {record.opset}" if record.opset else "")
             + f", input {record.input_shape}"]
    if record.validation is not None:
        lines.append(f"  validation ({subsets_text(record)}):")
        rows = validation_rows(record)
        width = max([36, *(len(r[0]) for r in rows)])
        for name, value, limit, passed, _ in rows:
            mark = "ok  " if passed else "FAIL"
            lines.append(f"    {mark} {name:<{width}} {value:>16}  {limit}")
    if record.precision_change is not None:
        lines.append(f"  against FP32: {precision_text(record)}")
    if record.latency is not None:
        lines.append(f"  speed ({latency_note(record)}):")
        for runtime, prec, ms, tput, speed in latency_rows(record):
            lines.append(f"    {runtime:<14} {prec:<5} {ms:>9} ms  {tput:>16} img/s  {speed}")
    if record.snippet and record.ready:
        lines.append(f"  try it: python {folder / record.snippet} IMAGE")
    return "\n".join(lines)


__all__ = ["check_value", "latency_note", "latency_rows", "metric_number", "number", "precision_text", "report", "share",
           "size_text", "subsets_text", "validation_rows", "verdict"]
