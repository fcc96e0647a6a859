"""`studio split ...`: create/preview/list/show/delete, JSON output, one-line errors."""

from __future__ import annotations

import hashlib
import json

import pytest

from studio_desktop.cli import main
from studio_desktop.core.datasets import DatasetStore
from studio_desktop.core.projects import ProjectService
from studio_desktop.core.schemas import Dataset, ImageRecord
from studio_desktop.core.store import atomic_write_json
from studio_desktop.core.workspace import Workspace


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def ws(tmp_path):
    """A workspace with project 'cells': 30 classified images (20 of class a, 10 of class b)."""
    root = tmp_path / "W"
    with Workspace.open(root) as w:
        p = ProjectService(w).create("cells", "classification", classes=["a", "b"])
        images = []
        for i in range(30):
            sha = hashlib.sha256(str(i).encode()).hexdigest()
            images.append(ImageRecord(id=sha[:12], file=f"images/{i}.png", width=32, height=32, sha256=sha,
                                      label=0 if i < 20 else 1))
        DatasetStore(w, p.id).save(Dataset(images=images))
    return str(root)


def test_preview_saves_nothing(ws, capsys):
    code, out, err = run(capsys, "--workspace", ws, "split", "create", "cells", "--preview", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["preview"] is True and data["image_count"] == 30
    assert {s: v["images"] for s, v in data["stats"].items()} == {"train": 24, "val": 3, "test": 3}
    assert data["stats"]["train"]["classes"] == {"0": 16, "1": 8}
    code, out, _ = run(capsys, "--workspace", ws, "split", "list", "cells", "--json")
    assert json.loads(out)["splits"] == []
    code, out, _ = run(capsys, "--workspace", ws, "split", "create", "cells", "--preview")
    assert code == 0 and "preview (not saved)" in out and "a " in out


def test_create_list_show_delete(ws, capsys):
    code, out, err = run(capsys, "--workspace", ws, "split", "create", "cells", "--name", "main",
                         "--ratios", "0.7", "0.3", "--seed", "4", "--json")
    assert code == 0, err
    sid = json.loads(out)["id"]
    code, out, _ = run(capsys, "--workspace", ws, "split", "list", "cells", "--json")
    rows = json.loads(out)["splits"]
    assert [(r["id"], r["name"], r["images"]) for r in rows] == [(sid, "main", {"train": 21, "val": 9})]
    assert rows[0]["not_in_split"] == 0 and rows[0]["experiments"] == []
    code, out, _ = run(capsys, "--workspace", ws, "split", "show", "cells", "MAIN", "--json")
    shown = json.loads(out)
    assert shown["seed"] == 4 and len(shown["assignments"]) == 30
    assert set(shown["assignments"].values()) == {"train", "val"}
    code, out, _ = run(capsys, "--workspace", ws, "split", "show", "cells", sid)
    assert code == 0 and "split 'main'" in out and "0 image(s) not in split" in out
    code, _, err = run(capsys, "--workspace", ws, "split", "create", "cells", "--name", "main")
    assert code == 1 and "already exists" in err
    code, _, err = run(capsys, "--workspace", ws, "split", "delete", "cells", "main")
    assert code == 1 and "--yes" in err
    code, out, _ = run(capsys, "--workspace", ws, "split", "delete", "cells", "main", "--yes", "--json")
    assert code == 0 and json.loads(out) == {"deleted": sid, "name": "main"}


def test_delete_refused_when_experiment_uses_it(ws, capsys, tmp_path):
    code, out, _ = run(capsys, "--workspace", ws, "split", "create", "cells", "--json")
    sid = json.loads(out)["id"]
    with Workspace.open(ws) as w:
        pid = ProjectService(w).get("cells").id
        atomic_write_json(w.project_dir(pid) / "experiments" / "x1" / "experiment.json",
                          {"name": "run 1", "config": {"split_id": sid}})
    code, _, err = run(capsys, "--workspace", ws, "split", "delete", "cells", sid, "--yes")
    assert code == 1 and "used by experiment(s) run 1" in err
    code, out, _ = run(capsys, "--workspace", ws, "split", "list", "cells", "--json")
    assert json.loads(out)["splits"][0]["experiments"] == ["x1"]


@pytest.mark.parametrize("argv,needle", [
    (["split", "create", "cells", "--ratios", "0.5", "0.2"], "sum to 1"),
    (["split", "create", "cells", "--ratios", "0.9", "0.1", "0"], "two ratios"),
    (["split", "create", "ghost"], "no project named"),
    (["split", "show", "cells", "nope"], "no split named"),
])
def test_errors_are_one_line(ws, capsys, argv, needle):
    code, out, err = run(capsys, "--workspace", ws, *argv)
    assert code == 1
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err
