"""`studio weights`: list, download (in the foreground, from a local server), delete, mirror."""

from __future__ import annotations

import json
import os

import pytest
from weights_server import WeightsServer, closed_port, serve_entry

from studio_desktop.cli import main
from studio_desktop.core.weights import MIRROR_ENV, cache_dir

BLOB = os.urandom(2 * 1024 * 1024)


@pytest.fixture(autouse=True)
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("STUDIO_WORKSPACE", str(tmp_path / "ws"))
    for var in ("http_proxy", "HTTP_PROXY", MIRROR_ENV):
        monkeypatch.delenv(var, raising=False)


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_json_gives_every_model_with_its_state(capsys):
    code, out, _ = run(capsys, "weights", "list", "--json")
    assert code == 0
    rows = {r["model"]: r for r in json.loads(out)}
    assert rows["tiny_cnn"]["state"] == "none" and rows["tiny_cnn"]["weights"] is None
    r18 = rows["resnet18"]
    assert r18["state"] == "missing" and r18["official_file"] == "resnet18-f37072fd.pth"
    assert r18["sha256_prefix"] == "f37072fd" and r18["preprocessing"]["crop_size"] == 224
    assert "ImageNet-1k" in r18["licence"] and r18["url"].startswith("https://download.pytorch.org/")
    code, out, _ = run(capsys, "weights", "list")
    assert code == 0 and "resnet18" in out and "not downloaded" in out and "46.8 MB" in out


def test_download_in_the_foreground_then_list_and_delete(capsys, monkeypatch):
    with WeightsServer() as server:
        entry = serve_entry(server, monkeypatch, "resnet18", BLOB)
        code, out, err = run(capsys, "weights", "download", "resnet18", "--json")
    assert code == 0, err
    assert "checksum verified" in err and "resnet18" in err
    assert json.loads(out)[0]["path"] == str(cache_dir() / entry.file_name)
    assert (cache_dir() / entry.file_name).read_bytes() == BLOB
    code, out, _ = run(capsys, "weights", "list", "--json")
    assert {r["model"]: r["state"] for r in json.loads(out)}["resnet18"] == "ready"
    code, _, err = run(capsys, "weights", "download", "resnet18")  # nothing to do
    assert code == 0 and "already downloaded" in err
    code, out, _ = run(capsys, "weights", "delete", "resnet18")
    assert code == 0 and "deleted" in out and not (cache_dir() / entry.file_name).exists()


def test_download_offline_fails_fast_with_one_line(capsys, monkeypatch):
    with WeightsServer() as server:
        serve_entry(server, monkeypatch, "resnet18", BLOB, url_base=f"http://127.0.0.1:{closed_port()}")
    code, _, err = run(capsys, "weights", "download", "resnet18")
    assert code == 1
    assert err.strip().splitlines()[-1].startswith(
        "error: no connection to 127.0.0.1: download on another computer and import the file")
    code, _, err = run(capsys, "weights", "download", "tiny_cnn")
    assert code == 1 and "without pretrained weights" in err
    code, _, err = run(capsys, "weights", "download", "resnet1800")
    assert code == 1 and "not a model of the catalog" in err


def test_download_through_a_mirror(capsys, monkeypatch):
    with WeightsServer() as server:
        entry = serve_entry(server, monkeypatch, "resnet18", BLOB, url_base=f"http://127.0.0.1:{closed_port()}")
        code, _, err = run(capsys, "weights", "download", "resnet18", "--mirror", server.base)
        assert code == 0, err
        assert server.requests == [f"/{entry.file_name}"] and f"from the mirror {server.base}" in err


def test_mirror_command_sets_shows_and_clears(capsys, monkeypatch):
    code, out, _ = run(capsys, "weights", "mirror")
    assert code == 0 and out.startswith("no mirror")
    code, out, _ = run(capsys, "weights", "mirror", "https://mirror.example/w/")
    assert code == 0 and "https://mirror.example/w" in out
    code, out, _ = run(capsys, "weights", "mirror")
    assert out.strip() == "https://mirror.example/w (setting)"
    monkeypatch.setenv(MIRROR_ENV, "http://env.example")
    code, out, _ = run(capsys, "weights", "mirror")
    assert f"http://env.example ({MIRROR_ENV})" in out and "overridden" in out
    code, _, err = run(capsys, "weights", "mirror", "relative/folder")
    assert code == 1 and "neither an address" in err
    code, out, _ = run(capsys, "weights", "mirror", "--clear")
    assert code == 0 and out.strip() == "weights mirror: none"
