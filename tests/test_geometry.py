"""isegm.geometry: the one Click, Box with explicit modes, and the (B, 2N, 3) points tensor."""
import pickle

import numpy as np
import pytest
import torch

from isegm.geometry import Box, BoxMode, Click, Stroke, apply_strokes, pack_points, unpack_points, valid_rows


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


# ---------------------------------------------------------------------- strokes
@pytest.mark.parametrize("args,match", [
    (([(1, 1)], 3, True), "at least 2 points"),
    (([], 3, True), "at least 2 points"),
    (([(1, 1), (2, 2)], 0, True), "width"),
    (([(1, 1), (2, 2)], -2.0, True), "width"),
    (([(1, 1), (2, 2)], float("nan"), True), "width"),
    (([(1, 1), (2, float("inf"))], 3, True), "point 1 x"),
    (([(1, 1), (2, 2, 3)], 3, True), "point 1"),
    (([(1, 1), (2, 2)], 3, 1), "is_positive"),
])
def test_stroke_refuses_bad_values(args, match):
    with pytest.raises(ValueError, match=match):
        Stroke(*args)


def test_stroke_rasterizes_to_the_pixels_within_half_its_width():
    stroke = Stroke([(10, 5), (10, 25)], 4, True)
    painted = stroke.rasterize(20, 40)
    yy, xx = np.mgrid[:20, :40]
    # distance of every pixel centre to the segment y=10, 5<=x<=25
    dx = np.clip(xx, 5, 25) - xx
    expected = (yy - 10) ** 2 + dx ** 2 <= 4
    assert painted.dtype == bool and np.array_equal(painted, expected)
    # a dot is a disk; a stroke partly outside the image paints only the part inside
    assert Stroke([(5, 5), (5, 5)], 3, True).rasterize(11, 11).sum() == 9  # r=1.5: the 3x3 block
    assert Stroke([(-10, 3), (50, 3)], 1, False).rasterize(8, 8)[:, 3].all()


def test_stroke_clicks_follow_the_line_without_gaps():
    stroke = Stroke([(0, 0), (0, 20), (15, 20)], 6, False, index=3)
    clicks = stroke.to_clicks(spacing=5)
    coords = np.array([c.coords for c in clicks])
    assert tuple(coords[0]) == (0, 0) and tuple(coords[-1]) == (15, 20) and (0, 20) in map(tuple, coords)
    assert np.hypot(*np.diff(coords, axis=0).T).max() <= 5 + 1e-9
    assert all(not c.is_positive and c.index == 3 for c in clicks)
    assert len(Stroke([(4, 4), (4, 4)], 1, True).to_clicks(2)) == 1


def test_stroke_outside_image_and_json_round_trip():
    stroke = Stroke([(0, 0), (9.5, 3)], 2.5, True, 1)
    stroke.check_inside(10, 4)
    with pytest.raises(ValueError, match=r"point 1 \(y=9.5, x=3\) lies outside the 9x4"):
        stroke.check_inside(9, 4, where="stroke")
    assert Stroke.from_dict(stroke.to_dict()) == stroke
    with pytest.raises(ValueError, match="strokes\\[2\\]"):
        Stroke.from_dict({"points": [[1, 1]], "width": 2, "positive": True}, where="strokes[2]")


def test_strokes_applied_by_hand_paint_in_order():
    mask = np.zeros((10, 10), bool)
    out = apply_strokes(mask, [Stroke([(5, 0), (5, 9)], 3, True), Stroke([(0, 5), (9, 5)], 1, False)])
    assert not mask.any()
    assert out[4:7, :].sum() == 30 - 3 and not out[:, 5].any()
