"""isegm.metrics: Dice, precision/recall/accuracy, confusion matrix and Boundary IoU (ignore masks honoured).

NoC / NoF / mIoU and IoU are tested in tests/inference/test_utils.py.
"""
import math

import cv2
import numpy as np
import pytest

from isegm import metrics as M


def _case():
    gt = np.zeros((6, 8), np.int32)
    gt[1:4, 1:5] = 1          # 12 object pixels
    gt[5, :] = -1             # an ignored row
    pred = np.zeros((6, 8), bool)
    pred[2:5, 2:6] = True     # 12 predicted, 6 of them on the object
    pred[5, :] = True         # predicted on the ignored row: counts for nothing
    return gt, pred


def test_confusion_counts_and_derived_scores():
    gt, pred = _case()
    tp, fp, fn, tn = M.confusion(gt, pred)
    assert (tp, fp, fn, tn) == (6, 6, 6, 40 - 18)
    assert tp + fp + fn + tn == 40                       # the ignored row is in no cell
    assert M.iou(gt, pred) == tp / (tp + fp + fn)
    assert M.dice(gt, pred) == pytest.approx(12 / 24)
    assert M.precision(gt, pred) == pytest.approx(0.5)
    assert M.recall(gt, pred) == pytest.approx(0.5)
    assert M.pixel_accuracy(gt, pred) == pytest.approx((6 + 22) / 40)
    scores = M.scores_from_confusion(tp, fp, fn, tn)
    assert scores["iou"] == M.iou(gt, pred) and scores["dice"] == M.dice(gt, pred)


def test_dice_is_a_function_of_iou_and_undefined_cases_are_nan():
    rng = np.random.default_rng(3)
    for _ in range(5):
        gt = (rng.random((20, 20)) > 0.5).astype(np.int32)
        pred = rng.random((20, 20)) > 0.4
        j = M.iou(gt, pred)
        assert M.dice(gt, pred) == pytest.approx(2 * j / (1 + j))
    empty = np.zeros((4, 4), np.int32)
    none = np.zeros((4, 4), bool)
    assert math.isnan(M.dice(empty, none)) and math.isnan(M.precision(empty, none))
    assert math.isnan(M.recall(empty, none)) and M.pixel_accuracy(empty, none) == 1.0
    assert math.isnan(M.pixel_accuracy(np.full((2, 2), -1), np.ones((2, 2), bool)))
    with pytest.raises(ValueError):
        M.confusion(empty, none[:, :3])


def _reference_band(mask, ratio=0.02):
    """The reference code's recipe (boundary-iou-api): pad 1, erode d times with the 3x3 square."""
    h, w = mask.shape
    d = max(1, int(round(ratio * np.sqrt(h ** 2 + w ** 2))))
    padded = cv2.copyMakeBorder(mask.astype(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    eroded = cv2.erode(padded, np.ones((3, 3), np.uint8), iterations=d)[1:h + 1, 1:w + 1]
    return mask.astype(np.uint8) - eroded


def test_boundary_band_matches_the_reference_recipe_on_random_shapes():
    rng = np.random.default_rng(0)
    for shape in ((50, 70), (240, 320), (17, 9)):
        mask = cv2.GaussianBlur(rng.random(shape).astype(np.float32), (0, 0), 3) > 0.5
        mask[:, :2] = True                                     # cut by the image border
        d = M.boundary_dilation(shape)
        np.testing.assert_array_equal(M.mask_boundary(mask, d), _reference_band(mask).astype(bool))


def test_boundary_dilation_follows_the_diagonal():
    assert M.boundary_dilation((480, 640)) == 16              # 0.02 * 800
    assert M.boundary_dilation((10, 10)) == 1                 # never below one pixel
    assert M.boundary_dilation((300, 400), 0.01) == 5
    with pytest.raises(ValueError):
        M.boundary_dilation((10, 10), 0)


def test_boundary_iou_scores_the_contour_not_the_interior():
    gt = np.zeros((100, 100), np.int32)
    gt[20:80, 20:80] = 1                                      # d = round(0.02 * 141.4) = 3
    assert M.boundary_iou(gt, gt == 1) == 1.0
    shifted = np.zeros((100, 100), bool)
    shifted[22:82, 20:80] = True                              # 2 px off: mask IoU stays high
    biou, miou = M.boundary_iou(gt, shifted), M.iou(gt, shifted)
    assert miou > 0.9 and biou < 0.7
    gt_band = M.mask_boundary(gt == 1, 3)
    pred_band = M.mask_boundary(shifted, 3)
    assert biou == pytest.approx((gt_band & pred_band).sum() / (gt_band | pred_band).sum())
    assert M.boundary_iou(gt, shifted, gt_boundary=gt_band) == biou
    assert math.isnan(M.boundary_iou(np.zeros((5, 5), np.int32), np.zeros((5, 5), bool)))


def test_boundary_iou_drops_ignored_pixels_from_both_bands():
    gt = np.zeros((100, 100), np.int32)
    gt[20:60, 20:60] = 1
    pred = gt == 1
    pred[70:90, 70:90] = True                                 # a false-positive blob: its band counts ...
    assert M.boundary_iou(gt, pred) < 0.8
    ignored = gt.copy()
    ignored[65:95, 65:95] = -1                                # ... unless it lies in ignored pixels
    assert M.boundary_iou(ignored, pred) == 1.0
    # the object's band comes from gt == 1: an ignore ring around the object moves it inwards
    ring = gt.copy()
    ring[18:62, 18:62] = -1
    ring[22:58, 22:58] = 1
    assert M.boundary_iou(ring, ring == 1) == 1.0 and M.boundary_iou(ring, gt == 1) < 1.0


def test_metric_curve_keeps_last_values_and_skips_nan():
    curve = M.metric_curve([[0.2, 0.4], [np.nan, 0.8, 1.0]], 3)
    np.testing.assert_allclose(curve, [0.2, 0.6, 0.7])
    assert np.isnan(M.metric_curve([], 2)).all()


def test_pseudo_f_measure_rewards_the_skeleton_and_punishes_spill():
    from isegm.metrics import pseudo_f_measure

    gt = np.zeros((40, 60), int)
    gt[10:30, 10:50] = 1
    assert pseudo_f_measure(gt, gt == 1) == 1.0
    inner = np.zeros((40, 60), bool)
    inner[13:27, 13:47] = True           # misses the rim but covers the skeleton: pFM stays 1 (IoU does not)
    assert pseudo_f_measure(gt, inner) == 1.0
    spill = gt == 1
    spill[:, :] = True                   # everything: recall 1, precision 800/2400
    p = 800 / 2400
    assert pseudo_f_measure(gt, spill) == pytest.approx(2 * p / (p + 1))
    half = np.zeros((40, 60), bool)
    half[10:30, 10:30] = True            # half the object: half its skeleton, precision 1
    assert 0.5 < pseudo_f_measure(gt, half) < 0.8
    assert np.isnan(pseudo_f_measure(gt, np.zeros((40, 60), bool)))
    ignored = gt.copy()
    ignored[:, 30:] = -1                 # the ignored half counts nowhere: half is then perfect
    assert pseudo_f_measure(ignored, half) == 1.0
