"""The weights store without torch and without network: where files are, their states, which
file a run uses, mirrors, where an import goes, deleting."""

from __future__ import annotations

import dataclasses
import hashlib
import sys

import pytest

from studio_desktop.core import weights_catalog
from studio_desktop.core.errors import InvalidInput
from studio_desktop.core.weights import (
    MIRROR_ENV,
    cache_dir,
    cached_path,
    catalog_models,
    delete_weights,
    download_url,
    effective_mirror,
    file_state,
    import_destination,
    model_weights,
    normalise_mirror,
    read_index,
    save_mirror,
    weights_for_training,
    weights_ready,
)
from studio_desktop.core.weights_catalog import default_weights, find_by_file_name, find_by_sha256, weights_of

DATA = b"pretend these are weights " * 1000
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture(autouse=True)
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    return tmp_path / "torch" / "hub" / "checkpoints"


@pytest.fixture
def fake(monkeypatch):
    """resnet18's entry rewritten to describe DATA (its file name carries DATA's sha256)."""
    real = default_weights("resnet18")
    entry = dataclasses.replace(real, url=f"https://example.org/models/resnet18-{SHA[:8]}.pth",
                                size_mib=len(DATA) / 2**20)
    monkeypatch.setitem(weights_catalog.WEIGHTS, "resnet18", (entry,))
    return entry


