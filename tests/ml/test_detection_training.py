"""Object detection training: boxes move with the image, odd images are handled and said, the
teaching detector learns the shapes sample, checkpoints come back, `studio train` works."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torchvision import tv_tensors  # noqa: E402

from studio_desktop.core.schemas import Box, ImageRecord, Project  # noqa: E402
from studio_desktop.core.train_config import AugmentationStep, defaults_for  # noqa: E402
from studio_desktop.ml.augment import denormalize  # noqa: E402
from studio_desktop.ml.detection_data import (  # noqa: E402
    DropCounter,
    collate,
    detection_transforms,
    joint_sample,
)
from studio_desktop.ml.tasks.detection import DetectionHead  # noqa: E402

pytestmark = pytest.mark.ml

PAINT = (255, 0, 255)  # magenta: absent from blood smears


def _project(classes=("rbc", "wbc")) -> Project:
    from studio_desktop.core.schemas import ClassInfo

    return Project(id="p", name="cells", task="object_detection",
                   classes=[ClassInfo(id=i, name=n) for i, n in enumerate(classes)])


def _head(**changes) -> DetectionHead:
    cfg = defaults_for("object_detection").model_copy(update={"input_size": 96, **changes})
    head = DetectionHead(_project(), cfg)
    head.notes = []
    head.report = lambda message, level="info": head.notes.append(message)
    return head


# --------------------------------------------------------------------------- the joint transform


def test_joint_transform_keeps_boxes_on_the_objects(real_fixtures):
    """Paint every box of a real blood smear, shrink the image as the cache does, run flip +
    box-aware crop + shift/scale + letterbox: each box that comes out still frames painted pixels."""
    from PIL import Image, ImageDraw

    from studio_desktop.core.formats.coco import READER

    parsed = READER.read(real_fixtures / "coco_bbox_rbc", "object_detection")
    item = next(i for i in parsed.images if len(i.boxes) >= 5)
    with Image.open(item.path) as im:
        image = im.convert("RGB")
    w, h = image.size
    draw = ImageDraw.Draw(image)
    boxes = [b for b in item.boxes if b.x2 - b.x1 > 8 and b.y2 - b.y1 > 8]
    for b in boxes:  # a painted core inset by 2 px (a box's own edge may be off by a pixel)
        draw.rectangle([b.x1 + 2, b.y1 + 2, b.x2 - 3, b.y2 - 3], fill=PAINT)
    record = ImageRecord(id="r", file="x.jpg", width=w, height=h, sha256="0" * 64,
                         boxes=[Box(cls=0, x1=b.x1, y1=b.y1, x2=b.x2, y2=b.y2) for b in boxes])
    half = image.resize((w // 2, h // 2), Image.Resampling.NEAREST)  # what the image cache may keep
    tensor = tv_tensors.Image(torch.from_numpy(np.asarray(half).copy()).permute(2, 0, 1))
    head = _head()
    target = head.target(record)
    steps = [AugmentationStep(name="flip_horizontal", params={"p": 1.0}),
             AugmentationStep(name="resized_crop", params={"scale_min": 0.5}),
             AugmentationStep(name="affine", params={"translate": 0.1, "scale": 0.2})]
    torch.manual_seed(3)
    counter = DropCounter()
    checked = 0
    for _ in range(4):
        out, tgt = joint_sample(detection_transforms(steps, 160, train=True), tensor, target, record, counter)
        rgb = (denormalize(out) * 255).round().to(torch.int32)
        magenta = (rgb[0] > 200) & (rgb[1] < 60) & (rgb[2] > 200)
        assert out.shape == (3, 160, 160)
        for x1, y1, x2, y2 in tgt["boxes"].tolist():
            if x2 - x1 < 6 or y2 - y1 < 6:
                continue  # a sliver cut by the crop
            cx, cy = int((x1 + x2) / 2), int((y1 + y2) / 2)
            assert magenta[cy, cx], f"box centre ({cx}, {cy}) is not on its object"
            inside = magenta[int(y1) + 2:int(y2) - 2, int(x1) + 2:int(x2) - 2].float().mean()
            assert inside > 0.6, f"box {x1:.0f},{y1:.0f},{x2:.0f},{y2:.0f} covers its object only {inside:.0%}"
            checked += 1
        # and no painted object is left without its box: painted pixels lie inside some box
        covered = torch.zeros_like(magenta)
        for x1, y1, x2, y2 in tgt["boxes"].tolist():
            covered[int(y1):int(y2) + 1, int(x1):int(x2) + 1] = True
        assert (magenta & ~covered).sum() <= 0.02 * magenta.sum()
    assert checked >= 10


def test_evaluation_pipeline_letterboxes_boxes_as_core_letterbox_says():
    from studio_desktop.core.letterbox import to_input

    record = ImageRecord(id="r", file="x.png", width=333, height=251, sha256="0" * 64,
                         boxes=[Box(cls=1, x1=10, y1=20, x2=300, y2=200)])
    head = _head()
    image = tv_tensors.Image(torch.zeros((3, 251, 333), dtype=torch.uint8))
    _, tgt = joint_sample(head.transforms(train=False), image, head.target(record), record)
    np.testing.assert_allclose(tgt["boxes"].numpy(), to_input([[10, 20, 300, 200]], 333, 251, 96), atol=1e-3)
    assert tgt["labels"].tolist() == [2]  # model label = class index + 1 (0 is background)


# --------------------------------------------------------------------------- odd images


def test_an_image_without_boxes_and_one_whose_boxes_are_all_degenerate():
    head = _head()
    empty = ImageRecord(id="e", file="e.png", width=64, height=48, sha256="0" * 64)
    flat = ImageRecord(id="d", file="d.png", width=64, height=48, sha256="1" * 64,
                       boxes=[Box(cls=0, x1=10, y1=10, x2=10, y2=30), Box(cls=1, x1=5, y1=7, x2=40, y2=7.4)])
    good = ImageRecord(id="g", file="g.png", width=64, height=48, sha256="2" * 64,
                       boxes=[Box(cls=0, x1=4, y1=4, x2=30, y2=30), Box(cls=1, x1=32, y1=8, x2=60, y2=40, iscrowd=True)])
    records = [empty, flat, good]
    assert all(head.usable(r) for r in records)
    head.set_train_statistics([head.target(r) for r in records])
    notes = " | ".join(head.notes)
    assert "1 training image(s) have no boxes" in notes
    assert "2 box(es) of the annotations are thinner than 1 px" in notes
    assert "1 box(es) marked difficult or crowd" in notes
    transform = head.transforms(train=True)
    batch = []
    for r in records:
        image = tv_tensors.Image(torch.randint(0, 255, (3, r.height, r.width), dtype=torch.uint8))
        batch.append(head.sample(transform, image, head.target(r), r))
    x, y = collate(batch)
    assert x.shape == (3, 3, 96, 96)
    assert [len(t["boxes"]) for t in y] == [0, 0, 2] and y[0]["boxes"].shape == (0, 4)
    assert y[2]["ignore"].tolist() == [False, True]
    model = head.build_model(lambda m, lvl="info": None)
    model.train()
    loss = head.training_loss(model, x, y)
    assert torch.isfinite(loss) and loss.requires_grad
    loss.backward()
    head.end_of_epoch(1)  # the drops are said once per epoch, counted where the loss is computed
    assert "epoch 1: 2 box(es) were dropped" in head.notes[-1] and "1 image(s) were left with none" in head.notes[-1]
    n = len(head.notes)
    head.end_of_epoch(2)
    assert len(head.notes) == n  # nothing dropped since: nothing said
    model.eval()
    out, val_loss = head.eval_step(model, x, y)
    assert val_loss is None and out["boxes"].shape == (3, 100, 4) and out["labels"].dtype == torch.int64
    assert int(out["labels"].max()) < 2 and set(head.eval_batch(out)) == {"boxes", "scores", "labels"}


def test_every_catalog_detector_builds_with_the_contract_outputs():
    """Each model's outputs: fixed-size boxes/scores/labels, labels the project class index."""
    from studio_desktop.core.train_config import MODEL_CATALOG
    from studio_desktop.ml.models.detection import build_detector

    names = [m.name for m in MODEL_CATALOG["object_detection"]]
    assert names[0] == "tiny_fcos" and len(names) == 7
    for name in ("tiny_fcos", "ssdlite320_mobilenet_v3_large"):  # (the ResNet-50 ones take seconds each)
        model = build_detector(name, 2, 64, max_detections=7).eval()
        with torch.no_grad():
            out = model(torch.randn(2, 3, 64, 64))
        assert out["boxes"].shape == (2, 7, 4) and out["scores"].shape == (2, 7)
        assert ((out["labels"] >= -1) & (out["labels"] < 2)).all()
        head = model.net.head
        cls_logits = [m for n, m in head.named_modules() if isinstance(m, torch.nn.Conv2d)][-1]
        assert cls_logits is not None


