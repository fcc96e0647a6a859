"""Atomic JSON store: crash safety, corrupt files, schema versions and migrations."""

from __future__ import annotations

import json
import os
from typing import ClassVar

import pytest

from studio_desktop.core import store
from studio_desktop.core.errors import StoreError
from studio_desktop.core.schemas import Stored


class Thing(Stored):
    KIND: ClassVar[str] = "test_thing"
    SCHEMA_VERSION: ClassVar[int] = 3
    title: str
    count: int = 0


@pytest.fixture(autouse=True)
def thing_migrations(monkeypatch):
    migrations = {
        1: lambda d: {**d, "title": d.pop("name")},  # v1 called it "name"
        2: lambda d: {**d, "count": int(d.get("count", "0"))},  # v2 stored count as text
    }
    monkeypatch.setitem(store.MIGRATIONS, "test_thing", migrations)


def test_write_then_read_roundtrip(tmp_path):
    path = tmp_path / "sub" / "thing.json"
    store.write_model(path, Thing(title="héllo ✓", count=2))
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert raw["schema_version"] == 3
    assert store.read_model(path, Thing) == Thing(title="héllo ✓", count=2)
    # no temp files left behind
    assert [p.name for p in path.parent.iterdir()] == ["thing.json"]


def test_crash_between_temp_write_and_replace_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "thing.json"
    store.write_model(path, Thing(title="old"))

    def crash(*_a, **_k):
        raise OSError("simulated power loss before rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        store.write_model(path, Thing(title="new"))
    monkeypatch.undo()
    assert store.read_model(path, Thing).title == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["thing.json"], "temp file must be cleaned up"


def test_crash_during_write_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "thing.json"
    store.atomic_write_json(path, {"a": 1})
    real_fsync = os.fsync

    def failing_fsync(fd):
        real_fsync(fd)
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError):
        store.atomic_write_json(path, {"a": 2})
    monkeypatch.undo()
    assert store.read_json(path) == {"a": 1}


def test_corrupt_json_names_file_and_position(tmp_path):
    path = tmp_path / "thing.json"
    path.write_text('{"title": "x",', encoding="utf-8")
    with pytest.raises(StoreError) as err:
        store.read_model(path, Thing)
    msg = str(err.value)
    assert str(path) in msg and "not valid JSON" in msg and "line 1" in msg


def test_invalid_field_names_the_field(tmp_path):
    path = tmp_path / "thing.json"
    store.atomic_write_json(path, {"schema_version": 3, "title": "x", "count": "many"})
    with pytest.raises(StoreError, match=r"invalid field 'count'"):
        store.read_model(path, Thing)


def test_not_an_object(tmp_path):
    path = tmp_path / "thing.json"
    store.atomic_write_json(path, [1, 2])
    with pytest.raises(StoreError, match="expected a JSON object"):
        store.read_model(path, Thing)


def test_missing_file(tmp_path):
    with pytest.raises(StoreError, match="file not found"):
        store.read_model(tmp_path / "nope.json", Thing)


def test_migrations_run_in_order(tmp_path):
    path = tmp_path / "thing.json"
    store.atomic_write_json(path, {"schema_version": 1, "name": "legacy", "count": "7"})
    thing = store.read_model(path, Thing)
    assert thing.title == "legacy" and thing.count == 7 and thing.schema_version == 3


def test_newer_schema_refused_with_hint(tmp_path):
    path = tmp_path / "thing.json"
    store.atomic_write_json(path, {"schema_version": 9, "title": "future"})
    with pytest.raises(StoreError, match="newer AI Studio") as err:
        store.read_model(path, Thing)
    assert "update" in str(err.value)


def test_missing_migration_is_reported(tmp_path, monkeypatch):
    monkeypatch.setitem(store.MIGRATIONS, "test_thing", {})
    path = tmp_path / "thing.json"
    store.atomic_write_json(path, {"schema_version": 2, "title": "x"})
    with pytest.raises(StoreError, match="no migration"):
        store.read_model(path, Thing)


def test_register_migration_decorator(monkeypatch):
    monkeypatch.setitem(store.MIGRATIONS, "other", {})

    @store.register_migration("other", 1)
    def up(d):
        return {**d, "x": 1}

    assert store.migrate("other", {"schema_version": 1}, 2) == {"schema_version": 2, "x": 1}


@pytest.mark.skipif(os.name != "posix", reason="file modes and the umask are POSIX")
@pytest.mark.parametrize("umask", [0o022, 0o027], ids=["022", "027"])
def test_written_files_honour_the_umask(tmp_path, workspace_dir, umask):
    """A workspace shared by a lab group must be readable by it: the atomic store's files get
    the same mode as any other file the process creates (tempfile.mkstemp would give 0600)."""
    from studio_desktop.core.projects import ProjectService
    from studio_desktop.core.workspace import Workspace

    old = os.umask(umask)
    try:
        expected = 0o666 & ~umask
        plain = tmp_path / "plain.txt"
        plain.write_text("x")  # what any other file gets: the reference
        assert plain.stat().st_mode & 0o777 == expected
        path = tmp_path / "thing.json"
        store.write_model(path, Thing(title="shared"))
        assert path.stat().st_mode & 0o777 == expected
        # a file written private by an older version is replaced, readable, with the usual mode
        path.chmod(0o600)
        store.write_model(path, Thing(title="again"))
        assert store.read_model(path, Thing).title == "again"
        assert path.stat().st_mode & 0o777 == expected
        ws = Workspace.open(workspace_dir)
        try:
            project = ProjectService(ws).create("Shared", "classification", ["a", "b"])
            project_json = ws.project_dir(project.id) / "project.json"
            assert project_json.stat().st_mode & 0o777 == expected
        finally:
            ws.close()
    finally:
        os.umask(old)