def put(path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_the_cache_is_torch_hubs_checkpoints_folder(tmp_path, monkeypatch, torch_home):
    assert cache_dir() == torch_home
    monkeypatch.delenv("TORCH_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "torch" / "hub" / "checkpoints"
    assert cached_path(default_weights("resnet18")).name == "resnet18-f37072fd.pth"


def test_catalog_entries_describe_their_files():
    w = default_weights("resnet18")
    assert (w.file_name, w.sha256_prefix, w.host) == ("resnet18-f37072fd.pth", "f37072fd", "download.pytorch.org")
    assert abs(w.approx_bytes - 46_830_571) < 600  # the real file's size, within torchvision's rounding
    assert default_weights("resnet50").name == "IMAGENET1K_V2" and len(weights_of("resnet50")) == 2
    assert find_by_file_name("resnet50-0676ba61.pth").name == "IMAGENET1K_V1"
    assert find_by_sha256("f37072fd" + "0" * 56).model == "resnet18"
    assert find_by_sha256("") is None and find_by_sha256("0" * 64) is None
    assert "ImageNet-1k" in w.licence and "BSD-3-Clause" in w.licence and "timm" in default_weights("efficientnet_b0").licence
    assert w.preprocessing() == {"resize_size": 256, "crop_size": 224, "interpolation": "bilinear",
                                 "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def test_states_missing_ready_corrupt(fake, torch_home):
    assert file_state(fake) == "missing" and model_weights("resnet18").state == "missing"
    assert not weights_ready("resnet18")
    put(torch_home / fake.file_name, DATA[:-1000])  # truncated: wrong size, seen without reading it
    assert file_state(fake) == "corrupt" and model_weights("resnet18").state == "corrupt"
    put(torch_home / fake.file_name, bytes(len(DATA)))  # right size, other bytes: seen by the checksum
    assert file_state(fake) == "ready"
    assert file_state(fake, verify=True) == "corrupt"
    assert file_state(fake) == "corrupt"  # the checksum is remembered for this content
    put(torch_home / fake.file_name, DATA)
    assert file_state(fake, verify=True) == "ready" and weights_ready("resnet18")
    status = model_weights("resnet18")
    assert status.state == "ready" and status.in_use.weights == fake
    assert status.in_use.origin.endswith("(found in the torch cache)")


def test_models_without_weights_say_why():
    status = model_weights("tiny_cnn")
    assert status.state == "none" and not status.available and "from scratch" in status.reason
    assert "tiny_cnn" in catalog_models() and "resnet18" in catalog_models()
    assert "fasterrcnn_resnet50_fpn_v2" in catalog_models()  # detection trains: its catalog is listed too


def test_which_file_a_run_starts_from(fake, torch_home, tmp_path):
    assert weights_for_training("resnet18") is None
    official = put(torch_home / fake.file_name, DATA)
    chosen = weights_for_training("resnet18")
    assert chosen.path == official and chosen.sha256 == SHA and chosen.weights == fake
    record = chosen.record()
    assert record["name"] == fake.name and record["preprocessing"]["crop_size"] == 224
    assert not record["preprocessing_assumed"]
    # a file imported for the model is the user's choice: it wins
    imported = put(torch_home / f"resnet18-imported-{'a' * 8}.pth", b"mine")
    assert weights_for_training("resnet18").path == imported
    # the Weights file setting wins over everything
    own = put(tmp_path / "own.pth", b"own weights")
    chosen = weights_for_training("resnet18", str(own))
    assert chosen.path == own and chosen.chosen_file and chosen.record()["preprocessing_assumed"]
    with pytest.raises(InvalidInput, match="weights file not found"):
        weights_for_training("resnet18", str(tmp_path / "nope.pth"))


def test_a_damaged_official_file_is_refused_with_the_way_out(fake, torch_home):
    put(torch_home / fake.file_name, bytes(len(DATA)))
    with pytest.raises(InvalidInput) as err:
        weights_for_training("resnet18")
    assert "damaged" in err.value.message and err.value.path == torch_home / fake.file_name
    assert "studio weights download resnet18" in err.value.hint


def test_mirror_setting_and_precedence(tmp_path, monkeypatch, fake):
    ws = tmp_path / "ws"
    ws.mkdir()
    assert effective_mirror(ws) == ("", "")
    save_mirror(ws, "https://mirror.corp.example/weights/")
    assert effective_mirror(ws) == ("https://mirror.corp.example/weights", "setting")
    monkeypatch.setenv(MIRROR_ENV, "http://env.example/w")
    assert effective_mirror(ws) == ("http://env.example/w", MIRROR_ENV)
    assert effective_mirror(ws, "http://cli.example") == ("http://cli.example", "--mirror")
    assert download_url(fake, "http://env.example/w") == f"http://env.example/w/{fake.file_name}"
    assert download_url(fake) == fake.url
    folder = tmp_path / "share"
    assert normalise_mirror(str(folder)) == folder.as_uri()
    with pytest.raises(InvalidInput, match="neither an address"):
        normalise_mirror("weights/here")
    save_mirror(ws, "")
    monkeypatch.delenv(MIRROR_ENV)
    assert effective_mirror(ws) == ("", "")


def test_where_an_imported_file_goes(fake, torch_home):
    assert import_destination("resnet18", SHA, ".pth") == (torch_home / fake.file_name, fake)
    other = hashlib.sha256(b"x").hexdigest()
    assert import_destination("resnet18", other, ".SafeTensors")[0] == \
        torch_home / f"resnet18-imported-{other[:8]}.safetensors"
    with pytest.raises(InvalidInput, match="official file of resnet34"):
        import_destination("resnet18", default_weights("resnet34").sha256_prefix + "0" * 56, ".pth")


def test_delete_removes_every_cached_file_of_the_model(fake, torch_home):
    from studio_desktop.core.weights import _note_source

    official = put(torch_home / fake.file_name, DATA)
    imported = put(torch_home / "resnet18-imported-12345678.pth", b"mine")
    other = put(torch_home / "resnet34-b627a593.pth", b"other model")
    _note_source(official, origin="https://example.org")
    assert fake.file_name in read_index()
    assert sorted(delete_weights("resnet18")) == sorted([official, imported])
    assert not official.exists() and not imported.exists() and other.exists()
    assert fake.file_name not in read_index()
    assert model_weights("resnet18").state == "missing"


def test_the_store_imports_neither_torch_nor_qt():
    import subprocess

    code = ("import sys; import studio_desktop.core.weights, studio_desktop.core.download, "
            "studio_desktop.cli.weights; print(any(m in sys.modules for m in ('torch', 'PySide6')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