def test_anchor_sizes_setting_reaches_the_model_or_is_refused_with_a_reason():
    from studio_desktop.core.errors import InvalidInput
    from studio_desktop.ml.models.detection import build_detector, set_anchor_sizes

    head = _head(task_settings={"anchor_sizes": "12, 24, 48"})
    model = head.build_model(lambda m, lvl="info": None)
    assert model.net.anchor_generator.sizes == ((12,), (24,), (48,))
    with pytest.raises(InvalidInput, match="3 sizes"):
        _head(task_settings={"anchor_sizes": "12, 24"}).build_model(lambda m, lvl="info": None)
    ssd = build_detector("ssdlite320_mobilenet_v3_large", 2, 64)
    with pytest.raises(InvalidInput, match="no anchor sizes"):
        set_anchor_sizes(ssd, "ssdlite320_mobilenet_v3_large", [8, 16])


# --------------------------------------------------------------------------- training


@pytest.fixture
def trained_sample(workspace):
    """The teaching detector trained a few epochs on a small shapes sample (the default settings,
    shorter)."""
    from studio_desktop.core.datasets import DatasetStore
    from studio_desktop.core.experiments import ExperimentService
    from studio_desktop.core.samples import create_sample_project
    from studio_desktop.core.splits import SplitService
    from studio_desktop.worker.train import run_training

    project = create_sample_project(workspace, "object_detection", images=48, seed=2)
    splits = SplitService(workspace, project.id)
    plan = splits.plan(project, DatasetStore(workspace, project.id).load(), ratios=(0.75, 0.25), seed=0)
    split = splits.create("s", plan)
    cfg = defaults_for("object_detection").model_copy(update={"split_id": split.id, "epochs": 12, "input_size": 96})
    assert cfg.model == "tiny_fcos" and not cfg.pretrained
    exp = ExperimentService(workspace, project.id).create(cfg)
    outcome = run_training(workspace, project.id, exp.id)
    assert outcome.status == "completed", outcome.error
    return project, exp, outcome


