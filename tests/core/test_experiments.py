"""Experiments store: create/list/get/duplicate/delete, notes vs status races, reconcile,
metrics tolerant of torn lines, config validation naming the field, per-task defaults."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from studio_desktop.core.errors import InvalidInput, NotFound
from studio_desktop.core.experiments import (
    AUGMENTATIONS,
    MODEL_CATALOG,
    Experiment,
    ExperimentService,
    TrainConfig,
    apply_settings,
    defaults_for,
    resolve_split,
    validate_config,
)
from studio_desktop.core.projects import ProjectService
from studio_desktop.core.store import read_model
from studio_desktop.tasks import TASKS


@pytest.fixture
def project(workspace):
    return ProjectService(workspace).create("shapes", "classification", classes=["a", "b"])


def test_create_list_get(workspace, project):
    svc = ExperimentService(workspace, project.id)
    a = svc.create(defaults_for("classification"))
    b = svc.create(defaults_for("classification"), name="second try")
    assert a.status == "created" and a.task == "classification"
    model = defaults_for("classification").model  # tiny_cnn offline, resnet18 with ImageNet weights
    assert a.name == model and svc.create(defaults_for("classification")).name == f"{model} 2"
    assert [e.id for e in svc.list()][1:] == [b.id, a.id]  # newest first
    assert svc.get("SECOND TRY").id == b.id and svc.get(a.id).name == a.name
    stored = read_model(svc.json_path(a.id), Experiment)
    assert stored.schema_version == 1 and stored.config.model == model
    with pytest.raises(NotFound, match="no experiment named"):
        svc.get("nope")
    with pytest.raises(InvalidInput, match="already exists"):
        svc.create(defaults_for("classification"), name="Second Try")


def test_corrupt_experiment_is_reported_not_fatal(workspace, project):
    svc = ExperimentService(workspace, project.id)
    good = svc.create(defaults_for("classification"))
    bad = svc.root / "broken"
    bad.mkdir()
    (bad / "experiment.json").write_text("{not json")
    assert [e.id for e in svc.list()] == [good.id]
    assert len(svc.problems) == 1 and "broken" in svc.problems[0].folder
    assert "not valid JSON" in svc.problems[0].reason


def test_duplicate_notes_and_update_keep_each_other(workspace, project):
    svc = ExperimentService(workspace, project.id)
    cfg = apply_settings(defaults_for("classification"), ["lr=0.05", "epochs=3"], "classification")
    a = svc.create(cfg, name="base")
    svc.set_notes("base", "try a higher lr")
    svc.update(a.id, status="running", epochs_done=2)  # the worker's write keeps the notes
    e = svc.get(a.id)
    assert e.notes == "try a higher lr" and e.status == "running" and e.epochs_done == 2
    d = svc.duplicate("base")
    assert d.id != a.id and d.name == "base copy" and d.config.lr == 0.05 and d.status == "created"


def test_delete_refuses_running(workspace, project):
    import os

    svc = ExperimentService(workspace, project.id)
    a = svc.create(defaults_for("classification"))
    svc.update(a.id, status="running", pid=os.getpid())
    with pytest.raises(InvalidInput, match="still training"):
        svc.delete(a.id)
    svc.update(a.id, status="stopped")
    svc.delete(a.id)
    assert not svc.folder(a.id).exists() and svc.list() == []


def test_reconcile_marks_dead_runs_interrupted(workspace, project):
    import os

    svc = ExperimentService(workspace, project.id)
    dead_proc = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_proc.wait()
    dead = svc.create(defaults_for("classification"), name="dead")
    live = svc.create(defaults_for("classification"), name="live")
    svc.update(dead.id, status="running", pid=dead_proc.pid)
    svc.update(live.id, status="running", pid=os.getpid())
    ckpt = svc.checkpoint(dead.id)
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"x")
    assert svc.reconcile() == [dead.id]
    e = svc.get(dead.id)
    assert e.status == "interrupted" and "resume" in e.hint and svc.resumable(dead.id)
    assert svc.get(live.id).status == "running"
    assert svc.reconcile() == []


def test_metrics_tolerates_torn_last_line(workspace, project):
    svc = ExperimentService(workspace, project.id)
    a = svc.create(defaults_for("classification"))
    (svc.folder(a.id) / "metrics.jsonl").write_text(
        json.dumps({"kind": "epoch", "epoch": 1, "val_loss": 1.0}) + "\n"
        + json.dumps({"kind": "epoch", "epoch": 2, "val_loss": 0.5}) + "\n" + '{"kind": "epo')
    assert [r["epoch"] for r in svc.metrics(a.id)] == [1, 2]
    assert svc.metrics("missing") == []


@pytest.mark.parametrize("field,value,words", [
    ("lr", -1, "'lr'"), ("epochs", 0, "'epochs'"), ("device", "gpu7", "'device'"),
    ("optimizer", "rmsprop", "'optimizer'"), ("bogus", 1, "'bogus': is not a training setting"),
    ("augmentations", [{"name": "spin"}], "unknown augmentation 'spin'"),
    ("augmentations", [{"name": "rotation", "params": {"degrees": 500}}], "'degrees' must be between"),
])
def test_config_validation_names_the_field(field, value, words):
    data = defaults_for("classification").model_dump()
    data[field] = value
    with pytest.raises(InvalidInput, match="invalid training setting") as info:
        validate_config(data)
    assert words in str(info.value)


def test_unknown_model_for_task_and_bad_set():
    with pytest.raises(InvalidInput, match="'model'.*not a classification model"):
        validate_config({"model": "maskrcnn_resnet50_fpn"}, "classification")
    with pytest.raises(InvalidInput, match="key=value"):
        apply_settings(TrainConfig(), ["lr"])
    cfg = apply_settings(TrainConfig(), ["pretrained=false", "split_id=none", "batch_size=8"])
    assert cfg.pretrained is False and cfg.split_id is None and cfg.batch_size == 8
    # a text setting keeps the text as typed, even when it reads as a number (split ids are hex:
    # "66598e14" once became 6.6598e+18 and the run was refused, at random, one id in ~30)
    for text in ("66598e14", "1234", "0x1f", "true"):
        assert apply_settings(TrainConfig(), [f"split_id={text}"]).split_id == text


@pytest.mark.parametrize("task", list(TASKS))
def test_defaults_for_every_task_validate(task):
    cfg = defaults_for(task)
    assert validate_config(cfg.model_dump(), task) == cfg
    assert cfg.model in [m.name for m in MODEL_CATALOG[task]]


def test_field_help_and_augmentation_table():
    help_ = TrainConfig.field_help()
    assert set(help_) == set(TrainConfig.model_fields) and all(len(h) > 15 for h in help_.values())
    for info in AUGMENTATIONS.values():
        for default, lo, hi, text in info.params.values():
            assert lo <= default <= hi and text
    names = {m.name for m in MODEL_CATALOG["classification"]}
    assert {"resnet18", "resnet34", "resnet50", "efficientnet_b0", "efficientnet_b3", "mobilenet_v3_small",
            "mobilenet_v3_large", "convnext_tiny", "tiny_cnn"} <= names


def test_resolve_split_newest_and_missing(workspace, project):
    from datetime import datetime

    from studio_desktop.core.splits import Split, SplitService

    with pytest.raises(InvalidInput, match="create a split first"):
        resolve_split(workspace, project.id, None)
    svc = SplitService(workspace, project.id)
    ratios = {"train": 0.5, "val": 0.5}
    svc.save(Split(id="s1", name="first", created=datetime(2026, 1, 1), ratios=ratios, assignments={"a": "train"}))
    svc.save(Split(id="s2", name="second", created=datetime(2026, 2, 1), ratios=ratios, assignments={"a": "val"}))
    assert resolve_split(workspace, project.id, None) == ("s2", {"a": "val"})
    assert resolve_split(workspace, project.id, "first")[0] == "s1"
    with pytest.raises(NotFound):
        resolve_split(workspace, project.id, "zzz")


def test_classification_defaults_follow_the_cached_weights(tmp_path, monkeypatch):
    """From scratch (no ImageNet weights on this computer) a small network is the default."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    scratch = defaults_for("classification")
    assert scratch.model == "tiny_cnn" and scratch.batch_size == 16
    ckpts = tmp_path / "torch" / "hub" / "checkpoints"
    ckpts.mkdir(parents=True)
    (ckpts / "resnet18-f37072fd.pth").write_bytes(b"weights")  # a damaged file is not weights
    assert defaults_for("classification").model == "tiny_cnn"
    with open(ckpts / "resnet18-f37072fd.pth", "wb") as fh:  # the official size (sparse: instant)
        fh.truncate(round(44.661 * 1024 * 1024))
    pretrained = defaults_for("classification")
    assert pretrained.model == "resnet18" and pretrained.pretrained
    # the input size the weights were trained at, the learning rate of full fine-tuning
    assert pretrained.input_size == 224 and pretrained.lr == 1e-4 and pretrained.finetune == "full"
    assert defaults_for("regression").model == "resnet18"  # unchanged by the classification rule
