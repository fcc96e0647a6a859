"""The weights table against torchvision, importing weights files, and a training run that
starts from downloaded weights and records where they came from."""

from __future__ import annotations

import io
import json
import pickle

import pytest
import torch
from ml_helpers import tiny_config
from weights_data import state_dict_bytes
from weights_server import WeightsServer, serve_entry

from studio_desktop.core.errors import InvalidInput
from studio_desktop.core.experiments import ExperimentService
from studio_desktop.core.train_config import MODEL_CATALOG
from studio_desktop.core.weights import cache_dir, download_weights, model_weights, weights_for_training
from studio_desktop.core.weights_catalog import IMAGENET_MEAN, IMAGENET_STD, WEIGHTS, weights_of
from studio_desktop.ml.models.weights import check_weights_file, import_weights, read_weights_file

pytestmark = pytest.mark.ml
MODEL = "mobilenet_v3_small"


@pytest.fixture(autouse=True)
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for var in ("http_proxy", "HTTP_PROXY", "STUDIO_WEIGHTS_MIRROR"):
        monkeypatch.delenv(var, raising=False)


# --------------------------------------------------------------------------- the table


def test_weights_table_matches_torchvision():
    """url, file name and its hash, parameter count, file size and preprocessing of every entry
    are torchvision's own: the table cannot drift from the library."""
    from torchvision.models import get_model_weights

    for model, entries in WEIGHTS.items():
        enum = get_model_weights(model)
        assert entries[0].default and entries[0].name == enum.DEFAULT.name, model
        for w in entries:
            tv = enum[w.name]
            t = tv.transforms()
            assert w.url == tv.url and w.file_name == tv.url.rsplit("/", 1)[-1]
            assert len(w.sha256_prefix) >= 8 and w.file_name.endswith(f"-{w.sha256_prefix}.pth")
            assert w.num_params == tv.meta["num_params"]
            assert w.size_mib == tv.meta["_file_size"]
            if "COCO-val2017" in tv.meta["_metrics"]:  # a detector: no classification preprocessing
                assert f"{tv.meta['_metrics']['COCO-val2017']['box_map']:.1f} box mAP" in w.title
                continue
            assert [w.crop_size] == list(t.crop_size) and [w.resize_size] == list(t.resize_size)
            assert list(w.mean) == list(t.mean) and list(w.std) == list(t.std)
            assert w.interpolation == t.interpolation.value
            assert f"{tv.meta['_metrics']['ImageNet-1K']['acc@1']:.1f} %" in w.title


def test_every_trainable_catalog_model_has_weights_or_a_reason():
    from studio_desktop.core.weights import catalog_models
    from studio_desktop.core.weights_catalog import NO_WEIGHTS_REASON

    for model in catalog_models():
        assert weights_of(model) or model in NO_WEIGHTS_REASON, model


def test_preprocessing_of_the_weights_is_what_the_pipeline_applies():
    """Every entry's normalisation is the pipeline's (ml/augment.py), and the model's default
    input size (what the form sets on picking it) is the size its weights were trained at."""
    from studio_desktop.ml.augment import IMAGENET_MEAN as PIPE_MEAN
    from studio_desktop.ml.augment import IMAGENET_STD as PIPE_STD

    assert (tuple(PIPE_MEAN), tuple(PIPE_STD)) == (IMAGENET_MEAN, IMAGENET_STD)
    infos = {m.name: m for m in MODEL_CATALOG["classification"]}
    for model, entries in WEIGHTS.items():
        assert all(w.mean == IMAGENET_MEAN and w.std == IMAGENET_STD for w in entries)
        if model in infos:  # (detectors take the input size the project's images need)
            assert infos[model].default_input_size == entries[0].crop_size, model


# --------------------------------------------------------------------------- import


def write(path, data: bytes):
    path.write_bytes(data)
    return path


def test_import_a_good_file(tmp_path):
    src = write(tmp_path / "my weights.pth", state_dict_bytes(MODEL))
    result = import_weights(MODEL, src)
    dest = cache_dir() / f"{MODEL}-imported-{result['sha256'][:8]}.pth"
    assert result["path"] == str(dest) and dest.read_bytes() == src.read_bytes() and src.exists()
    assert result["official"] is None and not result["head_differs"]
    status = model_weights(MODEL)
    assert status.state == "ready" and status.in_use.path == dest and status.in_use.weights is None
    assert "imported from" in status.in_use.origin and "my weights.pth" in status.in_use.origin
    chosen = weights_for_training(MODEL)
    assert chosen.path == dest and chosen.record()["preprocessing_assumed"]


def test_import_of_the_official_file_takes_its_official_name(tmp_path, monkeypatch):
    data = state_dict_bytes(MODEL)
    with WeightsServer() as server:
        entry = serve_entry(server, monkeypatch, MODEL, data)
    result = import_weights(MODEL, write(tmp_path / "downloaded elsewhere.pth", data))
    assert result["path"] == str(cache_dir() / entry.file_name) and result["official"] == entry.name
    assert model_weights(MODEL, verify=True).in_use.weights == entry


def test_a_file_fine_tuned_for_other_classes_still_fits(tmp_path):
    src = write(tmp_path / "five_classes.pth", state_dict_bytes(MODEL, num_classes=5))
    result = import_weights(MODEL, src)
    assert result["head_differs"]


def test_a_file_for_another_architecture_names_it(tmp_path):
    src = write(tmp_path / "r18.pth", state_dict_bytes("resnet18"))
    with pytest.raises(InvalidInput) as err:
        import_weights(MODEL, src)
    assert err.value.message.startswith("these weights are for resnet18, not mobilenet_v3_small")
    assert err.value.path == src and "import it for resnet18" in err.value.hint
    assert not cache_dir().exists() or list(cache_dir().iterdir()) == []


