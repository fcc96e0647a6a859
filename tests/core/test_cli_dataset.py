"""``studio dataset import|stats|list|delete`` and ``studio sample`` through the real CLI entry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio_desktop.cli import main


@pytest.fixture
def studio(workspace_dir: Path, capsys):
    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        rc = main(["--workspace", str(workspace_dir), *args])
        out = capsys.readouterr()
        return rc, out.out, out.err

    return run


def test_sample_import_stats_list_delete(studio, tmp_path: Path):
    rc, out, _ = studio("sample", "--task", "classification", str(tmp_path / "s"), "--images", "6", "--seed", "1")
    assert rc == 0 and "6 files" in out
    assert studio("project", "create", "Shapes", "--task", "classification")[0] == 0
    rc, out, err = studio("dataset", "import", "Shapes", str(tmp_path / "s"), "--json")
    assert rc == 0, err
    report = json.loads(out)
    assert report["imported"] == 6 and report["format"] == "folder" and "class" in report["detected_because"]
    rc, out, _ = studio("dataset", "stats", "Shapes", "--json")
    assert json.loads(out)["images_per_class"] == {"circle": 2, "square": 2, "triangle": 2}
    rc, out, _ = studio("dataset", "stats", "Shapes")
    assert "images per class" in out and "circle" in out
    rc, out, _ = studio("dataset", "list", "Shapes", "--json")
    images = json.loads(out)["images"]
    assert len(images) == 6
    rc, out, _ = studio("dataset", "list", "Shapes")
    assert len(out.strip().splitlines()) == 6
    rc, _, err = studio("dataset", "delete", "Shapes", images[0]["id"])
    assert rc == 1 and "--yes" in err
    rc, out, _ = studio("dataset", "delete", "Shapes", images[0]["id"], "--yes")
    assert rc == 0 and "removed 1" in out
    rc, out, _ = studio("dataset", "import", "Shapes", str(tmp_path / "s"))
    assert rc == 0 and "imported 1 images" in out and "5 duplicates" in out


def test_import_events_protocol(studio, tmp_path: Path):
    studio("sample", "--task", "regression", str(tmp_path / "s"), "--images", "4")
    studio("project", "create", "R", "--task", "regression")
    rc, out, _ = studio("dataset", "import", "R", str(tmp_path / "s"), "--events")
    assert rc == 0
    events = [json.loads(line) for line in out.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "started" and kinds[-1] == "completed" and "progress" in kinds
    assert all("time" in e for e in events)
    last_progress = [e for e in events if e["event"] == "progress"][-1]
    assert last_progress["step"] == last_progress["total"] == 4 and "eta_s" in last_progress
    assert events[-1]["report"]["imported"] == 4 and events[-1]["report"]["targets_added"] == ["radius", "brightness"]


def test_import_failures_are_one_line(studio, tmp_path: Path):
    studio("project", "create", "P", "--task", "regression")
    rc, out, err = studio("dataset", "import", "P", str(tmp_path / "missing"), "--events")
    assert rc == 1 and err.count("\n") == 1 and "does not exist" in err
    failed = json.loads(out.splitlines()[-1])
    assert failed["event"] == "failed" and "does not exist" in failed["error"]
    (tmp_path / "empty").mkdir()
    rc, _, err = studio("dataset", "import", "P", str(tmp_path / "empty"))
    assert rc == 1 and "no known format" in err and err.startswith("error: ")
    rc, _, err = studio("dataset", "import", "P", str(tmp_path / "empty"), "--format", "mvtec")
    assert rc == 1 and "cannot feed a regression project" in err
    rc, _, err = studio("dataset", "stats", "nope")
    assert rc == 1 and "no project named" in err
    rc, _, err = studio("sample", "--task", "regression", str(tmp_path / "x"), "--images", "0")
    assert rc == 1 and "between 1 and" in err


@pytest.mark.parametrize(("task", "name", "text", "kind", "where"), [
    ("object_detection", "annotations.json", '{"images": [', "JSON", "line 1, column 13"),
    ("object_detection", "data.yaml", "names: [cat, dog\ntrain: images/train\n", "YAML", "line 2, column 6"),
    ("object_detection", "data.yaml", "path: .\ntrain: [images\n", "YAML", "line 3, column 1"),
    ("object_detection", "a.xml", "<annotation><object><name>cat</name>", "XML", "line 1, column 37"),
    ("object_detection", "b.xml", '<?xml version="1.0"?>\n<annotati', "XML", "line 2, column 1"),
    ("classification", "labels.json", '{"shapes": [}', "JSON", "line 1, column 13"),
], ids=["truncated-coco", "yolo-yaml", "yaml-without-names", "voc-xml", "xml-before-root", "labelme"])
def test_a_broken_file_named_directly_says_where_it_breaks(studio, tmp_path: Path, task, name, text, kind, where):
    """Not "no known format recognised": the file is not valid JSON/YAML/XML, at this line and column."""
    studio("project", "create", "P", "--task", task)
    broken = tmp_path / name
    broken.write_text(text, encoding="utf-8")
    rc, _, err = studio("dataset", "import", "P", str(broken))
    assert rc == 1 and err.count("\n") == 1, err
    assert f"{broken}: not valid {kind} ({where}:" in err
    assert "no known format" not in err


def test_an_import_that_imports_nothing_exits_non_zero_with_its_report(studio, tmp_path: Path):
    """A script must be able to tell: every file skipped is a failure (report still printed);
    a re-import where everything is already there (duplicates only) is not."""
    src = tmp_path / "pets"
    for cls in ("cat", "dog"):
        (src / cls).mkdir(parents=True)
        (src / cls / f"{cls}.jpg").write_bytes(f"not a picture of a {cls}".encode())
    studio("project", "create", "Pets", "--task", "classification")
    rc, out, err = studio("dataset", "import", "Pets", str(src))
    assert rc == 1
    assert "imported 0 images" in out and "2 skipped" in out and "cat/cat.jpg" in out
    last = err.strip().splitlines()[-1]  # after the progress bar
    assert last.startswith("error: ") and "nothing was imported" in last and "2 images were skipped" in last
    rc, out, err = studio("dataset", "import", "Pets", str(src), "--json")
    assert rc == 1 and json.loads(out)["imported"] == 0 and json.loads(out)["nothing_imported"] is True
    rc, out, _ = studio("dataset", "import", "Pets", str(src), "--events")
    events = [json.loads(line) for line in out.splitlines()]
    assert rc == 1 and events[-1]["event"] == "completed" and events[-1]["report"]["nothing_imported"]
    assert not _listed_images(studio, "Pets")
    rc, out, _ = studio("project", "list", "--json")
    assert rc == 0 and json.loads(out)["projects"][0]["classes"] == 0, "a failed import changes nothing"
    studio("sample", "--task", "classification", str(tmp_path / "s"), "--images", "3")
    assert studio("dataset", "import", "Pets", str(tmp_path / "s"))[0] == 0
    rc, out, err = studio("dataset", "import", "Pets", str(tmp_path / "s"))  # all duplicates
    assert rc == 0 and "imported 0 images" in out and "3 duplicates" in out, err


def _listed_images(studio, project: str) -> list:
    rc, out, _ = studio("dataset", "list", project, "--json")
    assert rc == 0
    return json.loads(out)["images"]


def test_import_of_a_csv_file_path(studio, tmp_path: Path):
    studio("sample", "--task", "regression", str(tmp_path / "s"), "--images", "3")
    studio("project", "create", "R", "--task", "regression")
    rc, out, err = studio("dataset", "import", "R", str(tmp_path / "s" / "labels.csv"), "--json")
    assert rc == 0, err
    assert json.loads(out)["imported"] == 3 and json.loads(out)["format"] == "csv"


@pytest.mark.slow
def test_terminated_import_leaves_the_dataset_unchanged(workspace_dir: Path, tmp_path: Path):
    """The Dataset page cancels by terminating the subprocess: nothing may change."""
    import signal
    import subprocess
    import sys

    from studio_desktop.core.samples import write_sample

    src = write_sample("classification", tmp_path / "s", images=400)
    assert main(["--workspace", str(workspace_dir), "project", "create", "P", "--task", "classification"]) == 0
    proc = subprocess.Popen([sys.executable, "-m", "studio_desktop", "--workspace", str(workspace_dir), "dataset",
                             "import", "P", str(src), "--events"], stdout=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            event = json.loads(line)
            if event["event"] == "progress" and event["step"] > 0:
                assert event["step"] < event["total"], "import finished before it could be cancelled"
                proc.send_signal(signal.SIGTERM)
                break
        rest = proc.stdout.read()
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc != 0
    assert '"stopped"' in rest
    dataset = next((workspace_dir / "projects").iterdir()) / "dataset"
    assert not (dataset / "dataset.json").exists()
    assert not list(dataset.glob(".staging-*"))
    assert not (dataset / "images").exists() or not any((dataset / "images").iterdir())
