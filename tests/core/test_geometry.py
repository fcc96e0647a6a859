"""Geometry helpers: boxes, polygons, rotated boxes (torchvision's CXCYWHR convention), COCO RLE."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studio_desktop.core import geometry as g


def test_xywh_and_clip():
    assert g.xywh_to_xyxy(10, 20, 5, 7) == (10, 20, 15, 27)
    box, changed = g.clip_box(-3, 5, 50, 40, 32, 48)
    assert box == (0, 5, 32, 40) and changed
    box, changed = g.clip_box(1, 2, 3, 4, 32, 48)
    assert box == (1, 2, 3, 4) and not changed
    outside, _ = g.clip_box(40, 5, 50, 10, 32, 48)
    assert not g.box_is_valid(*outside)
    assert not g.box_is_valid(1, 1, 1, 5)
    assert not g.box_is_valid(0, 0, float("nan"), 5)


def test_polygons():
    square = [0, 0, 4, 0, 4, 4, 0, 4]
    assert g.polygon_area(square) == pytest.approx(16)
    assert g.polygon_is_usable(square)
    assert not g.polygon_is_usable([0, 0, 1, 1, 2, 2])  # collinear
    assert not g.polygon_is_usable([0, 0, 1, 1])  # two points
    assert not g.polygon_is_usable([0, 0, 1, 0, 1])  # odd length
    assert not g.polygon_is_usable([0, 0, float("nan"), 0, 1, 1])
    assert g.polygon_box([square, [10, 10, 12, 10, 11, 15]]) == [0, 0, 12, 15]
    assert g.flat_to_points(g.points_to_flat([(1, 2), (3, 4)])) == [(1, 2), (3, 4)]


def test_rbox_corners_axis_aligned_and_rotated():
    # angle 0: corner 1 top-left, then clockwise on screen (y down)
    assert g.rbox_corners(10, 20, 8, 4, 0) == pytest.approx([6, 18, 14, 18, 14, 22, 6, 22])
    # +90 degrees (counter-clockwise on screen): the w edge points up
    c = g.rbox_corners(10, 20, 8, 4, 90)
    assert c[2] - c[0] == pytest.approx(0, abs=1e-9) and c[1] - c[3] == pytest.approx(8)


@settings(max_examples=60, deadline=None)
@given(cx=st.floats(0, 500), cy=st.floats(0, 500), w=st.floats(1, 200), h=st.floats(1, 200),
       angle=st.floats(-179, 179))
def test_rbox_round_trip(cx, cy, w, h, angle):
    """corners -> (cx, cy, w, h, angle) gives back the box, with the first corner kept first."""
    out = g.rbox_from_corners(g.rbox_corners(cx, cy, w, h, angle))
    assert out is not None
    ocx, ocy, ow, oh, oangle = out
    assert (ocx, ocy) == (pytest.approx(cx, abs=1e-3), pytest.approx(cy, abs=1e-3))
    assert (ow, oh) == (pytest.approx(w, rel=1e-4, abs=1e-3), pytest.approx(h, rel=1e-4, abs=1e-3))
    diff = (oangle - angle + 180) % 360 - 180
    assert abs(diff) < 1e-3


def test_rbox_from_quadrilateral_is_minimum_rectangle():
    quad = [0, 0, 10, 1, 10, 5, 0, 4]  # a parallelogram, not a rectangle
    cx, cy, w, h, angle = g.rbox_from_corners(quad)
    rect = g.rbox_corners(cx, cy, w, h, angle)
    from shapely.geometry import Polygon

    assert Polygon(g.flat_to_points(rect)).buffer(1e-6).contains(Polygon(g.flat_to_points(quad)))
    assert w * h <= 10 * 5 + 1e-6  # no bigger than the axis-aligned box around it
    assert g.rbox_from_corners([0, 0, 1, 1, 2, 2, 3, 3]) is None  # a line
    assert g.rbox_from_corners([0, 0, 1, 1]) is None


@pytest.mark.ml
def test_rbox_corners_match_torchvision():
    """Our corner order and angle sign are torchvision's CXCYWHR -> XYXYXYXY."""
    import torch
    from torchvision import tv_tensors
    from torchvision.transforms.v2 import functional as F

    boxes = [(30.0, 40.0, 20.0, 10.0, 0.0), (30.0, 40.0, 20.0, 10.0, 30.0), (50.0, 20.0, 8.0, 16.0, -75.0)]
    t = tv_tensors.BoundingBoxes(torch.tensor(boxes, dtype=torch.float64), format="CXCYWHR",
                                 canvas_size=(100, 100))
    corners = F.convert_bounding_box_format(t, new_format=tv_tensors.BoundingBoxFormat.XYXYXYXY)
    for box, expected in zip(boxes, corners.tolist(), strict=True):
        assert g.rbox_corners(*box) == pytest.approx(expected, abs=1e-6)


def test_rle_round_trip_and_uncompressed():
    mask = np.zeros((5, 6), np.uint8)
    mask[1:3, 2:5] = 1
    rle = g.rle_encode(mask)
    assert isinstance(rle["counts"], str) and rle["size"] == [5, 6]
    assert (g.rle_decode(rle) == mask).all()
    assert g.rle_area(rle) == 6
    assert g.rle_box(rle) == [2, 1, 5, 3]
    # column-major runs: two empty columns and a row (11 off), then 2 on / 3 off per column
    unc = {"size": [5, 6], "counts": [11, 2, 3, 2, 3, 2, 7]}
    norm = g.rle_normalize(unc)
    assert norm == rle
    assert g.rle_normalize(rle, 5, 6) == rle


@pytest.mark.parametrize("bad", [
    {"size": [5, 6], "counts": [7, 2]},  # does not sum to 30
    {"size": [5, 6], "counts": "\x01\x02"},  # outside COCO's alphabet
    {"size": [5], "counts": "abc"},
    {"counts": "abc"},
    {"size": [0, 6], "counts": []},
    {"size": [5, 6], "counts": 12},
])
def test_rle_normalize_rejects_malformed(bad):
    with pytest.raises(ValueError):
        g.rle_normalize(bad)


def test_rle_size_must_match_image():
    rle = g.rle_encode(np.ones((4, 4), np.uint8))
    with pytest.raises(ValueError, match="differs"):
        g.rle_normalize(rle, 8, 8)


def test_rle_from_polygons_matches_area():
    rle = g.rle_from_polygons([[2, 2, 12, 2, 12, 10, 2, 10]], 16, 16)
    assert abs(g.rle_area(rle) - 80) <= 20  # rasterisation rounds the border
    assert g.rle_area(g.rle_from_polygons([], 4, 4)) == 0
    assert math.isclose(g.polygon_area([2, 2, 12, 2, 12, 10, 2, 10]), 80)