def test_a_deeper_resnet_is_not_mistaken_for_a_shallower_one(tmp_path):
    """resnet34 holds every tensor name of resnet18 with the same shapes (and more)."""
    src = write(tmp_path / "r34.pth", state_dict_bytes("resnet34"))
    with pytest.raises(InvalidInput, match="these weights are for resnet34, not resnet18"):
        check_weights_file(src, "resnet18")


def test_pickles_that_are_not_state_dicts_are_refused_safely(tmp_path):
    import torchvision.models as tvm

    whole = tmp_path / "whole_model.pth"
    torch.save(tvm.mobilenet_v3_small(), whole)  # a pickled nn.Module: would run code if unpickled
    with pytest.raises(InvalidInput) as err:
        import_weights(MODEL, whole)
    assert err.value.message.startswith("holds a pickled Python object (torchvision.models.mobilenetv3.MobileNetV3")
    assert "state_dict()" in err.value.hint
    listed = tmp_path / "list.pt"
    torch.save([torch.zeros(3)], listed)
    with pytest.raises(InvalidInput, match=r"is not a PyTorch state dict \(it holds a list\)"):
        import_weights(MODEL, listed)
    numbers = tmp_path / "numbers.pth"
    torch.save({"epoch": 3, "lr": 0.1}, numbers)
    with pytest.raises(InvalidInput, match="holds no tensors"):
        import_weights(MODEL, numbers)
    plain = write(tmp_path / "plain.pth", pickle.dumps({"epoch": 3}, protocol=4))
    with pytest.raises(InvalidInput, match="is a Python pickle that is not a PyTorch weights file"):
        import_weights(MODEL, plain)
    garbage = write(tmp_path / "garbage.pth", b"not a weights file at all")
    with pytest.raises(InvalidInput, match="cannot read the weights file"):
        import_weights(MODEL, garbage)
    with pytest.raises(InvalidInput, match=r"is not a weights file \(\.pth"):
        import_weights(MODEL, write(tmp_path / "notes.txt", b"hello"))
    assert not cache_dir().exists() or list(cache_dir().iterdir()) == []


def test_safetensors_and_wrapped_checkpoints_are_read(tmp_path):
    from safetensors.torch import save_file

    state = torch.load(io.BytesIO(state_dict_bytes(MODEL)), weights_only=True)
    save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "w.safetensors")
    assert import_weights(MODEL, tmp_path / "w.safetensors")["path"].endswith(".safetensors")
    # a Lightning-style checkpoint: {"state_dict": {"model.<name>": tensor}, ...}
    torch.save({"epoch": 2, "state_dict": {f"model.{k}": v for k, v in state.items()}}, tmp_path / "run.ckpt")
    assert set(read_weights_file(tmp_path / "run.ckpt")) == set(state)


# --------------------------------------------------------------------------- training


def test_training_starts_from_downloaded_weights_and_records_them(workspace, tiny_project, monkeypatch):
    from studio_desktop.worker.train import run_training

    data = state_dict_bytes(MODEL)
    with WeightsServer() as server:
        entry = serve_entry(server, monkeypatch, MODEL, data)
        download_weights(MODEL)
    project, _ = tiny_project
    svc = ExperimentService(workspace, project.id)
    exp = svc.create(tiny_config(model=MODEL, pretrained=True, epochs=1, input_size=32))
    assert run_training(workspace, project.id, exp.id).status == "completed"
    events = [json.loads(line) for line in (svc.folder(exp.id) / "events.jsonl").read_text().splitlines()]
    logs = [e["message"] for e in events if e["event"] == "log"]
    loaded = next(m for m in logs if m.startswith("loaded pretrained weights"))
    assert entry.file_name in loaded and f"source: {entry.url}" in loaded
    assert any("trained on 224 px images; this run uses 32 px" in m for m in logs)
    record = svc.get(exp.id).environment["weights"]
    assert record["origin"] == entry.url and record["sha256"].startswith(entry.sha256_prefix)
    assert record["preprocessing"]["crop_size"] == 224 and record["preprocessing"]["mean"] == list(IMAGENET_MEAN)


def test_damaged_cached_weights_fail_the_run_with_the_way_out(workspace, tiny_project, monkeypatch):
    from studio_desktop.worker.train import run_training

    data = state_dict_bytes(MODEL)
    with WeightsServer() as server:
        entry = serve_entry(server, monkeypatch, MODEL, data)
    cache_dir().mkdir(parents=True)
    (cache_dir() / entry.file_name).write_bytes(bytes(len(data)))  # right size, wrong content
    project, _ = tiny_project
    svc = ExperimentService(workspace, project.id)
    exp = svc.create(tiny_config(model=MODEL, pretrained=True, epochs=1, input_size=32))
    outcome = run_training(workspace, project.id, exp.id)
    assert outcome.status == "failed" and "damaged" in outcome.error
    assert f"studio weights download {MODEL}" in outcome.hint


def test_studio_weights_import(tmp_path, capsys, monkeypatch):
    from studio_desktop.cli import main

    monkeypatch.setenv("STUDIO_WORKSPACE", str(tmp_path / "ws"))
    good = write(tmp_path / "good.pth", state_dict_bytes(MODEL, num_classes=5))
    assert main(["weights", "import", MODEL, str(good)]) == 0
    out = capsys.readouterr().out
    assert f"{MODEL}: weights imported (" in out and "last layer differs" in out
    wrong = write(tmp_path / "r18.pth", state_dict_bytes("resnet18"))
    assert main(["weights", "import", MODEL, str(wrong)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"error: {wrong}: these weights are for resnet18, not {MODEL} (all 102 tensors of resnet18 "
                   "match) (import it for resnet18)")
