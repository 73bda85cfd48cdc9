"""Focus refinement (isegm.inference.predictors.focus): the FocalClick-style crop, the merge that only touches
the click's changed region, wrapping NoBRS and CFR, undo, and the evaluator's --focus-refine."""
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from inference_fakes import DiskNet, make_fake_dataset
from isegm.errors import UserError
from isegm.inference.clicker import Click, Clicker
from isegm.inference.predictors import get_predictor
from isegm.inference.predictors.cfr import CascadeForwardPredictor
from isegm.inference.predictors.focus import FocusRefinePredictor, focus_box, progressive_merge

REPO_ROOT = Path(__file__).resolve().parents[2]
CHECKPOINT = REPO_ROOT / "weights" / "hrnet18s_cocomval_itermask.pth"


class PoolNet(nn.Module):
    """Resolution-bound fake, like a real network's stride-4 output: the logits are +-20 from the mean
    brightness of 4x4 blocks (object = bright), so structures thinner than ~2 px are lost at the image's
    resolution and found on an enlarged crop. Ignores the clicks; the previous mask is accepted and unused."""

    def __init__(self, with_prev_mask=False):
        super().__init__()
        self.with_prev_mask = with_prev_mask
        self.calls = []

    def forward(self, image, points):
        self.calls.append(tuple(image.shape))
        gray = image[:, :3].mean(dim=1, keepdim=True)
        pooled = F.avg_pool2d(gray, 4, stride=4, ceil_mode=True)
        return {"instances": 40.0 * (pooled - 0.5)}


def thin_limb_image(shape=(96, 96)):
    """Dark image with a bright 40x40 square and a 1-px bright line leaving it to the right on row 41."""
    image = np.full((*shape, 3), 10, np.uint8)
    image[20:60, 20:60] = 250
    image[41, 60:92] = 250
    return image


def predictor_for(net, **kwargs):
    return get_predictor(net, "NoBRS", "cpu", zoom_in_params=None, with_flip=False, **kwargs)


class Recorder:
    """Forwards the predictor interface and keeps the last prediction of the wrapped predictor."""

    def __init__(self, predictor):
        self.inner = predictor
        self.last = None
        self.net, self.zoom_in, self.with_flip, self.device = (predictor.net, predictor.zoom_in,
                                                               predictor.with_flip, predictor.device)

    @property
    def prev_prediction(self):
        return self.inner.prev_prediction

    @prev_prediction.setter
    def prev_prediction(self, value):
        self.inner.prev_prediction = value

    def set_input_image(self, image):
        self.inner.set_input_image(image)

    def get_prediction(self, clicker, prev_mask=None):
        self.last = self.inner.get_prediction(clicker, prev_mask)
        return self.last

    def get_states(self):
        return self.inner.get_states()

    def set_states(self, states):
        self.inner.set_states(states)


def outside(box, shape):
    mask = np.ones(shape, dtype=bool)
    mask[box[0]:box[1] + 1, box[2]:box[3] + 1] = False
    return mask


def test_focus_recovers_the_thin_limb_near_the_click_and_nothing_else_changes():
    image = thin_limb_image()
    recorder = Recorder(predictor_for(PoolNet()))
    predictor = FocusRefinePredictor(recorder, min_crop_size=0)
    predictor.set_input_image(image)
    clicker = Clicker(image_shape=image.shape[:2])
    clicker.add_click(Click(40, 40, True))
    first = predictor.get_prediction(clicker)
    assert not (first[41, 72:92] > 0.49).any()                      # the square, without the limb's end
    clicker.add_click(Click(41, 80, True))                             # the user clicks on the limb
    out = predictor.get_prediction(clicker)
    coarse = recorder.last
    box = predictor.focus_roi
    assert box[0] <= 41 <= box[1] and box[2] <= 80 <= box[3] and box[3] - box[2] < 60   # a crop around the click
    assert not (coarse[41, 72:92] > 0.49).any()                        # the plain prediction misses the limb
    assert (out[41, 70:90] > 0.49).all()                               # the refinement finds it near the click
    away = outside(box, out.shape)
    np.testing.assert_array_equal(out[away], coarse[away])             # not one pixel changes outside the crop
    assert (out > 0.49).sum() - (coarse > 0.49).sum() < 3 * (box[3] - box[2] + 1)   # a line, not the crop
    # the merged mask is the next click's previous mask
    np.testing.assert_array_equal(predictor.prev_prediction[0, 0].numpy(), out)


def test_focus_keeps_unrelated_changes_of_the_crop_out():
    """Inside the crop only the click's connected changed region comes from the refinement."""
    pred = np.zeros((20, 20), np.float32)
    refined = np.zeros((20, 20), np.float32)
    refined[2:5, 2:5] = 1.0          # touches the click
    refined[10:14, 10:14] = 1.0      # another change, not connected to the click
    merged = progressive_merge(pred, refined, np.zeros((20, 20), bool), (0, 19, 0, 19), (3, 3))
    assert merged[2:5, 2:5].min() == 1.0 and merged[10:14, 10:14].max() == 0.0
    # the click's pixel unchanged: nothing merged
    merged = progressive_merge(pred, refined, np.zeros((20, 20), bool), (0, 19, 0, 19), (18, 18))
    np.testing.assert_array_equal(merged, pred)


