"""The task registry is complete and self-consistent; it imports without torch or Qt."""

from __future__ import annotations

import subprocess
import sys

from studio_desktop.core.schemas import ImageRecord
from studio_desktop.tasks import TASKS, get_task

EXPECTED = {"classification", "object_detection", "semantic_segmentation", "instance_segmentation",
            "anomaly_detection", "regression", "oriented_object_detection"}


def test_all_seven_tasks():
    assert set(TASKS) == EXPECTED
    for tid, info in TASKS.items():
        assert info.id == tid
        assert len(info.description) > 80, f"{tid}: description should help a newcomer"
        assert info.annotation in ImageRecord.model_fields, f"{tid}: unknown annotation field"
        assert info.primary_metric in info.metrics
        assert info.import_formats and info.badge


def test_icons_exist_when_resources_are_present():
    from studio_desktop import RESOURCES

    icons = RESOURCES / "icons" / "tasks"
    if icons.is_dir():
        for info in TASKS.values():
            assert (icons / info.icon).is_file(), info.icon


def test_get_task_unknown_lists_choices():
    try:
        get_task("nope")
    except Exception as exc:  # noqa: BLE001 - the message is what we check
        assert "classification" in str(exc) and "nope" in str(exc)
    else:
        raise AssertionError("expected an error")


def test_registry_imports_without_torch_or_qt():
    code = ("import sys; import studio_desktop.tasks, studio_desktop.core.projects, studio_desktop.cli; "
            "bad = [m for m in ('torch', 'PySide6', 'torchvision') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_untrainable_tasks_say_so_in_one_line():
    from studio_desktop.tasks import TASKS, training_unavailable

    assert training_unavailable("classification") is None
    why = training_unavailable("instance_segmentation")
    assert why.startswith("training instance segmentation models is not available yet") and "classification" in why
    assert all((training_unavailable(t) is None) == info.trainable for t, info in TASKS.items())
