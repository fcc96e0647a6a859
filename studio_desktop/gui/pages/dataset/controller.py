"""What the Dataset page decides, without widgets: texts, the import command, import events.

Kept Qt-free so it is tested directly; the widgets only display what these functions return.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ....core.protocol import Noise, parse_line
from ....tasks import get_task

AUTO = "auto"

#: format id -> what the user sees in the format combo
FORMAT_TITLES = {
    "folder": "Folders (one per class)", "csv": "CSV table", "coco": "COCO JSON", "yolo": "YOLO",
    "voc": "Pascal VOC XML", "dota": "DOTA", "labelme": "labelme JSON", "masks": "Images + label masks",
    "mvtec": "MVTec AD folders",
}


def import_formats(task: str) -> list[str]:
    """Formats a project of ``task`` accepts (ZIP is a container, not a format: any of them zipped)."""
    return [f for f in get_task(task).import_formats if f != "zip"]


def formats_sentence(task: str) -> str:
    names = [FORMAT_TITLES.get(f, f) for f in import_formats(task)]
    zipped = " — as a folder or a ZIP file" if "zip" in get_task(task).import_formats else ""
    return ", ".join(names) + zipped


def counts_text(visible: int, total: int) -> str:
    """'1,234 of 100,000 images' (or '12 images' when nothing is filtered out)."""
    noun = "image" if total == 1 else "images"
    if visible == total:
        return f"{total:,} {noun}"
    return f"{visible:,} of {total:,} {noun}"


def import_command(workspace: Path, project_id: str, source: Path, fmt: str) -> tuple[str, list[str]]:
    """Program and arguments of the import subprocess (the CLI, so the GUI never imports data itself);
    in the bundle that is the app itself (``worker_command``), not ``python -m``."""
    from ...jobs import worker_command

    return worker_command("--workspace", str(workspace), "dataset", "import", project_id, str(source),
                          "--format", fmt or AUTO, "--events")


@dataclass
class ImportIssueRow:
    file: str
    reason: str
    action: str


@dataclass
class ImportReport:
    """The import's outcome as shown in the report dialog."""

    imported: int = 0
    duplicates: int = 0
    skipped: int = 0
    format: str = ""
    issues: list[ImportIssueRow] = field(default_factory=list)
    #: every image was skipped (the CLI exits non-zero): shown as a warning, not a success
    nothing_imported: bool = False

    @classmethod
    def from_json(cls, data: dict) -> ImportReport:
        def count(key: str) -> int:
            v = data.get(key, 0)
            return len(v) if isinstance(v, list) else int(v or 0)

        issues = [ImportIssueRow(str(i.get("file", "")), str(i.get("reason", "")), str(i.get("action", "")))
                  for i in data.get("issues") or [] if isinstance(i, dict)]
        return cls(imported=count("imported"), duplicates=count("duplicates"), skipped=count("skipped"),
                   format=str(data.get("format", "")), issues=issues,
                   nothing_imported=bool(data.get("nothing_imported", False)))

    def summary(self) -> str:
        parts = [f"{self.imported:,} imported", f"{self.duplicates:,} duplicates ignored",
                 f"{self.skipped:,} skipped"]
        return ", ".join(parts) + (f" (format: {self.format})" if self.format else "")


@dataclass
class ImportEvent:
    """One protocol line of the import subprocess (DESIGN §6), or a non-JSON line (kind 'text')."""

    kind: str
    data: dict


def parse_event(line: str) -> ImportEvent | None:
    """Parse one stdout line; blank lines give None, anything that is not an event gives 'text'."""
    item = parse_line(line)
    if item is None:
        return None
    if isinstance(item, Noise):
        return ImportEvent("text", {"message": item.text})
    return ImportEvent(item.name, item.data)


def progress_text(step: int, total: int, eta_s: float | None) -> str:
    eta = f" — about {int(eta_s) // 60}:{int(eta_s) % 60:02d} left" if eta_s else ""
    return f"{step:,} of {total:,} files{eta}"


def failure_text(data: dict) -> str:
    hint = data.get("hint")
    return str(data.get("error") or "the import failed") + (f"\n{hint}" if hint else "")
