"""The simulated stroke user (isegm.inference.user): strokes along the error region the click rule picks."""
import numpy as np
import pytest

from isegm.inference.clicker import get_next_click
from isegm.inference.user import next_stroke, skeleton_longest_path


def test_stroke_runs_along_a_missed_bar_and_stays_inside():
    gt = np.zeros((60, 100), bool)
    gt[20:32, 10:90] = True
    stroke = next_stroke(gt, np.zeros_like(gt))
    assert stroke.is_positive
    painted = stroke.rasterize(*gt.shape)
    assert painted.any() and not (painted & ~gt).any()
    ys, xs = np.nonzero(painted)
    assert xs.max() - xs.min() > 55  # spans most of the bar, unlike one click
    assert 2 <= stroke.width <= 10


def test_stroke_takes_the_error_type_and_region_of_the_click_rule():
    gt = np.zeros((80, 80), bool)
    gt[5:25, 5:75] = True              # object, mostly found
    pred = gt.copy()
    pred[5:25, 60:75] = False           # missed part: 20 x 15
    pred[40:75, 10:50] = True           # a bigger false positive blob
    pred[60:64, 60:64] = True           # a small false positive elsewhere
    is_positive, (cy, cx) = get_next_click(gt, pred)
    stroke = next_stroke(gt, pred, index=4)
    assert stroke.is_positive == is_positive is False and stroke.index == 4
    painted = stroke.rasterize(80, 80)
    assert painted[40:75, 10:50].any() and not painted[60:64, 60:64].any()
    assert not (painted & ~(pred & ~gt)).any()


def test_no_error_no_stroke_and_tiny_region_dot():
    gt = np.zeros((20, 20), bool)
    gt[5:10, 5:10] = True
    assert next_stroke(gt, gt.copy()) is None
    pred = gt.copy()
    pred[7, 7] = False
    stroke = next_stroke(gt, pred)
    assert stroke.points[0] == stroke.points[1] == (7, 7) and stroke.width == 1.0


def test_longest_path_of_an_l_shape_goes_end_to_end():
    region = np.zeros((40, 40), bool)
    region[5:9, 5:35] = True
    region[5:35, 31:35] = True
    path = skeleton_longest_path(region, (6, 6))
    ends = {tuple(path[0]), tuple(path[-1])}
    assert any(p[1] < 10 for p in ends) and any(p[0] > 28 for p in ends)
    steps = np.abs(np.diff(path, axis=0)).max(axis=1)
    assert steps.max() == 1  # a connected 8-neighbour path


def test_bad_arguments():
    gt = np.zeros((8, 8), bool)
    with pytest.raises(ValueError, match="max_width"):
        next_stroke(gt, gt, max_width=0)
    with pytest.raises(ValueError, match="shapes"):
        next_stroke(gt, np.zeros((8, 9), bool))
