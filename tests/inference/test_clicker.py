import cv2
import numpy as np
import pytest
import torch

from isegm.inference.clicker import (Click, Clicker, add_next_points, clicks_to_points,
                                     get_next_click)


def square(shape, r0, r1, c0, c1):
    mask = np.zeros(shape, dtype=bool)
    mask[r0:r1, c0:c1] = True
    return mask


# ---------------------------------------------------------------------- deterministic rule
def test_fn_square_gives_positive_click_at_centre():
    gt = square((20, 20), 5, 12, 5, 12)  # 7x7 square, unique centre (8, 8)
    assert get_next_click(gt, np.zeros_like(gt)) == (True, (8, 8))


def test_tie_broken_by_first_pixel_in_raster_order():
    gt = square((20, 20), 4, 10, 4, 10)  # 6x6: (6,6) (6,7) (7,6) (7,7) all at distance 3
    assert get_next_click(gt, np.zeros_like(gt)) == (True, (6, 6))


def test_larger_fp_region_gives_negative_click():
    gt = square((30, 30), 2, 5, 2, 5)              # FN 3x3 (max dist 2)
    pred = square((30, 30), 15, 24, 15, 24)       # FP 9x9 (max dist 5)
    assert get_next_click(gt, pred) == (False, (19, 19))


def test_equal_fn_and_fp_distances_give_negative_click():
    gt = square((20, 20), 2, 5, 2, 5)
    pred = square((20, 20), 10, 13, 10, 13)
    assert get_next_click(gt, pred) == (False, (11, 11))


def test_ignored_region_is_excluded():
    gt = np.zeros((30, 30), dtype=np.int32)
    gt[2:5, 2:5] = 1                  # small FN
    gt[10:28, 10:28] = -1             # large ignored area where the prediction is wrong
    pred = square((30, 30), 10, 28, 10, 28)
    assert get_next_click(gt, pred) == (True, (3, 3))            # -1 ignored by int gt
    assert get_next_click(gt == 1, pred) == (False, (18, 18))    # bool gt: not ignored
    assert get_next_click(gt == 1, pred, ignore_mask=gt == -1) == (True, (3, 3))


def test_padding_makes_the_image_border_a_boundary():
    gt = square((10, 10), 0, 10, 0, 5)  # left half, touching three borders
    assert get_next_click(gt, np.zeros_like(gt), padding=True) == (True, (2, 2))
    assert get_next_click(gt, np.zeros_like(gt), padding=False) == (True, (0, 0))


def test_no_error_returns_none_and_clicked_pixels_are_excluded():
    gt = square((10, 10), 3, 6, 3, 6)
    assert get_next_click(gt, gt.copy()) is None
    not_clicked = np.ones_like(gt)
    not_clicked[4, 4] = False
    assert get_next_click(gt, np.zeros_like(gt), not_clicked_mask=not_clicked) == (True, (3, 3))


def test_shape_mismatch_raises():
    with pytest.raises(ValueError):
        get_next_click(np.zeros((4, 4), bool), np.zeros((4, 5), bool))


