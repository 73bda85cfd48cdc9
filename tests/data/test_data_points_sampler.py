"""MultiPointSampler: RITM's training click simulation."""
import numpy as np
import pytest
from data_fakes import rgb_image, two_object_sample

from isegm.data.points_sampler import (FIRST_CLICK_INDEX, SAMPLED_CLICK_INDEX, MultiPointSampler, generate_probs,
                                       get_point_candidates)
from isegm.data.sample import DSample


def _split(points, n):
    pos, neg = points[:n], points[n:]
    return pos[pos[:, 0] >= 0], neg[neg[:, 0] >= 0]


def test_layout_first_click_positive_inside_object_and_padding():
    n = 6
    sampler = MultiPointSampler(n, seed=0)
    sample = two_object_sample()
    for _ in range(50):
        points, target = sampler(sample)
        assert points.shape == (2 * n, 3) and points.dtype == np.float32
        assert target.shape == (1, 60, 80) and target.dtype == np.float32
        pos, neg = _split(points, n)
        assert len(pos) >= 1 and (points[0] >= 0).all()
        obj = target[0] == 1
        assert obj.sum() in (900, 750)
        for y, x, order in pos:
            assert obj[int(y), int(x)] and order == SAMPLED_CLICK_INDEX
        for y, x, _ in neg:
            assert not obj[int(y), int(x)]
            assert y >= 3, "never in the ignore strip"
        # padding rows are exactly (-1, -1, -1) and come after the real rows in each half
        for half in (points[:n], points[n:]):
            valid = half[:, 0] >= 0
            assert np.array_equal(valid, np.sort(valid)[::-1])
            assert (half[~valid] == -1).all()
        assert (target[0][:3] == -1).all()


def test_deterministic_with_seed():
    sample = two_object_sample()
    runs = []
    for _ in range(2):
        sampler = MultiPointSampler(8, merge_objects_prob=0.5, max_num_merged_objects=2,
                                    seed=np.random.default_rng(42))
        runs.append([sampler(sample)[0] for _ in range(5)])
    assert all(np.array_equal(a, b) for a, b in zip(*runs))
    other = MultiPointSampler(8, seed=43)
    assert not all(np.array_equal(a, other(sample)[0]) for a in runs[0])


def test_click_counts_decay_geometrically():
    gamma, n = 0.7, 5
    sampler = MultiPointSampler(n, prob_gamma=gamma, seed=1, negative_bg_prob=1.0,
                                negative_other_prob=0.0, negative_border_prob=0.0)
    masks = np.zeros((40, 40), np.int32)
    masks[5:35, 5:35] = 1
    sample = DSample(rgb_image(40, 40), masks, objects_ids=[1])
    counts_pos = np.zeros(n + 1)
    counts_neg = np.zeros(n + 1)
    trials = 3000
    for _ in range(trials):
        points, _ = sampler(sample)
        pos, neg = _split(points, n)
        counts_pos[len(pos)] += 1
        counts_neg[len(neg)] += 1
    expected_pos = np.concatenate([[0], generate_probs(n, gamma)])
    expected_neg = generate_probs(n + 1, gamma)
    assert np.abs(counts_pos / trials - expected_pos).max() < 0.04
    assert np.abs(counts_neg / trials - expected_neg).max() < 0.04
    assert counts_pos[1] > counts_pos[2] > counts_pos[3]


def test_border_strategy_and_erosion():
    sampler = MultiPointSampler(10, prob_gamma=1.0, negative_bg_prob=0.0, negative_other_prob=0.0,
                                negative_border_prob=1.0, positive_erode_prob=1.0, positive_erode_iters=3,
                                expand_ratio=0.2, seed=3)
    masks = np.zeros((80, 80), np.int32)
    masks[20:60, 20:60] = 1
    sample = DSample(rgb_image(80, 80), masks, objects_ids=[1])
    radius = int(np.ceil(0.2 * np.sqrt(1600)))
    for _ in range(30):
        points, _ = sampler(sample)
        pos, neg = _split(points, 10)
        assert ((pos[:, :2] >= 23) & (pos[:, :2] < 57)).all(), "positives lie in the eroded object"
        for y, x, _ in neg:
            outside = not (20 <= y < 60 and 20 <= x < 60)
            near = (20 - radius <= y < 60 + radius) and (20 - radius <= x < 60 + radius)
            assert outside and near


def test_other_strategy_targets_other_objects():
    sampler = MultiPointSampler(6, negative_bg_prob=0.0, negative_other_prob=1.0, negative_border_prob=0.0, seed=4)
    sample = two_object_sample()
    seen = 0
    for _ in range(40):
        points, target = sampler(sample)
        _, neg = _split(points, 6)
        other = sample.get_object_mask(1 if target[0, 15, 15] == 1 else 0) == 1
        for y, x, _ in neg:
            assert other[int(y), int(x)]
            seen += 1
    assert seen > 0


def test_merge_objects_gives_union_target():
    sampler = MultiPointSampler(6, merge_objects_prob=1.0, max_num_merged_objects=2, seed=5)
    sample = two_object_sample()
    points, target = sampler(sample)
    assert (target[0] == 1).sum() == 900 + 750
    pos, _ = _split(points, 6)
    assert len(pos) >= 2
    inside = [(10 <= y < 40 and 10 <= x < 40) for y, x, _ in pos[:2]]
    assert sorted(inside) == [False, True], "each merged object gets its own first click"


def test_first_click_center_and_candidates():
    masks = np.zeros((61, 61), np.int32)
    masks[10:51, 10:51] = 1
    sample = DSample(rgb_image(61, 61), masks, objects_ids=[1])
    sampler = MultiPointSampler(4, first_click_center=True, seed=6)
    for _ in range(20):
        points, _ = sampler(sample)
        y, x, order = points[0]
        assert order == FIRST_CLICK_INDEX
        assert abs(y - 30) <= 9 and abs(x - 30) <= 9
    cands = get_point_candidates(masks, k=1.7)
    assert cands.shape[1] == 2 and len(cands) > 0 and np.abs(cands - 30).max() <= 9
    assert len(get_point_candidates(masks, k=0, rng=np.random.default_rng(0))) == 1


def test_empty_sample_has_only_negative_clicks():
    sample = DSample(rgb_image(20, 20), np.zeros((20, 20), np.int32), objects_ids=[])
    sampler = MultiPointSampler(4, seed=7)
    points, target = sampler(sample)
    assert (points[:4] == -1).all() and not target.any()


def test_errors():
    with pytest.raises(ValueError, match="must be 1"):
        MultiPointSampler(4, negative_bg_prob=0.5)
    with pytest.raises(ValueError, match="max_num_points"):
        MultiPointSampler(0)
    with pytest.raises(RuntimeError, match="sample_object"):
        MultiPointSampler(3).sample_points()
    with pytest.raises(RuntimeError, match="sample_object"):
        _ = MultiPointSampler(3).selected_mask
