"""The DataModule decodes no more pixels than training uses, in parallel, with seeded batches."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from studio_desktop.core.schemas import ImageRecord  # noqa: E402
from studio_desktop.core.train_config import AugmentationStep  # noqa: E402
from studio_desktop.ml.augment import build_transforms, zooms  # noqa: E402
from studio_desktop.ml.data import Detail, StudioDataModule, decode, drops_last, shrink  # noqa: E402

pytestmark = pytest.mark.ml


def _photo(path, w, h, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    arr = np.stack([(xx * (0.2 + c / 10) + yy * 0.3 + 40 * c) % 255 for c in range(3)], -1)
    arr = np.clip(arr + rng.normal(0, 10, arr.shape), 0, 255).astype(np.uint8)
    Image.fromarray(arr).save(path, quality=90)
    return path


def test_a_large_jpeg_is_decoded_only_as_large_as_training_uses(tmp_path):
    path = _photo(tmp_path / "big.jpg", 800, 600)
    fit = decode(path, Detail(64))
    # DCT scaling stops at the largest reduction still covering the letterbox (long side >= 64)
    assert fit.shape[0] == 3 and 64 <= fit.shape[2] < 128 and fit.shape[2] * 600 == fit.shape[1] * 800
    assert shrink(fit, Detail(64)).shape[1:] == (48, 64)
    # a resized crop zooms in: the short side keeps twice the input size
    zoom = decode(path, Detail(64, zoom=True))
    assert zoom.shape[1] >= 128 and shrink(zoom, Detail(64, zoom=True)).shape[1] == 128
    # small images are never enlarged; without a detail the whole image is decoded
    small = _photo(tmp_path / "small.jpg", 50, 40)
    assert shrink(decode(small, Detail(64)), Detail(64)).shape[1:] == (40, 50)
    assert decode(path).shape[1:] == (600, 800)
    # the decoded pixels are the picture, not a different one: close to a full decode shrunk alike
    full = shrink(decode(path), Detail(64)).float()
    assert (shrink(fit, Detail(64)).float() - full).abs().mean() < 6


def test_zoom_is_needed_only_for_an_enabled_resized_crop():
    assert zooms([AugmentationStep(name="resized_crop")])
    assert not zooms([AugmentationStep(name="resized_crop", enabled=False), AugmentationStep(name="rotation")])


def _module(tmp_path, threads, n=21, batch=8):
    (tmp_path / "images").mkdir(exist_ok=True)
    records = []
    for i in range(n):
        p = _photo(tmp_path / "images" / f"{i}.jpg", 320, 240, seed=i)
        records.append(ImageRecord(id=str(i), file=f"images/{i}.jpg", width=320, height=240,
                                   sha256=hashlib.sha256(p.read_bytes()).hexdigest(), label=i % 3))
    augs = [AugmentationStep(name=k) for k in ("flip_horizontal", "rotation", "color_jitter")]
    return StudioDataModule({"train": records}, tmp_path, lambda r: r.label,
                            train_transform=build_transforms(augs, 32, train=True),
                            eval_transform=build_transforms([], 32, train=False), size=32, batch_size=batch,
                            seed=3, threads=threads)


def _epoch(dm):
    torch.manual_seed(7)
    return [(x.clone(), y.clone()) for x, y in dm.train_dataloader()]


def test_parallel_decoding_gives_exactly_the_batches_of_one_thread(tmp_path):
    one, four = _module(tmp_path, threads=1), _module(tmp_path, threads=4)
    a, b = _epoch(one), _epoch(four)  # first epochs: every image decoded (in parallel for `four`)
    assert four.sets["train"]._pool is not None and one.sets["train"]._pool is None
    assert len(a) == len(b) == 3
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        assert torch.equal(ya, yb) and torch.equal(xa, xb)
    # later epochs come from the cache and are still the same batches
    for (xa, ya), (xb, yb) in zip(_epoch(one), _epoch(four), strict=True):
        assert torch.equal(ya, yb) and torch.equal(xa, xb)
    assert len(one.sets["train"].cache) == 21


def test_every_training_image_is_used_unless_a_batch_of_one_is_left(tmp_path):
    assert not drops_last(21, 8) and not drops_last(16, 8) and not drops_last(5, 8)
    assert drops_last(17, 8)  # batch norm cannot train on a batch of one
    dm = _module(tmp_path, threads=1)
    assert sum(len(y) for _, y in dm.train_dataloader()) == 21
