"""Letterbox borders: mean colour (≈ 0 after normalisation), not black; masks and boxes follow."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torchvision import tv_tensors  # noqa: E402
from torchvision.transforms import v2  # noqa: E402

from studio_desktop.ml.augment import BORDER_FILL, build_transforms, letterbox  # noqa: E402

pytestmark = pytest.mark.ml


def test_borders_have_the_mean_colour_and_vanish_after_normalisation():
    image = tv_tensors.Image(torch.full((3, 48, 64), 200, dtype=torch.uint8))
    out = build_transforms([], 32, train=False, normalize=True)(image)
    assert out.shape == (3, 32, 32)
    # rows 0..3 are border (48x64 -> 24x32, centred on 32x32): normalised mean colour is ~0, not -2
    assert out[:, 0].abs().max() < 0.02
    assert out[:, 16].min() > 1.0  # the image itself (grey 200) is kept


def test_masks_pad_with_background_and_boxes_shift():
    image = tv_tensors.Image(torch.full((3, 64, 32), 9, dtype=torch.uint8))
    mask = tv_tensors.Mask(torch.ones(64, 32, dtype=torch.uint8))
    boxes = tv_tensors.BoundingBoxes([[0, 0, 32, 64]], format="XYXY", canvas_size=(64, 32))
    img, box, msk = v2.Compose(letterbox(32))(image, boxes, mask)
    assert tuple(img[:, 5, 0].tolist()) == BORDER_FILL and img[0, 5, 10] == 9
    assert msk.shape == (32, 32) and msk[:, :8].sum() == 0 and msk[:, 8:24].all()
    assert box.tolist() == [[8, 0, 24, 32]]
