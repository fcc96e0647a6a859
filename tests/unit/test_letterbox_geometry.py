"""core/letterbox.py (numpy) maps boxes exactly as the torch letterbox transform moves them."""

from __future__ import annotations

import numpy as np
import pytest

from studio_desktop.core.letterbox import letterbox_params, letterbox_size, to_input, to_original

# odd sizes: portrait, landscape, square, smaller than the input (upscaled), extreme aspect
SIZES = [(333, 251), (251, 333), (97, 97), (641, 479), (17, 300), (1001, 31), (40, 30)]


@pytest.mark.parametrize("width,height", SIZES)
@pytest.mark.parametrize("size", [64, 320])
def test_matches_the_torch_letterbox(width, height, size):
    torch = pytest.importorskip("torch")
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    from studio_desktop.ml.augment import ToPIL, letterbox

    rng = np.random.default_rng(width * 7 + height)
    xy = rng.uniform(0, 1, size=(5, 4)) * [width, height, width, height]
    boxes = np.concatenate([np.minimum(xy[:, :2], xy[:, 2:]), np.maximum(xy[:, :2], xy[:, 2:])], axis=1)
    boxes = np.vstack([boxes, [[0, 0, width, height]]])  # the whole image too
    image = tv_tensors.Image(torch.zeros((3, height, width), dtype=torch.uint8))
    tv_boxes = tv_tensors.BoundingBoxes(torch.tensor(boxes, dtype=torch.float32), format="XYXY",
                                        canvas_size=(height, width))
    out_image, out_boxes = v2.Compose([ToPIL(), *letterbox(size)])(image, tv_boxes)
    new_w, new_h = letterbox_size(width, height, size)
    assert out_image.size == (size, size)
    mapped = to_input(boxes, width, height, size)
    np.testing.assert_allclose(mapped, out_boxes.numpy(), atol=1e-3)
    # the whole image becomes the scaled image's rectangle, centred
    scale, px, py = letterbox_params(width, height, size)
    np.testing.assert_allclose(mapped[-1], [px, py, px + new_w, py + new_h], atol=1e-3)
    assert scale == pytest.approx(size / max(width, height))
    # and back to the original, within float precision
    np.testing.assert_allclose(to_original(mapped, width, height, size), boxes, atol=2e-3 * max(width, height))


def test_round_trip_and_clamping_without_torch():
    boxes = np.array([[10.5, 20.25, 300.0, 200.0]])
    there = to_input(boxes, 333, 251, 320)
    np.testing.assert_allclose(to_original(there, 333, 251, 320), boxes, atol=1e-3)
    # a prediction reaching into the letterbox border ends at the image's edge
    scale, px, py = letterbox_params(333, 251, 320)
    assert px == 0 and py > 0
    back = to_original(np.array([[-5.0, 0.0, 330.0, 319.0]]), 333, 251, 320)
    assert back[0].tolist() == [0.0, 0.0, 333.0, 251.0]


def test_empty_boxes_keep_their_shape():
    assert to_input(np.zeros((0, 4)), 100, 50, 32).shape == (0, 4)
    assert to_original([], 100, 50, 32).shape == (0, 4)
