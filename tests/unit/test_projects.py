"""Projects: create, list, rename, delete, unicode names, duplicates, corrupt files."""

from __future__ import annotations

import pytest

from studio_desktop.core.errors import InvalidInput, NotFound
from studio_desktop.core.projects import ProjectService
from studio_desktop.core.schemas import Project
from studio_desktop.core.store import read_model
from studio_desktop.tasks import TASKS


def test_create_and_list(workspace):
    svc = ProjectService(workspace)
    a = svc.create("Zebra", "classification", classes=["cat", "dog"])
    b = svc.create("apples", "object_detection")
    assert [p.name for p in svc.list()] == ["apples", "Zebra"]  # case-insensitive sort
    assert [c.name for c in a.classes] == ["cat", "dog"]
    assert a.classes[0].color != a.classes[1].color
    stored = read_model(workspace.project_dir(b.id) / "project.json", Project)
    assert stored.task == "object_detection" and stored.schema_version == 1


def test_unicode_and_spaces(workspace):
    svc = ProjectService(workspace)
    p = svc.create("  Défauts de soudure — ligne 3 ✓ 日本  ", "anomaly_detection")
    assert p.name == "Défauts de soudure — ligne 3 ✓ 日本"
    assert svc.get("défauts de soudure — ligne 3 ✓ 日本").id == p.id


@pytest.mark.parametrize("bad,reason", [("", "empty"), ("   ", "empty"), ("a" * 101, "at most"),
                                        ("tab\there", "control")])
def test_bad_names(workspace, bad, reason):
    with pytest.raises(InvalidInput, match=reason):
        ProjectService(workspace).create(bad, "classification")


def test_duplicate_names_refused(workspace):
    svc = ProjectService(workspace)
    svc.create("Demo", "classification")
    with pytest.raises(InvalidInput, match="already exists"):
        svc.create("demo", "regression")
    other = svc.create("Other", "regression")
    with pytest.raises(InvalidInput, match="already exists"):
        svc.rename(other.id, "DEMO")


def test_unknown_task(workspace):
    with pytest.raises(InvalidInput, match="unknown task 'segmentation'"):
        ProjectService(workspace).create("x", "segmentation")


def test_rename_keeps_id_and_folder(workspace):
    svc = ProjectService(workspace)
    p = svc.create("old", "regression")
    folder = workspace.project_dir(p.id)
    renamed = svc.rename("old", "new name")
    assert renamed.id == p.id and renamed.name == "new name"
    assert folder.is_dir() and svc.get(p.id).name == "new name"
    assert renamed.updated >= p.updated
    with pytest.raises(NotFound):
        svc.get("old")


def test_rename_to_same_name_different_case_is_allowed(workspace):
    svc = ProjectService(workspace)
    p = svc.create("demo", "regression")
    assert svc.rename(p.id, "Demo").name == "Demo"


def test_delete_removes_folder(workspace):
    svc = ProjectService(workspace)
    p = svc.create("bye", "classification")
    (workspace.project_dir(p.id) / "dataset").mkdir()
    svc.delete("bye")
    assert not workspace.project_dir(p.id).exists()
    assert svc.list() == []
    assert not list(workspace.projects_dir.iterdir())


def test_not_found_lists_existing(workspace):
    svc = ProjectService(workspace)
    svc.create("alpha", "classification")
    with pytest.raises(NotFound, match="existing: alpha"):
        svc.get("beta")


def test_corrupt_project_reported_others_still_work(workspace):
    svc = ProjectService(workspace)
    good = svc.create("good", "classification")
    bad = svc.create("bad", "classification")
    (workspace.project_dir(bad.id) / "project.json").write_text("{ not json", encoding="utf-8")
    invalid = svc.create("invalid", "classification")
    (workspace.project_dir(invalid.id) / "project.json").write_text(
        '{"schema_version": 1, "id": "x", "name": "", "task": "classification"}', encoding="utf-8")
    projects, problems = svc.scan()
    assert [p.project.id for p in projects] == [good.id]
    reasons = {pr.folder.name: pr.reason for pr in problems}
    assert "not valid JSON" in reasons[bad.id] and "project.json" in reasons[bad.id]
    assert "invalid field 'name'" in reasons[invalid.id]
    assert svc.get("good").id == good.id


def test_summary_counts_images_and_experiments(workspace):
    from studio_desktop.core.store import atomic_write_json

    svc = ProjectService(workspace)
    p = svc.create("counted", "classification")
    atomic_write_json(workspace.project_dir(p.id) / "dataset" / "summary.json", {"images": 42})
    (workspace.project_dir(p.id) / "experiments" / "e1").mkdir(parents=True)
    s = svc.summary("counted")
    assert (s.images, s.experiments) == (42, 1)
    assert s.as_json()["task"] == "classification"


def test_every_task_can_be_created(workspace):
    svc = ProjectService(workspace)
    for i, task in enumerate(TASKS):
        assert svc.create(f"p{i}", task).task == task