def test_focus_box_follows_focalclick():
    shape = (100, 100)
    pred = np.zeros(shape, bool)
    pred[20:60, 30:70] = True
    empty = np.zeros(shape, bool)
    # no previous mask: the prediction's box (rows 20..59, 40 px) expanded 1.4x about its centre 39.5: 11.5..67.5
    assert focus_box(pred, empty, (40, 50)) == (12, 68, 22, 78)
    # a large changed region holding the click: its own box
    prev = pred.copy()
    prev[20:60, 50:70] = False
    assert focus_box(pred, prev, (40, 60)) == (12, 68, 46, 74)
    # a small change (under 1/3 of the mask box): the click-centred square of half-side 0.2 * 40 = 8, expanded
    prev = pred.copy()
    prev[38:42, 48:52] = False
    assert focus_box(pred, prev, (40, 50)) == (28, 52, 38, 62)
    # min_crop_size, clamped to the image
    assert focus_box(pred, prev, (40, 50), min_crop_size=90) == (0, 85, 5, 95)
    with pytest.raises(ValueError, match="outside"):
        focus_box(pred, prev, (100, 5))


def test_focus_wraps_cfr_and_undo_restores_it():
    image = thin_limb_image()
    net = PoolNet(with_prev_mask=True)
    predictor = FocusRefinePredictor(CascadeForwardPredictor(predictor_for(net), 1), min_crop_size=0)
    predictor.set_input_image(image)
    clicker = Clicker(image_shape=image.shape[:2])
    clicker.add_click(Click(40, 40, True))
    predictor.get_prediction(clicker)
    state = predictor.get_states()
    box_after_first = predictor.focus_roi
    clicker.add_click(Click(41, 80, True))
    second = predictor.get_prediction(clicker)
    assert predictor.focus_roi != box_after_first
    predictor.set_states(state)
    assert predictor.focus_roi == box_after_first
    np.testing.assert_array_equal(predictor.get_prediction(clicker), second)
    with pytest.raises(ValueError, match="FocusRefinePredictor"):
        predictor.set_states(predictor_for(net).get_states())
    with pytest.raises(UserError, match="target_size"):
        FocusRefinePredictor(predictor_for(net), target_size=0)


def test_focus_crop_runs_at_the_target_size_with_the_clicks_mapped():
    image = thin_limb_image()
    net = DiskNet(radius=3)
    predictor = FocusRefinePredictor(predictor_for(net), target_size=128, min_crop_size=0)
    predictor.set_input_image(image)
    clicker = Clicker(image_shape=image.shape[:2])
    clicker.add_click(Click(40, 40, True))
    predictor.get_prediction(clicker)
    (full_image, _), (crop_image, crop_points) = net.calls
    rmin, rmax, cmin, cmax = predictor.focus_roi
    assert full_image.shape[2:] == (96, 96) and max(crop_image.shape[2:]) == 128
    scale_y = crop_image.shape[2] / (rmax - rmin + 1)
    np.testing.assert_allclose(crop_points[0, 0, :2].numpy(), [(40 - rmin) * scale_y, (40 - cmin) * scale_y], rtol=0.05)


def test_shipped_checkpoint_focus_on_coco_mval(coco_mval_path):
    if not CHECKPOINT.exists():
        pytest.skip(f"shipped checkpoint not found at {CHECKPOINT}")
    from isegm.data.registry import get_eval_dataset
    from isegm.model import load_is_model

    net = load_is_model(str(CHECKPOINT), device="cpu", eval_mode=True)
    sample = get_eval_dataset("COCO_MVal", coco_mval_path).get_sample(1)
    recorder = Recorder(get_predictor(net, "NoBRS", "cpu"))
    predictor = FocusRefinePredictor(recorder)
    predictor.set_input_image(sample.image)
    clicker = Clicker(gt_mask=sample.gt_mask)
    pred_mask = np.zeros(sample.gt_mask.shape, dtype=bool)
    for _ in range(3):
        clicker.make_next_click(pred_mask)
        out = predictor.get_prediction(clicker)
        away = outside(predictor.focus_roi, out.shape)
        assert away.any()
        np.testing.assert_array_equal(out[away], recorder.last[away])
        pred_mask = out > 0.49


def test_evaluation_focus_refine_is_named(tmp_path):
    from isegm.inference.runner import EvalSettings, run_evaluation

    results = run_evaluation([tmp_path / "fake_model.pth"], {"GrabCut": make_fake_dataset()},
                             EvalSettings(n_clicks=3, progress=False, focus_refine=True), torch.device("cpu"),
                             tmp_path / "logs", load_model=lambda path, device: DiskNet(radius=7))
    assert results["variant"] == "focus" and results["focus_refine"] is True
    assert Path(results["table_path"]).name == "cvpr_NoBRS_focus_3.txt"
    assert EvalSettings(cf_n=4, acf=True, focus_refine=True).mode_label() == "NoBRS_acf4_focus"
