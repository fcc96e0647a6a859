"""The self-test's logic (studio_desktop/selftest.py) with a fake command runner: which commands
it runs for which tasks, how it reads their answers, what counts as failed or not available,
and the exit status. The real end-to-end run is tests/ml/test_selftest_run.py (slow)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from studio_desktop import selftest
from studio_desktop.core.train_config import MODEL_CATALOG
from studio_desktop.tasks import TASKS


class FakeStudio:
    """Answers the commands the self-test runs, like the CLI would; records them."""

    def __init__(self, folder: Path, fail: dict[str, str] | None = None, unavailable: set[str] | None = None):
        self.folder = folder
        self.calls: list[list[str]] = []
        self.fail = fail or {}
        self.unavailable = unavailable or set()

    def command_name(self, cmd: list[str]) -> str:
        args = cmd[cmd.index("studio_desktop") + 1:] if "studio_desktop" in cmd else cmd[1:]
        if args[:1] == ["--workspace"]:
            args = args[2:]
        if not args:
            return "window"
        return args[0] if args[0] != "export" else f"export-{args[args.index('--format') + 1]}"

    def __call__(self, cmd, env, timeout):
        self.calls.append(cmd)
        name = self.command_name(cmd)
        ok = lambda out: subprocess.CompletedProcess(cmd, 0, out, "")  # noqa: E731
        if name in self.fail:
            return subprocess.CompletedProcess(cmd, 1, "", f"some progress\nerror: {self.fail[name]}\n")
        if name in self.unavailable:
            return subprocess.CompletedProcess(
                cmd, 1, "", "error: exporting regression models is not available in this version\n")
        if name == "window":
            assert env["QT_QPA_PLATFORM"] == "offscreen" and env["STUDIO_STARTUP_PROBE"]
            return ok("SHOWN 1.0\n")
        if name == "sample":
            out = Path(cmd[cmd.index("--task") + 2])
            (out / "a").mkdir(parents=True)
            (out / "a" / "0001.png").write_bytes(b"png")
            return ok(json.dumps({"files": 1}))
        if name == "project":
            return ok(json.dumps({"id": "p1", "name": cmd[-4]}))
        if name == "dataset":
            return ok("imported 1 images (folder)\n")
        if name == "split":
            return ok(json.dumps({"stats": {"train": {"images": 8}, "val": {"images": 1}}}))
        if name == "train":
            return ok("epoch 1: ...\ncompleted: best accuracy=1\n")
        if name == "evaluate":
            return ok("")
        if name.startswith("export-"):
            fmt = name.split("-", 1)[1]
            file = "model.onnx" if fmt == "onnx" else "model.xml"
            ws = Path(cmd[cmd.index("--workspace") + 1])
            path = ws / "projects" / "p1" / "experiments" / "e1" / "exports" / f"x-{fmt}" / file
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"model")
            return ok(json.dumps({"id": f"x-{fmt}", "project_id": "p1", "experiment_id": "e1", "file": file,
                                  "status": "ready", "validation": {"passed": True, "images": 5,
                                                                    "max_abs_diff": 1e-6, "agreement": 1.0}}))
        if name == "predict":
            return ok(json.dumps({"predictions": [{"file": cmd[-4], "ok": True}]}))
        raise AssertionError(f"unexpected command {cmd}")


def run(tmp_path, tasks, fake, gui=True):
    events = []
    test = selftest.SelfTest(tmp_path, tasks, report=events.append, runner=fake, gui=gui)
    return test.run(), events


def test_every_step_passes_and_is_reported_in_order(tmp_path):
    fake = FakeStudio(tmp_path)
    summary, events = run(tmp_path, ["classification"], fake)
    assert summary.ok and summary.count(selftest.FAILED) == 0
    steps = [r.step for r in summary.results]
    assert steps == ["processes", "window", "sample", "project", "import", "split", "train", "evaluate",
                     "export", "openvino", "predict"]
    assert events[0]["event"] == "begin" and events[0]["steps"] == len(steps)
    assert events[-1] == {"event": "end", "ok": True, "passed": len(steps), "failed": 0, "not_available": 0,
                          "seconds": events[-1]["seconds"]}
    # each step is announced as running before its result
    running = [e["step"] for e in events if e["event"] == "step" and e["status"] == "running"]
    assert running == steps
    assert all(r.seconds >= 0 for r in summary.results)


def test_commands_run_this_program_on_the_temporary_workspace(tmp_path):
    fake = FakeStudio(tmp_path)
    run(tmp_path, ["classification"], fake, gui=False)
    for cmd in fake.calls:
        assert cmd[:3] == [sys.executable, "-m", "studio_desktop"]
        if fake.command_name(cmd) != "sample":  # the sample is written outside any workspace
            assert cmd[3:5] == ["--workspace", str(tmp_path / "workspace")]
    train = next(c for c in fake.calls if fake.command_name(c) == "train")
    smallest = min(MODEL_CATALOG["classification"], key=lambda m: m.params_millions).name
    assert train[train.index("--model") + 1] == smallest and train[train.index("--epochs") + 1] == "1"
    assert "pretrained=false" in train and "num_workers=1" in train  # DataLoader worker processes run too
    predict = next(c for c in fake.calls if fake.command_name(c) == "predict")
    assert predict[predict.index("predict") + 1].endswith("model.onnx")  # the exported file, not the checkpoint


def test_frozen_commands_are_the_bundle_itself(monkeypatch):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", "/opt/AI Studio/ai-studio")
    assert selftest.app_command("worker", "train") == ["/opt/AI Studio/ai-studio", "worker", "train"]


def test_a_failed_step_names_the_reason_and_skips_what_depends_on_it(tmp_path):
    fake = FakeStudio(tmp_path, fail={"train": "the split has no training images"})
    summary, _ = run(tmp_path, ["classification"], fake)
    assert not summary.ok
    failed = [r for r in summary.results if r.status == selftest.FAILED]
    assert [(r.step, r.detail) for r in failed] == [("train", "error: the split has no training images")]
    assert "evaluate" not in [r.step for r in summary.results]  # nothing to evaluate without a model
    assert not any(fake.command_name(c) == "evaluate" for c in fake.calls)


def test_a_failed_export_still_predicts_with_the_checkpoint(tmp_path):
    fake = FakeStudio(tmp_path, fail={"export-onnx": "ONNX export failed"})
    summary, _ = run(tmp_path, ["classification"], fake, gui=False)
    status = {r.step: r.status for r in summary.results}
    assert status["export"] == selftest.FAILED and status["predict"] == selftest.PASSED
    predict = next(c for c in fake.calls if fake.command_name(c) == "predict")
    assert "--project" in predict and "self-test" in predict
    assert not summary.ok


def test_a_step_this_version_cannot_do_is_not_available_not_passed(tmp_path):
    fake = FakeStudio(tmp_path, unavailable={"export-onnx", "export-openvino"})
    summary, events = run(tmp_path, ["classification"], fake, gui=False)
    status = {r.step: r for r in summary.results}
    assert status["export"].status == selftest.UNAVAILABLE
    assert "not available in this version" in status["export"].detail
    assert summary.ok  # nothing failed
    assert events[-1]["not_available"] == 2


def test_export_that_did_not_pass_its_validation_fails(tmp_path):
    class Invalid(FakeStudio):
        def __call__(self, cmd, env, timeout):
            done = super().__call__(cmd, env, timeout)
            if self.command_name(cmd) == "export-onnx":
                record = json.loads(done.stdout)
                record["validation"]["passed"] = False
                done = subprocess.CompletedProcess(cmd, 0, json.dumps(record), "")
            return done

    summary, _ = run(tmp_path, ["classification"], Invalid(tmp_path), gui=False)
    export = next(r for r in summary.results if r.step == "export")
    assert export.status == selftest.FAILED and "validation" in export.detail


def test_every_trainable_task_of_the_registry_is_tested(tmp_path, monkeypatch):
    assert selftest.trainable_tasks() == [t.id for t in TASKS.values() if t.trainable]
    import dataclasses

    patched = dict(TASKS)
    patched["object_detection"] = dataclasses.replace(TASKS["object_detection"], trainable=True)
    monkeypatch.setattr("studio_desktop.tasks.TASKS", patched)
    assert "object_detection" in selftest.trainable_tasks()
    fake = FakeStudio(tmp_path)
    summary, events = run(tmp_path, ["object_detection"], fake, gui=False)
    train = next(c for c in fake.calls if fake.command_name(c) == "train")
    smallest = min(MODEL_CATALOG["object_detection"], key=lambda m: m.params_millions)
    assert train[train.index("--model") + 1] == smallest.name
    assert [e["task"] for e in events if e["event"] == "task"] == ["object_detection"]


def test_registry_can_override_the_short_run(monkeypatch):
    import dataclasses

    patched = dict(TASKS)
    patched["classification"] = dataclasses.replace(
        TASKS["classification"], extra={"self_test_settings": {"model": "resnet18", "input_size": 32}})
    monkeypatch.setattr("studio_desktop.tasks.TASKS", patched)
    model, settings = selftest.training_settings("classification")
    assert model == "resnet18" and settings["input_size"] == 32 and settings["pretrained"] == "false"


def test_text_output_prints_each_step_with_its_time(capsys):
    selftest.print_event({"event": "step", "task": "classification", "step": "train", "title": "Train one short run",
                          "status": selftest.PASSED, "seconds": 12.34, "detail": "tiny_cnn, 1 epoch"})
    selftest.print_event({"event": "end", "ok": False, "passed": 9, "failed": 1, "not_available": 0,
                          "seconds": 80.0})
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["[", "ok", "]", "12.3", "s", "Train", "one", "short", "run", "tiny_cnn,", "1", "epoch"]
    assert out[1].startswith("self-test FAILED: 9 passed, 1 failed")


def test_unknown_task_is_refused(capsys):
    assert selftest.main(["--task", "juggling"]) == 2
    assert "unknown task juggling" in capsys.readouterr().err


def test_a_spawned_child_process_answers():
    assert selftest.check_spawn().startswith("child pid ")


def test_last_error_line_prefers_the_error_line():
    assert selftest.last_error_line("a\nerror: bad file x.png\nTraceback...\n") == "error: bad file x.png"
    assert selftest.last_error_line("one\ntwo\n") == "two"
    assert selftest.last_error_line("") == ""
    crash = ('Traceback (most recent call last):\n  File "torch/utils/checkpoint.py", line 20, in <module>\n'
             "ModuleNotFoundError: No module named 'torch.testing._internal'\n"
             "[PYI-17963:ERROR] Failed to execute script 'entry' due to unhandled exception!\n")
    assert selftest.last_error_line(crash) == "ModuleNotFoundError: No module named 'torch.testing._internal'"


@pytest.mark.parametrize("text", ["not json", ""])
def test_a_command_that_prints_no_json_fails_the_step(text):
    with pytest.raises(selftest.StepFailed, match="expected JSON"):
        selftest._json(text)


def test_the_image_predicted_is_a_picture_not_a_ground_truth_mask(tmp_path):
    """The anomaly sample's ground_truth/ sorts before test/: the self-test once predicted a mask."""
    from studio_desktop.selftest import first_image

    for rel in ("ground_truth/hole/001_mask.png", "masks/0001.png", "test/good/002.png", "train/good/000.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"png")
    assert first_image(tmp_path) == tmp_path / "test/good/002.png"
    (tmp_path / "test/good/002.png").unlink()
    (tmp_path / "train/good/000.png").unlink()
    assert first_image(tmp_path) is None
