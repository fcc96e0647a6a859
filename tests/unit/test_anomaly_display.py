"""core/anomaly.py: the colour scale keeps the threshold in its middle, heat maps fade where normal,
maps go back to the original image through the letterbox (and masks onto the map grid) exactly."""

from __future__ import annotations

import numpy as np
import pytest

from studio_desktop.core import anomaly as heat
from studio_desktop.core.letterbox import letterbox_params


def test_display_range_puts_the_threshold_in_the_middle():
    normal = np.array([0.1, 0.2, 0.3, 0.25])
    low, high = heat.display_range(normal, 0.5)
    assert low == pytest.approx(np.median(normal)) and (0.5 - low) == pytest.approx(high - 0.5)
    # defects far above: the scale reaches them, the threshold still maps to the middle colour
    defects = np.array([2.0, 3.0, 4.0, 10.0])
    low2, high2 = heat.display_range(normal, 0.5, scores_anomalous=defects)
    assert low2 == low and high2 == pytest.approx(np.percentile(defects, 95))
    assert heat.levels([0.5], low2, high2, threshold=0.5)[0] == pytest.approx(heat.THRESHOLD_POSITION)
    assert heat.levels([low2, high2], low2, high2, threshold=0.5).tolist() == [0.0, 1.0]
    # no normal scores, or all above the threshold: still a usable range around it
    for scores in ([], [0.9, 1.0]):
        lo, hi = heat.display_range(scores, 0.5)
        assert lo < 0.5 < hi
    assert heat.display_range([], float("nan"))[0] < heat.display_range([], float("nan"))[1]


def test_heat_rgba_colours_and_fading():
    low, high = 0.0, 2.0
    rgba = heat.heat_rgba(np.array([[0.0, 1.0, 2.0, 5.0, np.nan]]), low, high, alpha=0.8)
    assert rgba.shape == (1, 5, 4) and rgba.dtype == np.uint8
    assert rgba[0, 0, 3] == 0  # at low: transparent, the photo shows
    assert rgba[0, 2, 3] == round(255 * 0.8) and np.array_equal(rgba[0, 2], rgba[0, 3])  # clipped at high
    assert rgba[0, 1, :3].tolist() == heat.COLOUR_TABLE[128].tolist()  # the middle colour at the middle
    assert rgba[0, 4, 3] == 0  # NaN drawn as nothing
    flat = heat.heat_rgba(np.zeros((2, 2)), low, high, alpha=0.5, fade=False)
    assert (flat[..., 3] == 128).all()
    # the table goes from cold (blue-ish) to hot (red-ish)
    cold, hot = heat.COLOUR_TABLE[0].astype(int), heat.COLOUR_TABLE[-1].astype(int)
    assert cold[2] > cold[0] and hot[0] > hot[2]


def test_resize_map_undoes_the_letterbox():
    size, grid = 256, 64
    width, height = 200, 100  # letterboxed: 256 x 128 content, 64 px bands above and below
    scale, pad_x, pad_y = letterbox_params(width, height, size)
    assert (pad_x, pad_y) == (0, 64)
    # a map whose value is the input row (in input pixels) of each grid cell's centre
    rows = (np.arange(grid) + 0.5) * size / grid
    m = np.repeat(rows[:, None], grid, axis=1).astype(np.float32)
    back = heat.resize_map(m, width, height, input_size=size)
    assert back.shape == (height, width)
    # original row y sits at input row pad_y + (y + 0.5) * scale: the map says so (bilinear is exact
    # on a linear ramp away from the edges)
    y = np.arange(5, height - 5)
    np.testing.assert_allclose(back[y, 50], pad_y + (y + 0.5) * 128 / height, atol=1e-3)
    # squashed input: the whole square is the image
    squash = heat.resize_map(m, width, height, input_size=size, resize="squash")
    np.testing.assert_allclose(squash[y, 50], (y + 0.5) * size / height, atol=1e-3)
    with pytest.raises(ValueError, match="2-D"):
        heat.resize_map(np.zeros(3), 10, 10)


def test_mask_to_grid_and_back_keeps_the_defect():
    height, width = 120, 300
    mask = np.zeros((height, width), np.uint8)
    mask[40:90, 100:220] = 255
    cells = heat.mask_to_grid(mask, 64, input_size=256)
    assert cells.shape == (64, 64)
    # letterbox bands (rows outside the content) never hold a defect
    _scale, _px, pad_y = letterbox_params(width, height, 256)
    band = int(pad_y * 64 / 256)
    assert not cells[:band].any() and not cells[64 - band:].any()
    back = heat.resize_map(cells.astype(np.float32), width, height, input_size=256) >= 0.5
    iou = (back & (mask > 0)).sum() / (back | (mask > 0)).sum()
    assert iou > 0.9


def test_region_and_outline():
    m = np.zeros((7, 7), np.float32)
    m[2:5, 2:5] = 3.0
    r = heat.region(m, 3.0)
    assert r.sum() == 9
    ring = heat.outline(r)
    assert ring.sum() == 8 and not ring[3, 3]
    assert heat.outline(np.ones((3, 3), bool)).sum() == 8  # the image edge closes an outline
