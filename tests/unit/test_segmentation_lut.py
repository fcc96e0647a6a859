"""core/segmentation.py: class ids <-> channels with ignore, unknown values counted, the palette."""

from __future__ import annotations

import numpy as np
import pytest

from studio_desktop.core.schemas import ClassInfo
from studio_desktop.core.segmentation import (
    IGNORE,
    IGNORE_COLOUR,
    background_channels,
    channel_lut,
    colour_of,
    colourise,
    overlay,
    palette,
    to_channels,
    to_class_ids,
    unknown_values,
)


def test_ids_map_to_channels_in_output_order_and_the_rest_is_ignore():
    # a project whose class 1 was deleted: ids 0, 2, 7 are channels 0, 1, 2
    lut = channel_lut([0, 2, 7])
    mask = np.array([[0, 2, 7, 1], [255, 3, 7, 0]], dtype=np.uint8)
    assert to_channels(mask, lut).tolist() == [[0, 1, 2, IGNORE], [IGNORE, IGNORE, 2, 0]]
    assert to_class_ids(to_channels(mask, lut), [0, 2, 7]).tolist() == [[0, 2, 7, 255], [255, 255, 7, 0]]


def test_unknown_values_are_counted_not_hidden():
    lut = channel_lut([0, 1])
    mask = np.array([[0, 1, 5, 5], [255, 9, 0, 1]], dtype=np.uint8)
    assert unknown_values(mask, lut) == {5: 2, 9: 1}
    assert unknown_values(np.array([[0, 255]], np.uint8), lut) == {}


@pytest.mark.parametrize("ids", [[0, 255], [0, 0], [-1, 2], [300]])
def test_ids_that_cannot_be_mask_values_are_refused(ids):
    with pytest.raises(ValueError):
        channel_lut(ids)


def test_wider_masks_are_checked_before_narrowing():
    with pytest.raises(ValueError):
        to_channels(np.array([[0, 256]], dtype=np.int32), channel_lut([0]))


def test_palette_background_black_class_colours_ignore_white():
    classes = [ClassInfo(id=0, name="Background", color="#123456"), ClassInfo(id=3, name="road", color="#ff0000"),
               ClassInfo(id=4, name="sky", color="not a colour")]
    table = palette(classes)
    assert table.shape == (256, 3) and table.dtype == np.uint8
    assert tuple(table[0]) == (0, 0, 0)  # a background class is black whatever its stored colour
    assert tuple(table[1]) == (255, 0, 0)
    assert tuple(table[2]) == colour_of(2)  # a bad stored colour falls back to the palette
    assert tuple(table[IGNORE]) == IGNORE_COLOUR
    assert background_channels(classes) == [0]
    rgb = colourise(np.array([[0, 1], [2, IGNORE]], np.uint8), table)
    assert rgb.shape == (2, 2, 3) and tuple(rgb[0, 1]) == (255, 0, 0) and tuple(rgb[1, 1]) == IGNORE_COLOUR


def test_overlay_leaves_background_and_ignore_clear_and_blends_the_rest():
    image = np.full((2, 2, 3), 100, np.uint8)
    table = palette(["background", "thing"])
    mask = np.array([[0, 1], [IGNORE, 1]], np.uint8)
    out = overlay(image, mask, table, alpha=0.5, transparent=[0])
    assert out[0, 0].tolist() == [100, 100, 100] and out[1, 0].tolist() == [100, 100, 100]
    expected = np.round(0.5 * 100 + 0.5 * np.array(colour_of(1))).astype(int).tolist()
    assert out[0, 1].tolist() == expected and out[1, 1].tolist() == expected
    with pytest.raises(ValueError):
        overlay(image, np.zeros((3, 3), np.uint8))
