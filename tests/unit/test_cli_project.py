"""`studio project ...`: JSON output, one-line errors, non-zero exits (in-process and as a real command)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from studio_desktop.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_create_list_rename_delete(tmp_path, capsys):
    ws = str(tmp_path / "W")
    code, out, _ = run(capsys, "--workspace", ws, "project", "create", "demo", "--task", "classification")
    assert code == 0 and "created project 'demo'" in out
    code, out, _ = run(capsys, "--workspace", ws, "project", "list", "--json")
    data = json.loads(out)
    assert [p["name"] for p in data["projects"]] == ["demo"]
    pid = data["projects"][0]["id"]
    code, out, _ = run(capsys, "--workspace", ws, "project", "rename", "demo", "Démo 2", "--json")
    assert code == 0 and json.loads(out)["id"] == pid
    code, _, err = run(capsys, "--workspace", ws, "project", "delete", pid)
    assert code != 0 and "--yes" in err
    code, out, _ = run(capsys, "--workspace", ws, "project", "delete", "Démo 2", "--yes", "--json")
    assert code == 0 and json.loads(out) == {"deleted": pid, "name": "Démo 2"}
    code, out, _ = run(capsys, "--workspace", ws, "project", "list", "--json")
    assert json.loads(out)["projects"] == []


@pytest.mark.parametrize("argv,needle", [
    (["project", "create", "", "--task", "classification"], "must not be empty"),
    (["project", "rename", "ghost", "x"], "no project named"),
    (["project", "delete", "ghost", "--yes"], "no project named"),
])
def test_errors_are_one_line(tmp_path, capsys, argv, needle):
    code, out, err = run(capsys, "--workspace", str(tmp_path / "W"), *argv)
    assert code == 1
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err


def test_duplicate_refused(tmp_path, capsys):
    ws = str(tmp_path / "W")
    run(capsys, "--workspace", ws, "project", "create", "a", "--task", "regression")
    code, _, err = run(capsys, "--workspace", ws, "project", "create", "A", "--task", "regression")
    assert code == 1 and "already exists" in err


def test_bad_task_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--workspace", str(tmp_path), "project", "create", "x", "--task", "nonsense"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_list_reports_corrupt_project_without_failing(tmp_path, capsys):
    ws = tmp_path / "W"
    run(capsys, "--workspace", str(ws), "project", "create", "ok", "--task", "regression")
    broken = ws / "projects" / "deadbeef"
    broken.mkdir()
    (broken / "project.json").write_text("garbage", encoding="utf-8")
    code, out, err = run(capsys, "--workspace", str(ws), "project", "list", "--json")
    data = json.loads(out)
    assert code == 0 and [p["name"] for p in data["projects"]] == ["ok"]
    assert "deadbeef" in data["problems"][0]["folder"] and "not valid JSON" in err


def test_env_var_selects_workspace(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("STUDIO_WORKSPACE", str(tmp_path / "E"))
    run(capsys, "project", "create", "via env", "--task", "regression")
    assert (tmp_path / "E" / "workspace.json").exists()


def test_real_command_line(tmp_path):
    """The documented flow, as a user types it: create then list --json."""
    ws = str(tmp_path / "W")
    subprocess.run([sys.executable, "-m", "studio_desktop", "--workspace", ws, "project", "create", "demo",
                    "--task", "classification"], check=True, capture_output=True)
    out = subprocess.run([sys.executable, "-m", "studio_desktop", "--workspace", ws, "project", "list",
                          "--json"], check=True, capture_output=True, text=True).stdout
    assert json.loads(out)["projects"][0]["name"] == "demo"
    bad = subprocess.run([sys.executable, "-m", "studio_desktop", "--workspace", ws, "project", "create",
                          "demo", "--task", "classification"], capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.strip() == "error: a project named 'demo' already exists"
