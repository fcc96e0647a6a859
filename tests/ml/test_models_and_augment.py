"""Model catalog builders, fine-tuning modes, the v2 augmentation pipeline and the preview job."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from ml_helpers import worker_env
from torchvision import tv_tensors

from studio_desktop.core.experiments import AUGMENTATIONS, MODEL_CATALOG, AugmentationStep, defaults_for
from studio_desktop.ml.augment import build_transforms
from studio_desktop.ml.models import build_classifier, split_stages
from studio_desktop.ml.models.classification import apply_finetune
from studio_desktop.ml.optim import build_optimizer, lr_factor

pytestmark = pytest.mark.ml


@pytest.mark.parametrize("name", [m.name for m in MODEL_CATALOG["classification"]])
def test_every_classifier_builds_with_the_project_head(name):
    model = build_classifier(name, 5, pretrained=False).eval()
    with torch.no_grad():
        assert model(torch.rand(2, 3, 64, 64)).shape == (2, 5)
    stages, head = split_stages(model)
    assert len(stages) >= 4 and any(p.requires_grad for p in head.parameters())


def test_finetune_modes_freeze_what_they_say():
    model = build_classifier("resnet18", 3, pretrained=False)
    frozen = apply_finetune(model, "linear_probe", 0)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable == ["fc.weight", "fc.bias"] and len(frozen) == 5
    model = build_classifier("resnet18", 3, pretrained=False)
    apply_finetune(model, "partial", 1)
    trainable = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"layer4", "fc"}
    model = build_classifier("tiny_cnn", 3)
    assert apply_finetune(model, "full", 0) == [] and all(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("kind", ["sgd", "adam", "adamw"])
def test_optimizers_use_the_fused_kernel_and_step_like_the_plain_one(kind, monkeypatch):
    from studio_desktop.ml import optim

    cfg = defaults_for("classification").model_copy(update={"optimizer": kind, "weight_decay": 0.01, "lr": 0.01})
    torch.manual_seed(0)
    fused_model, plain_model = build_classifier("tiny_cnn", 3), build_classifier("tiny_cnn", 3)
    plain_model.load_state_dict(fused_model.state_dict())
    before = next(fused_model.parameters()).detach().clone()
    fused = build_optimizer(fused_model, cfg)
    assert fused.defaults["fused"] is True
    assert [g["weight_decay"] for g in fused.param_groups] == [0.01, 0.0]  # no decay on biases and norms
    monkeypatch.setattr(optim, "_fused", lambda groups: {})
    plain = build_optimizer(plain_model, cfg)
    assert not plain.defaults.get("fused")
    x, y = torch.rand(4, 3, 32, 32), torch.tensor([0, 1, 2, 1])
    for model, opt in ((fused_model, fused), (plain_model, plain)):
        for _ in range(3):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model.train()(x), y).backward()
            opt.step()
    # the same algorithm: the fused kernel differs from the per-tensor loop by float rounding only
    for (name, a), b in zip(fused_model.named_parameters(), plain_model.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-5), name
    assert not torch.allclose(before, next(fused_model.parameters()))  # and they did train


def test_lr_schedule_warmup_then_cosine():
    f = [lr_factor(s, total=100, warmup=10, kind="cosine") for s in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert f[10] == pytest.approx(1.0) and f[55] == pytest.approx(0.5, abs=0.02) and f[99] < 0.01
    assert all(a >= b for a, b in zip(f[10:], f[11:], strict=False))
    assert lr_factor(50, total=90, warmup=0, kind="step") == pytest.approx(0.1)


def test_every_augmentation_runs_and_boxes_follow_a_flip():
    img = torch.randint(0, 255, (3, 40, 60), dtype=torch.uint8)
    for name in AUGMENTATIONS:
        out = build_transforms([AugmentationStep(name=name)], 32, train=True)(tv_tensors.Image(img))
        assert out.shape == (3, 32, 32) and out.dtype == torch.float32, name
    flip = build_transforms([AugmentationStep(name="flip_horizontal", params={"p": 1.0})], 60, train=True,
                            normalize=False)
    boxes = tv_tensors.BoundingBoxes([[0, 0, 10, 10]], format="XYXY", canvas_size=(60, 60))
    _, moved = flip(tv_tensors.Image(torch.zeros(3, 60, 60, dtype=torch.uint8)), boxes)
    assert moved.tolist() == [[50, 0, 60, 10]]
    disabled = build_transforms([AugmentationStep(name="grayscale", enabled=False, params={"p": 1.0})], 32,
                                train=True, normalize=False)
    colour = torch.zeros(3, 32, 32, dtype=torch.uint8)
    colour[0] = 255
    assert disabled(tv_tensors.Image(colour))[0].mean() == 1.0  # still red: the step is off
    assert build_transforms(defaults_for("classification").augmentations, 32, train=False)(
        tv_tensors.Image(img)).shape == (3, 32, 32)


def test_augment_preview_job_writes_pngs(workspace_dir, tmp_path, capsys):
    from ml_helpers import make_tiny_project

    from studio_desktop.core.workspace import Workspace

    with Workspace.open(workspace_dir) as ws:
        project, _ = make_tiny_project(ws)
    cfg = defaults_for("classification").model_copy(update={"input_size": 32})
    (tmp_path / "cfg.json").write_text(cfg.model_dump_json())
    out = tmp_path / "preview"
    res = subprocess.run([sys.executable, "-m", "studio_desktop", "--workspace", str(workspace_dir), "worker",
                          "augment-preview", project.name, "--config-json", f"@{tmp_path / 'cfg.json'}",
                          "--out", str(out), "--n", "4"], capture_output=True, text=True, timeout=120,
                         env=worker_env())
    assert res.returncode == 0, res.stderr
    events = [json.loads(line) for line in res.stdout.splitlines()]
    arts = [e for e in events if e["event"] == "artifact"]
    assert [e["kind"] for e in arts] == ["augment_preview"] * 4 and events[-1]["event"] == "completed"
    from PIL import Image

    for e in arts:
        with Image.open(e["path"]) as im:
            assert im.size == (32, 32)
    from studio_desktop.worker import run

    assert run(["--workspace", str(workspace_dir), "augment-preview", project.name, "--config-json",
                '{"lr": -1}', "--out", str(out)]) == 1
    assert "invalid training setting 'lr'" in capsys.readouterr().err


def test_the_registry_says_trainable_exactly_for_the_tasks_with_a_head():
    from studio_desktop.ml.tasks import HEADS
    from studio_desktop.tasks import TASKS

    assert {t for t, info in TASKS.items() if info.trainable} == set(HEADS)