@pytest.mark.slow
def test_teaching_detector_learns_the_sample_and_its_checkpoint_comes_back(workspace, trained_sample):
    from studio_desktop.core.experiments import ExperimentService
    from studio_desktop.ml.checkpoint import load_trained

    project, exp, outcome = trained_sample
    rows = [json.loads(line) for line in
            (ExperimentService(workspace, project.id).folder(exp.id) / "metrics.jsonl").read_text().splitlines()]
    curve = [r["val_map_50"] for r in rows if "val_map_50" in r]
    assert len(curve) == 12
    assert max(curve) >= 0.2 and max(curve) > curve[0] + 0.12, f"validation mAP@0.5 by epoch: {curve}"
    assert outcome.summary["best"]["metric"] == "map"
    trained = load_trained(workspace, project.id, exp.id, "best")
    assert isinstance(trained.head, DetectionHead) and not trained.model.training
    from studio_desktop.core.datasets import DatasetStore

    x = trained.preprocessing.tensor(next(DatasetStore(workspace, project.id).images_dir.glob("*.png")))[None]
    ckpt = torch.load(trained.checkpoint, map_location="cpu", weights_only=False)
    again = trained.head.build_model(lambda m, lvl="info": None)
    again.load_state_dict({k.removeprefix("model."): v for k, v in ckpt["state_dict"].items()})
    a, b = trained(x), again.eval()(x)
    assert torch.equal(a["boxes"], b["boxes"]) and torch.equal(a["labels"], b["labels"])
    assert float(a["scores"][0, 0]) > 0.2  # it finds something in a sample image


@pytest.mark.slow
def test_studio_train_on_a_detection_project_from_the_cli(tmp_path):
    ws = tmp_path / "ws"
    env = dict(os.environ, OMP_NUM_THREADS="1")

    def studio(*args):
        return subprocess.run([sys.executable, "-m", "studio_desktop", "--workspace", str(ws), *args],
                              capture_output=True, text=True, timeout=300, env=env)

    assert studio("sample", "--task", "object_detection", str(tmp_path / "s"), "--images", "16").returncode == 0
    assert studio("project", "create", "shapes", "--task", "object_detection").returncode == 0
    assert studio("dataset", "import", "shapes", str(tmp_path / "s")).returncode == 0
    assert studio("split", "create", "shapes").returncode == 0
    res = studio("train", "shapes", "--epochs", "2", "--set", "input_size=64", "--set", "nms_iou=0.6",
                 "--device", "cpu", "--json")
    assert res.returncode == 0, res.stderr
    events = [json.loads(line) for line in res.stdout.splitlines()]
    assert events[-1]["event"] == "completed" and "map" in events[-1]["summary"]["val"]
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [1, 2]
    (exp_json,) = ws.glob("projects/*/experiments/*/experiment.json")
    stored = json.loads(exp_json.read_text())
    assert stored["config"]["model"] == "tiny_fcos" and stored["config"]["task_settings"] == {"nms_iou": 0.6}


