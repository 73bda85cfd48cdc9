"""isegm.geometry: the one Click, Box with explicit modes, and the (B, 2N, 3) points tensor."""
import pickle

import numpy as np
import pytest
import torch

from isegm.geometry import Box, BoxMode, Click, pack_points, unpack_points, valid_rows


def test_click_spellings_agree_and_are_immutable():
    ours = Click(3, 4, True, 1)
    assert ours == Click(is_positive=True, coords=(3, 4), indx=1) == Click(True, (3, 4), 1)
    assert (ours.coords, ours.indx, ours.coords_and_indx) == ((3, 4), 1, (3, 4, 1))
    with pytest.raises(AttributeError, match="immutable"):
        ours.y = 5
    assert ours.copy(coords=(7, 8), index=None) == Click(7, 8, True)
    assert pickle.loads(pickle.dumps(ours)) == ours


@pytest.mark.parametrize("kwargs, match", [
    (dict(y=float("nan"), x=1, is_positive=True), "finite"),
    (dict(y=1, x="2", is_positive=True), "finite"),
    (dict(y=1, x=2, is_positive=1), "True or False"),
    (dict(y=1, x=2, is_positive=True, index=-1), "index"),
    (dict(y=1, x=2, is_positive=True, coords=(1, 2)), "not both"),
])
def test_click_refuses_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Click(**kwargs)


def test_click_dict_round_trip_names_the_source():
    click = Click(5, 6, False, 2)
    assert click.to_dict() == {"y": 5, "x": 6, "positive": False, "order": 2}
    assert Click.from_dict(click.to_dict()) == click
    with pytest.raises(ValueError, match="clicks\\[3\\]"):
        Click.from_dict({"y": 1, "positive": True}, where="clicks[3]")


def test_box_modes_convert_both_ways():
    box = Box((10, 20, 30, 60))                      # y0, x0, y1, x1 end exclusive
    assert box.to(BoxMode.XYWH) == (20, 10, 40, 20)  # COCO x, y, w, h
    assert Box((20, 10, 40, 20), BoxMode.XYWH) == box
    mask = np.zeros((50, 70), bool)
    mask[10:30, 20:60] = True
    assert Box.from_mask(mask) == box
    assert mask[slice(box.y0, box.y1), slice(box.x0, box.x1)].all()
    assert box.contains(29, 59) and not box.contains(30, 59)
    assert Box((-5, -5, 20, 100)).clip(50, 70) == Box((0, 0, 20, 70))
    with pytest.raises(ValueError, match="empty box"):
        Box((10, 10, 10, 20))
    with pytest.raises(ValueError, match="outside"):
        Box((60, 0, 70, 5)).clip(50, 70)


def test_points_tensor_layout_and_round_trip():
    clicks = [[Click(1, 2, True, 0), Click(3, 4, False, 1), Click(5, 6, True, 2)], [Click(7, 8, False, 0)]]
    points = pack_points(clicks)
    assert points.shape == (2, 4, 3) and points.dtype == np.float32
    np.testing.assert_array_equal(points[0], [[1, 2, 0], [5, 6, 2], [3, 4, 1], [-1, -1, -1]])
    np.testing.assert_array_equal(points[1], [[-1, -1, -1], [-1, -1, -1], [7, 8, 0], [-1, -1, -1]])
    np.testing.assert_array_equal(valid_rows(points), [[1, 1, 1, 0], [0, 0, 1, 0]])
    np.testing.assert_array_equal(valid_rows(torch.from_numpy(points)).numpy(), valid_rows(points))
    assert unpack_points(torch.from_numpy(points)) == clicks
    assert pack_points(clicks, clicks_limit=1).shape == (2, 2, 3)
    assert pack_points([[]], num_pos=3).shape == (1, 6, 3)
    # a click at row 0 or column 0 is a click, not padding (RITM's max(y, x) rule)
    assert valid_rows(pack_points([[Click(0, 5, True, 0), Click(5, 0, True, 1)]]))[0, :2].all()
