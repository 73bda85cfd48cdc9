"""The evaluator's interaction types: a first box and strokes (issue 9), NoC counted in interactions."""
import numpy as np
import pytest

from inference_fakes import disk_mask, make_image
from isegm.errors import UserError
from isegm.geometry import Box
from isegm.inference.evaluation import evaluate_dataset, evaluate_sample
from isegm.inference.runner import EvalSettings
from isegm.inference.reporting import input_notes, summarize
from isegm.metrics import iou


class PaintPredictor:
    """Probabilities: the previous mask (given, else its own last output), with 1 within ``radius`` of every
    positive click and 0 within it of every negative one. Records what it was set on and given."""

    def __init__(self, radius=4):
        self.radius = radius
        self.images, self.prev_masks = [], []
        self.last = None

    def set_input_image(self, image):
        self.images.append(np.asarray(image).copy())
        self.last = np.zeros(np.asarray(image).shape[:2], np.float32)

    def get_prediction(self, clicker, prev_mask=None):
        self.prev_masks.append(None if prev_mask is None else np.asarray(prev_mask).copy())
        out = (self.last if prev_mask is None else np.asarray(prev_mask, np.float32)).copy()
        yy, xx = np.mgrid[:out.shape[0], :out.shape[1]]
        for c in clicker.get_clicks():
            out[(yy - c.y) ** 2 + (xx - c.x) ** 2 <= self.radius ** 2] = 1.0 if c.is_positive else 0.0
        self.last = out
        return out


def _rect_object(shape=(60, 80), box=(20, 25, 40, 55)):
    gt = np.zeros(shape, np.int32)
    gt[box[0]:box[2], box[1]:box[3]] = 1
    gt[box[0]:box[0] + 6, box[1]:box[1] + 6] = 0  # a notch: the box is not the object
    return gt


def test_box_first_crops_with_context_feeds_the_box_as_prev_mask_and_zeroes_outside():
    gt = _rect_object()
    image = make_image(gt.shape)
    pred = PaintPredictor()
    log = []
    clicks, ious, probs, _ = evaluate_sample(image, gt, pred, max_iou_thr=1.01, max_clicks=3,
                                             first_interaction="box", log=log)
    # crop: box (20, 25, 40, 55) grown by max(16, round(0.2 * 30)) = 16 px, inside the 60x80 image
    assert pred.images[0].shape[:2] == (56 - 4, 71 - 9)
    np.testing.assert_array_equal(pred.images[0], image[4:56, 9:71])
    first_prev = pred.prev_masks[0]
    assert first_prev.shape == (52, 62) and first_prev.sum() == 20 * 30
    assert first_prev[20 - 4:40 - 4, 25 - 9:55 - 9].all()
    box_mask = np.zeros(gt.shape, bool)
    box_mask[20:40, 25:55] = True
    assert ious[0] == pytest.approx(iou(gt, box_mask))  # interaction 1 = the box, as the predictor gives it back
    assert log[0] == {"type": "box", "n_points": 0, "box": [20, 25, 40, 55]}
    assert [s["type"] for s in log[1:]] == ["click", "click"] and len(clicks) == 2
    # the clicks follow the error (the notch: a negative click) and reach the predictor in crop coordinates
    assert not clicks[0].is_positive and 20 <= clicks[0].y < 26 and 25 <= clicks[0].x < 31
    assert ious[1] > ious[0]
    assert not probs[~box_mask].any()


def test_box_first_zeroes_a_prediction_that_spills_outside_the_box():
    gt = _rect_object()

    class Spill(PaintPredictor):
        def get_prediction(self, clicker, prev_mask=None):
            super().get_prediction(clicker, prev_mask)
            return np.ones_like(self.last)

    _, ious, probs, _ = evaluate_sample(make_image(gt.shape), gt, Spill(), max_iou_thr=1.01, max_clicks=1,
                                        first_interaction="box")
    assert probs.sum() == 20 * 30 and ious[0] == pytest.approx((20 * 30 - 36) / (20 * 30))


def test_strokes_are_counted_as_interactions_and_their_clicks_reported():
    shape = (60, 80)
    gt = np.zeros(shape, np.int32)
    gt[24:38, 8:72] = 1  # a bar: its skeleton is a line, so the first stroke runs along it
    pred = PaintPredictor(radius=2)  # paints about as wide as the simulated strokes are drawn
    log = []
    clicks, ious, _, _ = evaluate_sample(make_image(shape), gt, pred, max_iou_thr=0.85, max_clicks=10,
                                         interaction="stroke", stroke_spacing=1.0, log=log)
    assert [s["type"] for s in log] == ["stroke"] * len(ious)
    assert sum(s["n_points"] for s in log) == len(clicks) > len(ious)  # a stroke gives several clicks at once
    assert all(c.is_positive == log[0]["stroke"]["positive"] for c in clicks[:log[0]["n_points"]])
    # one interaction (a stroke along the bar) does more than one click would
    _, click_ious, _, _ = evaluate_sample(make_image(shape), gt, PaintPredictor(radius=2), max_iou_thr=0.85,
                                          max_clicks=1)
    assert ious[0] > 5 * click_ious[0]
    assert ious[-1] >= 0.85 and len(ious) == 3


def test_summary_reports_interactions_and_clicks_behind_them():
    shape = (60, 80)
    gt = disk_mask(shape, (30, 40), 14).astype(np.int32)

    class Data:
        def __len__(self):
            return 2

        def get_sample(self, i):
            class S:
                image, gt_mask = make_image(shape), gt
            return S

    all_ious, elapsed, records = evaluate_dataset(Data(), PaintPredictor(5), progress=False, max_iou_thr=0.85,
                                                  max_clicks=10, interaction="stroke")
    summary = summarize(all_ious, elapsed, records, 10, 0.85)
    points = [sum(s["n_points"] for s in r["interactions"]) for r in records]
    assert summary["n_total_points"] == sum(points)
    assert summary["nop"][1] == pytest.approx(np.mean(points))  # every sample stopped at 85 %: all its clicks
    assert "NoP@85" in input_notes(summary) and summary["interaction_types"] == ["stroke"]
    plain, _, plain_records = evaluate_dataset(Data(), PaintPredictor(5), progress=False, max_iou_thr=0.85)
    assert "interactions" not in plain_records[0] and "nop" not in summarize(plain, 1.0, plain_records, 20, 0.85)


def test_interaction_settings_refuse_bad_values():
    with pytest.raises(UserError, match="--interaction 'scribble'"):
        EvalSettings(interaction="scribble")
    with pytest.raises(UserError, match="--first-interaction"):
        EvalSettings(first_interaction="polygon")
    with pytest.raises(UserError, match="--stroke-spacing 0"):
        EvalSettings(stroke_spacing=0)
    assert EvalSettings(first_interaction="box", interaction="stroke").mode_label() == "NoBRS_box_stroke"
    with pytest.raises(ValueError, match="unknown interaction"):
        evaluate_sample(make_image((8, 8)), np.ones((8, 8), np.int32), PaintPredictor(), 0.9, interaction="x")


def test_box_with_context_is_clipped_by_the_caller():
    box = Box((20, 25, 40, 55)).with_context(0.2)
    assert box.to() == (4, 9, 56, 71)
    assert Box((0, 0, 100, 10)).with_context(0.2).to() == (-20, -20, 120, 30)
    with pytest.raises(ValueError):
        Box((0, 0, 4, 4)).with_context(-1)