# --------------------------------------------------------------------------- pretrained weights


def test_coco_weights_file_loads_all_but_the_class_layers(tmp_path):
    """A detector's COCO weights (here: a file chosen in the 'Weights file' setting) start every
    layer but those sized to COCO's 91 classes; batch norm is then frozen and the checkpoint says so."""
    import torchvision.models.detection as tvd

    coco = tvd.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=91)
    path = tmp_path / "ssdlite_coco.pth"
    torch.save(coco.state_dict(), path)
    head = _head(model="ssdlite320_mobilenet_v3_large", pretrained=True, weights_file=str(path), input_size=64)
    logs = []
    model = head.build_model(lambda m, lvl="info": logs.append(m))
    assert head.weights_used is not None and head.weights_used["file"] == str(path)
    assert "loaded pretrained weights" in logs[-1]
    ours, theirs = model.net.state_dict(), coco.state_dict()
    same = [k for k in theirs if k in ours and ours[k].shape == theirs[k].shape]
    assert torch.equal(ours[same[0]], theirs[same[0]]) and len(same) > 0.8 * len(theirs)
    assert any(ours[k].shape != theirs[k].shape for k in theirs if "classification_head" in k)
    assert head.checkpoint_meta()["frozen_norm"] is True
    from torchvision.ops.misc import FrozenBatchNorm2d

    assert any(isinstance(m, FrozenBatchNorm2d) for m in model.net.backbone.modules())
    rebuilt = _head(model="ssdlite320_mobilenet_v3_large", input_size=64)  # as load_trained rebuilds it
    rebuilt.restore_meta(head.checkpoint_meta())
    rebuilt.build_model(lambda m, lvl="info": None).load_state_dict(model.state_dict(), strict=True)


def test_without_coco_weights_the_imagenet_backbone_starts_the_detector(tmp_path, monkeypatch):
    import dataclasses
    import hashlib

    import torchvision.models as tvm

    from studio_desktop.core import weights_catalog

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    imagenet = tvm.mobilenet_v3_large(weights=None)
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    tmp = folder / "x.pth"
    torch.save(imagenet.state_dict(), tmp)
    sha = hashlib.sha256(tmp.read_bytes()).hexdigest()
    name = f"mobilenet_v3_large-{sha[:8]}.pth"
    tmp.rename(folder / name)
    real = weights_catalog.default_weights("mobilenet_v3_large")
    entry = dataclasses.replace(real, url=f"https://example.org/models/{name}",
                                size_mib=(folder / name).stat().st_size / 2**20)
    monkeypatch.setitem(weights_catalog.WEIGHTS, "mobilenet_v3_large", (entry,))
    head = _head(model="fasterrcnn_mobilenet_v3_large_320_fpn", pretrained=True, input_size=64)
    logs = []
    model = head.build_model(lambda m, lvl="info": logs.append(m))
    assert "ImageNet weights of mobilenet_v3_large" in logs[-1] and "from scratch" in logs[-1]
    assert head.weights_used["part"].startswith("backbone only")
    body = model.net.backbone.body.state_dict()
    assert torch.equal(body["0.0.weight"], imagenet.state_dict()["features.0.0.weight"])


def test_fcos_box_regression_starts_alive():
    """A from-scratch FCOS must not start with its box outputs at the ReLU's edge: on seed 1 of the
    shapes sample every output went below 0 early and stayed there (boxes of zero size, mAP 0)."""
    from studio_desktop.ml.models.detection import build_detector

    model = build_detector("tiny_fcos", 3, 64).eval()
    outputs = []
    model.net.head.regression_head.bbox_reg.register_forward_hook(lambda m, i, o: outputs.append(o.detach()))
    with torch.no_grad():
        model(torch.randn(2, 3, 64, 64))
    assert outputs and all(float((o > 0).float().mean()) > 0.95 for o in outputs)
