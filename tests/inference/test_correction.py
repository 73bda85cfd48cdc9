"""Simulated corrections for mask refinement (issue 9, "Fusing Forces"): initial masks and strokes."""
import numpy as np
import pytest

from isegm.geometry import apply_strokes, valid_rows
from isegm.inference.correction import DEGRADATIONS, CorrectionSimulator, degrade_mask
from isegm.metrics import iou


def _object(shape=(120, 160)):
    gt = np.zeros(shape, bool)
    gt[30:90, 40:120] = True
    return gt


@pytest.mark.parametrize("kind", DEGRADATIONS)
def test_each_degradation_changes_the_mask_near_the_object(kind):
    gt = _object()
    ious = [iou(gt.astype(int), degrade_mask(gt, np.random.default_rng(s), kinds=[kind])) for s in range(8)]
    assert all(0.2 < v < 0.995 for v in ious), (kind, ious)


def test_degrade_mask_is_a_function_of_the_generator_and_refuses_bad_input():
    gt = _object()
    a = degrade_mask(gt, np.random.default_rng(3))
    assert np.array_equal(a, degrade_mask(gt, np.random.default_rng(3)))
    with pytest.raises(ValueError, match="non-empty"):
        degrade_mask(np.zeros((4, 4), bool), np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown degradation"):
        degrade_mask(gt, np.random.default_rng(0), kinds=["blur"])


def test_simulated_strokes_correct_the_initial_mask_and_fill_the_points_array():
    gt = _object()
    sim = CorrectionSimulator(max_strokes=3, max_points=24)
    gains = []
    for seed in range(6):
        prev, points, strokes = sim(gt.astype(np.float32), np.random.default_rng(seed))
        assert prev.shape == (1, 120, 160) and prev.dtype == np.float32 and points.shape == (48, 3)
        assert 1 <= len(strokes) <= 3
        pos, neg = points[:24], points[24:]
        assert all(gt[int(y), int(x)] for y, x, _ in pos if y >= 0)       # add strokes lie on the object
        assert not any(gt[int(y), int(x)] for y, x, _ in neg if y >= 0)   # erase strokes off it
        assert valid_rows(points).sum() == sum(len(s.to_clicks(sim.spacing)) for s in strokes) or \
            valid_rows(points).sum() <= 48  # at most max_points per sign kept
        hand = apply_strokes(prev[0] > 0.5, strokes)
        gains.append(iou(gt.astype(int), hand) - iou(gt.astype(int), prev[0] > 0.5))
    assert min(gains) >= 0 and max(gains) > 0.02
    again = sim(gt.astype(np.float32), np.random.default_rng(4))
    first = sim(gt.astype(np.float32), np.random.default_rng(4))
    assert np.array_equal(again[0], first[0]) and np.array_equal(again[1], first[1])
    with pytest.raises(ValueError):
        CorrectionSimulator(max_strokes=0)
