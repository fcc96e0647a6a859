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


def test_rotation_corners_take_the_border_colour_too():
    from studio_desktop.core.train_config import AugmentationStep

    torch.manual_seed(0)
    rotate = build_transforms([AugmentationStep(name="rotation", params={"degrees": 40})], 64, train=True,
                              normalize=False)
    white = tv_tensors.Image(torch.full((3, 64, 64), 255, dtype=torch.uint8))
    for _ in range(5):
        out = rotate(white)
        corner = (out[:, 0, 0] * 255).round().tolist()
        if corner != [255.0, 255.0, 255.0]:  # (an angle near 0 leaves the corner inside the image)
            assert tuple(int(c) for c in corner) == BORDER_FILL
            break
    else:
        raise AssertionError("five rotations of up to 40 degrees never uncovered a corner")