# ---------------------------------------------------------------------- random (trainer) rule
def test_rng_variant_picks_inner_points_and_is_seeded():
    gt = square((40, 40), 5, 30, 5, 30)
    pred = square((40, 40), 5, 30, 5, 12)   # FN = 25 x 18 block
    fn = (gt & ~pred).astype(np.uint8)
    dt = cv2.distanceTransform(np.pad(fn, 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    picks = set()
    for seed in range(30):
        is_pos, (y, x) = get_next_click(gt, pred, rng=np.random.default_rng(seed))
        assert is_pos
        assert dt[y, x] > dt.max() / 2
        picks.add((y, x))
    assert len(picks) > 5
    a = [get_next_click(gt, pred, rng=np.random.default_rng(7)) for _ in range(3)]
    assert a[0] == a[1] == a[2]
    assert get_next_click(gt, gt.copy(), rng=np.random.default_rng(0)) is None


# ---------------------------------------------------------------------- Clicker
def test_clicker_simulation_and_not_clicked_map():
    gt = square((20, 20), 5, 12, 5, 12).astype(np.int32)
    clicker = Clicker(gt_mask=gt)
    first = clicker.make_next_click(np.zeros((20, 20), bool))
    assert (first.is_positive, first.coords, first.indx) == (True, (8, 8), 0)
    second = clicker.make_next_click(np.zeros((20, 20), bool))  # same mask: centre is taken
    assert second.coords != (8, 8) and second.is_positive and second.indx == 1
    assert clicker.num_pos_clicks == 2 and len(clicker) == 2


def test_clicker_without_error_adds_ritm_fallback_click():
    gt = square((10, 10), 3, 6, 3, 6).astype(np.int32)
    clicker = Clicker(gt_mask=gt)
    click = clicker.make_next_click(gt == 1)
    assert (click.is_positive, click.coords) == (False, (0, 0))


def test_clicker_undo_and_state():
    gt = np.zeros((10, 12), np.int32)
    clicker = Clicker(gt_mask=gt, click_indx_offset=2)
    clicker.add_click(Click(True, (1, 1)))
    clicker.add_click(Click(False, (2, 3)))
    state = clicker.get_state()
    clicker.add_click(Click(True, (4, 5)))
    assert [c.indx for c in clicker.get_clicks()] == [2, 3, 4]
    assert not clicker.not_clicked_map[4, 5]
    removed = clicker.remove_last_click()
    assert removed.coords == (4, 5) and clicker.not_clicked_map[4, 5]
    assert clicker.num_pos_clicks == 1 and clicker.num_neg_clicks == 1
    clicker.add_click(Click(False, (7, 7)))
    clicker.set_state(state)
    assert [(c.is_positive, c.coords) for c in clicker.get_clicks()] == [(True, (1, 1)), (False, (2, 3))]
    assert clicker.not_clicked_map[7, 7] and not clicker.not_clicked_map[2, 3]
    assert clicker.get_clicks(clicks_limit=1)[0].coords == (1, 1)
    clicker.reset_clicks()
    assert len(clicker) == 0 and clicker.remove_last_click() is None


def test_add_click_copies_and_does_not_mutate_input():
    click = Click(True, (np.int64(2), np.int64(3)))
    stored = Clicker(image_shape=(5, 5)).add_click(click)
    assert click.indx is None and stored.indx == 0
    assert stored.coords == (2, 3) and type(stored.coords[0]) is int


@pytest.mark.parametrize("coords", [(10, 0), (0, 12), (-1, 3), (3, -2)])
def test_click_outside_image_raises(coords):
    with pytest.raises(ValueError, match="outside|negative"):
        Clicker(gt_mask=np.zeros((10, 12), np.int32)).add_click(Click(True, coords))
    with pytest.raises(ValueError, match="outside|negative"):
        Clicker(image_shape=(10, 12)).add_click(Click(True, coords))


def test_non_integer_click_raises():
    with pytest.raises(ValueError, match="integer"):
        Clicker().add_click(Click(True, (1.5, 2)))
    assert Clicker().add_click(Click(True, (1.0, 2))).coords == (1, 2)


def test_make_next_click_needs_gt():
    with pytest.raises(RuntimeError):
        Clicker().make_next_click(np.zeros((3, 3), bool))


# ---------------------------------------------------------------------- points layout
def test_clicks_to_points_layout():
    a = [Click(True, (1, 2), 0), Click(False, (3, 4), 1), Click(True, (5, 6), 2)]
    b = [Click(False, (7, 8), 0)]
    points = clicks_to_points([a, b])
    assert points.shape == (2, 4, 3) and points.dtype == np.float32
    np.testing.assert_array_equal(points[0], [[1, 2, 0], [5, 6, 2], [3, 4, 1], [-1, -1, -1]])
    np.testing.assert_array_equal(points[1], [[-1, -1, -1], [-1, -1, -1], [7, 8, 0], [-1, -1, -1]])
    assert clicks_to_points([[]]).shape == (1, 2, 3)
    assert (clicks_to_points([[]]) == -1).all()
    limited = clicks_to_points([a], clicks_limit=1)
    np.testing.assert_array_equal(limited[0], [[1, 2, 0], [-1, -1, -1]])
    assert clicks_to_points([a], num_pos=4).shape == (1, 8, 3)


# ---------------------------------------------------------------------- batched trainer helper
def test_add_next_points_first_free_slot_and_order():
    gt = torch.zeros(3, 1, 20, 20)
    gt[:, :, 5:12, 5:12] = 1
    probs = torch.zeros(3, 1, 20, 20)
    probs[1, :, 5:12, 5:12] = 1
    probs[1, :, 14:20, 0:20] = 0.9           # sample 1: FP band only -> negative click
    probs[2] = gt[2]                         # sample 2: perfect -> no click
    points = torch.full((3, 4, 3), -1.0)
    points[:, 0] = torch.tensor([8.0, 8.0, 0.0])
    points[0, 2] = torch.tensor([1.0, 1.0, 3.0])
    original = points.clone()

    out = add_next_points(probs, gt, points, pred_thresh=0.49)
    assert torch.equal(points, original)
    np.testing.assert_array_equal(out[0, 1].numpy(), [8, 8, 4])      # positive, order max+1
    assert (out[1, 2, 2] == 1) and out[1, 2, 0] >= 14                 # negative half, first slot
    assert torch.equal(out[2], original[2])

    ritm = add_next_points(probs, gt, points, click_indx=1)
    np.testing.assert_array_equal(ritm[0, 1].numpy(), [8, 8, 1])     # row N - click_indx
    np.testing.assert_array_equal(ritm[1, 3, 2].numpy(), 1)


def test_add_next_points_random_is_seeded():
    gt = torch.zeros(2, 1, 30, 30)
    gt[:, :, 5:25, 5:25] = 1
    probs = torch.zeros(2, 1, 30, 30)
    points = torch.full((2, 2, 3), -1.0)
    a = add_next_points(probs, gt, points, rng=np.random.default_rng(3))
    b = add_next_points(probs, gt, points, rng=np.random.default_rng(3))
    assert torch.equal(a, b)
    assert (a[:, 0, 0] >= 5).all() and (a[:, 0, 0] < 25).all()
    with pytest.raises(ValueError):
        add_next_points(probs, gt, points[:1])


def test_add_next_points_with_one_generator_per_sample_does_not_depend_on_the_batch_split():
    """Distributed training: a sample's IT-M click must be the same whether its batch is split over
    processes or not, so each sample draws from its own generator."""
    gt = torch.zeros(4, 1, 30, 30)
    gt[:, :, 5:25, 5:25] = 1
    probs = torch.zeros(4, 1, 30, 30)
    points = torch.full((4, 2, 3), -1.0)

    def rngs(positions):
        return [np.random.default_rng([7, p]) for p in positions]

    whole = add_next_points(probs, gt, points, rng=rngs(range(4)))
    halves = torch.cat([add_next_points(probs[:2], gt[:2], points[:2], rng=rngs(range(2))),
                        add_next_points(probs[2:], gt[2:], points[2:], rng=rngs(range(2, 4)))])
    assert torch.equal(whole, halves)
    shared = np.random.default_rng(7)   # one generator for the batch: the second half draws other clicks
    split_shared = torch.cat([add_next_points(probs[:2], gt[:2], points[:2], rng=np.random.default_rng(7)),
                              add_next_points(probs[2:], gt[2:], points[2:], rng=np.random.default_rng(7))])
    assert not torch.equal(add_next_points(probs, gt, points, rng=shared), split_shared)
    with pytest.raises(ValueError, match="3 generators for a batch of 4"):
        add_next_points(probs, gt, points, rng=rngs(range(3)))
