"""End-to-end training on a tiny 3-class dataset: files, statuses, curves, failures, resume."""

from __future__ import annotations

import json

import pytest
from ml_helpers import tiny_config

from studio_desktop.core.experiments import ExperimentService
from studio_desktop.core.store import read_json
from studio_desktop.worker.train import run_training

pytestmark = pytest.mark.ml


def _events(folder):
    return [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]


def test_tiny_training_end_to_end(workspace, tiny_project, monkeypatch):
    project, _ = tiny_project
    svc = ExperimentService(workspace, project.id)
    exp = svc.create(tiny_config(epochs=4), name="e2e")
    statuses = []
    real_update = ExperimentService.update

    def spy(self, exp_id, **changes):
        if "status" in changes:
            statuses.append(changes["status"])
        return real_update(self, exp_id, **changes)

    monkeypatch.setattr(ExperimentService, "update", spy)
    outcome = run_training(workspace, project.name, "e2e")
    assert outcome.status == "completed" and outcome.exit_code == 0
    assert statuses == ["running", "completed"]
    folder = svc.folder(exp.id)
    for name in ("metrics.jsonl", "events.jsonl", "train.log", "checkpoints/best.ckpt", "checkpoints/last.ckpt",
                 "confusion.json"):
        assert (folder / name).is_file(), name
    epochs = [r for r in svc.metrics(exp.id) if r["kind"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [1, 2, 3, 4]
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]
    assert {"val_accuracy", "val_f1_macro", "val_loss", "lr"} <= set(epochs[0])
    done = svc.get(exp.id)
    assert done.status == "completed" and done.epochs_done == 4 and done.pid is None
    assert done.best is not None and done.best.metric == "accuracy" and 1 <= done.best.epoch <= 4
    env = done.environment
    assert env["seed"] == 0 and env["torch"] and env["lightning"] and len(env["dataset_hash"]) == 16
    assert env["split_hash"] and env["images"] == {"train": 18, "val": 12, "test": 0}
    events = _events(folder)
    kinds = [e["event"] for e in events]
    assert kinds.index("started") < kinds.index("epoch") < kinds.index("completed") == len(kinds) - 1
    assert all("time" in e for e in events)
    progress = [e for e in events if e["event"] == "progress"]
    assert progress and progress[-1]["step"] == progress[-1]["total"] and progress[-1]["eta_s"] == 0
    summary = events[-1]["summary"]
    assert summary["val"]["accuracy"] >= 0.9  # colours are trivially separable
    confusion = read_json(folder / "confusion.json")["val"]
    assert confusion["classes"] == ["red", "green", "blue"] and sum(map(sum, confusion["matrix"])) == 12
    # ties go to the later epoch (it has trained longer), in experiment.json and best.ckpt alike
    import torch

    values = [r["val_accuracy"] for r in epochs]
    top = max(values)
    assert values.count(top) >= 2, "the colours are learnt early: accuracy plateaus, so ties exist"
    latest_best = max(r["epoch"] for r in epochs if r["val_accuracy"] == top)
    assert done.best.epoch == latest_best
    best_ckpt = torch.load(folder / "checkpoints/best.ckpt", map_location="cpu", weights_only=False)
    assert best_ckpt["epoch"] + 1 == latest_best  # Lightning counts epochs from 0


def test_nan_loss_fails_with_reason(workspace, tiny_project, monkeypatch):
    import torch

    from studio_desktop.ml.tasks.classification import ClassificationHead

    project, _ = tiny_project
    svc = ExperimentService(workspace, project.id)
    exp = svc.create(tiny_config(epochs=2))
    calls = {"n": 0}
    real = ClassificationHead.loss

    def bad_loss(self, outputs, targets):
        calls["n"] += 1
        loss = real(self, outputs, targets)
        return loss * torch.tensor(float("nan")) if calls["n"] == 2 else loss

    monkeypatch.setattr(ClassificationHead, "loss", bad_loss)
    outcome = run_training(workspace, project.id, exp.id)
    assert outcome.status == "failed" and outcome.exit_code == 1
    failed = svc.get(exp.id)
    assert failed.status == "failed" and failed.error == "loss became NaN at epoch 1 step 2"
    assert "learning rate" in failed.hint
    last = _events(svc.folder(exp.id))[-1]
    assert last["event"] == "failed" and last["error"] == failed.error and last["hint"] == failed.hint


def test_missing_pretrained_weights_warns_and_trains(workspace, tiny_project, monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-hub"))
    project, _ = tiny_project
    svc = ExperimentService(workspace, project.id)
    exp = svc.create(tiny_config(model="mobilenet_v3_small", pretrained=True, epochs=1))
    assert run_training(workspace, project.id, exp.id).status == "completed"
    logs = [e for e in _events(svc.folder(exp.id)) if e["event"] == "log"]
    assert any(e["level"] == "warning" and "not available offline — training from scratch" in e["message"]
               for e in logs)
    assert "training from scratch" in (svc.folder(exp.id) / "train.log").read_text()


def test_weights_file_is_loaded(workspace, tiny_project, tmp_path):
    import torch

    from studio_desktop.ml.models import build_classifier

    weights = tmp_path / "tiny.pth"
    torch.save(build_classifier("tiny_cnn", 10).state_dict(), weights)  # other head size: skipped
    project, _ = tiny_project
    svc = ExperimentService(workspace, project.id)
    exp = svc.create(tiny_config(weights_file=str(weights), epochs=1, finetune="linear_probe"))
    assert run_training(workspace, project.id, exp.id).status == "completed"
    logs = [e["message"] for e in _events(svc.folder(exp.id)) if e["event"] == "log"]
    assert any("loaded pretrained weights" in m and "tiny.pth" in m for m in logs)


def test_no_split_and_already_run_are_clear_failures(workspace, tiny_project):
    project, _ = tiny_project
    svc = ExperimentService(workspace, project.id)
    exp = svc.create(tiny_config(split_id="nope"))
    outcome = run_training(workspace, project.id, exp.id)
    assert outcome.status == "failed" and "no split named or with id 'nope'" in outcome.error
    again = run_training(workspace, project.id, exp.id)
    assert again.exit_code == 1 and "has already run (failed)" in again.error
    assert svc.get(exp.id).error == outcome.error  # the refused second start changed nothing


def test_interrupted_run_reconciles_and_resumes_with_more_epochs(workspace, tiny_project):
    import subprocess
    import sys

    project, _ = tiny_project
    svc = ExperimentService(workspace, project.id)
    exp = svc.create(tiny_config(epochs=2))
    assert run_training(workspace, project.id, exp.id).status == "completed"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    svc.update(exp.id, status="running", pid=dead.pid)  # as if the worker had been killed
    assert svc.reconcile() == [exp.id]
    assert svc.get(exp.id).status == "interrupted" and svc.resumable(exp.id)
    outcome = run_training(workspace, project.id, exp.id, resume=True, epochs=4)
    assert outcome.status == "completed"
    resumed = svc.get(exp.id)
    assert resumed.epochs_done == 4 and resumed.config.epochs == 4 and "epoch 2" in resumed.resumed_from
    assert [r["epoch"] for r in svc.metrics(exp.id) if r["kind"] == "epoch"] == [1, 2, 3, 4]
    starts = [e for e in _events(svc.folder(exp.id)) if e["event"] == "started"]
    assert [s["resumed"] for s in starts] == [False, True]


def test_split_without_validation_still_gives_best_checkpoint(workspace):
    from ml_helpers import make_tiny_project

    project, _ = make_tiny_project(workspace, name="noval", per_class=4, val_every=0)
    svc = ExperimentService(workspace, project.id)
    exp = svc.create(tiny_config(epochs=2))
    outcome = run_training(workspace, project.id, exp.id)
    assert outcome.status == "completed", outcome.error
    assert svc.checkpoint(exp.id, "best").is_file() and svc.checkpoint(exp.id, "last").is_file()
    logs = [e["message"] for e in _events(svc.folder(exp.id)) if e["event"] == "log"]
    assert any("no validation images" in m for m in logs)


@pytest.mark.parametrize("error", [
    "cuda",  # torch.cuda.OutOfMemoryError, what a GPU raises
    "RuntimeError: [enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: "
    "you tried to allocate 8589934592 bytes. Error code 12 (Cannot allocate memory)",
])
def test_out_of_memory_fails_with_a_hint_and_keeps_the_last_epoch(workspace, tiny_project, monkeypatch, error):
    import torch

    from studio_desktop.ml.tasks.classification import ClassificationHead

    project, _ = tiny_project
    svc = ExperimentService(workspace, project.id)
    exp = svc.create(tiny_config(epochs=3))
    calls = {"n": 0}
    real = ClassificationHead.loss
    steps_per_epoch = 3  # 18 training images, batch 8 -> 8 + 8 + 2

    def hungry_loss(self, outputs, targets):
        calls["n"] += torch.is_grad_enabled()  # training steps only (validation also computes a loss)
        if calls["n"] == steps_per_epoch + 2:  # second epoch, second step
            if error == "cuda":
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            raise RuntimeError(error.removeprefix("RuntimeError: "))
        return real(self, outputs, targets)

    monkeypatch.setattr(ClassificationHead, "loss", hungry_loss)
    outcome = run_training(workspace, project.id, exp.id)
    failed = svc.get(exp.id)
    assert outcome.status == failed.status == "failed"
    assert failed.error.startswith("out of memory: ") and failed.hint == "use a smaller batch size or input size"
    # the first epoch is safe: it can be resumed with a smaller batch
    assert failed.epochs_done == 1 and svc.checkpoint(exp.id).exists()
    last = _events(svc.folder(exp.id))[-1]
    assert last["event"] == "failed" and last["hint"] == failed.hint


@pytest.mark.parametrize("stop_step", [2, 5])  # 3 steps an epoch: epoch 1, or epoch 2
def test_a_stop_in_mid_epoch_resumes_at_the_next_image_of_that_epoch(workspace, tiny_project, monkeypatch,
                                                                      stop_step):
    import torch

    from studio_desktop.ml.callbacks import StopFlag
    from studio_desktop.ml.data import SampleSet
    from studio_desktop.ml.tasks.classification import ClassificationHead

    project, split = tiny_project
    train_ids = {k for k, v in split.assignments.items() if v == "train"}
    svc = ExperimentService(workspace, project.id)
    exp = svc.create(tiny_config(epochs=3))  # 18 training images, batches of 8: 8 + 8 + 2
    stop = StopFlag()
    batches: list[list[str]] = []  # training batches as image ids, in the order trained
    real_items, real_loss = SampleSet.__getitems__, ClassificationHead.loss

    def record(self, indices):
        if {self.records[i].id for i in indices} <= train_ids:
            batches.append([self.records[i].id for i in indices])
        return real_items(self, indices)

    def stopping_loss(self, outputs, targets):
        stopping_loss.n += torch.is_grad_enabled()
        if stopping_loss.n == stop_step:
            stop.set("test stop")
        return real_loss(self, outputs, targets)

    stopping_loss.n = 0
    monkeypatch.setattr(SampleSet, "__getitems__", record)
    monkeypatch.setattr(ClassificationHead, "loss", stopping_loss)
    assert run_training(workspace, project.id, exp.id, stop=stop).status == "stopped"
    stopped = svc.get(exp.id)
    assert stopped.epochs_done == (stop_step - 1) // 3 and svc.resumable(exp.id)
    trained = batches[:stop_step]  # (the loader may have fetched one batch ahead)
    monkeypatch.setattr(ClassificationHead, "loss", real_loss)
    batches.clear()
    outcome = run_training(workspace, project.id, exp.id, resume=True)
    assert outcome.status == "completed", outcome.error
    # every epoch trains on each image exactly once, the interrupted one included
    k = (stop_step - 1) // 3  # whole epochs before the stop
    epochs = ([trained[3 * i:3 * i + 3] for i in range(k)] + [trained[3 * k:] + batches[:1]]
              + [batches[j:j + 3] for j in range(1, len(batches), 3)])
    assert len(epochs) == 3
    for epoch in epochs:
        assert sorted(i for batch in epoch for i in batch) == sorted(train_ids)
    assert len(batches[0]) == 2  # the resumed epoch goes on with its last batch (16 of 18 done)
    rows = [r for r in svc.metrics(exp.id) if r["kind"] == "epoch"]
    assert [r["epoch"] for r in rows] == [1, 2, 3] and svc.get(exp.id).epochs_done == 3
    assert "not resumable" not in (svc.folder(exp.id) / "train.log").read_text()  # Lightning's warning


def test_a_run_killed_in_its_first_epoch_resumes_from_the_start(workspace, tiny_project):
    import subprocess
    import sys

    project, _ = tiny_project
    svc = ExperimentService(workspace, project.id)
    exp = svc.create(tiny_config(epochs=1))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    svc.update(exp.id, status="running", pid=dead.pid)  # killed before any checkpoint
    svc.reconcile()
    assert svc.get(exp.id).status == "interrupted" and svc.resumable(exp.id)
    outcome = run_training(workspace, project.id, exp.id, resume=True)
    assert outcome.status == "completed", outcome.error
    assert [r["epoch"] for r in svc.metrics(exp.id) if r["kind"] == "epoch"] == [1]


def test_an_unreadable_image_fails_the_run_naming_the_file(workspace, tiny_project):
    from studio_desktop.core.datasets import DatasetStore

    project, split = tiny_project
    store = DatasetStore(workspace, project.id)
    victim = next(r for r in store.load().images if split.assignments[r.id] == "train")
    store.path_of(victim.file).write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really" * 10)  # damaged after import
    svc = ExperimentService(workspace, project.id)
    exp = svc.create(tiny_config(epochs=1))
    outcome = run_training(workspace, project.id, exp.id)
    failed = svc.get(exp.id)
    assert outcome.status == failed.status == "failed"
    assert "cannot decode image" in failed.error and victim.file.split("/")[-1] in failed.error
    assert f"imported from {victim.source}" in failed.error and victim.source  # the name the user knows
    assert "Traceback" not in failed.error and "Dataset page" in failed.hint
    assert failed.hint not in failed.error  # shown once, apart
