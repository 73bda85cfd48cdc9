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


# ---------------------------------------------------------------------- stochastic clicks (RClicks)
from isegm.inference.clicker import Clicker  # noqa: E402
from isegm.inference.user import StochasticClickUser, click_seed_sequence, stochastic_next_click  # noqa: E402


def _blobs(seed, shape=(48, 64)):
    import cv2

    rng = np.random.default_rng(seed)
    gt = cv2.GaussianBlur(rng.random(shape).astype(np.float32), (0, 0), 4) > 0.5
    pred = cv2.GaussianBlur(rng.random(shape).astype(np.float32), (0, 0), 4) > 0.5
    ignore = np.zeros(shape, bool)
    ignore[:, :3] = True
    return gt, pred, ignore


def test_sigma_zero_is_the_standard_rule_and_tiny_sigma_its_limit():
    for seed in range(8):
        gt, pred, ignore = _blobs(seed)
        not_clicked = np.ones(gt.shape, bool)
        not_clicked[::7, ::5] = False
        expected = get_next_click(gt, pred, ignore_mask=ignore, not_clicked_mask=not_clicked)
        rng = np.random.default_rng(seed)
        assert stochastic_next_click(gt, pred, rng, 0.0, ignore, not_clicked) == expected
        from isegm.inference.clicker import _distance_map, error_masks
        fn, fp = error_masks(gt, pred, ignore)
        dt = _distance_map(fn if expected[0] else fp, True, 0) * not_clicked
        for _ in range(5):                     # sigma -> 0: only pixels as deep as the rule's click
            is_pos, (y, x) = stochastic_next_click(gt, pred, rng, 1e-4, ignore, not_clicked)
            assert is_pos == expected[0] and dt[y, x] == pytest.approx(dt[expected[1]])


def test_stochastic_clicks_stay_in_the_rule_region_and_spread_with_sigma():
    gt = np.zeros((60, 90), bool)
    gt[10:50, 5:45] = True                     # a big missed square (the rule's region)
    gt[20:28, 70:78] = True                    # a small missed one: never clicked first
    pred = np.zeros_like(gt)
    det = get_next_click(gt, pred)
    spreads = []
    for sigma in (1.0, 6.0):
        rng = np.random.default_rng(1)
        clicks = [stochastic_next_click(gt, pred, rng, sigma) for _ in range(200)]
        assert all(c[0] for c in clicks)
        pts = np.array([c[1] for c in clicks])
        assert (pts[:, 0] >= 10).all() and (pts[:, 0] < 50).all() and (pts[:, 1] >= 5).all() and (pts[:, 1] < 45).all()
        spreads.append(np.hypot(pts[:, 0] - det[1][0], pts[:, 1] - det[1][1]).mean())
    assert spreads[0] < 3 < spreads[1]
    assert stochastic_next_click(gt, gt, np.random.default_rng(0), 3.0) is None


def test_same_seed_same_clicks_and_seeds_per_repeat_and_sample():
    gt, pred, ignore = _blobs(2)

    def run(seq):
        user = StochasticClickUser(4.0, np.random.default_rng(seq))
        clicker = Clicker(gt_mask=np.where(ignore, -1, gt.astype(np.int32)), click_rule=user)
        mask = np.zeros(gt.shape, bool)
        for _ in range(4):
            click = clicker.make_next_click(mask)
            mask = mask.copy()
            mask[max(0, click.coords[0] - 4):click.coords[0] + 5, max(0, click.coords[1] - 4):click.coords[1] + 5] = click.is_positive
        return [(c.is_positive, c.coords) for c in clicker.get_clicks()]

    a, b = run(click_seed_sequence(7, 0, 3)), run(click_seed_sequence(7, 0, 3))
    assert a == b
    assert run(click_seed_sequence(7, 1, 3)) != a and run(click_seed_sequence(8, 0, 3)) != a
    with pytest.raises(ValueError):
        StochasticClickUser(-1.0, np.random.default_rng(0))
    with pytest.raises(TypeError):
        StochasticClickUser(1.0, np.random.RandomState(0))
