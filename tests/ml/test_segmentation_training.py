"""Semantic segmentation training: masks move with their images (borders are ignore), unknown mask
values are ignored and said, the loss leaves ignore pixels out, the sliding window equals the
whole-image prediction, every catalog network keeps the contract, a tiny U-Net learns."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from PIL import Image  # noqa: E402
from torchvision import tv_tensors  # noqa: E402

from studio_desktop.core.schemas import ClassInfo, ImageRecord, Project  # noqa: E402
from studio_desktop.core.segmentation import IGNORE  # noqa: E402
from studio_desktop.core.train_config import AugmentationStep, defaults_for  # noqa: E402
from studio_desktop.ml.preprocess import Preprocessing  # noqa: E402
from studio_desktop.ml.tasks.segmentation import SegmentationHead, dice_loss, scores_of  # noqa: E402

pytestmark = pytest.mark.ml

CAMVID_IDS = list(range(12))  # CamVid's 11 classes + void (11)


def _project(ids=CAMVID_IDS, names=None) -> Project:
    names = names or [f"c{i}" for i in ids]
    return Project(id="p", name="streets", task="semantic_segmentation",
                   classes=[ClassInfo(id=i, name=n) for i, n in zip(ids, names, strict=True)])


def _head(project=None, root=None, **changes) -> SegmentationHead:
    settings = changes.pop("task_settings", {})
    cfg = defaults_for("semantic_segmentation").model_copy(update={"input_size": 64, "task_settings": settings,
                                                                    **changes})
    head = SegmentationHead(project or _project(), cfg)
    head.root = root
    head.notes = []
    head.report = lambda message, level="info": head.notes.append((level, message))
    return head


def _camvid(real_fixtures):
    folder = real_fixtures / "masks_camvid"
    name = sorted(p.name for p in (folder / "trainannot").iterdir())[0]
    with Image.open(folder / "trainannot" / name) as im:
        mask = np.asarray(im).copy()
    return folder, f"trainannot/{name}", mask


def _painted(mask: np.ndarray) -> np.ndarray:
    """An image whose colour says the class: red = 20 * class id (so a moved pixel is checkable)."""
    img = np.zeros((*mask.shape, 3), np.uint8)
    img[..., 0] = mask.astype(np.uint8) * 20
    img[..., 1] = 128
    return img


# --------------------------------------------------------------------------- the joint transform


def test_masks_move_with_their_images_and_new_borders_are_ignore(real_fixtures):
    """A real CamVid mask and an image painted from it go through flip + zoom + rotation + letterbox
    (the image shrunk first, as the image cache does): where the mask says class k, the image
    still shows class k's colour; every pixel the geometry invented is ignore, never a class."""
    root, rel, mask = _camvid(real_fixtures)
    h, w = mask.shape
    record = ImageRecord(id="r", file="x.png", width=w, height=h, sha256="0" * 64, mask=rel)
    head = _head(root=root, input_size=96)
    steps = [AugmentationStep(name="flip_horizontal", params={"p": 1.0}),
             AugmentationStep(name="resized_crop", params={"scale_min": 0.4}),
             AugmentationStep(name="rotation", params={"degrees": 20})]
    from studio_desktop.ml.segmentation_data import segmentation_transforms

    transform = segmentation_transforms(steps, 96, train=True)
    small = Image.fromarray(_painted(mask)).resize((w // 2, h // 2), Image.Resampling.NEAREST)
    image = tv_tensors.Image(torch.from_numpy(np.asarray(small).copy()).permute(2, 0, 1))
    torch.manual_seed(0)
    for _ in range(3):
        x, y = head.sample(transform, image, head.target(record), record)
        assert x.shape == (3, 96, 96) and y.shape == (96, 96) and y.dtype == torch.int64
        red = ((x[0] * 0.229 + 0.485) * 255).round().numpy()
        labels = y.numpy()
        valid = labels != IGNORE
        assert valid.mean() > 0.3 and (~valid).any()  # letterbox and rotation corners are ignore
        # away from region edges (resampling blends the image, never the mask) the colour matches
        inner = valid.copy()
        for dy, dx in ((0, 1), (1, 0), (0, -1), (-1, 0)):
            inner &= np.roll(labels, (dy, dx), axis=(0, 1)) == labels
        agree = np.abs(red[inner] - labels[inner] * 20) <= 12
        assert agree.mean() > 0.97


def test_evaluation_letterbox_pads_the_mask_with_ignore(real_fixtures):
    root, rel, mask = _camvid(real_fixtures)  # 480 x 360: 4:3, padded top and bottom
    h, w = mask.shape
    record = ImageRecord(id="r", file="x.png", width=w, height=h, sha256="0" * 64, mask=rel)
    head = _head(root=root, input_size=64)
    image = tv_tensors.Image(torch.from_numpy(_painted(mask)).permute(2, 0, 1))
    x, y = head.sample(head.transforms(train=False), image, head.target(record), record)
    ref = Preprocessing(64).transform()(image)
    assert torch.equal(x, ref)  # the image is exactly what evaluation and prediction feed
    assert (y[:8] == IGNORE).all() and (y[-8:] == IGNORE).all() and (y[16:48] != IGNORE).all()


def test_a_mask_value_that_is_no_class_is_ignored_and_reported_once(tmp_path):
    (tmp_path / "masks").mkdir()
    values = np.zeros((16, 16), np.uint8)
    values[:4] = 1
    values[4:6] = 7  # no class of the project has id 7
    values[6:8] = 255
    Image.fromarray(values, mode="L").save(tmp_path / "masks" / "a.png")
    rgb = tmp_path / "masks" / "rgb.png"
    Image.new("RGB", (16, 16)).save(rgb)
    head = _head(_project([0, 1], ["background", "thing"]), root=tmp_path, input_size=16,
                 task_settings={"class_weights": "balanced"})
    head.set_train_statistics(["masks/a.png"])
    warnings = [m for lvl, m in head.notes if lvl == "warning"]
    assert len(warnings) == 1 and "32 mask pixels" in warnings[0] and "7" in warnings[0] and "masks/a.png" in warnings[0]
    assert head.class_weights is not None and head.class_weights[1] > head.class_weights[0]
    record = ImageRecord(id="a", file="a.png", width=16, height=16, sha256="0" * 64, mask="masks/a.png")
    image = tv_tensors.Image(torch.zeros(3, 16, 16, dtype=torch.uint8))
    _, y = head.sample(head.transforms(train=False), image, "masks/a.png", record)
    assert (y[4:8] == IGNORE).all() and (y[:4] == 1).all() and (y[8:] == 0).all()
    from studio_desktop.core.errors import InvalidInput
    from studio_desktop.ml.segmentation_data import read_mask

    with pytest.raises(InvalidInput, match="RGB image, not an index"):
        read_mask(rgb)


# --------------------------------------------------------------------------- loss and metrics


def test_the_loss_ignores_ignore_pixels_and_survives_a_crop_of_nothing_but_ignore():
    head = _head(_project([0, 1, 2], ["background", "a", "b"]))
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 8, 8, requires_grad=True)
    target = torch.randint(0, 3, (2, 8, 8))
    target[:, :3] = IGNORE
    changed = logits.detach().clone()
    changed[:, :, :3] = torch.randn(2, 3, 3, 8) * 10  # what the network says at ignore pixels
    assert torch.allclose(head.loss(logits, target), head.loss(changed, target))
    loss = head.loss(logits, torch.full((2, 8, 8), IGNORE))
    loss.backward()
    assert float(loss.detach()) == 0.0 and logits.grad is not None
    perfect = torch.nn.functional.one_hot(target.clamp(max=2), 3).permute(0, 3, 1, 2).float() * 50
    assert float(dice_loss(perfect, target, target != IGNORE)) < 1e-3


def test_miou_leaves_out_classes_absent_from_truth_and_prediction():
    cm = np.array([[8, 2, 0], [0, 4, 0], [0, 0, 0]])  # class 2: nowhere
    s = scores_of(cm)
    assert s["miou"] == pytest.approx((8 / 10 + 4 / 6) / 2)
    assert s["pixel_accuracy"] == pytest.approx(12 / 14)
    assert s["dice"] == pytest.approx((16 / 18 + 8 / 10) / 2)


# --------------------------------------------------------------------------- models and inference


def test_every_catalog_network_returns_logits_at_the_input_size():
    from studio_desktop.core.train_config import MODEL_CATALOG
    from studio_desktop.ml.models.segmentation import build_segmenter

    names = [m.name for m in MODEL_CATALOG["semantic_segmentation"]]
    assert names[0] == "tiny_unet"
    for name in names:  # shapes only (the meta device computes no numbers): quick for ResNet-50s
        with torch.device("meta"):
            model = build_segmenter(name, 3).eval()
            out = model(torch.randn(1, 3, 50, 70))  # not a multiple of 32: the wrapper pads and crops
        assert out.shape == (1, 3, 50, 70), name


class _Pointwise(torch.nn.Module):
    """A per-pixel network: its output at a pixel depends on that pixel only, so any tiling of the
    image must give exactly the whole-image answer."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.conv = torch.nn.Conv2d(3, 4, 1)

    def forward(self, x):
        return self.conv(x) * 3


def test_sliding_window_equals_the_whole_image_prediction():
    from studio_desktop.ml.models.segmentation import build_segmenter
    from studio_desktop.ml.segmentation_infer import sliding_window, softmax, tile_starts, torch_runner

    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 70, 101)).astype(np.float32)
    run = torch_runner(_Pointwise().eval())
    whole = softmax(run(x[None]))[0]
    for blend in ("gaussian", "linear"):
        tiled = sliding_window(run, x, 32, overlap=0.25, blend=blend, tile_batch=3)
        assert tiled.shape == whole.shape
        np.testing.assert_allclose(tiled, whole, atol=2e-6)
    assert tile_starts(101, 32, 0.25) == [0, 24, 48, 69] and tile_starts(20, 32, 0.5) == [0]
    # a real U-Net on an image of exactly one tile: the window is the whole image
    unet = torch_runner(build_segmenter("tiny_unet", 3).eval())
    y = x[:, :64, :64].copy()
    np.testing.assert_allclose(sliding_window(unet, y, 64, 0.25), softmax(unet(y[None]))[0], atol=1e-6)


def test_predict_probabilities_at_the_original_size_in_both_modes(real_fixtures):
    from studio_desktop.core.task_settings import SegmentationSettings
    from studio_desktop.ml.segmentation_infer import index_mask, predict_probabilities, torch_runner

    with Image.open(next((real_fixtures / "masks_camvid" / "val").iterdir())) as im:
        image = np.asarray(im.convert("RGB").resize((150, 113)))
    seen = []

    def run(batch):
        seen.append(batch.shape)
        return _Pointwise()(torch.from_numpy(batch)).detach().numpy()

    pre = Preprocessing(64)
    resized = predict_probabilities(run, image, pre, SegmentationSettings())
    assert resized.shape == (4, 113, 150) and seen == [(1, 3, 64, 64)]
    np.testing.assert_allclose(resized.sum(0), 1.0, atol=1e-5)
    seen.clear()
    tiles = SegmentationSettings(mode="tiles", crop_size=64, overlap=0.25, tile_batch=2)
    tiled = predict_probabilities(run, image, pre, tiles)
    assert tiled.shape == (4, 113, 150) and max(s[0] for s in seen) <= 2 and all(s[2:] == (64, 64) for s in seen)
    half = predict_probabilities(run, image, pre, tiles.model_copy(update={"scale": 0.5}))
    assert half.shape == (4, 113, 150)
    # per-pixel network: the tiled prediction at full scale is the network on the image itself
    x = (image.astype(np.float32).transpose(2, 0, 1) / 255 - np.array(pre.mean, np.float32)[:, None, None]) \
        / np.array(pre.std, np.float32)[:, None, None]
    direct = torch_runner(_Pointwise().eval())(x[None].astype(np.float32))[0]
    assert (index_mask(tiled) == direct.argmax(0)).mean() > 0.999


# --------------------------------------------------------------------------- learning


def _sample_batch(workspace, n=12, size=48):
    from studio_desktop.core.datasets import DatasetStore
    from studio_desktop.core.samples import create_sample_project

    project = create_sample_project(workspace, "semantic_segmentation", images=n, seed=3)
    store = DatasetStore(workspace, project.id)
    head = _head(project, root=store.root, input_size=size)
    transform = head.transforms(train=False)
    from studio_desktop.ml.data import decode

    pairs = [head.sample(transform, tv_tensors.Image(decode(store.root / r.file)), head.target(r), r)
             for r in store.load().images]
    return head, torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])


def test_a_tiny_unet_learns_the_shapes_sample(workspace):
    """Forty steps on eight 48 px images of the segmentation sample (a half-width Tiny U-Net, to stay
    quick): mIoU goes from what "everything is background" scores to well above it."""
    from studio_desktop.ml.models.segmentation import Segmenter, TinyUNet

    head, x, y = _sample_batch(workspace, n=8)
    torch.manual_seed(0)
    model = Segmenter(TinyUNet(head.num_classes, width=8), TinyUNet.STRIDE)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    metric = head.metrics()

    def miou():
        with torch.no_grad():
            metric.reset()
            head.update_metrics(metric, model(x), y)
        return head.compute_metrics(metric)["miou"]

    before = miou()
    for _ in range(40):
        loss = head.training_loss(model, x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = miou()  # (train-mode batch norm: forty steps leave its running statistics behind)
    assert before < 0.35 and after > 0.45 and after > before + 0.3, (before, after)


def test_deep_supervision_maps_train_the_tiny_unet_and_stay_out_of_prediction():
    """The Tiny U-Net's coarse heads (1/16, 1/8 of the padded input) join the training loss as
    cross-entropy against the nearest-downsampled mask (padding is ignore), weighted by
    ``aux_weight``; in eval mode there are none, so predictions and exports are the plain logits;
    and a checkpoint saved before the heads existed still loads."""
    import torch.nn.functional as F

    from studio_desktop.ml.models.segmentation import Segmenter, TinyUNet

    torch.manual_seed(0)
    model = Segmenter(TinyUNet(4, width=8), TinyUNet.STRIDE).train()
    x = torch.randn(2, 3, 40, 56)  # not multiples of 16: padded to 48 x 64
    y = torch.randint(0, 4, (2, 40, 56))
    y[0, :5] = IGNORE
    logits, aux = model.forward_train(x)
    assert logits.shape == (2, 4, 40, 56) and [a.shape[-2:] for a in aux] == [(3, 4), (6, 8)]
    head = _head(_project([0, 1, 2, 3]), task_settings={"aux_weight": 0.4})
    padded = F.pad(y, (0, 8, 0, 8), value=IGNORE)
    expected = head.loss(logits, y)
    for coarse in aux:
        small = F.interpolate(padded[:, None].float(), size=coarse.shape[-2:], mode="nearest")[:, 0].long()
        expected = expected + 0.4 * F.cross_entropy(coarse, small, ignore_index=IGNORE)
    torch.manual_seed(1)
    got = head.training_loss(model, x, y)
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)
    off = _head(_project([0, 1, 2, 3]), task_settings={"aux_weight": 0.0})
    assert off.training_loss(model, x, y).item() == pytest.approx(head.loss(logits, y).item(), rel=1e-5)
    assert got.item() > off.training_loss(model, x, y).item() + 1e-3
    got.backward()  # the heads learn
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.net.aux.parameters())

    model.eval()
    assert model.forward_train(x)[1] == []
    assert torch.equal(model(x), model.forward_train(x)[0])
    old = {k: v for k, v in model.state_dict().items() if ".aux." not in k}  # a checkpoint from before
    fresh = Segmenter(TinyUNet(4, width=8), TinyUNet.STRIDE).eval()
    fresh.load_state_dict(old)
    assert torch.equal(fresh(x), model(x))


@pytest.mark.slow
def test_training_on_the_sample_end_to_end_and_the_checkpoint_comes_back(workspace):
    from studio_desktop.core.datasets import DatasetStore
    from studio_desktop.core.experiments import ExperimentService
    from studio_desktop.core.samples import create_sample_project
    from studio_desktop.core.splits import SplitService
    from studio_desktop.ml.checkpoint import load_trained
    from studio_desktop.ml.segmentation_infer import predict_probabilities, torch_runner
    from studio_desktop.worker.train import run_training

    project = create_sample_project(workspace, "semantic_segmentation", images=16, seed=1)
    splits = SplitService(workspace, project.id)
    store = DatasetStore(workspace, project.id)
    split = splits.create("s", splits.plan(project, store.load(), ratios=(0.75, 0.25), seed=0))
    cfg = defaults_for("semantic_segmentation").model_copy(update={
        "split_id": split.id, "epochs": 3, "input_size": 64,
        "task_settings": {"mode": "tiles", "crop_size": 64, "overlap": 0.25}})
    assert cfg.model == "tiny_unet" and not cfg.pretrained
    exp = ExperimentService(workspace, project.id).create(cfg)
    outcome = run_training(workspace, project.id, exp.id)
    assert outcome.status == "completed", outcome.error
    assert 0.0 < outcome.summary["val"]["miou"] <= 1.0  # validated whole images by the sliding window
    trained = load_trained(workspace, project.id, exp.id, "best")
    rec = store.load().images[0]
    with Image.open(store.root / rec.file) as im:
        image = np.asarray(im.convert("RGB"))
    probs = predict_probabilities(torch_runner(trained.model), image, trained.preprocessing, trained.head.settings)
    assert probs.shape == (len(project.classes), rec.height, rec.width)


def test_the_backbone_starts_from_imagenet_weights_of_the_store(tmp_path, monkeypatch):
    """unet_resnet18 takes resnet18's file of the weights store (never smp's own download): every
    encoder tensor equals the file's; without the file the log says it learns from scratch."""
    import dataclasses
    import hashlib

    import torchvision.models as tvm

    from studio_desktop.core import weights_catalog

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    head = _head(_project([0, 1], ["background", "thing"]), model="unet_resnet18", pretrained=True)
    logs = []
    head.build_model(lambda m, lvl="info": logs.append(m))
    assert head.weights_used is None and "learns from scratch" in logs[-1] and "resnet18" in logs[-1]
    imagenet = tvm.resnet18(weights=None)
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    tmp = folder / "x.pth"
    torch.save(imagenet.state_dict(), tmp)
    sha = hashlib.sha256(tmp.read_bytes()).hexdigest()
    name = f"resnet18-{sha[:8]}.pth"
    tmp.rename(folder / name)
    entry = dataclasses.replace(weights_catalog.default_weights("resnet18"), url=f"https://example.org/models/{name}",
                                size_mib=(folder / name).stat().st_size / 2**20)
    monkeypatch.setitem(weights_catalog.WEIGHTS, "resnet18", (entry,))
    model = head.build_model(lambda m, lvl="info": logs.append(m))
    assert head.weights_used["part"].startswith("backbone only") and "ImageNet weights of resnet18" in logs[-1]
    encoder = model.backbone.state_dict()
    for key, value in imagenet.state_dict().items():
        if not key.startswith("fc."):
            assert torch.equal(encoder[key], value), key
